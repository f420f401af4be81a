//! Driver of the profiling benchmark: `cargo bench -p spanprof-bench --bench profiling`.
//!
//! Runs spanprof's profiling modes and dhat-rs over the workloads of `src/lib.rs`, as
//! child processes (one binary per mode), interleaved round-robin over both tables
//! (for each run: table A's cells, then table B's), and prints medians:
//!
//! * **A. Profiling overhead at full op counts**: `spanprof` (no profiling),
//!   `spanprof-sites` (every workload thread inside a site, sampling off),
//!   `spanprof-sampled` (sites + Go's default sampling, one stack per 512 KiB, DWARF
//!   unwinder), the same two with exact per-site frees off (`spanprof-sites-counts`,
//!   `spanprof-sampled-counts`: `spanprof::set_site_frees(false)`) and `system`, as
//!   ratios to `spanprof`. Target: `spanprof-sampled`
//!   ≤ 1.15x `spanprof` on every workload.
//! * **B. Full tracing at reduced op counts** (default ÷ `SPANPROF_BENCH_TRACE_DIV`):
//!   `spanprof-rate1` (every allocation sampled, frame-pointer stacks),
//!   `spanprof-rate1-dwarf` (the same with the DWARF unwinder), `dhat` (dhat-rs heap
//!   profiling), `spanprof` and `system`: ns/op and how many times faster than dhat-rs
//!   `spanprof-rate1` is. Target: ≥ 10x on go-seed and small-churn.
//!
//! Every profiled binary checks after its loop that it profiled (site counters,
//! samples, dhat's block count and file) and fails the run otherwise.
//!
//! Environment (as for `benches/allocators.rs`):
//! * `SPANPROF_BENCH_RUNS` — runs per cell (default 5).
//! * `SPANPROF_BENCH_SCALE` — float multiplier of the default op counts, both tables
//!   (default 1).
//! * `SPANPROF_BENCH_TRACE_DIV` — divisor of table B's op counts (default 100).
//! * `SPANPROF_BENCH_WORKLOADS` — comma list of workloads (default all); plain
//!   arguments after `--` select workloads too.
//! * `SPANPROF_BENCH_ALLOCATORS` — comma list of modes from both tables (default
//!   all); a table left with none is skipped.
//! * `SPANPROF_BENCH_TIMEOUT` — seconds before a child is killed (default 300).

mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::{
    Allocator, Cell, Matrix, Role, Settings, env_or, loadavg, ns, ops, positive, ratio,
    run_interleaved, select, thousands,
};

/// Every mode, in report order.
const ALLOCATORS: &[Allocator] = &[
    Allocator {
        name: "spanprof",
        exe: env!("CARGO_BIN_EXE_bench-spanprof"),
        role: Role::Subject,
    },
    Allocator {
        name: "spanprof-sites",
        exe: env!("CARGO_BIN_EXE_bench-spanprof-sites"),
        role: Role::Subject,
    },
    Allocator {
        name: "spanprof-sampled",
        exe: env!("CARGO_BIN_EXE_bench-spanprof-sampled"),
        role: Role::Subject,
    },
    Allocator {
        name: "spanprof-sites-counts",
        exe: env!("CARGO_BIN_EXE_bench-spanprof-sites-counts"),
        role: Role::Subject,
    },
    Allocator {
        name: "spanprof-sampled-counts",
        exe: env!("CARGO_BIN_EXE_bench-spanprof-sampled-counts"),
        role: Role::Subject,
    },
    Allocator {
        name: "spanprof-rate1",
        exe: env!("CARGO_BIN_EXE_bench-spanprof-rate1"),
        role: Role::Subject,
    },
    Allocator {
        name: "spanprof-rate1-dwarf",
        exe: env!("CARGO_BIN_EXE_bench-spanprof-rate1-dwarf"),
        role: Role::Subject,
    },
    Allocator {
        name: "dhat",
        exe: env!("CARGO_BIN_EXE_bench-dhat"),
        role: Role::Peer,
    },
    Allocator {
        name: "system",
        exe: env!("CARGO_BIN_EXE_bench-system"),
        role: Role::Baseline,
    },
];

