//! Bad input and bad options: one line `spanprof: <file>: <problem>`, exit 1 (usage
//! errors 2), never a panic, never a half-written or clobbered output.

mod common;

use assert_cmd::Command;
use common::*;
use std::io::Write;
use std::path::Path;

/// Runs `args`, expects `code` and a single stderr line starting with `spanprof: <file>: `
/// and containing `problem`; returns that line.
fn fails(args: &[&str], dir: &Path, code: i32, file: &str, problem: &str) -> String {
    fails_with(spanprof().args(args), dir, code, file, problem)
}

/// [`fails`] for a command already given its arguments (and environment).
fn fails_with(cmd: &mut Command, dir: &Path, code: i32, file: &str, problem: &str) -> String {
    let out = cmd
        .current_dir(dir)
        .assert()
        .code(code)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with(&format!("spanprof: {file}: ")), "{err}");
    assert!(err.contains(problem), "{err:?} lacks {problem:?}");
    err
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn unreadable_and_malformed_profiles() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::create_dir(dir.join("folder")).unwrap();
    write(dir, "empty.json", "");
    write(dir, "text.json", "hello, world");
    let good = std::fs::read_to_string(demo_profile()).unwrap();
    write(dir, "trunc.json", &good[..good.len() / 2]);
    write(dir, "array.json", "[1, 2, 3]");
    write(dir, "shape.json", r#"{"version": 1, "classes": "many"}"#);
    let mut v = profile_value();
    v["version"] = 3.into();
    write(dir, "v3.json", &v.to_string());
    let mut v = profile_value();
    v["samples"][0]["stack"] = 100_000.into();
    write(dir, "dangling.json", &v.to_string());
    let cases = [
        ("missing.json", "no such file"),
        ("folder", "is a directory"),
        ("empty.json", "empty file"),
        ("text.json", "not JSON"),
        ("trunc.json", "truncated JSON"),
        ("array.json", "not a spanprof profile"),
        ("shape.json", "not a spanprof profile"),
        ("v3.json", "profile format version 3 is not supported"),
        ("dangling.json", "sample 0 names stack 100000"),
    ];
    for (file, problem) in cases {
        for sub in ["report", "flamegraph", "folded", "pprof", "audit"] {
            fails(&[sub, file], dir, 1, file, problem);
        }
        fails(&["diff", file, "v3.json"], dir, 1, file, problem);
    }
    assert!(
        !dir.join("heap.svg").exists()
            && !dir.join("heap.pb.gz").exists()
            && !dir.join("diff.svg").exists()
    );
}

#[test]
fn no_samples_for_native_stacks() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let mut v = profile_value();
    v["samples"] = serde_json::json!([]);
    v["sample_rate"] = 0.into();
    write(dir, "nosamples.json", &v.to_string());
    write(dir, "heap.svg", "previous");
    fails(
        &["flamegraph", "nosamples.json"],
        dir,
        1,
        "nosamples.json",
        "no stacks were recorded: sampling was off; run with --rate 4096 (SPANPROF_RATE=4096 when run by hand); or use --stacks sites",
    );
    fails(
        &["pprof", "nosamples.json"],
        dir,
        1,
        "nosamples.json",
        "no stacks were recorded: sampling was off",
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("heap.svg")).unwrap(),
        "previous"
    );
    // Site stacks need no samples; the report says how to get stacks.
    spanprof()
        .current_dir(dir)
        .args(["flamegraph", "nosamples.json", "--stacks", "sites"])
        .assert()
        .success();
    let r = spanprof()
        .current_dir(dir)
        .args(["report", "nosamples.json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8(r)
            .unwrap()
            .contains("(no stacks were recorded: sampling was off; run with --rate 4096 (SPANPROF_RATE=4096 when run by hand)")
    );
}

/// The largest power of two at most `n`.
fn prev_pow2(n: u64) -> u64 {
    1 << n.max(1).ilog2()
}

