//! Shared by the CLI tests: a real profile made once by `spanprof demo`, command
//! helpers, an XML well-formedness check and a minimal pprof decoder.
#![allow(dead_code)]

pub mod fresh;
pub mod webdriver;

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The example `name` of this package, which `cargo test` builds beside the test's
/// `deps/` folder (`sample_program` is an example so that `cargo install` leaves it
/// out). `cargo test --test X` alone builds no examples: the message says what to run.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from <target>/<profile>/deps");
    let program = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        program.is_file(),
        "{} is missing: build it with `cargo test -p spanprof-cli` (or `cargo build -p spanprof-cli --example {name}`)",
        program.display()
    );
    program
}

/// Fails the test with the child's stderr unless it exited 0.
pub fn assert_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh folder under cargo's test scratch folder, named after the test and pid.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn spanprof() -> Command {
    let mut c = Command::cargo_bin("spanprof").unwrap();
    c.env_remove("SPANPROF_OUT").env_remove("SPANPROF_RATE");
    c
}

/// The folder `spanprof demo` wrote, made once per test binary.
pub fn demo_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("demo-{}", std::process::id()));
        spanprof().arg("demo").arg(&dir).assert().success();
        dir
    })
}

pub fn demo_profile() -> PathBuf {
    demo_dir().join("profile.json")
}

pub fn profile_value() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(demo_profile()).unwrap()).unwrap()
}

/// Every tag opened is closed, in order; returns the number of elements.
pub fn check_xml(bytes: &[u8]) -> usize {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut elements = 0;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_)) => {
                elements += 1
            }
            Ok(_) => {}
            Err(e) => panic!("SVG is not well-formed XML: {e}"),
        }
        buf.clear();
    }
    elements
}

/// Sum of the weights of folded lines.
pub fn folded_sum(text: &str) -> u64 {
    text.lines()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum()
}

/// Protobuf fields of one message: (field, varint value or bytes).
pub enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(b: &[u8], i: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let byte = b[*i];
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

pub fn fields(b: &[u8]) -> Vec<(u64, Field<'_>)> {
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let key = varint(b, &mut i);
        match key & 7 {
            0 => out.push((key >> 3, Field::Varint(varint(b, &mut i)))),
            2 => {
                let n = varint(b, &mut i) as usize;
                out.push((key >> 3, Field::Bytes(&b[i..i + n])));
                i += n;
            }
            w => panic!("unexpected wire type {w}"),
        }
    }
    out
}

pub fn packed(b: &[u8]) -> Vec<u64> {
    let mut i = 0;
    let mut v = Vec::new();
    while i < b.len() {
        v.push(varint(b, &mut i));
    }
    v
}

/// The parts of a pprof Profile the tests check.
#[derive(Debug, Default)]
pub struct Pprof {
    pub strings: Vec<String>,
    pub sample_types: Vec<(u64, u64)>,
    pub samples: Vec<(Vec<u64>, Vec<u64>)>,
    pub locations: Vec<(u64, Vec<(u64, u64)>)>,
    /// Per location: (id, mapping id, address).
    pub location_addresses: Vec<(u64, u64, u64)>,
    pub mappings: Vec<PprofMapping>,
    pub functions: Vec<(u64, u64, u64)>,
    pub period: u64,
    pub period_type: (u64, u64),
    pub default_sample_type: u64,
}

/// A pprof Mapping (strings as indices).
#[derive(Debug, Default)]
pub struct PprofMapping {
    pub id: u64,
    pub start: u64,
    pub limit: u64,
    pub file_offset: u64,
    pub filename: u64,
    pub build_id: u64,
    pub has_functions: bool,
}

fn value_type(b: &[u8]) -> (u64, u64) {
    let mut t = (0, 0);
    for (f, v) in fields(b) {
        if let Field::Varint(x) = v {
            if f == 1 {
                t.0 = x
            } else if f == 2 {
                t.1 = x
            }
        }
    }
    t
}

