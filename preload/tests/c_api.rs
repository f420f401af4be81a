//! The C semantics of libspanprof.so's API: `programs/capi.c` checks errno, the
//! alignment of every function, usable sizes, `realloc(p, 0)`, overflow and more, and
//! prints "ok"; this test compiles it with `cc` and runs it with the library
//! preloaded. Skipped, with a note, without a C compiler.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/library.rs"]
mod support;

use support::library;

#[test]
fn the_c_api_keeps_c_semantics() {
    let have_cc = Command::new("cc").arg("--version").output().is_ok();
    if !have_cc {
        eprintln!("skipped: no C compiler (cc)");
        return;
    }
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("capi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("capi");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/capi.c");
    let cc = Command::new("cc")
        .args(["-O1", "-o"])
        .arg(&exe)
        .arg(&source)
        .status()
        .unwrap();
    assert!(cc.success(), "cc {}", source.display());
    let out = Command::new(&exe)
        .env("LD_PRELOAD", library())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
    // Without the library the program knows it is not preloaded.
    let plain = Command::new(&exe).output().unwrap();
    assert!(!plain.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
