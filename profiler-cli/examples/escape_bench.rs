//! Times the escape analysis over a source tree, or over generated worst cases.
//!
//! ```text
//! cargo run --release -p spanprof-cli --example escape_bench -- [--top N] PATH..
//! cargo run --release -p spanprof-cli --example escape_bench -- --generated
//! ```
//!
//! With PATHs, every `.rs` file under them is analysed as `spanprof escape` reads it
//! (the same walk, one file after the other) and the bench prints the files, lines and
//! bytes read, the findings, the files that failed (and why), the wall time, the peak
//! resident memory, and the N slowest files (default 10).
//!
//! With `--generated` it times the inputs that once made the analysis exponential,
//! quadratic or crash (nested loops, a long method chain, deep nesting, a 5 MB file,
//! one 2.6 MB function) and prints one line each. Figures, not a pass/fail test: the
//! tests only check that these inputs finish.
//!
//! It lives with the CLI and uses spanprof's allocator, as `spanprof escape` does, so
//! its figures are the command's.

#[path = "../../escape/tests/common/gen.rs"]
mod generated;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let mut top = 10;
    let mut paths = Vec::new();
    let mut cases = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--top" => top = args.next().and_then(|n| n.parse().ok()).unwrap_or(top),
            "--generated" => cases = true,
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if cases {
        generated_cases();
    }
    if !paths.is_empty() {
        tree(&paths, top);
    }
    if !cases && paths.is_empty() {
        eprintln!("usage: escape_bench [--top N] PATH.. | --generated");
        std::process::exit(2);
    }
}

fn tree(paths: &[PathBuf], top: usize) {
    let t0 = Instant::now();
    let (files, mut errors) = spanprof_escape::rust_files(paths);
    let walk = t0.elapsed();
    let (mut lines, mut bytes, mut findings) = (0usize, 0usize, 0usize);
    let mut times: Vec<(Duration, String)> = Vec::new();
    for f in &files {
        let name = f.display().to_string();
        let start = Instant::now();
        match std::fs::read_to_string(f) {
            Ok(src) => {
                lines += src.lines().count();
                bytes += src.len();
                match spanprof_escape::analyze_file(&src, &name) {
                    Ok(found) => findings += found.len(),
                    Err(e) => errors.push(e),
                }
            }
            Err(e) => errors.push(spanprof_escape::FileError {
                file: name.clone(),
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }),
        }
        times.push((start.elapsed(), name));
    }
    let total = t0.elapsed();
    println!(
        "files {} lines {lines} bytes {bytes} findings {findings} failed {}",
        files.len(),
        errors.len()
    );
    println!(
        "wall {:.2} s (walk {:.3} s) peak RSS {}",
        total.as_secs_f64(),
        walk.as_secs_f64(),
        peak_rss()
    );
    for e in &errors {
        println!("failed: {e}");
    }
    times.sort_by_key(|t| std::cmp::Reverse(t.0));
    for (t, name) in times.iter().take(top) {
        println!("slow: {:8.1} ms {name}", t.as_secs_f64() * 1e3);
    }
}

fn generated_cases() {
    let cases: Vec<(&str, String)> = vec![
        ("nested loops, 18 levels", generated::nested_loops(18)),
        ("nested loops, 60 levels", generated::nested_loops(60)),
        ("method chain, 2,000 calls", generated::method_chain(2_000)),
        (
            "method chain, 20,000 calls",
            generated::method_chain(20_000),
        ),
        ("nested blocks, 1,500", generated::nested_blocks(1_500)),
        ("nested parentheses, 2,000", generated::nested_parens(2_000)),
        (
            "nested parentheses, 100,000",
            generated::nested_parens(100_000),
        ),
        ("5 MB file of functions", generated::big_file(5_000_000)),
        (
            "one function of 20,000 statements",
            generated::one_function(20_000),
        ),
    ];
    for (what, src) in cases {
        let start = Instant::now();
        let result = spanprof_escape::analyze_file(&src, "generated.rs");
        let t = start.elapsed();
        let outcome = match result {
            Ok(f) => format!("{} findings", f.len()),
            Err(e) => format!("error: {}", e.message),
        };
        println!(
            "{what:<36} {:>9} bytes {:>9.1} ms  {outcome}",
            src.len(),
            t.as_secs_f64() * 1e3
        );
    }
    println!("peak RSS {}", peak_rss());
}

/// The process's peak resident set, from /proc (Linux); `n/a` elsewhere.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "n/a".into())
}
