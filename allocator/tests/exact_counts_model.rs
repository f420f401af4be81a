//! Exact counts under random allocation, reallocation and free sequences.
//!
//! A model runs beside the global allocator: random sequences of allocations (small,
//! medium and large sizes, some over-aligned, some zeroed), reallocations that grow
//! or shrink in place or move, frees on this thread or another, under nested sites,
//! with profiles taken (and dropped, here or on another thread) in between. After
//! every step, `site_stats` of each site equals the model exactly: objects, frees,
//! slot bytes, requested bytes (following every in-place reallocation), live objects,
//! live bytes and the requested bytes of live objects, per class. At every snapshot,
//! each class's site rows add up exactly to the allocator's counters (class 0 to the
//! large-object counters, requested bytes included) with no row exceeding them.
//!
//! The only test of its binary: a snapshot's sums are exact only when no other test
//! allocates between its two reads. The test's own bookkeeping allocates nothing
//! while a site is current (fixed arrays, reserved vectors, the other thread driven
//! through atomics), so the sites hold exactly what the model says.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use spanprof::size_class::{NUM_CLASSES, PAGE_SIZE, class_for, class_size, large_pages};

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

const SITES: [&str; 3] = ["exact_outer", "exact_middle", "exact_inner"];

fn site(i: usize) -> &'static spanprof::Site {
    match i {
        0 => spanprof::site!("exact_outer"),
        1 => spanprof::site!("exact_middle"),
        _ => spanprof::site!("exact_inner"),
    }
}

#[derive(Clone, Debug)]
enum Op {
    Enter(usize),
    Exit,
    Alloc {
        size: usize,
        align_shift: u32,
        zeroed: bool,
    },
    /// `how`: 0 near (±64 B), 1 near for large objects (±16 KiB), 2 any size.
    Realloc {
        pick: usize,
        how: u8,
        amount: usize,
        size: usize,
    },
    Free {
        pick: usize,
        remote: bool,
    },
    /// Takes a profile, checks its sums, and keeps it.
    Snapshot,
    /// Drops a kept profile, here or on the other thread.
    DropProfile {
        remote: bool,
    },
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 1usize..=512,
        3 => 513usize..=32 * 1024,
        2 => 32 * 1024 + 1usize..=300 * 1024,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..SITES.len()).prop_map(Op::Enter),
        1 => Just(Op::Exit),
        6 => (size(), prop_oneof![8 => 0u32..=4, 1 => 12u32..=14], any::<bool>())
            .prop_map(|(size, align_shift, zeroed)| Op::Alloc { size, align_shift, zeroed }),
        5 => (any::<usize>(), 0u8..3, any::<usize>(), size())
            .prop_map(|(pick, how, amount, size)| Op::Realloc { pick, how, amount, size }),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(pick, remote)| Op::Free { pick, remote }),
        1 => Just(Op::Snapshot),
        1 => any::<bool>().prop_map(|remote| Op::DropProfile { remote }),
    ]
}

/// What one site's `site_stats` must have gained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expect {
    allocs: u64,
    frees: u64,
    slot_bytes: u64,
    requested_bytes: u64,
    live_objects: u64,
    live_bytes: u64,
    live_requested_bytes: u64,
    class_allocs: [u64; NUM_CLASSES],
}

impl Expect {
    fn new() -> Expect {
        Expect {
            allocs: 0,
            frees: 0,
            slot_bytes: 0,
            requested_bytes: 0,
            live_objects: 0,
            live_bytes: 0,
            live_requested_bytes: 0,
            class_allocs: [0; NUM_CLASSES],
        }
    }

    fn alloc(&mut self, layout: Layout) {
        let (class, slot) = slot_of(layout);
        self.allocs += 1;
        self.slot_bytes += slot;
        self.requested_bytes += layout.size() as u64;
        self.live_objects += 1;
        self.live_bytes += slot;
        self.live_requested_bytes += layout.size() as u64;
        self.class_allocs[class] += 1;
    }

