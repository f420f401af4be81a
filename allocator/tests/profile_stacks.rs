//! Sampled stacks: deep ones keep their frames up to the limit (`SPANPROF_MAX_FRAMES`,
//! 128 by default) and end in an explicit `[truncated]` frame, shallow ones are
//! complete; each distinct stack and address is stored once however many samples
//! it has. The deep cases run in a child (this test binary again, with
//! `SPANPROF_STACKS_CASE` set), since the frame limit is read once per process.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;

use spanprof::format::{Profile, TRUNCATED};

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

const DEPTH: u32 = 400;

#[inline(never)]
#[allow(clippy::vec_box)] // one allocation per box is the point
fn deep_leaf() -> Vec<Box<[u8; 100]>> {
    let mut v = Vec::with_capacity(5);
    for i in 0..5 {
        v.push(black_box(Box::new([i as u8; 100])));
    }
    // Work after the last call: no tail call, deep_leaf keeps its frame.
    black_box(&v);
    v
}

/// Recurses `n` times, then allocates at the bottom; the work after the call keeps
/// every level a real frame.
#[inline(never)]
#[allow(clippy::vec_box)]
fn deep_recurse(n: u32) -> Vec<Box<[u8; 100]>> {
    if n == 0 {
        return deep_leaf();
    }
    let v = deep_recurse(black_box(n - 1));
    black_box(&v);
    v
}

/// In a child: samples every allocation of the recursion only, writes the profile
/// to `SPANPROF_STACKS_OUT`.
#[test]
fn child_entry() {
    let Ok(out) = std::env::var("SPANPROF_STACKS_OUT") else {
        return;
    };
    if std::env::var("SPANPROF_STACKS_CASE").as_deref() == Ok("fp") {
        assert!(spanprof::set_frame_pointer_unwinding(true));
    }
    spanprof::set_sample_rate(1);
    let v = deep_recurse(DEPTH);
    spanprof::set_sample_rate(0);
    assert_eq!(v.len(), 5);
    spanprof::write_profile(&out).unwrap();
}

/// Runs the child with `env`, returns its profile.
fn deep_profile(case: &str, env: &[(&str, &str)]) -> Profile {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("deep-{case}-{}.json", std::process::id()));
    let run = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--test-threads=1"])
        .env("SPANPROF_STACKS_OUT", &out)
        .env("SPANPROF_STACKS_CASE", case)
        .env_remove("SPANPROF_OUT")
        .env_remove("SPANPROF_RATE")
        .env_remove("SPANPROF_MAX_FRAMES")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{case}: child failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    serde_json::from_slice(&text).expect("the profile reads back")
}

/// The names of a stack's locations, innermost first (a location's real function:
/// its last line).
fn location_names(p: &Profile, stack: u32) -> Vec<String> {
    p.stacks[stack as usize]
        .locations
        .iter()
        .map(|&l| {
            let loc = &p.locations[l as usize];
            loc.lines
                .last()
                .map_or(format!("{:#x}", loc.address), |l| l.function.clone())
        })
        .collect()
}

/// The stacks of the samples taken at the bottom of the recursion.
fn leaf_stacks(p: &Profile) -> Vec<u32> {
    let mut v: Vec<u32> = p
        .samples
        .iter()
        .filter(|s| p.frames(s.stack).any(|f| f.function.contains("deep_leaf")))
        .map(|s| s.stack)
        .collect();
    v.sort_unstable();
    v.dedup();
    assert!(!v.is_empty(), "no sample at deep_leaf");
    v
}

fn check_cut(p: &Profile, limit: usize) {
    assert_eq!(p.max_frames as usize, limit);
    for stack in leaf_stacks(p) {
        let names = location_names(p, stack);
        // The limit's worth of the program's frames, then the marker at the root.
        assert_eq!(names.len(), limit + 1, "{names:?}");
        assert_eq!(names.last().unwrap(), TRUNCATED);
        assert!(!names[..limit].iter().any(|n| n == TRUNCATED));
        let frames: Vec<&str> = p.frames(stack).map(|f| f.function).collect();
        assert!(
            frames[..24].iter().any(|n| n.contains("deep_leaf")),
            "{frames:?}"
        );
        let recursions = names.iter().filter(|n| n.contains("deep_recurse")).count();
        assert!(
            recursions >= limit - 30,
            "{recursions} of {limit}: {names:?}"
        );
        // The marker is the outermost frame readers see too.
        assert_eq!(p.frames(stack).last().unwrap().function, TRUNCATED);
    }
    // The recursion's stacks all share one root: the marker (a folded graph of the
    // recursion has a single root).
    let roots: std::collections::BTreeSet<String> = p
        .samples
        .iter()
        .filter(|s| {
            p.frames(s.stack)
                .any(|f| f.function.contains("deep_recurse"))
        })
        .map(|s| p.frames(s.stack).last().unwrap().name().into_owned())
        .collect();
    assert_eq!(roots.len(), 1, "{roots:?}");
    assert!(roots.contains(TRUNCATED));
}

