//! `spanprof escape` on awkward trees, with the real binary: files it cannot parse or
//! that nest too deeply are one warning line each and the rest is reported; symbolic
//! link cycles end and each file is reported once; the exit status rule.

mod common;

use common::{scratch_dir, spanprof};
use std::path::Path;
use std::time::Duration;

const GOOD: &str = "fn make() -> Box<u8> {\n    Box::new(1u8)\n}\n";
/// 2015-edition code: a trait method parameter without a name.
const OLD: &str = "trait Rng {\n    fn fill(&mut self, &mut [u8]);\n}\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Runs `spanprof escape ARGS` in `dir`: (exit code, stdout, stderr).
fn escape(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = spanprof()
        .current_dir(dir)
        .arg("escape")
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_file_that_does_not_parse_is_one_warning_and_the_run_succeeds() {
    let dir = scratch_dir("escape-parse-warning");
    write(&dir.join("src/good.rs"), GOOD);
    write(&dir.join("src/old.rs"), OLD);
    let (code, out, err) = escape(&dir, &["src"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "src/good.rs:2:5: Box::new(1u8) escapes to heap: returned\n"
    );
    assert_eq!(
        err, "spanprof: warning: src/old.rs:2:33: cannot parse: expected `:`\n",
        "one line, the path once"
    );
}

#[test]
fn no_file_analysed_is_exit_1() {
    let dir = scratch_dir("escape-none-analysed");
    write(&dir.join("src/old.rs"), OLD);
    let (code, out, err) = escape(&dir, &["src/old.rs"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, "");
    assert_eq!(
        err,
        "spanprof: warning: src/old.rs:2:33: cannot parse: expected `:`\n\
         spanprof: src/old.rs: no file could be analysed (1 skipped)\n"
    );
}

#[test]
fn check_still_fails_on_a_violation_beside_a_skipped_file() {
    let dir = scratch_dir("escape-check-and-warning");
    write(
        &dir.join("src/hot.rs"),
        "#[track_alloc(no_escape)]\nfn hot(n: usize) -> Vec<u8> { Vec::with_capacity(n) }\n",
    );
    write(&dir.join("src/old.rs"), OLD);
    let (code, _, err) = escape(&dir, &["--check", "src"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("spanprof: warning: src/old.rs:2:33: cannot parse"),
        "{err}"
    );
    assert!(
        err.contains("(`hot` is #[track_alloc(no_escape)])"),
        "{err}"
    );
    let (code, _, err) = escape(&dir, &["src"]);
    assert_eq!(
        code, 0,
        "without --check a violation is only reported: {err}"
    );
}

#[test]
fn deep_nesting_is_a_warning_and_the_other_files_still_report() {
    let dir = scratch_dir("escape-deep");
    write(&dir.join("src/good.rs"), GOOD);
    let deep = format!(
        "fn f() -> u32 {{\n{}1{}\n}}\n",
        "(".repeat(200_000),
        ")".repeat(200_000)
    );
    write(&dir.join("src/parens.rs"), &deep);
    let blocks = format!(
        "fn f() {{\n{}{}\n}}\n",
        "{".repeat(100_000),
        "}".repeat(100_000)
    );
    write(&dir.join("src/blocks.rs"), &blocks);
    let (code, out, err) = escape(&dir, &["src"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "src/good.rs:2:5: Box::new(1u8) escapes to heap: returned\n"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("spanprof: warning: src/blocks.rs:2:"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("spanprof: warning: src/parens.rs:2:"),
        "{err}"
    );
    assert!(
        lines.iter().all(|l| l.contains("nested too deeply")),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn symlink_cycles_end_and_each_file_is_reported_once() {
    let dir = scratch_dir("escape-symlinks");
    write(&dir.join("src/a/x.rs"), GOOD);
    write(&dir.join("src/b/y.rs"), GOOD);
    std::os::unix::fs::symlink(".", dir.join("src/self")).unwrap();
    std::os::unix::fs::symlink("../b", dir.join("src/a/to_b")).unwrap();
    std::os::unix::fs::symlink("../a", dir.join("src/b/to_a")).unwrap();
    let (code, out, err) = escape(&dir, &["src", "src/a"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "");
    assert_eq!(
        out,
        "src/a/x.rs:2:5: Box::new(1u8) escapes to heap: returned\n\
         src/b/y.rs:2:5: Box::new(1u8) escapes to heap: returned\n"
    );
}
