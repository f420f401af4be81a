//! `cargo spanprof run` end to end: the real `cargo-spanprof` binary, invoked the way
//! cargo invokes it (`cargo-spanprof spanprof run …`), building fresh crates outside
//! the workspace (see `common/fresh.rs`) with their own default settings — the dhat
//! pattern (allocator behind a feature) in release with good stacks, usage errors,
//! target and feature selection (`default-run` too), custom profiles and target
//! folders, cargo's own flags (`--target`, `--config`, `-v`, `-q`, `--locked`, …), a
//! crate's own debug settings kept, its string `build.rustflags` joined, its `strip`
//! undone, `--open`.
//!
//! Every crate has its own name: executables land in the shared fresh-crates target
//! folder under their names, and the tests run side by side.

mod common;

use common::fresh::{Fresh, FreshCrate, clean_env, target_dir};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The dhat pattern: spanprof only with `--features heap-profile`.
const DHAT_MAIN: &str = r#"#[cfg(feature = "heap-profile")]
#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

#[cfg_attr(feature = "heap-profile", spanprof::track_alloc)]
fn make_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("name number {i}")).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("args: {args:?}");
    let names = make_names(20_000);
    println!("{} names", std::hint::black_box(names).len());
}
"#;

/// The lines of `DHAT_MAIN` inside `make_names`.
const MAKE_NAMES_LINES: std::ops::RangeInclusive<u32> = 6..=8;

fn dhat_crate(name: &str) -> Fresh {
    FreshCrate::new(name)
        .optional_spanprof()
        .main_rs(DHAT_MAIN)
        .cargo_toml_extra(
            "[features]\nheap-profile = [\"dep:spanprof\"]\n\n\
             [profile.prof]\ninherits = \"release\"\n",
        )
        .create()
}

/// A program printing which features it was built with and its arguments.
fn multi_source(label: &str) -> String {
    format!(
        r#"#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

fn main() {{
    #[cfg(feature = "greet")]
    println!("hello from the default feature");
    #[cfg(feature = "extra")]
    println!("extra feature on");
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("{label} args: {{args:?}}");
    if args.iter().any(|a| a == "abort") {{
        std::process::abort(); // before any profile is written
    }}
    if args.iter().any(|a| a == "wait") {{
        let v: Vec<Box<[u8; 64]>> = (0..1000).map(|_| Box::new([0; 64])).collect();
        println!("waiting for a signal");
        std::thread::sleep(std::time::Duration::from_secs(60));
        drop(v);
        std::process::exit(3);
    }}
    let v: Vec<Box<[u8; 64]>> = (0..1000).map(|_| Box::new([0; 64])).collect();
    drop(std::hint::black_box(v));
}}
"#
    )
}

/// Two binaries (`NAME`, `NAME-tool`), an example (`NAME-ex`), a default feature.
fn multi_crate(name: &str) -> Fresh {
    FreshCrate::new(name)
        .main_rs(&multi_source("app"))
        .file("src/tool.rs", &multi_source("tool"))
        .file("src/example.rs", &multi_source("example"))
        .cargo_toml_extra(&format!(
            "[features]\ndefault = [\"greet\"]\ngreet = []\nextra = []\n\n\
             [[bin]]\nname = \"{name}\"\npath = \"src/main.rs\"\n\n\
             [[bin]]\nname = \"{name}-tool\"\npath = \"src/tool.rs\"\n\n\
             [[example]]\nname = \"{name}-ex\"\npath = \"src/example.rs\"\n"
        ))
        .create()
}