#[test]
fn sampling_on_but_nothing_sampled_suggests_a_smaller_rate() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // The demo's profile as if taken at a rate far above what it allocated.
    let rate: u64 = 1 << 40;
    let mut v = profile_value();
    v["samples"] = serde_json::json!([]);
    v["sample_rate"] = rate.into();
    write(dir, "unsampled.json", &v.to_string());
    let bytes: u64 = v["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bytes_allocated"].as_u64().unwrap())
        .sum::<u64>()
        + v["large"]["bytes_allocated"].as_u64().unwrap();
    let smaller = prev_pow2(bytes / 4);
    let hint = format!(
        "no stacks were recorded: the program allocated {bytes} bytes, less than about one sampling interval of {rate} bytes; run with a smaller rate, --rate {smaller} (SPANPROF_RATE={smaller} when run by hand), or 1 for every allocation"
    );
    let err = fails(
        &["flamegraph", "unsampled.json"],
        dir,
        1,
        "unsampled.json",
        &hint,
    );
    assert!(err.ends_with("; or use --stacks sites\n"), "{err}");
    fails(
        &["pprof", "unsampled.json"],
        dir,
        1,
        "unsampled.json",
        &hint,
    );
    fails(
        &["folded", "unsampled.json"],
        dir,
        1,
        "unsampled.json",
        &hint,
    );
    let r = spanprof()
        .current_dir(dir)
        .args(["report", "unsampled.json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8(r)
            .unwrap()
            .contains(&format!("  ({hint})\n"))
    );

    // A program that allocated almost nothing is offered a rate of at least 1.
    let mut tiny = v.clone();
    for c in tiny["classes"].as_array_mut().unwrap() {
        c["bytes_allocated"] = 0.into();
    }
    tiny["classes"][0]["bytes_allocated"] = 3.into();
    tiny["large"]["bytes_allocated"] = 0.into();
    tiny["sample_rate"] = 4096.into();
    write(dir, "tiny.json", &tiny.to_string());
    fails(
        &["pprof", "tiny.json"],
        dir,
        1,
        "tiny.json",
        "the program allocated 3 bytes, less than about one sampling interval of 4096 bytes; run with a smaller rate, --rate 1 (SPANPROF_RATE=1 when run by hand)",
    );
}

#[test]
fn a_run_that_sampled_nothing_is_not_told_to_run_as_it_did() {
    let d = tempfile::tempdir().unwrap();
    let rate = (1u64 << 40).to_string();
    let out = spanprof()
        .current_dir(d.path())
        .args(["run", "--no-svg", "--rate", &rate, "--"])
        .arg(example("sample_program"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("profile.json")).unwrap()).unwrap();
    assert!(v["samples"].as_array().unwrap().is_empty());
    let line = out
        .lines()
        .find(|l| l.contains("no stacks were recorded"))
        .unwrap_or_else(|| panic!("no hint in:\n{out}"));
    assert!(
        line.contains(&format!(
            "less than about one sampling interval of {rate} bytes"
        )),
        "{line}"
    );
    assert!(!line.contains(&format!("SPANPROF_RATE={rate}")), "{line}");
    assert!(!line.contains(&format!("--rate {rate}")), "{line}");
    // The rate offered is a power of two a quarter or less of what the program allocated.
    let (_, after) = line.split_once("allocated ").unwrap();
    let bytes: u64 = after.split(' ').next().unwrap().parse().unwrap();
    let (_, after) = line.split_once("--rate ").unwrap();
    let offered: u64 = after.split(' ').next().unwrap().parse().unwrap();
    assert!(
        offered.is_power_of_two() && offered <= bytes / 4 && offered > bytes / 8,
        "{line}"
    );
}

#[test]
fn unwritable_output_leaves_nothing_behind() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let p = demo_profile();
    let p = p.to_str().unwrap();
    write(dir, "afile", "x");
    fails(
        &["flamegraph", p, "-o", "afile/heap.svg"],
        dir,
        1,
        "afile/heap.svg",
        "cannot write",
    );
    fails(
        &["pprof", p, "-o", "no/such/dir/heap.pb.gz"],
        dir,
        1,
        "no/such/dir/heap.pb.gz",
        "cannot write",
    );
    std::fs::create_dir(dir.join("out")).unwrap();
    write(&dir.join("out"), "keep.svg", "previous");
    fails(
        &["flamegraph", p, "-o", "out"],
        dir,
        1,
        "out",
        "is a directory",
    );
    assert_eq!(std::fs::read_dir(dir.join("out")).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        2,
        "a temporary file was left behind"
    );
    // Never over the input profile.
    std::fs::copy(p, dir.join("p.json")).unwrap();
    fails(
        &["flamegraph", "p.json", "-o", "p.json"],
        dir,
        2,
        "p.json",
        "is the input profile",
    );
    assert_eq!(
        std::fs::read(dir.join("p.json")).unwrap(),
        std::fs::read(p).unwrap()
    );
}

