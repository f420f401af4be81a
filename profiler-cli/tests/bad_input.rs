//! Bad input and bad options: one line `spanprof: <file>: <problem>`, exit 1 (usage
//! errors 2), never a panic, never a half-written or clobbered output.

mod common;

use common::*;
use std::path::Path;

/// Runs `args`, expects `code` and a single stderr line starting with `spanprof: <file>: `
/// and containing `problem`; returns that line.
fn fails(args: &[&str], dir: &Path, code: i32, file: &str, problem: &str) -> String {
    let out = spanprof()
        .current_dir(dir)
        .args(args)
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
