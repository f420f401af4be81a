//! Names from a profile never reach the terminal raw: a site or type named with an
//! escape sequence (a crafted or corrupted profile) is shown with its control
//! characters written `\u{1b}` in report, diff and audit text, so it cannot recolour
//! or clear the user's terminal.

mod common;

use common::{profile_value, scratch_dir, spanprof};

const NAME: &str = "escape\u{1b}[31mred\u{7}bell";
const SHOWN: &str = "escape\\u{1b}[31mred\\u{7}bell";

#[test]
fn control_characters_in_names_are_shown_escaped() {
    let dir = scratch_dir("terminal-names");
    let mut v = profile_value();
    for site in v["sites"].as_array_mut().unwrap() {
        site["name"] = NAME.into();
        for f in site["findings"].as_array_mut().unwrap() {
            if !f["type_name"].is_null() {
                f["type_name"] = NAME.into();
            }
        }
    }
    let p = dir.join("p.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let before = dir.join("before.json");
    std::fs::write(&before, serde_json::to_vec(&profile_value()).unwrap()).unwrap();
    let runs: [Vec<std::ffi::OsString>; 3] = [
        vec!["report".into(), p.clone().into()],
        vec!["audit".into(), p.clone().into()],
        vec![
            "diff".into(),
            "--stacks".into(),
            "sites".into(),
            before.into(),
            p.clone().into(),
            "-o".into(),
            dir.join("d.svg").into(),
        ],
    ];
    for args in runs {
        let out = spanprof()
            .arg("--color")
            .arg("never")
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.contains(['\u{1b}', '\u{7}']), "{args:?}: {text}");
        assert!(text.contains(SHOWN), "{args:?}: {text}");
    }
}

#[test]
fn profile_warnings_are_shown_escaped() {
    let dir = scratch_dir("terminal-warnings");
    let mut v = profile_value();
    v["warnings"] = serde_json::json!([NAME]);
    let p = dir.join("p.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let out = spanprof().arg("report").arg(&p).output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains(['\u{1b}', '\u{7}']), "{err}");
    assert!(err.contains(SHOWN), "{err}");
}
