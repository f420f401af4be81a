//! `SpanAlloc` as the global allocator across process and thread lifetimes:
//! producer/consumer in bounded memory, thousands of threads spawned and joined,
//! `fork` while another thread allocates, and exact per-class counting.

use std::sync::mpsc;
use std::thread;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Serialises the tests of this binary: they read process-wide RSS and counters.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn producer_consumer_runs_in_bounded_memory() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (tx, rx) = mpsc::sync_channel::<Vec<Box<[u8]>>>(8);
    let consumer = thread::spawn(move || {
        let mut n = 0u64;
        for batch in rx {
            for b in batch {
                assert_eq!(b[0], b[b.len() - 1]);
                n += 1;
            }
        }
        n
    });
    let mut rss_after_warmup = 0;
    const BATCHES: usize = 40_000;
    for i in 0..BATCHES {
        let batch: Vec<Box<[u8]>> = (0..128)
            .map(|j| vec![(i + j) as u8; 16 + (i * 7 + j * 13) % 2000].into_boxed_slice())
            .collect();
        tx.send(batch).unwrap();
        if i == 2_000 {
            rss_after_warmup = rss_kib();
        }
    }
    drop(tx);
    let freed = consumer.join().unwrap();
    assert_eq!(freed, (BATCHES * 128) as u64);
    let rss_end = rss_kib();
    // ~5 M objects, ~5 GB allocated in total; the live set is a few channel slots.
    assert!(
        rss_end < rss_after_warmup + 64 * 1024,
        "RSS grew from {rss_after_warmup} KiB to {rss_end} KiB"
    );
}

#[test]
fn thousands_of_threads_spawned_and_joined() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = spanprof::stats();
    for round in 0..40 {
        let handles: Vec<_> = (0..100)
            .map(|t| {
                thread::spawn(move || {
                    let v: Vec<Vec<u64>> = (0..50)
                        .map(|i| vec![t as u64; 1 + (i * round) % 300])
                        .collect();
                    v.iter().map(|x| x[0]).sum::<u64>()
                })
            })
            .collect();
        for (t, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), t as u64 * 50);
        }
    }
    let after = spanprof::stats();
    assert!(
        after.heap.thread_caches <= before.heap.thread_caches + 4,
        "exited threads handed their caches back: {} → {}",
        before.heap.thread_caches,
        after.heap.thread_caches
    );
    // Spans handed back by dead threads are reused, not leaked: 4000 threads did not
    // each keep a span per class.
    let spans: u64 = after.size_classes().iter().map(|c| c.spans_in_use).sum();
    assert!(spans < 2000, "{spans} spans in use after thread churn");
}

/// The pthread key of [`a_thread_whose_first_heap_use_is_a_key_destructor_retires_its_cache`].
static KEY: std::sync::OnceLock<libc::pthread_key_t> = std::sync::OnceLock::new();

/// A key destructor (run after the thread's Rust and C++ thread-local destructors):
/// frees the block the main thread allocated and allocates one of its own.
extern "C" fn key_destructor(v: *mut libc::c_void) {
    // SAFETY: the value is the Box the main thread leaked for this thread.
    let b = unsafe { Box::from_raw(v.cast::<[u8; 200]>()) };
    assert_eq!(b[199], 7);
    drop(b);
    let own = std::hint::black_box(vec![1u8; 300]);
    assert_eq!(own[299], 1);
}

/// A thread that touches the heap only in its key destructor.
extern "C" fn key_thread(v: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: the key was created before any thread runs this.
    unsafe { libc::pthread_setspecific(*KEY.get().unwrap(), v) };
    std::ptr::null_mut()
}

#[test]
fn a_thread_whose_first_heap_use_is_a_key_destructor_retires_its_cache() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    KEY.get_or_init(|| {
        let mut k: libc::pthread_key_t = 0;
        // SAFETY: k is a valid out-pointer; the destructor is a plain function.
        let rc = unsafe { libc::pthread_key_create(&mut k, Some(key_destructor)) };
        assert_eq!(rc, 0);
        k
    });
    let before = spanprof::stats();
    for _ in 0..64 {
        let block = Box::into_raw(Box::new([7u8; 200]));
        // SAFETY: a zeroed pthread_t is overwritten by pthread_create; default
        // attributes; the thread's argument stays valid until its destructor frees it.
        unsafe {
            let mut t: libc::pthread_t = std::mem::zeroed();
            let rc = libc::pthread_create(&mut t, std::ptr::null(), key_thread, block.cast());
            assert_eq!(rc, 0);
            assert_eq!(libc::pthread_join(t, std::ptr::null_mut()), 0);
        }
    }
    let after = spanprof::stats();
    // Each of those threads made its record in its key destructor, after its
    // thread-local destructors had run: the record must still be retired at exit,
    // not left registered (a cache, and a span per class it used, per thread).
    assert!(
        after.heap.thread_caches <= before.heap.thread_caches + 4,
        "exited threads handed their caches back: {} → {}",
        before.heap.thread_caches,
        after.heap.thread_caches
    );
}