    fn free(&mut self, layout: Layout) {
        self.frees += 1;
        self.live_objects -= 1;
        self.live_bytes -= slot_of(layout).1;
        self.live_requested_bytes -= layout.size() as u64;
    }

    fn resize(&mut self, old: usize, new: usize) {
        self.requested_bytes = self.requested_bytes + new as u64 - old as u64;
        self.live_requested_bytes = self.live_requested_bytes + new as u64 - old as u64;
    }
}

/// The class of `layout` and its slot (or page-rounded) size.
fn slot_of(layout: Layout) -> (usize, u64) {
    let class = class_for(layout.size(), layout.align());
    let slot = if class == 0 {
        large_pages(layout.size().max(1)) * PAGE_SIZE
    } else {
        class_size(class)
    };
    (class, slot as u64)
}

/// Whether spanprof resizes a block of `layout` to `new` bytes where it is.
fn fits(layout: Layout, new: usize) -> bool {
    let class = class_for(layout.size(), layout.align());
    class == class_for(new, layout.align())
        && (class != 0 || large_pages(layout.size()) == large_pages(new))
}

/// `site_stats` of a site as the model's fields (zero when it never ran).
fn observed(name: &str) -> Expect {
    let s = spanprof::site_stats(name).unwrap_or_default();
    Expect {
        allocs: s.allocs,
        frees: s.frees,
        slot_bytes: s.slot_bytes,
        requested_bytes: s.requested_bytes,
        live_objects: s.live_objects,
        live_bytes: s.live_bytes,
        live_requested_bytes: s.live_requested_bytes,
        class_allocs: s.class_allocs,
    }
}

fn gained(now: &Expect, base: &Expect) -> Expect {
    Expect {
        allocs: now.allocs - base.allocs,
        frees: now.frees - base.frees,
        slot_bytes: now.slot_bytes - base.slot_bytes,
        requested_bytes: now.requested_bytes - base.requested_bytes,
        live_objects: now.live_objects - base.live_objects,
        live_bytes: now.live_bytes - base.live_bytes,
        live_requested_bytes: now.live_requested_bytes - base.live_requested_bytes,
        class_allocs: core::array::from_fn(|c| now.class_allocs[c] - base.class_allocs[c]),
    }
}

/// Every class's site rows add up to the allocator's counters, none exceeding them.
fn check_sums(p: &spanprof::Profile) -> Result<(), TestCaseError> {
    for class in 0..NUM_CLASSES as u32 {
        let sum = |site_rows: bool, f: &dyn Fn(&spanprof::format::SiteStat) -> u64| {
            (p.site_stats.iter())
                .filter(|r| r.class == class && (!site_rows || !r.stack.is_empty()))
                .map(f)
                .fold(0u64, u64::wrapping_add)
        };
        let (allocs, frees, bytes, live_bytes, requested) = if class == 0 {
            let l = &p.large;
            (
                l.allocs,
                l.frees,
                l.bytes_allocated,
                l.bytes_allocated - l.bytes_freed,
                Some(l.requested_bytes),
            )
        } else {
            let c = p.classes.iter().find(|c| c.class == class).unwrap();
            (c.allocs, c.frees, c.bytes_allocated, c.live_bytes, None)
        };
        for site_rows in [true, false] {
            let got = (
                sum(site_rows, &|r| r.allocs),
                sum(site_rows, &|r| r.frees),
                sum(site_rows, &|r| r.slot_bytes),
                sum(site_rows, &|r| r.live_bytes),
            );
            if site_rows {
                // Attributed rows never exceed the counters ("(no site)" is the rest,
                // never clamped).
                prop_assert!(
                    got.0 <= allocs && got.1 <= frees && got.2 <= bytes && got.3 <= live_bytes,
                    "class {class}: site rows {got:?} exceed the counters {:?}",
                    (allocs, frees, bytes, live_bytes)
                );
            } else {
                prop_assert_eq!(got, (allocs, frees, bytes, live_bytes), "class {}", class);
            }
        }
        if let Some(requested) = requested {
            prop_assert!(sum(true, &|r| r.requested_bytes) <= requested);
            prop_assert_eq!(
                sum(false, &|r| r.requested_bytes),
                requested,
                "large requested"
            );
        }
    }
    Ok(())
}

