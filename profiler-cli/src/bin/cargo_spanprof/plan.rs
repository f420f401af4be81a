//! The plan: the two commands `cargo spanprof run` starts — `cargo build` with its
//! arguments and variables, then `spanprof run` with its own — made from the arguments,
//! the environment, what cargo's config says (`config`) and what the workspace says
//! (`metadata`), short of the executable, which only the build tells (`artifacts`). A
//! pure function: `main` gathers its inputs and runs what it returns. The stack setup's
//! rules (main.rs says what they are and why) live here, with the one cargo error they
//! can make misleading.

use crate::config::{ConfigFlags, ProfileKeys, Strip};
use crate::metadata::Workspace;
use crate::{RunArgs, profile_name};
use std::ffi::{OsStr, OsString};

/// The two commands `run` starts, short of what only the build tells (the executable).
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// `cargo` arguments.
    pub build_args: Vec<OsString>,
    /// Variables set on `cargo`.
    pub build_env: Vec<(String, OsString)>,
    /// The kind of executable to run: `bin` or `example`.
    pub kind: &'static str,
    /// Its name, when one was asked for (or is the package's `default-run`).
    pub name: Option<String>,
    /// `spanprof run` arguments before `-- PROGRAM ARGS…`.
    pub run_args: Vec<OsString>,
    /// Variables set on `spanprof run` (and so on the program).
    pub run_env: Vec<(String, OsString)>,
    /// What `cargo-spanprof` says on stderr before the build (one line each).
    pub notes: Vec<String>,
}

/// The variables `plan` sees (`std::env::var_os`, in tests a table).
type Env<'a> = dyn Fn(&str) -> Option<OsString> + 'a;

/// The commands for `a`, given the environment `env`, what cargo's config says and what
/// the workspace says.
pub fn plan(
    a: &RunArgs,
    env: impl Fn(&str) -> Option<OsString>,
    config: &ConfigFlags,
    ws: &Workspace,
) -> Plan {
    let (kind, name) = target(a, ws);
    let mut p = Plan {
        build_args: build_args(a, kind, name.as_deref()),
        kind,
        name,
        run_args: run_args(a),
        ..Plan::default()
    };
    if !a.no_stack_setup {
        stack_setup(&mut p, a, &env, config, ws);
    }
    p
}

/// The kind of executable to build and run, and its name if it needs one.
fn target(a: &RunArgs, ws: &Workspace) -> (&'static str, Option<String>) {
    match (&a.bin, &a.example) {
        (_, Some(e)) => ("example", Some(e.clone())),
        (Some(b), None) => ("bin", Some(b.clone())),
        // What `cargo run` does: the package's `default-run`, else its only bin.
        (None, None) => ("bin", ws.default_run.clone()),
    }
}

/// The `cargo` arguments that build what `a` asks for, the `kind` named `name`.
fn build_args(a: &RunArgs, kind: &str, name: Option<&str>) -> Vec<OsString> {
    let mut args = Vec::new();
    let mut arg = |s: &dyn AsRef<OsStr>| args.push(s.as_ref().to_owned());
    arg(&"build");
    arg(&"--message-format=json-render-diagnostics");
    // Before the stack setup's own `--config`, which must outrank them.
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
    if let Some(n) = name {
        arg(&format!("--{kind}"));
        arg(&n);
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
    args
}

/// The `spanprof run` arguments before `-- PROGRAM ARGS…`.
fn run_args(a: &RunArgs) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["run".into()];
    if let Some(r) = a.rate {
        args.push("--rate".into());
        args.push(r.to_string().into());
    }
    if let Some(o) = &a.output {
        args.push("-o".into());
        args.push(o.into());
    }
    if let Some(s) = &a.svg {
        args.push("--svg".into());
        args.push(s.into());
    }
    if a.no_svg {
        args.push("--no-svg".into());
    }
    if let Some(h) = &a.html {
        args.push("--html".into());
        args.push(h.into());
    }
    if a.no_html {
        args.push("--no-html".into());
    }
    if a.open {
        args.push("--open".into());
    }
    args
}

