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

/// The paths to analyse: as given, or `src/` of the package in the current directory.
pub fn default_paths(paths: Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    if !paths.is_empty() {
        for p in &paths {
            if !p.exists() {
                return Err(CliError::new(p.display(), "no such file or directory"));
            }
        }
        return Ok(paths);
    }
    let src = Path::new("src");
    if src.is_dir() {
        Ok(vec![src.to_path_buf()])
    } else {
        Err(CliError::usage(
            "src",
            "no PATH given and no src/ folder here (run in a cargo package or name the files)",
        ))
    }
}

/// Analyses `paths`, keeping only `only` kinds when given.
pub fn analyze(paths: &[PathBuf], only: &[OnlyKind]) -> (Vec<Finding>, Vec<FileError>) {
    let mut findings = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        let (f, e) = spanprof_escape::analyze_path(p);
        findings.extend(f);
        errors.extend(e);
    }
    if !only.is_empty() {
        findings.retain(|f| only.iter().any(|k| k.kind() == f.kind));
    }
    (findings, errors)
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
