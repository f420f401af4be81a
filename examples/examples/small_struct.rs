//! Go's seed program in Rust: a non-inlined constructor returning a boxed 32-byte
//! struct, called in a loop that keeps a small window of them alive. Go's escape
//! analysis says `&SmallStruct{...} escapes to heap`; `spanprof escape` says the same
//! of `Box::new(SmallStruct { .. })`, and the run shows where it lands: the 32 B class.
//!
//! ```console
//! $ cargo run --release -p spanprof-examples --example small_struct
//! $ spanprof escape examples/examples/small_struct.rs
//! $ SPANPROF_OUT=small.json cargo run --release -p spanprof-examples --example small_struct
//! ```

use spanprof_examples::site_line;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

#[derive(Debug)]
struct SmallStruct {
    a: i64,
    b: i64,
    c: f64,
    d: f64,
}

#[spanprof::track_alloc]
#[inline(never)]
fn small_allocation() -> Box<SmallStruct> {
    Box::new(SmallStruct {
        a: 1,
        b: 2,
        c: 3.0,
        d: 4.0,
    })
}

fn main() {
    const N: usize = 1_000_000;
    const LIVE: usize = 16;
    let mut window: Vec<Box<SmallStruct>> = Vec::with_capacity(LIVE);
    let mut sum = 0.0;
    for i in 0..N {
        let s = small_allocation();
        sum += s.a as f64 + s.b as f64 + s.c + s.d;
        if window.len() < LIVE {
            window.push(s);
        } else {
            window[i % LIVE] = s;
        }
    }
    drop(window);

    let class = spanprof::size_class::class_of(size_of::<SmallStruct>()).unwrap_or(0);
    let c = &spanprof::stats().classes[class];
    println!("{N} calls, checksum {sum}");
    println!(
        "SmallStruct: {} B -> class {class} ({} B slots): {} allocations, {} frees, {} refills, {} spans in use",
        size_of::<SmallStruct>(),
        spanprof::size_class::class_size(class),
        c.allocs,
        c.frees,
        c.refills,
        c.spans_in_use
    );
    if let Some(line) = site_line("small_allocation") {
        println!("{line}");
    }
}