/// Adds the stack setup to `p`, the plan of `a`: line tables where the user chose no
/// debug info, no strip where it would remove them or the symbols, frame pointers, and
/// the frame-pointer unwinder when they reach the build.
fn stack_setup(p: &mut Plan, a: &RunArgs, env: &Env, config: &ConfigFlags, ws: &Workspace) {
    let profile = profile_name(a);
    let keys = |name: &str| users_keys(name, env, config, ws);
    if needs_line_tables(profile, keys) {
        p.build_env.push((
            format!("CARGO_PROFILE_{}_DEBUG", profile_env_name(profile)),
            "line-tables-only".into(),
        ));
    }
    if let Some((strip, removes)) = stripping(profile, keys) {
        p.build_env.push((
            format!("CARGO_PROFILE_{}_STRIP", profile_env_name(profile)),
            "none".into(),
        ));
        // A `--config` outranks the variable: only one after it undoes it.
        if config
            .cli_profiles
            .get(profile)
            .is_some_and(|k| k.strip.is_some())
        {
            p.build_args.push("--config".into());
            p.build_args
                .push(format!("profile.{profile}.strip=\"none\"").into());
        }
        p.notes.push(format!(
            "building without strip ({} removes {removes}); --no-stack-setup keeps it",
            strip.setting
        ));
    }
    if add_frame_pointers(p, env, config) && env("SPANPROF_UNWIND").is_none() {
        p.run_env.push(("SPANPROF_UNWIND".into(), "fp".into()));
    }
}

/// `profile` as cargo spells it in `CARGO_PROFILE_<NAME>_…` variables.
fn profile_env_name(profile: &str) -> String {
    profile.to_uppercase().replace('-', "_")
}

/// What the user set for profile `name`, from every source cargo reads.
fn users_keys(name: &str, env: &Env, config: &ConfigFlags, ws: &Workspace) -> ProfileKeys {
    let var_name = |key: &str| format!("CARGO_PROFILE_{}_{key}", profile_env_name(name));
    let var = |key: &str| env(&var_name(key)).map(|v| v.to_string_lossy().into_owned());
    // Cargo's precedence: `--config` values, variables, config files, the manifest.
    let (cli, files, manifest) = (
        config.cli_profiles.get(name),
        config.profiles.get(name),
        ws.profiles.get(name),
    );
    ProfileKeys {
        debug: var("DEBUG").is_some()
            || [cli, files, manifest]
                .iter()
                .any(|k| k.is_some_and(|k| k.debug)),
        strip: cli
            .and_then(|k| k.strip.clone())
            .or_else(|| var("STRIP").map(|v| Strip::from_var(&var_name("STRIP"), &v)))
            .or_else(|| files.and_then(|k| k.strip.clone()))
            .or_else(|| manifest.and_then(|k| k.strip.clone())),
        inherits: cli
            .and_then(|k| k.inherits.clone())
            .or_else(|| var("INHERITS"))
            .or_else(|| files.and_then(|k| k.inherits.clone()))
            .or_else(|| manifest.and_then(|k| k.inherits.clone())),
    }
}

/// The profiles `profile` takes its settings from, itself first, with what the user
/// set in each (`keys(name)`, from every source cargo reads): `bench` inherits from
/// `release`, `test` from `dev`, a custom profile from its `inherits`; the chain ends at
/// `dev` or `release` (or a custom profile without `inherits`, which cargo rejects).
fn inherits_chain(profile: &str, keys: impl Fn(&str) -> ProfileKeys) -> Vec<(String, ProfileKeys)> {
    let mut chain = Vec::new();
    let mut profile = profile.to_string();
    // Cargo rejects `inherits` cycles; the bound only keeps a misread config finite.
    for _ in 0..32 {
        let own = keys(&profile);
        let parent = match (profile.as_str(), &own.inherits) {
            ("dev" | "release", _) => None,
            ("bench", _) => Some("release".to_string()),
            ("test", _) => Some("dev".to_string()),
            (_, parent) => parent.clone(),
        };
        chain.push((profile, own));
        match parent {
            Some(parent) => profile = parent,
            None => break,
        }
    }
    chain
}

/// Whether to build `profile` with `CARGO_PROFILE_<PROFILE>_DEBUG=line-tables-only`;
/// `keys(name)` is what the user set for profile `name`, from every source cargo reads.
fn needs_line_tables(profile: &str, keys: impl Fn(&str) -> ProfileKeys) -> bool {
    // A profile without its own `debug` gets the one it inherits, which is as much the
    // user's choice. `dev` and `test` have full debug info by default already: the
    // variable would only lower what the user chose there, and make the build differ
    // from (rebuild every crate of) a plain one. An undefined custom profile gets it:
    // cargo will say the profile is undefined.
    !inherits_chain(profile, keys)
        .iter()
        .any(|(name, own)| own.debug || matches!(name.as_str(), "dev" | "test"))
}

