//! Sampled stacks through every command: a 400-deep recursion (the `deep_stack`
//! example, run for real) keeps 128 frames under a `[truncated]` root in the
//! profile, the folded output, the report and pprof (with real mappings and build
//! IDs); the interned tables hold each address and stack once; and a version-1
//! profile (a real one, written by spanprof 0.1 before stacks were interned) still
//! reads in every command.

mod common;

use common::*;
use spanprof::format::TRUNCATED;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// An example of this package, which `cargo test` builds next to `deps/`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let program = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from <target>/<profile>/deps")
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        program.is_file(),
        "{} is missing: build it with `cargo test -p spanprof-cli`",
        program.display()
    );
    program
}

/// The profile of one run of `deep_stack`, made once per test binary.
fn deep_profile() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("stacks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("deep.json");
        let out = std::process::Command::new(example("deep_stack"))
            .arg(&path)
            .env_remove("SPANPROF_OUT")
            .env_remove("SPANPROF_RATE")
            .env_remove("SPANPROF_MAX_FRAMES")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    })
}

fn stdout_of(args: &[&str]) -> String {
    let out = spanprof()
        .args(args)
        .assert()
        .success()
        .get_output()
        .clone();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_deep_stack_keeps_128_frames_under_a_truncated_root() {
    let path = deep_profile();
    let p: spanprof::Profile = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(p.version, 2);
    assert_eq!(p.max_frames, 128);
    assert!(!p.samples.is_empty());
    for s in &p.samples {
        let locs = &p.stacks[s.stack as usize].locations;
        // 128 of the program's addresses, then the marker.
        assert_eq!(locs.len(), 129);
        let root = &p.locations[*locs.last().unwrap() as usize];
        assert_eq!(root.lines[0].function, TRUNCATED);
        assert_eq!((root.address, root.mapping), (0, None));
        let recursions = p
            .frames(s.stack)
            .filter(|f| f.function.ends_with("recurse"))
            .count();
        assert!(recursions > 100, "{recursions} recursion frames");
    }
    // The recursion's frames are one location each way down: a handful of
    // locations for hundreds of frames.
    assert!(p.locations.len() < 40, "{} locations", p.locations.len());

    // Folded, every frame kept: every stack has the one root and all 128 frames.
    let folded = stdout_of(&["folded", "--keep-alloc-frames", path.to_str().unwrap()]);
    let roots: BTreeSet<&str> = folded
        .lines()
        .map(|l| l.split(';').next().unwrap())
        .collect();
    assert_eq!(roots, BTreeSet::from([TRUNCATED]), "{folded}");
    for line in folded.lines() {
        let (stack, _) = line.rsplit_once(' ').unwrap();
        assert!(stack.split(';').count() > 128, "{line}");
        assert!(stack.contains(";deep_stack::leaf;"), "{line}");
    }
    // Trimmed (the default), the allocation machinery is gone and the innermost
    // frames are the program's.
    for line in stdout_of(&["folded", path.to_str().unwrap()]).lines() {
        let (stack, _) = line.rsplit_once(' ').unwrap();
        assert!(stack.starts_with(TRUNCATED), "{line}");
        // `Box::new` is all machinery; of `Vec::with_capacity`, the call the program
        // made stays, not the `with_capacity_in` and `RawVec` code under it.
        assert!(
            stack.ends_with(";deep_stack::leaf")
                || stack.ends_with(";deep_stack::leaf;alloc::vec::Vec<T>::with_capacity"),
            "{line}"
        );
    }
    // The report names the allocating function, not the marker.
    let report = stdout_of(&["report", path.to_str().unwrap()]);
    assert!(report.contains("deep_stack::leaf"), "{report}");
}

#[test]
fn pprof_has_a_location_per_address_and_mappings_with_build_ids() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deep.pb.gz");
    spanprof()
        .arg("pprof")
        .arg("--keep-alloc-frames")
        .arg(deep_profile())
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let pb = decode_pprof(&std::fs::read(&out).unwrap());
    let p: spanprof::Profile =
        serde_json::from_slice(&std::fs::read(deep_profile()).unwrap()).unwrap();
    let s = |i: u64| pb.strings[i as usize].as_str();
    // The same tables: a location per profile location, a mapping per mapping.
    assert_eq!(pb.locations.len(), p.locations.len());
    assert_eq!(pb.mappings.len(), p.mappings.len());
    let program = pb
        .mappings
        .iter()
        .find(|m| s(m.filename).ends_with("deep_stack"))
        .expect("the program's mapping");
    let id = s(program.build_id);
    assert!(
        id.len() >= 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "build ID {id:?}"
    );
    if let Ok(o) = std::process::Command::new("readelf")
        .arg("-n")
        .arg(example("deep_stack"))
        .output()
    {
        let text = String::from_utf8_lossy(&o.stdout);
        if let Some(line) = text.lines().find(|l| l.contains("Build ID:")) {
            assert_eq!(line.split_whitespace().last(), Some(id));
        }
    }
    assert!(program.has_functions);
    // Every address lies in its mapping; the marker has none.
    for &(loc, mapping, address) in &pb.location_addresses {
        if mapping == 0 {
            assert_eq!(address, 0, "location {loc}");
            continue;
        }
        let m = pb.mappings.iter().find(|m| m.id == mapping).unwrap();
        assert!(m.start < address && address <= m.limit, "location {loc}");
    }
    // Every sample ends in the marker's location.
    let marker = pb
        .locations
        .iter()
        .find(|l| {
            l.1.iter().any(|&(f, _)| {
                let func = pb.functions.iter().find(|x| x.0 == f).unwrap();
                s(func.1) == TRUNCATED
            })
        })
        .expect("a [truncated] location")
        .0;
    assert!(pb.samples.iter().all(|x| x.0.last() == Some(&marker)));
}

