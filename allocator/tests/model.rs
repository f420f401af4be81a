//! Model-based property tests on a `Heap` that is not the global allocator.
//!
//! Random sequences of alloc / alloc_zeroed / free / realloc across three hand-driven
//! caches (so frees through another cache exercise remote lists) are checked against
//! a model: every block non-null, aligned, disjoint from every other live block;
//! a byte pattern written into each block survives until its free; per-class and
//! large counters balance with the model's live set.

use std::alloc::Layout;
use std::collections::BTreeMap;

use proptest::prelude::*;
use spanprof::Heap;
use spanprof::size_class::{class_for, large_pages};

/// One heap per test function (tests run in parallel; counters must not mix).
fn new_heap() -> &'static Heap {
    Box::leak(Box::new(Heap::new()))
}

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        cache: usize,
        size: usize,
        align_shift: u32,
        zeroed: bool,
    },
    Free {
        cache: usize,
        pick: usize,
    },
    Realloc {
        cache: usize,
        pick: usize,
        size: usize,
    },
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 1usize..=512,
        4 => 513usize..=32 * 1024,
        1 => 32 * 1024 + 1usize..=600 * 1024,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..3usize, size(), prop_oneof![6 => 0u32..=4, 2 => 5u32..=12, 1 => 13u32..=16], any::<bool>())
            .prop_map(|(cache, size, align_shift, zeroed)| Op::Alloc { cache, size, align_shift, zeroed }),
        4 => (0..3usize, any::<usize>()).prop_map(|(cache, pick)| Op::Free { cache, pick }),
        2 => (0..3usize, any::<usize>(), size()).prop_map(|(cache, pick, size)| Op::Realloc { cache, pick, size }),
    ]
}

struct Block {
    layout: Layout,
    tag: u8,
}

/// The bytes a block of `len` bytes gets its pattern in: all of a small block, the
/// edges and a stride of a big one.
fn positions(len: usize) -> impl Iterator<Item = usize> {
    let step = if len <= 4096 { 1 } else { 997 };
    (0..len).step_by(step).chain([len - 1])
}

fn fill(p: *mut u8, len: usize, tag: u8) {
    for i in positions(len) {
        // SAFETY: p points to a live block of len bytes.
        unsafe { *p.add(i) = tag };
    }
}

/// Checks the pattern written for a `written`-byte block, in its first `upto` bytes.
fn check_prefix(p: *mut u8, written: usize, upto: usize, tag: u8) {
    for i in positions(written).filter(|&i| i < upto) {
        // SAFETY: p points to a live block of at least `upto` bytes.
        let got = unsafe { *p.add(i) };
        assert_eq!(got, tag, "pattern of block {p:p} damaged at {i}");
    }
}

fn check(p: *mut u8, len: usize, tag: u8) {
    check_prefix(p, len, len, tag);
}

fn counts(live: &BTreeMap<usize, Block>) -> (BTreeMap<usize, u64>, u64, u64) {
    let mut per_class = BTreeMap::new();
    let (mut large, mut large_bytes) = (0, 0);
    for b in live.values() {
        match class_for(b.layout.size(), b.layout.align()) {
            0 => {
                large += 1;
                large_bytes += (large_pages(b.layout.size()) * 8192) as u64;
            }
            c => *per_class.entry(c).or_insert(0u64) += 1,
        }
    }
    (per_class, large, large_bytes)
}

