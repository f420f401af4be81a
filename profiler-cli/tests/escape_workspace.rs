//! `spanprof escape` with no PATH: the package or workspace of the nearest Cargo.toml,
//! read without cargo — a package, a virtual workspace with globbed and excluded
//! members, a package that is also a workspace root, this repository itself, and
//! manifests that do not parse or name members that are not there.

mod common;

use common::*;
use std::path::Path;

/// One function whose `Box` escapes (`returned`) and is reported at `file:3:5`.
const ESCAPING: &str =
    "pub struct S { a: u64 }\npub fn make() -> Box<S> {\n    Box::new(S { a: 1 })\n}\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn package(dir: &Path, name: &str) {
    write(
        &dir.join("Cargo.toml"),
        &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n"),
    );
    write(&dir.join("src/lib.rs"), ESCAPING);
}

/// `spanprof escape` in `dir`: the findings' file names, in order, once each.
fn files_reported(dir: &Path) -> Vec<String> {
    let out = spanprof()
        .current_dir(dir)
        .arg("escape")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let mut files: Vec<String> = Vec::new();
    for line in String::from_utf8(out).unwrap().lines() {
        // Continuation lines of a long expression start with spaces, not a file.
        if let Some((file, _)) = line.split_once(':')
            && file.ends_with(".rs")
            && !file.starts_with(' ')
            && files.last().map(String::as_str) != Some(file)
        {
            files.push(file.to_string());
        }
    }
    files
}

/// `spanprof escape` in `dir` fails with `code` and one stderr line.
fn fails(dir: &Path, code: i32) -> String {
    let out = spanprof()
        .current_dir(dir)
        .arg("escape")
        .assert()
        .code(code)
        .get_output()
        .clone();
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    err
}

#[test]
fn a_package_reads_src_and_examples_from_anywhere_inside() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    package(dir, "one");
    write(&dir.join("src/bin/tool.rs"), ESCAPING);
    write(&dir.join("examples/demo.rs"), ESCAPING);
    write(&dir.join("tests/it.rs"), ESCAPING);
    write(&dir.join("benches/b.rs"), ESCAPING);
    assert_eq!(
        files_reported(dir),
        ["src/bin/tool.rs", "src/lib.rs", "examples/demo.rs"]
    );
    // From a folder below, cargo's way: the nearest Cargo.toml above, paths from here.
    assert_eq!(
        files_reported(&dir.join("src/bin")),
        [
            "../../src/bin/tool.rs",
            "../../src/lib.rs",
            "../../examples/demo.rs"
        ]
    );
}

#[test]
fn a_virtual_workspace_reads_its_members() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write(
        &dir.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"crates/*\", \"tool\"]\nexclude = [\"crates/skip\"]\n",
    );
    package(&dir.join("crates/a"), "a");
    package(&dir.join("crates/b"), "b");
    write(&dir.join("crates/b/examples/ex.rs"), ESCAPING);
    package(&dir.join("crates/skip"), "skip");
    package(&dir.join("tool"), "tool");
    // A file matched by `crates/*` is not a member, and a folder no member names is not read.
    write(&dir.join("crates/README.md"), "crates\n");
    package(&dir.join("other"), "other");
    // A virtual manifest has no sources of its own.
    write(&dir.join("src/stray.rs"), ESCAPING);
    assert_eq!(
        files_reported(dir),
        [
            "crates/a/src/lib.rs",
            "crates/b/src/lib.rs",
            "crates/b/examples/ex.rs",
            "tool/src/lib.rs"
        ]
    );
    assert_eq!(
        files_reported(&dir.join("crates")),
        [
            "../crates/a/src/lib.rs",
            "../crates/b/src/lib.rs",
            "../crates/b/examples/ex.rs",
            "../tool/src/lib.rs"
        ]
    );
    // Inside a member its own manifest is the nearest: that package alone.
    assert_eq!(files_reported(&dir.join("tool")), ["src/lib.rs"]);
}

#[test]
fn a_member_named_outright_is_kept_under_an_excluded_folder() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write(
        &dir.join("Cargo.toml"),
        "[workspace]\nmembers = [\"vendor/*\", \"./vendor/kept/\"]\nexclude = [\"vendor\"]\n",
    );
    package(&dir.join("vendor/kept"), "kept");
    package(&dir.join("vendor/dropped"), "dropped");
    assert_eq!(files_reported(dir), ["vendor/kept/src/lib.rs"]);
}

#[test]
fn a_root_package_reads_its_own_sources_and_its_members() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    package(dir, "root");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    // `.` is the root package again: read once.
    write(
        &dir.join("Cargo.toml"),
        &format!("{manifest}\n[workspace]\nmembers = [\".\", \"sub\"]\n"),
    );
    package(&dir.join("sub"), "sub");
    assert_eq!(files_reported(dir), ["src/lib.rs", "sub/src/lib.rs"]);
}

#[test]
fn bad_manifests_are_one_line_errors() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    package(dir, "broken");
    write(
        &dir.join("Cargo.toml"),
        "[package]\nname = \"broken\nversion = \"0.1.0\"\n",
    );
    let err = fails(dir, 1);
    assert!(
        err.starts_with("spanprof: Cargo.toml: line 2, column "),
        "{err}"
    );
    let err = fails(&dir.join("src"), 1);
    assert!(
        err.starts_with("spanprof: ../Cargo.toml: line 2, column "),
        "{err}"
    );

    write(
        &dir.join("Cargo.toml"),
        "[workspace]\nmembers = \"crates/*\"\n",
    );
    assert_eq!(
        fails(dir, 1),
        "spanprof: Cargo.toml: `workspace.members` is not an array of strings\n"
    );
    write(
        &dir.join("Cargo.toml"),
        "[workspace]\nmembers = [\"gone\"]\n",
    );
    assert_eq!(
        fails(dir, 1),
        "spanprof: Cargo.toml: workspace member `gone`: no such folder\n"
    );
    write(
        &dir.join("Cargo.toml"),
        "[workspace]\nmembers = [\"src/*\"]\n",
    );
    assert_eq!(
        fails(dir, 1),
        "spanprof: Cargo.toml: workspace member `src/*`: no such folder\n"
    );
    std::fs::create_dir(dir.join("src/notes")).unwrap();
    assert_eq!(
        fails(dir, 1),
        "spanprof: src/notes/Cargo.toml: no such file (workspace member `src/*` of Cargo.toml)\n"
    );
    write(&dir.join("Cargo.toml"), "[dependencies]\n");
    assert!(fails(dir, 1).contains("neither a [package] nor a [workspace]"));
}

#[test]
fn no_manifest_and_no_src_is_the_usage_error() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(
        fails(d.path(), 2),
        "spanprof: src: no PATH given and no src/ folder here (run in a cargo package or name the files)\n"
    );
    // A package with neither src/ nor examples/ has nothing to read.
    write(
        &d.path().join("Cargo.toml"),
        "[package]\nname = \"empty\"\n",
    );
    assert!(fails(d.path(), 2).contains("no src/ or examples/ folder"));
}

#[test]
fn this_repository_reads_every_member() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let files = files_reported(root);
    for prefix in [
        "allocator/src/",
        "escape/src/",
        "profiler-cli/src/",
        "examples/examples/",
    ] {
        assert!(
            files.iter().any(|f| f.starts_with(prefix)),
            "no findings under {prefix}: {files:?}"
        );
    }
    assert!(
        !files.iter().any(|f| f.contains("/tests/")),
        "tests/ read: {files:?}"
    );
}