/// The `strip` that `profile` is built with, its own or inherited (`keys(name)` as for
/// `needs_line_tables`), and what it removes that stacks need; `None` when it keeps
/// them (cargo's default strip keeps the symbols, and the debug info whenever the
/// profile has any).
fn stripping(profile: &str, keys: impl Fn(&str) -> ProfileKeys) -> Option<(Strip, &'static str)> {
    let strip = inherits_chain(profile, keys)
        .into_iter()
        .find_map(|(_, own)| own.strip)?;
    let removes = strip.removes?;
    Some((strip, removes))
}

/// Adds `-C force-frame-pointers=yes` to the build of `p`; whether they reach it (a
/// config's `target.*.rustflags` shadow the stack setup's `build.rustflags`; a
/// `--config` of the user's may turn them off).
fn add_frame_pointers(p: &mut Plan, env: &Env, config: &ConfigFlags) -> bool {
    // Cargo takes its flags from the first of these that is set and ignores the
    // rest, config files included: append to that one.
    if let Some(mut flags) = env("CARGO_ENCODED_RUSTFLAGS") {
        if !flags.is_empty() {
            flags.push("\x1f");
        }
        flags.push("-C\x1fforce-frame-pointers=yes");
        p.build_env.push(("CARGO_ENCODED_RUSTFLAGS".into(), flags));
        true
    } else if let Some(mut flags) = env("RUSTFLAGS") {
        flags.push(" ");
        flags.push(FRAME_POINTERS);
        p.build_env.push(("RUSTFLAGS".into(), flags));
        true
    } else if config.cli_frame_pointers == Some(false) {
        // The user's `--config` turns them off, and cargo puts its flags after the
        // variable's: that choice is kept.
        false
    } else {
        // `build.rustflags` from CARGO_BUILD_RUSTFLAGS, which cargo joins with the
        // config files' and `--config` values' `build.rustflags` whether each is a
        // string or an array (a `--config build.rustflags=[…]` cannot be merged with a
        // string, nor a string one with an array, and a string one would replace a
        // string). Flags the config already has would only make the build differ from
        // (and not share artifacts with) a plain `cargo build`.
        if !config.build_frame_pointers {
            let mut flags = env("CARGO_BUILD_RUSTFLAGS").unwrap_or_default();
            if !flags.is_empty() {
                flags.push(" ");
            }
            flags.push(FRAME_POINTERS);
            p.build_env.push(("CARGO_BUILD_RUSTFLAGS".into(), flags));
        }
        !config.target
    }
}

/// The rustflags that force frame pointers, split on whitespace.
const FRAME_POINTERS: &str = "-C force-frame-pointers=yes";

