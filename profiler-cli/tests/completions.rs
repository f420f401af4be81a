//! `spanprof completions SHELL`: a script per shell that offers every subcommand and
//! the values of enum options, accepted by the shell's own syntax check (and, for bash
//! and fish, completing a real command line) where that shell is installed here.

mod common;

use common::*;
use predicates::prelude::*;
use std::path::Path;
use std::process::Command;

const SUBCOMMANDS: [&str; 11] = [
    "classes",
    "report",
    "flamegraph",
    "folded",
    "pprof",
    "diff",
    "escape",
    "audit",
    "run",
    "demo",
    "completions",
];

fn script(shell: &str) -> String {
    let out = spanprof()
        .args(["completions", shell])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.trim().is_empty(), "empty {shell} script");
    text
}

/// Whether `shell` can be run here; the syntax checks below need it.
fn installed(shell: &str) -> bool {
    Command::new(shell)
        .arg("-c")
        .arg("exit 0")
        .status()
        .is_ok_and(|s| s.success())
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// Runs `shell args…` and returns its stdout, failing with its stderr.
fn shell_output(shell: &str, args: &[&str], cwd: &Path) -> String {
    let out = Command::new(shell)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{shell} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bash_script_is_valid_and_completes() {
    let text = script("bash");
    // The words offered right after `spanprof`.
    let top = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("opts=\"-h -V"))
        .expect("no top-level opts line");
    let words: Vec<&str> = top
        .trim_start_matches("opts=\"")
        .trim_end_matches('"')
        .split(' ')
        .collect();
    for sub in SUBCOMMANDS {
        assert!(words.contains(&sub), "bash does not offer {sub}: {top}");
    }
    assert!(installed("bash"), "bash is needed to check the bash script");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "spanprof.bash", &text);
    shell_output("bash", &["-n", &file], dir.path());
    // Complete `spanprof fl` and `spanprof escape --only m` as bash would.
    let probe = format!(
        "source {file}
COMP_WORDS=(spanprof fl); COMP_CWORD=1; _spanprof spanprof fl spanprof; echo \"${{COMPREPLY[*]}}\"
COMP_WORDS=(spanprof escape --only m); COMP_CWORD=3; _spanprof spanprof m --only; echo \"${{COMPREPLY[*]}}\"
COMP_WORDS=(spanprof report ''); COMP_CWORD=2; _spanprof spanprof '' report; echo \"${{COMPREPLY[*]}}\""
    );
    let out = shell_output("bash", &["-c", &probe], dir.path());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "flamegraph");
    assert_eq!(lines[1], "may-escape moved-to-heap");
    // A positional offers no placeholder word (`<PROFILE>`), so bash completes file names.
    assert!(!lines[2].contains('<'), "{}", lines[2]);
    assert!(lines[2].contains("--top"), "{}", lines[2]);
}

#[test]
fn zsh_script_is_valid() {
    let text = script("zsh");
    assert!(text.starts_with("#compdef spanprof"), "{text}");
    for sub in SUBCOMMANDS {
        assert!(
            text.contains(&format!("'{sub}:")),
            "zsh does not offer {sub}"
        );
    }
    assert!(text.contains("'flamegraph:Draw a flamegraph SVG of the heap'"));
    assert!(
        text.contains("(escapes leaks may-escape does-not-escape moved-to-heap leaking-param)")
    );
    if installed("zsh") {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "_spanprof", &text);
        shell_output("zsh", &["-n", &file], dir.path());
    } else {
        eprintln!("zsh is not installed: its syntax check was skipped");
    }
}

#[test]
fn fish_script_is_valid_and_completes() {
    let text = script("fish");
    for sub in SUBCOMMANDS {
        assert!(
            text.contains(&format!("__fish_spanprof_needs_command\" -f -a \"{sub}\"")),
            "fish does not offer {sub}"
        );
    }
    if installed("fish") {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "spanprof.fish", &text);
        shell_output("fish", &["-n", &file], dir.path());
        let out = shell_output(
            "fish",
            &[
                "--no-config",
                "-c",
                &format!(
                    "source {file}; complete -C 'spanprof fl'; complete -C 'spanprof escape --only m'"
                ),
            ],
            dir.path(),
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "flamegraph\tDraw a flamegraph SVG of the heap",
                "may-escape",
                "moved-to-heap"
            ],
            "{out}"
        );
    } else {
        eprintln!("fish is not installed: its syntax check was skipped");
    }
}

#[test]
fn other_shells_and_bad_names() {
    for shell in ["elvish", "powershell"] {
        let text = script(shell);
        for sub in SUBCOMMANDS {
            assert!(text.contains(sub), "{shell} does not name {sub}");
        }
    }
    spanprof()
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("invalid value 'tcsh'"));
    spanprof().args(["completions"]).assert().code(2);
    spanprof()
        .args(["completions", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "spanprof completions bash > ~/.local/share/bash-completion/completions/spanprof",
        ));
}
