//! Where outputs go, for `-o` and for `SPANPROF_OUT` alike (real child processes): a
//! FIFO and a character device are written in place and stay what they are, a symlink
//! is written through and stays a link (a dangling one creates its target), a regular
//! file is replaced atomically keeping its permissions, and a socket or a directory
//! is refused with one line.

mod common;

use common::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Output;

fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: c is a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Reads `fifo` to its end on a thread (the open waits for a writer).
fn read_fifo(fifo: &Path) -> std::thread::JoinHandle<Vec<u8>> {
    let fifo = fifo.to_path_buf();
    std::thread::spawn(move || std::fs::read(fifo).unwrap())
}

/// The names in `dir`, sorted (no temporary file may be left).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn is_link(p: &Path) -> bool {
    std::fs::symlink_metadata(p)
        .unwrap()
        .file_type()
        .is_symlink()
}

/// `/dev/null`'s identity: still the same character device after a write.
fn dev_null() -> (bool, u64) {
    let m = std::fs::metadata("/dev/null").unwrap();
    (m.file_type().is_char_device(), m.rdev())
}

/// `spanprof folded` of the demo's profile, to stdout: what every output must hold.
fn folded_stdout() -> Vec<u8> {
    spanprof()
        .args(["folded"])
        .arg(demo_profile())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone()
}

