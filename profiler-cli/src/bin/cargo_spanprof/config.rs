//! What the user set that the stack setup must not override, read as cargo reads it: in
//! config files, `--config` values and variables, `target.*.rustflags` (which shadow
//! `build.rustflags`), whether `build.rustflags` already force frame pointers, and each
//! profile's `debug` and `inherits`; in a manifest, its `[profile]` tables. `plan`
//! decides from these; `metadata` finds the one manifest whose profiles cargo honours.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What one source (a manifest, a config) sets in a `[profile.NAME]` table, as far as
/// the line tables care.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProfileKeys {
    /// `debug` is set: the user chose this profile's debug info.
    pub debug: bool,
    /// The profile it `inherits` from.
    pub inherits: Option<String>,
}

/// What cargo's config files, `--config` values and variables say, as far as stack
/// setup cares. Read roughly (no TOML parser): a misreading costs either a build that
/// does not share artifacts with plain `cargo build`, the DWARF unwinder instead of the
/// fast one, or line tables instead of the debug info the user chose — never wrong
/// stacks.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ConfigFlags {
    /// `target.<triple or cfg>.rustflags` are set: cargo ignores `build.rustflags`.
    pub target: bool,
    /// `build.rustflags` already force frame pointers.
    pub build_frame_pointers: bool,
    /// `profile.NAME.debug` and `profile.NAME.inherits`, by `NAME`.
    pub profiles: BTreeMap<String, ProfileKeys>,
}

/// What cargo, run in `cwd` with `--config` values `cli`, would read: those values,
/// config files of `cwd` and its parents and of `$CARGO_HOME`,
/// `CARGO_TARGET_*_RUSTFLAGS` and `CARGO_BUILD_RUSTFLAGS`.
pub fn config_flags(cwd: &Path, cli: &[String]) -> ConfigFlags {
    let mut target = std::env::vars_os().any(|(k, _)| {
        k.to_str()
            .is_some_and(|k| k.starts_with("CARGO_TARGET_") && k.ends_with("_RUSTFLAGS"))
    });
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let dirs = cwd.ancestors().map(|d| d.join(".cargo")).chain(cargo_home);
    // Highest precedence first (for `inherits`, where the first found wins): the last
    // `--config` (a path when one exists there, as cargo decides), then the files
    // nearest `cwd`.
    let cli = cli.iter().rev().map(|c| {
        let path = cwd.join(c);
        if !c.is_empty() && path.exists() {
            std::fs::read_to_string(path).unwrap_or_default()
        } else {
            c.clone()
        }
    });
    let files = dirs
        .flat_map(|d| [d.join("config.toml"), d.join("config")])
        .filter_map(|f| std::fs::read_to_string(f).ok());
    // Cargo joins build.rustflags from every source; any "no" keeps them off.
    let mut says = Vec::new();
    let mut profiles = BTreeMap::<String, ProfileKeys>::new();
    for text in cli.chain(files) {
        let c = read_config(&text);
        target |= c.target;
        says.extend(c.build_frame_pointers);
        for (name, keys) in c.profiles {
            let merged = profiles.entry(name).or_default();
            merged.debug |= keys.debug;
            if merged.inherits.is_none() {
                merged.inherits = keys.inherits;
            }
        }
    }
    if let Ok(flags) = std::env::var("CARGO_BUILD_RUSTFLAGS") {
        says.extend(frame_pointer_flag(flag_words(&flags)));
    }
    ConfigFlags {
        target,
        build_frame_pointers: !says.is_empty() && says.iter().all(|&fp| fp),
        profiles,
    }
}

/// What one config file (or `--config` value) says.
#[derive(Debug, Default, PartialEq)]
pub struct ConfigText {
    /// It sets `target.*.rustflags`.
    pub target: bool,
    /// What its `build.rustflags` say about frame pointers.
    pub build_frame_pointers: Option<bool>,
    /// Its `profile.NAME.debug` and `profile.NAME.inherits`, by `NAME`.
    pub profiles: BTreeMap<String, ProfileKeys>,
}