fn run(heap: &Heap, ops: Vec<Op>) {
    let base = heap.stats();
    let mut caches: Vec<_> = (0..3).map(|_| heap.cache().unwrap()).collect();
    let mut live: BTreeMap<usize, Block> = BTreeMap::new();
    let mut tag = 0u8;
    for op in ops {
        tag = tag.wrapping_add(1).max(1);
        match op {
            Op::Alloc {
                cache,
                size,
                align_shift,
                zeroed,
            } => {
                let layout = Layout::from_size_align(size, 1 << align_shift).unwrap();
                let p = if zeroed {
                    caches[cache].alloc_zeroed(layout)
                } else {
                    caches[cache].alloc(layout)
                };
                assert!(!p.is_null());
                assert_eq!(p as usize % layout.align(), 0, "misaligned {layout:?}");
                if zeroed {
                    // SAFETY: p points to size fresh bytes.
                    let all = unsafe { std::slice::from_raw_parts(p, size) };
                    assert!(
                        all.iter().all(|&b| b == 0),
                        "alloc_zeroed gave dirty memory"
                    );
                }
                let a = p as usize;
                if let Some((&s, b)) = live.range(..a + size).next_back() {
                    assert!(
                        s + b.layout.size() <= a || s >= a + size,
                        "overlap at {a:#x}"
                    );
                }
                fill(p, size, tag);
                live.insert(a, Block { layout, tag });
            }
            Op::Free { cache, pick } => {
                if live.is_empty() {
                    continue;
                }
                let &a = live.keys().nth(pick % live.len()).unwrap();
                let b = live.remove(&a).unwrap();
                check(a as *mut u8, b.layout.size(), b.tag);
                // SAFETY: a is live, from this heap, with this layout.
                unsafe { caches[cache].dealloc(a as *mut u8, b.layout) };
            }
            Op::Realloc { cache, pick, size } => {
                if live.is_empty() {
                    continue;
                }
                let &a = live.keys().nth(pick % live.len()).unwrap();
                let b = live.remove(&a).unwrap();
                check(a as *mut u8, b.layout.size(), b.tag);
                // SAFETY: a is live with this layout; size is non-zero.
                let q = unsafe { caches[cache].realloc(a as *mut u8, b.layout, size) };
                assert!(!q.is_null());
                assert_eq!(q as usize % b.layout.align(), 0);
                check_prefix(q, b.layout.size(), size, b.tag);
                let same = class_for(b.layout.size(), b.layout.align())
                    == class_for(size, b.layout.align());
                if same && class_for(size, b.layout.align()) != 0 {
                    assert_eq!(q as usize, a, "same-class realloc must stay in place");
                }
                let layout = Layout::from_size_align(size, b.layout.align()).unwrap();
                fill(q, size, tag);
                live.insert(q as usize, Block { layout, tag });
            }
        }
    }
    // Counters balance with the model.
    let now = heap.stats();
    let (per_class, large, large_bytes) = counts(&live);
    for c in 1..now.classes.len() {
        let d_live = (now.classes[c].allocs - base.classes[c].allocs)
            - (now.classes[c].frees - base.classes[c].frees);
        assert_eq!(
            d_live,
            per_class.get(&c).copied().unwrap_or(0),
            "class {c} live count"
        );
    }
    assert_eq!(
        (now.large.allocs - base.large.allocs) - (now.large.frees - base.large.frees),
        large
    );
    assert_eq!(
        (now.large.bytes_allocated - base.large.bytes_allocated)
            - (now.large.bytes_freed - base.large.bytes_freed),
        large_bytes
    );
    for (a, b) in std::mem::take(&mut live) {
        check(a as *mut u8, b.layout.size(), b.tag);
        // SAFETY: a is live with this layout.
        unsafe { caches[a % 3].dealloc(a as *mut u8, b.layout) };
    }
    drop(caches);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn heap_matches_model(ops in prop::collection::vec(op(), 1..400)) {
        static SHARED: std::sync::OnceLock<&'static Heap> = std::sync::OnceLock::new();
        run(SHARED.get_or_init(new_heap), ops);
    }
}

#[test]
fn one_class_across_many_spans_and_caches() {
    // Deterministic heavy case: enough 48 B objects for dozens of spans, freed through
    // a different cache than the one that allocated them, then reused.
    let ops: Vec<Op> = (0..6000)
        .map(|i| Op::Alloc {
            cache: i % 2,
            size: 40,
            align_shift: 3,
            zeroed: i % 3 == 0,
        })
        .chain((0..6000).map(|i| Op::Free {
            cache: 2,
            pick: i * 7919,
        }))
        .chain((0..3000).map(|_| Op::Alloc {
            cache: 0,
            size: 33,
            align_shift: 0,
            zeroed: false,
        }))
        .collect();
    let heap = new_heap();
    run(heap, ops);
    let c = spanprof::size_class::class_of(48).unwrap();
    let s = heap.stats();
    assert_eq!(s.classes[c].live_objects, 0);
    // Each span went back to the page heap when its last slot came back (the caches
    // that held spans handed them over empty when dropped), but for the one the
    // class keeps for its next refill.
    assert!(
        s.classes[c].spans_in_use <= 1,
        "empty spans returned at once: {} left",
        s.classes[c].spans_in_use
    );
    assert!(
        s.classes[c].remote_frees >= 6000,
        "frees through cache 2 are remote"
    );
    // Their pages go back to the OS on request.
    assert!(heap.release_free_memory() > 0);
    assert_eq!(heap.stats().classes[c].spans_in_use, 0);
    assert_eq!(heap.stats().heap.bytes_in_use, 0);
}
