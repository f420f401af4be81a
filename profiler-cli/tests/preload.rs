//! libspanprof.so (the `spanprof-preload` crate) under real programs: each runs
//! twice, under glibc and with the library preloaded, and must print the same bytes;
//! the preloaded run writes a profile that `spanprof report` reads and whose stacks
//! name the program's own functions. Also `spanprof run` choosing to preload (the C
//! semantics of the API are tested in `preload/tests/c_api.rs`). Programs that are not
//! installed (sqlite3, g++) are skipped with a note; CI installs them (`.ci/run`).

mod common;

use common::{example, scratch_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const SPANPROF: &str = env!("CARGO_BIN_EXE_spanprof");
const PROGRAMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../preload/tests/programs");

/// The built libspanprof.so of this profile: `target/<profile>/libspanprof.so` when
/// `cargo build` made it; else (`cargo test` does not build a `cdylib` that no test
/// links) built here by cargo into `target/<profile>/preload-build/`.
fn library() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap();
        let lib = profile_dir.join("libspanprof.so");
        if lib.is_file() {
            return lib;
        }
        let target = profile_dir.join("preload-build");
        let release = profile_dir.ends_with("release");
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.args(["build", "-p", "spanprof-preload", "--target-dir"])
            .arg(&target);
        if release {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "building libspanprof.so");
        target
            .join(if release { "release" } else { "debug" })
            .join("libspanprof.so")
    })
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `cmd` as it is and with the library preloaded (writing `profile`), asserts
/// both succeed with the same stdout, and returns it.
fn same_output(mut cmd: impl FnMut() -> Command, profile: &Path) -> Vec<u8> {
    let plain = cmd().output().unwrap();
    assert!(plain.status.success(), "plain run: {plain:?}");
    let pre = cmd()
        .env("LD_PRELOAD", library())
        .env("SPANPROF_OUT", profile)
        .env("SPANPROF_RATE", "4096")
        .env("SPANPROF_QUIET", "1")
        .output()
        .unwrap();
    assert!(
        pre.status.success(),
        "preloaded run failed: {}",
        String::from_utf8_lossy(&pre.stderr)
    );
    assert!(
        plain.stdout == pre.stdout,
        "outputs differ:\n--- glibc\n{}\n--- libspanprof.so\n{}",
        String::from_utf8_lossy(&plain.stdout),
        String::from_utf8_lossy(&pre.stdout)
    );
    plain.stdout
}

/// `spanprof report` of `profile` (every stack), which must succeed and name `names`
/// (any one of each group).
fn report_names(profile: &Path, names: &[&[&str]]) -> String {
    let out: Output = Command::new(SPANPROF)
        .args(["report", "--top", "1000"])
        .arg(profile)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let folded = Command::new(SPANPROF)
        .arg("folded")
        .arg(profile)
        .output()
        .unwrap();
    let all = format!("{text}\n{}", String::from_utf8_lossy(&folded.stdout));
    for group in names {
        assert!(
            group.iter().any(|n| all.contains(n)),
            "none of {group:?} in the stacks of {}:\n{all}",
            profile.display()
        );
    }
    text
}

