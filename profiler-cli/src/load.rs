//! Reading a profile: every way a file can fail to be a version-1 spanprof profile
//! becomes one clear error naming the file.

use crate::output::{CliError, Result};
use spanprof::Profile;
use spanprof::format::FORMAT_VERSION;
use std::io;
use std::path::Path;

/// Reads and checks the profile at `path`, and prints the profile's own warnings
/// (how it was taken: e.g. frame-pointer stacks asked for without frame pointers)
/// on stderr, one line each, so every command that reads it says so.
pub fn load(path: &Path) -> Result<Profile> {
    let profile = read(path)?;
    for w in &profile.warnings {
        eprintln!("spanprof: warning: {}: {w}", path.display());
    }
    Ok(profile)
}

fn read(path: &Path) -> Result<Profile> {
    let name = path.display().to_string();
    if path.is_dir() {
        return Err(CliError::new(&name, "is a directory, not a profile"));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        let problem = match e.kind() {
            io::ErrorKind::NotFound => "no such file".to_string(),
            io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => format!("cannot read: {e}"),
        };
        CliError::new(&name, problem)
    })?;
    parse(&bytes).map_err(|problem| CliError::new(name, problem))
}

/// Parses profile JSON, explaining what is wrong when it is not a profile.
pub fn parse(bytes: &[u8]) -> std::result::Result<Profile, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("empty file, not a spanprof profile".into());
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() {
            format!(
                "truncated JSON (ends at line {} column {}); was the program still writing it?",
                e.line(),
                e.column()
            )
        } else {
            format!("not JSON: {e}")
        }
    })?;
    let Some(obj) = value.as_object() else {
        return Err("not a spanprof profile: expected a JSON object".into());
    };
    match obj.get("version") {
        None => return Err("not a spanprof profile: no \"version\" field".into()),
        Some(v) if v.as_u64() != Some(u64::from(FORMAT_VERSION)) => {
            return Err(format!(
                "profile format version {v} is not supported (this spanprof reads version {FORMAT_VERSION})"
            ));
        }
        Some(_) => {}
    }
    serde_json::from_value(value).map_err(|e| format!("not a spanprof profile: {e}"))
}
