//! Output: Go's `path:line:col: message` lines (with the flow indented underneath in
//! verbose mode, like `-m=2`), and JSON for tools.

use crate::finding::Finding;
use std::fmt::Write as _;

/// Go-style text, one finding per line; `verbose` adds the flow lines under each.
pub fn render_text(findings: &[Finding], verbose: bool) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(out, "{}:{}:{}: {}", f.file, f.line, f.column, f.message());
        if verbose {
            if let Some(ty) = &f.ty {
                let _ = writeln!(out, "{}:{}:{}:   type {ty}", f.file, f.line, f.column);
            }
            for step in &f.flow {
                let _ = writeln!(out, "{}:{}:{}:   {step}", f.file, f.line, f.column);
            }
        }
    }
    out
}

/// A JSON array of findings (feature `json`) with the keys `file`, `line`, `column`, `function`, `expr`,
/// `kind`, `reason`, `type`, `in_loop`, `flow`.
#[cfg(feature = "json")]
pub fn render_json(findings: &[Finding]) -> String {
    // Serialising plain strings, numbers and bools cannot fail; fall back to an empty array.
    serde_json::to_string_pretty(findings).unwrap_or_else(|_| "[]".into())
}