#[test]
fn python_runs_the_same_and_profiles() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("skipped: no /usr/bin/python3");
        return;
    }
    let dir = scratch_dir("preload-python");
    let profile = dir.join("py.json");
    let out = same_output(
        || {
            let mut c = Command::new(python);
            c.arg(format!("{PROGRAMS}/churn.py")).arg("2");
            c
        },
        &profile,
    );
    assert!(out.starts_with(b"total "));
    report_names(
        &profile,
        &[&[
            "PyDict",
            "PyList",
            "PyUnicode",
            "PyObject",
            "_PyEval",
            "Py_",
        ]],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sqlite3_runs_the_same_and_profiles() {
    if !have("sqlite3") {
        eprintln!("skipped: no sqlite3");
        return;
    }
    let dir = scratch_dir("preload-sqlite");
    let profile = dir.join("sqlite.json");
    same_output(
        || {
            let mut c = Command::new("sqlite3");
            c.arg(":memory:")
                .stdin(std::fs::File::open(format!("{PROGRAMS}/queries.sql")).unwrap());
            c
        },
        &profile,
    );
    report_names(&profile, &[&["sqlite3"]]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sort_runs_the_same_and_profiles() {
    let dir = scratch_dir("preload-sort");
    let input = dir.join("lines.txt");
    // About 4 MB of pseudo-random lines.
    let mut text = String::new();
    let mut x: u64 = 42;
    for i in 0..200_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        text.push_str(&format!("{:016x} line {i}\n", x >> 1));
    }
    std::fs::write(&input, text).unwrap();
    let profile = dir.join("sort.json");
    same_output(
        || {
            let mut c = Command::new("sort");
            c.arg(&input).env("LC_ALL", "C");
            c
        },
        &profile,
    );
    // sort is stripped: its own frames have no names, only its module and offset.
    report_names(&profile, &[&["Top sampled stacks"], &["sort+0x"]]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cpp_runs_the_same_across_threads_fork_and_destructors() {
    if !have("g++") {
        eprintln!("skipped: no g++");
        return;
    }
    let dir = scratch_dir("preload-cpp");
    let exe = dir.join("maps");
    let gxx = Command::new("g++")
        .args(["-O1", "-g", "-pthread", "-o"])
        .arg(&exe)
        .arg(format!("{PROGRAMS}/maps.cpp"))
        .status()
        .unwrap();
    assert!(gxx.success());
    let out = same_output(|| Command::new(&exe), &dir.join("cpp-%p.json"));
    let out = String::from_utf8_lossy(&out).into_owned();
    assert!(
        out.contains("child 5000") && out.contains("destructor 1000"),
        "{out}"
    );
    // The parent and the forked child each wrote their own profile.
    let profiles: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(profiles.len(), 2, "{profiles:?}");
    for p in &profiles {
        report_names(p, &[&["build_word_index"]]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_rust_program_on_the_system_allocator_runs_the_same_and_profiles() {
    let dir = scratch_dir("preload-rust");
    let profile = dir.join("rust.json");
    same_output(|| Command::new(example("system_alloc_program")), &profile);
    report_names(&profile, &[&["build_inventory"]]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn spanprof_run_preloads_programs_built_without_spanprof() {
    let dir = scratch_dir("preload-run");
    let profile = dir.join("run.json");
    let out = Command::new(SPANPROF)
        .args(["run", "--no-svg", "--no-html", "--rate", "4096", "-o"])
        .arg(&profile)
        .arg("--")
        .arg(example("system_alloc_program"))
        .env("SPANPROF_PRELOAD_LIB", library())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("build_inventory"), "{stdout}");
    // A program built with spanprof is not preloaded (the library, pointed at a
    // missing file, is not needed); --preload forces it (ld.so warns that the file is
    // missing and runs the program, which writes its profile itself).
    let sample = example("sample_program");
    for extra in [None, Some("--preload")] {
        let mut cmd = Command::new(SPANPROF);
        // No report.html either: it would land in the folder the tests run in.
        cmd.args(["run", "--no-svg", "--no-html", "-o"])
            .arg(&profile);
        cmd.args(extra);
        let out = cmd
            .arg("--")
            .arg(&sample)
            .env("SPANPROF_PRELOAD_LIB", "/nonexistent/libspanprof.so")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_note_marks_programs_built_with_spanprof_even_stripped() {
    let dir = scratch_dir("preload-note");
    let stripped = dir.join("sample_program");
    std::fs::copy(example("sample_program"), &stripped).unwrap();
    if !have("strip") {
        eprintln!("skipped: no strip");
        return;
    }
    assert!(
        Command::new("strip")
            .arg(&stripped)
            .status()
            .unwrap()
            .success()
    );
    let sections = Command::new("sh")
        .args([
            "-c",
            "readelf -S \"$1\" 2>/dev/null || objdump -h \"$1\"",
            "sh",
        ])
        .arg(&stripped)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&sections.stdout);
    assert!(s.contains(".note.spanprof"), "{s}");
    let sections = Command::new("sh")
        .args([
            "-c",
            "readelf -S \"$1\" 2>/dev/null || objdump -h \"$1\"",
            "sh",
        ])
        .arg(example("system_alloc_program"))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&sections.stdout).contains(".note.spanprof"));
    let _ = std::fs::remove_dir_all(&dir);
}