/// Table A's modes, in column order; the first is the reference.
const TABLE_A: &[&str] = &[
    "spanprof",
    "spanprof-sites",
    "spanprof-sampled",
    "spanprof-sites-counts",
    "spanprof-sampled-counts",
    "system",
];
/// Table A's target: `spanprof-sampled` at most this many times `spanprof`.
const TARGET_A: f64 = 1.15;

/// Table B's modes, in column order; the first is the reference.
const TABLE_B: &[&str] = &[
    "spanprof-rate1",
    "spanprof-rate1-dwarf",
    "dhat",
    "spanprof",
    "system",
];
/// Table B's target: `spanprof-rate1` at least this many times faster than dhat-rs
/// on [`TARGET_B_WORKLOADS`].
const TARGET_B: f64 = 10.0;
const TARGET_B_WORKLOADS: &[&str] = &["go-seed", "small-churn"];

/// The selected modes among `names`, in the order of `names`.
fn table(selected: &[&'static Allocator], names: &[&str]) -> Vec<&'static Allocator> {
    names
        .iter()
        .filter_map(|n| selected.iter().find(|a| a.name == *n).copied())
        .collect()
}

/// The cell of `name` in workload row `wi`.
fn cell(m: &Matrix, cells: &[Vec<Option<Cell>>], wi: usize, name: &str) -> Option<Cell> {
    cells[wi][m.allocators.iter().position(|a| a.name == name)?]
}

/// "ns (ratio)" per mode of one row, the ratio to `reference`.
fn ns_columns(m: &Matrix, cells: &[Vec<Option<Cell>>], wi: usize, reference: &str) -> String {
    let r = cell(m, cells, wi, reference).map(|c| c.ns);
    cells[wi]
        .iter()
        .map(|c| match c {
            None => "FAILED".to_string(),
            Some(c) => format!("{} ({})", ns(c.ns), ratio(c.ns, r)),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The op count of row `wi`, as run.
fn row_ops(m: &Matrix, cells: &[Vec<Option<Cell>>], wi: usize) -> u64 {
    cells[wi]
        .iter()
        .flatten()
        .map(|c| c.ops)
        .next()
        .unwrap_or(m.workloads[wi].1)
}

/// Median s, ns/op, ratio to `reference`, min/max, peak RSS per (workload, mode).
fn details(s: &mut String, m: &Matrix, cells: &[Vec<Option<Cell>>], reference: &str) {
    let _ = writeln!(
        s,
        "| workload | mode | median s | ns/op | vs {reference} | min/max s (spread) | peak RSS MB | RSS vs {reference} |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---|---:|---:|");
    for (wi, (w, _)) in m.workloads.iter().enumerate() {
        let r = cell(m, cells, wi, reference);
        for (ai, a) in m.allocators.iter().enumerate() {
            match cells[wi][ai] {
                None => {
                    let _ = writeln!(s, "| {} | {} | FAILED | | | | | |", w.name, a.name);
                }
                Some(c) => {
                    let _ = writeln!(
                        s,
                        "| {} | {}{} | {:.3} | {} | {} | {:.3}/{:.3} ({:.0}%) | {:.1} | {} |",
                        w.name,
                        a.name,
                        c.failed_note(),
                        c.secs,
                        ns(c.ns),
                        ratio(c.ns, r.map(|r| r.ns)),
                        c.min_secs,
                        c.max_secs,
                        c.spread() * 100.0,
                        c.rss_mb,
                        ratio(c.rss_mb, r.map(|r| r.rss_mb)),
                    );
                }
            }
        }
    }
}

/// Table A: profiling overhead at full op counts, ratios to `spanprof`.
fn report_a(s: &mut String, m: &Matrix, scale: f64) {
    let cells = m.medians();
    let reference = m.allocators[0].name;
    let names: Vec<&str> = m.allocators.iter().map(|a| a.name).collect();
    let _ = writeln!(
        s,
        "\n### A. Profiling overhead at full op counts (x{scale} of the defaults): median ns/op (ratio to {reference})\n"
    );
    let _ = writeln!(
        s,
        "| workload | ops | {} | spanprof-sampled ≤ {TARGET_A:.2}x? |",
        names.join(" | ")
    );
    let _ = writeln!(s, "|---|---:|{}---|", "---:|".repeat(names.len()));
    let mut worst: Option<(&str, f64)> = None;
    let mut missing = false;
    for (wi, (w, _)) in m.workloads.iter().enumerate() {
        let verdict = match (
            cell(m, &cells, wi, "spanprof-sampled"),
            cell(m, &cells, wi, "spanprof"),
        ) {
            (Some(x), Some(r)) if r.ns > 0.0 => {
                let q = x.ns / r.ns;
                if worst.is_none_or(|(_, w)| q > w) {
                    worst = Some((w.name, q));
                }
                if q <= TARGET_A { "yes" } else { "NO" }
            }
            _ => {
                missing = true;
                "-"
            }
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {verdict} |",
            w.name,
            thousands(row_ops(m, &cells, wi)),
            ns_columns(m, &cells, wi, reference),
        );
    }
    match worst {
        Some((w, q)) => {
            let met = q <= TARGET_A && !missing;
            let _ = writeln!(
                s,
                "\nTarget sites + default sampling ≤ {TARGET_A:.2}x spanprof on every workload: {} (worst: {w} {q:.2}x{}).",
                if met { "met" } else { "NOT met" },
                if missing { "; some cells missing" } else { "" },
            );
        }
        None => {
            let _ = writeln!(
                s,
                "\nTarget sites + default sampling ≤ {TARGET_A:.2}x spanprof: not measured (needs spanprof and spanprof-sampled)."
            );
        }
    }
    let _ = writeln!(s, "\n#### A. Details\n");
    details(s, m, &cells, reference);
}

/// Table B: full tracing at reduced op counts, and how many times faster than
/// dhat-rs `spanprof-rate1` is.
fn report_b(s: &mut String, m: &Matrix, scale: f64, div: f64) {
    let cells = m.medians();
    let reference = m.allocators[0].name;
    let names: Vec<&str> = m.allocators.iter().map(|a| a.name).collect();
    let _ = writeln!(
        s,
        "\n### B. Full tracing at reduced op counts (x{scale} / {div} of the defaults): median ns/op (ratio to {reference})\n"
    );
    let _ = writeln!(
        s,
        "| workload | ops | {} | rate1 x faster than dhat-rs | rate1 vs spanprof | rate1-dwarf vs rate1 |",
        names.join(" | ")
    );
    let _ = writeln!(
        s,
        "|---|---:|{}---:|---:|---:|",
        "---:|".repeat(names.len())
    );
    let mut verdicts = Vec::new();
    for (wi, (w, _)) in m.workloads.iter().enumerate() {
        let rate1 = cell(m, &cells, wi, "spanprof-rate1");
        let dhat = cell(m, &cells, wi, "dhat");
        let faster = match (rate1, dhat) {
            (Some(r), Some(d)) if r.ns > 0.0 => Some(d.ns / r.ns),
            _ => None,
        };
        if TARGET_B_WORKLOADS.contains(&w.name) {
            verdicts.push((w.name, faster));
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            w.name,
            thousands(row_ops(m, &cells, wi)),
            ns_columns(m, &cells, wi, reference),
            faster.map_or("-".to_string(), |f| format!("{f:.1}x")),
            ratio(
                rate1.map_or(f64::NAN, |r| r.ns),
                cell(m, &cells, wi, "spanprof").map(|c| c.ns)
            ),
            ratio(
                cell(m, &cells, wi, "spanprof-rate1-dwarf").map_or(f64::NAN, |c| c.ns),
                rate1.map(|r| r.ns)
            ),
        );
    }
    for w in TARGET_B_WORKLOADS {
        if !verdicts.iter().any(|(n, _)| n == w) {
            verdicts.push((w, None));
        }
    }
    if !m.workloads.is_empty() {
        let all_met = verdicts
            .iter()
            .all(|(_, f)| f.is_some_and(|f| f >= TARGET_B));
        let each: Vec<String> = verdicts
            .iter()
            .map(|(w, f)| match f {
                Some(f) => format!("{w} {f:.1}x"),
                None => format!("{w} not measured"),
            })
            .collect();
        let _ = writeln!(
            s,
            "\nTarget rate 1 ≥ {TARGET_B:.0}x faster than dhat-rs per op on {}: {} ({}).",
            TARGET_B_WORKLOADS.join(" and "),
            if all_met { "met" } else { "NOT met" },
            each.join(", "),
        );
    }
    let _ = writeln!(s, "\n#### B. Details\n");
    details(s, m, &cells, reference);
}

fn main() {
    let set = Settings::from_env(5);
    let div: f64 = env_or("SPANPROF_BENCH_TRACE_DIV", 100.0);
    if !positive(div) {
        eprintln!("error: SPANPROF_BENCH_TRACE_DIV must be positive");
        std::process::exit(2);
    }
    let selected = select("SPANPROF_BENCH_ALLOCATORS", &[], ALLOCATORS, |a| a.name);
    let a = table(&selected, TABLE_A);
    let b = table(&selected, TABLE_B);
    let full = set
        .workloads
        .iter()
        .map(|&w| (w, ops(w, set.scale)))
        .collect();
    let reduced = set
        .workloads
        .iter()
        .map(|&w| (w, ops(w, set.scale / div)))
        .collect();
    let mut matrices: Vec<Matrix> = [("A ", full, a), ("B ", reduced, b)]
        .into_iter()
        .filter(|(_, _, modes)| !modes.is_empty())
        .map(|(label, ws, modes)| Matrix::new(label, ws, modes))
        .collect();
    let per_run: usize = matrices
        .iter()
        .map(|m| m.workloads.len() * m.allocators.len())
        .sum();
    eprintln!(
        "spanprof-bench profiling: {} workload(s), tables {}, {} run(s) = {} child runs, scale {}, trace div {div}",
        set.workloads.len(),
        matrices
            .iter()
            .map(|m| m.label.trim())
            .collect::<Vec<_>>()
            .join("+"),
        set.runs,
        per_run * set.runs,
        set.scale,
    );
    let load_before = loadavg();
    let started = Instant::now();
    run_interleaved(&mut matrices, set.runs, set.timeout);
    let wall: Duration = started.elapsed();
    let load_after = loadavg();

    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n## spanprof-bench: profiling modes and dhat-rs\n\n\
         {} run(s) per cell, interleaved round-robin over both tables; medians of the \
         measured loop (profile building and writing happen after it). Ratios are median \
         ns/op over the reference's. Peak RSS = child's `ru_maxrss` (MB = 2^20 B). \
         Total wall {:.0} s; /proc/loadavg before: {load_before}, after: {load_after}.",
        set.runs,
        wall.as_secs_f64(),
    );
    for m in &matrices {
        match m.label.trim() {
            "A" => report_a(&mut s, m, set.scale),
            _ => report_b(&mut s, m, set.scale, div),
        }
    }
    let failures: Vec<String> = matrices.iter().flat_map(Matrix::failures).collect();
    if !failures.is_empty() {
        let _ = writeln!(s, "\n### Failed runs ({})\n", failures.len());
        for f in failures {
            let _ = writeln!(s, "{f}");
        }
    }
    print!("{s}");
}