/// A finished command, for assertions that show what it printed.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn of(cmd: &mut Command) -> Ran {
        let out = cmd.output().expect("cannot run cargo-spanprof");
        Ran {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn show(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "{}", self.show());
        self
    }

    fn expect_stdout(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "no {text:?} in:\n{}",
            self.show()
        );
        self
    }

    fn expect_stderr(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "no {text:?} in:\n{}",
            self.show()
        );
        self
    }

    /// The executable `spanprof run` ran: the first word of its report's first line
    /// (the program's arguments follow it; these tests' paths need no quoting).
    fn program(&self) -> PathBuf {
        let line = self
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("spanprof report: "))
            .unwrap_or_else(|| panic!("no report in:\n{}", self.show()));
        PathBuf::from(line.split(' ').next().unwrap_or(line))
    }

    /// The lines of the report's "Top sampled stacks" section.
    fn sampled_stacks(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .skip_while(|l| !l.starts_with("Top sampled stacks"))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .collect()
    }
}

/// `cargo-spanprof spanprof run ARGS…` in `cwd`, with the fresh crates' environment.
fn cargo_spanprof(cwd: &Path, args: &[&str]) -> Ran {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-spanprof"));
    clean_env(&mut cmd);
    Ran::of(cmd.current_dir(cwd).args(["spanprof", "run"]).args(args))
}

/// Whether a "Top sampled stacks" line names `make_names` at one of its lines of
/// `src/main.rs`.
fn names_make_names_with_its_line(line: &str) -> bool {
    line.contains("make_names")
        && line.split_whitespace().any(|w| {
            w.rsplit_once(':').is_some_and(|(file, n)| {
                file.ends_with("src/main.rs")
                    && n.parse().is_ok_and(|n| MAKE_NAMES_LINES.contains(&n))
            })
        })
}

#[test]
fn dhat_pattern_builds_in_release_with_line_tables_and_passes_only_the_args_after_double_dash() {
    let krate = dhat_crate("sp-dhat");
    let ran = cargo_spanprof(
        krate.dir(),
        &[
            "--features",
            "heap-profile",
            "--release",
            "--rate",
            "1",
            "-o",
            "p.json",
            "--svg",
            "h.svg",
            "--",
            "a",
            "b",
        ],
    );
    ran.expect_code(0)
        .expect_stdout("args: [\"a\", \"b\"]\n")
        .expect_stdout("20000 names")
        // cargo's own progress still reaches the terminal, and nothing of ours on success
        .expect_stderr("Finished `release` profile");
    assert!(!ran.stderr.contains("cargo-spanprof"), "{}", ran.show());
    // SPANPROF_UNWIND=fp found frame pointers: the runtime did not fall back to DWARF.
    assert!(
        !ran.stderr.contains("without frame pointers"),
        "{}",
        ran.show()
    );
    let program = ran.program();
    assert!(
        program.starts_with(target_dir().join("release")) && program.ends_with("sp-dhat"),
        "{}",
        program.display()
    );

    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(krate.dir().join("p.json")).unwrap()).unwrap();
    let sites = profile["sites"].as_array().unwrap();
    assert!(sites.iter().any(|s| s["name"] == "make_names"), "{sites:?}");
    let top_sites: Vec<&str> = ran
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Top sites"))
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert!(
        top_sites.iter().any(|l| l.ends_with(" make_names")),
        "{}",
        ran.show()
    );
    // The crate's release profile has no debug info: the file:line is the stack setup's.
    assert!(
        ran.sampled_stacks()
            .iter()
            .any(|l| names_make_names_with_its_line(l)),
        "{}",
        ran.show()
    );
    assert!(krate.dir().join("h.svg").is_file());
}

