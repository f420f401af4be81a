//! A brand-new cargo package that depends on spanprof the way a user's crate does: in a
//! temporary folder outside this workspace, so neither the workspace's
//! `.cargo/config.toml` (which forces frame pointers) nor its `[profile]` settings
//! apply, built with a cargo environment scrubbed of what `cargo test` set for us.
//!
//! ```ignore
//! let krate = FreshCrate::new("sp-infer")
//!     .main_rs("fn main() { let v: Vec<u8> = Vec::new(); drop(v); }")
//!     .create();
//! let out = krate.cargo(["build"]).output().unwrap();
//! ```
//!
//! Every fresh crate builds into one target folder, [`target_dir`], so spanprof and its
//! dependencies are compiled once for all tests (and kept between `cargo test` runs).
//! Executables are copied there under their target names, so give every crate a name
//! no other test uses (a package's main binary is named after the package) or tests
//! running side by side may run each other's programs.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

/// This workspace's root folder.
pub fn workspace_root() -> PathBuf {
    let cli = Path::new(env!("CARGO_MANIFEST_DIR"));
    cli.parent()
        .expect("profiler-cli lives in the workspace")
        .to_path_buf()
}

/// The spanprof crate fresh crates depend on.
pub fn spanprof_dir() -> PathBuf {
    workspace_root().join("allocator")
}

/// The target folder every fresh crate builds into. Not the one `cargo test` holds
/// locked, so a fresh build never waits for the build running the test.
pub fn target_dir() -> PathBuf {
    workspace_root().join("target").join("fresh-crates")
}

/// The cargo running the tests (`CARGO`), else `cargo` on `PATH`.
pub fn cargo_bin() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Whether `cargo test` (or the user's shell) set `key` in a way that would change how
/// a fresh crate is built or run.
fn leaks_in(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_BUILD_DIR",
        "CARGO_BUILD_JOBS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_RUSTC_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_PKG_",
        "CARGO_BIN_EXE_",
        "CARGO_PROFILE_",
        "SPANPROF_",
        "__CARGO",
    ];
    EXACT.contains(&key)
        || PREFIXES.iter().any(|p| key.starts_with(p))
        || (key.starts_with("CARGO_TARGET_") && key.ends_with("_RUSTFLAGS"))
}

/// Scrubs `cmd`'s environment (see [`leaks_in`]) and points it at the shared target
/// folder with two build jobs. `CARGO`, `PATH` and the rest are kept.
pub fn clean_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(leaks_in) {
            cmd.env_remove(&key);
        }
    }
    cmd.env("CARGO", cargo_bin())
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_BUILD_JOBS", "2")
}

/// What a fresh crate is made of; [`FreshCrate::create`] writes it.
#[derive(Debug, Clone)]
pub struct FreshCrate {
    name: String,
    main_rs: String,
    cargo_toml_extra: String,
    dependencies: Vec<String>,
    files: Vec<(PathBuf, String)>,
    optional_spanprof: bool,
}

impl FreshCrate {
    /// A package named `name` (unique among the tests: see the module doc) whose
    /// `src/main.rs` does nothing.
    pub fn new(name: &str) -> Self {
        FreshCrate {
            name: name.into(),
            main_rs: "fn main() {}\n".into(),
            cargo_toml_extra: String::new(),
            dependencies: Vec::new(),
            files: Vec::new(),
            optional_spanprof: false,
        }
    }

    /// The text of `src/main.rs`.
    pub fn main_rs(mut self, src: &str) -> Self {
        self.main_rs = src.into();
        self
    }

    /// Another file, at `path` relative to the package (`src/bin/tool.rs`,
    /// `examples/demo.rs`, …).
    pub fn file(mut self, path: &str, text: &str) -> Self {
        self.files.push((path.into(), text.into()));
        self
    }

    /// Manifest text appended after `[dependencies]`: `[features]`, `[[bin]]`,
    /// `[profile.NAME]`, … (add dependencies with [`FreshCrate::dependency`]).
    pub fn cargo_toml_extra(mut self, toml: &str) -> Self {
        self.cargo_toml_extra.push_str(toml);
        self.cargo_toml_extra.push('\n');
        self
    }

    /// A line of `[dependencies]` besides spanprof; only crates in the workspace's
    /// `Cargo.lock` resolve without a registry update.
    pub fn dependency(mut self, line: &str) -> Self {
        self.dependencies.push(line.into());
        self
    }

    /// Makes spanprof an optional dependency (`optional = true`), for crates that turn
    /// it on with a feature (`heap-profile = ["dep:spanprof"]`).
    pub fn optional_spanprof(mut self) -> Self {
        self.optional_spanprof = true;
        self
    }

    /// Writes the package into a new temporary folder.
    pub fn create(self) -> Fresh {
        let dir = tempfile::Builder::new()
            .prefix(&format!("spanprof-fresh-{}-", self.name))
            .tempdir_in(std::env::temp_dir())
            .expect("cannot make a temporary folder");
        assert!(
            !dir.path().starts_with(workspace_root()),
            "the temporary folder {} is inside the workspace, whose cargo settings would apply",
            dir.path().display()
        );
        // A TOML literal string: no escapes, so any path but one with a quote works.
        let spanprof = spanprof_dir().display().to_string();
        assert!(!spanprof.contains('\''), "{spanprof}");
        let optional = if self.optional_spanprof {
            ", optional = true"
        } else {
            ""
        };
        let manifest = format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
             # Its own workspace, whatever folder it lands in.\n[workspace]\n\n\
             [dependencies]\nspanprof = {{ path = '{spanprof}'{optional} }}\n{deps}\n{extra}",
            name = self.name,
            deps = self.dependencies.join("\n"),
            extra = self.cargo_toml_extra,
        );
        let write = |path: &Path, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        };
        write(Path::new("Cargo.toml"), &manifest);
        write(Path::new("src/main.rs"), &self.main_rs);
        for (path, text) in &self.files {
            write(path, text);
        }
        // The workspace's versions of every dependency: no registry update, and the
        // dependencies are the ones the workspace's own tests use (cargo drops the rest).
        std::fs::copy(
            workspace_root().join("Cargo.lock"),
            dir.path().join("Cargo.lock"),
        )
        .expect("cannot copy the workspace's Cargo.lock");
        Fresh {
            dir,
            name: self.name,
        }
    }
}

/// A fresh crate on disk; its folder is removed when this is dropped (its build
/// output stays in [`target_dir`]).
#[derive(Debug)]
pub struct Fresh {
    dir: tempfile::TempDir,
    name: String,
}

impl Fresh {
    /// The package's folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The package's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its `Cargo.toml`.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir().join("Cargo.toml")
    }

    /// `cargo ARGS…` in the package's folder with the scrubbed environment, ready to
    /// run (`.output()`, `.status()`).
    pub fn cargo<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(cargo_bin());
        cmd.args(args);
        cmd
    }

    /// Any `program` in the package's folder with the environment [`Fresh::cargo`]
    /// uses (for tools that run cargo themselves, like `cargo-spanprof`).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.dir());
        clean_env(&mut cmd);
        cmd
    }
}
