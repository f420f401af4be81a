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
//! - the build gets `CARGO_PROFILE_<PROFILE>_STRIP=none` when the profile strips what
//!   stacks are named with: `strip = true`, `"symbols"` (the symbols) or `"debuginfo"`
//!   (the debug info), set for the profile or inherited along the same chain (`test`
//!   inherits from `dev`), in the root manifest, a config file, a `--config` (which
//!   outranks variables: a `--config profile.<name>.strip="none"` then follows the
//!   user's) or that variable. Otherwise every sampled stack would be `[unknown]` (or
//!   lose its `file:line`) with no warning anywhere, so cargo-spanprof says on stderr
//!   that it did so and why;
//! - the build gets `-C force-frame-pointers=yes`: appended to `CARGO_ENCODED_RUSTFLAGS`
//!   or `RUSTFLAGS` when set (cargo uses the first of these it finds and ignores every
//!   other source of flags), else to `CARGO_BUILD_RUSTFLAGS` (the user's, or a new one),
//!   which cargo joins with the `build.rustflags` of config files (after them) and of
//!   `--config` values (before them), whether each of those is a string or an array. A
//!   `--config build.rustflags=[…]` would not do: cargo cannot merge it with a string
//!   `build.rustflags` of a config file ("expected string, but found array"), and a
//!   string one would replace the user's string. Not added when the user's flags
//!   already force frame pointers (the build then shares its artifacts with a plain
//!   `cargo build` of the same profile); not added either when a `--config` of the
//!   user's turns them off (`force-frame-pointers=no`), which comes after and wins;
//! - the program runs with `SPANPROF_UNWIND=fp` when the frame pointers reach the
//!   build, unless the user set `SPANPROF_UNWIND`.
//!
//! Cargo gives `target.<triple>.rustflags` (and `target.<cfg>.rustflags`) precedence
//! over `build.rustflags`: when a config file, a `--config` or a
//! `CARGO_TARGET_<TRIPLE>_RUSTFLAGS` variable sets them, the frame pointers do not reach
//! the build, so `SPANPROF_UNWIND` is left alone and the profiler uses its DWARF
//! unwinder (slower, still correct stacks). Should frame pointers be missing anyway,
//! the program notices, unwinds with DWARF and its profile carries a warning that
//! `spanprof run` prints.
//!
//! This file is the command line and the run: it gathers what cargo would read
//! (`config`, `metadata`), has `plan` make the two commands of it, runs the build, finds
//! the executable it made (`artifacts`), runs `spanprof run` (which opens the HTML report with `--open`).

mod artifacts;
mod config;
// Shared with `spanprof run`, which also names the signals in its messages.
#[allow(dead_code)]
#[path = "../../forward.rs"]
mod forward;
mod metadata;
mod plan;

use artifacts::{executables, pick};
use clap::{Args, Parser, Subcommand};
use config::{ConfigFlags, config_flags};
use plan::{Plan, build_failed, plan};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

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
  - a profile that strips the symbols or debug info stacks are named with (strip =
    true, \"symbols\" or \"debuginfo\", its own or inherited; in Cargo.toml, a cargo
    config, --config or CARGO_PROFILE_<PROFILE>_STRIP) is built with
    CARGO_PROFILE_<PROFILE>_STRIP=none (and --config profile.<PROFILE>.strip=\"none\"
    after a --config of yours that sets it), and a line on stderr says so;
  - cargo builds with -C force-frame-pointers=yes (appended to CARGO_ENCODED_RUSTFLAGS
    or RUSTFLAGS when set, else to CARGO_BUILD_RUSTFLAGS, which cargo joins with the
    build.rustflags of cargo configs and --config, string or array; nothing is added
    when those already have it, or when a --config of yours turns them off);
  - the program runs with SPANPROF_UNWIND=fp, the fast frame-pointer unwinder (unless
    SPANPROF_UNWIND is set, or no frame pointers were added, e.g. because
    target.<triple>.rustflags in a cargo config override build.rustflags: then the
    DWARF unwinder is used).

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
    /// stack setup's own --config, if any).
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
    /// The HTML report [default: report.html].
    #[arg(long, value_name = "FILE", help_heading = RUN)]
    html: Option<PathBuf>,
    /// Do not write the HTML report.
    #[arg(long, conflicts_with = "html", help_heading = RUN)]
    no_html: bool,
    /// Open the HTML report when done ($BROWSER, else xdg-open; open on macOS).
    #[arg(long, conflicts_with = "no_html", help_heading = RUN)]
    open: bool,
    /// The program's arguments (only after `--`).
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<OsString>,
}

