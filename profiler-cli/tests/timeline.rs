//! `spanprof timeline`: the heap-over-time chart of a profile with a timeline, and
//! the one-line error for one without.

mod common;

use common::*;
use predicates::prelude::*;

/// The text of every `<text>` element, trimmed.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..t.find("</text>")?];
            Some(body.trim().to_string())
        })
        .collect()
}

#[test]
fn draws_levels_rates_events_and_the_peak_with_axes_and_a_legend() {
    let dir = scratch_dir("timeline_chart");
    let p = issue14_profile(&dir);
    let out = dir.join("heap.svg");
    spanprof()
        .arg("timeline")
        .arg(&p)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let svg = std::fs::read(&out).unwrap();
    assert!(check_xml(&svg) > 100);
    let text = String::from_utf8(svg).unwrap();
    let labels = texts(&text);
    for label in [
        // The legend.
        "live bytes",
        "page heap in use",
        "mapped",
        "RSS (resident)",
        "arena growth (event)",
        "scavenging (event)",
        "peak: 2.0 MiB live at 200 ms",
        "allocations/s (left axis)",
        "refills/s (right axis)",
        // Axes with units: 64 MiB mapped is the largest level.
        "bytes (MiB)",
        "time since start (ms)",
        "allocations per second",
        "refills per second",
    ] {
        assert!(
            labels.iter().any(|l| l == label),
            "no {label:?} in {labels:?}"
        );
    }
    // 100,000 allocations/s and 400 refills/s: the axes reach them, no further than
    // the 8 % headroom.
    assert!(labels.iter().any(|l| l == "100.0k"), "{labels:?}");
    assert!(!labels.iter().any(|l| l == "120.0k"), "{labels:?}");
    assert!(labels.iter().any(|l| l == "400"), "{labels:?}");
}

#[test]
fn a_profile_without_a_timeline_says_how_to_get_one() {
    let dir = scratch_dir("timeline_none");
    let out = dir.join("heap.svg");
    spanprof()
        .arg("timeline")
        .arg(demo_profile())
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("no timeline in this profile")
                .and(predicate::str::contains("SPANPROF_OUT"))
                .and(predicate::str::contains("SPANPROF_TIMELINE_MS"))
                .and(predicate::function(|s: &str| s.lines().count() == 1)),
        );
    assert!(!out.exists());
}

#[test]
fn never_overwrites_its_input() {
    let dir = scratch_dir("timeline_input");
    let p = issue14_profile(&dir);
    let before = std::fs::read(&p).unwrap();
    spanprof()
        .arg("timeline")
        .arg(&p)
        .arg("-o")
        .arg(&p)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is the input profile"));
    assert_eq!(std::fs::read(&p).unwrap(), before);
}