pub fn decode_pprof(gz: &[u8]) -> Pprof {
    use std::io::Read;
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut raw)
        .unwrap();
    let mut p = Pprof::default();
    for (f, v) in fields(&raw) {
        match (f, v) {
            (1, Field::Bytes(b)) => p.sample_types.push(value_type(b)),
            (2, Field::Bytes(b)) => {
                let mut s = (Vec::new(), Vec::new());
                for (f, v) in fields(b) {
                    match (f, v) {
                        (1, Field::Bytes(b)) => s.0 = packed(b),
                        (2, Field::Bytes(b)) => s.1 = packed(b),
                        _ => {}
                    }
                }
                p.samples.push(s);
            }
            (3, Field::Bytes(b)) => {
                let mut m = PprofMapping::default();
                for (f, v) in fields(b) {
                    if let Field::Varint(x) = v {
                        match f {
                            1 => m.id = x,
                            2 => m.start = x,
                            3 => m.limit = x,
                            4 => m.file_offset = x,
                            5 => m.filename = x,
                            6 => m.build_id = x,
                            7 => m.has_functions = x != 0,
                            _ => {}
                        }
                    }
                }
                p.mappings.push(m);
            }
            (4, Field::Bytes(b)) => {
                let mut loc = (0, Vec::new());
                let mut at = (0, 0, 0);
                for (f, v) in fields(b) {
                    match (f, v) {
                        (1, Field::Varint(id)) => (loc.0, at.0) = (id, id),
                        (2, Field::Varint(m)) => at.1 = m,
                        (3, Field::Varint(a)) => at.2 = a,
                        (4, Field::Bytes(l)) => loc.1.push(value_type(l)),
                        _ => {}
                    }
                }
                p.locations.push(loc);
                p.location_addresses.push(at);
            }
            (5, Field::Bytes(b)) => {
                let mut func = (0, 0, 0);
                for (f, v) in fields(b) {
                    match (f, v) {
                        (1, Field::Varint(x)) => func.0 = x,
                        (2, Field::Varint(x)) => func.1 = x,
                        (4, Field::Varint(x)) => func.2 = x,
                        _ => {}
                    }
                }
                p.functions.push(func);
            }
            (6, Field::Bytes(b)) => p.strings.push(String::from_utf8(b.to_vec()).unwrap()),
            (11, Field::Bytes(b)) => p.period_type = value_type(b),
            (12, Field::Varint(x)) => p.period = x,
            (14, Field::Varint(x)) => p.default_sample_type = x,
            _ => {}
        }
    }
    p
}

/// The demo's profile with the issue-14 fields filled in by hand (a timeline, a peak,
/// temporary counts), written to `dir/issue14.json`: 50 points 10 ms apart, live bytes
/// rising to exactly 2 MiB at 200 ms (the peak) and falling again, 1,000 allocations
/// and 4 refills per point (100,000 allocations/s, 400 refills/s), the demo's heap
/// events and a scavenging at 300 ms; at the peak half of each site stack's objects
/// and of each sampled stack's were live; a third of each site stack's allocations
/// and half of each sample's were temporary.
pub fn issue14_profile(dir: &Path) -> PathBuf {
    let mut v = profile_value();
    let points: Vec<serde_json::Value> = (0..50u64)
        .map(|i| {
            let t = i * 10;
            let live = if t <= 200 { t * (2 << 20) / 200 } else { (2 << 20) - (t - 200) * 4096 };
            serde_json::json!({
                "t_ms": t, "live_bytes": live, "heap_in_use_bytes": live + 65536,
                "mapped_bytes": 64u64 << 20, "rss_bytes": live + (3 << 20),
                "allocs": i * 1000, "refills": i * 4, "scavenged_bytes": if t >= 300 { 65536 } else { 0 }
            })
        })
        .collect();
    v["timeline"] = serde_json::json!({ "interval_ms": 10, "points": points });
    v["events"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({ "at_ms": 300, "kind": "scavenged", "bytes": 65536 }));
    let mut peak_sites = Vec::new();
    let mut temporary_total = 0;
    for s in v["site_stats"].as_array_mut().unwrap() {
        let allocs = s["allocs"].as_u64().unwrap();
        let slot = s["slot_bytes"].as_u64().unwrap();
        s["temporary"] = (allocs / 3).into();
        temporary_total += allocs / 3;
        if allocs > 1 {
            peak_sites.push(serde_json::json!({
                "stack": s["stack"], "class": s["class"],
                "live_objects": allocs / 2, "live_bytes": slot / allocs * (allocs / 2)
            }));
        }
    }
    let mut peak_samples = Vec::new();
    for s in v["samples"].as_array_mut().unwrap() {
        let objects = s["alloc_objects"].as_u64().unwrap();
        s["temporary_objects"] = (objects / 2).into();
        s["temporary_objects_est"] = (s["alloc_objects_est"].as_f64().unwrap() / 2.0).into();
        peak_samples.push(serde_json::json!({
            "stack": s["stack"], "size": s["size"], "rate": s["rate"],
            "inuse_objects": objects / 2,
            "inuse_objects_est": s["alloc_objects_est"].as_f64().unwrap() / 2.0,
            "inuse_bytes_est": s["alloc_bytes_est"].as_f64().unwrap() / 2.0
        }));
    }
    v["temporary_total"] = temporary_total.into();
    v["peak"] = serde_json::json!({
        "t_ms": 200, "live_bytes": 2u64 << 20, "mapped_bytes": 64u64 << 20,
        "site_stats": peak_sites, "samples": peak_samples
    });
    let path = dir.join("issue14.json");
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    path
}
