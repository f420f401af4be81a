//! A log summary with heap churn worth fixing, and the fix. Run both with a profile
//! each and compare:
//!
//! ```console
//! $ SPANPROF_OUT=naive.json cargo run --release -p spanprof-examples --example churn
//! $ SPANPROF_OUT=fixed.json cargo run --release -p spanprof-examples --example churn -- --fixed
//! $ spanprof diff naive.json fixed.json --stacks sites
//! ```
//!
//! Options: `--fixed` (the reused-buffer version), `--lines N` (default 200000).

use spanprof_examples::churn::{sample_log, summarize_fixed, summarize_naive};
use spanprof_examples::site_line;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

fn main() {
    let mut fixed = false;
    let mut lines = 200_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--fixed" => fixed = true,
            "--lines" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => lines = n,
                None => {
                    eprintln!("churn: --lines needs a number");
                    std::process::exit(2);
                }
            },
            other => {
                eprintln!("churn: unknown argument '{other}' (expected --fixed, --lines N)");
                std::process::exit(2);
            }
        }
    }
    let log = sample_log(lines);
    let (summary, m) = spanprof::measure(|| {
        if fixed {
            summarize_fixed(&log)
        } else {
            summarize_naive(&log)
        }
    });
    let requests: u64 = summary.values().map(|r| r.requests).sum();
    let errors: u64 = summary.values().map(|r| r.errors).sum();
    println!(
        "{} version: {requests} requests, {errors} errors, {} routes",
        if fixed { "fixed" } else { "naive" },
        summary.len()
    );
    println!(
        "summarize allocated {} objects ({:.2} per line), {} B, {} refills",
        m.allocs,
        m.allocs as f64 / lines.max(1) as f64,
        m.bytes_allocated,
        m.refills
    );
    if let Some(line) = site_line("summarize") {
        println!("{line}");
    }
}
