//! Temporary allocations (heaptrack's: freed with no other allocation on the thread
//! in between) are counted exactly per site stack and class, and in the program's
//! total.

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
