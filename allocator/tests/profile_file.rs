//! The profile file: written at exit when `SPANPROF_OUT` asks (with `%p` expanded),
//! atomically, readable back through the documented types; nothing written when
//! nothing is asked; an unwritable path costs one stderr line and never the
//! program's exit status. Child cases re-run this test binary with
//! `SPANPROF_FILE_CASE` set.

use std::path::{Path, PathBuf};
use std::process::Command;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

#[inline(never)]
fn child_work() -> usize {
    let _s = spanprof::enter(spanprof::site!("child_site"));
    let v: Vec<Vec<u8>> = (0..20_000).map(|i| vec![i as u8; 100 + i % 900]).collect();
    v.iter().map(Vec::len).sum()
}

/// In a child: does the work of the case and returns, so the harness exits normally
/// and the `atexit` hook runs.
#[test]
fn child_entry() {
    let Ok(case) = std::env::var("SPANPROF_FILE_CASE") else {
        return;
    };
    assert!(child_work() > 0);
    if let Some(dir) = case.strip_prefix("chdir:") {
        std::env::set_current_dir(dir).unwrap();
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("spanprof-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_child(out: Option<&str>, cwd: &Path) -> (std::process::ExitStatus, u32, String) {
    run_child_with(out, cwd, &[])
}

fn run_child_with(
    out: Option<&str>,
    cwd: &Path,
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, u32, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_entry", "--test-threads=1"])
        .current_dir(cwd)
        .env("SPANPROF_FILE_CASE", "1")
        .env_remove("SPANPROF_RATE")
        .env_remove("SPANPROF_QUIET")
        .envs(env.iter().copied());
    match out {
        Some(o) => cmd.env("SPANPROF_OUT", o),
        None => cmd.env_remove("SPANPROF_OUT"),
    };
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        pid,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn child_writes_a_valid_profile_at_exit() {
    let dir = scratch("atexit");
    let pattern = dir.join("prof-%p.json");
    let (status, pid, stderr) = run_child(Some(pattern.to_str().unwrap()), &dir);
    assert!(status.success(), "child failed: {stderr}");
    let path = dir.join(format!("prof-{pid}.json"));
    let text = std::fs::read_to_string(&path).expect("profile written with %p expanded");
    let p: spanprof::Profile = serde_json::from_str(&text).expect("profile parses");
    // One line says what was written, as dhat does.
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("spanprof:"))
        .collect();
    assert_eq!(said.len(), 1, "{stderr}");
    let site_count = if p.sites.iter().any(|s| s.name == "child_site") {
        1
    } else {
        0
    };
    let expected = format!(
        "spanprof: wrote {}: {} allocations, {} sampled in {} {}, {site_count} site",
        path.display(),
        p.classes.iter().map(|c| c.allocs).sum::<u64>() + p.large.allocs,
        p.samples.iter().map(|s| s.alloc_objects).sum::<u64>(),
        p.stacks.len(),
        if p.stacks.len() == 1 {
            "stack"
        } else {
            "stacks"
        },
    );
    assert!(
        said[0].starts_with(&expected),
        "{}\nwanted {expected}",
        said[0]
    );
    assert!(said[0].ends_with(&format!("see `spanprof report {}`", path.display())));
    assert_eq!(p.version, spanprof::format::FORMAT_VERSION);
    assert_eq!(p.pid, pid);
    assert_eq!(
        p.sample_rate,
        512 * 1024,
        "SPANPROF_OUT alone turns on default sampling"
    );
    assert_eq!(p.size_classes.len(), 67);
    let site = p
        .sites
        .iter()
        .find(|s| s.name == "child_site")
        .expect("site listed");
    let site_allocs: u64 = p
        .site_stats
        .iter()
        .filter(|s| s.stack == [site.id])
        .map(|s| s.allocs)
        .sum();
    assert_eq!(site_allocs, 20_001, "20000 buffers and the Vec");
    // Every class adds up: sites plus "(no site)" equal the allocator's counters.
    for c in &p.classes {
        let sum: u64 = p
            .site_stats
            .iter()
            .filter(|s| s.class == c.class)
            .map(|s| s.allocs)
            .sum();
        assert_eq!(sum, c.allocs, "class {}", c.class);
    }
    // ~12 MB allocated at a 512 KiB rate: a few dozen samples, symbolized.
    assert!(!p.samples.is_empty());
    assert!(
        p.samples
            .iter()
            .any(|s| p.frames(s.stack).any(|f| f.function.contains("child_work")))
    );
    // Only the final file is there: no temporary file left behind.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn spanprof_quiet_silences_the_line_but_still_writes() {
    let dir = scratch("quietline");
    let (status, pid, stderr) = run_child_with(Some("q-%p.json"), &dir, &[("SPANPROF_QUIET", "1")]);
    assert!(status.success(), "{stderr}");
    assert!(dir.join(format!("q-{pid}.json")).is_file());
    assert!(!stderr.contains("spanprof:"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unknown_unwinder_is_one_warning_line() {
    let dir = scratch("unwind");
    let (status, pid, stderr) = run_child_with(
        Some("u-%p.json"),
        &dir,
        &[("SPANPROF_UNWIND", "frame-pointers")],
    );
    assert!(status.success(), "{stderr}");
    assert!(dir.join(format!("u-{pid}.json")).is_file());
    let warned: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("SPANPROF_UNWIND"))
        .collect();
    assert_eq!(
        warned,
        ["spanprof: SPANPROF_UNWIND is neither fp nor dwarf; using the DWARF unwinder"],
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn os(bytes: &[u8]) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(bytes)
}

fn run_child_os(out: &std::ffi::OsStr, cwd: &Path, case: &str) -> (bool, String) {
    let o = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--test-threads=1"])
        .current_dir(cwd)
        .env("SPANPROF_FILE_CASE", case)
        .env("SPANPROF_OUT", out)
        .env_remove("SPANPROF_RATE")
        .env_remove("SPANPROF_QUIET")
        .stdout(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn any_file_name_the_system_takes_is_written_as_given() {
    let dir = scratch("names");
    // The longest name a file may have (255 bytes), and one that is not UTF-8.
    let long = format!("{}.json", "a".repeat(250));
    let (ok, stderr) = run_child_os(os(long.as_bytes()), &dir, "1");
    assert!(ok, "{stderr}");
    assert!(dir.join(&long).is_file(), "{stderr}");
    let odd = os(b"caf\xe9-\xff.json");
    let (ok, stderr) = run_child_os(odd, &dir, "1");
    assert!(ok, "{stderr}");
    assert!(dir.join(odd).is_file(), "{stderr}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_relative_path_is_where_the_program_started_and_a_folder_is_refused() {
    let dir = scratch("relative");
    let elsewhere = scratch("relative-elsewhere");
    let case = format!("chdir:{}", elsewhere.display());
    let (ok, stderr) = run_child_os(os(b"rel.json"), &dir, &case);
    assert!(ok, "{stderr}");
    assert!(dir.join("rel.json").is_file(), "{stderr}");
    assert!(!elsewhere.join("rel.json").exists());
    // The line names the file written, absolute since the program moved.
    assert!(
        stderr.contains(&format!("wrote {}:", dir.join("rel.json").display())),
        "{stderr}"
    );
    std::fs::create_dir(dir.join("sub")).unwrap();
    let (ok, stderr) = run_child_os(os(b"sub"), &dir, "1");
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("cannot write profile sub: is a folder, not a file"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&elsewhere).unwrap();
}

#[test]
fn unwritable_path_costs_one_line_and_not_the_exit_status() {
    let dir = scratch("unwritable");
    let (status, _, stderr) = run_child(Some("/proc/no-such-dir/profile.json"), &dir);
    assert!(status.success(), "the profiled program still exits 0");
    let lines: Vec<_> = stderr
        .lines()
        .filter(|l| l.starts_with("spanprof:"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("/proc/no-such-dir/profile.json"),
        "{}",
        lines[0]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nothing_is_written_when_nothing_is_asked() {
    let dir = scratch("quiet");
    let (status, _, stderr) = run_child(None, &dir);
    assert!(status.success(), "{stderr}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    assert!(!stderr.contains("spanprof:"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn write_profile_round_trips_and_replaces_atomically() {
    let dir = scratch("api");
    let path = dir.join("p.json");
    std::fs::write(&path, b"old").unwrap();
    let v: Vec<Box<u64>> = (0..100).map(Box::new).collect();
    spanprof::write_profile(&path).unwrap();
    let p: spanprof::Profile =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // Round trip through the documented types is lossless.
    let again: spanprof::Profile =
        serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(p, again);
    assert!(p.classes.iter().map(|c| c.allocs).sum::<u64>() > 100);
    // A failed write leaves the previous file intact.
    let err = spanprof::write_profile(dir.join("missing-dir").join("p.json"));
    assert!(err.is_err());
    assert!(std::fs::read_to_string(&path).unwrap().starts_with('{'));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    drop(v);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn percent_p_becomes_the_pid() {
    let p = spanprof::expand_path("/tmp/x-%p.json");
    assert_eq!(
        p,
        PathBuf::from(format!("/tmp/x-{}.json", std::process::id()))
    );
}
