//! `cargo spanprof run [CARGO OPTIONS] [RUN OPTIONS] [-- ARGS…]`: builds the program
//! with cargo (`--message-format=json` to learn where the executable went), then hands
//! it to `spanprof run` (the `spanprof` binary next to this one, else the one on
//! `PATH`), which runs it with a profile and renders it.
//!
//! Only the arguments after `--` reach the program: an unknown flag before it is a
//! usage error, not the start of the program's arguments, so a misspelt or
//! unsupported cargo flag never silently changes what is built.
//!
//! With neither `--bin` nor `--example`, the bin built and run is the one `cargo run`
//! would run: the selected package's `default-run` (that of `-p`, else of the
//! workspace's default members), else the only bin. `cargo metadata --no-deps` tells
//! (it builds nothing), and also where the workspace root, whose manifest holds the
//! profiles, is.
//!
//! Stack setup (off with `--no-stack-setup`). A crate with cargo's default release
//! profile has no debug info, so sampled stacks would have no `file:line` and inlined
//! functions would vanish; without frame pointers the fast unwinder cannot walk the
//! stack. So by default:
//!
//! - the build gets `CARGO_PROFILE_<PROFILE>_DEBUG=line-tables-only` (as
//!   cargo-flamegraph does) only where it adds debug info without overriding a choice
//!   of the user's: never for `dev` and `test`, which have full debug info by default
//!   (setting it would also rebuild every crate); for `release`, `bench` and custom
//!   profiles, only when nothing sets `debug` for that profile — not that variable, not
//!   `[profile.<name>]` in the workspace's root `Cargo.toml` (cargo ignores profiles in
//!   any other manifest), not `profile.<name>.debug` in a cargo config file or a
//!   `--config`. A profile without its own `debug` inherits one, as much the user's
//!   choice: `bench` from `release`, a custom profile from its `inherits` (followed up
//!   the chain: nothing is set when it reaches `dev` or `test`, or a profile that sets
//!   `debug`);
//! - the build gets `-C force-frame-pointers=yes`: appended to `CARGO_ENCODED_RUSTFLAGS`
//!   or `RUSTFLAGS` when set (cargo uses the first of these it finds and ignores every
//!   other source of flags), else as `--config build.rustflags=[…]`, which cargo joins
//!   with the user's own `build.rustflags` (not added when those already force frame
//!   pointers: the build then shares its artifacts with a plain `cargo build` of the
//!   same profile);
//! - the program runs with `SPANPROF_UNWIND=fp`, unless the user set `SPANPROF_UNWIND`.
//!
//! Cargo gives `target.<triple>.rustflags` (and `target.<cfg>.rustflags`) precedence
//! over `build.rustflags`: when a config file, a `--config` or a
//! `CARGO_TARGET_<TRIPLE>_RUSTFLAGS` variable sets them, the frame pointers are not
//! added, so `SPANPROF_UNWIND` is left alone and the profiler uses its DWARF unwinder
//! (slower, still correct stacks). Should frame pointers be missing anyway, the program
//! notices, unwinds with DWARF and its profile carries a warning that `spanprof run`
//! prints.

use clap::{Args, Parser, Subcommand};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::SystemTime;

#[derive(Parser, Debug)]
#[command(name = "cargo spanprof", bin_name = "cargo spanprof", version)]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

const RUN_AFTER_HELP: &str = "\
With neither --bin nor --example, the package's default-run is run, as by cargo run.

