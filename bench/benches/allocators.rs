//! Driver of the allocator benchmark: `cargo bench -p spanprof-bench`.
//!
//! Runs every (workload × allocator) cell as a child process of the matching
//! `bench-<allocator>` binary, interleaved round-robin (for each run: for each
//! workload: A B C D …), measures each child's peak RSS with `wait4`'s
//! `ru_maxrss`, and prints markdown tables of medians: time, ns/op, ratios to glibc
//! and to the best peer, peak RSS, min/max spread, and go-seed's net alloc+free cost.
//!
//! Environment:
//! * `SPANPROF_BENCH_RUNS` — runs per cell (default 5).
//! * `SPANPROF_BENCH_SCALE` — float multiplier of the default op counts (default 1).
//! * `SPANPROF_BENCH_WORKLOADS` — comma list of workloads (default all); plain
//!   arguments after `--` select workloads too.
//! * `SPANPROF_BENCH_ALLOCATORS` — comma list of allocators (default all).
//! * `SPANPROF_BENCH_TIMEOUT` — seconds before a child is killed (default 300).
//!
//! To add an allocator: a `src/bin/bench-<name>.rs` that sets `#[global_allocator]`
//! and calls `spanprof_bench::run_cli("<name>")`, and a line in [`ALLOCATORS`].
//! The child running and statistics are shared with `benches/profiling.rs` (the
//! profiling modes and dhat-rs) in `benches/common/mod.rs`.

mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::{
    Allocator, Cell, Matrix, Role, Settings, loadavg, ns, ratio, run_interleaved, select, thousands,
};
use spanprof_bench::Workload;

/// Every allocator, in report order.
const ALLOCATORS: &[Allocator] = &[
    Allocator {
        name: "spanprof",
        exe: env!("CARGO_BIN_EXE_bench-spanprof"),
        role: Role::Subject,
    },
    Allocator {
        name: "system",
        exe: env!("CARGO_BIN_EXE_bench-system"),
        role: Role::Baseline,
    },
    Allocator {
        name: "mimalloc",
        exe: env!("CARGO_BIN_EXE_bench-mimalloc"),
        role: Role::Peer,
    },
    Allocator {
        name: "jemalloc",
        exe: env!("CARGO_BIN_EXE_bench-jemalloc"),
        role: Role::Peer,
    },
];

/// The settings read from the environment.
#[derive(Debug)]
struct Config {
    runs: usize,
    scale: f64,
    timeout: Duration,
    workloads: Vec<&'static Workload>,
    allocators: Vec<&'static Allocator>,
}

impl Config {
    fn from_env() -> Config {
        let Settings {
            runs,
            scale,
            timeout,
            workloads,
        } = Settings::from_env(5);
        Config {
            runs,
            scale,
            timeout,
            workloads,
            allocators: select("SPANPROF_BENCH_ALLOCATORS", &[], ALLOCATORS, |a| a.name),
        }
    }

    fn ops(&self, w: &Workload) -> u64 {
        common::ops(w, self.scale)
    }
}

