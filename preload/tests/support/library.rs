//! Where the tests that run programs under `libspanprof.so` find it. One file, included
//! with `#[path]` by `preload/tests/*.rs` and by `profiler-cli/tests/preload.rs`.
//!
//! `cargo test` does not build a `cdylib` that no test links, so the library is:
//!
//! 1. `target/<profile>/libspanprof.so`, as `cargo build` leaves it (`.ci/run` builds
//!    it with the tests: `cargo build --workspace --lib --tests`), when no source it
//!    is built from (the `.rs` files of the workspace's library crates, their
//!    manifests, `Cargo.lock`) is newer than it;
//! 2. else built here, by `cargo build -p spanprof-preload` into its own target folder
//!    `target/<profile>/preload-build/` (the one `cargo test` holds is locked while
//!    the tests run), with a note on stderr. Both test files share that folder, so
//!    a plain `cargo test --workspace` builds it once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

/// The library for the profile these tests were built with (`debug` or `release`).
pub fn library() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(find_or_build)
}

fn find_or_build() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // Tests run from <target>/<profile>/deps.
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from <target>/<profile>/deps");
    let built = profile_dir.join("libspanprof.so");
    let why = match modified(&built) {
        Some(t) if newest_source().is_none_or(|s| s <= t) => return built,
        Some(_) => "is older than its sources",
        None => "is missing",
    };
    // Straight to stderr: the test harness captures `eprintln!` of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "note: {} {why}; building libspanprof.so for the tests into {}/preload-build (`cargo build --workspace --lib --tests` first saves this)",
        built.display(),
        profile_dir.display()
    );
    let target = profile_dir.join("preload-build");
    let release = profile_dir.ends_with("release");
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["build", "-p", "spanprof-preload", "--target-dir"])
        .arg(&target)
        .current_dir(workspace_root());
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("cargo runs");
    assert!(status.success(), "building libspanprof.so: {status}");
    target
        .join(if release { "release" } else { "debug" })
        .join("libspanprof.so")
}

/// The workspace root: the parent of the package folder of the including test.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("a workspace member")
        .to_path_buf()
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The newest modification time among what the library is built from.
fn newest_source() -> Option<SystemTime> {
    let root = workspace_root();
    let mut newest = modified(&root.join("Cargo.lock"));
    let mut note = |t: Option<SystemTime>| newest = newest.max(t);
    note(modified(&root.join("Cargo.toml")));
    for krate in ["allocator", "macros", "escape", "preload"] {
        note(modified(&root.join(krate).join("Cargo.toml")));
        let mut dirs = vec![root.join(krate).join("src")];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let path = e.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|x| x == "rs") {
                    note(modified(&path));
                }
            }
        }
    }
    newest
}
