//! `spanprof run` with a program that runs until it is stopped (the `sample_program`
//! example in `wait` mode): SIGINT or SIGTERM sent to `spanprof run` reaches the
//! program, which writes its profile and dies by the signal; `spanprof run` renders
//! the profile and exits 128 + the signal. A signal sent to the whole process group
//! (as a terminal's Ctrl-C is) reaches the program twice, once from `spanprof run`,
//! and changes nothing.

mod common;

use common::example;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    common::scratch_dir(&format!("run-signals-{name}"))
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    dir: PathBuf,
}

/// Runs `spanprof run -- sample_program wait`, waits until the program says it is
/// waiting, then sends `sig` to `spanprof run`, or with `to_group` to the whole
/// process group `spanprof run` leads.
fn run_and_stop(name: &str, sig: libc::c_int, to_group: bool) -> Outcome {
    run_and_stop_after(name, sig, to_group, &[], Duration::ZERO)
}

/// [`run_and_stop`] with more environment for the program, signalled `after` it
/// says it is waiting.
fn run_and_stop_after(
    name: &str,
    sig: libc::c_int,
    to_group: bool,
    envs: &[(&str, &str)],
    after: Duration,
) -> Outcome {
    let dir = temp_dir(name);
    let stderr_path = dir.join("stderr.txt");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spanprof"));
    cmd.current_dir(&dir)
        .args([
            "run",
            "--rate",
            "4096",
            "--no-svg",
            "--no-html",
            "-o",
            "p.json",
            "--",
        ])
        .arg(example("sample_program"))
        .arg("wait")
        .env_remove("SPANPROF_OUT")
        .env_remove("SPANPROF_RATE")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    if to_group {
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stdout.read_line(&mut line).unwrap();
        assert!(n > 0, "the program ended before waiting: {seen}");
        seen.push_str(&line);
        if line.contains("waiting for a signal") {
            break;
        }
    }
    std::thread::sleep(after);
    let target = if to_group { -pid } else { pid };
    // SAFETY: signals our own child (or the group it leads).
    assert_eq!(unsafe { libc::kill(target, sig) }, 0);
    // The rest of stdout ends when `spanprof run` does; the wait has a deadline.
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        rest
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!(
                "spanprof run did not end: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    seen.push_str(&reader.join().unwrap());
    Outcome {
        code: status.code(),
        stdout: seen,
        stderr: std::fs::read_to_string(&stderr_path).unwrap(),
        dir,
    }
}

fn check_rendered(o: &Outcome, sig: libc::c_int, name: &str) {
    assert_eq!(o.code, Some(128 + sig), "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains(&format!(
            "was killed by signal {sig} ({name}) (rendering the profile it wrote)"
        )),
        "{}",
        o.stderr
    );
    assert!(o.stdout.contains("spanprof report:"), "{}", o.stdout);
    assert!(o.stdout.contains("p.json (profile)"), "{}", o.stdout);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(o.dir.join("p.json")).unwrap()).unwrap();
    assert!(v["pid"].as_u64().is_some());
    // Only the profile is left: no temporary file.
    let names: Vec<_> = std::fs::read_dir(&o.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn sigint_to_spanprof_run_reaches_the_program_and_its_profile_is_rendered() {
    let o = run_and_stop("int", libc::SIGINT, false);
    check_rendered(&o, libc::SIGINT, "SIGINT");
    assert_eq!(o.code, Some(130));
}

#[test]
fn sigterm_to_spanprof_run_reaches_the_program_and_its_profile_is_rendered() {
    let o = run_and_stop("term", libc::SIGTERM, false);
    check_rendered(&o, libc::SIGTERM, "SIGTERM");
}

#[test]
fn sigint_to_the_whole_group_is_rendered_once() {
    let o = run_and_stop("group", libc::SIGINT, true);
    check_rendered(&o, libc::SIGINT, "SIGINT");
}

#[test]
fn interval_profiles_land_beside_the_output_under_their_own_names() {
    let o = run_and_stop_after(
        "interval",
        libc::SIGTERM,
        false,
        &[("SPANPROF_INTERVAL", "100ms")],
        Duration::from_millis(450),
    );
    assert_eq!(o.code, Some(128 + libc::SIGTERM), "{}", o.stderr);
    let mut names: Vec<String> = std::fs::read_dir(&o.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    let dumps: Vec<&String> = names
        .iter()
        .filter(|n| *n != "p.json" && *n != "stderr.txt")
        .collect();
    assert!(!dumps.is_empty(), "{names:?}");
    for d in dumps {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(o.dir.join(d)).unwrap()).unwrap();
        assert!(v["pid"].as_u64().is_some(), "{d}");
    }
    assert!(names.contains(&"p.json".to_string()), "{names:?}");
}