impl ConfigText {
    /// Notes `key = value` of `[profile.name]`; other keys (`opt-level`, a
    /// `package.<spec>` or `build-override` table's `debug`) say nothing of `name`'s own
    /// debug info.
    fn profile_key(&mut self, name: &str, key: &str, value: &str) {
        match key.trim() {
            "debug" => self.profiles.entry(name.into()).or_default().debug = true,
            "inherits" => self.profiles.entry(name.into()).or_default().inherits = toml_str(value),
            _ => {}
        }
    }
}

/// Reads one config file: whether it sets `target.*.rustflags`, what its
/// `build.rustflags` say about frame pointers, and what it sets in profiles.
pub fn read_config(toml: &str) -> ConfigText {
    let mut c = ConfigText::default();
    let mut table = String::new();
    let mut lines = toml.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line.starts_with('[') {
            let end = line.rfind(']').unwrap_or(line.len());
            table = line[..end]
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .into();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.starts_with('#') {
            continue;
        }
        let full = if table.is_empty() {
            key.to_string()
        } else {
            format!("{table}.{key}")
        };
        // `line`, not `full`: an inline table (`x86_64-… = { rustflags = […] }`) counts.
        if full.starts_with("target.") && line.contains("rustflags") {
            c.target = true;
        }
        if full == "build.rustflags" {
            let mut value = value.to_string();
            if value.trim_start().starts_with('[') && !value.contains(']') {
                for more in lines.by_ref() {
                    value.push(' ');
                    value.push_str(more);
                    if more.contains(']') {
                        break;
                    }
                }
            }
            if let Some(fp) = frame_pointer_flag(flag_words(&value)) {
                c.build_frame_pointers = Some(fp);
            }
        }
        let path: Vec<&str> = full
            .split('.')
            .map(|k| k.trim().trim_matches(['"', '\'']))
            .collect();
        match path.as_slice() {
            ["profile", name, key] => c.profile_key(name, key, value),
            // `release = { debug = 1, inherits = "…" }` under `[profile]`.
            ["profile", name] if value.trim_start().starts_with('{') => {
                for pair in value.trim().trim_matches(['{', '}']).split(',') {
                    if let Some((key, value)) = pair.split_once('=') {
                        c.profile_key(name, key, value);
                    }
                }
            }
            _ => {}
        }
    }
    c
}

/// What a list of rustflags says about frame pointers: the last word wins.
fn frame_pointer_flag<'a>(flags: impl IntoIterator<Item = &'a str>) -> Option<bool> {
    let mut last = None;
    for flag in flags {
        let flag = flag.strip_prefix("-C").unwrap_or(flag);
        match flag.strip_prefix("force-frame-pointers") {
            Some("") => last = Some(true),
            Some(value) => {
                if let Some(v) = value.strip_prefix('=') {
                    last = Some(matches!(v, "yes" | "y" | "on" | "true"));
                }
            }
            None => {}
        }
    }
    last
}

/// The words of a TOML string or array of strings.
fn flag_words(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c.is_whitespace() || "[],\"'".contains(c))
        .filter(|w| !w.is_empty())
}

/// The text of a TOML string value (`"dev"` or `'dev'`, maybe followed by a comment).
fn toml_str(value: &str) -> Option<String> {
    let value = value.trim_start();
    let quote = value.chars().next().filter(|&c| c == '"' || c == '\'')?;
    let rest = &value[1..];
    rest.find(quote).map(|end| rest[..end].to_string())
}

