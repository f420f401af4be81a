//! The plan: the two commands `cargo spanprof run` starts — `cargo build` with its
//! arguments and variables, then `spanprof run` with its own — made from the arguments,
//! the environment, what cargo's config says (`config`) and what the workspace says
//! (`metadata`), short of the executable, which only the build tells (`artifacts`). A
//! pure function: `main` gathers its inputs and runs what it returns. The stack setup's
//! rules (main.rs says what they are and why) live here, with the one cargo error they
//! can make misleading.

use crate::config::{ConfigFlags, ProfileKeys};
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
    args
}

/// Adds the stack setup to `p`, the plan of `a`: line tables where the user chose no
/// debug info, frame pointers, and the frame-pointer unwinder when they reach the build.
fn stack_setup(p: &mut Plan, a: &RunArgs, env: &Env, config: &ConfigFlags, ws: &Workspace) {
    let profile = profile_name(a);
    if needs_line_tables(profile, |name| users_keys(name, env, config, ws)) {
        p.build_env.push((
            format!("CARGO_PROFILE_{}_DEBUG", profile_env_name(profile)),
            "line-tables-only".into(),
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

/// Adds `-C force-frame-pointers=yes` to the build of `p`; whether they reach it (a
/// config's `target.*.rustflags` shadow the stack setup's `build.rustflags`).
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
    }
}

/// Why the build `p` of `a` failed, as far as we can tell: cargo has said the rest.
pub fn build_failed(a: &RunArgs, p: &Plan) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{manifest_profiles, read_config};
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
