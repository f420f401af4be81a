//! The text of `spanprof report` and `spanprof audit` as a reader meets it: colour on
//! terminals only (`--color never|auto|always`, `NO_COLOR`, `CLICOLOR_FORCE`), nouns
//! that agree with their numbers, and a header that names the program as it was
//! started, with its arguments.

mod common;

use assert_cmd::Command;
use common::*;
use std::path::Path;

const ESC: char = '\u{1b}';

/// `spanprof` with no colour settings from the environment (CI may set them).
fn plain_env() -> Command {
    let mut c = spanprof();
    for var in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "TERM"] {
        c.env_remove(var);
    }
    c
}

fn stdout(c: &mut Command) -> String {
    let out = c.assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

/// A profile with `types` a binary with marked types would carry: one a byte over
/// the 32-byte class, one a byte under the smallest slot.
fn typed_profile(dir: &Path) -> std::path::PathBuf {
    let mut v = profile_value();
    let row = |name: &str, size: u64, class: u64, slot: u64| {
        serde_json::json!({
            "name": name, "module": "shop", "file": "src/shop.rs", "line": 3,
            "size": size, "align": 1, "size_class": class, "slot_size": slot,
            "waste": slot - size,
        })
    };
    v["types"] = serde_json::json!([row("Token", 33, 5, 48), row("Tiny", 7, 1, 8)]);
    let p = dir.join("typed.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    p
}

#[test]
fn color_always_styles_report_and_audit() {
    let p = demo_profile();
    // The flag goes before or after the subcommand, and beats NO_COLOR.
    for args in [
        &["--color", "always", "report"][..],
        &["report", "--color=always"][..],
    ] {
        let text = stdout(plain_env().args(args).arg(&p).env("NO_COLOR", "1"));
        assert!(
            text.starts_with("\u{1b}[1mspanprof report: "),
            "{args:?}: {text}"
        );
        assert!(text.contains("\u{1b}[1mTotals\u{1b}[0m"), "{text}");
        // The demo's Order wastes 16.7 % of its slots: above Go's 12.5 %, in yellow.
        let row = text
            .lines()
            .find(|l| l.ends_with("parse_batch > new_order"))
            .unwrap();
        assert!(row.contains("\u{1b}[33m16.7%\u{1b}[0m"), "{row:?}");
        // Colour leaves the columns where they were.
        let shown: String = strip(row);
        let plain = stdout(plain_env().args(["report"]).arg(&p));
        assert!(plain.lines().any(|l| l == shown), "{shown:?}\n{plain}");
    }
    let audit = stdout(plain_env().args(["audit", "--color", "always"]).arg(&p));
    assert!(audit.starts_with("\u{1b}[1mtype "), "{audit}");
    assert!(audit.contains("\u{1b}[33m16.7%"), "{audit}");
    assert_eq!(
        strip(&audit),
        stdout(plain_env().args(["audit", "--color", "never"]).arg(&p))
    );
}

/// `s` without its ANSI SGR sequences.
fn strip(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == ESC {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn never_no_color_and_pipes_stay_plain() {
    let p = demo_profile();
    for sub in ["report", "audit"] {
        // --color never beats CLICOLOR_FORCE.
        let never = stdout(
            plain_env()
                .args([sub, "--color", "never"])
                .arg(&p)
                .env("CLICOLOR_FORCE", "1"),
        );
        // auto into a pipe (how assert_cmd runs it), with and without NO_COLOR.
        let piped = stdout(plain_env().arg(sub).arg(&p));
        let no_color = stdout(
            plain_env()
                .args([sub, "--color", "auto"])
                .arg(&p)
                .env("NO_COLOR", "1"),
        );
        for text in [&never, &piped, &no_color] {
            assert!(!text.contains(ESC), "{sub}: {text}");
        }
        // CLICOLOR_FORCE colours even a pipe under auto (anstream's rule).
        let forced = stdout(plain_env().arg(sub).arg(&p).env("CLICOLOR_FORCE", "1"));
        assert!(forced.contains(ESC), "{sub}: {forced}");
    }
    plain_env()
        .args(["--color", "sometimes", "classes"])
        .assert()
        .code(2);
}

#[test]
fn auto_colours_a_terminal_unless_no_color() {
    let p = demo_profile();
    let exe = assert_cmd::cargo::cargo_bin("spanprof");
    let line = format!("'{}' report '{}'", exe.display(), p.display());
    // util-linux `script` runs the command on a pseudo-terminal.
    let run = |no_color: bool| {
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &line, "/dev/null"])
            .env("TERM", "xterm")
            .env_remove("CLICOLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("SPANPROF_OUT")
            .env_remove("SPANPROF_RATE")
            .stdin(std::process::Stdio::null());
        if no_color {
            c.env("NO_COLOR", "1");
        } else {
            c.env_remove("NO_COLOR");
        }
        c.output()
    };
    let tty = match run(false) {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        other => {
            eprintln!("skipping the terminal check: util-linux `script` could not run ({other:?})");
            return;
        }
    };
    assert!(tty.contains("\u{1b}[1mTotals"), "{tty}");
    let o = run(true).unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Totals") && !text.contains(ESC), "{text}");
}

#[test]
fn nouns_agree_with_their_numbers() {
    let dir = scratch_dir("report-nouns");
    let typed = typed_profile(&dir);
    let audit = stdout(plain_env().arg("audit").arg(&typed));
    let line = |name: &str| {
        audit
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {audit}"))
            .to_string()
    };
    assert!(
        line("Token").ends_with("1 byte smaller would move it to the 32 B class and save 33 %"),
        "{audit}"
    );
    assert!(
        line("Tiny").ends_with("1 byte of padding per object"),
        "{audit}"
    );
    assert!(line("Order").contains("8 bytes smaller"), "{audit}");
    assert!(!audit.contains("inf") && !audit.contains("NaN"), "{audit}");

    // One live object, one dropped sample.
    let mut v = profile_value();
    for c in v["classes"].as_array_mut().unwrap() {
        c["live_objects"] = 0.into();
        c["live_bytes"] = 0.into();
    }
    let class = v["classes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["allocs"].as_u64() > Some(0))
        .unwrap();
    class["live_objects"] = 1.into();
    class["live_bytes"] = class["size"].clone();
    v["large"]["frees"] = v["large"]["allocs"].clone();
    v["large"]["bytes_freed"] = v["large"]["bytes_allocated"].clone();
    v["dropped_samples"] = 1.into();
    let one = dir.join("one.json");
    std::fs::write(&one, serde_json::to_vec(&v).unwrap()).unwrap();
    let report = stdout(plain_env().arg("report").arg(&one));
    assert!(
        report.contains("  live at end        1 object, "),
        "{report}"
    );
    assert!(
        report.contains("(1 sampled allocation was dropped: the stack table was full;"),
        "{report}"
    );
    // The same hint with no samples at all.
    v["samples"] = serde_json::json!([]);
    let none = dir.join("none.json");
    std::fs::write(&none, serde_json::to_vec(&v).unwrap()).unwrap();
    let report = stdout(plain_env().arg("report").arg(&none));
    assert!(
        report.contains("(1 sample was dropped: the stack table was full)"),
        "{report}"
    );
}

#[test]
fn header_names_the_program_and_its_arguments_as_given() {
    let dir = scratch_dir("report-header");
    let mut v = profile_value();
    // Started by absolute path inside the folder the report is read in.
    v["program"] = dir.join("bin/tool").display().to_string().into();
    v["args"] = serde_json::json!(["--n", "5", "two words", "it's", "red\u{1b}[31m"]);
    let p = dir.join("p.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let report = stdout(plain_env().current_dir(&dir).arg("report").arg(&p));
    let first = report.lines().next().unwrap();
    assert_eq!(
        first,
        r#"spanprof report: bin/tool --n 5 'two words' 'it'\''s' $'red\x1b[31m'"#
    );
    // Nothing in the report drives the terminal when colour is off.
    assert!(!report.contains(ESC));
    let json: serde_json::Value = serde_json::from_str(&stdout(
        plain_env().args(["report", "--format", "json"]).arg(&p),
    ))
    .unwrap();
    assert_eq!(json["args"][2], "two words");

    // A long command line is cut, and says how much was left out.
    v["args"] = serde_json::json!(vec!["argument"; 100]);
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let report = stdout(plain_env().current_dir(&dir).arg("report").arg(&p));
    let first = report.lines().next().unwrap();
    assert!(
        first.starts_with("spanprof report: bin/tool argument argument ")
            && first.ends_with(" argument … (83 more arguments)")
            && first.chars().count() < 220,
        "{first}"
    );
}

#[test]
fn demo_and_run_print_their_report_in_colour_when_asked() {
    let dir = scratch_dir("colour-demo");
    let demo = stdout(
        plain_env()
            .args(["--color", "always", "demo"])
            .arg(dir.join("d")),
    );
    assert!(demo.contains("\x1b["), "{demo}");
    let plain = stdout(
        plain_env()
            .args(["--color", "never", "demo"])
            .arg(dir.join("d")),
    );
    assert!(!plain.contains('\x1b'), "{plain}");
    let run = stdout(
        plain_env()
            .current_dir(&dir)
            .args(["run", "--color", "always", "--no-svg", "-o", "p.json", "--"])
            .arg(example("sample_program")),
    );
    assert!(run.contains("\x1b["), "{run}");
}