/// Why the build `p` of `a` failed, as far as we can tell: cargo has said the rest.
pub fn build_failed(a: &RunArgs, p: &Plan) -> String {
    let profile = profile_name(a);
    let ours = format!("CARGO_PROFILE_{}_", profile_env_name(profile));
    // With CARGO_PROFILE_<NAME>_DEBUG (or _STRIP) set by us, cargo reports an undefined
    // profile as one "missing an `inherits` directive", which would send the user
    // hunting. (When the user set it, or nobody did, cargo's message is about what the
    // user wrote.)
    if !["dev", "release", "test", "bench"].contains(&profile)
        && p.build_env.iter().any(|(k, _)| k.starts_with(&ours))
    {
        format!(
            "cargo build failed (if cargo says profile `{profile}` is missing `inherits`, \
             it is not defined: add [profile.{profile}] to Cargo.toml)"
        )
    } else {
        "cargo build failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{config_flags, manifest_profiles, read_config};
    use crate::tests::parse;
    use std::collections::HashMap;

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

    const FP: &str = "-C force-frame-pointers=yes";

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
        let config = ConfigFlags {
            cli_profiles: read_config("profile.release.strip=true").profiles,
            ..ConfigFlags::default()
        };
        let p = plan_in(
            &["--config", "profile.release.strip=true", "--release"],
            &[],
            &config,
            &Workspace::default(),
        );
        let args = strings(&p.build_args);
        assert_eq!(args[2..4], ["--config", "profile.release.strip=true"]);
        assert_eq!(
            args[args.len() - 2..],
            ["--config", "profile.release.strip=\"none\""]
        );
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
            let p = plan_for(args, &[]);
            assert_eq!(p.build_env, [("CARGO_BUILD_RUSTFLAGS".into(), FP.into())]);
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
            assert_eq!(env_of(&p.build_env, "CARGO_BUILD_RUSTFLAGS"), Some(FP));
            // Not as a `--config build.rustflags=[…]`, which cargo cannot merge with a
            // string `build.rustflags` of a config file.
            assert!(!strings(&p.build_args).contains(&"--config"), "{p:?}");
            assert_eq!(
                p.run_env,
                [("SPANPROF_UNWIND".to_string(), OsString::from("fp"))]
            );
        }
    }

    #[test]
    fn frame_pointers_join_the_users_build_rustflags_string_or_array() {
        // The user's own CARGO_BUILD_RUSTFLAGS, split on whitespace by cargo, is kept.
        let p = plan_for(
            &["--release"],
            &[("CARGO_BUILD_RUSTFLAGS", "-C debug-assertions")],
        );
        assert_eq!(
            env_of(&p.build_env, "CARGO_BUILD_RUSTFLAGS"),
            Some("-C debug-assertions -C force-frame-pointers=yes")
        );
        let p = plan_for(&["--release"], &[("CARGO_BUILD_RUSTFLAGS", "")]);
        assert_eq!(env_of(&p.build_env, "CARGO_BUILD_RUSTFLAGS"), Some(FP));
        // Whatever a config file and `--config` values hold, string or array, the
        // stack setup is the same as with none (cargo joins the variable with them),
        // and adds no `--config` to merge with them. (Compared with a folder without
        // config, as `config_flags` also reads `$CARGO_HOME` and the variables.)
        let plan_with = |file: &str, cli: &[&str]| {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join(".cargo")).unwrap();
            std::fs::write(
                dir.path().join(".cargo/config.toml"),
                format!("[build]\n{file}\n"),
            )
            .unwrap();
            let cli: Vec<String> = cli.iter().map(|c| c.to_string()).collect();
            let mut args = vec!["--release"];
            for c in &cli {
                args.extend(["--config", c]);
            }
            let p = plan_in(
                &args,
                &[],
                &config_flags(dir.path(), &cli),
                &Workspace::default(),
            );
            let added = strings(&p.build_args)
                .iter()
                .filter(|&&a| a == "--config")
                .count()
                - cli.len();
            (p.build_env, p.run_env, added)
        };
        let none = plan_with("", &[]);
        assert_eq!(none.2, 0);
        for (file, cli) in [
            ("rustflags = \"-C debug-assertions\"", &[][..]),
            (
                "rustflags = \"-C debug-assertions\"",
                &["build.rustflags='--cfg mine'"],
            ),
            ("rustflags = [\"-C\", \"debug-assertions\"]", &[]),
            (
                "rustflags = [\"-C\", \"debug-assertions\"]",
                &["build.rustflags=['--cfg','mine']"],
            ),
            (
                "",
                &["build.rustflags='--cfg a'", "build.rustflags='--cfg b'"],
            ),
        ] {
            assert_eq!(plan_with(file, cli), none, "{file} {cli:?}");
        }
    }

    #[test]
    fn frame_pointers_a_users_config_value_turns_off_stay_off() {
        // Cargo puts `--config` values' flags after CARGO_BUILD_RUSTFLAGS: their "no"
        // would win, so nothing is added and the DWARF unwinder is kept.
        let config = ConfigFlags {
            cli_frame_pointers: Some(false),
            ..ConfigFlags::default()
        };
        let p = plan_in(&["--release"], &[], &config, &Workspace::default());
        assert_eq!(env_of(&p.build_env, "CARGO_BUILD_RUSTFLAGS"), None);
        assert!(p.run_env.is_empty(), "{p:?}");
        // RUSTFLAGS replaces every config source: there, ours win.
        let p = plan_in(
            &["--release"],
            &[("RUSTFLAGS", "")],
            &config,
            &Workspace::default(),
        );
        assert_eq!(
            env_of(&p.build_env, "RUSTFLAGS"),
            Some(" -C force-frame-pointers=yes")
        );
        assert_eq!(env_of(&p.run_env, "SPANPROF_UNWIND"), Some("fp"));
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
        assert_eq!(p.build_env, [("CARGO_BUILD_RUSTFLAGS".into(), FP.into())]);
        assert!(p.run_env.is_empty(), "{p:?}");
    }

    #[test]
    fn frame_pointers_go_where_cargo_takes_its_flags_from() {
        let p = plan_for(&[], &[("RUSTFLAGS", "-C target-cpu=native")]);
        assert_eq!(
            env_of(&p.build_env, "RUSTFLAGS"),
            Some("-C target-cpu=native -C force-frame-pointers=yes")
        );
        assert!(!strings(&p.build_args).contains(&"--config"));
        assert_eq!(env_of(&p.build_env, "CARGO_BUILD_RUSTFLAGS"), None);
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
        assert_eq!(env_of(&p.build_env, "CARGO_BUILD_RUSTFLAGS"), Some(FP));
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
        assert_eq!(env_of(&p.build_env, "CARGO_BUILD_RUSTFLAGS"), None);
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

    /// What the plan for `args` does about `strip`, given these sources: the value of
    /// its `CARGO_PROFILE_<PROFILE>_STRIP` and its note, if any.
    fn strip(
        args: &[&str],
        env: &[(&str, &str)],
        files: &str,
        cli: &str,
        manifest: &str,
    ) -> Option<(String, String)> {
        let config = ConfigFlags {
            profiles: read_config(files).profiles,
            cli_profiles: read_config(cli).profiles,
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
            .find(|(k, _)| k.ends_with("_STRIP"))
            .map(|(k, v)| format!("{k}={}", v.to_str().unwrap()));
        assert_eq!(var.is_some(), p.notes.len() == 1, "{p:?}");
        var.map(|v| (v, p.notes[0].clone()))
    }

    #[test]
    fn a_strip_that_removes_what_stacks_are_named_with_is_undone_and_said() {
        let m = "[profile.release]\nstrip = true\n\n[profile.prof]\ninherits = \"release\"\n";
        let why = "building without strip (profile.release.strip = true removes the symbols \
                   stacks are named with); --no-stack-setup keeps it";
        assert_eq!(
            strip(&["--release"], &[], "", "", m),
            Some(("CARGO_PROFILE_RELEASE_STRIP=none".into(), why.into()))
        );
        // Inherited: the profile being built gets the variable, the note says where
        // the strip comes from.
        for (profile, var) in [("bench", "BENCH"), ("prof", "PROF")] {
            assert_eq!(
                strip(&["--profile", profile], &[], "", "", m),
                Some((format!("CARGO_PROFILE_{var}_STRIP=none"), why.into())),
                "{profile}"
            );
        }
        // The line tables (added or the user's) stay, with what names them.
        let p = plan_in(
            &["--release"],
            &[],
            &ConfigFlags::default(),
            &Workspace {
                profiles: manifest_profiles(m),
                ..Workspace::default()
            },
        );
        assert_eq!(
            env_of(&p.build_env, "CARGO_PROFILE_RELEASE_DEBUG"),
            Some("line-tables-only")
        );

        // Each value that removes something; the ones that do not.
        for (value, removes) in [
            ("\"symbols\"", Some("the symbols stacks are named with")),
            (
                "'debuginfo'  # small",
                Some("the debug info stacks get file:line from"),
            ),
            ("false", None),
            ("\"none\"", None),
        ] {
            let m = format!("[profile.release]\nstrip = {value}\n");
            let config = format!("[profile.release]\nstrip = {value}\n");
            for (config, manifest) in [("", m.as_str()), (config.as_str(), "")] {
                let got = strip(&["--release"], &[], config, "", manifest);
                assert_eq!(
                    got.as_ref().map(|(_, note)| note.as_str()),
                    removes
                        .map(|r| format!(
                            "building without strip (profile.release.strip = {} \
                             removes {r}); --no-stack-setup keeps it",
                            value.split_whitespace().next().unwrap().replace('\'', "\"")
                        ))
                        .as_deref(),
                    "{value} {config:?}"
                );
            }
        }
        // dev and test strip too when told to (full debug info or not).
        let d = "[profile.dev]\nstrip = \"debuginfo\"\n";
        for (args, var) in [(&[][..], "DEV"), (&["--profile", "test"], "TEST")] {
            let got = strip(args, &[], "", "", d);
            assert_eq!(
                got.map(|(v, _)| v),
                Some(format!("CARGO_PROFILE_{var}_STRIP=none"))
            );
        }
        // A profile's own strip outranks the one it inherits.
        let own = format!("{m}strip = \"none\"\n");
        assert_eq!(strip(&["--profile", "prof"], &[], "", "", &own), None);
        assert!(strip(&["--release"], &[], "", "", &own).is_some());
    }

    #[test]
    fn strip_is_read_with_cargos_precedence() {
        let m = "[profile.release]\nstrip = true\n";
        // Variables outrank config files and the manifest, both ways.
        for (env, files) in [("none", ""), ("false", "profile.release.strip = true")] {
            let env = [("CARGO_PROFILE_RELEASE_STRIP", env)];
            assert_eq!(strip(&["--release"], &env, files, "", m), None, "{files}");
        }
        let got = strip(
            &["--release"],
            &[("CARGO_PROFILE_RELEASE_STRIP", "symbols")],
            "",
            "",
            "",
        );
        assert!(
            got.is_some_and(|(v, note)| v == "CARGO_PROFILE_RELEASE_STRIP=none"
                && note.contains("(CARGO_PROFILE_RELEASE_STRIP=symbols removes the symbols")),
        );
        // Config files outrank the manifest.
        assert_eq!(
            strip(
                &["--release"],
                &[],
                "[profile.release]\nstrip = false\n",
                "",
                m
            ),
            None
        );
        let got = strip(
            &["--release"],
            &[],
            "[profile.release]\nstrip = true\n",
            "",
            "",
        );
        assert_eq!(
            got.map(|(v, _)| v).as_deref(),
            Some("CARGO_PROFILE_RELEASE_STRIP=none")
        );

        // A `--config` outranks variables: the variable alone would not undo it, so a
        // `--config` of the stack setup's follows the user's.
        let args = ["--release", "--config", "profile.release.strip='symbols'"];
        let cli = "profile.release.strip='symbols'";
        let env = [("CARGO_PROFILE_RELEASE_STRIP", "none")];
        assert!(strip(&args, &env, "", cli, "").is_some());
        let config = ConfigFlags {
            cli_profiles: read_config(cli).profiles,
            ..ConfigFlags::default()
        };
        let p = plan_in(&args, &env, &config, &Workspace::default());
        assert_eq!(
            strings(&p.build_args[p.build_args.len() - 2..]),
            ["--config", "profile.release.strip=\"none\""]
        );
        // A strip inherited from a `--config` is undone by the variable of the profile
        // built, which is that profile's own: no `--config` needed.
        let p = plan_in(&["--profile", "bench"], &[], &config, &Workspace::default());
        assert_eq!(
            env_of(&p.build_env, "CARGO_PROFILE_BENCH_STRIP"),
            Some("none")
        );
        assert!(!strings(&p.build_args).contains(&"--config"), "{p:?}");
        // The user's `--config` saying "none" wins over a stripping variable.
        assert_eq!(
            strip(
                &["--release"],
                &[("CARGO_PROFILE_RELEASE_STRIP", "true")],
                "",
                "profile.release.strip=false",
                ""
            ),
            None
        );
    }

    #[test]
    fn no_stack_setup_builds_with_the_package_settings_only() {
        let p = plan_for(
            &["--release", "--no-stack-setup"],
            &[("RUSTFLAGS", "-C opt-level=2")],
        );
        assert!(p.build_env.is_empty() && p.run_env.is_empty(), "{p:?}");
        // Nor a string `build.rustflags`, nor a strip, changes that.
        let p = plan_in(
            &["--release", "--no-stack-setup"],
            &[
                ("CARGO_BUILD_RUSTFLAGS", "-C debug-assertions"),
                ("CARGO_PROFILE_RELEASE_STRIP", "true"),
            ],
            &ConfigFlags::default(),
            &Workspace {
                profiles: manifest_profiles("[profile.release]\nstrip = true\n"),
                ..Workspace::default()
            },
        );
        assert!(
            p.build_env.is_empty() && p.run_env.is_empty() && p.notes.is_empty(),
            "{p:?}"
        );
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
}
