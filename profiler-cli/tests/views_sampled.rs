//! The `peak-bytes` and `temporary` weights of `folded` and `flamegraph` on sampled
//! native stacks, from a real run: the `views_program` example keeps 8 blocks of
//! 4 MiB live at its peak from `hold_peak` (the last of them temporary: freed
//! before the next allocation), then makes 1000 temporary allocations of 256 B from
//! `make_temporaries`, with every allocation sampled
//! (`SPANPROF_RATE=1`). At that rate the estimates of these sizes are the raw
//! counts, so the weights are exact.

mod common;

use common::{assert_ok, example, scratch_dir, spanprof};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What `views_program` does (see its source).
const PEAK_OBJECTS: u64 = 8;
const PEAK_BYTES: u64 = 4 << 20;
const TEMPORARIES: u64 = 1000;

/// The profile of one run of `views_program`, made once per test binary.
fn profile() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = scratch_dir("views-sampled");
        let path = dir.join("views.json");
        let out = std::process::Command::new(example("views_program"))
            .env("SPANPROF_OUT", &path)
            .env("SPANPROF_RATE", "1")
            .env("SPANPROF_QUIET", "1")
            .env_remove("SPANPROF_TIMELINE_MS")
            .env_remove("SPANPROF_SITE_FREES")
            .env_remove("SPANPROF_INTERVAL")
            .env_remove("SPANPROF_SIGNAL")
            .output()
            .unwrap();
        assert_ok(&out);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains(&format!(
                "peak {PEAK_OBJECTS} x {PEAK_BYTES} B, {TEMPORARIES} temporary"
            )),
            "the example's figures changed: {said}"
        );
        path
    })
}

/// `spanprof folded PROFILE --weight WEIGHT` (native stacks): (frames, weight) per line.
fn folded(weight: &str) -> Vec<(Vec<String>, u64)> {
    let out = spanprof()
        .args(["folded"])
        .arg(profile())
        .args(["--stacks", "native", "--weight", weight])
        .output()
        .unwrap();
    assert_ok(&out);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (stack, w) = line.rsplit_once(' ').expect("STACK WEIGHT");
            (
                stack.split(';').map(str::to_string).collect(),
                w.parse().expect("a weight"),
            )
        })
        .collect()
}

/// Whether a frame is the function `name` of the example (demangled, with or without
/// its path).
fn is(frame: &str, name: &str) -> bool {
    frame == name || frame.ends_with(&format!("::{name}"))
}

/// The weight of the lines with a frame of `function`.
fn weight_in(lines: &[(Vec<String>, u64)], function: &str) -> u64 {
    lines
        .iter()
        .filter(|(frames, _)| frames.iter().any(|f| is(f, function)))
        .map(|(_, w)| w)
        .sum()
}

#[test]
fn peak_bytes_name_what_was_live_at_the_peak() {
    let lines = folded("peak-bytes");
    assert_eq!(
        weight_in(&lines, "hold_peak"),
        PEAK_OBJECTS * PEAK_BYTES,
        "{lines:#?}"
    );
    // The temporaries came after the peak: none was live then.
    assert_eq!(weight_in(&lines, "make_temporaries"), 0, "{lines:#?}");
    // Nothing else was near as large (the program's start-up and `main`'s own
    // vector of the blocks are a few KiB).
    let rest: u64 = lines.iter().map(|(_, w)| w).sum::<u64>() - PEAK_OBJECTS * PEAK_BYTES;
    assert!(
        rest < 64 << 10,
        "{rest} bytes outside hold_peak: {lines:#?}"
    );
}

#[test]
fn temporary_counts_the_allocations_freed_before_the_next_one() {
    let lines = folded("temporary");
    assert_eq!(
        weight_in(&lines, "make_temporaries"),
        TEMPORARIES,
        "{lines:#?}"
    );
    // Each block but the last was followed by the next allocation; the last one is
    // temporary by the definition: `main` drops the blocks before allocating again
    // (frees in between do not count).
    assert_eq!(weight_in(&lines, "hold_peak"), 1, "{lines:#?}");
    // The allocated objects of the same stacks: every temporary one is counted, and
    // only those.
    let allocs = folded("alloc-objects");
    assert_eq!(weight_in(&allocs, "make_temporaries"), TEMPORARIES);
    assert_eq!(weight_in(&allocs, "hold_peak"), PEAK_OBJECTS);
}

/// The `<title>`s of an SVG's frames.
fn titles(svg: &str) -> Vec<&str> {
    svg.split("<title>")
        .skip(1)
        .filter_map(|t| t.split_once("</title>").map(|(t, _)| t))
        .collect()
}

/// A function and the total its frame shows (None: no frame).
type Frame = (&'static str, Option<&'static str>);

#[test]
fn flamegraphs_show_the_same_weights() {
    let dir = scratch_dir("views-sampled-svg");
    // Per weight, the frames expected with their totals (inferno's "N unit" with
    // thousands separators), or None for a function with no frame (weight 0).
    let expected: [(&str, [Frame; 2]); 2] = [
        (
            "peak-bytes",
            [
                ("hold_peak", Some("33,554,432 bytes")),
                ("make_temporaries", None),
            ],
        ),
        (
            "temporary",
            [
                ("make_temporaries", Some("1,000 objects")),
                ("hold_peak", Some("1 objects")),
            ],
        ),
    ];
    for (weight, frames) in expected {
        let svg = dir.join(format!("{weight}.svg"));
        let out = spanprof()
            .arg("flamegraph")
            .arg(profile())
            .args(["--weight", weight, "-o"])
            .arg(&svg)
            .output()
            .unwrap();
        assert_ok(&out);
        let svg = std::fs::read_to_string(&svg).unwrap();
        let titles = titles(&svg);
        for (function, shown) in frames {
            let frame = titles.iter().find(|t| {
                t.rsplit_once(" (")
                    .is_some_and(|(name, _)| is(name, function))
            });
            match (frame, shown) {
                (Some(frame), Some(shown)) => {
                    assert!(frame.contains(&format!(" ({shown}, ")), "{weight}: {frame}")
                }
                (None, None) => {}
                (frame, shown) => {
                    panic!("{weight}: {function}: {frame:?}, expected {shown:?}: {titles:#?}")
                }
            }
        }
    }
}
