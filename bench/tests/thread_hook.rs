//! The thread hook (`set_thread_hook`) is called once on every thread a workload
//! does its work on, and the guard it returns lives until that thread's work is done.
//! Its own test binary: the hook is process-wide and can be set only once.

use std::sync::atomic::{AtomicUsize, Ordering};

use spanprof_bench::{WORKLOADS, set_thread_hook};

static CALLS: AtomicUsize = AtomicUsize::new(0);
static DROPS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug)]
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn hook_runs_on_every_workload_thread() {
    set_thread_hook(|| {
        CALLS.fetch_add(1, Ordering::SeqCst);
        Box::new(Guard)
    });
    for w in WORKLOADS {
        let (calls, drops) = (CALLS.load(Ordering::SeqCst), DROPS.load(Ordering::SeqCst));
        (w.run)(w.smoke_ops(40));
        // The loop thread, plus xthread's consumer and larson's two workers.
        let threads = match w.name {
            "xthread" => 2,
            "larson" => 3,
            _ => 1,
        };
        assert_eq!(CALLS.load(Ordering::SeqCst) - calls, threads, "{}", w.name);
        assert_eq!(DROPS.load(Ordering::SeqCst) - drops, threads, "{}", w.name);
    }
    // The hook can be set only once.
    let again = std::panic::catch_unwind(|| set_thread_hook(|| Box::new(())));
    assert!(again.is_err());
}