Stack setup (default; --no-stack-setup turns it off):
  - release, bench and custom profiles are built with
    CARGO_PROFILE_<PROFILE>_DEBUG=line-tables-only, so sampled stacks have file:line
    and inlined functions, unless debug is set for the profile: by that variable,
    in [profile.<PROFILE>] of the workspace's root Cargo.toml, or as
    profile.<PROFILE>.debug in a cargo config or --config. A profile without its
    own debug inherits one: bench from release, a custom profile from its inherits
    chain (nothing added when that reaches dev or test, or a profile setting
    debug). dev and test already have full debug info: nothing is added;
  - cargo builds with -C force-frame-pointers=yes (appended to CARGO_ENCODED_RUSTFLAGS
    or RUSTFLAGS when set, else --config build.rustflags=[...], which joins the
    package's own build.rustflags; nothing is added when those already have it);
  - the program runs with SPANPROF_UNWIND=fp, the fast frame-pointer unwinder (unless
    SPANPROF_UNWIND is set, or target.<triple>.rustflags in a cargo config override
    build.rustflags: then the DWARF unwinder is used).

Examples:
  cargo spanprof run --release --bin server -- --port 8080
  cargo spanprof run --features heap-profile --release --rate 4096 --open";

#[derive(Subcommand, Debug)]
enum Sub {
    /// Build a binary or example, run it under `spanprof run`.
    #[command(after_help = RUN_AFTER_HELP)]
    Run(RunArgs),
}

const RUN: &str = "Run (spanprof run)";

#[derive(Args, Debug, Default)]
struct RunArgs {
    /// The binary target to run (needed when the package has several).
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "example",
        help_heading = "Target selection"
    )]
    bin: Option<String>,
    /// The example to run.
    #[arg(long, value_name = "NAME", help_heading = "Target selection")]
    example: Option<String>,
    /// The package to build.
    #[arg(
        short = 'p',
        long,
        value_name = "SPEC",
        help_heading = "Target selection"
    )]
    package: Option<String>,
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH", help_heading = "Target selection")]
    manifest_path: Option<PathBuf>,
    /// Build with the release profile.
    #[arg(short = 'r', long, conflicts_with = "profile", help_heading = "Build")]
    release: bool,
    /// Build with the given profile.
    #[arg(long, value_name = "PROFILE-NAME", help_heading = "Build")]
    profile: Option<String>,
    /// Features to activate (space or comma separated; may be repeated).
    #[arg(short = 'F', long, value_name = "FEATURES", help_heading = "Build")]
    features: Vec<String>,
    /// Activate all features.
    #[arg(long, help_heading = "Build")]
    all_features: bool,
    /// Do not activate the `default` feature.
    #[arg(long, help_heading = "Build")]
    no_default_features: bool,
    /// Directory for all generated artifacts.
    #[arg(long, value_name = "DIRECTORY", help_heading = "Build")]
    target_dir: Option<PathBuf>,
    /// Build for the target triple (the executable lands in
    /// <target-dir>/<TRIPLE>/<profile>/).
    #[arg(long, value_name = "TRIPLE", help_heading = "Build")]
    target: Option<String>,
    /// Number of parallel jobs (cargo's -j).
    #[arg(
        short = 'j',
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Build"
    )]
    jobs: Option<String>,
    /// Override a cargo config value (may be repeated; given to cargo before the
    /// stack setup's own --config).
    #[arg(long, value_name = "KEY=VALUE|PATH", help_heading = "Build")]
    config: Vec<String>,
    /// Assert that Cargo.lock will remain unchanged.
    #[arg(long, help_heading = "Build")]
    locked: bool,
    /// Equivalent to --locked --offline.
    #[arg(long, help_heading = "Build")]
    frozen: bool,
    /// Run cargo without accessing the network.
    #[arg(long, help_heading = "Build")]
    offline: bool,
    /// No cargo output but errors.
    #[arg(short, long, help_heading = "Build")]
    quiet: bool,
    /// More cargo output (-vv very verbose).
    #[arg(
        short,
        long,
        action = clap::ArgAction::Count,
        conflicts_with = "quiet",
        help_heading = "Build"
    )]
    verbose: u8,
    /// Build with the package's own settings only: no line tables, no frame
    /// pointers, no SPANPROF_UNWIND=fp (see below).
    #[arg(long, help_heading = "Build")]
    no_stack_setup: bool,
    /// Mean bytes between sampled stacks (`1` = every allocation, `0` = no stacks).
    #[arg(long, value_name = "BYTES", help_heading = RUN)]
    rate: Option<u64>,
    /// The profile [default: profile.json].
    #[arg(short, long, value_name = "FILE", help_heading = RUN)]
    output: Option<PathBuf>,
    /// The flamegraph [default: heap.svg].
    #[arg(long, value_name = "FILE", help_heading = RUN)]
    svg: Option<PathBuf>,
    /// Do not draw the flamegraph.
    #[arg(long, conflicts_with = "svg", help_heading = RUN)]
    no_svg: bool,
    /// Open the flamegraph when done (xdg-open, or open on macOS).
    #[arg(long, conflicts_with = "no_svg", help_heading = RUN)]
    open: bool,
    /// The program's arguments (only after `--`).
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<OsString>,
}

/// The two commands `run` starts, short of what only the build tells (the executable).
#[derive(Debug, Default, PartialEq)]
struct Plan {
    /// `cargo` arguments.
    build_args: Vec<OsString>,
    /// Variables set on `cargo`.
    build_env: Vec<(String, OsString)>,
    /// The kind of executable to run: `bin` or `example`.
    kind: &'static str,
    /// Its name, when one was asked for (or is the package's `default-run`).
    name: Option<String>,
    /// `spanprof run` arguments before `-- PROGRAM ARGS…`.
    run_args: Vec<OsString>,
    /// Variables set on `spanprof run` (and so on the program).
    run_env: Vec<(String, OsString)>,
}

/// The profile being built, as cargo names it.
fn profile_name(a: &RunArgs) -> &str {
    match (&a.profile, a.release) {
        (Some(p), _) => p,
        (None, true) => "release",
        (None, false) => "dev",
    }
}

/// `profile` as cargo spells it in `CARGO_PROFILE_<NAME>_…` variables.
fn profile_env_name(profile: &str) -> String {
    profile.to_uppercase().replace('-', "_")
}

/// What one source (a manifest, a config) sets in a `[profile.NAME]` table, as far as
/// the line tables care.
#[derive(Debug, Default, Clone, PartialEq)]
struct ProfileKeys {
    /// `debug` is set: the user chose this profile's debug info.
    debug: bool,
    /// The profile it `inherits` from.
    inherits: Option<String>,
}

