//! Driver code shared by the bench targets `allocators` and `profiling` (each does
//! `mod common;`): reading the environment, running one `bench-<allocator>` child with
//! a timeout and its peak RSS from `wait4`, running matrices of (workload × allocator)
//! cells interleaved round-robin, medians, and formatting helpers for the tables.

use std::fmt::Write as _;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use spanprof_bench::{WORKLOADS, Workload};

/// What an allocator is compared as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// What the benchmark is about: spanprof and its profiling modes.
    Subject,
    /// The reference every ratio "vs system" divides by: glibc malloc.
    Baseline,
    /// A third-party allocator or profiler to compare with.
    Peer,
}

/// One benchmarked allocator (or profiling mode): its name, its binary and its role.
#[derive(Debug)]
pub struct Allocator {
    pub name: &'static str,
    pub exe: &'static str,
    /// Read by `allocators.rs` (ratios to glibc and to the best peer) only.
    #[allow(dead_code)]
    pub role: Role,
}

/// One successful child run.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub secs: f64,
    pub ops: u64,
    pub ns_per_op: f64,
    pub rss_kb: u64,
}

/// One child run: a sample, or why it failed.
pub type Outcome = Result<Sample, String>;

/// `key` parsed as a `T`, or `default` when unset or blank; exits with status 2 when
/// it does not parse.
pub fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    match std::env::var(key) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("error: {key}={v:?} is not valid");
            std::process::exit(2)
        }),
        _ => default,
    }
}

