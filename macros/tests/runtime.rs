//! The attribute at run time: every site is in `spanprof::SITES` with its escape
//! findings and the sizes of the types it could name, and allocations made while a
//! marked function runs are counted for it, per size class; marked types are listed.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use spanprof::track_alloc;

#[global_allocator]
static G: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

/// Go's seed: 32 bytes, returned in a box, so it escapes to the heap.
#[derive(Debug)]
pub struct SmallStruct {
    pub a: i64,
    pub b: i64,
    pub c: f64,
    pub d: f64,
}

#[track_alloc]
fn small_allocation() -> Box<SmallStruct> {
    Box::new(SmallStruct {
        a: 1,
        b: 2,
        c: 3.0,
        d: 4.0,
    })
}

#[track_alloc]
fn scratch(n: usize) -> usize {
    let v: Vec<u64> = Vec::with_capacity(n);
    v.capacity()
}

#[derive(Debug)]
struct Parser {
    tokens: Vec<String>,
}

#[track_alloc]
impl Parser {
    fn new() -> Box<Self> {
        Box::new(Self { tokens: Vec::new() })
    }

    fn push(&mut self, word: &str) {
        self.tokens.push(word.to_string());
    }
}

fn site(name: &str) -> &'static spanprof::Site {
    spanprof::SITES
        .iter()
        .copied()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no site {name}"))
}

fn allocs(name: &str) -> u64 {
    spanprof::site_stats(name).map_or(0, |s| s.allocs)
}

#[test]
fn sites_are_listed_with_findings_and_sizes() {
    let mut listing = String::new();
    for s in spanprof::SITES {
        listing += &format!(
            "{} ({}, {}:{}:{})\n",
            s.name, s.module, s.file, s.line, s.column
        );
        for f in s.findings {
            listing += &format!(
                "  {}:{} {} {} {} {:?} size={:?} align={:?}\n",
                f.line, f.column, f.expr, f.kind, f.reason, f.type_name, f.size, f.align
            );
        }
    }
    println!("{listing}");

    let s = site("small_allocation");
    assert_eq!((s.file, s.module), ("macros/tests/runtime.rs", "runtime"));
    assert_eq!((s.line, s.column), (24, 4)); // the function's name
    assert_eq!(s.findings.len(), 1);
    let f = &s.findings[0];
    assert_eq!((f.line, f.column), (25, 5));
    assert_eq!(f.expr, "Box::new(SmallStruct { .. })");
    assert_eq!((f.kind, f.reason), ("escapes", "returned"));
    assert_eq!(f.type_name, Some("SmallStruct"));
    assert_eq!((f.size, f.align), (Some(32), Some(8)));

    assert!(scratch(3) >= 3);
    let f = &site("scratch").findings[0];
    assert_eq!((f.kind, f.type_name), ("does_not_escape", Some("u64")));
    assert_eq!(f.size, Some(8));

    // Methods of a marked impl block are `Type::method`; `Self` is named.
    let f = &site("Parser::new").findings[0];
    assert_eq!((f.kind, f.reason), ("escapes", "returned"));
    assert_eq!(f.type_name, Some("Parser"));
    assert_eq!(f.size, Some(size_of::<Parser>()));
    let f = &site("Parser::push").findings[0];
    assert_eq!((f.expr, f.kind), ("word.to_string()", "escapes"));
    assert_eq!(f.reason, "stored in self.tokens");

    // A type the macro cannot name safely (`T` here) has no size.
    let f = &site("wrap").findings[0];
    assert_eq!((f.type_name, f.size, f.align), (Some("T"), None, None));
}

#[track_alloc]
fn wrap<T>(x: T) -> Box<T> {
    Box::new(x)
}

#[test]
fn small_allocation_is_counted_once_per_call_in_the_32_byte_class() {
    let class = spanprof::size_class::class_of(32).unwrap();
    assert_eq!(class, 4);
    let kept: Vec<Box<SmallStruct>> = (0..3).map(|_| small_allocation()).collect();
    let stats = spanprof::site_stats("small_allocation").unwrap();
    assert_eq!(stats.allocs, 3);
    assert_eq!(stats.class_allocs[class], 3);
    assert_eq!((stats.requested_bytes, stats.slot_bytes), (96, 96));
    assert_eq!(stats.live_objects, 3);
    assert_eq!(kept[2].a + kept[2].b, 3);
    // `wrap` is counted apart (it is its own site).
    drop(wrap(kept));
    assert_eq!(allocs("small_allocation"), 3);
    assert_eq!(allocs("wrap"), 1);
}

#[test]
fn methods_of_a_marked_impl_are_counted_as_type_method() {
    let mut p = Parser::new();
    p.push("alpha");
    p.push("beta");
    assert_eq!(allocs("Parser::new"), 1);
    // Two strings, and the Vec growing to hold them (once to 4 slots).
    assert_eq!(allocs("Parser::push"), 3);
    assert_eq!(p.tokens.len(), 2);
}