#[test]
fn bad_options() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::copy(demo_profile(), dir.join("p.json")).unwrap();
    fails(
        &["folded", "p.json", "--size-class", "99"],
        dir,
        2,
        "p.json",
        "unknown size class '99'",
    );
    fails(
        &["folded", "p.json", "--size-class", "33B"],
        dir,
        2,
        "p.json",
        "33 B is not a slot size (it lands in class 5 of 48 B)",
    );
    fails(
        &["flamegraph", "p.json", "--size-class", "big"],
        dir,
        2,
        "p.json",
        "unknown size class 'big'",
    );
    fails(
        &["flamegraph", "p.json", "--weight", "refills"],
        dir,
        2,
        "p.json",
        "--weight refills needs --stacks sites",
    );
    // clap's own usage errors.
    spanprof()
        .args(["flamegraph", "p.json", "--weight", "bogus"])
        .current_dir(dir)
        .assert()
        .code(2);
    spanprof().args(["report"]).assert().code(2);
    spanprof()
        .args(["report", "p.json", "--top", "-3"])
        .current_dir(dir)
        .assert()
        .code(2);
    assert!(!dir.join("heap.svg").exists());
}

#[test]
fn an_exported_spanprof_out_never_overwrites_the_profile_being_read() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.json");
    let demo = dir.path().join("demo");
    assert_cmd::Command::cargo_bin("spanprof")
        .unwrap()
        .args(["demo", demo.to_str().unwrap()])
        .env_remove("SPANPROF_OUT")
        .assert()
        .success();
    std::fs::copy(demo.join("profile.json"), &profile).unwrap();
    let before = std::fs::read(&profile).unwrap();
    assert_cmd::Command::cargo_bin("spanprof")
        .unwrap()
        .args(["report", profile.to_str().unwrap()])
        .env("SPANPROF_OUT", &profile)
        .assert()
        .success();
    assert_eq!(
        std::fs::read(&profile).unwrap(),
        before,
        "the CLI wrote its own profile over it"
    );
}

#[test]
fn dropped_samples_are_said_even_when_some_stacks_were_kept() {
    let d = tempfile::tempdir().unwrap();
    let mut v = profile_value();
    assert!(!v["samples"].as_array().unwrap().is_empty());
    v["dropped_samples"] = 4469.into();
    write(d.path(), "dropped.json", &v.to_string());
    spanprof()
        .current_dir(d.path())
        .args(["report", "dropped.json"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "(4469 sampled allocations were dropped: the stack table was full; the figures below undercount)",
        ));
    let json = spanprof()
        .current_dir(d.path())
        .args(["report", "dropped.json", "--format", "json"])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(r["dropped_samples"], 4469);
}

/// The environment variable that bounds what is read of a profile.
const MAX: &str = "SPANPROF_MAX_PROFILE_BYTES";

#[test]
fn endless_input_is_refused_after_a_bounded_read() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // /dev/zero is not JSON: refused after its first MiB, not read forever.
    fails(
        &["report", "/dev/zero"],
        dir,
        1,
        "/dev/zero",
        "not JSON: expected value at line 1 column 1",
    );
    // Under a lower limit the limit comes first, with how to raise it.
    fails_with(
        spanprof().args(["report", "/dev/zero"]).env(MAX, "64KiB"),
        dir,
        1,
        "/dev/zero",
        "larger than 64 KiB, the most a profile may have; set SPANPROF_MAX_PROFILE_BYTES (e.g. SPANPROF_MAX_PROFILE_BYTES=4GiB) to read it",
    );
    // A stream that looks like a profile and never ends (a pipe whose writer keeps
    // writing) stops at the limit.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_spanprof"))
        .args(["folded", "/dev/stdin", "-o", "out.txt"])
        .current_dir(dir)
        .env(MAX, "1MiB")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let spaces = [b' '; 4096];
        let _ = stdin.write_all(b"{\"version\": 2, ");
        // Until spanprof stops reading and the pipe breaks.
        while stdin.write_all(&spaces).is_ok() {}
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        "spanprof: /dev/stdin: larger than 1 MiB, the most a profile may have; set SPANPROF_MAX_PROFILE_BYTES (e.g. SPANPROF_MAX_PROFILE_BYTES=4GiB) to read it\n"
    );
    assert!(!dir.join("out.txt").exists());
}