/// The `[profile.NAME]` tables of a manifest.
pub fn manifest_profiles(toml: &str) -> BTreeMap<String, ProfileKeys> {
    let Ok(manifest) = toml.parse::<toml::Table>() else {
        return Default::default();
    };
    let Some(profiles) = manifest.get("profile").and_then(toml::Value::as_table) else {
        return Default::default();
    };
    profiles
        .iter()
        .filter_map(|(name, table)| {
            let table = table.as_table()?;
            Some((
                name.clone(),
                ProfileKeys {
                    debug: table.contains_key("debug"),
                    inherits: table
                        .get("inherits")
                        .and_then(toml::Value::as_str)
                        .map(String::from),
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rustflags_from_config_text() {
        for (text, want) in [
            (
                "[target.x86_64-unknown-linux-gnu]\nrustflags = [\"-C\", \"target-cpu=native\"]\n",
                (true, None),
            ),
            (
                "[target.'cfg(unix)']\nlinker = \"cc\"\nrustflags = [\n  \"-Dwarnings\",\n]\n",
                (true, None),
            ),
            (
                "target.aarch64-apple-darwin.rustflags = [\"-g\"]\n",
                (true, None),
            ),
            (
                "[target]\nx86_64-unknown-linux-gnu = { rustflags = [\"-g\"] }\n",
                (true, None),
            ),
            (
                "[target.x86_64-unknown-linux-gnu]\nlinker = \"clang\"\nrustdocflags = [\"-g\"]\n",
                (false, None),
            ),
            ("# target.x.rustflags = []\n", (false, None)),
            // This workspace's own config.
            (
                "[build]\nrustflags = [\"-C\", \"force-frame-pointers=yes\"]\n",
                (false, Some(true)),
            ),
            (
                "[build]\nrustflags = [\n  \"-Cforce-frame-pointers\",\n  \"--cfg\", \"x\",\n]\n[x]\ny = 1\n",
                (false, Some(true)),
            ),
            (
                "build.rustflags = \"-C force-frame-pointers=yes -C force-frame-pointers=no\"\n",
                (false, Some(false)),
            ),
            (
                "[build]\nrustflags = [\"-C\", \"target-cpu=native\"]\n",
                (false, None),
            ),
            (
                "[target.x86_64-unknown-linux-gnu]\nlinker = \"clang\"\n[build]\nrustflags = []\n",
                (false, None),
            ),
            // `--config` values.
            (
                r#"build.rustflags=["-C","force-frame-pointers=yes"]"#,
                (false, Some(true)),
            ),
            (
                "target.x86_64-unknown-linux-gnu.rustflags=['-g']",
                (true, None),
            ),
        ] {
            let c = read_config(text);
            assert_eq!((c.target, c.build_frame_pointers), want, "{text}");
        }
    }

    #[test]
    fn reads_profiles_from_config_text() {
        let keys = |debug, inherits: Option<&str>| ProfileKeys {
            debug,
            inherits: inherits.map(String::from),
        };
        let c = read_config(
            "[profile.release]\nopt-level = 3\ndebug = 1\n\
             [profile.release.package.foo]\ndebug = 0\n\
             [profile.prof]\ninherits = \"release\" # fast\n\
             [profile]\nlean = { inherits = 'dev', debug = false }\n\
             \"quoted\".debug = true\n\
             # bench.debug = true\n",
        );
        assert_eq!(
            c.profiles.into_iter().collect::<Vec<_>>(),
            [
                ("lean".to_string(), keys(true, Some("dev"))),
                ("prof".to_string(), keys(false, Some("release"))),
                ("quoted".to_string(), keys(true, None)),
                ("release".to_string(), keys(true, None)),
            ]
        );
    }

    #[test]
    fn config_values_and_files_are_read_with_cargos_precedence() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".cargo")).unwrap();
        std::fs::write(
            dir.path().join(".cargo/config.toml"),
            "[profile.prof]\ninherits = \"release\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("extra.toml"),
            "[profile.bench]\ndebug = 1\n",
        )
        .unwrap();
        let c = config_flags(
            dir.path(),
            &[
                "profile.prof.inherits='bench'".into(),
                "profile.prof.inherits='dev'".into(),
                // A path relative to where cargo runs, as cargo reads it.
                "extra.toml".into(),
            ],
        );
        // The last `--config` wins over the earlier one and over the files.
        assert_eq!(c.profiles["prof"].inherits.as_deref(), Some("dev"));
        assert!(c.profiles["bench"].debug);
    }

    #[test]
    fn reads_profiles_from_the_manifest() {
        let profiles = manifest_profiles(
            "[package]\nname = \"x\"\n\n[profile.release]\ndebug = false\n\n\
             [profile.prof]\ninherits = \"release\"\nopt-level = 2\n",
        );
        assert_eq!(
            profiles.into_iter().collect::<Vec<_>>(),
            [
                (
                    "prof".to_string(),
                    ProfileKeys {
                        debug: false,
                        inherits: Some("release".into())
                    }
                ),
                (
                    "release".to_string(),
                    ProfileKeys {
                        debug: true,
                        inherits: None
                    }
                ),
            ]
        );
        assert!(manifest_profiles("[package\n").is_empty());
    }
}