#[test]
fn no_stack_setup_builds_with_the_crate_settings_only() {
    let krate = dhat_crate("sp-dhat-plain");
    let ran = cargo_spanprof(
        krate.dir(),
        &[
            "--features",
            "heap-profile",
            "--release",
            "--no-stack-setup",
            "--rate",
            "1",
            "--no-svg",
        ],
    );
    ran.expect_code(0).expect_stdout("args: []\n");
    let stacks = ran.sampled_stacks();
    // Still sampled and named (symbols stay), but no line tables: no file:line.
    assert!(!stacks.is_empty(), "{}", ran.show());
    assert!(
        !stacks.iter().any(|l| l.contains("src/main.rs")),
        "{}",
        ran.show()
    );
    assert!(!krate.dir().join("heap.svg").exists());
    assert!(
        !ran.stderr.contains("without frame pointers"),
        "{}",
        ran.show()
    );

    // The user's SPANPROF_UNWIND reaches the program, which finds no frame pointers.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-spanprof"));
    clean_env(&mut cmd);
    let ran = Ran::of(
        cmd.current_dir(krate.dir())
            .env("SPANPROF_UNWIND", "fp")
            .args([
                "spanprof",
                "run",
                "--features",
                "heap-profile",
                "--release",
                "--no-stack-setup",
                "--rate",
                "1",
                "--no-svg",
            ]),
    );
    ran.expect_code(0)
        .expect_stderr("built without frame pointers");
}

/// Also: a `strip = true` that `prof` inherits is undone (the build is the same as
/// without it), and said.
#[test]
fn custom_profile_and_target_dir_set_where_the_build_goes_and_keep_line_tables() {
    let krate = dhat_crate("sp-dhat-prof");
    let manifest = krate.manifest_path();
    let text = std::fs::read_to_string(&manifest).unwrap();
    let stripped = text.replacen(
        "[profile.prof]\n",
        "[profile.release]\nstrip = true\n\n[profile.prof]\n",
        1,
    );
    assert_ne!(text, stripped);
    std::fs::write(&manifest, stripped).unwrap();
    let other = target_dir().join("other-target-dir");
    let ran = cargo_spanprof(
        krate.dir(),
        &[
            "-F",
            "heap-profile",
            "--profile",
            "prof",
            "--target-dir",
            other.to_str().unwrap(),
            "--rate",
            "1",
            "--no-svg",
        ],
    );
    ran.expect_code(0).expect_stderr("Finished `prof` profile");
    assert!(
        !ran.stderr.contains("without frame pointers"),
        "{}",
        ran.show()
    );
    // One line says so, before cargo's own output.
    let note = "cargo-spanprof: building without strip (profile.release.strip = true \
                removes the symbols stacks are named with); --no-stack-setup keeps it\n";
    assert!(ran.stderr.starts_with(note), "{}", ran.show());
    assert_eq!(
        ran.stderr.matches("cargo-spanprof").count(),
        1,
        "{}",
        ran.show()
    );
    let program = ran.program();
    assert!(
        program.starts_with(other.join("prof")),
        "{}",
        program.display()
    );
    // `prof` inherits release's no-debug-info: the line tables came from
    // CARGO_PROFILE_PROF_DEBUG.
    assert!(
        ran.sampled_stacks()
            .iter()
            .any(|l| names_make_names_with_its_line(l)),
        "{}",
        ran.show()
    );
}

/// A crate set up for stacks (full debug info in release, frame pointers in its cargo
/// config): `cargo spanprof run` adds nothing — its debug setting is not lowered to line
/// tables, dev's full debug info is left alone — so it reuses what `cargo build`
/// compiled.
#[test]
fn a_crate_already_set_up_for_stacks_shares_the_plain_build() {
    let krate = FreshCrate::new("sp-shared")
        .main_rs(&multi_source("shared"))
        .file(
            ".cargo/config.toml",
            "[build]\nrustflags = [\"-C\", \"force-frame-pointers=yes\"]\n",
        )
        .cargo_toml_extra("[features]\ngreet = []\nextra = []\n\n[profile.release]\ndebug = true\n")
        .create();
    let build = krate.cargo(["build", "--release"]).output().unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let ran = cargo_spanprof(krate.dir(), &["--release", "--rate", "1", "--no-svg"]);
    ran.expect_code(0)
        .expect_stdout("shared args: []")
        .expect_stderr("Finished `release` profile");
    assert!(!ran.stderr.contains("Compiling"), "{}", ran.show());
    // SPANPROF_UNWIND=fp was set, and the config's frame pointers are there.
    assert!(
        !ran.stderr.contains("without frame pointers"),
        "{}",
        ran.show()
    );

    let build = krate.cargo(["build"]).output().unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let ran = cargo_spanprof(krate.dir(), &["--rate", "1", "--no-svg"]);
    ran.expect_code(0)
        .expect_stdout("shared args: []")
        .expect_stderr("Finished `dev` profile");
    assert!(!ran.stderr.contains("Compiling"), "{}", ran.show());
    // dev's own debug info gives the stacks their file:line.
    assert!(
        ran.sampled_stacks()
            .iter()
            .any(|l| l.contains("src/main.rs:")),
        "{}",
        ran.show()
    );
}

