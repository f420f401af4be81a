//! `spanprof escape`: the static escape-analysis report of spanprof-escape over
//! source files, in Go's `-gcflags=-m` text format or as JSON.

use crate::output::{CliError, Result};
use clap::ValueEnum;
use spanprof_escape::{FileError, Finding, Kind};
use std::path::{Path, PathBuf};

/// A verdict to keep with `--only`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnlyKind {
    Escapes,
    Leaks,
    MayEscape,
    DoesNotEscape,
    MovedToHeap,
    LeakingParam,
}

impl OnlyKind {
    fn kind(self) -> Kind {
        match self {
            OnlyKind::Escapes => Kind::Escapes,
            OnlyKind::Leaks => Kind::Leaks,
            OnlyKind::MayEscape => Kind::MayEscape,
            OnlyKind::DoesNotEscape => Kind::DoesNotEscape,
            OnlyKind::MovedToHeap => Kind::MovedToHeap,
            OnlyKind::LeakingParam => Kind::LeakingParam,
        }
    }
}

/// The folders of a package that are read when no PATH is given: the code cargo builds
/// into the library and the programs. tests/ and benches/ are left out, as
/// `go build -gcflags=-m` leaves out `_test.go` files.
const SOURCE_DIRS: [&str; 2] = ["src", "examples"];

/// The paths to analyse: as given, or the sources of the cargo package or workspace
/// whose manifest is in the current folder or the nearest one above.
pub fn default_paths(paths: Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    if !paths.is_empty() {
        for p in &paths {
            if !p.exists() {
                return Err(CliError::new(p.display(), "no such file or directory"));
            }
        }
        return Ok(paths);
    }
    let here = std::env::current_dir()
        .map_err(|e| CliError::new(".", format!("cannot read the current folder: {e}")))?;
    let Some(root) = manifest_folder(&here) else {
        // Outside any cargo project a folder of sources is still read as before.
        let src = Path::new("src");
        return if src.is_dir() {
            Ok(vec![src.to_path_buf()])
        } else {
            Err(CliError::usage(
                "src",
                "no PATH given and no src/ folder here (run in a cargo package or name the files)",
            ))
        };
    };
    let manifest = root.join("Cargo.toml");
    let found: Vec<PathBuf> = packages(&root)?
        .iter()
        .flat_map(|p| SOURCE_DIRS.iter().map(move |d| p.join(d)))
        .filter(|d| d.is_dir())
        .collect();
    if found.is_empty() {
        return Err(CliError::usage(
            manifest.display(),
            "no PATH given and no src/ or examples/ folder in this package or its workspace members",
        ));
    }
    Ok(found)
}

/// The folder of the nearest Cargo.toml at or above `here`, as a path relative to the
/// current folder (empty or `..`s), so that the files found print relative to it.
fn manifest_folder(here: &Path) -> Option<PathBuf> {
    let mut up = PathBuf::new();
    for dir in here.ancestors() {
        if dir.join("Cargo.toml").is_file() {
            return Some(up);
        }
        up.push("..");
    }
    None
}

