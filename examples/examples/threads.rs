//! Several threads sharing work: a producer builds jobs, workers process them and send
//! results back over channels, the main thread drops the results. Jobs and results are
//! freed on other threads than the ones that allocated them.
//!
//! ```console
//! $ cargo run --release -p spanprof-examples --example threads
//! $ SPANPROF_OUT=threads.json cargo run --release -p spanprof-examples --example threads -- 4 200000
//! ```
//!
//! Arguments: `[WORKERS] [JOBS]` (default 4 and 100000).

use spanprof_examples::{site_line, threads};

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

fn main() {
    let mut args = std::env::args().skip(1);
    let workers = args.next().and_then(|a| a.parse().ok()).unwrap_or(4usize);
    let jobs = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000u64);
    let (digest, per_worker) = threads::run(workers, jobs);
    let s = spanprof::stats();
    println!("{jobs} jobs over {workers} workers {per_worker:?}, digest {digest:016x}");
    println!(
        "{} objects allocated, {} freed ({} of them on another thread), {} refills",
        s.total_allocs(),
        s.total_frees(),
        s.size_classes().iter().map(|c| c.remote_frees).sum::<u64>(),
        s.total_refills()
    );
    for site in ["make_job", "process"] {
        if let Some(line) = site_line(site) {
            println!("{line}");
        }
    }
}