#[test]
fn flags_before_double_dash_that_are_not_ours_are_usage_errors_and_nothing_is_built() {
    // No Cargo.toml here: had cargo run, it would have failed with exit 1.
    let empty = tempfile::tempdir().unwrap();
    for (args, bad) in [
        (
            &["--release", "--bogus-flag", "--", "x"][..],
            "'--bogus-flag'",
        ),
        (&["--release", "extra"][..], "'extra'"),
    ] {
        let ran = cargo_spanprof(empty.path(), args);
        ran.expect_code(2)
            .expect_stderr(&format!("unexpected argument {bad}"))
            .expect_stderr("Usage: cargo spanprof run");
        assert!(
            !ran.stderr.contains("Cargo.toml") && ran.stdout.is_empty(),
            "{}",
            ran.show()
        );
    }
}

#[test]
fn bin_picks_among_several_binaries() {
    let krate = multi_crate("sp-sel");
    cargo_spanprof(krate.dir(), &["--no-svg"])
        .expect_code(1)
        .expect_stderr("cargo-spanprof: several bins were built (")
        .expect_stderr("sp-sel-tool")
        .expect_stderr("pick one with --bin NAME");

    // Also: with `--bin` (no `default-run` to look up) the root manifest is still read
    // for dev's `strip`, which is undone (the build is the plain dev one) and said.
    let manifest = krate.manifest_path();
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str("\n[profile.dev]\nstrip = true\n");
    std::fs::write(&manifest, text).unwrap();
    let ran = cargo_spanprof(
        krate.dir(),
        &[
            "--bin",
            "sp-sel-tool",
            "--rate",
            "1",
            "--no-svg",
            "--",
            "x",
            "-y",
        ],
    );
    ran.expect_code(0)
        .expect_stderr(
            "cargo-spanprof: building without strip (profile.dev.strip = true removes the \
             symbols stacks are named with); --no-stack-setup keeps it\n",
        )
        .expect_stdout("hello from the default feature")
        .expect_stdout("tool args: [\"x\", \"-y\"]");
    assert!(
        ran.program()
            .ends_with(Path::new("debug").join("sp-sel-tool")),
        "{}",
        ran.show()
    );
    assert!(
        ran.sampled_stacks()
            .iter()
            .any(|l| l.contains("src/tool.rs:")),
        "{}",
        ran.show()
    );
    // cargo's own error is shown, then ours.
    cargo_spanprof(krate.dir(), &["--bin", "nope"])
        .expect_code(1)
        .expect_stderr("no bin target named `nope`")
        .expect_stderr("cargo-spanprof: cargo build failed");

    // With `default-run`, what `cargo run` runs: that bin, for the package in the
    // current folder or the one named with -p.
    let manifest = krate.manifest_path();
    let text = std::fs::read_to_string(&manifest).unwrap();
    let with_default = text.replacen(
        "publish = false\n",
        "publish = false\ndefault-run = \"sp-sel-tool\"\n",
        1,
    );
    assert_ne!(text, with_default);
    std::fs::write(&manifest, with_default).unwrap();
    for args in [
        &["--no-svg", "--", "d"][..],
        &["-p", "sp-sel", "--no-svg", "--", "d"],
    ] {
        let ran = cargo_spanprof(krate.dir(), args);
        ran.expect_code(0).expect_stdout("tool args: [\"d\"]");
        assert!(
            ran.program()
                .ends_with(Path::new("debug").join("sp-sel-tool")),
            "{}",
            ran.show()
        );
    }
}

