//! How `spanprof run` profiles a program that was not built with spanprof: it runs it
//! with `libspanprof.so` (the `spanprof-preload` crate) in `LD_PRELOAD`, so the
//! program's C allocator is spanprof's heap and it writes the same profile.
//!
//! A program built with spanprof carries an ELF note, `.note.spanprof` (the allocator
//! crate's `SPANPROF_NOTE`), in an allocated section that `strip` keeps; its
//! descriptor is also a byte string looked for when a binary has no section headers.
//! The library is looked for next to the `spanprof` executable, then in
//! `../lib/spanprof/` and `../lib/` beside it (an install prefix), or where
//! `SPANPROF_PRELOAD_LIB` says. `run.rs` asks [`plan`] what to do.

use crate::output::{CliError, Result};
use object::Object;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The library's file name.
pub const LIB_NAME: &str = "libspanprof.so";
/// The descriptor of the note, searched for as bytes when sections are gone.
const MARKER: &[u8] = b"SPANPROF-ALLOCATOR-NOTE\0";

/// Whether to preload: `--preload` forces it, `--no-preload` forbids it, else it
/// is used for programs that do not carry spanprof's note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Auto,
    Force,
    Never,
}

/// The path of `program` as the OS would run it: searched in `PATH` when it has no
/// slash.
pub fn resolve(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 || program.is_absolute() {
        return Some(program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Whether the file at `path` was built with spanprof: its `.note.spanprof` section,
/// or (no section headers) the note's bytes anywhere in it. False for what cannot be
/// read or is not ELF (a script: its interpreter is then preloaded).
pub fn built_with_spanprof(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    match object::File::parse(&*bytes) {
        Ok(file) => {
            if file.section_by_name(".note.spanprof").is_some() {
                return true;
            }
            file.sections().next().is_none() && contains(&bytes, MARKER)
        }
        Err(_) => false,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Where `libspanprof.so` is: `SPANPROF_PRELOAD_LIB`, else beside the running
/// `spanprof`, else in `../lib/spanprof/` or `../lib/` from it.
pub fn find_library() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SPANPROF_PRELOAD_LIB") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [
        dir.join(LIB_NAME),
        dir.join("../lib/spanprof").join(LIB_NAME),
        dir.join("../lib").join(LIB_NAME),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// The `LD_PRELOAD` value to run `program` with, or `None` to run it as it is.
pub fn plan(program: &Path, mode: Mode) -> Result<Option<OsString>> {
    let wanted = match mode {
        Mode::Never => false,
        Mode::Force => true,
        // A program that is not there is run as it is, for its "not found" error.
        Mode::Auto => match resolve(program) {
            Some(p) if p.exists() => !built_with_spanprof(&p),
            _ => false,
        },
    };
    if !wanted {
        return Ok(None);
    }
    let Some(lib) = find_library() else {
        return Err(CliError::new(
            program.display(),
            format!(
                "was not built with spanprof, and {LIB_NAME} (to profile it by LD_PRELOAD) was not found next to spanprof; build it with `cargo build --release -p spanprof-preload` and copy target/release/{LIB_NAME} next to spanprof (or set SPANPROF_PRELOAD_LIB), or pass --no-preload"
            ),
        ));
    };
    let lib = std::path::absolute(&lib).unwrap_or(lib);
    let mut value = lib.into_os_string();
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        value.push(":");
        value.push(old);
    }
    Ok(Some(value))
}
