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

use std::fmt::Write as _;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use spanprof_bench::{WORKLOADS, Workload};

/// What an allocator is compared as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// What the benchmark is about (spanprof and, later, its profiling modes).
    Subject,
    /// The reference every ratio "vs system" divides by: glibc malloc.
    Baseline,
    /// A third-party allocator; "vs best peer" divides by the fastest of these.
    Peer,
}

/// One benchmarked allocator: its name, its binary and its role.
#[derive(Debug)]
struct Allocator {
    name: &'static str,
    exe: &'static str,
    role: Role,
}

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

/// One successful child run.
#[derive(Clone, Copy, Debug)]
struct Sample {
    secs: f64,
    ops: u64,
    ns_per_op: f64,
    rss_kb: u64,
}

/// The settings read from the environment.
#[derive(Debug)]
struct Config {
    runs: usize,
    scale: f64,
    timeout: Duration,
    workloads: Vec<&'static Workload>,
    allocators: Vec<&'static Allocator>,
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    match std::env::var(key) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("error: {key}={v:?} is not valid");
            std::process::exit(2)
        }),
        _ => default,
    }
}

/// The comma-separated names in `key` (or `extra`), checked against `all`.
fn select<T>(
    key: &str,
    extra: &[String],
    all: &'static [T],
    name: fn(&T) -> &str,
) -> Vec<&'static T> {
    let mut names: Vec<String> = extra.to_vec();
    if let Ok(v) = std::env::var(key) {
        names.extend(
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        );
    }
    if names.is_empty() {
        return all.iter().collect();
    }
    for n in &names {
        if !all.iter().any(|x| name(x) == n) {
            let known: Vec<&str> = all.iter().map(name).collect();
            eprintln!(
                "error: unknown name {n:?} (from {key}); known: {}",
                known.join(", ")
            );
            std::process::exit(2);
        }
    }
    // Keep report order, not the order given.
    all.iter()
        .filter(|x| names.iter().any(|n| n == name(x)))
        .collect()
}

impl Config {
    fn from_env() -> Config {
        // `cargo bench` passes `--bench`; other plain arguments name workloads.
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        let runs: usize = env_or("SPANPROF_BENCH_RUNS", 5);
        let scale: f64 = env_or("SPANPROF_BENCH_SCALE", 1.0);
        let timeout: f64 = env_or("SPANPROF_BENCH_TIMEOUT", 300.0);
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if runs == 0 || !positive(scale) || !positive(timeout) {
            eprintln!("error: SPANPROF_BENCH_RUNS, _SCALE and _TIMEOUT must be positive");
            std::process::exit(2);
        }
        Config {
            runs,
            scale,
            timeout: Duration::from_secs_f64(timeout),
            workloads: select("SPANPROF_BENCH_WORKLOADS", &args, WORKLOADS, |w| w.name),
            allocators: select("SPANPROF_BENCH_ALLOCATORS", &[], ALLOCATORS, |a| a.name),
        }
    }

    fn ops(&self, w: &Workload) -> u64 {
        ((w.default_ops as f64 * self.scale).round() as u64).max(1)
    }
}

/// `status` from `wait4`, in words.
fn describe_status(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exit status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        // SAFETY: strsignal accepts any signal number and returns a pointer to a
        // NUL-terminated string (static or thread-local), read before the next call.
        let text = unsafe { std::ffi::CStr::from_ptr(libc::strsignal(sig)) };
        let core = if libc::WCOREDUMP(status) {
            ", core dumped"
        } else {
            ""
        };
        format!("killed by signal {sig} ({}{core})", text.to_string_lossy())
    } else {
        format!("wait status {status:#x}")
    }
}

/// The `secs`, `ops` and `ns_per_op` fields of the child's result line.
fn parse_line(out: &str) -> Option<(f64, u64, f64)> {
    let line = out.lines().find(|l| l.starts_with("workload="))?;
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    };
    Some((
        field("secs")?.parse().ok()?,
        field("ops")?.parse().ok()?,
        field("ns_per_op")?.parse().ok()?,
    ))
}

