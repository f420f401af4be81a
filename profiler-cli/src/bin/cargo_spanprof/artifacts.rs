//! The executable a build made: the artifacts cargo's `--message-format=json` lines
//! report, and of those the one the plan asked for (or the only one built).

use std::path::PathBuf;

/// The executables a `cargo build --message-format=json` run reports, as
/// (kind, name, path); kind is `bin` or `example`.
pub fn executables(json_lines: &str) -> Vec<(String, String, PathBuf)> {
    let mut out = Vec::new();
    for line in json_lines.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(exe) = v["executable"].as_str() else {
            continue;
        };
        let kind = v["target"]["kind"][0]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = v["target"]["name"].as_str().unwrap_or_default().to_string();
        out.push((kind, name, PathBuf::from(exe)));
    }
    out
}

/// The one executable asked for (or the only one built).
pub fn pick(
    found: &[(String, String, PathBuf)],
    kind: &str,
    name: Option<&str>,
) -> Result<PathBuf, String> {
    let matching: Vec<&(String, String, PathBuf)> = found
        .iter()
        .filter(|(k, n, _)| k == kind && name.is_none_or(|want| n == want))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.2.clone()),
        [] => Err(match name {
            Some(n) => format!("cargo built no {kind} named '{n}'"),
            None => format!("cargo built no {kind}"),
        }),
        many => Err(format!(
            "several {kind}s were built ({}); pick one with --{kind} NAME",
            many.iter()
                .map(|(_, n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARGO_OUTPUT: &str = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"spanprof"},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"app"},"executable":"/t/release/app"}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"tool"},"executable":"/t/release/tool"}
{"reason":"compiler-artifact","target":{"kind":["example"],"name":"churn"},"executable":"/t/release/examples/churn"}
{"reason":"build-finished","success":true}"#;

    #[test]
    fn picks_the_executable_asked_for() {
        let found = executables(CARGO_OUTPUT);
        assert_eq!(found.len(), 3);
        assert_eq!(
            pick(&found, "bin", Some("tool")).unwrap(),
            PathBuf::from("/t/release/tool")
        );
        assert_eq!(
            pick(&found, "example", None).unwrap(),
            PathBuf::from("/t/release/examples/churn")
        );
        let many = pick(&found, "bin", None).unwrap_err();
        assert!(
            many.contains("app, tool") && many.contains("--bin"),
            "{many}"
        );
        assert!(
            pick(&found, "example", Some("x"))
                .unwrap_err()
                .contains("'x'")
        );
    }
}
