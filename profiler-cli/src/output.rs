//! Errors as one line (`spanprof: <file>: <problem>`) and outputs written where the
//! path says, the way its kind of file can take them.
//!
//! The rule for `-o PATH` (the runtime's `SPANPROF_OUT` follows the same one):
//!
//! - `-` is stdout.
//! - A symlink is followed, through every link of a chain, and the output goes to
//!   what it points at; the link itself stays a link. A dangling link creates its
//!   target, as a shell redirection or `cp` does (the target's folder must exist).
//! - A regular file, or a path that does not exist yet, is written atomically: a
//!   temporary `.NAME.PID.tmp` in the target's own folder (so the rename stays on one
//!   filesystem) is written, flushed to disk and renamed over the target, so a reader
//!   never sees half a file and a failed write leaves the previous file untouched.
//!   A file that is replaced keeps its permission bits.
//! - A character device (`/dev/null`, a terminal) or a FIFO is opened for writing and
//!   written in place, never replaced: a FIFO with no reader waits for one, as a shell
//!   redirection does, and a reader that closes early is not an error (as with stdout).
//! - A directory, a socket, a block device or any other kind is refused with a
//!   one-line error, and nothing is written.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A failure to report: the file (or argument) it concerns, what is wrong, and the
/// exit code (1 for runtime errors, 2 for usage errors).
#[derive(Debug)]
pub struct CliError {
    pub file: String,
    pub problem: String,
    pub code: u8,
}

impl CliError {
    /// A runtime error (exit 1) about `file`.
    pub fn new(file: impl fmt::Display, problem: impl fmt::Display) -> Self {
        CliError {
            file: file.to_string(),
            problem: problem.to_string(),
            code: 1,
        }
    }

    /// A usage error (exit 2): conflicting or invalid options.
    pub fn usage(file: impl fmt::Display, problem: impl fmt::Display) -> Self {
        CliError {
            code: 2,
            ..CliError::new(file, problem)
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the underlying error printed.
        let problem = self.problem.replace(['\n', '\r'], " ");
        write!(f, "spanprof: {}: {}", self.file, problem)
    }
}

/// The result of every subcommand.
pub type Result<T> = std::result::Result<T, CliError>;

/// Writes `bytes` to `path` by the rule of the module doc: stdout for `-`, atomically
/// over regular files and new paths (through symlinks), in place to character devices
/// and FIFOs; directories and other kinds are refused. On error nothing is left
/// behind and the previous file, if any, is intact.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.as_os_str() == "-" {
        let mut out = io::stdout().lock();
        return match out.write_all(bytes).and_then(|()| out.flush()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(CliError::new("<stdout>", format!("cannot write: {e}"))),
        };
    }
    let shown = path.display();
    let written = match target(path).map_err(|problem| CliError::new(&shown, problem))? {
        Target::Replace { file, mode } => replace(&file, bytes, mode),
        Target::InPlace => in_place(path, bytes),
    };
    written.map_err(|e| CliError::new(shown, format!("cannot write: {e}")))
}

/// How an output reaches the file `path` names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// Write a temporary file beside `file` and rename it over `file`: the regular
    /// file (or new path) at the end of `path`'s symlinks. `mode`: the permission bits
    /// of the file replaced, kept.
    Replace { file: PathBuf, mode: Option<u32> },
    /// Open `path` for writing and write (a character device or a FIFO).
    InPlace,
}

/// Decides how to write to `path` (see the module doc), or why not (the problem, for
/// a one-line error).
fn target(path: &Path) -> std::result::Result<Target, String> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    // `metadata` follows every link of a chain.
    match fs::metadata(path) {
        Ok(m) => {
            let t = m.file_type();
            if t.is_file() {
                let is_link = fs::symlink_metadata(path).is_ok_and(|l| l.file_type().is_symlink());
                let file = if is_link {
                    fs::canonicalize(path).map_err(|e| format!("cannot write: {e}"))?
                } else {
                    path.to_path_buf()
                };
                let mode = Some(m.permissions().mode() & 0o7777);
                Ok(Target::Replace { file, mode })
            } else if t.is_char_device() || t.is_fifo() {
                Ok(Target::InPlace)
            } else if t.is_dir() {
                Err("is a directory, cannot write output there".into())
            } else {
                let kind = if t.is_socket() {
                    "a socket"
                } else if t.is_block_device() {
                    "a block device"
                } else {
                    "neither a file, a character device nor a FIFO"
                };
                Err(format!(
                    "is {kind}; outputs go to regular files (or new paths), character devices and FIFOs"
                ))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Target::Replace {
            file: dangling_end(path).map_err(|e| format!("cannot write: {e}"))?,
            mode: None,
        }),
        Err(e) => Err(format!("cannot write: {e}")),
    }
}

/// The path at the end of `path`'s chain of symlinks, when that end does not exist
/// (a dangling link, or no link at all: `path` itself). Relative link targets are
/// taken from the link's folder, as the kernel does.
fn dangling_end(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    // Linux's own limit on links followed in one lookup.
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// Writes `bytes` to a temporary file beside `file`, flushes it to disk and renames it
/// over `file`; the temporary file is removed on error.
fn replace(file: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tmp = temp_path(file);
    let create = || {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true) // never through a symlink or into someone else's file
            .mode(0o666)
            .open(&tmp)
    };
    let mut f = match create() {
        // Our own leftover (a killed run with the same pid): it is ours to remove.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(&tmp)?;
            create()?
        }
        other => other?,
    };
    let result = f
        .write_all(bytes)
        .and_then(|()| match mode {
            Some(m) => f.set_permissions(fs::Permissions::from_mode(m)),
            None => Ok(()),
        })
        .and_then(|()| f.sync_all())
        .and_then(|()| fs::rename(&tmp, file));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Opens `path` (a character device or a FIFO) for writing and writes `bytes` to it:
/// no temporary file, no rename, no truncation. A reader that closes early
/// (`EPIPE`) is not an error, as with stdout.
fn in_place(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let written = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOCTTY) // a terminal named here never becomes ours
        .open(path)
        .and_then(|mut f| f.write_all(bytes));
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// `.NAME.PID.tmp` beside `path`, with at most the first 200 bytes of NAME (a file
/// name has at most 255).
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let mut end = name.len().min(200);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.truncate(end);
    let tmp = format!(".{name}.{}.tmp", std::process::id());
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(tmp),
        _ => PathBuf::from(tmp),
    }
}

/// Refuses to write an output over the input profile.
pub fn check_not_input(output: &Path, inputs: &[&Path]) -> Result<()> {
    for input in inputs {
        let same = match (fs::canonicalize(output), fs::canonicalize(input)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            return Err(CliError::usage(
                output.display(),
                "is the input profile; choose another output with -o",
            ));
        }
    }
    Ok(())
}

/// `path` as a reader here would type it: relative to the current folder when it lies
/// inside it (profiles carry absolute paths: the program's, and the build's source
/// files), else unchanged.
pub fn shown_path(path: &str) -> String {
    let Ok(cwd) = std::env::current_dir() else {
        return path.to_string();
    };
    match Path::new(path).strip_prefix(&cwd) {
        Ok(rel) if Path::new(path).is_absolute() && !rel.as_os_str().is_empty() => {
            rel.display().to_string()
        }
        _ => path.to_string(),
    }
}