/// The profile being built, as cargo names it.
fn profile_name(a: &RunArgs) -> &str {
    match (&a.profile, a.release) {
        (Some(p), _) => p,
        (None, true) => "release",
        (None, false) => "dev",
    }
}

/// The `spanprof` next to this binary (where `cargo install` puts both), else the one
/// on `PATH`.
fn spanprof_exe() -> PathBuf {
    let name = format!("spanprof{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|me| me.parent().map(|d| d.join(&name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
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

fn run(a: RunArgs) -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let config = if a.no_stack_setup {
        ConfigFlags::default()
    } else {
        config_flags(&cwd, &a.config)
    };
    let ws = metadata::workspace(&a);
    let p = plan(&a, |k| std::env::var_os(k), &config, &ws);
    for note in &p.notes {
        eprintln!("cargo-spanprof: {note}");
    }
    let exe = match build(&a, &p) {
        Ok(exe) => exe,
        Err(e) => return fail(e),
    };
    // `spanprof run --open` opens the report it wrote (never one an earlier run left).
    let code = match run_spanprof(&p, &exe, &a.args) {
        Ok(code) => code,
        Err(e) => return fail(e),
    };
    ExitCode::from(code)
}

/// Runs the build of plan `p` (of `a`): the executable it made.
fn build(a: &RunArgs, p: &Plan) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(&p.build_args)
        .envs(p.build_env.iter().map(|(k, v)| (k, v)));
    let out = build
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(build_failed(a, p));
    }
    pick(
        &executables(&String::from_utf8_lossy(&out.stdout)),
        p.kind,
        p.name.as_deref(),
    )
}

/// Runs `exe` with `args` under `spanprof run` as plan `p` says: its exit code.
fn run_spanprof(p: &Plan, exe: &Path, args: &[OsString]) -> Result<u8, String> {
    // Stay alive on Ctrl-C or a stop signal until `spanprof run` has rendered the
    // profile: cargo-spanprof passes them on, as `spanprof run` does to the program.
    let forwarding = forward::start();
    let mut child = Command::new(spanprof_exe())
        .args(&p.run_args)
        .envs(p.run_env.iter().map(|(k, v)| (k, v)))
        .arg("--")
        .arg(exe)
        .args(args)
        .spawn()
        .map_err(|e| cannot_run_spanprof(&e))?;
    forwarding.child(child.id());
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for spanprof: {e}"))?;
    drop(forwarding);
    Ok(status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(1))
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

    /// `cargo spanprof run ARGS` parsed (also for the other modules' tests).
    pub(crate) fn parse(args: &[&str]) -> Result<RunArgs, clap::Error> {
        let argv = ["cargo-spanprof", "run"].iter().chain(args);
        Cli::try_parse_from(argv).map(|c| match c.command {
            Sub::Run(a) => a,
        })
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

    #[test]
    fn program_arguments_come_only_after_the_double_dash() {
        let a = parse(&["--release", "--", "--features", "x", "-o"]).unwrap();
        assert!(a.release && a.features.is_empty() && a.output.is_none());
        assert_eq!(a.args, ["--features", "x", "-o"]);
        for bad in [
            &["--release", "--bogus-flag", "--", "x"][..],
            &["--release", "extra"][..],
            &["--release", "--profile", "prof"][..],
            &["--no-html", "--open"][..],
        ] {
            let e = parse(bad).err().unwrap_or_else(|| panic!("{bad:?} parsed"));
            assert_eq!(e.exit_code(), 2, "{bad:?}");
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
}