/// What `cargo metadata` and the workspace's root manifest say, as far as `run` cares.
/// Empty when `cargo metadata` fails: the build then fails too, and says why.
#[derive(Debug, Default, PartialEq)]
struct Workspace {
    /// The `default-run` of the package `cargo run` would select.
    default_run: Option<String>,
    /// The root manifest's `[profile.NAME]` tables (cargo ignores them elsewhere).
    profiles: std::collections::BTreeMap<String, ProfileKeys>,
}

/// Whether to build `profile` with `CARGO_PROFILE_<PROFILE>_DEBUG=line-tables-only`;
/// `keys(name)` is what the user set for profile `name`, from every source cargo reads.
fn needs_line_tables(profile: &str, keys: impl Fn(&str) -> ProfileKeys) -> bool {
    let mut profile = profile.to_string();
    // Cargo rejects `inherits` cycles; the bound only keeps a misread config finite.
    for _ in 0..32 {
        // Full debug info by default already: the variable would only lower what the
        // user chose there, and make the build differ from (rebuild every crate of) a
        // plain one.
        if matches!(profile.as_str(), "dev" | "test") {
            return false;
        }
        let own = keys(&profile);
        if own.debug {
            return false;
        }
        // A profile without its own `debug` gets the one it inherits, which is as much
        // the user's choice.
        profile = match (profile.as_str(), own.inherits) {
            ("release", _) => return true,
            ("bench", _) => "release".into(),
            (_, Some(parent)) => parent,
            // An undefined custom profile: cargo will say so.
            (_, None) => return true,
        };
    }
    true
}

