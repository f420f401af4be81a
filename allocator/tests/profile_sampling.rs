//! Go's byte-based sampler: rate 1 samples every allocation, a coarser rate gives an
//! unbiased estimate within a few percent of the truth (fixed per-thread seeds), and
//! in-use figures fall to zero once the sampled objects are freed. Stacks are
//! symbolized, spanprof's own frames trimmed.

use std::hint::black_box;
use std::sync::Mutex;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

/// The sampling rate is process-wide: these tests take turns.
static RATE: Mutex<()> = Mutex::new(());

fn samples_in<'a>(
    p: &'a spanprof::Profile,
    function: &str,
    size: u64,
) -> Vec<&'a spanprof::format::Sample> {
    p.samples
        .iter()
        .filter(|s| s.size == size && p.frames(s.stack).any(|f| f.function.contains(function)))
        .collect()
}

#[inline(never)]
fn every_one(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| black_box(Vec::with_capacity(1000)))
        .collect()
}

#[test]
fn rate_one_samples_every_allocation() {
    let _g = RATE.lock().unwrap_or_else(|e| e.into_inner());
    spanprof::set_sample_rate(1);
    let v = every_one(500);
    drop(v);
    spanprof::set_sample_rate(0);
    let p = spanprof::profile();
    let s = samples_in(&p, "every_one", 1024);
    assert!(!s.is_empty(), "samples at every_one");
    let allocs: u64 = s.iter().map(|s| s.alloc_objects).sum();
    let frees: u64 = s.iter().map(|s| s.free_objects).sum();
    assert_eq!(allocs, 500);
    assert_eq!(frees, 500, "every sampled object's free was seen");
    let inuse: f64 = s.iter().map(|s| s.inuse_bytes_est).sum();
    assert_eq!(inuse, 0.0);
    // spanprof's own frames are trimmed: the innermost frame is the caller's code.
    for sample in &s {
        let top = p.frames(sample.stack).next().unwrap().function;
        assert!(!top.starts_with("spanprof::"), "top frame {top}");
    }
}

#[inline(never)]
fn estimate_target(n: usize) -> u64 {
    let mut sum = 0u64;
    for i in 0..n {
        let v: Vec<u8> = Vec::with_capacity(1000 + (i % 20));
        sum += black_box(v.capacity()) as u64;
    }
    sum
}

#[test]
fn unbiased_estimate_is_close_to_the_truth() {
    let _g = RATE.lock().unwrap_or_else(|e| e.into_inner());
    spanprof::set_sample_rate(32 * 1024);
    let n = 100_000;
    black_box(estimate_target(n));
    spanprof::set_sample_rate(0);
    let truth = (n * 1024) as f64; // every request lands in the 1024 B class
    let p = spanprof::profile();
    let s = samples_in(&p, "estimate_target", 1024);
    let raw: u64 = s.iter().map(|s| s.alloc_objects).sum();
    let est: f64 = s.iter().map(|s| s.alloc_bytes_est).sum();
    assert!(raw > 1000 && raw < 6000, "about truth/rate samples: {raw}");
    let err = (est - truth).abs() / truth;
    assert!(
        err < 0.05,
        "estimate {est:.0} vs truth {truth:.0}: {:.1} % off",
        err * 100.0
    );
    // All freed: nothing in use.
    let inuse: f64 = s.iter().map(|s| s.inuse_bytes_est).sum();
    assert_eq!(inuse, 0.0);
}

#[inline(never)]
#[allow(clippy::vec_box)] // one 4000 B allocation per box is the point
fn keep_some(n: usize) -> Vec<Box<[u8; 4000]>> {
    (0..n).map(|_| Box::new([7u8; 4000])).collect()
}

#[test]
fn in_use_counts_live_sampled_objects() {
    let _g = RATE.lock().unwrap_or_else(|e| e.into_inner());
    spanprof::set_sample_rate(1);
    let kept = keep_some(300);
    spanprof::set_sample_rate(0);
    let p = spanprof::profile();
    let s = samples_in(&p, "keep_some", 4096);
    let inuse: f64 = s.iter().map(|s| s.inuse_objects_est).sum();
    assert_eq!(inuse, 300.0);
    drop(kept);
    let p = spanprof::profile();
    let inuse: f64 = samples_in(&p, "keep_some", 4096)
        .iter()
        .map(|s| s.inuse_objects_est)
        .sum();
    assert_eq!(inuse, 0.0);
}

#[inline(never)]
fn fp_target(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| black_box(Vec::with_capacity(2000)))
        .collect()
}

#[test]
fn frame_pointer_stacks_reach_the_caller() {
    // This workspace builds with -C force-frame-pointers=yes (.cargo/config.toml).
    let _g = RATE.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        spanprof::set_frame_pointer_unwinding(true),
        "this build has frame pointers: the walker must be taken"
    );
    spanprof::set_sample_rate(1);
    let v = fp_target(50);
    spanprof::set_sample_rate(0);
    spanprof::set_frame_pointer_unwinding(false);
    let p = spanprof::profile();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let s = samples_in(&p, "fp_target", 2048);
    assert_eq!(s.iter().map(|s| s.alloc_objects).sum::<u64>(), 50);
    // The walk continues past fp_target into the test function that called it.
    assert!(s.iter().any(|s| {
        p.frames(s.stack)
            .any(|f| f.function.contains("frame_pointer_stacks_reach_the_caller"))
    }));
    drop(v);
}