#[test]
fn a_deep_recursion_keeps_128_frames_and_is_marked_truncated() {
    check_cut(&deep_profile("dwarf", &[]), 128);
}

#[test]
fn the_frame_limit_is_configurable_and_applies_to_frame_pointer_stacks() {
    check_cut(&deep_profile("fp", &[("SPANPROF_MAX_FRAMES", "300")]), 300);
}

#[test]
fn a_stack_within_the_limit_is_complete() {
    let p = deep_profile("whole", &[("SPANPROF_MAX_FRAMES", "512")]);
    assert_eq!(p.max_frames, 512);
    for stack in leaf_stacks(&p) {
        let names = location_names(&p, stack);
        assert!(!names.iter().any(|n| n == TRUNCATED), "{names:?}");
        let recursions = names.iter().filter(|n| n.contains("deep_recurse")).count();
        assert_eq!(recursions, DEPTH as usize + 1, "{names:?}");
        // It reaches the test function that started the recursion (inlined or not).
        assert!(
            p.frames(stack).any(|f| f.function.contains("child_entry")),
            "{names:?}"
        );
    }
}

#[test]
fn a_frame_limit_out_of_range_is_a_warning_and_the_cap() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("deep-cap-{}.json", std::process::id()));
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--test-threads=1"])
        .env("SPANPROF_STACKS_OUT", &path)
        .env("SPANPROF_MAX_FRAMES", "100000")
        .env_remove("SPANPROF_OUT")
        .env_remove("SPANPROF_RATE")
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::remove_file(&path).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("spanprof: SPANPROF_MAX_FRAMES is above the limit of 512 frames; using 512"),
        "{stderr}"
    );
}

#[inline(never)]
fn churn_a(n: usize) {
    for i in 0..n {
        black_box(Box::new([i as u8; 40]));
    }
}

#[inline(never)]
fn churn_b(n: usize) {
    for i in 0..n {
        black_box(Box::new([i as u8; 40]));
    }
}

/// (samples, distinct stacks, distinct locations of those stacks, sampled objects,
/// summed depth of those stacks) at the churn functions.
fn churn_tables(p: &Profile) -> (usize, usize, usize, u64, usize) {
    let at_churn: Vec<_> = p
        .samples
        .iter()
        .filter(|s| {
            p.frames(s.stack)
                .any(|f| f.function.contains("churn_a") || f.function.contains("churn_b"))
        })
        .collect();
    let stacks: std::collections::BTreeSet<u32> = at_churn.iter().map(|s| s.stack).collect();
    let locations: std::collections::BTreeSet<u32> = stacks
        .iter()
        .flat_map(|&s| p.stacks[s as usize].locations.iter().copied())
        .collect();
    (
        at_churn.len(),
        stacks.len(),
        locations.len(),
        at_churn.iter().map(|s| s.alloc_objects).sum(),
        stacks
            .iter()
            .map(|&s| p.stacks[s as usize].locations.len())
            .sum(),
    )
}

/// One round of both churns, always from the same call site.
#[inline(never)]
fn churn_round() {
    spanprof::set_sample_rate(1);
    churn_a(20_000);
    churn_b(20_000);
    spanprof::set_sample_rate(0);
}

#[test]
fn many_samples_of_few_stacks_make_small_tables() {
    let mut profiles = Vec::new();
    for round in 1..=10 {
        churn_round();
        if round == 1 || round == 10 {
            profiles.push(spanprof::profile());
        }
    }
    let first = &profiles[0];
    let (samples, stacks, locations, objects, depth) = churn_tables(first);
    assert_eq!(objects, 40_000);
    // One stack per function (one slot size, one rate): one sample each.
    assert_eq!((samples, stacks), (2, 2));
    // The two stacks share their frames outside the churn functions' own.
    assert!(
        locations < depth,
        "{locations} locations for {depth} frames"
    );
    // Every address is one location: no two locations share an address and lines.
    let mut seen = std::collections::HashSet::new();
    for l in &first.locations {
        assert!(seen.insert((l.address, l.lines.clone())), "{l:?}");
    }

    // Ten times the samples: the same tables, ten times the counts.
    assert_eq!(
        churn_tables(&profiles[1]),
        (samples, stacks, locations, 400_000, depth)
    );
}
