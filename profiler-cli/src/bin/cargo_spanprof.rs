//! `cargo spanprof run [CARGO OPTIONS] [RUN OPTIONS] [-- ARGS…]`: builds the program
//! with cargo (`--message-format=json` to learn where the executable went), then hands
//! it to `spanprof run` (the `spanprof` binary next to this one, else the one on
//! `PATH`), which runs it with a profile and renders it.
//!
//! Only the arguments after `--` reach the program: an unknown flag before it is a
//! usage error, not the start of the program's arguments, so a misspelt or
//! unsupported cargo flag never silently changes what is built.
//!
//! Stack setup (off with `--no-stack-setup`). A crate with cargo's default release
//! profile has no debug info, so sampled stacks would have no `file:line` and inlined
//! functions would vanish; without frame pointers the fast unwinder cannot walk the
//! stack. So by default:
//!
//! - the build gets `CARGO_PROFILE_<PROFILE>_DEBUG=line-tables-only` (as
//!   cargo-flamegraph does), unless the user set that variable;
//! - the build gets `-C force-frame-pointers=yes`: appended to `CARGO_ENCODED_RUSTFLAGS`
//!   or `RUSTFLAGS` when set (cargo uses the first of these it finds and ignores every
//!   other source of flags), else as `--config build.rustflags=[…]`, which cargo joins
//!   with the user's own `build.rustflags` (not added when those already force frame
//!   pointers: the build then shares its artifacts with a plain `cargo build` of the
//!   same profile);
//! - the program runs with `SPANPROF_UNWIND=fp`, unless the user set `SPANPROF_UNWIND`.
//!
//! Cargo gives `target.<triple>.rustflags` (and `target.<cfg>.rustflags`) precedence
//! over `build.rustflags`: when a config file or a `CARGO_TARGET_<TRIPLE>_RUSTFLAGS`
//! variable sets them, the frame pointers are not added, so `SPANPROF_UNWIND` is left
//! alone and the profiler uses its DWARF unwinder (slower, still correct stacks). Should
//! frame pointers be missing anyway, the program notices, unwinds with DWARF and its
//! profile carries a warning that `spanprof run` prints.

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
Stack setup (default; --no-stack-setup turns it off):
  - cargo builds with CARGO_PROFILE_<PROFILE>_DEBUG=line-tables-only, so sampled
    stacks have file:line and inlined functions (unless that variable is set);
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
    /// `spanprof run` arguments before `-- PROGRAM ARGS…`.
    run_args: Vec<OsString>,
    /// Variables set on `spanprof run` (and so on the program).
    run_env: Vec<(String, OsString)>,
}

/// The executable kind (`bin` or `example`) and name asked for.
fn wanted(a: &RunArgs) -> (&'static str, Option<&str>) {
    match (&a.bin, &a.example) {
        (_, Some(e)) => ("example", Some(e.as_str())),
        (b, None) => ("bin", b.as_deref()),
    }
}

/// The profile's name as cargo spells it in `CARGO_PROFILE_<NAME>_…` variables.
fn profile_env_name(a: &RunArgs) -> String {
    match (&a.profile, a.release) {
        (Some(p), _) => p.to_uppercase().replace('-', "_"),
        (None, true) => "RELEASE".into(),
        (None, false) => "DEV".into(),
    }
}

