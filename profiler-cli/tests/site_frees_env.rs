//! `SPANPROF_SITE_FREES=0`: a program's sites count what they allocate, the profile
//! says its sites did not track frees, and the CLI shows no site in-use figures
//! rather than wrong ones. Real child processes.

mod common;

use common::{example, scratch_dir, spanprof};
use std::path::{Path, PathBuf};

/// Runs `sample_program` with `SPANPROF_OUT` in `dir` (and `SPANPROF_SITE_FREES`
/// when given); returns the profile's path and the program's stderr.
fn run(dir: &Path, site_frees: Option<&str>) -> (PathBuf, String) {
    let out = dir.join("heap.json");
    let mut c = std::process::Command::new(example("sample_program"));
    c.env("SPANPROF_OUT", &out).env("SPANPROF_QUIET", "1");
    c.env_remove("SPANPROF_SITE_FREES")
        .env_remove("SPANPROF_RATE");
    if let Some(v) = site_frees {
        c.env("SPANPROF_SITE_FREES", v);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{o:?}");
    (out, String::from_utf8_lossy(&o.stderr).into_owned())
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn site_row(report: &serde_json::Value) -> serde_json::Value {
    report["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stack"].as_str().unwrap().contains("make_words"))
        .cloned()
        .expect("a make_words row")
}

#[test]
fn exact_by_default_counts_only_when_asked() {
    let dir = scratch_dir("site-frees-env");
    let (exact, _) = run(&subdir(&dir, "exact"), None);
    let (counts, err) = run(&subdir(&dir, "counts"), Some("0"));
    assert!(err.is_empty(), "no warning for 0: {err}");

    let p = json(&exact);
    assert_eq!(p["site_counts_only"], false);
    let frees: u64 = p["site_stats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["stack"].as_array().unwrap().is_empty())
        .map(|s| s["frees"].as_u64().unwrap())
        .sum();
    assert!(
        frees >= 10_000,
        "the words' frees are charged to the site: {frees}"
    );

    let p = json(&counts);
    assert_eq!(p["site_counts_only"], true);
    let (allocs, frees) = p["site_stats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["stack"].as_array().unwrap().is_empty())
        .fold((0, 0), |(a, f), s| {
            (
                a + s["allocs"].as_u64().unwrap(),
                f + s["frees"].as_u64().unwrap(),
            )
        });
    assert!(
        allocs >= 10_000,
        "allocations still counted per site: {allocs}"
    );
    assert_eq!(frees, 0, "frees not tracked per site");

    // The report shows no site in-use figure for the counts-only profile.
    let r = |path: &Path| {
        let o = spanprof()
            .args(["report", "--format", "json"])
            .arg(path)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    assert!(site_row(&r(&exact))["live_bytes"].is_u64());
    assert!(site_row(&r(&counts))["live_bytes"].is_null());

    // Site in-use graphs are refused with one line naming the file; native ones work.
    let o = spanprof()
        .args(["folded", "--stacks", "sites", "--weight", "inuse-bytes"])
        .arg(&counts)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let msg = String::from_utf8_lossy(&o.stderr);
    assert_eq!(msg.trim().lines().count(), 1, "{msg}");
    assert!(
        msg.contains("heap.json") && msg.contains("not tracked"),
        "{msg}"
    );
    spanprof()
        .args(["folded", "--stacks", "sites", "--weight", "alloc-bytes"])
        .arg(&counts)
        .assert()
        .success();
}

#[test]
fn a_bad_value_says_so_and_stays_exact() {
    let dir = scratch_dir("site-frees-env-bad");
    let (out, err) = run(&dir, Some("yes"));
    assert!(err.contains("SPANPROF_SITE_FREES"), "{err}");
    assert_eq!(json(&out)["site_counts_only"], false);
}

fn subdir(dir: &Path, name: &str) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}
