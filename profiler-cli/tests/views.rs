//! The Peak, Leaks and Temporary views on a profile whose figures are known: the
//! report's sections (text and JSON), `report --leaks`, `check --max-leaked-bytes`
//! (exit 0 within, 1 over with one line, non-zero with one line naming the file on
//! bad input) and the `peak-bytes` and `temporary` weights of `folded`.

mod common;

use common::{scratch_dir, spanprof};
use spanprof::format::{ClassCounters, LargeCounters, Peak, PeakSiteStat, SiteInfo, SiteStat};
use std::path::PathBuf;

/// Two sites: `grow` (a 48 B class, 10 objects live at the peak, 2 leaked, 7 of 12
/// temporary) and `big` (one large object of 1 MiB, live at the peak, freed).
fn profile(test: &str) -> PathBuf {
    let site = |id: u32, name: &str| SiteInfo {
        id,
        name: name.into(),
        ..SiteInfo::default()
    };
    let p = spanprof::Profile {
        version: spanprof::format::FORMAT_VERSION,
        sites: vec![site(0, "grow"), site(1, "big")],
        classes: vec![ClassCounters {
            class: 5,
            size: 48,
            allocs: 12,
            frees: 10,
            bytes_allocated: 576,
            live_objects: 2,
            live_bytes: 96,
            ..ClassCounters::default()
        }],
        large: LargeCounters {
            allocs: 1,
            frees: 1,
            bytes_allocated: 1 << 20,
            bytes_freed: 1 << 20,
            requested_bytes: 1 << 20,
        },
        site_stats: vec![
            SiteStat {
                stack: vec![0],
                class: 5,
                allocs: 12,
                slot_bytes: 576,
                requested_bytes: 576,
                frees: 10,
                live_objects: 2,
                live_bytes: 96,
                temporary: 7,
                ..SiteStat::default()
            },
            SiteStat {
                stack: vec![1],
                class: 0,
                allocs: 1,
                slot_bytes: 1 << 20,
                requested_bytes: 1 << 20,
                frees: 1,
                ..SiteStat::default()
            },
        ],
        peak: Peak {
            t_ms: 12,
            live_bytes: (1 << 20) + 480,
            mapped_bytes: 64 << 20,
            site_stats: vec![
                PeakSiteStat {
                    stack: vec![1],
                    class: 0,
                    live_objects: 1,
                    live_bytes: 1 << 20,
                },
                PeakSiteStat {
                    stack: vec![0],
                    class: 5,
                    live_objects: 10,
                    live_bytes: 480,
                },
            ],
            samples: Vec::new(),
        },
        temporary_total: 8,
        ..spanprof::Profile::default()
    };
    let path = scratch_dir(test).join("p.json");
    std::fs::write(&path, serde_json::to_vec(&p).unwrap()).unwrap();
    path
}

#[test]
fn the_report_has_peak_leaks_and_temporary_sections() {
    let p = profile("views-report");
    let out = spanprof().arg("report").arg(&p).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let peak = &text[text.find("Peak (").expect(&text)..];
    assert!(peak.contains("1.0 MiB live at 12 ms"), "{peak}");
    // Largest first: big, then grow.
    let (b, g) = (peak.find("  big").unwrap(), peak.find("  grow").unwrap());
    assert!(b < g, "{peak}");
    let leaks = &text[text.find("Leaks (").unwrap()..];
    assert!(leaks.contains("96 B in 2 objects"), "{leaks}");
    assert!(leaks.contains("statics"), "{leaks}");
    let temp = &text[text.find("Temporary allocations").unwrap()..];
    assert!(temp.contains("8 of 13 allocations"), "{temp}");
    assert!(temp.contains("58.3%  grow"), "{temp}");

    let out = spanprof()
        .args(["report", "--format", "json"])
        .arg(&p)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["peak"]["live_bytes"], (1 << 20) + 480);
    assert_eq!(v["peak"]["sites"][0]["name"], "big");
    assert_eq!(v["leaks"]["live_bytes"], 96);
    assert_eq!(v["leaks"]["sites"][0]["objects"], 2);
    assert_eq!(v["temporary"]["total"], 8);
    assert_eq!(v["temporary"]["sites"][0]["temporary"], 7);
}