/// The commands for `a`, given the environment `env` and what cargo's config says.
fn plan(a: &RunArgs, env: impl Fn(&str) -> Option<OsString>, config: ConfigFlags) -> Plan {
    let mut p = Plan::default();
    let mut arg = |s: &dyn AsRef<OsStr>| p.build_args.push(s.as_ref().to_owned());
    arg(&"build");
    arg(&"--message-format=json-render-diagnostics");
    if let Some(m) = &a.manifest_path {
        arg(&"--manifest-path");
        arg(m);
    }
    if let Some(pkg) = &a.package {
        arg(&"-p");
        arg(pkg);
    }
    if let (kind, Some(name)) = wanted(a) {
        arg(&format!("--{kind}"));
        arg(&name);
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
    if let Some(t) = &a.target_dir {
        arg(&"--target-dir");
        arg(t);
    }

    if !a.no_stack_setup {
        let debug = format!("CARGO_PROFILE_{}_DEBUG", profile_env_name(a));
        if env(&debug).is_none() {
            p.build_env.push((debug, "line-tables-only".into()));
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

/// What cargo's config files and variables say about rustflags, as far as stack setup
/// cares. Read roughly (no TOML parser): a misreading costs either a build that does not
/// share artifacts with plain `cargo build`, or the DWARF unwinder instead of the fast
/// one — never wrong stacks.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct ConfigFlags {
    /// `target.<triple or cfg>.rustflags` are set: cargo ignores `build.rustflags`.
    target: bool,
    /// `build.rustflags` already force frame pointers.
    build_frame_pointers: bool,
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

/// Reads one config file: whether it sets `target.*.rustflags`, and what its
/// `build.rustflags` say about frame pointers.
fn read_config(toml: &str) -> (bool, Option<bool>) {
    let (mut target, mut build_fp) = (false, None);
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
            target = true;
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
                build_fp = Some(fp);
            }
        }
    }
    (target, build_fp)
}

/// What cargo, run in `cwd`, would read: config files of `cwd` and its parents and of
/// `$CARGO_HOME`, `CARGO_TARGET_*_RUSTFLAGS` and `CARGO_BUILD_RUSTFLAGS`.
fn config_flags(cwd: &Path) -> ConfigFlags {
    let mut target = std::env::vars_os().any(|(k, _)| {
        k.to_str()
            .is_some_and(|k| k.starts_with("CARGO_TARGET_") && k.ends_with("_RUSTFLAGS"))
    });
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let dirs = cwd.ancestors().map(|d| d.join(".cargo")).chain(cargo_home);
    // Cargo joins build.rustflags from every source; any "no" keeps them off.
    let mut says = Vec::new();
    for text in dirs
        .flat_map(|d| [d.join("config.toml"), d.join("config")])
        .filter_map(|f| std::fs::read_to_string(f).ok())
    {
        let (t, fp) = read_config(&text);
        target |= t;
        says.extend(fp);
    }
    if let Ok(flags) = std::env::var("CARGO_BUILD_RUSTFLAGS") {
        says.extend(frame_pointer_flag(flag_words(&flags)));
    }
    ConfigFlags {
        target,
        build_frame_pointers: !says.is_empty() && says.iter().all(|&fp| fp),
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

/// Why the build failed, as far as we can tell: cargo has said the rest.
fn build_failed(a: &RunArgs) -> String {
    match &a.profile {
        // With CARGO_PROFILE_<NAME>_DEBUG set, cargo reports an undefined profile as
        // one "missing an `inherits` directive", which would send the user hunting.
        Some(p)
            if !a.no_stack_setup && !["dev", "release", "test", "bench"].contains(&p.as_str()) =>
        {
            format!(
                "cargo build failed (if cargo says profile `{p}` is missing `inherits`, \
                 it is not defined: add [profile.{p}] to Cargo.toml)"
            )
        }
        _ => "cargo build failed".into(),
    }
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
        config_flags(&cwd)
    };
    let p = plan(&a, |k| std::env::var_os(k), config);

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
        return fail(build_failed(&a));
    }
    let (kind, name) = wanted(&a);
    let exe = match pick(
        &executables(&String::from_utf8_lossy(&out.stdout)),
        kind,
        name,
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
        Err(e) => {
            return fail(format!(
                "cannot run spanprof ({e}); install it with `cargo install --path profiler-cli --bin spanprof`"
            ));
        }
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

    /// The plan for `args` with the environment `env` and no target rustflags.
    fn plan_for(args: &[&str], env: &[(&str, &str)]) -> Plan {
        let env: HashMap<String, OsString> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        plan(
            &parse(args).unwrap(),
            |k| env.get(k).cloned(),
            ConfigFlags::default(),
        )
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
                "--target-dir",
                "tgt",
            ]
        );
        assert!(p.build_env.is_empty() && p.run_env.is_empty(), "{p:?}");
        assert_eq!(
            strings(&p.run_args),
            ["run", "--rate", "1", "-o", "p.json", "--svg", "h.svg"]
        );
        let p = plan_for(&["--bin", "tool", "--release", "--no-svg"], &[]);
        assert_eq!(strings(&p.build_args[2..5]), ["--bin", "tool", "--release"]);
        assert_eq!(strings(&p.run_args), ["run", "--no-svg"]);
    }

    #[test]
    fn stack_setup_names_the_profile_being_built() {
        for (args, var) in [
            (&[][..], "CARGO_PROFILE_DEV_DEBUG"),
            (&["--release"][..], "CARGO_PROFILE_RELEASE_DEBUG"),
            (&["-r"][..], "CARGO_PROFILE_RELEASE_DEBUG"),
            (
                &["--profile", "prof-fast"][..],
                "CARGO_PROFILE_PROF_FAST_DEBUG",
            ),
            (&["--profile", "dev"][..], "CARGO_PROFILE_DEV_DEBUG"),
        ] {
            let p = plan_for(args, &[]);
            assert_eq!(
                p.build_env,
                [(var.to_string(), OsString::from("line-tables-only"))],
                "{args:?}"
            );
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
        // Another profile's variable is not this build's.
        let p = plan_for(&[], &[("CARGO_PROFILE_RELEASE_DEBUG", "full")]);
        assert_eq!(
            env_of(&p.build_env, "CARGO_PROFILE_DEV_DEBUG"),
            Some("line-tables-only")
        );
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
            build_frame_pointers: false,
        };
        let p = plan(&a, |_| None, target);
        assert!(strings(&p.build_args).contains(&FP_CONFIG));
        assert!(p.run_env.is_empty(), "{p:?}");
        // RUSTFLAGS shadows the config's target flags: the frame pointers are in.
        let p = plan(
            &a,
            |k| (k == "RUSTFLAGS").then(|| OsString::from("")),
            target,
        );
        assert_eq!(env_of(&p.run_env, "SPANPROF_UNWIND"), Some("fp"));
    }

    #[test]
    fn frame_pointers_the_config_already_forces_are_not_added_again() {
        let a = parse(&["--release"]).unwrap();
        let has_fp = ConfigFlags {
            target: false,
            build_frame_pointers: true,
        };
        let p = plan(&a, |_| None, has_fp);
        assert!(!strings(&p.build_args).contains(&"--config"), "{p:?}");
        assert_eq!(env_of(&p.run_env, "SPANPROF_UNWIND"), Some("fp"));
        let p = plan(
            &a,
            |_| None,
            ConfigFlags {
                target: true,
                ..has_fp
            },
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
        ] {
            assert_eq!(read_config(text), want, "{text}");
        }
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
        let msg = build_failed(&parse(&["--profile", "prof"]).unwrap());
        assert!(
            msg.contains("[profile.prof]") && !msg.contains('\n'),
            "{msg}"
        );
        for args in [
            &["--profile", "release"][..],
            &["--profile", "prof", "--no-stack-setup"],
        ] {
            assert_eq!(build_failed(&parse(args).unwrap()), "cargo build failed");
        }
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