/// The sites entered, left innermost first however the case ends (a `Vec` drops
/// front to back, which would leave the thread inside a site).
struct Guards(Vec<(usize, spanprof::SiteGuard)>);

impl Drop for Guards {
    fn drop(&mut self) {
        while self.0.pop().is_some() {}
    }
}

struct Obj {
    p: *mut u8,
    layout: Layout,
    site: Option<usize>,
}

/// Work for the other thread, handed over without allocating: 0 none, then one of
/// the constants below.
static JOB: AtomicUsize = AtomicUsize::new(0);
const FREE: usize = 1;
const DROP_PROFILE: usize = 2;
const QUIT: usize = 3;
static JOB_PTR: AtomicUsize = AtomicUsize::new(0);
static JOB_SIZE: AtomicUsize = AtomicUsize::new(0);
static JOB_ALIGN: AtomicUsize = AtomicUsize::new(0);
static HANDOFF: Mutex<Option<spanprof::Profile>> = Mutex::new(None);

/// Gives the other thread a job and waits until it is done.
fn on_other_thread(job: usize) {
    JOB.store(job, Ordering::Release);
    while JOB.load(Ordering::Acquire) != 0 {
        std::thread::yield_now();
    }
}

fn other_thread() {
    loop {
        match JOB.load(Ordering::Acquire) {
            0 => {
                std::thread::sleep(std::time::Duration::from_micros(20));
                continue;
            }
            FREE => {
                let layout = Layout::from_size_align(
                    JOB_SIZE.load(Ordering::Relaxed),
                    JOB_ALIGN.load(Ordering::Relaxed),
                )
                .unwrap();
                let p = JOB_PTR.load(Ordering::Relaxed) as *mut u8;
                // SAFETY: a live block of this layout, handed over by the test thread.
                unsafe { GLOBAL.dealloc(p, layout) };
            }
            DROP_PROFILE => drop(HANDOFF.lock().unwrap().take()),
            _ => return,
        }
        JOB.store(0, Ordering::Release);
    }
}