#[test]
fn report_leaks_shows_only_the_leaks() {
    let p = profile("views-leaks");
    let out = spanprof()
        .args(["report", "--leaks"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("Leaks ("), "{text}");
    assert!(!text.contains("Peak"), "{text}");
    assert!(text.contains("grow"), "{text}");
}

#[test]
fn check_max_leaked_bytes_gates_with_one_line() {
    let p = profile("views-check");
    spanprof()
        .args(["check", "--max-leaked-bytes", "96"])
        .arg(&p)
        .assert()
        .success();
    spanprof()
        .args(["check", "--max-leaked-bytes", "1KiB"])
        .arg(&p)
        .assert()
        .success();
    let out = spanprof()
        .args(["check", "--max-leaked-bytes", "95"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("leaked 96 bytes") && err.contains("over"),
        "{err}"
    );
    // No limit is a usage error.
    let out = spanprof().arg("check").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Bad input: one line naming the file, non-zero.
    let bad = p.with_file_name("bad.json");
    std::fs::write(&bad, "{ not json").unwrap();
    for f in [bad, p.with_file_name("missing.json")] {
        let out = spanprof()
            .args(["check", "--max-leaked-bytes", "1"])
            .arg(&f)
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&*f.to_string_lossy()), "{err}");
    }
}

#[test]
fn folded_weighs_site_stacks_by_peak_bytes_and_temporaries() {
    let p = profile("views-folded");
    let run = |weight: &str| {
        let out = spanprof()
            .args(["folded", "--stacks", "sites", "--weight", weight])
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(run("peak-bytes"), "big 1048576\ngrow 480\n");
    assert_eq!(run("temporary"), "grow 7\n");
}

/// The Peak section of `report` and of the HTML page for the profile at `path`.
fn no_peak_sections(path: &std::path::Path) -> (String, String) {
    let out = spanprof().arg("report").arg(path).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let start = text.find("Peak (").expect(&text);
    let end = text.find("Leaks (").expect(&text);
    let page = path.with_extension("html");
    let out = spanprof()
        .arg("html")
        .arg(path)
        .arg("-o")
        .arg(&page)
        .output()
        .unwrap();
    assert!(out.status.success());
    let html = std::fs::read_to_string(&page).unwrap();
    let start_html = html.find("<h2>Peak").expect(&html);
    let end_html = html.find("<h2>Leaks").expect(&html);
    (
        text[start..end].to_string(),
        html[start_html..end_html].to_string(),
    )
}

#[test]
fn no_peak_says_why() {
    // A profile of a program run with SPANPROF_OUT (it has a timeline) whose live
    // bytes stayed under the first peak's margin: recorded, but no peak.
    let recorded = spanprof::Profile {
        version: spanprof::format::FORMAT_VERSION,
        timeline: spanprof::format::Timeline {
            interval_ms: 10,
            points: vec![spanprof::format::TimelinePoint {
                t_ms: 10,
                live_bytes: 4096,
                ..Default::default()
            }],
        },
        ..spanprof::Profile::default()
    };
    let path = scratch_dir("views-no-peak").join("small.json");
    std::fs::write(&path, serde_json::to_vec(&recorded).unwrap()).unwrap();
    let (text, html) = no_peak_sections(&path);
    assert!(
        text.contains("(no peak recorded: the live bytes never reached 1 MiB"),
        "{text}"
    );
    assert!(!text.contains("SPANPROF_OUT"), "{text}");
    assert!(html.contains("never reached 1 MiB"), "{html}");

    // Without a timeline, it was not recording.
    let unrecorded = spanprof::Profile {
        version: spanprof::format::FORMAT_VERSION,
        ..spanprof::Profile::default()
    };
    std::fs::write(&path, serde_json::to_vec(&unrecorded).unwrap()).unwrap();
    let (text, html) = no_peak_sections(&path);
    assert!(
        text.contains(
            "(no peak recorded: peaks are recorded in profiles written with SPANPROF_OUT)"
        ),
        "{text}"
    );
    assert!(html.contains("this profile has no peak"), "{html}");
}
