//! What `cargo metadata --no-deps` says (it builds nothing): the `default-run` that
//! `cargo run` would run, and the workspace root, whose manifest holds the only
//! `[profile]` tables cargo honours (`config` reads them). `plan` gets both as a
//! `Workspace`.

use crate::RunArgs;
use crate::config::{ProfileKeys, manifest_profiles};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// What `cargo metadata` and the workspace's root manifest say, as far as `run` cares.
/// Empty when `cargo metadata` fails: the build then fails too, and says why.
#[derive(Debug, Default, PartialEq)]
pub struct Workspace {
    /// The `default-run` of the package `cargo run` would select.
    pub default_run: Option<String>,
    /// The root manifest's `[profile.NAME]` tables (cargo ignores them elsewhere).
    pub profiles: BTreeMap<String, ProfileKeys>,
}

/// What `cargo metadata` (run with `a`'s manifest and config) and the workspace's root
/// manifest say; nothing when `run` needs neither `default-run` nor the profiles.
pub fn workspace(a: &RunArgs) -> Workspace {
    let wants_default_run = a.bin.is_none() && a.example.is_none();
    // Every profile's, `dev` and `test` too: their `strip` matters.
    let wants_profiles = !a.no_stack_setup;
    if !wants_default_run && !wants_profiles {
        return Workspace::default();
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["metadata", "--no-deps", "--format-version", "1"]);
    for c in &a.config {
        cmd.arg("--config").arg(c);
    }
    if let Some(m) = &a.manifest_path {
        cmd.arg("--manifest-path").arg(m);
    }
    // Its errors would only repeat ahead of the build's own.
    let Ok(out) = cmd.stderr(Stdio::null()).output() else {
        return Workspace::default();
    };
    if !out.status.success() {
        return Workspace::default();
    }
    let (default_run, root) =
        read_metadata(&String::from_utf8_lossy(&out.stdout), a.package.as_deref());
    let profiles = root
        .and_then(|r| std::fs::read_to_string(r.join("Cargo.toml")).ok())
        .map(|text| manifest_profiles(&text))
        .unwrap_or_default();
    Workspace {
        default_run,
        profiles,
    }
}

/// From `cargo metadata --no-deps --format-version 1` output: the `default-run` that
/// `cargo run` would use for `-p package` (or, without `-p`, the default members), and
/// the workspace root.
fn read_metadata(json: &str, package: Option<&str>) -> (Option<String>, Option<PathBuf>) {
    let Ok(meta) = serde_json::from_str::<serde_json::Value>(json) else {
        return (None, None);
    };
    let root = meta["workspace_root"].as_str().map(PathBuf::from);
    let defaults = meta["workspace_default_members"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let runs: Vec<&str> = meta["packages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|p| match package {
            Some(spec) => p["name"] == spec_name(spec),
            None => defaults.contains(&p["id"]),
        })
        .filter_map(|p| p["default_run"].as_str())
        .collect();
    // Cargo's own rule: one `default-run` among the selected packages, else none.
    match runs.as_slice() {
        [one] => (Some(one.to_string()), root),
        _ => (None, root),
    }
}

/// The name a package ID spec (`name`, `name@1.2.3`, `name:1.2.3`,
/// `path+file:///…#name@1.2.3`) selects.
fn spec_name(spec: &str) -> &str {
    let spec = spec.rsplit_once('#').map_or(spec, |(_, s)| s);
    spec.split(['@', ':']).next().unwrap_or(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo metadata --no-deps --format-version 1` of a workspace with three
    /// packages (trimmed to the fields read).
    const METADATA: &str = r#"{"packages":[
        {"name":"app","version":"0.1.0","id":"path+file:///w/app#app@0.1.0","default_run":"app-main","manifest_path":"/w/app/Cargo.toml"},
        {"name":"tool","version":"0.2.0","id":"path+file:///w/tool#tool@0.2.0","default_run":"tool-b","manifest_path":"/w/tool/Cargo.toml"},
        {"name":"lib","version":"0.1.0","id":"path+file:///w/lib#lib@0.1.0","default_run":null,"manifest_path":"/w/lib/Cargo.toml"}],
        "workspace_members":["path+file:///w/app#app@0.1.0","path+file:///w/tool#tool@0.2.0","path+file:///w/lib#lib@0.1.0"],
        "workspace_default_members":["path+file:///w/app#app@0.1.0","path+file:///w/lib#lib@0.1.0"],
        "target_directory":"/w/target","version":1,"workspace_root":"/w","metadata":null}"#;

    #[test]
    fn default_run_is_the_selected_packages_as_cargo_run_picks_it() {
        let root = Some(PathBuf::from("/w"));
        for (package, want) in [
            // The default members: `lib` has none, so `app`'s.
            (None, Some("app-main")),
            (Some("tool"), Some("tool-b")),
            (Some("tool@0.2.0"), Some("tool-b")),
            (Some("path+file:///w/tool#tool@0.2.0"), Some("tool-b")),
            (Some("lib"), None),
            (Some("elsewhere"), None),
        ] {
            assert_eq!(
                read_metadata(METADATA, package),
                (want.map(String::from), root.clone()),
                "{package:?}"
            );
        }
        // Two default members with a `default-run` each: cargo picks neither.
        let both = METADATA.replace(
            r#""path+file:///w/lib#lib@0.1.0"]"#,
            r#""path+file:///w/tool#tool@0.2.0"]"#,
        );
        assert_eq!(read_metadata(&both, None), (None, root));
        assert_eq!(read_metadata("not json", None), (None, None));
    }
}
