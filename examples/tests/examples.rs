//! The examples' workloads, measured: the fixed churn allocates far less than the naive
//! one and computes the same summary; the threaded run frees across threads; the audit
//! types land in the size classes their docs say.

use spanprof_examples::churn::{sample_log, summarize_fixed, summarize_naive};
use spanprof_examples::types::{self, Interval, Order, Sample, Token};
use spanprof_examples::{site_line, threads};

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

#[test]
fn fixed_churn_allocates_far_less_and_agrees() {
    let lines = 5_000;
    let log = sample_log(lines);
    let (naive, m_naive) = spanprof::measure(|| summarize_naive(&log));
    let (fixed, m_fixed) = spanprof::measure(|| summarize_fixed(&log));
    assert_eq!(naive, fixed);
    assert_eq!(
        naive.values().map(|r| r.requests).sum::<u64>(),
        lines as u64
    );
    // Several allocations per line against a handful in all (one key per route, the
    // map's table, the key buffer).
    assert!(
        m_naive.allocs >= 10 * lines as u64,
        "naive: {} allocations",
        m_naive.allocs
    );
    assert!(
        m_fixed.allocs * 100 < m_naive.allocs,
        "fixed {} vs naive {}",
        m_fixed.allocs,
        m_naive.allocs
    );
    assert!(
        m_fixed.allocs <= 32,
        "fixed: {} allocations",
        m_fixed.allocs
    );
    assert!(site_line("summarize").is_some());
}

#[test]
fn threads_free_across_threads() {
    let before = spanprof::stats();
    let remote = |s: &spanprof::Stats| s.size_classes().iter().map(|c| c.remote_frees).sum::<u64>();
    let (digest, per_worker) = threads::run(3, 3_000);
    assert_eq!(per_worker, vec![1_000; 3]);
    assert_ne!(digest, 0);
    // Other tests run in parallel, so only check that cross-thread frees happened.
    assert!(remote(&spanprof::stats()) > remote(&before));
    let jobs = spanprof::site_stats("make_job").expect("make_job ran");
    assert!(jobs.allocs >= 2 * 3_000, "{jobs:?}");
    assert!(jobs.frees >= 2 * 3_000, "{jobs:?}");
}

#[test]
fn audit_types_land_in_their_documented_classes() {
    let slot = |size: usize| {
        spanprof::size_class::class_size(spanprof::size_class::class_of(size).unwrap())
    };
    assert_eq!((size_of::<Token>(), slot(size_of::<Token>())), (33, 48));
    assert_eq!((size_of::<Order>(), slot(size_of::<Order>())), (40, 48));
    assert_eq!(
        (size_of::<Interval>(), slot(size_of::<Interval>())),
        (24, 24)
    );
    assert_eq!((size_of::<Sample>(), slot(size_of::<Sample>())), (72, 80));

    let (_, m) = spanprof::measure(|| types::run(1_000, 8));
    let class_allocs = |size: usize| {
        let class = spanprof::size_class::class_of(size).unwrap();
        m.classes
            .iter()
            .find(|c| c.class == class)
            .map_or(0, |c| c.allocs)
    };
    assert!(class_allocs(48) >= 2_000, "{m:?}");
    assert!(class_allocs(24) >= 1_000, "{m:?}");
    assert!(class_allocs(80) >= 1_000, "{m:?}");
}