fn run_case(ops: &[Op]) -> Result<(), TestCaseError> {
    let base: [Expect; 3] = core::array::from_fn(|i| observed(SITES[i]));
    let mut expect = [Expect::new(); 3];
    let mut guards = Guards(Vec::with_capacity(4));
    let mut objs: Vec<Obj> = Vec::with_capacity(ops.len());
    let mut kept: Vec<spanprof::Profile> = Vec::with_capacity(ops.len());
    let check = |expect: &[Expect; 3]| -> Result<(), TestCaseError> {
        for (i, name) in SITES.iter().enumerate() {
            prop_assert_eq!(
                &gained(&observed(name), &base[i]),
                &expect[i],
                "site {}",
                name
            );
        }
        Ok(())
    };
    let free_remote = |p: *mut u8, layout: Layout| {
        JOB_PTR.store(p as usize, Ordering::Relaxed);
        JOB_SIZE.store(layout.size(), Ordering::Relaxed);
        JOB_ALIGN.store(layout.align(), Ordering::Relaxed);
        on_other_thread(FREE);
    };
    for op in ops {
        let innermost = guards.0.last().map(|g| g.0);
        match *op {
            Op::Enter(i) => {
                if guards.0.len() < 4 {
                    guards.0.push((i, spanprof::enter(site(i))));
                }
            }
            Op::Exit => drop(guards.0.pop()),
            Op::Alloc {
                size,
                align_shift,
                zeroed,
            } => {
                let layout = Layout::from_size_align(size, 1 << align_shift).unwrap();
                // SAFETY: a non-zero size.
                let p = unsafe {
                    if zeroed {
                        GLOBAL.alloc_zeroed(layout)
                    } else {
                        GLOBAL.alloc(layout)
                    }
                };
                prop_assert!(!p.is_null());
                if let Some(s) = innermost {
                    expect[s].alloc(layout);
                }
                objs.push(Obj {
                    p,
                    layout,
                    site: innermost,
                });
            }
            Op::Realloc {
                pick,
                how,
                amount,
                size,
            } => {
                if objs.is_empty() {
                    continue;
                }
                let i = pick % objs.len();
                let old = objs[i].layout;
                let new = match how {
                    0 => (old.size() + amount % 129).saturating_sub(64).max(1),
                    1 => (old.size() + amount % 32_769).saturating_sub(16_384).max(1),
                    _ => size,
                };
                let in_place = fits(old, new);
                // SAFETY: a live block of this layout; new is non-zero and small.
                let q = unsafe { GLOBAL.realloc(objs[i].p, old, new) };
                prop_assert!(!q.is_null());
                let layout = Layout::from_size_align(new, old.align()).unwrap();
                if in_place {
                    prop_assert_eq!(q, objs[i].p, "{:?} -> {} stays in place", old, new);
                    if let Some(s) = objs[i].site {
                        expect[s].resize(old.size(), new);
                    }
                } else {
                    prop_assert_ne!(q, objs[i].p, "{:?} -> {} moves", old, new);
                    if let Some(s) = objs[i].site {
                        expect[s].free(old);
                    }
                    if let Some(s) = innermost {
                        expect[s].alloc(layout);
                    }
                    objs[i].site = innermost;
                }
                objs[i].p = q;
                objs[i].layout = layout;
            }
            Op::Free { pick, remote } => {
                if objs.is_empty() {
                    continue;
                }
                let o = objs.swap_remove(pick % objs.len());
                if remote {
                    free_remote(o.p, o.layout);
                } else {
                    // SAFETY: a live block of this layout.
                    unsafe { GLOBAL.dealloc(o.p, o.layout) };
                }
                if let Some(s) = o.site {
                    expect[s].free(o.layout);
                }
            }
            Op::Snapshot => {
                let p = spanprof::profile();
                check_sums(&p)?;
                kept.push(p);
            }
            Op::DropProfile { remote } => {
                if let Some(p) = kept.pop() {
                    if remote {
                        *HANDOFF.lock().unwrap() = Some(p);
                        on_other_thread(DROP_PROFILE);
                    } else {
                        drop(p);
                    }
                }
            }
        }
        check(&expect)?;
    }
    for o in objs.drain(..) {
        // SAFETY: a live block of this layout.
        unsafe { GLOBAL.dealloc(o.p, o.layout) };
        if let Some(s) = o.site {
            expect[s].free(o.layout);
        }
    }
    drop(kept);
    drop(guards);
    check(&expect)?;
    check_sums(&spanprof::profile())?;
    for e in &expect {
        prop_assert_eq!(
            (e.live_objects, e.live_bytes, e.live_requested_bytes),
            (0, 0, 0)
        );
    }
    Ok(())
}

#[test]
fn random_realloc_sequences_count_exactly() {
    let other = std::thread::spawn(other_thread);
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    // Sampling on in some cases, so tags carry samples as well as contexts.
    let case = (
        prop_oneof![2 => Just(0u64), 1 => Just(1u64), 1 => Just(4096u64)],
        proptest::collection::vec(op(), 1..80),
    );
    let result = runner.run(&case, |(rate, ops)| {
        spanprof::set_sample_rate(rate);
        run_case(&ops)
    });
    spanprof::set_sample_rate(0);
    JOB.store(QUIT, Ordering::Release);
    other.join().unwrap();
    if let Err(e) = result {
        panic!("{e}");
    }
}