/// The package folders of the manifest in `root`: the package itself, the workspace
/// members, or both. Read without running cargo, which would resolve dependencies.
fn packages(root: &Path) -> Result<Vec<PathBuf>> {
    let manifest = root.join("Cargo.toml");
    let shown = manifest.display().to_string();
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| CliError::new(&shown, format!("cannot read: {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| CliError::new(&shown, toml_problem(&text, &e)))?;
    let mut dirs = Vec::new();
    if table.contains_key("package") {
        dirs.push(root.to_path_buf());
    }
    match table.get("workspace") {
        None if dirs.is_empty() => {
            return Err(CliError::new(
                &shown,
                "neither a [package] nor a [workspace] table (not a cargo manifest)",
            ));
        }
        None => {}
        Some(toml::Value::Table(ws)) => {
            let members = strings(ws, "members", &shown)?;
            let exclude = strings(ws, "exclude", &shown)?;
            for m in members_of(root, &members, &exclude, &shown)? {
                if !dirs.contains(&m) {
                    dirs.push(m);
                }
            }
        }
        Some(_) => return Err(CliError::new(&shown, "`workspace` is not a table")),
    }
    Ok(dirs)
}

/// `workspace.<key>`: absent is empty, anything but an array of strings is an error.
fn strings(ws: &toml::Table, key: &str, shown: &str) -> Result<Vec<String>> {
    let bad = || {
        CliError::new(
            shown,
            format!("`workspace.{key}` is not an array of strings"),
        )
    };
    match ws.get(key) {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// The member folders, as cargo finds them: each entry of `members` is a glob relative
/// to `root`, and the folders it matches are members unless they lie under an
/// `exclude` entry and under no entry of `members` taken literally (so a member named
/// outright is kept).
fn members_of(
    root: &Path,
    members: &[String],
    exclude: &[String],
    shown: &str,
) -> Result<Vec<PathBuf>> {
    let under =
        |dir: &Path, list: &[String]| list.iter().any(|e| dir.starts_with(clean(Path::new(e))));
    let mut dirs = Vec::new();
    for member in members {
        let pattern = clean(&root.join(member));
        let pattern = if pattern.as_os_str().is_empty() {
            ".".to_string()
        } else {
            pattern.to_string_lossy().into_owned()
        };
        let found = glob::glob(&pattern).map_err(|e| {
            CliError::new(
                shown,
                format!("bad pattern `{member}` in `workspace.members`: {e}"),
            )
        })?;
        // Files matched by a glob (a stray README) are not members; cargo skips them too.
        let matched: Vec<PathBuf> = found
            .filter_map(|p| p.ok())
            .filter(|p| p.is_dir())
            .map(|p| clean(&p))
            .collect();
        if matched.is_empty() {
            return Err(CliError::new(
                shown,
                format!("workspace member `{member}`: no such folder"),
            ));
        }
        for dir in matched {
            let inside = dir.strip_prefix(root).unwrap_or(&dir);
            if under(inside, exclude) && !under(inside, members) {
                continue;
            }
            let manifest = dir.join("Cargo.toml");
            if !manifest.is_file() {
                return Err(CliError::new(
                    manifest.display(),
                    format!("no such file (workspace member `{member}` of {shown})"),
                ));
            }
            dirs.push(dir);
        }
    }
    Ok(dirs)
}

/// `p` without `.` components, so `./crates/a/` and `crates/a` compare equal and print
/// alike.
fn clean(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| *c != std::path::Component::CurDir)
        .collect()
}

/// A TOML error on one line: where, then what (the crate's own rendering quotes the
/// source over several lines).
fn toml_problem(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    match e.span().and_then(|span| text.get(..span.start)) {
        Some(before) => {
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

/// What `spanprof escape` found in its paths.
#[derive(Debug, Default)]
pub struct Analysis {
    pub findings: Vec<Finding>,
    /// Files (or folders) that could not be read, parsed or analysed: warnings.
    pub errors: Vec<FileError>,
    /// Files analysed.
    pub analysed: usize,
}

/// Analyses every source file under `paths` (each real file once, see
/// `spanprof_escape::rust_files`), keeping only `only` kinds when given.
pub fn analyze(paths: &[PathBuf], only: &[OnlyKind]) -> Analysis {
    let (files, errors) = spanprof_escape::rust_files(paths);
    let mut out = Analysis {
        errors,
        ..Analysis::default()
    };
    for result in analyze_files(&files) {
        match result {
            Ok(found) => {
                out.findings.extend(found);
                out.analysed += 1;
            }
            Err(e) => out.errors.push(e),
        }
    }
    if !only.is_empty() {
        out.findings
            .retain(|f| only.iter().any(|k| k.kind() == f.kind));
    }
    out
}

/// `read_and_analyze` of each file, in order, on as many threads as there are CPUs
/// (files are independent; each is parsed and analysed on its own thread anyway).
fn analyze_files(files: &[PathBuf]) -> Vec<std::result::Result<Vec<Finding>, FileError>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(f) = files.get(i) else {
                return done;
            };
            done.push((i, spanprof_escape::read_and_analyze(f)));
        }
    };
    let mut results: Vec<_> = std::thread::scope(|scope| {
        // Helpers that cannot be started leave their share to the others and to this
        // thread, which works too.
        let helpers: Vec<_> = (1..workers.min(files.len()))
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        let mut all = work();
        for h in helpers {
            // `work` does not panic: a panicking analysis is already a file error.
            all.extend(h.join().unwrap_or_default());
        }
        all
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// A file that was skipped, as one line: `spanprof: warning: FILE:LINE:COL: PROBLEM`
/// (the path once; no position when there is none).
pub fn warning(e: &FileError) -> String {
    let problem = e.message.replace(['\n', '\r'], " ");
    if e.line == 0 {
        format!("spanprof: warning: {}: {problem}", e.file)
    } else {
        format!(
            "spanprof: warning: {}:{}:{}: {problem}",
            e.file, e.line, e.column
        )
    }
}

/// The exit status rule after the report: files that could not be read or parsed are
/// warnings, and the command fails only when not one file could be analysed.
pub fn check_analysed(a: &Analysis, paths: &[PathBuf]) -> Result<()> {
    for e in &a.errors {
        eprintln!("{}", warning(e));
    }
    if a.analysed == 0 && !a.errors.is_empty() {
        let shown = match paths {
            [one] => one.display().to_string(),
            _ => "escape".to_string(),
        };
        return Err(CliError::new(
            shown,
            format!("no file could be analysed ({} skipped)", a.errors.len()),
        ));
    }
    Ok(())
}

/// Renders the findings as text (`verbose` adds the flow) or JSON.
pub fn render(findings: &[Finding], json: bool, verbose: bool) -> String {
    if json {
        let mut s = spanprof_escape::render_json(findings);
        s.push('\n');
        s
    } else {
        spanprof_escape::render_text(findings, verbose)
    }
}

/// The `--check` gate: every escaping finding in a `no_escape` function is one stderr
/// line; any makes the command fail.
pub fn check_gates(findings: &[Finding]) -> std::result::Result<(), crate::output::CliError> {
    use spanprof_escape::Kind;
    let failed: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.gated && matches!(f.kind, Kind::Escapes | Kind::Leaks | Kind::MayEscape))
        .collect();
    for f in &failed {
        eprintln!(
            "spanprof: {}:{}:{}: {} (`{}` is #[track_alloc(no_escape)])",
            f.file,
            f.line,
            f.column,
            f.message(),
            f.function
        );
    }
    match failed.first() {
        None => Ok(()),
        Some(f) => Err(crate::output::CliError::new(
            &f.file,
            format!(
                "{} allocation(s) escape in no_escape functions",
                failed.len()
            ),
        )),
    }
}
