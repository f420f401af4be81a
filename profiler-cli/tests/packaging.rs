//! What cargo sees of this package, as a new user meets it: `cargo run -p spanprof-cli`
//! (README's first command) runs `spanprof` without asking which binary, and `cargo
//! install` gives exactly `spanprof` and `cargo-spanprof` (the test programs of `spanprof
//! run` and of deep stacks are examples, never installed). Read from `cargo metadata`, which builds
//! nothing.

use std::process::Command;

fn package() -> serde_json::Value {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "spanprof-cli")
        .expect("spanprof-cli is a workspace member")
        .clone()
}

fn targets(p: &serde_json::Value, kind: &str) -> Vec<String> {
    let mut names: Vec<String> = p["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == kind))
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn cargo_run_picks_spanprof_and_install_gives_only_the_two_commands() {
    let p = package();
    assert_eq!(p["default_run"], "spanprof", "cargo run -p spanprof-cli");
    assert_eq!(targets(&p, "bin"), ["cargo-spanprof", "spanprof"]);
    assert_eq!(
        targets(&p, "example"),
        [
            "deep_stack",
            "escape_bench",
            "sample_program",
            "strip_me",
            "system_alloc_program",
            "views_program"
        ]
    );
}

#[test]
fn readme_starts_with_that_command() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let try_it = &readme[readme.find("## Try it").expect("a Try it section")..];
    assert!(
        try_it.contains("cargo run --release -p spanprof-cli -- demo"),
        "README's first command changed: update this test and check it on a fresh clone"
    );
    assert!(readme.contains("cargo install --locked --path profiler-cli"));
}
