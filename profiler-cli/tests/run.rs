//! `spanprof run`: a program built with spanprof (the `sample_program` example)
//! run under the CLI — report, profile and flamegraph; a failing program; a program
//! that writes no profile; a program that does not exist.

mod common;

use common::*;
use predicates::prelude::*;
use std::path::PathBuf;

fn temp_dir(name: &str) -> PathBuf {
    common::scratch_dir(&format!("run-{name}"))
}

#[test]
fn run_writes_the_profile_prints_the_report_and_draws_the_flamegraph() {
    let dir = temp_dir("ok");
    let (profile, svg) = (dir.join("p.json"), dir.join("h.svg"));
    spanprof()
        .current_dir(&dir)
        .args(["run", "--rate", "1", "-o", "p.json", "--svg", "h.svg", "--"])
        .arg(example("sample_program"))
        .arg("ok")
        .assert()
        .success()
        .stdout(predicate::str::contains("sample program: 10000 words"))
        .stdout(predicate::str::contains("spanprof report:"))
        .stdout(predicate::str::contains("make_words"))
        .stdout(predicate::str::contains(
            "h.svg (flamegraph, sampled native stacks)",
        ))
        .stdout(predicate::str::contains("report.html (HTML report)"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&profile).unwrap()).unwrap();
    assert!(!v["samples"].as_array().unwrap().is_empty());
    assert!(check_xml(&std::fs::read(&svg).unwrap()) > 10);
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(page.contains("<section id=\"flamegraphs\">") && page.contains("make_words"));
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
}

#[cfg(unix)]
#[test]
fn open_shows_the_report_with_browser_and_warns_when_there_is_none() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("open");
    let opened = dir.join("opened");
    let browser = dir.join("browser.sh");
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\necho \"$@\" > '{}.tmp' && mv '{0}.tmp' '{0}'\n",
            opened.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    spanprof()
        .current_dir(&dir)
        .env("BROWSER", &browser)
        .args(["run", "--no-svg", "--html", "r.html", "--open", "--"])
        .arg(example("sample_program"))
        .arg("ok")
        .assert()
        .success()
        .stdout(predicate::str::contains("r.html (HTML report)"));
    // Started, not waited for.
    let mut waited = 0;
    while !opened.exists() && waited < 100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
    }
    assert_eq!(std::fs::read_to_string(&opened).unwrap().trim(), "r.html");

    // No $BROWSER and no xdg-open on PATH: the report is written, one warning line,
    // and the run's own status.
    let empty = dir.join("no-bin");
    std::fs::create_dir(&empty).unwrap();
    spanprof()
        .current_dir(&dir)
        .env_remove("BROWSER")
        .env("PATH", &empty)
        .args(["run", "--no-svg", "--html", "r2.html", "--open", "--"])
        .arg(example("sample_program"))
        .arg("ok")
        .assert()
        .success()
        .stderr(
            predicate::str::contains(
                "spanprof: warning: cannot open r2.html: no browser could be started",
            )
            .and(predicate::function(|e: &str| e.lines().count() == 1)),
        );
    assert!(dir.join("r2.html").is_file());
}

#[test]
fn without_samples_the_flamegraph_uses_site_stacks() {
    let dir = temp_dir("sites");
    spanprof()
        .current_dir(&dir)
        .args(["run", "--rate", "0", "--"])
        .arg(example("sample_program"))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "heap.svg (flamegraph, site stacks",
        ));
    assert!(dir.join("profile.json").is_file());
    assert!(check_xml(&std::fs::read(dir.join("heap.svg")).unwrap()) > 5);
}

#[test]
fn a_failing_program_is_still_rendered_and_its_status_kept() {
    let dir = temp_dir("fail");
    spanprof()
        .current_dir(&dir)
        .args(["run", "--no-svg", "--"])
        .arg(example("sample_program"))
        .args(["fail", "7"])
        .assert()
        .code(7)
        .stdout(predicate::str::contains("spanprof report:"))
        .stderr(predicate::str::contains("exited with status 7"));
    assert!(dir.join("profile.json").is_file());
    assert!(!dir.join("heap.svg").exists());
}

#[test]
fn no_profile_is_an_error_that_names_the_likely_cause() {
    let dir = temp_dir("none");
    std::fs::write(dir.join("profile.json"), "earlier").unwrap();
    spanprof()
        .current_dir(&dir)
        .args(["run", "--"])
        .arg(example("sample_program"))
        .arg("no-profile")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no profile was written"))
        .stderr(predicate::str::contains("global_allocator"));
    // An earlier profile is left alone.
    assert_eq!(
        std::fs::read_to_string(dir.join("profile.json")).unwrap(),
        "earlier"
    );
}

#[test]
fn a_missing_program_or_none_at_all() {
    spanprof()
        .args(["run", "--", "/nonexistent/spanprof-no-such-program"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("program not found"));
    spanprof().args(["run"]).assert().code(2);
}

#[test]
fn arguments_that_are_not_utf8_are_kept_lossily_not_fatal() {
    use std::os::unix::ffi::OsStrExt;
    let dir = temp_dir("notutf8");
    spanprof()
        .current_dir(&dir)
        .args(["run", "--no-svg", "--"])
        .arg(example("sample_program"))
        .arg("ok")
        .arg(std::ffi::OsStr::from_bytes(b"caf\xe9-\xff"))
        .assert()
        .success()
        .stdout(predicate::str::contains("spanprof report:"));
    let p: spanprof::Profile =
        serde_json::from_slice(&std::fs::read(dir.join("profile.json")).unwrap()).unwrap();
    assert_eq!(p.args, ["ok", "caf\u{fffd}-\u{fffd}"]);
}