/// `spanprof folded DEMO -o OUT` in `dir`.
fn folded_to(dir: &Path, out: &Path) -> Output {
    spanprof()
        .current_dir(dir)
        .args(["folded"])
        .arg(demo_profile())
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn dash_o_writes_into_a_fifo_in_place() {
    let dir = scratch_dir("out-cli-fifo");
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let reader = read_fifo(&fifo);
    let out = folded_to(&dir, &fifo);
    assert!(out.status.success(), "{out:?}");
    // Checked before joining: had it been replaced, the reader would wait forever.
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the FIFO was replaced by {kind:?}");
    assert_eq!(reader.join().unwrap(), folded_stdout());
    assert_eq!(names(&dir), ["fifo"]);
}

#[test]
fn dash_o_dev_null_stays_a_character_device() {
    let before = dev_null();
    assert!(before.0);
    let dir = scratch_dir("out-cli-null");
    let out = folded_to(&dir, Path::new("/dev/null"));
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    assert_eq!(dev_null(), before);
    // pprof's binary output as well.
    spanprof()
        .args(["pprof"])
        .arg(demo_profile())
        .args(["-o", "/dev/null"])
        .assert()
        .success();
    assert_eq!(dev_null(), before);
}

#[test]
fn dash_o_writes_through_symlinks_and_keeps_them() {
    let dir = scratch_dir("out-cli-link");
    let expected = folded_stdout();
    // A link to a regular file: the file is replaced, with its permissions; the link
    // stays a link. A relative link in a chain is taken from the link's folder.
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/real.txt"), "previous").unwrap();
    std::fs::set_permissions(
        dir.join("sub/real.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    symlink("sub/real.txt", dir.join("link")).unwrap();
    symlink("link", dir.join("chain")).unwrap();
    let out = folded_to(&dir, Path::new("chain"));
    assert!(out.status.success(), "{out:?}");
    assert!(is_link(&dir.join("chain")) && is_link(&dir.join("link")));
    assert_eq!(std::fs::read(dir.join("sub/real.txt")).unwrap(), expected);
    let mode = std::fs::metadata(dir.join("sub/real.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    // A dangling link: its target is created.
    symlink("sub/new.txt", dir.join("dangling")).unwrap();
    let out = folded_to(&dir, Path::new("dangling"));
    assert!(out.status.success(), "{out:?}");
    assert!(is_link(&dir.join("dangling")));
    assert_eq!(std::fs::read(dir.join("sub/new.txt")).unwrap(), expected);
    // A link to /dev/null writes to the device; the link stays.
    symlink("/dev/null", dir.join("null")).unwrap();
    let before = dev_null();
    assert!(folded_to(&dir, Path::new("null")).status.success());
    assert!(is_link(&dir.join("null")));
    assert_eq!(dev_null(), before);
    assert_eq!(names(&dir), ["chain", "dangling", "link", "null", "sub"]);
    assert_eq!(names(&dir.join("sub")), ["new.txt", "real.txt"]);
}

#[test]
fn dash_o_refuses_sockets_directories_and_link_loops_in_one_line() {
    let dir = scratch_dir("out-cli-refused");
    let _socket = std::os::unix::net::UnixListener::bind(dir.join("sock")).unwrap();
    std::fs::create_dir(dir.join("folder")).unwrap();
    symlink("loop2", dir.join("loop1")).unwrap();
    symlink("loop1", dir.join("loop2")).unwrap();
    symlink("no/such/dir/x", dir.join("nowhere")).unwrap();
    for (out, problem) in [
        (
            "sock",
            "is a socket; outputs go to regular files (or new paths), character devices and FIFOs",
        ),
        ("folder", "is a directory, cannot write output there"),
        ("loop1", "cannot write: Too many levels of symbolic links"),
        ("nowhere", "cannot write: No such file or directory"),
    ] {
        let o = folded_to(&dir, Path::new(out));
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!("spanprof: {out}: {problem}")),
            "{err}"
        );
    }
    let kind = std::fs::symlink_metadata(dir.join("sock"))
        .unwrap()
        .file_type();
    assert!(kind.is_socket());
    assert_eq!(names(&dir), ["folder", "loop1", "loop2", "nowhere", "sock"]);
    assert!(names(&dir.join("folder")).is_empty());
}

/// Runs `sample_program` in `dir` with `SPANPROF_OUT=out`.
fn program_writing_to(dir: &Path, out: &Path) -> Output {
    std::process::Command::new(example("sample_program"))
        .current_dir(dir)
        .env("SPANPROF_OUT", out)
        .env_remove("SPANPROF_RATE")
        .env_remove("SPANPROF_QUIET")
        .env_remove("SPANPROF_INTERVAL")
        .env_remove("SPANPROF_SIGNAL")
        .output()
        .unwrap()
}

/// Asserts `bytes` are a profile of `sample_program`.
fn is_profile(bytes: &[u8]) {
    let p: spanprof::Profile = serde_json::from_slice(bytes).unwrap();
    assert!(p.program.ends_with("sample_program"), "{}", p.program);
}

#[test]
fn spanprof_out_writes_into_a_fifo_in_place() {
    let dir = scratch_dir("out-env-fifo");
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let reader = read_fifo(&fifo);
    let out = program_writing_to(&dir, &fifo);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spanprof: wrote "), "{err}");
    assert!(!err.contains("see `spanprof report"), "{err}");
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the FIFO was replaced by {kind:?}");
    is_profile(&reader.join().unwrap());
    assert_eq!(names(&dir), ["fifo"]);
}

#[test]
fn spanprof_out_dev_null_stays_a_character_device() {
    let before = dev_null();
    assert!(before.0);
    let dir = scratch_dir("out-env-null");
    let out = program_writing_to(&dir, Path::new("/dev/null"));
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spanprof: wrote /dev/null: "), "{err}");
    assert!(!err.contains("cannot write"), "{err}");
    // No file is left to show: the line suggests no `spanprof report /dev/null`.
    assert!(err.trim_end().ends_with(" with allocations"), "{err}");
    assert_eq!(dev_null(), before);
}

#[test]
fn spanprof_out_writes_through_symlinks_and_keeps_them() {
    let dir = scratch_dir("out-env-link");
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/real.json"), "previous").unwrap();
    symlink("sub/real.json", dir.join("link")).unwrap();
    let out = program_writing_to(&dir, Path::new("link"));
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("see `spanprof report link`"), "{err}");
    assert!(is_link(&dir.join("link")));
    is_profile(&std::fs::read(dir.join("sub/real.json")).unwrap());
    // A dangling link: its target is created, the link kept.
    symlink("sub/new.json", dir.join("dangling")).unwrap();
    let out = program_writing_to(&dir, &dir.join("dangling"));
    assert!(out.status.success(), "{out:?}");
    assert!(is_link(&dir.join("dangling")));
    is_profile(&std::fs::read(dir.join("sub/new.json")).unwrap());
    assert_eq!(names(&dir), ["dangling", "link", "sub"]);
    assert_eq!(names(&dir.join("sub")), ["new.json", "real.json"]);
}

#[test]
fn spanprof_out_refuses_a_socket_in_one_line_and_keeps_the_exit_status() {
    let dir = scratch_dir("out-env-socket");
    let sock: PathBuf = dir.join("sock");
    let _socket = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let out = program_writing_to(&dir, &sock);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        format!(
            "spanprof: cannot write profile {}: is a socket; profiles go to regular files (or new paths), character devices and FIFOs\n",
            sock.display()
        )
    );
    assert!(
        std::fs::symlink_metadata(&sock)
            .unwrap()
            .file_type()
            .is_socket()
    );
    assert_eq!(names(&dir), ["sock"]);
}

#[test]
fn dash_o_through_a_link_to_the_input_is_refused() {
    let dir = scratch_dir("out-cli-input-link");
    std::fs::copy(demo_profile(), dir.join("p.json")).unwrap();
    symlink("p.json", dir.join("out.txt")).unwrap();
    let o = spanprof()
        .current_dir(&dir)
        .args(["folded", "p.json", "-o", "out.txt"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert_eq!(
        String::from_utf8(o.stderr).unwrap(),
        "spanprof: out.txt: is the input profile; choose another output with -o\n"
    );
    assert_eq!(
        std::fs::read(dir.join("p.json")).unwrap(),
        std::fs::read(demo_profile()).unwrap()
    );
}

/// `spanprof run -o OUT` of the sample program, in `dir`.
fn run_to(dir: &Path, out: &Path) -> Output {
    spanprof()
        .current_dir(dir)
        .args(["run", "--rate", "1", "--no-svg", "--no-html", "-o"])
        .arg(out)
        .arg("--")
        .arg(example("sample_program"))
        .output()
        .unwrap()
}

#[test]
fn run_dash_o_follows_the_same_rule() {
    let dir = scratch_dir("run-out-paths");
    // A FIFO gets the profile in place and stays a FIFO; the report comes from the
    // program's own copy, not from reading the FIFO back.
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let reader = read_fifo(&fifo);
    let out = run_to(&dir, &fifo);
    assert!(out.status.success(), "{out:?}");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    is_profile(&reader.join().unwrap());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Totals"));
    // /dev/null stays the same character device.
    let before = dev_null();
    let out = run_to(&dir, Path::new("/dev/null"));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(dev_null(), before);
    // A symlink stays a link; its target gets the profile.
    let target = dir.join("target.json");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.join("link.json");
    symlink(&target, &link).unwrap();
    let out = run_to(&dir, &link);
    assert!(out.status.success(), "{out:?}");
    assert!(is_link(&link));
    is_profile(&std::fs::read(&target).unwrap());
    // Nothing else is left in the folder.
    assert_eq!(names(&dir), ["fifo", "link.json", "target.json"]);
    // `-` is refused: stdout carries the program's output and the report.
    for flag in ["-o", "--svg", "--html"] {
        let out = spanprof()
            .current_dir(&dir)
            .args(["run", flag, "-", "--"])
            .arg(example("sample_program"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("give a file"));
    }
}

#[test]
fn the_profile_does_not_depend_on_its_path() {
    // The exit profile is written after the thread's cache is gone: nothing the
    // writer allocates for the path may reach the program's counters.
    let dir = scratch_dir("path-independent");
    let long = dir.join(format!("{}.json", "x".repeat(200)));
    let totals = |out: &Path| {
        let o = program_writing_to(&dir, out);
        assert!(o.status.success(), "{o:?}");
        let p: spanprof::Profile =
            serde_json::from_slice(&std::fs::read(dir.join(out)).unwrap()).unwrap();
        let objects: u64 = p.classes.iter().map(|c| c.allocs).sum();
        let bytes: u64 = p.classes.iter().map(|c| c.bytes_allocated).sum();
        let live: u64 = p.classes.iter().map(|c| c.live_bytes).sum();
        (objects, bytes, live)
    };
    let short = totals(Path::new("p.json"));
    assert_eq!(totals(&long), short);
    assert_eq!(totals(&dir.join("p.json")), short);
}
