//! In-process views of issue 14: temporary allocations (heaptrack's: freed with no
//! other allocation on the thread in between) counted exactly per site stack and class
//! and in the total, and `measure`'s exact high-water mark (`peak_bytes`).

use std::hint::black_box;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

const K: u64 = 1234;
const M: u64 = 300;

#[inline(never)]
fn churn() {
    let _site = spanprof::enter(spanprof::site!("temporaries"));
    // K temporaries: each box is freed before anything else is allocated.
    for i in 0..K {
        let b = Box::new([i as u8; 200]);
        black_box(&b);
        drop(b);
    }
    // M boxes that are not: the next one is allocated before any is freed, and one
    // more allocation comes before the frees.
    let mut keep = Vec::with_capacity(M as usize);
    for i in 0..M {
        keep.push(Box::new([i as u8; 200]));
    }
    let other = black_box(Box::new(7u64));
    drop(keep);
    drop(other);
}

#[test]
fn temporaries_are_counted_exactly_per_site_and_in_the_total() {
    churn();
    let p = spanprof::profile();
    let id = p.sites.iter().find(|s| s.name == "temporaries").unwrap().id;
    let class = spanprof::size_class::class_of(200).unwrap() as u32;
    let stat = p
        .site_stats
        .iter()
        .find(|s| s.stack.last() == Some(&id) && s.class == class)
        .unwrap();
    assert_eq!(stat.allocs, K + M);
    assert_eq!(stat.frees, K + M);
    assert_eq!(stat.temporary, K);
    // Of the rest, only `other`: frees do not count as allocations in between, so
    // it was still the thread's last allocation when freed. The Vec's buffer was not.
    let others: u64 = p
        .site_stats
        .iter()
        .filter(|s| s.stack.last() == Some(&id) && s.class != class)
        .map(|s| s.temporary)
        .sum();
    assert_eq!(others, 1);
    assert!(p.temporary_total >= K, "{}", p.temporary_total);
}

fn slot(size: usize) -> u64 {
    spanprof::size_class::class_size(spanprof::size_class::class_of(size).unwrap()) as u64
}

#[test]
#[allow(clippy::vec_box)] // the boxes are the point: one 100 B allocation each
fn measure_reports_the_closures_high_water_mark_exactly() {
    let (_, m) = spanprof::measure(|| {
        let a = black_box(vec![0u8; 1 << 20]);
        let b = black_box(vec![0u8; 1 << 20]);
        drop(a);
        drop(b);
        let c = black_box(vec![0u8; 1 << 19]);
        drop(c);
    });
    assert_eq!(m.peak_bytes, 2 << 20);
    assert_eq!(m.live_bytes, 0);
    let (_, m) = spanprof::measure(|| {
        let mut v = Vec::with_capacity(1000);
        for i in 0..1000u32 {
            v.push(black_box(Box::new([i as u8; 100])));
        }
        drop(v);
        // Smaller than the peak once the boxes are gone.
        black_box(vec![0u8; 50_000]);
    });
    assert_eq!(m.peak_bytes, 1000 * slot(100) + slot(8000));
    // Nested: the outer mark counts what was live outside when the inner peaked.
    let (_, outer) = spanprof::measure(|| {
        let keep = black_box(vec![0u8; 1 << 20]);
        let (_, inner) = spanprof::measure(|| {
            black_box(vec![0u8; 3 << 20]);
        });
        assert_eq!(inner.peak_bytes, 3 << 20);
        drop(keep);
    });
    assert_eq!(outer.peak_bytes, 4 << 20);
}