#[test]
fn example_and_feature_flags_reach_cargo() {
    let krate = multi_crate("sp-feat");
    let ran = cargo_spanprof(
        krate.dir(),
        &[
            "--example",
            "sp-feat-ex",
            "--no-default-features",
            "--no-svg",
        ],
    );
    ran.expect_code(0).expect_stdout("example args: []");
    assert!(
        !ran.stdout.contains("hello from the default feature"),
        "{}",
        ran.show()
    );
    assert!(
        ran.program()
            .ends_with(Path::new("examples").join("sp-feat-ex")),
        "{}",
        ran.show()
    );
    cargo_spanprof(
        krate.dir(),
        &["--bin", "sp-feat", "--all-features", "--no-svg"],
    )
    .expect_code(0)
    .expect_stdout("hello from the default feature")
    .expect_stdout("extra feature on")
    .expect_stdout("app args: []");
}

/// The triple rustc builds for by default.
fn host_triple() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("no host in rustc -vV")
        .to_string()
}

/// Also: the crate's `build.rustflags` is a string (cargo splits it on whitespace),
/// which cargo cannot merge with an array from a `--config`: the frame pointers are
/// joined with it all the same.
#[test]
fn cargo_flags_reach_cargo() {
    let krate = multi_crate("sp-flags");
    std::fs::create_dir(krate.dir().join(".cargo")).unwrap();
    std::fs::write(
        krate.dir().join(".cargo/config.toml"),
        "[build]\nrustflags = \"--cfg sp_user_cfg\"\n",
    )
    .unwrap();
    let host = host_triple();
    let common = [
        "--bin", "sp-flags", "--target", &host, "--rate", "1", "--no-svg",
    ];
    fn with<'a>(common: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        common.iter().chain(extra).copied().collect()
    }

    // The copied workspace Cargo.lock lacks this package: --locked stops the build
    // before anything is compiled (and before cargo writes the lock file), but after
    // cargo has merged its config: the user's string `--config` replaces the file's
    // string, and nothing of the stack setup's fails to merge with either.
    let ran = cargo_spanprof(
        krate.dir(),
        &with(
            &common,
            &[
                "--locked",
                "--config",
                r#"build.rustflags="--cfg sp_cli_cfg""#,
            ],
        ),
    );
    ran.expect_code(1)
        .expect_stderr("--locked")
        .expect_stderr("cargo-spanprof: cargo build failed");
    assert!(!ran.stderr.contains("failed to merge"), "{}", ran.show());

    let ran = cargo_spanprof(krate.dir(), &with(&common, &["-v", "-j", "2"]));
    ran.expect_code(0).expect_stdout("app args: []");
    let program = ran.program();
    assert!(
        program.starts_with(target_dir().join(&host).join("debug")),
        "{}",
        program.display()
    );
    // -v shows rustc's command lines: the config file's flags come first, the stack
    // setup's frame pointers are joined after them, and they took (no DWARF fallback).
    let rustc = ran
        .stderr
        .lines()
        .find(|l| l.contains("Running `") && l.contains("--crate-name sp_flags"))
        .unwrap_or_else(|| panic!("no rustc command line for sp_flags:\n{}", ran.show()));
    let user = rustc.find("--cfg sp_user_cfg");
    let ours = rustc.find("-C force-frame-pointers=yes");
    assert!(user.is_some() && ours.is_some() && user < ours, "{rustc}");
    assert!(
        !ran.stderr.contains("without frame pointers"),
        "{}",
        ran.show()
    );

    // The lock file is now complete; with -q cargo says nothing at all.
    let ran = cargo_spanprof(
        krate.dir(),
        &with(&common, &["-q", "--locked", "--offline", "-j", "1"]),
    );
    ran.expect_code(0).expect_stdout("app args: []");
    assert!(
        !ran.stderr.contains("Finished") && !ran.stderr.contains("Compiling"),
        "{}",
        ran.show()
    );
    assert_eq!(ran.program(), program);
}