#[test]
fn a_profile_over_the_limit_is_refused_and_the_limit_can_be_raised() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::copy(demo_profile(), dir.join("p.json")).unwrap();
    let len = std::fs::metadata(dir.join("p.json")).unwrap().len();
    write(dir, "heap.svg", "previous");
    for sub in [
        "report",
        "flamegraph",
        "folded",
        "pprof",
        "audit",
        "symbolize",
    ] {
        fails_with(
            spanprof().args([sub, "p.json"]).env(MAX, "1K"),
            dir,
            1,
            "p.json",
            "larger than 1 KiB, the most a profile may have",
        );
    }
    fails_with(
        spanprof()
            .args(["report", "p.json"])
            .env(MAX, (len - 1).to_string()),
        dir,
        1,
        "p.json",
        &format!("larger than {} bytes, the most a profile may have", len - 1),
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("heap.svg")).unwrap(),
        "previous"
    );
    assert!(!dir.join("p.symbolized.json").exists() && !dir.join("heap.pb.gz").exists());
    // Exactly the limit is read; suffixes and spaces are taken; empty is the default.
    for limit in [len.to_string(), "2GiB".into(), "1 gb".into(), "".into()] {
        spanprof()
            .current_dir(dir)
            .args(["report", "p.json"])
            .env(MAX, &limit)
            .assert()
            .success();
    }
    // Not a size: a usage error naming the variable.
    for bad in [
        "lots",
        "12XB",
        "-1",
        "99999999999999999999",
        "20000000000TiB",
    ] {
        fails_with(
            spanprof().args(["report", "p.json"]).env(MAX, bad),
            dir,
            2,
            MAX,
            &format!("'{bad}' is not a size"),
        );
    }
}

/// The subcommands that read `p.json`, each writing (if anything) into `out.*`.
const READERS: [&[&str]; 7] = [
    &["report", "p.json"],
    &["audit", "p.json"],
    &["folded", "p.json", "-o", "out.folded"],
    &["flamegraph", "p.json", "--stacks", "sites", "-o", "out.svg"],
    &["pprof", "p.json", "-o", "out.pb.gz"],
    &["diff", "good.json", "p.json", "-o", "out.diff.svg"],
    &["symbolize", "p.json", "-o", "out.json"],
];

/// Writes `v` as `p.json` (beside the demo's profile as `good.json`) and expects every
/// subcommand that reads it to fail with one line naming `p.json` and `problem`, and
/// to write nothing.
fn refused_everywhere(v: &serde_json::Value, problem: &str) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::copy(demo_profile(), dir.join("good.json")).unwrap();
    write(dir, "p.json", &v.to_string());
    for args in READERS {
        fails(args, dir, 1, "p.json", problem);
    }
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["good.json", "p.json"], "an output was written");
}

/// The demo's profile with `table[0].field` at `u64::MAX` and `table[1].field` at 1.
fn overflowing(table: &str, field: &str) -> serde_json::Value {
    let mut v = profile_value();
    v[table][0][field] = u64::MAX.into();
    v[table][1][field] = 1.into();
    v
}

#[test]
fn counters_whose_sums_overflow_are_refused_naming_the_field() {
    for field in [
        "allocs",
        "bytes_allocated",
        "live_objects",
        "live_bytes",
        "refills",
    ] {
        refused_everywhere(
            &overflowing("classes", field),
            &format!("classes: {field} overflow u64 when summed"),
        );
    }
    for field in [
        "allocs",
        "slot_bytes",
        "requested_bytes",
        "refills",
        "live_objects",
        "live_bytes",
    ] {
        refused_everywhere(
            &overflowing("site_stats", field),
            &format!("site_stats: {field} overflow u64 when summed"),
        );
    }
    for field in ["alloc_objects", "alloc_bytes", "free_objects", "free_bytes"] {
        refused_everywhere(
            &overflowing("samples", field),
            &format!("samples: {field} overflow u64 when summed"),
        );
    }
}