/// The report: one table per workload, a summary, go-seed's net cost, failures.
fn report(cfg: &Config, matrix: &Matrix, wall: Duration, load: (&str, &str)) -> String {
    let mut s = String::new();
    let cells: Vec<Vec<Option<Cell>>> = matrix.medians();
    let names: Vec<&str> = cfg.allocators.iter().map(|a| a.name).collect();
    let peers: Vec<&str> = cfg
        .allocators
        .iter()
        .filter(|a| a.role == Role::Peer)
        .map(|a| a.name)
        .collect();
    let baseline = cfg.allocators.iter().position(|a| a.role == Role::Baseline);
    // The baseline's cell and the fastest peer's (name, cell) in one workload row.
    let refs = |row: &[Option<Cell>]| {
        let base = baseline.and_then(|b| row[b]);
        let best = cfg
            .allocators
            .iter()
            .zip(row)
            .filter(|(a, _)| a.role == Role::Peer)
            .filter_map(|(a, c)| c.map(|c| (a.name, c)))
            .min_by(|x, y| x.1.ns.total_cmp(&y.1.ns));
        (base, best)
    };

    let _ = writeln!(s, "\n## spanprof-bench: allocators side by side\n");
    let _ = writeln!(
        s,
        "{} run(s) per cell, interleaved round-robin ({}), op counts x{} of the defaults; \
         medians of the measured loop. Ratios are median ns/op over the reference's \
         (0.50x = half the time). \"best peer\" = the fastest of {} per workload. \
         Peak RSS = child's `ru_maxrss` (MB = 2^20 B). Total wall {:.0} s; \
         /proc/loadavg before: {}, after: {}.",
        cfg.runs,
        names.join(" "),
        cfg.scale,
        if peers.is_empty() {
            "(no peer selected)".to_string()
        } else {
            peers.join("/")
        },
        wall.as_secs_f64(),
        load.0,
        load.1,
    );

    for (wi, w) in cfg.workloads.iter().enumerate() {
        let row = &cells[wi];
        let (base, best) = refs(row);
        let ops = row
            .iter()
            .flatten()
            .map(|c| c.ops)
            .next()
            .unwrap_or(cfg.ops(w));
        let _ = writeln!(s, "\n### {} — {} — {} ops\n", w.name, w.op, thousands(ops));
        let best_name = best.map_or("-", |b| b.0);
        let _ = writeln!(
            s,
            "| allocator | median s | ns/op | vs system | vs best peer ({best_name}) | min/max s (spread) | peak RSS MB | RSS vs system |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---|---:|---:|");
        for (ai, a) in cfg.allocators.iter().enumerate() {
            match row[ai] {
                None => {
                    let _ = writeln!(s, "| {} | FAILED | | | | | | |", a.name);
                }
                Some(c) => {
                    let failed = c.failed_note();
                    let _ = writeln!(
                        s,
                        "| {}{failed} | {:.3} | {} | {} | {} | {:.3}/{:.3} ({:.0}%) | {:.1} | {} |",
                        a.name,
                        c.secs,
                        ns(c.ns),
                        ratio(c.ns, base.map(|b| b.ns)),
                        ratio(c.ns, best.map(|b| b.1.ns)),
                        c.min_secs,
                        c.max_secs,
                        c.spread() * 100.0,
                        c.rss_mb,
                        ratio(c.rss_mb, base.map(|b| b.rss_mb)),
                    );
                }
            }
        }
    }

    // Summary: ns/op (ratio to system) per workload and allocator.
    let _ = writeln!(s, "\n### Summary: median ns/op (ratio to system)\n");
    let _ = writeln!(s, "| workload | {} |", names.join(" | "));
    let _ = writeln!(s, "|---|{}", "---:|".repeat(names.len()));
    for (wi, w) in cfg.workloads.iter().enumerate() {
        let (base, _) = refs(&cells[wi]);
        let cols: Vec<String> = cells[wi]
            .iter()
            .map(|c| match c {
                None => "FAILED".into(),
                Some(c) => format!("{} ({})", ns(c.ns), ratio(c.ns, base.map(|b| b.ns))),
            })
            .collect();
        let _ = writeln!(s, "| {} | {} |", w.name, cols.join(" | "));
    }
    let _ = writeln!(s, "\n### Summary: median peak RSS MB (ratio to system)\n");
    let _ = writeln!(s, "| workload | {} |", names.join(" | "));
    let _ = writeln!(s, "|---|{}", "---:|".repeat(names.len()));
    for (wi, w) in cfg.workloads.iter().enumerate() {
        let (base, _) = refs(&cells[wi]);
        let cols: Vec<String> = cells[wi]
            .iter()
            .map(|c| match c {
                None => "FAILED".into(),
                Some(c) => format!(
                    "{:.1} ({})",
                    c.rss_mb,
                    ratio(c.rss_mb, base.map(|b| b.rss_mb))
                ),
            })
            .collect();
        let _ = writeln!(s, "| {} | {} |", w.name, cols.join(" | "));
    }

    // go-seed: net alloc+free = go-seed ns/op - go-seed-baseline ns/op.
    let wi_of = |name: &str| cfg.workloads.iter().position(|w| w.name == name);
    if let (Some(gs), Some(gb)) = (wi_of("go-seed"), wi_of("go-seed-baseline")) {
        let net = |ai: usize| Some(cells[gs][ai]?.ns - cells[gb][ai]?.ns);
        let base_net = baseline.and_then(net);
        let best_net = cfg
            .allocators
            .iter()
            .enumerate()
            .filter(|(_, a)| a.role == Role::Peer)
            .filter_map(|(ai, a)| net(ai).map(|n| (a.name, n)))
            .min_by(|x, y| x.1.total_cmp(&y.1));
        let _ = writeln!(
            s,
            "\n### go-seed: net ns per alloc+free pair (go-seed minus go-seed-baseline)\n"
        );
        let _ = writeln!(
            s,
            "| allocator | go-seed ns/op | min/max ns/op | baseline ns/op | net alloc+free ns | vs system | vs best peer ({}) |",
            best_net.map_or("-", |b| b.0)
        );
        let _ = writeln!(s, "|---|---:|---|---:|---:|---:|---:|");
        for (ai, a) in cfg.allocators.iter().enumerate() {
            let (Some(g), Some(b)) = (cells[gs][ai], cells[gb][ai]) else {
                let _ = writeln!(s, "| {} | FAILED | | | | | |", a.name);
                continue;
            };
            let per_op = |secs: f64| secs * 1e9 / g.ops as f64;
            let n = g.ns - b.ns;
            let _ = writeln!(
                s,
                "| {} | {:.2} | {:.2}/{:.2} | {:.2} | {:.2} | {} | {} |",
                a.name,
                g.ns,
                per_op(g.min_secs),
                per_op(g.max_secs),
                b.ns,
                n,
                ratio(n, base_net),
                ratio(n, best_net.map(|b| b.1)),
            );
        }
    }

    // Every failed run, verbatim.
    let failures = matrix.failures();
    if !failures.is_empty() {
        let _ = writeln!(s, "\n### Failed runs ({})\n", failures.len());
        for f in failures {
            let _ = writeln!(s, "{f}");
        }
    }
    s
}

fn main() {
    let cfg = Config::from_env();
    let load_before = loadavg();
    let total = cfg.runs * cfg.workloads.len() * cfg.allocators.len();
    eprintln!(
        "spanprof-bench: {} workload(s) x {} allocator(s) x {} run(s) = {total} child runs, scale {}",
        cfg.workloads.len(),
        cfg.allocators.len(),
        cfg.runs,
        cfg.scale
    );
    let workloads = cfg.workloads.iter().map(|&w| (w, cfg.ops(w))).collect();
    let mut matrices = [Matrix::new("", workloads, cfg.allocators.clone())];
    let started = Instant::now();
    run_interleaved(&mut matrices, cfg.runs, cfg.timeout);
    let load_after = loadavg();
    let wall = started.elapsed();
    print!(
        "{}",
        report(&cfg, &matrices[0], wall, (&load_before, &load_after))
    );
}