#[cfg(unix)]
fn executable_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Also: the `spanprof` next to `cargo-spanprof` is the one run, not one on `PATH`.
#[cfg(unix)]
#[test]
fn manifest_path_from_another_folder_then_open_the_report() {
    let krate = multi_crate("sp-away");
    let cwd = tempfile::tempdir().unwrap();
    let bin = cwd.path().join("fake-bin");
    std::fs::create_dir(&bin).unwrap();
    let opened = cwd.path().join("opened");
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    executable_script(
        &bin.join(opener),
        &format!(
            "#!/bin/sh\necho \"$@\" > '{}.tmp' && mv '{0}.tmp' '{0}'\n",
            opened.display()
        ),
    );
    executable_script(
        &bin.join("spanprof"),
        "#!/bin/sh\necho 'the spanprof on PATH ran' >&2\nexit 97\n",
    );
    let path = std::env::join_paths(
        std::iter::once(bin.clone())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();

    let manifest = krate.manifest_path();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-spanprof"));
    clean_env(&mut cmd);
    let ran = Ran::of(cmd.current_dir(cwd.path()).env("PATH", &path).args([
        "spanprof",
        "run",
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--bin",
        "sp-away",
        "--features",
        "extra",
        "--rate",
        "1",
        "--open",
        "--",
        "z",
    ]));
    ran.expect_code(0)
        .expect_stdout("extra feature on")
        .expect_stdout("app args: [\"z\"]")
        .expect_stdout("heap.svg (flamegraph")
        .expect_stdout("report.html (HTML report)");
    // Outputs go where the command ran, not into the package.
    assert!(cwd.path().join("profile.json").is_file());
    assert!(cwd.path().join("heap.svg").is_file());
    assert!(cwd.path().join("report.html").is_file());
    assert!(!krate.dir().join("profile.json").exists());

    // The viewer is started, not waited for.
    let mut waited = 0;
    while !opened.exists() && waited < 100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
    }
    let text = std::fs::read_to_string(&opened)
        .unwrap_or_else(|e| panic!("{opener} was not run ({e}):\n{}", ran.show()));
    assert_eq!(text.trim(), "report.html");

    // A run that writes no profile has nothing to open, not even the report an
    // earlier run left: the run's own status.
    std::fs::remove_file(&opened).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-spanprof"));
    clean_env(&mut cmd);
    let ran = Ran::of(cmd.current_dir(cwd.path()).env("PATH", &path).args([
        "spanprof",
        "run",
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--bin",
        "sp-away",
        "--features",
        "extra",
        "--open",
        "--",
        "abort",
    ]));
    ran.expect_code(128 + 6).expect_stderr("wrote no profile");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!opened.exists(), "{}", ran.show());
}

/// Ctrl-C or `kill -INT` to `cargo spanprof run` alone: it stays alive, passes the
/// signal on, and the program's profile is rendered; the exit status is the program's.
#[cfg(unix)]
#[test]
fn a_stop_signal_to_cargo_spanprof_reaches_the_program() {
    use std::io::{BufRead, BufReader};
    let krate = multi_crate("sp-wait");
    let mut cmd = krate.command(env!("CARGO_BIN_EXE_cargo-spanprof"));
    cmd.args([
        "spanprof", "run", "--bin", "sp-wait", "--no-svg", "--", "wait",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("the program ended before waiting:\n{seen}");
        }
        seen.push_str(&line);
        if line.contains("waiting for a signal") {
            break;
        }
    }
    // SAFETY: kill has no memory preconditions; the pid is our child's.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{rest}\n{err}");
    assert!(rest.contains("spanprof report:"), "{rest}\n{err}");
    assert!(err.contains("SIGINT"), "{err}");
    assert!(krate.dir().join("profile.json").is_file());
}
