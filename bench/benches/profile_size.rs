//! Driver of the profile-size benchmark: `cargo bench -p spanprof-bench --bench profile_size`.
//!
//! Runs `bench-profile-size` (every allocation sampled, frame-pointer stacks, several
//! threads, 1,024 distinct stacks, 10 M allocations) a few times and prints, with
//! medians: allocations, sampled allocations, distinct stacks, samples, locations,
//! the profile's size, the time `spanprof::write_profile` took, the time `spanprof
//! report` takes to read it (and `spanprof folded`, `spanprof pprof`), and whether
//! each figure is within its target: under 20 MB, written in under 3 s, reported in
//! under 2 s.
//!
//! The `spanprof` command is built for it (release) in `<target>/bench-cli`, a
//! target folder of its own (the benchmark's build holds the main one); set
//! `SPANPROF_BENCH_CLI` to a `spanprof` binary to skip that.
//!
//! Environment:
//! * `SPANPROF_BENCH_RUNS` — runs (default 3).
//! * `SPANPROF_BENCH_ALLOCS` — allocations per run (default 10000000).
//! * `SPANPROF_BENCH_THREADS` — threads making them (default 4).
//! * `SPANPROF_BENCH_CLI` — the `spanprof` binary to time (default: built as above).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const PROGRAM: &str = env!("CARGO_BIN_EXE_bench-profile-size");

const MAX_BYTES: f64 = 20e6;
const MAX_WRITE_SECS: f64 = 3.0;
const MAX_REPORT_SECS: f64 = 2.0;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    match std::env::var(key) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("error: {key}={v:?} is not valid");
            std::process::exit(2)
        }),
        _ => default,
    }
}

fn fail(what: &str) -> ! {
    eprintln!("error: {what}");
    std::process::exit(1)
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The `spanprof` command to time: `SPANPROF_BENCH_CLI`, or a release build of the
/// workspace's in a target folder of its own.
fn cli() -> PathBuf {
    if let Some(p) = std::env::var_os("SPANPROF_BENCH_CLI") {
        return PathBuf::from(p);
    }
    let target = Path::new(PROGRAM)
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("target"))
        .join("bench-cli");
    eprintln!("building spanprof (release) in {} ...", target.display());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "spanprof-cli",
            "--bin",
            "spanprof",
        ])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo: {e}")));
    if !status.success() {
        fail("building spanprof failed");
    }
    target
        .join("release")
        .join(format!("spanprof{}", std::env::consts::EXE_SUFFIX))
}