/// The commands for `a`, given the environment `env`, what cargo's config says and what
/// the workspace says.
fn plan(
    a: &RunArgs,
    env: impl Fn(&str) -> Option<OsString>,
    config: &ConfigFlags,
    ws: &Workspace,
) -> Plan {
    let (kind, name) = match (&a.bin, &a.example) {
        (_, Some(e)) => ("example", Some(e.clone())),
        (Some(b), None) => ("bin", Some(b.clone())),
        // What `cargo run` does: the package's `default-run`, else its only bin.
        (None, None) => ("bin", ws.default_run.clone()),
    };
    let mut p = Plan {
        kind,
        ..Plan::default()
    };
    let mut arg = |s: &dyn AsRef<OsStr>| p.build_args.push(s.as_ref().to_owned());
    arg(&"build");
    arg(&"--message-format=json-render-diagnostics");
    // Before the stack setup's own `--config`: cargo joins arrays from both, in order.
    for c in &a.config {
        arg(&"--config");
        arg(c);
    }
    if let Some(m) = &a.manifest_path {
        arg(&"--manifest-path");
        arg(m);
    }
    if let Some(pkg) = &a.package {
        arg(&"-p");
        arg(pkg);
    }
    if let Some(n) = &name {
        arg(&format!("--{kind}"));
        arg(n);
    }
    if a.release {
        arg(&"--release");
    }
    if let Some(profile) = &a.profile {
        arg(&"--profile");
        arg(profile);
    }
    for f in &a.features {
        arg(&"--features");
        arg(f);
    }
    if a.all_features {
        arg(&"--all-features");
    }
    if a.no_default_features {
        arg(&"--no-default-features");
    }
    if let Some(t) = &a.target {
        arg(&"--target");
        arg(t);
    }
    if let Some(t) = &a.target_dir {
        arg(&"--target-dir");
        arg(t);
    }
    if let Some(j) = &a.jobs {
        arg(&"--jobs");
        arg(j);
    }
    for (on, flag) in [
        (a.locked, "--locked"),
        (a.frozen, "--frozen"),
        (a.offline, "--offline"),
        (a.quiet, "--quiet"),
    ] {
        if on {
            arg(&flag);
        }
    }
    for _ in 0..a.verbose {
        arg(&"--verbose");
    }
    p.name = name;

    if !a.no_stack_setup {
        let profile = profile_name(a);
        let keys = |name: &str| {
            let var = |key: &str| env(&format!("CARGO_PROFILE_{}_{key}", profile_env_name(name)));
            let (config, manifest) = (config.profiles.get(name), ws.profiles.get(name));
            ProfileKeys {
                debug: var("DEBUG").is_some()
                    || config.is_some_and(|k| k.debug)
                    || manifest.is_some_and(|k| k.debug),
                // Cargo's precedence: variables, config, manifest.
                inherits: var("INHERITS")
                    .map(|v| v.to_string_lossy().into_owned())
                    .or_else(|| config.and_then(|k| k.inherits.clone()))
                    .or_else(|| manifest.and_then(|k| k.inherits.clone())),
            }
        };
        if needs_line_tables(profile, keys) {
            p.build_env.push((
                format!("CARGO_PROFILE_{}_DEBUG", profile_env_name(profile)),
                "line-tables-only".into(),
            ));
        }
        // Cargo takes its flags from the first of these that is set and ignores the
        // rest, config files included: append to that one.
        let frame_pointers = if let Some(mut flags) = env("CARGO_ENCODED_RUSTFLAGS") {
            if !flags.is_empty() {
                flags.push("\x1f");
            }
            flags.push("-C\x1fforce-frame-pointers=yes");
            p.build_env.push(("CARGO_ENCODED_RUSTFLAGS".into(), flags));
            true
        } else if let Some(mut flags) = env("RUSTFLAGS") {
            flags.push(" -C force-frame-pointers=yes");
            p.build_env.push(("RUSTFLAGS".into(), flags));
            true
        } else {
            // Flags the config already has would only make the build differ from (and
            // not share artifacts with) a plain `cargo build`.
            if !config.build_frame_pointers {
                p.build_args.push("--config".into());
                p.build_args
                    .push(r#"build.rustflags=["-C","force-frame-pointers=yes"]"#.into());
            }
            !config.target
        };
        if frame_pointers && env("SPANPROF_UNWIND").is_none() {
            p.run_env.push(("SPANPROF_UNWIND".into(), "fp".into()));
        }
    }

    p.run_args.push("run".into());
    if let Some(r) = a.rate {
        p.run_args.push("--rate".into());
        p.run_args.push(r.to_string().into());
    }
    if let Some(o) = &a.output {
        p.run_args.push("-o".into());
        p.run_args.push(o.into());
    }
    if let Some(s) = &a.svg {
        p.run_args.push("--svg".into());
        p.run_args.push(s.into());
    }
    if a.no_svg {
        p.run_args.push("--no-svg".into());
    }
    p
}

/// The name a package ID spec (`name`, `name@1.2.3`, `name:1.2.3`,
/// `path+file:///…#name@1.2.3`) selects.
fn spec_name(spec: &str) -> &str {
    let spec = spec.rsplit_once('#').map_or(spec, |(_, s)| s);
    spec.split(['@', ':']).next().unwrap_or(spec)
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

/// The `[profile.NAME]` tables of a manifest.
fn manifest_profiles(toml: &str) -> std::collections::BTreeMap<String, ProfileKeys> {
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

/// What `cargo metadata` (run with `a`'s manifest and config) and the workspace's root
/// manifest say; nothing when `run` needs neither `default-run` nor the profiles.
fn workspace(a: &RunArgs) -> Workspace {
    let wants_default_run = a.bin.is_none() && a.example.is_none();
    let wants_profiles = !a.no_stack_setup && !matches!(profile_name(a), "dev" | "test");
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

/// What cargo's config files, `--config` values and variables say, as far as stack
/// setup cares. Read roughly (no TOML parser): a misreading costs either a build that
/// does not share artifacts with plain `cargo build`, the DWARF unwinder instead of the
/// fast one, or line tables instead of the debug info the user chose — never wrong
/// stacks.
#[derive(Debug, Default, Clone, PartialEq)]
struct ConfigFlags {
    /// `target.<triple or cfg>.rustflags` are set: cargo ignores `build.rustflags`.
    target: bool,
    /// `build.rustflags` already force frame pointers.
    build_frame_pointers: bool,
    /// `profile.NAME.debug` and `profile.NAME.inherits`, by `NAME`.
    profiles: std::collections::BTreeMap<String, ProfileKeys>,
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

/// What one config file (or `--config` value) says.
#[derive(Debug, Default, PartialEq)]
struct ConfigText {
    /// It sets `target.*.rustflags`.
    target: bool,
    /// What its `build.rustflags` say about frame pointers.
    build_frame_pointers: Option<bool>,
    /// Its `profile.NAME.debug` and `profile.NAME.inherits`, by `NAME`.
    profiles: std::collections::BTreeMap<String, ProfileKeys>,
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
fn read_config(toml: &str) -> ConfigText {
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

/// What cargo, run in `cwd` with `--config` values `cli`, would read: those values,
/// config files of `cwd` and its parents and of `$CARGO_HOME`,
/// `CARGO_TARGET_*_RUSTFLAGS` and `CARGO_BUILD_RUSTFLAGS`.
fn config_flags(cwd: &Path, cli: &[String]) -> ConfigFlags {
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
    let mut profiles = std::collections::BTreeMap::<String, ProfileKeys>::new();
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

/// The executables a `cargo build --message-format=json` run reports, as
/// (kind, name, path); kind is `bin` or `example`.
fn executables(json_lines: &str) -> Vec<(String, String, PathBuf)> {
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
fn pick(
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

fn spanprof_exe() -> PathBuf {
    let name = format!("spanprof{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|me| me.parent().map(|d| d.join(&name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Why the build `p` of `a` failed, as far as we can tell: cargo has said the rest.
fn build_failed(a: &RunArgs, p: &Plan) -> String {
    let profile = profile_name(a);
    let debug = format!("CARGO_PROFILE_{}_DEBUG", profile_env_name(profile));
    // With CARGO_PROFILE_<NAME>_DEBUG set by us, cargo reports an undefined profile as
    // one "missing an `inherits` directive", which would send the user hunting. (When
    // the user set it, or nobody did, cargo's message is about what the user wrote.)
    if !["dev", "release", "test", "bench"].contains(&profile)
        && p.build_env.iter().any(|(k, _)| *k == debug)
    {
        format!(
            "cargo build failed (if cargo says profile `{profile}` is missing `inherits`, \
             it is not defined: add [profile.{profile}] to Cargo.toml)"
        )
    } else {
        "cargo build failed".into()
    }
}

/// README's install command, which installs `spanprof` with `cargo-spanprof`.
const INSTALL: &str = "cargo install --locked --path profiler-cli";

fn cannot_run_spanprof(e: &std::io::Error) -> String {
    format!("cannot run spanprof ({e}); install it with `{INSTALL}`")
}

fn fail(problem: impl std::fmt::Display) -> ExitCode {
    eprintln!("cargo-spanprof: {problem}");
    ExitCode::FAILURE
}

/// The desktop's "open this file" command.
fn opener() -> &'static str {
    if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    }
}

/// Starts `program file` without waiting for it (a viewer may stay open for hours).
fn open_with(program: &str, file: &Path) -> Result<(), String> {
    Command::new(program)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| format!("cannot open {} with {program}: {e}", file.display()))
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn run(a: RunArgs) -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let config = if a.no_stack_setup {
        ConfigFlags::default()
    } else {
        config_flags(&cwd, &a.config)
    };
    let p = plan(&a, |k| std::env::var_os(k), &config, &workspace(&a));

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(&p.build_args)
        .envs(p.build_env.iter().map(|(k, v)| (k, v)));
    let out = match build.stderr(Stdio::inherit()).output() {
        Ok(o) => o,
        Err(e) => return fail(format!("cannot run cargo: {e}")),
    };
    if !out.status.success() {
        return fail(build_failed(&a, &p));
    }
    let exe = match pick(
        &executables(&String::from_utf8_lossy(&out.stdout)),
        p.kind,
        p.name.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };

    // Only a flamegraph this run drew is opened, not one left by an earlier run.
    let svg = a.svg.clone().unwrap_or_else(|| PathBuf::from("heap.svg"));
    let svg_before = modified(&svg);
    let mut run = Command::new(spanprof_exe());
    run.args(&p.run_args)
        .envs(p.run_env.iter().map(|(k, v)| (k, v)))
        .arg("--")
        .arg(&exe)
        .args(&a.args);
    let code = match run.status() {
        Ok(s) => s.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1),
        Err(e) => return fail(cannot_run_spanprof(&e)),
    };
    if a.open {
        match modified(&svg) {
            Some(t) if Some(t) != svg_before => {
                if let Err(e) = open_with(opener(), &svg) {
                    eprintln!("cargo-spanprof: warning: {e}");
                }
            }
            _ => eprintln!(
                "cargo-spanprof: warning: no flamegraph was drawn to {}; nothing to open",
                svg.display()
            ),
        }
    }
    ExitCode::from(code)
}

fn main() -> ExitCode {
    // `cargo spanprof …` runs `cargo-spanprof spanprof …`: drop the subcommand name.
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "spanprof") {
        args.remove(1);
    }
    match Cli::parse_from(args).command {
        Sub::Run(a) => run(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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

    fn parse(args: &[&str]) -> Result<RunArgs, clap::Error> {
        let argv = ["cargo-spanprof", "run"].iter().chain(args);
        Cli::try_parse_from(argv).map(|c| match c.command {
            Sub::Run(a) => a,
        })
    }

    /// The plan for `args` with the environment `env`, the config `config` and the
    /// workspace `ws`.
    fn plan_in(args: &[&str], env: &[(&str, &str)], config: &ConfigFlags, ws: &Workspace) -> Plan {
        let env: HashMap<String, OsString> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        plan(&parse(args).unwrap(), |k| env.get(k).cloned(), config, ws)
    }

    /// The plan for `args` with the environment `env`, no config and no workspace
    /// settings.
    fn plan_for(args: &[&str], env: &[(&str, &str)]) -> Plan {
        plan_in(args, env, &ConfigFlags::default(), &Workspace::default())
    }

    fn strings(v: &[OsString]) -> Vec<&str> {
        v.iter().map(|s| s.to_str().unwrap()).collect()
    }

    fn env_of<'a>(env: &'a [(String, OsString)], key: &str) -> Option<&'a str> {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.to_str().unwrap())
    }

    const FP_CONFIG: &str = r#"build.rustflags=["-C","force-frame-pointers=yes"]"#;

    #[test]
    fn cargo_flags_are_passed_to_the_build_and_run_flags_to_spanprof_run() {
        let p = plan_for(
            &[
                "--manifest-path",
                "x/Cargo.toml",
                "-p",
                "app",
                "--example",
                "demo",
                "--profile",
                "prof-fast",
                "--features",
                "a,b",
                "-F",
                "c d",
                "--all-features",
                "--no-default-features",
                "--target-dir",
                "tgt",
                "--target",
                "aarch64-unknown-linux-gnu",
                "--config",
                "net.retry=5",
                "-j",
                "-1",
                "--locked",
                "--frozen",
                "--offline",
                "-vv",
                "--config",
                "cfg.toml",
                "--rate",
                "1",
                "-o",
                "p.json",
                "--svg",
                "h.svg",
                "--no-stack-setup",
            ],
            &[],
        );
        assert_eq!(
            strings(&p.build_args),
            [
                "build",
                "--message-format=json-render-diagnostics",
                "--config",
                "net.retry=5",
                "--config",
                "cfg.toml",
                "--manifest-path",
                "x/Cargo.toml",
                "-p",
                "app",
                "--example",
                "demo",
                "--profile",
                "prof-fast",
                "--features",
                "a,b",
                "--features",
                "c d",
                "--all-features",
                "--no-default-features",
                "--target",
                "aarch64-unknown-linux-gnu",
                "--target-dir",
                "tgt",
                "--jobs",
                "-1",
                "--locked",
                "--frozen",
                "--offline",
                "--verbose",
                "--verbose",
            ]
        );
        assert!(p.build_env.is_empty() && p.run_env.is_empty(), "{p:?}");
        assert_eq!((p.kind, p.name.as_deref()), ("example", Some("demo")));
        assert_eq!(
            strings(&p.run_args),
            ["run", "--rate", "1", "-o", "p.json", "--svg", "h.svg"]
        );
        let p = plan_for(&["--bin", "tool", "--release", "--no-svg", "-q"], &[]);
        assert_eq!(
            strings(&p.build_args[2..6]),
            ["--bin", "tool", "--release", "--quiet"]
        );
        assert_eq!((p.kind, p.name.as_deref()), ("bin", Some("tool")));
        assert_eq!(strings(&p.run_args), ["run", "--no-svg"]);
    }

    #[test]
    fn the_users_config_values_come_before_the_stack_setups() {
        let p = plan_for(
            &["--config", "build.rustflags=['--cfg','mine']", "--release"],
            &[],
        );
        let args = strings(&p.build_args);
        assert_eq!(args[2..4], ["--config", "build.rustflags=['--cfg','mine']"]);
        assert_eq!(args[args.len() - 2..], ["--config", FP_CONFIG]);
    }

    #[test]
    fn cargo_flag_values_and_conflicts_are_checked_before_anything_is_built() {
        for (args, jobs) in [(&["-j", "2"][..], "2"), (&["--jobs=default"], "default")] {
            assert_eq!(parse(args).unwrap().jobs.as_deref(), Some(jobs));
        }
        assert_eq!(parse(&["-v", "--verbose", "-v"]).unwrap().verbose, 3);
        for bad in [&["-q", "-v"][..], &["--target"], &["-j"]] {
            let e = parse(bad).err().unwrap_or_else(|| panic!("{bad:?} parsed"));
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }

    /// Whether the plan for `args` adds line tables, given these sources.
    fn line_tables(args: &[&str], env: &[(&str, &str)], config: &str, manifest: &str) -> bool {
        let config = ConfigFlags {
            profiles: read_config(config).profiles,
            ..ConfigFlags::default()
        };
        let ws = Workspace {
            profiles: manifest_profiles(manifest),
            ..Workspace::default()
        };
        let p = plan_in(args, env, &config, &ws);
        let var = p
            .build_env
            .iter()
            .find(|(k, _)| k.starts_with("CARGO_PROFILE_"));
        match var {
            Some((k, v)) => {
                let profile = args
                    .iter()
                    .position(|&a| a == "--profile")
                    .map_or("RELEASE".into(), |i| profile_env_name(args[i + 1]));
                assert_eq!(
                    (k.as_str(), v.to_str().unwrap()),
                    (
                        format!("CARGO_PROFILE_{profile}_DEBUG").as_str(),
                        "line-tables-only"
                    ),
                    "{args:?}"
                );
                true
            }
            None => false,
        }
    }

    #[test]
    fn line_tables_are_added_only_to_profiles_without_debug_info_of_the_users_choosing() {
        // Nothing set anywhere: the profiles cargo builds without debug info get them.
        for args in [
            &["--release"][..],
            &["-r"],
            &["--profile", "release"],
            &["--profile", "bench"],
            // Undefined: cargo says so (see `an_undefined_custom_profile_is_explained`).
            &["--profile", "prof-fast"],
        ] {
            assert!(line_tables(args, &[], "", ""), "{args:?}");
        }
        // Full debug info already (a plain `cargo build` is shared, nothing rebuilt).
        for args in [&[][..], &["--profile", "dev"], &["--profile", "test"]] {
            assert!(!line_tables(args, &[], "", ""), "{args:?}");
            assert!(plan_for(args, &[]).build_env.is_empty(), "{args:?}");
        }

        // The root manifest.
        let m = "[package]\nname = \"x\"\n\n[profile.release]\ndebug = true\n\n\
                 [profile.prof]\ninherits = \"release\"\n\n\
                 [profile.chain]\ninherits = \"prof\"\n\n\
                 [profile.lean]\ninherits = \"release\"\ndebug = false\n\n\
                 [profile.fast-dev]\ninherits = \"dev\"\nopt-level = 1\n\n\
                 [profile.t]\ninherits = \"test\"\n";
        for profile in ["release", "bench", "prof", "chain", "lean", "fast-dev", "t"] {
            assert!(
                !line_tables(&["--profile", profile], &[], "", m),
                "{profile}"
            );
        }
        // Settings of a package, of build scripts, or of another profile are not the
        // profile's own debug info.
        let m = "[profile.release]\nopt-level = 3\n\
                 [profile.release.package.foo]\ndebug = 0\n\
                 [profile.release.build-override]\ndebug = 0\n\
                 [profile.dev]\ndebug = 1\n\
                 [profile.prof]\ninherits = \"release\"\n";
        for profile in ["release", "bench", "prof"] {
            assert!(
                line_tables(&["--profile", profile], &[], "", m),
                "{profile}"
            );
        }
        // bench's own `debug`.
        assert!(!line_tables(
            &["--profile", "bench"],
            &[],
            "",
            "[profile.bench]\ndebug = \"line-tables-only\"\n"
        ));

        // Cargo config files and `--config` values.
        for config in [
            "[profile.release]\ndebug = \"full\"\n",
            "profile.release.debug = 2",
            "[profile]\nrelease = { opt-level = 3, debug = true }\n",
        ] {
            assert!(!line_tables(&["--release"], &[], config, ""), "{config}");
            assert!(
                !line_tables(&["--profile", "bench"], &[], config, ""),
                "{config}"
            );
        }
        assert!(!line_tables(
            &["--profile", "prof"],
            &[],
            "[profile.prof]\ninherits = 'dev'  # quick\n",
            ""
        ));
        // The config's `inherits` outranks the manifest's, as in cargo.
        assert!(!line_tables(
            &["--profile", "prof"],
            &[],
            "profile.prof.inherits = \"dev\"",
            "[profile.prof]\ninherits = \"release\"\n"
        ));

        // Variables, the profile's own or the one it inherits from.
        let var = [("CARGO_PROFILE_RELEASE_DEBUG", "full")];
        for profile in ["release", "bench"] {
            assert!(
                !line_tables(&["--profile", profile], &var, "", ""),
                "{profile}"
            );
        }
        assert!(!line_tables(
            &["--profile", "prof-fast"],
            &[("CARGO_PROFILE_PROF_FAST_INHERITS", "dev")],
            "",
            "[profile.prof-fast]\ninherits = \"release\"\n"
        ));
        // Another profile's variable is not this build's.
        assert!(line_tables(
            &["--release"],
            &[("CARGO_PROFILE_DEV_DEBUG", "0")],
            "",
            ""
        ));
    }

    #[test]
    fn stack_setup_adds_frame_pointers_in_every_profile() {
        for args in [
            &[][..],
            &["--release"][..],
            &["--profile", "prof-fast"][..],
            &["--profile", "dev"][..],
        ] {
            let p = plan_for(args, &[]);
            assert_eq!(
                strings(&p.build_args[p.build_args.len() - 2..]),
                ["--config", FP_CONFIG]
            );
            assert_eq!(
                p.run_env,
                [("SPANPROF_UNWIND".to_string(), OsString::from("fp"))]
            );
        }
    }

    #[test]
    fn stack_setup_keeps_what_the_user_set() {
        let p = plan_for(
            &["--release"],
            &[
                ("CARGO_PROFILE_RELEASE_DEBUG", "full"),
                ("SPANPROF_UNWIND", "dwarf"),
            ],
        );
        assert!(p.build_env.is_empty(), "{p:?}");
        assert!(p.run_env.is_empty(), "{p:?}");
        assert!(strings(&p.build_args).contains(&FP_CONFIG));
    }

    #[test]
    fn frame_pointers_go_where_cargo_takes_its_flags_from() {
        let p = plan_for(&[], &[("RUSTFLAGS", "-C target-cpu=native")]);
        assert_eq!(
            env_of(&p.build_env, "RUSTFLAGS"),
            Some("-C target-cpu=native -C force-frame-pointers=yes")
        );
        assert!(!strings(&p.build_args).contains(&"--config"));
        assert_eq!(env_of(&p.run_env, "SPANPROF_UNWIND"), Some("fp"));

        // The encoded variable wins over RUSTFLAGS in cargo, so it is the one extended.
        let p = plan_for(
            &[],
            &[
                ("RUSTFLAGS", "--cfg ignored"),
                ("CARGO_ENCODED_RUSTFLAGS", "--cfg\x1fmine"),
            ],
        );
        assert_eq!(
            env_of(&p.build_env, "CARGO_ENCODED_RUSTFLAGS"),
            Some("--cfg\x1fmine\x1f-C\x1fforce-frame-pointers=yes")
        );
        assert_eq!(env_of(&p.build_env, "RUSTFLAGS"), None);
        // Empty means "no flags" to cargo: no empty flag in front.
        let p = plan_for(&[], &[("CARGO_ENCODED_RUSTFLAGS", "")]);
        assert_eq!(
            env_of(&p.build_env, "CARGO_ENCODED_RUSTFLAGS"),
            Some("-C\x1fforce-frame-pointers=yes")
        );
    }

    #[test]
    fn target_rustflags_in_a_config_keep_the_dwarf_unwinder() {
        let a = parse(&["--release"]).unwrap();
        let target = ConfigFlags {
            target: true,
            ..ConfigFlags::default()
        };
        let ws = Workspace::default();
        let p = plan(&a, |_| None, &target, &ws);
        assert!(strings(&p.build_args).contains(&FP_CONFIG));
        assert!(p.run_env.is_empty(), "{p:?}");
        // RUSTFLAGS shadows the config's target flags: the frame pointers are in.
        let p = plan(
            &a,
            |k| (k == "RUSTFLAGS").then(|| OsString::from("")),
            &target,
            &ws,
        );
        assert_eq!(env_of(&p.run_env, "SPANPROF_UNWIND"), Some("fp"));
    }

    #[test]
    fn frame_pointers_the_config_already_forces_are_not_added_again() {
        let a = parse(&["--release"]).unwrap();
        let ws = Workspace::default();
        let has_fp = ConfigFlags {
            build_frame_pointers: true,
            ..ConfigFlags::default()
        };
        let p = plan(&a, |_| None, &has_fp, &ws);
        assert!(!strings(&p.build_args).contains(&"--config"), "{p:?}");
        assert_eq!(env_of(&p.run_env, "SPANPROF_UNWIND"), Some("fp"));
        let p = plan(
            &a,
            |_| None,
            &ConfigFlags {
                target: true,
                ..has_fp
            },
            &ws,
        );
        assert!(p.run_env.is_empty(), "{p:?}");
    }

    #[test]
    fn no_stack_setup_builds_with_the_package_settings_only() {
        let p = plan_for(
            &["--release", "--no-stack-setup"],
            &[("RUSTFLAGS", "-C opt-level=2")],
        );
        assert!(p.build_env.is_empty() && p.run_env.is_empty(), "{p:?}");
        assert_eq!(
            strings(&p.build_args),
            [
                "build",
                "--message-format=json-render-diagnostics",
                "--release"
            ]
        );
    }

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
            (FP_CONFIG, (false, Some(true))),
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

    #[test]
    fn default_run_is_built_and_run_unless_a_target_is_named() {
        let ws = Workspace {
            default_run: Some("feat".into()),
            ..Workspace::default()
        };
        let config = ConfigFlags::default();
        let p = plan_in(&["--release"], &[], &config, &ws);
        assert_eq!(strings(&p.build_args[2..5]), ["--bin", "feat", "--release"]);
        assert_eq!((p.kind, p.name.as_deref()), ("bin", Some("feat")));
        let p = plan_in(&["--bin", "other"], &[], &config, &ws);
        assert_eq!(strings(&p.build_args[2..4]), ["--bin", "other"]);
        assert_eq!(p.name.as_deref(), Some("other"));
        let p = plan_in(&["--example", "demo"], &[], &config, &ws);
        assert_eq!(strings(&p.build_args[2..4]), ["--example", "demo"]);
        assert_eq!((p.kind, p.name.as_deref()), ("example", Some("demo")));
        // No `default-run`: every bin is built, and `pick` asks for one if there are
        // several.
        let p = plan_for(&["--release"], &[]);
        assert_eq!((p.kind, p.name), ("bin", None));
        assert_eq!(strings(&p.build_args[2..3]), ["--release"]);
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

    #[test]
    fn program_arguments_come_only_after_the_double_dash() {
        let a = parse(&["--release", "--", "--features", "x", "-o"]).unwrap();
        assert!(a.release && a.features.is_empty() && a.output.is_none());
        assert_eq!(a.args, ["--features", "x", "-o"]);
        for bad in [
            &["--release", "--bogus-flag", "--", "x"][..],
            &["--release", "extra"][..],
            &["--release", "--profile", "prof"][..],
            &["--no-svg", "--open"][..],
        ] {
            let e = parse(bad).err().unwrap_or_else(|| panic!("{bad:?} parsed"));
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn an_undefined_custom_profile_is_explained() {
        let failed = |args: &[&str], env: &[(&str, &str)]| {
            build_failed(&parse(args).unwrap(), &plan_for(args, env))
        };
        let msg = failed(&["--profile", "prof"], &[]);
        assert!(
            msg.contains("[profile.prof]") && !msg.contains('\n'),
            "{msg}"
        );
        // Only when the stack setup's variable made cargo's message misleading.
        for (args, env) in [
            (&["--profile", "release"][..], &[][..]),
            (&["--profile", "prof", "--no-stack-setup"], &[]),
            (
                &["--profile", "prof"],
                &[("CARGO_PROFILE_PROF_DEBUG", "1")][..],
            ),
        ] {
            assert_eq!(failed(args, env), "cargo build failed", "{args:?}");
        }
    }

    #[test]
    fn a_missing_spanprof_is_installed_with_the_readmes_command() {
        let e = cannot_run_spanprof(&std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(
            e.starts_with("cannot run spanprof (")
                && e.ends_with("install it with `cargo install --locked --path profiler-cli`"),
            "{e}"
        );
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        assert!(
            readme
                .lines()
                .any(|l| l.trim_start_matches("$ ").starts_with(INSTALL)),
            "README does not install with `{INSTALL}`"
        );
    }

    #[test]
    fn a_missing_opener_is_an_error_message_not_a_panic() {
        let e = open_with("spanprof-no-such-opener", Path::new("heap.svg")).unwrap_err();
        assert!(
            e.starts_with("cannot open heap.svg with spanprof-no-such-opener: ")
                && !e.contains('\n'),
            "{e}"
        );
    }
}