/// Runs `bench-<a> <w> <ops>` once; its stderr goes straight to ours.
fn run_child(a: &Allocator, w: &Workload, ops: u64, timeout: Duration) -> Result<Sample, String> {
    let mut child = Command::new(a.exe)
        .arg(w.name)
        .arg(ops.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", a.exe))?;
    let pid = child.id() as libc::pid_t;

    // Kill a child that hangs. The child is not reaped until the watchdog has
    // finished (waitid with WNOWAIT below), so `pid` cannot name another process.
    let (done, done_rx) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || match done_rx.recv_timeout(timeout) {
        Err(RecvTimeoutError::Timeout) => {
            // SAFETY: kill has no memory-safety preconditions; pid is our unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            true
        }
        _ => false,
    });

    let mut out = String::new();
    let read = child.stdout.take().map(|mut s| s.read_to_string(&mut out));

    // Wait for the exit without reaping, stop the watchdog, then reap with rusage.
    loop {
        // SAFETY: all-zero is a valid siginfo_t (a plain C struct).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t; pid is our child.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    drop(done);
    let timed_out = watchdog.join().unwrap_or(false);

    let mut status: libc::c_int = 0;
    // SAFETY: all-zero is a valid rusage (a plain C struct).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = loop {
        // SAFETY: `status` and `usage` are valid and writable; pid is our child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break r;
        }
    };
    if r < 0 {
        return Err(format!("wait4 failed: {}", std::io::Error::last_os_error()));
    }
    // The child is reaped: std's handle must not wait for it again (it would not on drop).
    drop(child);

    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !ok || timed_out {
        let mut why = describe_status(status);
        if timed_out {
            why = format!("timed out after {:.1} s, {why}", timeout.as_secs_f64());
        }
        if !out.trim().is_empty() {
            let _ = write!(why, "; stdout: {:?}", out.trim());
        }
        return Err(why);
    }
    if let Some(Err(e)) = read {
        return Err(format!("reading stdout: {e}"));
    }
    let (secs, done_ops, ns_per_op) =
        parse_line(&out).ok_or_else(|| format!("no result line in stdout: {:?}", out.trim()))?;
    Ok(Sample {
        secs,
        ops: done_ops,
        ns_per_op,
        rss_kb: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Medians and extremes of one cell's successful runs.
#[derive(Clone, Copy, Debug)]
struct Cell {
    secs: f64,
    ns: f64,
    min_secs: f64,
    max_secs: f64,
    rss_mb: f64,
    ops: u64,
    ok: usize,
    failed: usize,
}

impl Cell {
    fn of(outcomes: &[Result<Sample, String>]) -> Option<Cell> {
        let ok: Vec<Sample> = outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok().copied())
            .collect();
        if ok.is_empty() {
            return None;
        }
        let secs: Vec<f64> = ok.iter().map(|s| s.secs).collect();
        Some(Cell {
            secs: median(&secs),
            ns: median(&ok.iter().map(|s| s.ns_per_op).collect::<Vec<_>>()),
            min_secs: secs.iter().copied().fold(f64::INFINITY, f64::min),
            max_secs: secs.iter().copied().fold(0.0, f64::max),
            rss_mb: median(
                &ok.iter()
                    .map(|s| s.rss_kb as f64 / 1024.0)
                    .collect::<Vec<_>>(),
            ),
            ops: ok[0].ops,
            ok: ok.len(),
            failed: outcomes.len() - ok.len(),
        })
    }

    fn spread(&self) -> f64 {
        (self.max_secs - self.min_secs) / self.secs
    }
}

fn ratio(x: f64, reference: Option<f64>) -> String {
    match reference {
        Some(r) if r > 0.0 => format!("{:.2}x", x / r),
        _ => "-".into(),
    }
}

/// Groups digits by thousands: 60000000 -> "60,000,000".
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ns(x: f64) -> String {
    if x >= 1000.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// The report: one table per workload, a summary, go-seed's net cost, failures.
fn report(
    cfg: &Config,
    results: &[Vec<Vec<Result<Sample, String>>>],
    wall: Duration,
    load: (&str, &str),
) -> String {
    let mut s = String::new();
    let cells: Vec<Vec<Option<Cell>>> = results
        .iter()
        .map(|row| row.iter().map(|c| Cell::of(c)).collect())
        .collect();
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
                    let failed = if c.failed > 0 {
                        format!(" ({} of {} failed)", c.failed, c.failed + c.ok)
                    } else {
                        String::new()
                    };
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
    let mut failures = Vec::new();
    for (wi, w) in cfg.workloads.iter().enumerate() {
        for (ai, a) in cfg.allocators.iter().enumerate() {
            for (run, o) in results[wi][ai].iter().enumerate() {
                if let Err(e) = o {
                    failures.push(format!(
                        "- {} {} run {}: `{} {} {}`: {e}",
                        w.name,
                        a.name,
                        run + 1,
                        a.exe,
                        w.name,
                        cfg.ops(w)
                    ));
                }
            }
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(s, "\n### Failed runs ({})\n", failures.len());
        for f in failures {
            let _ = writeln!(s, "{f}");
        }
    }
    s
}

/// The 1/5/15-minute load averages, to show whether something else ran meanwhile.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
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
    // results[workload][allocator] = one outcome per run.
    let mut results: Vec<Vec<Vec<Result<Sample, String>>>> =
        vec![vec![Vec::new(); cfg.allocators.len()]; cfg.workloads.len()];
    let started = Instant::now();
    let mut n = 0;
    for run in 0..cfg.runs {
        for (wi, w) in cfg.workloads.iter().enumerate() {
            let ops = cfg.ops(w);
            for (ai, a) in cfg.allocators.iter().enumerate() {
                n += 1;
                let outcome = run_child(a, w, ops, cfg.timeout);
                match &outcome {
                    Ok(x) => eprintln!(
                        "[{n}/{total}] run {} {} {}: {:.3} s, {} ns/op, {:.1} MB",
                        run + 1,
                        w.name,
                        a.name,
                        x.secs,
                        ns(x.ns_per_op),
                        x.rss_kb as f64 / 1024.0
                    ),
                    Err(e) => eprintln!(
                        "[{n}/{total}] run {} {} {}: FAILED: {e}",
                        run + 1,
                        w.name,
                        a.name
                    ),
                }
                results[wi][ai].push(outcome);
            }
        }
    }
    let load_after = loadavg();
    let wall = started.elapsed();
    print!(
        "{}",
        report(&cfg, &results, wall, (&load_before, &load_after))
    );
}
