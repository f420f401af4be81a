//! Errors as one line (`spanprof: <file>: <problem>`) and outputs written atomically:
//! a temporary file in the target's folder renamed over the target, so a reader never
//! sees half a file and a failed write leaves the previous file untouched.

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

/// Writes `bytes` to `path` atomically, or to stdout when `path` is `-`.
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
    if path.is_dir() {
        return Err(CliError::new(
            shown,
            "is a directory, cannot write output there",
        ));
    }
    let tmp = temp_path(path);
    let result = fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(CliError::new(shown, format!("cannot write: {e}")));
    }
    Ok(())
}

/// `.NAME.PID.tmp` beside `path`.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
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