#[test]
fn sums_across_tables_are_checked_too() {
    // Small classes fit; with large's they do not.
    let classes_and_large = |field: &str, large: &str| {
        let mut v = profile_value();
        for c in v["classes"].as_array_mut().unwrap() {
            c[field] = 0.into();
        }
        v["classes"][1][field] = (u64::MAX - 5).into();
        v["large"][large] = 6.into();
        v["large"]["frees"] = 0.into();
        v["large"]["bytes_freed"] = 0.into();
        v
    };
    refused_everywhere(
        &classes_and_large("allocs", "allocs"),
        "classes and large: allocs overflow u64 when summed",
    );
    refused_everywhere(
        &classes_and_large("bytes_allocated", "bytes_allocated"),
        "classes and large: bytes_allocated overflow u64 when summed",
    );
    refused_everywhere(
        &classes_and_large("live_objects", "allocs"),
        "classes and large: live objects overflow u64 when summed",
    );
    refused_everywhere(
        &classes_and_large("live_bytes", "bytes_allocated"),
        "classes and large: live bytes overflow u64 when summed",
    );
    // The report's requested bytes: each class's from its site stacks, plus large's.
    let mut v = profile_value();
    v["large"]["requested_bytes"] = u64::MAX.into();
    assert!(v["large"]["allocs"].as_u64().unwrap() > 0);
    refused_everywhere(
        &v,
        "classes, site_stats and large: requested_bytes overflow u64 when summed",
    );
}

#[test]
fn estimates_must_be_finite_not_negative_and_fit_pprof() {
    let mut v = profile_value();
    v["samples"][1]["inuse_bytes_est"] = (-1.5).into();
    refused_everywhere(
        &v,
        "samples: sample 1 has inuse_bytes_est -1.5; estimates are finite and not negative",
    );
    for field in [
        "alloc_objects_est",
        "alloc_bytes_est",
        "inuse_objects_est",
        "inuse_bytes_est",
    ] {
        // Two halves of pprof's int64 range: each fits, their sum does not.
        let mut v = profile_value();
        v["samples"][0][field] = 5e18.into();
        v["samples"][1][field] = 5e18.into();
        refused_everywhere(
            &v,
            &format!("samples: {field} overflow i64 (pprof's value type) when summed"),
        );
        // One estimate past any integer.
        let mut v = profile_value();
        v["samples"][0][field] = 1e300.into();
        refused_everywhere(
            &v,
            &format!("samples: {field} overflow i64 (pprof's value type) when summed"),
        );
    }
}

#[test]
fn sizes_the_audit_rounds_must_be_sizes_a_type_can_have() {
    let mut v = profile_value();
    let site = v["sites"][0]["id"].clone();
    v["sites"][0]["findings"][0]["size"] = u64::MAX.into();
    refused_everywhere(
        &v,
        &format!(
            "sites: site {site} finding 0 has size 18446744073709551615, more than any Rust type (9223372036854775807 bytes)"
        ),
    );
    let row = |size: u64, slot: u64| {
        serde_json::json!({"name": "Big", "module": "m", "file": "f.rs", "line": 1,
            "size": size, "align": 8, "size_class": 0, "slot_size": slot, "waste": 0})
    };
    let mut v = profile_value();
    v["types"] = serde_json::json!([row(64, 64), row(100, 96)]);
    refused_everywhere(
        &v,
        "types: type 1 (Big) has slot_size 96 smaller than its size 100",
    );
    let mut v = profile_value();
    v["types"] = serde_json::json!([row(u64::MAX, u64::MAX)]);
    refused_everywhere(
        &v,
        "types: type 0 (Big) has size 18446744073709551615, more than any Rust type",
    );
    // At the edges: the largest values that fit are read.
    let d = tempfile::tempdir().unwrap();
    let mut v = profile_value();
    v["types"] = serde_json::json!([row(64, 64)]);
    v["classes"][1]["allocs"] = (u64::MAX
        - v["classes"]
            .as_array()
            .unwrap()
            .iter()
            .skip(2)
            .map(|c| c["allocs"].as_u64().unwrap())
            .sum::<u64>()
        - v["classes"][0]["allocs"].as_u64().unwrap()
        - v["large"]["allocs"].as_u64().unwrap())
    .into();
    write(d.path(), "edge.json", &v.to_string());
    spanprof()
        .current_dir(d.path())
        .args(["report", "edge.json"])
        .assert()
        .success();
}