#[track_alloc(name = "early exits")]
fn early(n: u32) -> Result<Vec<u8>, std::num::TryFromIntError> {
    let b: u8 = u8::try_from(n)?;
    if b == 0 {
        return Ok(Vec::new());
    }
    Ok(vec![b; 3])
}

#[track_alloc(name = "panics")]
fn panics() {
    let v = String::from("boom");
    // Unwinds without running the panic hook (no message in the test output).
    std::panic::resume_unwind(Box::new(v));
}

#[test]
fn the_site_ends_with_the_call_however_it_ends() {
    assert!(early(1000).is_err());
    assert!(early(0).unwrap().is_empty());
    assert_eq!(early(2).unwrap(), [2, 2, 2]);
    assert!(std::panic::catch_unwind(panics).is_err());
    let (early_n, panics_n) = (allocs("early exits"), allocs("panics"));
    // After `?`, `return` and unwinding, nothing more is counted for them.
    let after: Vec<Box<u64>> = (0..10).map(Box::new).collect();
    assert_eq!(allocs("early exits"), early_n);
    assert_eq!(allocs("panics"), panics_n);
    assert_eq!(early_n, 1);
    assert!(panics_n >= 1);
    assert_eq!(after.len(), 10);
}

#[track_alloc(name = "outer")]
fn outer() -> (Vec<u32>, Box<SmallStruct>) {
    let v = vec![1u32, 2, 3];
    (v, inner())
}

#[track_alloc(name = "inner")]
fn inner() -> Box<SmallStruct> {
    Box::new(SmallStruct {
        a: 0,
        b: 0,
        c: 0.0,
        d: 0.0,
    })
}

#[test]
fn nested_sites_count_for_the_innermost() {
    let kept = outer();
    assert_eq!(allocs("outer"), 1);
    assert_eq!(allocs("inner"), 1);
    drop(kept);
}

/// Pending once, then ready: lets the test run code between two polls.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

#[track_alloc(name = "async site")]
async fn two_steps(n: usize) -> Vec<String> {
    let mut out = vec![String::from("first")];
    YieldOnce(false).await;
    out.push(format!("second {n}"));
    out
}

#[test]
fn an_async_fn_is_current_only_while_polled() {
    let mut cx = Context::from_waker(Waker::noop());
    let mut fut = pin!(two_steps(2));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let first = allocs("async site");
    assert_eq!(first, 2); // the String and the Vec
    // Between polls the site is not current.
    let between: Vec<u64> = vec![7; 100];
    assert_eq!(allocs("async site"), first);
    let Poll::Ready(out) = fut.as_mut().poll(&mut cx) else {
        panic!("still pending")
    };
    assert_eq!(out, ["first", "second 2"]);
    // `format!` and the Vec growing: counted on the second poll.
    assert_eq!(allocs("async site"), 4);
    assert_eq!(between.len(), 100);
}

#[track_alloc]
#[derive(Debug)]
pub struct Order {
    pub id: u64,
    pub price: f64,
    pub qty: u32,
    pub side: u8,
    pub tags: [u8; 16],
}

#[track_alloc]
#[derive(Debug)]
#[repr(align(64))]
pub enum Aligned {
    Small(u8),
    Big([u64; 3]),
}

#[track_alloc]
#[derive(Debug)]
pub struct Generic<T>(pub T);

fn registered(name: &str) -> Option<&'static spanprof::TypeInfo> {
    spanprof::TYPES.iter().copied().find(|t| t.name == name)
}

#[test]
fn marked_types_are_registered_with_their_size_and_alignment() {
    let t = registered("Order").expect("Order is registered");
    assert_eq!((t.size, t.align), (size_of::<Order>(), align_of::<Order>()));
    assert_eq!((t.size, t.align), (40, 8));
    assert_eq!((t.module, t.file), ("runtime", "macros/tests/runtime.rs"));
    assert_eq!(t.line, 247); // the type's name
    let e = registered("Aligned").expect("Aligned is registered");
    assert_eq!((e.size, e.align), (64, 64));
    // A generic type has no size of its own: it is not listed (but still compiles).
    assert!(registered("Generic").is_none());
    assert_eq!(Generic(1u8).0, 1);
    // Not a site: nothing is attributed to a type.
    assert!(spanprof::SITES.iter().all(|s| s.name != "Order"));
}

#[test]
fn the_profile_lists_registered_types_with_their_size_class() {
    let p = spanprof::profile();
    let order = p.types.iter().find(|t| t.name == "Order").unwrap();
    // 40 bytes land in the 48-byte class (class 5), wasting 8 per object.
    assert_eq!((order.size, order.align), (40, 8));
    assert_eq!((order.size_class, order.slot_size, order.waste), (5, 48, 8));
    assert_eq!(order.module, "runtime");
    // 64-byte alignment: the 64-byte class (its slots are 64-aligned).
    let a = p.types.iter().find(|t| t.name == "Aligned").unwrap();
    assert_eq!((a.size_class, a.slot_size, a.waste), (6, 64, 0));
    assert!(p.types.iter().all(|t| t.name != "Generic"));
}
