//! `cargo spanprof run [--bin NAME | --example NAME] [--release] [-p PACKAGE] [RUN OPTIONS] -- ARGS…`:
//! builds the program with cargo (`--message-format=json` to learn where the
//! executable went), then hands it to `spanprof run` (the `spanprof` binary next to
//! this one, else the one on `PATH`), which runs it with a profile and renders it.

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

#[derive(Parser, Debug)]
#[command(name = "cargo spanprof", bin_name = "cargo spanprof", version)]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Build a binary or example, run it under `spanprof run`.
    Run(RunArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The binary target to run.
    #[arg(long, conflicts_with = "example")]
    bin: Option<String>,
    /// The example to run.
    #[arg(long)]
    example: Option<String>,
    /// Build with the release profile.
    #[arg(long, short = 'r')]
    release: bool,
    /// The package to build.
    #[arg(long, short = 'p')]
    package: Option<String>,
    /// Passed to `spanprof run`: mean bytes between sampled stacks.
    #[arg(long, value_name = "BYTES")]
    rate: Option<u64>,
    /// Passed to `spanprof run`: the profile.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Passed to `spanprof run`: the flamegraph.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Passed to `spanprof run`: no flamegraph.
    #[arg(long)]
    no_svg: bool,
    /// The program's arguments (after `--`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
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

fn fail(problem: impl std::fmt::Display) -> ExitCode {
    eprintln!("cargo-spanprof: {problem}");
    ExitCode::FAILURE
}

fn run(a: RunArgs) -> ExitCode {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--message-format=json-render-diagnostics"]);
    if a.release {
        build.arg("--release");
    }
    if let Some(p) = &a.package {
        build.args(["-p", p]);
    }
    let (kind, name) = match (&a.bin, &a.example) {
        (_, Some(e)) => ("example", Some(e.as_str())),
        (b, None) => ("bin", b.as_deref()),
    };
    if let Some(n) = name {
        build.args([format!("--{kind}"), n.to_string()]);
    }
    let out = match build.stderr(Stdio::inherit()).output() {
        Ok(o) => o,
        Err(e) => return fail(format!("cannot run cargo: {e}")),
    };
    if !out.status.success() {
        return fail("cargo build failed");
    }
    let exe = match pick(
        &executables(&String::from_utf8_lossy(&out.stdout)),
        kind,
        name,
    ) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let mut run = Command::new(spanprof_exe());
    run.arg("run");
    if let Some(r) = a.rate {
        run.args(["--rate", &r.to_string()]);
    }
    if let Some(o) = &a.output {
        run.arg("-o").arg(o);
    }
    if let Some(s) = &a.svg {
        run.arg("--svg").arg(s);
    }
    if a.no_svg {
        run.arg("--no-svg");
    }
    run.arg("--").arg(Path::new(&exe)).args(&a.args);
    match run.status() {
        Ok(s) => ExitCode::from(s.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1)),
        Err(e) => fail(format!(
            "cannot run spanprof ({e}); install it with `cargo install --path profiler-cli --bin spanprof`"
        )),
    }
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
}