#[test]
fn fork_then_allocate_in_child() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut keep = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                keep.push(vec![1u8; 100]);
                if keep.len() > 1000 {
                    keep.clear();
                }
            }
        })
    };
    for _ in 0..20 {
        // SAFETY: the child only allocates, checks and calls _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let v: Vec<Box<[u8; 64]>> = (0..10_000).map(|i| Box::new([i as u8; 64])).collect();
            let ok = v.iter().enumerate().all(|(i, b)| b[63] == i as u8);
            let big = vec![3u8; 1 << 20];
            let code = if ok && big[12345] == 3 { 0 } else { 1 };
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
}

#[inline(never)]
fn alloc_n<T>(n: usize, make: impl Fn() -> T) -> Vec<Box<T>> {
    (0..n).map(|_| Box::new(make())).collect()
}

#[test]
fn counts_are_exact_per_class() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let class = |n| spanprof::size_class::class_of(n).unwrap();
    let (c32, c48) = (class(32), class(48));
    let before = spanprof::stats();
    let a = alloc_n(10_000, || [0u64; 4]); // 32 B
    let b = alloc_n(5_000, || [0u8; 33]); // 48 B slot
    let mid = spanprof::stats();
    drop(a);
    drop(b);
    let after = spanprof::stats();
    let d = |s: &spanprof::Stats, c: usize| s.classes[c].allocs - before.classes[c].allocs;
    let f = |s: &spanprof::Stats, c: usize| s.classes[c].frees - before.classes[c].frees;
    // Other threads of the test harness may allocate a little; ours dominate exactly.
    assert!(
        (10_000..10_050).contains(&d(&mid, c32)),
        "32 B allocs {}",
        d(&mid, c32)
    );
    assert!(
        (5_000..5_050).contains(&d(&mid, c48)),
        "48 B allocs {}",
        d(&mid, c48)
    );
    assert!(f(&after, c32) >= 10_000 && f(&after, c48) >= 5_000);
    assert!(mid.classes[c32].refills - before.classes[c32].refills >= 10_000 / 256 - 1);
    assert!(mid.classes[c32].spans_in_use >= 10_000 / 256);
}

#[test]
fn out_of_memory_returns_null() {
    use std::alloc::{GlobalAlloc, Layout};
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // More than the whole user address space: the OS must refuse.
    for size in [1usize << 47, (1 << 48) + 12345, isize::MAX as usize - 8192] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        // SAFETY: a valid layout; a null result is the expected answer.
        let p = unsafe { GLOBAL.alloc(layout) };
        assert!(p.is_null(), "{size} bytes cannot be mapped");
    }
    let mut v: Vec<u8> = Vec::new();
    assert!(v.try_reserve(1 << 47).is_err());
    // The heap still works afterwards.
    let b = vec![1u8; 100_000];
    assert_eq!(b[99_999], 1);
}

#[test]
fn free_pages_are_scavenged_and_reused() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let touch = |n: usize| -> Vec<Vec<u8>> { (0..n).map(|i| vec![i as u8 | 1; 1 << 20]).collect() };
    let before = spanprof::stats().heap;
    let big = touch(192);
    let rss_full = rss_kib();
    drop(big);
    // Released on demand (Go's debug.FreeOSMemory)...
    let released = spanprof::release_free_memory();
    assert!(released >= 150 << 20, "released {released} bytes");
    let rss_after = rss_kib();
    assert!(
        rss_after + 100 * 1024 < rss_full,
        "RSS {rss_full} KiB -> {rss_after} KiB"
    );
    // ...and the pages come back (zeroed) when needed again, without a new arena.
    let again = touch(192);
    assert!(again.iter().all(|v| v[0] == v[v.len() - 1]));
    let after = spanprof::stats().heap;
    assert!(after.bytes_scavenged >= before.bytes_scavenged + (150 << 20));
    assert!(after.arenas_mapped <= before.arenas_mapped + 4);
    drop(again);
    // Pages that stay free for about a second are returned by the heap itself, on
    // its next page-level operation.
    let scav = spanprof::stats().heap.bytes_scavenged;
    std::thread::sleep(std::time::Duration::from_millis(1300));
    for _ in 0..3 {
        drop(vec![0u8; 1 << 20]);
        std::thread::sleep(std::time::Duration::from_millis(600));
    }
    assert!(
        spanprof::stats().heap.bytes_scavenged >= scav + (150 << 20),
        "the scavenger returned the long-free pages"
    );
}