#[test]
fn the_demo_profile_stores_each_address_and_stack_once() {
    let p: spanprof::Profile =
        serde_json::from_slice(&std::fs::read(demo_profile()).unwrap()).unwrap();
    assert_eq!(p.version, spanprof::format::FORMAT_VERSION);
    assert!(!p.samples.is_empty());
    let locations: HashSet<_> = p.locations.iter().collect();
    assert_eq!(locations.len(), p.locations.len(), "a location twice");
    let stacks: HashSet<_> = p.stacks.iter().collect();
    assert_eq!(stacks.len(), p.stacks.len(), "a stack twice");
    let keys: HashSet<_> = p
        .samples
        .iter()
        .map(|s| (s.stack, s.size, s.rate))
        .collect();
    assert_eq!(keys.len(), p.samples.len(), "a sample twice");
    // Everything in the tables is used.
    let used: HashSet<u32> = p.samples.iter().map(|s| s.stack).collect();
    assert_eq!(used.len(), p.stacks.len());
    let used: HashSet<u32> = p
        .stacks
        .iter()
        .flat_map(|s| s.locations.iter().copied())
        .collect();
    assert_eq!(used.len(), p.locations.len());
    // The program's addresses are in a mapping, with their module offset.
    for l in &p.locations {
        let m = &p.mappings[l.mapping.expect("a mapping") as usize];
        assert!(m.start < l.address && l.address <= m.end);
        assert_eq!(l.offset, l.address - m.load_bias);
    }
}

fn v1_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-demo.json")
}

#[test]
fn a_version_1_profile_still_reads_in_every_command() {
    let v1 = v1_fixture();
    let v1 = v1.to_str().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(v1).unwrap()).unwrap();
    assert_eq!(v["version"], 1);
    let samples = v["samples"].as_array().unwrap();
    let est: f64 = samples
        .iter()
        .map(|s| s["alloc_bytes_est"].as_f64().unwrap())
        .sum();

    let report = stdout_of(&["report", v1]);
    assert!(report.contains("new_order"), "{report}");
    let folded = stdout_of(&["folded", "--keep-alloc-frames", v1]);
    assert!((folded_sum(&folded) as f64 - est).abs() <= folded.lines().count() as f64);
    // Frames come out as they went in: outermost first, inlined ones included.
    let first = &samples[0]["frames"];
    let want: Vec<&str> = first
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|f| f["function"].as_str().unwrap())
        .collect();
    assert!(
        folded
            .lines()
            .any(|l| l.starts_with(&format!("{} ", want.join(";")))),
        "{want:?} not in {folded}"
    );
    assert!(folded_sum(&stdout_of(&["folded", v1, "--stacks", "sites"])) > 0);

    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("v1.pb.gz");
    spanprof()
        .args(["pprof", v1, "-o"])
        .arg(&pb)
        .assert()
        .success();
    let pb = decode_pprof(&std::fs::read(&pb).unwrap());
    assert_eq!(pb.samples.len(), samples.len());
    let total: u64 = pb.samples.iter().map(|x| x.1[1]).sum();
    let want: u64 = samples
        .iter()
        .map(|s| s["alloc_bytes_est"].as_f64().unwrap().round() as u64)
        .sum();
    assert_eq!(total, want);
    let svg = dir.path().join("v1.svg");
    spanprof()
        .args(["flamegraph", v1, "-o"])
        .arg(&svg)
        .assert()
        .success();
    assert!(check_xml(&std::fs::read(&svg).unwrap()) > 20);
    spanprof().args(["audit", v1]).assert().success();
    // A version-1 profile against a version-2 one.
    spanprof()
        .args(["diff", v1])
        .arg(demo_profile())
        .arg("-o")
        .arg(dir.path().join("d.svg"))
        .assert()
        .success();
}
