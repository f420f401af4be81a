//! `spanprof diff --fail-if-grown`: the CI gate fails (exit 1, one line naming what
//! grew) when a site stack or the total grew past the limit, passes under it, and
//! still writes the graph and the table.

mod common;

use common::{profile_value, scratch_dir, spanprof};
use std::path::PathBuf;

/// In a scratch folder of its own per test: the demo profile, and a copy whose first site stack allocated twice the bytes.
fn before_and_after(test: &str) -> (PathBuf, PathBuf, u64) {
    let dir = scratch_dir(test);
    let before = dir.join("before.json");
    let after = dir.join("after.json");
    let mut v = profile_value();
    std::fs::write(&before, serde_json::to_vec(&v).unwrap()).unwrap();
    let stat = v["site_stats"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["slot_bytes"].as_u64().unwrap() > 0)
        .expect("a site stack that allocated");
    let bytes = stat["slot_bytes"].as_u64().unwrap();
    stat["slot_bytes"] = (bytes * 2).into();
    std::fs::write(&after, serde_json::to_vec(&v).unwrap()).unwrap();
    (before, after, bytes)
}

#[test]
fn growth_past_the_limit_fails_with_one_line() {
    let (before, after, grew) = before_and_after("gate-fails");
    let svg = before.with_file_name("gate.svg");
    for limit in ["1%".to_string(), format!("{}", grew - 1)] {
        let out = spanprof()
            .args(["diff", "--stacks", "sites", "--fail-if-grown", &limit, "-o"])
            .arg(&svg)
            .arg(&before)
            .arg(&after)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{limit}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("spanprof: "), "{err}");
        assert!(
            err.contains("grew by") && err.contains("over the limit"),
            "{err}"
        );
        // The graph and the table are there to look at.
        assert!(std::fs::metadata(&svg).unwrap().len() > 0);
        assert!(
            String::from_utf8(out.stdout)
                .unwrap()
                .contains("Stacks (alloc-bytes, site stacks)")
        );
        std::fs::remove_file(&svg).unwrap();
    }
}

#[test]
fn growth_within_the_limit_passes() {
    let (before, after, grew) = before_and_after("gate-passes");
    let svg = before.with_file_name("pass.svg");
    for limit in ["150%".to_string(), format!("{grew}"), "1GiB".into()] {
        spanprof()
            .args(["diff", "--stacks", "sites", "--fail-if-grown", &limit, "-o"])
            .arg(&svg)
            .arg(&before)
            .arg(&after)
            .assert()
            .success();
    }
    // Shrinking never fails: the same profiles the other way round.
    spanprof()
        .args(["diff", "--stacks", "sites", "--fail-if-grown", "0", "-o"])
        .arg(&svg)
        .arg(&after)
        .arg(&before)
        .assert()
        .success();
}

#[test]
fn a_bad_limit_is_a_usage_error() {
    let (before, after, _) = before_and_after("gate-usage");
    let out = spanprof()
        .args(["diff", "--fail-if-grown", "lots", "-o", "-"])
        .arg(&before)
        .arg(&after)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("'lots'") && err.contains("not a limit"),
        "{err}"
    );
    // A size in bytes cannot bound objects; a bare number can.
    let out = spanprof()
        .args([
            "diff",
            "--weight",
            "alloc-objects",
            "--fail-if-grown",
            "1KiB",
        ])
        .args(["-o", "-"])
        .arg(&before)
        .arg(&after)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("counts objects"), "{err}");
}

#[test]
fn an_in_use_gate_on_profiles_that_free_everything_passes() {
    let (before, after, _) = before_and_after("gate-empty");
    let svg = before.with_file_name("empty.svg");
    let out = spanprof()
        .args(["diff", "--stacks", "sites", "--weight", "inuse-bytes"])
        .args(["--size-class", "60", "--fail-if-grown", "0", "-o"])
        .arg(&svg)
        .arg(&before)
        .arg(&after)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to draw"));
    assert!(!svg.exists());
    // Without the gate, nothing to draw is still an error.
    spanprof()
        .args(["diff", "--stacks", "sites", "--weight", "inuse-bytes"])
        .args(["--size-class", "60", "-o"])
        .arg(&svg)
        .arg(&before)
        .arg(&after)
        .assert()
        .code(1);
}

#[test]
fn the_table_shows_what_the_graph_draws() {
    let (before, after, _) = before_and_after("gate-table");
    let table = |args: &[&str]| {
        let out = spanprof()
            .arg("diff")
            .args(args)
            .args(["-o", "/dev/null"])
            .arg(&before)
            .arg(&after)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let bytes = table(&["--stacks", "sites"]);
    assert!(
        bytes.contains("Stacks (alloc-bytes, site stacks)"),
        "{bytes}"
    );
    assert!(
        !bytes.contains("Stacks (alloc-bytes, site stacks)\n  no change"),
        "{bytes}"
    );
    // Objects did not change (only bytes were doubled): the same table by objects
    // says so, in objects.
    let objects = table(&["--stacks", "sites", "--weight", "alloc-objects"]);
    assert!(
        objects.contains("Stacks (alloc-objects, site stacks)\n  no change"),
        "{objects}"
    );
    assert!(
        objects.contains("Size classes (alloc-objects)"),
        "{objects}"
    );
    // One size class only: the class table lists no other.
    let one = table(&["--stacks", "sites", "--size-class", "5"]);
    let classes = one.split("Size classes").nth(1).unwrap();
    assert!(
        classes
            .lines()
            .skip(1)
            .all(|l| l.contains("class 5 ") || l.contains("no change")),
        "{one}"
    );
}