/// Seconds `spanprof ARGS` takes, its output thrown away; fails on an error.
fn time_cli(cli: &Path, args: &[&str]) -> f64 {
    let start = Instant::now();
    let out = Command::new(cli)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run {}: {e}", cli.display())));
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        fail(&format!(
            "spanprof {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    secs
}

/// The size the same profile would have in format version 1, where every sample
/// carries its whole stack as frames: the version-2 document with its samples
/// expanded so and its interned tables dropped.
fn v1_size(v: &serde_json::Value) -> usize {
    use serde_json::{Value, json};
    let empty = Vec::new();
    let table = |k: &str| v[k].as_array().unwrap_or(&empty);
    let (stacks, locations) = (table("stacks"), table("locations"));
    let mut doc = v.clone();
    let samples: Vec<Value> = table("samples")
        .iter()
        .map(|s| {
            let mut s = s.clone();
            let stack = &stacks[s["stack"].as_u64().unwrap_or(0) as usize];
            let mut frames = Vec::new();
            for l in stack["locations"].as_array().unwrap_or(&empty) {
                let loc = &locations[l.as_u64().unwrap_or(0) as usize];
                for line in loc["lines"].as_array().unwrap_or(&empty) {
                    frames.push(json!({
                        "function": line["function"],
                        "file": line["file"],
                        "line": line["line"],
                        "address": loc["address"],
                        "inlined": line["inlined"],
                    }));
                }
            }
            let o = s.as_object_mut().unwrap();
            o.remove("stack");
            o.insert("frames".into(), Value::Array(frames));
            s
        })
        .collect();
    let o = doc.as_object_mut().unwrap();
    for k in ["mappings", "locations", "stacks", "max_frames"] {
        o.remove(k);
    }
    o.insert("samples".into(), Value::Array(samples));
    o.insert("version".into(), 1.into());
    serde_json::to_vec(&doc).map_or(0, |b| b.len())
}

#[derive(Default)]
struct Figures {
    sampled: Vec<f64>,
    stacks: Vec<f64>,
    samples: Vec<f64>,
    locations: Vec<f64>,
    bytes: Vec<f64>,
    v1_bytes: Vec<f64>,
    run: Vec<f64>,
    write: Vec<f64>,
    report: Vec<f64>,
    folded: Vec<f64>,
    pprof: Vec<f64>,
}

fn main() {
    let runs: usize = env_or("SPANPROF_BENCH_RUNS", 3).max(1);
    let allocations: u64 = env_or("SPANPROF_BENCH_ALLOCS", 10_000_000);
    let threads: u64 = env_or("SPANPROF_BENCH_THREADS", 4);
    let cli = cli();
    let dir = std::env::temp_dir().join(format!("spanprof-profile-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("profile.json");
    let p = path.to_str().unwrap();
    let pb = dir.join("heap.pb.gz");
    let mut f = Figures::default();
    for run in 1..=runs {
        let start = Instant::now();
        let out = Command::new(PROGRAM)
            .arg(&path)
            .arg(allocations.to_string())
            .arg(threads.to_string())
            .env_remove("SPANPROF_OUT")
            .env_remove("SPANPROF_RATE")
            .env_remove("SPANPROF_MAX_FRAMES")
            .output()
            .unwrap_or_else(|e| fail(&format!("cannot run {PROGRAM}: {e}")));
        let run_secs = start.elapsed().as_secs_f64();
        let line = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            fail(&format!(
                "bench-profile-size failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let field = |name: &str| -> f64 {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| fail(&format!("no {name} in {line:?}")))
        };
        let write = field("write_secs");
        let bytes = field("bytes");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| fail(&format!("the profile does not parse: {e}")));
        let len = |k: &str| v[k].as_array().map_or(0, Vec::len) as f64;
        let sampled: u64 = v["samples"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["alloc_objects"].as_u64())
            .sum();
        if sampled < allocations {
            fail(&format!(
                "only {sampled} of {allocations} allocations were sampled ({} dropped)",
                v["dropped_samples"]
            ));
        }
        let report = time_cli(&cli, &["report", p]);
        let folded = time_cli(&cli, &["folded", p]);
        let pprof = time_cli(&cli, &["pprof", p, "-o", pb.to_str().unwrap()]);
        eprintln!(
            "run {run}/{runs}: {bytes} B, {} stacks, write {write:.3} s, report {report:.3} s",
            len("stacks")
        );
        f.sampled.push(sampled as f64);
        f.stacks.push(len("stacks"));
        f.samples.push(len("samples"));
        f.locations.push(len("locations"));
        f.bytes.push(bytes);
        f.v1_bytes.push(v1_size(&v) as f64);
        f.run.push(run_secs);
        f.write.push(write);
        f.report.push(report);
        f.folded.push(folded);
        f.pprof.push(pprof);
    }
    let _ = std::fs::remove_dir_all(&dir);

    let ok = |good: bool| if good { "yes" } else { "NO" };
    let bytes = median(&mut f.bytes);
    let write = median(&mut f.write);
    let report = median(&mut f.report);
    println!(
        "\n### Profile size: rate 1, {threads} threads, {} runs (medians)\n",
        runs
    );
    println!("| figure | value | target | met |");
    println!("|---|---|---|---|");
    println!("| allocations | {allocations} | | |");
    println!(
        "| sampled allocations | {:.0} | all | yes |",
        median(&mut f.sampled)
    );
    println!(
        "| distinct stacks | {:.0} | ~1,000 | |",
        median(&mut f.stacks)
    );
    println!(
        "| samples (stack, size) | {:.0} | | |",
        median(&mut f.samples)
    );
    println!("| locations | {:.0} | | |", median(&mut f.locations));
    println!(
        "| profile size | {:.2} MB | < 20 MB | {} |",
        bytes / 1e6,
        ok(bytes < MAX_BYTES)
    );
    println!(
        "| the same in format 1 (every sample with its frames) | {:.2} MB | | |",
        median(&mut f.v1_bytes) / 1e6
    );
    println!(
        "| program run (incl. write) | {:.2} s | | |",
        median(&mut f.run)
    );
    println!(
        "| write_profile | {write:.3} s | < 3 s | {} |",
        ok(write < MAX_WRITE_SECS)
    );
    println!(
        "| spanprof report | {report:.3} s | < 2 s | {} |",
        ok(report < MAX_REPORT_SECS)
    );
    println!("| spanprof folded | {:.3} s | | |", median(&mut f.folded));
    println!("| spanprof pprof | {:.3} s | | |", median(&mut f.pprof));
}
