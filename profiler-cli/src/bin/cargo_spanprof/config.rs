//! What the user set that the stack setup must not override (or, for `strip`, must),
//! read as cargo reads it: in config files, `--config` values and variables,
//! `target.*.rustflags` (which shadow `build.rustflags`), whether `build.rustflags`
//! already force frame pointers (or a `--config` turns them off), and each profile's
//! `debug`, `strip` and `inherits`; in a manifest, its `[profile]` tables. `plan`
//! decides from these; `metadata` finds the one manifest whose profiles cargo honours.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What one source (a manifest, a config) sets in a `[profile.NAME]` table, as far as
/// the stack setup cares.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProfileKeys {
    /// `debug` is set: the user chose this profile's debug info.
    pub debug: bool,
    /// Its `strip`.
    pub strip: Option<Strip>,
    /// The profile it `inherits` from.
    pub inherits: Option<String>,
}

/// A profile's `strip` setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Strip {
    /// Where and how it is set, as the user wrote it (`profile.release.strip = true`,
    /// `CARGO_PROFILE_RELEASE_STRIP=symbols`), for the message saying it was undone.
    pub setting: String,
    /// What it removes that stacks need; `None` when it keeps everything (`false`,
    /// `"none"`, or a value cargo will reject anyway).
    pub removes: Option<&'static str>,
}

impl Strip {
    /// What strip value `value` (`true`, `false`, `none`, `debuginfo`, `symbols`)
    /// removes that stacks need.
    fn removes(value: &str) -> Option<&'static str> {
        match value {
            "true" | "symbols" => Some("the symbols stacks are named with"),
            "debuginfo" => Some("the debug info stacks get file:line from"),
            _ => None,
        }
    }

    /// `strip = VALUE` of `[profile.NAME]` in TOML text (a config file, a `--config`
    /// value): a bool, or a string maybe followed by a comment.
    fn from_toml_text(name: &str, value: &str) -> Option<Strip> {
        let value = value.trim_start();
        let (word, written) = match toml_str(value) {
            Some(s) => (s.clone(), format!("\"{s}\"")),
            None => {
                let word: String = value
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                (word.clone(), word)
            }
        };
        if word.is_empty() {
            return None;
        }
        Some(Strip {
            setting: format!("profile.{name}.strip = {written}"),
            removes: Strip::removes(&word),
        })
    }

    /// `strip` of `[profile.NAME]` in a parsed manifest.
    fn from_toml(name: &str, value: &toml::Value) -> Option<Strip> {
        let word = match value {
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::String(s) => s.clone(),
            _ => return None,
        };
        Some(Strip {
            setting: format!("profile.{name}.strip = {value}"),
            removes: Strip::removes(&word),
        })
    }

    /// The variable `key` (`CARGO_PROFILE_<NAME>_STRIP`) set to `value`.
    pub fn from_var(key: &str, value: &str) -> Strip {
        Strip {
            setting: format!("{key}={value}"),
            removes: Strip::removes(value.trim()),
        }
    }
}

/// What cargo's config files, `--config` values and variables say, as far as stack
/// setup cares. Read roughly (no TOML parser): a misreading costs either a build that
/// does not share artifacts with plain `cargo build`, the DWARF unwinder instead of the
/// fast one, line tables instead of the debug info the user chose, or a `strip` left
/// in place (unnamed stacks, as without the stack setup) or needlessly undone — never
/// wrong stacks, nor a failed build.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ConfigFlags {
    /// `target.<triple or cfg>.rustflags` are set: cargo ignores `build.rustflags`.
    pub target: bool,
    /// `build.rustflags` already force frame pointers.
    pub build_frame_pointers: bool,
    /// What the `--config` values' `build.rustflags` say about frame pointers (the
    /// last of them that does): cargo puts them after `CARGO_BUILD_RUSTFLAGS`, so a
    /// "no" there outlasts the stack setup's "yes".
    pub cli_frame_pointers: Option<bool>,
    /// `profile.NAME.debug`, `.strip` and `.inherits` in config files, by `NAME`.
    pub profiles: BTreeMap<String, ProfileKeys>,
    /// The same in `--config` values, which outrank variables (config files do not).
    pub cli_profiles: BTreeMap<String, ProfileKeys>,
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
        let text = if !c.is_empty() && path.exists() {
            std::fs::read_to_string(path).unwrap_or_default()
        } else {
            c.clone()
        };
        (true, text)
    });
    let files = dirs
        .flat_map(|d| [d.join("config.toml"), d.join("config")])
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .map(|text| (false, text));
    // Cargo joins build.rustflags from every source; any "no" keeps them off.
    let mut says = Vec::new();
    let (mut cli_says, mut profiles, mut cli_profiles) = (None, BTreeMap::new(), BTreeMap::new());
    for (is_cli, text) in cli.chain(files) {
        let c = read_config(&text);
        target |= c.target;
        says.extend(c.build_frame_pointers);
        if is_cli && cli_says.is_none() {
            cli_says = c.build_frame_pointers;
        }
        merge_profiles(
            if is_cli {
                &mut cli_profiles
            } else {
                &mut profiles
            },
            c.profiles,
        );
    }
    if let Ok(flags) = std::env::var("CARGO_BUILD_RUSTFLAGS") {
        says.extend(frame_pointer_flag(flag_words(&flags)));
    }
    ConfigFlags {
        target,
        build_frame_pointers: !says.is_empty() && says.iter().all(|&fp| fp),
        cli_frame_pointers: cli_says,
        profiles,
        cli_profiles,
    }
}

