//! Sampled small objects live in the apart region (`region.rs`): at Go's default
//! rate the sampled ones among many small allocations sit in their own address
//! range, and everything else about them is as for any object: contents survive
//! reallocation (in place and moving), frees on any thread end their samples, and
//! the size class's counts include them.

use std::hint::black_box;
use std::sync::Mutex;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

/// The sampling rate is process-wide: these tests take turns.
static RATE: Mutex<()> = Mutex::new(());

/// The apart region's range (see `region.rs`).
const BASE: usize = 0x1000_0000_0000;
const LEN: usize = 1 << 32;

fn apart(p: *const u8) -> bool {
    (p as usize).wrapping_sub(BASE) < LEN
}

#[inline(never)]
fn make_apart_boxes(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut v = Vec::with_capacity(100);
            v.extend((0..100).map(|j| (i + j) as u8));
            black_box(v)
        })
        .collect()
}

fn samples_at(p: &spanprof::Profile, function: &str) -> (u64, u64) {
    p.samples
        .iter()
        .filter(|s| p.frames(s.stack).any(|f| f.function.contains(function)))
        .fold((0, 0), |(a, f), s| {
            (a + s.alloc_objects, f + s.free_objects)
        })
}

#[test]
fn sampled_small_objects_live_apart_and_behave_like_any_other() {
    let _g = RATE.lock().unwrap_or_else(|e| e.into_inner());
    spanprof::set_sample_rate(512 * 1024);
    let class = spanprof::size_class::class_for(100, 1);
    let n = 200_000;
    let (mut v, m) = spanprof::measure(|| make_apart_boxes(n));
    let apart_count = v.iter().filter(|b| apart(b.as_ptr())).count();
    // 20 MB at one sample per 512 KiB: about 38 samples; none at all has odds e^-38.
    assert!(apart_count > 5, "sampled objects apart: {apart_count}");
    assert!(
        apart_count < 200,
        "only sampled objects apart: {apart_count}"
    );
    let counted = m
        .classes
        .iter()
        .find(|c| c.class == class)
        .map(|c| c.allocs);
    assert_eq!(
        counted,
        Some(n as u64),
        "the class counts its objects, apart ones included"
    );

    // Grow every apart object: within its class (in place), then past it (moved).
    for (i, b) in v.iter_mut().enumerate() {
        if apart(b.as_ptr()) {
            b.reserve_exact(12);
            b.extend([7u8; 12]);
            b.shrink_to_fit();
            b.reserve_exact(5000);
            b.extend([9u8; 5000]);
            assert!((0..100).all(|j| b[j] == (i + j) as u8), "contents kept");
            assert!(b[100..112].iter().all(|&x| x == 7) && b[112..].iter().all(|&x| x == 9));
        }
    }

    // Half freed on another thread, half here (counted by this thread's measure).
    let second = v.split_off(n / 2);
    let freed_there = std::thread::spawn(move || spanprof::measure(|| drop(black_box(second))).1)
        .join()
        .unwrap();
    let ((), freed_here) = spanprof::measure(|| drop(v));
    spanprof::set_sample_rate(0);
    let frees = |m: &spanprof::Measurement| {
        m.classes
            .iter()
            .find(|c| c.class == class)
            .map_or(0, |c| c.frees)
    };
    // The apart objects grew out of the class (their new blocks are freed in theirs).
    assert_eq!(
        frees(&freed_there) + frees(&freed_here),
        (n - apart_count) as u64,
        "every free counted"
    );

    let (allocs, frees) = samples_at(&spanprof::profile(), "make_apart_boxes");
    assert!(allocs > 5, "samples recorded at make_apart_boxes: {allocs}");
    assert_eq!(
        frees, allocs,
        "every sampled object's free ended its sample"
    );
}

#[test]
fn dense_sampling_keeps_objects_in_their_spans() {
    let _g = RATE.lock().unwrap_or_else(|e| e.into_inner());
    spanprof::set_sample_rate(1);
    let v = make_apart_boxes(1000);
    let apart_count = v.iter().filter(|b| apart(b.as_ptr())).count();
    drop(v);
    spanprof::set_sample_rate(0);
    assert_eq!(
        apart_count, 0,
        "every object sampled: none gets pages of its own"
    );
}

#[test]
fn a_forked_child_frees_and_samples_apart_objects() {
    let _g = RATE.lock().unwrap_or_else(|e| e.into_inner());
    spanprof::set_sample_rate(256 * 1024);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A thread sampling while the fork happens: the region's lock may be taken then.
    let busy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                black_box(make_apart_boxes(1000));
            }
        })
    };
    let parent = make_apart_boxes(50_000);
    assert!(
        parent.iter().any(|b| apart(b.as_ptr())),
        "some objects apart"
    );
    for _ in 0..10 {
        // SAFETY: the child allocates, frees, checks and calls _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let ok = parent
                .iter()
                .enumerate()
                .all(|(i, b)| (0..100).all(|j| b[j] == (i + j) as u8));
            drop(parent);
            let mine = make_apart_boxes(50_000);
            let apart_now = mine.iter().filter(|b| apart(b.as_ptr())).count();
            drop(mine);
            let code = if ok && apart_now > 0 { 0 } else { 1 };
            // SAFETY: _exit ends the child without running the parent's atexit hooks.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: pid is our child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child failed: {status}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    busy.join().unwrap();
    drop(parent);
    spanprof::set_sample_rate(0);
}