/// The comma-separated names in `key` (or `extra`), checked against `all`; all of
/// them when none is given. Exits with status 2 on an unknown name.
pub fn select<T>(
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

/// The settings every driver reads from the environment.
#[derive(Debug)]
pub struct Settings {
    /// `SPANPROF_BENCH_RUNS`: runs per cell.
    pub runs: usize,
    /// `SPANPROF_BENCH_SCALE`: multiplier of the default op counts.
    pub scale: f64,
    /// `SPANPROF_BENCH_TIMEOUT`: seconds before a child is killed.
    pub timeout: Duration,
    /// `SPANPROF_BENCH_WORKLOADS` plus plain command-line arguments: the workloads.
    pub workloads: Vec<&'static Workload>,
}

impl Settings {
    /// Reads the environment; exits with status 2 on a bad value.
    pub fn from_env(default_runs: usize) -> Settings {
        // `cargo bench` passes `--bench`; other plain arguments name workloads.
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        let runs: usize = env_or("SPANPROF_BENCH_RUNS", default_runs);
        let scale: f64 = env_or("SPANPROF_BENCH_SCALE", 1.0);
        let timeout: f64 = env_or("SPANPROF_BENCH_TIMEOUT", 300.0);
        if runs == 0 || !positive(scale) || !positive(timeout) {
            eprintln!("error: SPANPROF_BENCH_RUNS, _SCALE and _TIMEOUT must be positive");
            std::process::exit(2);
        }
        Settings {
            runs,
            scale,
            timeout: Duration::from_secs_f64(timeout),
            workloads: select("SPANPROF_BENCH_WORKLOADS", &args, WORKLOADS, |w| w.name),
        }
    }
}

/// The op count of `w` at `scale` × its default, at least 1.
pub fn ops(w: &Workload, scale: f64) -> u64 {
    ((w.default_ops as f64 * scale).round() as u64).max(1)
}

/// A finite number above zero.
pub fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
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
pub fn run_child(a: &Allocator, w: &Workload, ops: u64, timeout: Duration) -> Outcome {
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

/// One table's worth of cells: every workload (at its op count) × every allocator,
/// with one outcome per run.
#[derive(Debug)]
pub struct Matrix {
    /// Prefix of the progress lines ("" for none).
    pub label: &'static str,
    /// The workloads and the op count each runs with.
    pub workloads: Vec<(&'static Workload, u64)>,
    pub allocators: Vec<&'static Allocator>,
    /// `results[workload][allocator]` = one outcome per run.
    pub results: Vec<Vec<Vec<Outcome>>>,
}

impl Matrix {
    /// An empty matrix.
    pub fn new(
        label: &'static str,
        workloads: Vec<(&'static Workload, u64)>,
        allocators: Vec<&'static Allocator>,
    ) -> Matrix {
        let results = vec![vec![Vec::new(); allocators.len()]; workloads.len()];
        Matrix {
            label,
            workloads,
            allocators,
            results,
        }
    }

    /// Child runs per round.
    fn cells(&self) -> usize {
        self.workloads.len() * self.allocators.len()
    }

    /// Medians per cell: `[workload][allocator]`, `None` where every run failed.
    pub fn medians(&self) -> Vec<Vec<Option<Cell>>> {
        self.results
            .iter()
            .map(|row| row.iter().map(|c| Cell::of(c)).collect())
            .collect()
    }

    /// Every failed run as one markdown list item, with the command that failed.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for (wi, (w, ops)) in self.workloads.iter().enumerate() {
            for (ai, a) in self.allocators.iter().enumerate() {
                for (run, o) in self.results[wi][ai].iter().enumerate() {
                    if let Err(e) = o {
                        failures.push(format!(
                            "- {}{} {} run {}: `{} {} {ops}`: {e}",
                            self.label,
                            w.name,
                            a.name,
                            run + 1,
                            a.exe,
                            w.name,
                        ));
                    }
                }
            }
        }
        failures
    }
}

/// Runs every matrix `runs` times, interleaved round-robin: for each run, for each
/// matrix, for each workload, every allocator in turn. Prints one progress line per
/// child to stderr.
pub fn run_interleaved(matrices: &mut [Matrix], runs: usize, timeout: Duration) {
    let total = runs * matrices.iter().map(Matrix::cells).sum::<usize>();
    let mut n = 0;
    for run in 0..runs {
        for m in matrices.iter_mut() {
            for (wi, &(w, ops)) in m.workloads.iter().enumerate() {
                for (ai, a) in m.allocators.iter().enumerate() {
                    n += 1;
                    let outcome = run_child(a, w, ops, timeout);
                    match &outcome {
                        Ok(x) => eprintln!(
                            "[{n}/{total}] run {} {}{} {}: {:.3} s, {} ns/op, {:.1} MB",
                            run + 1,
                            m.label,
                            w.name,
                            a.name,
                            x.secs,
                            ns(x.ns_per_op),
                            x.rss_kb as f64 / 1024.0
                        ),
                        Err(e) => eprintln!(
                            "[{n}/{total}] run {} {}{} {}: FAILED: {e}",
                            run + 1,
                            m.label,
                            w.name,
                            a.name
                        ),
                    }
                    m.results[wi][ai].push(outcome);
                }
            }
        }
    }
}

/// The median of `xs` (NaN when empty).
pub fn median(xs: &[f64]) -> f64 {
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
pub struct Cell {
    pub secs: f64,
    pub ns: f64,
    pub min_secs: f64,
    pub max_secs: f64,
    pub rss_mb: f64,
    pub ops: u64,
    pub ok: usize,
    pub failed: usize,
}

impl Cell {
    /// The cell of these outcomes, `None` when none succeeded.
    pub fn of(outcomes: &[Outcome]) -> Option<Cell> {
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

    /// (max - min) / median of the loop seconds.
    pub fn spread(&self) -> f64 {
        (self.max_secs - self.min_secs) / self.secs
    }

    /// " (k of n failed)" when some runs failed, else "".
    pub fn failed_note(&self) -> String {
        if self.failed > 0 {
            format!(" ({} of {} failed)", self.failed, self.failed + self.ok)
        } else {
            String::new()
        }
    }
}

/// `x / reference` as "1.23x", or "-" without a reference.
pub fn ratio(x: f64, reference: Option<f64>) -> String {
    match reference {
        Some(r) if r > 0.0 => format!("{:.2}x", x / r),
        _ => "-".into(),
    }
}

/// Groups digits by thousands: 60000000 -> "60,000,000".
pub fn thousands(n: u64) -> String {
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

/// Nanoseconds with two decimals, or none from 1000 up.
pub fn ns(x: f64) -> String {
    if x >= 1000.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// The 1/5/15-minute load averages, to show whether something else ran meanwhile.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