/// Merges `lower`, a source of lower precedence, into `into`: any `debug` counts, the
/// first `strip` and `inherits` found win.
fn merge_profiles(into: &mut BTreeMap<String, ProfileKeys>, lower: BTreeMap<String, ProfileKeys>) {
    for (name, keys) in lower {
        let merged = into.entry(name).or_default();
        merged.debug |= keys.debug;
        if merged.strip.is_none() {
            merged.strip = keys.strip;
        }
        if merged.inherits.is_none() {
            merged.inherits = keys.inherits;
        }
    }
}

/// What one config file (or `--config` value) says.
#[derive(Debug, Default, PartialEq)]
pub struct ConfigText {
    /// It sets `target.*.rustflags`.
    pub target: bool,
    /// What its `build.rustflags` say about frame pointers.
    pub build_frame_pointers: Option<bool>,
    /// Its `profile.NAME.debug`, `.strip` and `.inherits`, by `NAME`.
    pub profiles: BTreeMap<String, ProfileKeys>,
}

impl ConfigText {
    /// Notes `key = value` of `[profile.name]`; other keys (`opt-level`, a
    /// `package.<spec>` or `build-override` table's `debug`) say nothing of `name`'s own
    /// debug info or symbols.
    fn profile_key(&mut self, name: &str, key: &str, value: &str) {
        match key.trim() {
            "debug" => self.profiles.entry(name.into()).or_default().debug = true,
            "strip" => {
                self.profiles.entry(name.into()).or_default().strip =
                    Strip::from_toml_text(name, value);
            }
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
                    strip: table.get("strip").and_then(|v| Strip::from_toml(name, v)),
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
            strip: None,
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
        // The last `--config` wins over the earlier one; the files are kept apart
        // (variables rank between the two).
        assert_eq!(c.cli_profiles["prof"].inherits.as_deref(), Some("dev"));
        assert_eq!(c.profiles["prof"].inherits.as_deref(), Some("release"));
        assert!(c.cli_profiles["bench"].debug && !c.profiles.contains_key("bench"));
    }

    #[test]
    fn reads_strip_from_config_text() {
        let strip = |text: &str| {
            read_config(text)
                .profiles
                .into_iter()
                .map(|(name, k)| (name, k.strip.map(|s| (s.setting, s.removes.is_some()))))
                .collect::<Vec<_>>()
        };
        let own = |name: &str, setting: &str, removes| {
            (name.to_string(), Some((setting.to_string(), removes)))
        };
        assert_eq!(
            strip(
                "[profile.release]\nstrip = true # small\n\
                 [profile.release.package.foo]\nstrip = false\n\
                 [profile.prof]\nstrip = 'debuginfo'\n\
                 [profile]\nlean = { inherits = 'dev', strip = \"symbols\" }\n\
                 bench.strip = \"none\"\n\
                 dev.strip = false\n\
                 # test.strip = true\n"
            ),
            [
                own("bench", "profile.bench.strip = \"none\"", false),
                own("dev", "profile.dev.strip = false", false),
                own("lean", "profile.lean.strip = \"symbols\"", true),
                own("prof", "profile.prof.strip = \"debuginfo\"", true),
                own("release", "profile.release.strip = true", true),
            ]
        );
        // A `--config` value.
        assert_eq!(
            strip("profile.release.strip='symbols'"),
            [own("release", "profile.release.strip = \"symbols\"", true)]
        );
        let m = manifest_profiles(
            "[profile.release]\nstrip = \"debuginfo\"\n[profile.dev]\nstrip = false\n",
        );
        let setting = |name: &str| {
            m[name]
                .strip
                .as_ref()
                .map(|s| (s.setting.as_str(), s.removes))
        };
        assert_eq!(
            setting("release"),
            Some((
                "profile.release.strip = \"debuginfo\"",
                Some("the debug info stacks get file:line from")
            ))
        );
        assert_eq!(setting("dev"), Some(("profile.dev.strip = false", None)));
        let v = Strip::from_var("CARGO_PROFILE_BENCH_STRIP", "true");
        assert_eq!(v.setting, "CARGO_PROFILE_BENCH_STRIP=true");
        assert_eq!(v.removes, Some("the symbols stacks are named with"));
    }

    #[test]
    fn a_config_value_turning_frame_pointers_off_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".cargo")).unwrap();
        std::fs::write(
            dir.path().join(".cargo/config.toml"),
            "[build]\nrustflags = \"-C force-frame-pointers=no\"\n",
        )
        .unwrap();
        // A file's "no" comes before the stack setup's flags: not the `--config`'s.
        let c = config_flags(dir.path(), &[]);
        assert_eq!(
            (c.build_frame_pointers, c.cli_frame_pointers),
            (false, None)
        );
        // The last `--config` that says anything about them decides.
        let c = config_flags(
            dir.path(),
            &[
                "build.rustflags='-C force-frame-pointers=yes'".into(),
                "build.rustflags=['-C','force-frame-pointers=no']".into(),
                "net.retry=2".into(),
            ],
        );
        assert_eq!(c.cli_frame_pointers, Some(false));
        let c = config_flags(
            dir.path(),
            &["build.rustflags='-Cforce-frame-pointers'".into()],
        );
        assert_eq!(
            (c.build_frame_pointers, c.cli_frame_pointers),
            (false, Some(true))
        );
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
                        strip: None,
                        inherits: Some("release".into())
                    }
                ),
                (
                    "release".to_string(),
                    ProfileKeys {
                        debug: true,
                        strip: None,
                        inherits: None
                    }
                ),
            ]
        );
        assert!(manifest_profiles("[package\n").is_empty());
    }
}
