//! libspanprof.so (the `spanprof-preload` crate) under real programs: each runs
//! twice, under glibc and with the library preloaded, and must print the same bytes;
//! the preloaded run writes a profile that `spanprof report` reads and whose stacks
//! name the program's own functions. Also `spanprof run` choosing to preload (the C
//! semantics of the API are tested in `preload/tests/c_api.rs`). Programs that are not
//! installed (sqlite3, g++) are skipped with a note; CI installs them (`.ci/run`).

mod common;
#[path = "../../preload/tests/support/library.rs"]
mod support;

use common::{example, scratch_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::library;

const SPANPROF: &str = env!("CARGO_BIN_EXE_spanprof");
const PROGRAMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../preload/tests/programs");

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
    report_names(&profile, &[&["Top sampled stacks"]]);
    // In the stacks, not the header (which names the program).
    stacks_name(
        &profile,
        &[&[
            "sqlite3_step",
            "sqlite3_exec",
            "sqlite3_prepare_v2",
            "sqlite3VdbeExec",
            "sqlite3Malloc",
        ]],
    );
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

/// `cc -O1 -g ARGS… -o DIR/NAME SOURCE` for `programs/SOURCE`; None (with a note)
/// without a C compiler.
fn compile_c(dir: &Path, name: &str, source: &str, args: &[&str]) -> Option<PathBuf> {
    if !have("cc") {
        eprintln!("skipped: no C compiler (cc)");
        return None;
    }
    let out = dir.join(name);
    let status = Command::new("cc")
        .args(["-O1", "-g"])
        .args(args)
        .arg("-o")
        .arg(&out)
        .arg(format!("{PROGRAMS}/{source}"))
        .status()
        .unwrap();
    assert!(status.success(), "cc {source}");
    Some(out)
}

/// The `.json` files in `dir`, sorted.
fn profiles_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

/// The folded stacks of `profile` (every sampled stack, one a line).
fn folded(profile: &Path) -> String {
    let out = Command::new(SPANPROF)
        .arg("folded")
        .arg(profile)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "folded {}: {}",
        profile.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that the sampled stacks of `profile` (not its header, which names the
/// program and its arguments) name `names` (any one of each group).
fn stacks_name(profile: &Path, names: &[&[&str]]) {
    let stacks = folded(profile);
    for group in names {
        assert!(
            group.iter().any(|n| stacks.contains(n)),
            "none of {group:?} in the stacks of {}:\n{stacks}",
            profile.display()
        );
    }
}

#[test]
fn an_exec_d_program_runs_on_spanprof_and_writes_its_own_profile() {
    let dir = scratch_dir("preload-exec");
    let Some(exe) = compile_c(&dir, "exec", "exec.c", &[]) else {
        return;
    };
    // fork + exec: the parent's profile and the exec'd child's, one per pid.
    let forked = dir.join("fork-and-exec");
    std::fs::create_dir_all(&forked).unwrap();
    let out = same_output(
        || {
            let mut c = Command::new(&exe);
            c.arg("fork-exec");
            c
        },
        &forked.join("exec-%p.json"),
    );
    let out = String::from_utf8_lossy(&out).into_owned();
    assert!(out.contains("child exit 0"), "{out}");
    let profiles = profiles_in(&forked);
    assert_eq!(profiles.len(), 2, "{profiles:?}");
    let stacks: Vec<String> = profiles.iter().map(|p| folded(p)).collect();
    let parent = stacks.iter().filter(|s| s.contains("parent_work")).count();
    let child = stacks
        .iter()
        .filter(|s| s.contains("child_work") && !s.contains("parent_work"))
        .count();
    assert!(parent == 1 && child == 1, "{profiles:?}:\n{stacks:#?}");
    for p in &profiles {
        report_names(p, &[&["Top sampled stacks"]]);
        stacks_name(p, &[&["main"]]);
    }
    // exec in place keeps the pid: the exec'd program writes the profile of that
    // name; what the program allocated before the exec is never written (no exit).
    let direct = dir.join("exec-in-place");
    std::fs::create_dir_all(&direct).unwrap();
    same_output(
        || {
            let mut c = Command::new(&exe);
            c.arg("exec");
            c
        },
        &direct.join("exec-%p.json"),
    );
    let profiles = profiles_in(&direct);
    assert_eq!(profiles.len(), 1, "{profiles:?}");
    let stacks = folded(&profiles[0]);
    assert!(
        stacks.contains("child_work") && !stacks.contains("before_exec"),
        "{stacks}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dlopened_library_allocates_and_frees_across_the_boundary() {
    let dir = scratch_dir("preload-dlopen");
    let Some(plugin) = compile_c(&dir, "libplugin.so", "plugin.c", &["-shared", "-fPIC"]) else {
        return;
    };
    let exe = compile_c(&dir, "dlopen", "dlopen.c", &["-ldl"]).unwrap();
    for close in [false, true] {
        let profile = dir.join(format!("dlopen-{close}.json"));
        let out = same_output(
            || {
                let mut c = Command::new(&exe);
                c.arg(&plugin).args(close.then_some("close"));
                c
            },
            &profile,
        );
        assert!(out.starts_with(b"sum "));
        if close {
            // Unloaded before exit: its frames cannot be named when the profile is
            // written (see README), the program's own still are.
            report_names(&profile, &[&["Top sampled stacks"]]);
            stacks_name(&profile, &[&["main"]]);
        } else {
            // The library's functions allocate: their frames are named.
            report_names(&profile, &[&["Top sampled stacks"]]);
            stacks_name(&profile, &[&["plugin_make"], &["plugin_grow"], &["main"]]);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn python_imports_its_c_extension_modules() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("skipped: no /usr/bin/python3");
        return;
    }
    let dir = scratch_dir("preload-python-ext");
    let profile = dir.join("ext.json");
    // _sqlite3, _json and _decimal are shared objects Python dlopens on import.
    let script = r#"
import _sqlite3, _json, _decimal, sqlite3, json, decimal
assert all(m.__file__.endswith(".so") for m in (_sqlite3, _json, _decimal))
db = sqlite3.connect(":memory:")
db.execute("create table t (k integer primary key, v text)")
db.executemany("insert into t values (?, ?)", ((i, "v%d" % i * (i % 9)) for i in range(20000)))
rows = db.execute("select k, v from t where k % 7 = 0 order by v desc").fetchall()
doc = json.loads(json.dumps({"rows": rows, "n": len(rows)}))
total = sum(decimal.Decimal(k) / decimal.Decimal(7) for k, _ in doc["rows"])
print(doc["n"], total.quantize(decimal.Decimal("0.001")))
"#;
    let out = same_output(
        || {
            let mut c = Command::new(python);
            c.args(["-c", script]);
            c
        },
        &profile,
    );
    assert!(!out.is_empty());
    report_names(&profile, &[&["Top sampled stacks"]]);
    // The stacks go through the extension modules (by module and offset: they have
    // no symbols) and the libraries they load (by name).
    stacks_name(
        &profile,
        &[
            &["_sqlite3.cpython"],
            &["sqlite3_step", "sqlite3VdbeExec", "sqlite3_prepare_v2"],
            &["_PyEval"],
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mallopt_is_accepted_and_malloc_trim_returns_memory() {
    let dir = scratch_dir("preload-trim");
    let Some(exe) = compile_c(&dir, "trim", "trim.c", &[]) else {
        return;
    };
    // Under glibc: the program's own checks hold (it is not a spanprof test there).
    let plain = Command::new(&exe).output().unwrap();
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(plain.status.success() && text.ends_with("ok\n"), "{text}");
    // Under spanprof the freed blocks stay in its heap until malloc_trim, which
    // releases them (returns 1); every mallopt returns 1.
    let pre = Command::new(&exe)
        .env("LD_PRELOAD", library())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&pre.stdout);
    assert!(
        pre.status.success() && text.ends_with("ok\n") && text.contains("malloc_trim 1"),
        "{text}{}",
        String::from_utf8_lossy(&pre.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `cmd` (with the library preloaded, writing `profile`) until it has created
/// `marker`, sends it `sig`, and returns how it ended. Polls with a minute's deadline:
/// a loaded machine is slow, never wrong.
fn signalled(
    mut cmd: Command,
    marker: &Path,
    profile: &Path,
    sig: i32,
) -> std::process::ExitStatus {
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};
    // SAFETY: signal() is async-signal-safe and touches no memory of the parent's.
    // The signal starts at its default disposition whatever the test inherited (a
    // shell's background job has SIGINT ignored, and an ignored signal stays so).
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(sig, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = cmd
        .env("LD_PRELOAD", library())
        .env("SPANPROF_OUT", profile)
        .env("SPANPROF_RATE", "4096")
        .env("SPANPROF_QUIET", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !marker.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{cmd:?} ended before it was ready: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{cmd:?} not ready after a minute"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill has no memory effects; pid is our child, not yet waited for.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    child.wait().unwrap()
}

#[test]
fn signals_write_the_profile_of_a_preloaded_program() {
    use std::os::unix::process::ExitStatusExt;
    let dir = scratch_dir("preload-signals");
    let Some(exe) = compile_c(&dir, "wait", "wait.c", &[]) else {
        return;
    };
    // The default disposition: the profile is written, then the program dies by
    // the signal (its parent sees that, as without spanprof).
    for (sig, name) in [
        (libc::SIGTERM, "term"),
        (libc::SIGINT, "int"),
        (libc::SIGHUP, "hup"),
    ] {
        let marker = dir.join(format!("ready-{name}"));
        let profile = dir.join(format!("{name}.json"));
        let mut cmd = Command::new(&exe);
        cmd.arg(&marker);
        let status = signalled(cmd, &marker, &profile, sig);
        assert_eq!(status.signal(), Some(sig), "{name}: {status}");
        report_names(&profile, &[&["Top sampled stacks"]]);
        stacks_name(&profile, &[&["hold_blocks"]]);
    }
    // A program with handlers of its own keeps them and ends through exit(), which
    // writes the profile.
    let marker = dir.join("ready-handler");
    let profile = dir.join("handler.json");
    let mut cmd = Command::new(&exe);
    cmd.arg(&marker).arg("handler");
    let status = signalled(cmd, &marker, &profile, libc::SIGTERM);
    assert_eq!(status.code(), Some(3), "{status}");
    stacks_name(&profile, &[&["hold_blocks"]]);
    // Python: SIGINT is its KeyboardInterrupt, after which it kills itself with
    // SIGINT; SIGTERM it leaves to the default. Both write the profile.
    let python = Path::new("/usr/bin/python3");
    if python.exists() {
        for (sig, name) in [(libc::SIGINT, "py-int"), (libc::SIGTERM, "py-term")] {
            let marker = dir.join(format!("ready-{name}"));
            let profile = dir.join(format!("{name}.json"));
            let mut cmd = Command::new(python);
            cmd.arg("-c").arg(format!(
                "import time\nx = [str(i) * 3 for i in range(200000)]\nopen({:?}, 'w').close()\ntime.sleep(60)",
                marker.to_str().unwrap()
            ));
            let status = signalled(cmd, &marker, &profile, sig);
            assert_eq!(status.signal(), Some(sig), "{name}: {status}");
            report_names(&profile, &[&["Top sampled stacks"]]);
            stacks_name(&profile, &[&["_PyEval"]]);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
