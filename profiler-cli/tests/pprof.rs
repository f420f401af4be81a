//! `spanprof pprof` read back by a real protobuf decoder (prost, with the message
//! structs of google/pprof's `proto/profile.proto` written out below) and, where Go
//! is installed, by `go tool pprof` itself: the sample types, the default sample
//! type chosen from what the profile is about, Rust names kept as written and
//! distinct, and tables that refer to each other consistently, including the edge
//! cases of the hand-written encoder (empty strings, zero values, a version-1 profile
//! with no mappings).

mod common;

use common::*;
use spanprof::Profile as SpanProfile;
use spanprof::format::{Line, Location, Mapping, Sample, Stack};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `perftools.profiles` messages (google/pprof `proto/profile.proto`), the fields
/// spanprof writes or must leave empty.
mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        pub sample: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub mapping: Vec<Mapping>,
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
        #[prost(int64, tag = "7")]
        pub drop_frames: i64,
        #[prost(int64, tag = "8")]
        pub keep_frames: i64,
        #[prost(int64, tag = "9")]
        pub time_nanos: i64,
        #[prost(int64, tag = "10")]
        pub duration_nanos: i64,
        #[prost(message, optional, tag = "11")]
        pub period_type: Option<ValueType>,
        #[prost(int64, tag = "12")]
        pub period: i64,
        #[prost(int64, repeated, tag = "13")]
        pub comment: Vec<i64>,
        #[prost(int64, tag = "14")]
        pub default_sample_type: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueType {
        #[prost(int64, tag = "1")]
        pub r#type: i64,
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
        #[prost(message, repeated, tag = "3")]
        pub label: Vec<Label>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(int64, tag = "1")]
        pub key: i64,
        #[prost(int64, tag = "2")]
        pub str: i64,
        #[prost(int64, tag = "3")]
        pub num: i64,
        #[prost(int64, tag = "4")]
        pub num_unit: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Mapping {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub memory_start: u64,
        #[prost(uint64, tag = "3")]
        pub memory_limit: u64,
        #[prost(uint64, tag = "4")]
        pub file_offset: u64,
        #[prost(int64, tag = "5")]
        pub filename: i64,
        #[prost(int64, tag = "6")]
        pub build_id: i64,
        #[prost(bool, tag = "7")]
        pub has_functions: bool,
        #[prost(bool, tag = "8")]
        pub has_filenames: bool,
        #[prost(bool, tag = "9")]
        pub has_line_numbers: bool,
        #[prost(bool, tag = "10")]
        pub has_inline_frames: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Location {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub mapping_id: u64,
        #[prost(uint64, tag = "3")]
        pub address: u64,
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
        #[prost(bool, tag = "5")]
        pub is_folded: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Line {
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        #[prost(int64, tag = "2")]
        pub line: i64,
        #[prost(int64, tag = "3")]
        pub column: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Function {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int64, tag = "2")]
        pub name: i64,
        #[prost(int64, tag = "3")]
        pub system_name: i64,
        #[prost(int64, tag = "4")]
        pub filename: i64,
        #[prost(int64, tag = "5")]
        pub start_line: i64,
    }
}

/// Names pprof's C++ heuristic used to mangle when `system_name == name`: generic
/// arguments, a `fn(…) -> …` argument, and two trait impls that differ only in the
/// `<…>` group it strips.
const GENERIC_NAMES: [&str; 4] = [
    "apply_all<fn(u32) -> Vec<u8>>",
    "<Vec<u8> as Clone>::clone",
    "<String as Clone>::clone",
    "demo::Pool<[u8; 4]>::get",
];

/// A gzipped pprof file decoded with prost.
fn decode(path: &Path) -> pb::Profile {
    use prost::Message;
    use std::io::Read;
    let gz = std::fs::read(path).unwrap();
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut raw)
        .unwrap();
    pb::Profile::decode(&raw[..]).expect("prost decodes spanprof's pprof")
}

/// `spanprof pprof PROFILE -o OUT [extra…]`, which must succeed.
fn pprof(profile: &Path, out: &Path, extra: &[&str]) {
    spanprof()
        .arg("pprof")
        .arg(profile)
        .arg("-o")
        .arg(out)
        .args(extra)
        .assert()
        .success();
}

/// The string at index `i` of the table.
fn s(p: &pb::Profile, i: i64) -> &str {
    let i = usize::try_from(i).expect("string index is not negative");
    p.string_table
        .get(i)
        .unwrap_or_else(|| panic!("string {i} is not in the table"))
}

/// The name of the default sample type.
fn default_type(p: &pb::Profile) -> &str {
    s(p, p.default_sample_type)
}

/// The tables refer to each other as profile.proto says: string 0 is "", every
/// string index is in the table, ids are non-zero and unique, every id a sample,
/// location or line names exists, the default sample type is one of the sample
/// types, every sample has one value per sample type, every address lies in its
/// mapping, and no function has `system_name` equal to its `name` (pprof's
/// symbolizer would strip its `<…>` groups).
fn check_consistent(p: &pb::Profile) {
    assert_eq!(p.string_table.first().map(String::as_str), Some(""));
    let types: Vec<&str> = p.sample_type.iter().map(|t| s(p, t.r#type)).collect();
    assert!(
        types.contains(&default_type(p)),
        "default {:?} not among {types:?}",
        default_type(p)
    );
    let ids = |v: Vec<u64>, what: &str| {
        assert!(v.iter().all(|&id| id != 0), "a {what} has id 0");
        let set: HashSet<u64> = v.iter().copied().collect();
        assert_eq!(set.len(), v.len(), "{what} ids repeat");
        set
    };
    let mappings: HashMap<u64, &pb::Mapping> = p.mapping.iter().map(|m| (m.id, m)).collect();
    ids(p.mapping.iter().map(|m| m.id).collect(), "mapping");
    let locations = ids(p.location.iter().map(|l| l.id).collect(), "location");
    let functions = ids(p.function.iter().map(|f| f.id).collect(), "function");
    for sample in &p.sample {
        assert_eq!(sample.value.len(), p.sample_type.len());
        assert!(sample.value.iter().all(|&v| v >= 0), "{sample:?}");
        assert!(
            sample.location_id.iter().all(|id| locations.contains(id)),
            "{sample:?}"
        );
        for l in &sample.label {
            s(p, l.key);
        }
    }
    for l in &p.location {
        if l.mapping_id != 0 {
            let m = mappings
                .get(&l.mapping_id)
                .unwrap_or_else(|| panic!("location {} names a missing mapping", l.id));
            assert!(
                (m.memory_start..=m.memory_limit).contains(&l.address),
                "location {} at {:#x} outside its mapping {m:?}",
                l.id,
                l.address
            );
        }
        assert!(
            l.line.iter().all(|x| functions.contains(&x.function_id)),
            "{l:?}"
        );
    }
    for m in &p.mapping {
        s(p, m.filename);
        s(p, m.build_id);
    }
    for f in &p.function {
        s(p, f.name);
        s(p, f.filename);
        assert!(
            f.system_name == 0 || f.system_name != f.name,
            "function {:?} has system_name == name",
            s(p, f.name)
        );
    }
    assert!(p.period >= 0 && p.time_nanos >= 0 && p.duration_nanos >= 0);
    let period = p.period_type.as_ref().expect("a period type");
    assert_eq!((s(p, period.r#type), s(p, period.unit)), ("space", "bytes"));
}

/// A resolved line of user code.
fn line(function: &str, file: Option<&str>, n: Option<u32>, inlined: bool) -> Line {
    Line {
        function: function.to_string(),
        file: file.map(str::to_string),
        line: n,
        inlined,
    }
}

/// A sample of `objects` allocations of `size` bytes on stack `stack`, `live` of them
/// still in use, at rate 1 (so the estimates are the counts).
fn sample(stack: u32, size: u64, objects: u64, live: u64) -> Sample {
    Sample {
        stack,
        size,
        rate: 1,
        alloc_objects: objects,
        alloc_bytes: objects * size,
        free_objects: objects - live,
        free_bytes: (objects - live) * size,
        alloc_objects_est: objects as f64,
        alloc_bytes_est: (objects * size) as f64,
        inuse_objects_est: live as f64,
        inuse_bytes_est: (live * size) as f64,
        ..Sample::default()
    }
}

/// A version-2 profile of a made-up program whose allocating functions have the
/// [`GENERIC_NAMES`], one stack each under `demo::main`, plus a location with an
/// inlined frame; `live` of the 100 objects of each stack are still in use.
fn generic_profile(live: u64) -> SpanProfile {
    let main = Location {
        address: 0x1100,
        mapping: Some(0),
        offset: 0x100,
        lines: vec![line("demo::main", Some("src/main.rs"), Some(3), false)],
    };
    let mut locations = vec![main];
    let mut stacks = Vec::new();
    let mut samples = Vec::new();
    for (i, name) in GENERIC_NAMES.iter().enumerate() {
        let i = i as u64;
        locations.push(Location {
            address: 0x2000 + 0x10 * i,
            mapping: Some(0),
            offset: 0x1000 + 0x10 * i,
            lines: vec![line(name, Some("src/lib.rs"), Some(10 + i as u32), false)],
        });
        let id = locations.len() as u32 - 1;
        stacks.push(Stack {
            locations: vec![id, 0],
        });
        samples.push(sample(stacks.len() as u32 - 1, 32 * (i + 1), 100, live));
    }
    // `demo::wrap` inlined into `demo::outer` at one address: two lines, inlined first.
    locations.push(Location {
        address: 0x3000,
        mapping: Some(0),
        offset: 0x2000,
        lines: vec![
            line("demo::wrap<u8>", Some("src/lib.rs"), Some(40), true),
            line("demo::outer", Some("src/lib.rs"), Some(50), false),
        ],
    });
    stacks.push(Stack {
        locations: vec![locations.len() as u32 - 1, 0],
    });
    samples.push(sample(stacks.len() as u32 - 1, 8, 100, live));
    SpanProfile {
        version: 2,
        spanprof_version: "0.1.0".into(),
        program: "/nonexistent/demo".into(),
        start_unix_ms: 1_700_000_000_000,
        end_unix_ms: 1_700_000_000_250,
        sample_rate: 1,
        mappings: vec![Mapping {
            path: "/nonexistent/demo".into(),
            build_id: "00112233445566778899aabbccddeeff".into(),
            start: 0x1000,
            end: 0x10000,
            file_offset: 0,
            load_bias: 0x1000,
        }],
        locations,
        stacks,
        samples,
        ..Default::default()
    }
}

/// Writes `p` as JSON into `dir` and returns its path.
fn write_profile(dir: &Path, name: &str, p: &SpanProfile) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(p).unwrap()).unwrap();
    path
}

/// `go tool pprof ARGS… FILE`'s stdout, or `None` (and why on stderr) without Go.
fn go_pprof(args: &[&str], file: &Path) -> Option<String> {
    let out = match Command::new("go")
        .args(["tool", "pprof"])
        .args(args)
        .arg(file)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!(
                "skipping the `go tool pprof` check: cannot run `go` ({e}); CI installs golang-go"
            );
            return None;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "go tool pprof {args:?} failed: {stderr}"
    );
    assert!(!stderr.to_lowercase().contains("warning"), "{stderr}");
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn demo_profile_decodes_and_defaults_to_what_it_allocated() {
    let dir = scratch_dir("pprof-demo");
    let out = dir.join("heap.pb.gz");
    pprof(&demo_profile(), &out, &[]);
    let p = decode(&out);
    check_consistent(&p);
    let types: Vec<(&str, &str)> = p
        .sample_type
        .iter()
        .map(|t| (s(&p, t.r#type), s(&p, t.unit)))
        .collect();
    assert_eq!(
        types,
        [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes")
        ]
    );
    // The demo frees everything: in use it would show nothing.
    let inuse: i64 = p.sample.iter().map(|x| x.value[3]).sum();
    let alloc: i64 = p.sample.iter().map(|x| x.value[1]).sum();
    assert!(
        alloc > 0 && inuse * 10 < alloc,
        "alloc {alloc}, in use {inuse}"
    );
    assert_eq!(default_type(&p), "alloc_space");
    // `spanprof demo` writes the same choice.
    assert_eq!(
        default_type(&decode(&demo_dir().join("heap.pb.gz"))),
        "alloc_space"
    );
    // Functions are distinct (name, file) pairs, named as the profile names them.
    let v: SpanProfile = serde_json::from_slice(&std::fs::read(demo_profile()).unwrap()).unwrap();
    let want: HashSet<&str> = v
        .locations
        .iter()
        .flat_map(|l| &l.lines)
        .map(|l| l.function.as_str())
        .collect();
    let pairs: Vec<(&str, &str)> = p
        .function
        .iter()
        .map(|f| (s(&p, f.name), s(&p, f.filename)))
        .collect();
    assert_eq!(
        pairs.iter().collect::<HashSet<_>>().len(),
        pairs.len(),
        "a function is written twice"
    );
    for (name, _) in &pairs {
        assert!(want.contains(name), "{name:?} is not a name of the profile");
    }
    assert!(
        pairs
            .iter()
            .any(|(n, _)| n.ends_with("workload::new_order"))
    );
}

#[test]
fn generic_names_are_written_as_is_and_stay_distinct() {
    let dir = scratch_dir("pprof-generic");
    let json = write_profile(&dir, "generic.json", &generic_profile(0));
    let out = dir.join("generic.pb.gz");
    pprof(&json, &out, &[]);
    let p = decode(&out);
    check_consistent(&p);
    assert!(p.function.iter().all(|f| f.system_name == 0));
    let by_name: HashMap<&str, u64> = p.function.iter().map(|f| (s(&p, f.name), f.id)).collect();
    assert_eq!(by_name.len(), p.function.len(), "names repeat");
    for name in GENERIC_NAMES {
        assert!(by_name.contains_key(name), "{name:?} not in {by_name:?}");
    }
    // One location per profile location, in order, lines innermost (inlined) first.
    assert_eq!(p.location.len(), 6);
    let inlined = p.location.iter().find(|l| l.address == 0x3000).unwrap();
    let names: Vec<(&str, i64)> = inlined
        .line
        .iter()
        .map(|l| {
            let f = p.function.iter().find(|f| f.id == l.function_id).unwrap();
            (s(&p, f.name), l.line)
        })
        .collect();
    assert_eq!(names, [("demo::wrap<u8>", 40), ("demo::outer", 50)]);
    // Each sample: its stack's locations, innermost first, and its values.
    let mut sizes: Vec<i64> = Vec::new();
    for x in &p.sample {
        assert_eq!(x.location_id.len(), 2);
        assert_eq!(x.location_id[1], 1, "demo::main is location 1");
        assert_eq!(x.value[0], 100);
        assert_eq!(x.value[2..], [0, 0]);
        let label = &x.label[0];
        assert_eq!(s(&p, label.key), "bytes");
        assert_eq!(x.value[1], 100 * label.num);
        sizes.push(label.num);
    }
    assert_eq!(sizes, [32, 64, 96, 128, 8]);
    // Symbolized: pprof must not look for /nonexistent/demo.
    let m = &p.mapping[0];
    assert!(m.has_functions && m.has_filenames && m.has_line_numbers && m.has_inline_frames);
    assert_eq!(
        (m.memory_start, m.memory_limit, s(&p, m.filename)),
        (0x1000, 0x10000, "/nonexistent/demo")
    );
    assert_eq!(p.time_nanos, 1_700_000_000_000 * 1_000_000);
    assert_eq!(p.duration_nanos, 250 * 1_000_000);
    assert_eq!(p.period, 1);
}

#[test]
fn default_sample_type_follows_what_is_still_in_use() {
    let dir = scratch_dir("pprof-default");
    // 10 of 100 objects live: a tenth of the bytes, the threshold.
    for (live, want) in [(0, "alloc_space"), (9, "alloc_space"), (10, "inuse_space")] {
        let json = write_profile(&dir, &format!("live{live}.json"), &generic_profile(live));
        let out = dir.join(format!("live{live}.pb.gz"));
        pprof(&json, &out, &[]);
        assert_eq!(default_type(&decode(&out)), want, "{live} of 100 live");
    }
    // --sample-index overrides the rule, with pprof's own names.
    let json = dir.join("live10.json");
    for want in [
        "alloc_objects",
        "alloc_space",
        "inuse_objects",
        "inuse_space",
    ] {
        let out = dir.join(format!("{want}.pb.gz"));
        pprof(&json, &out, &["--sample-index", want]);
        let p = decode(&out);
        check_consistent(&p);
        assert_eq!(default_type(&p), want);
    }
    spanprof()
        .args(["pprof", "--sample-index", "alloc-bytes"])
        .arg(&json)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("alloc_space"));
}

#[test]
fn edge_cases_decode_with_prost() {
    let dir = scratch_dir("pprof-edges");
    // Empty strings (no program, no file, an empty build ID), zero values (address
    // 0, line unknown, a zero-byte estimate, zero times), an unresolved location
    // and one outside every mapping.
    let mut p = generic_profile(0);
    p.program = String::new();
    p.start_unix_ms = 0;
    p.end_unix_ms = 0;
    p.mappings[0].path = String::new();
    p.mappings[0].build_id = String::new();
    p.locations.push(Location {
        address: 0x4000,
        mapping: Some(0),
        offset: 0x3000,
        lines: vec![],
    });
    p.locations.push(Location {
        address: 0,
        mapping: None,
        offset: 0,
        lines: vec![line("", None, None, false)],
    });
    let n = p.locations.len() as u32;
    p.stacks.push(Stack {
        locations: vec![n - 2, n - 1],
    });
    let mut zero = sample(p.stacks.len() as u32 - 1, 0, 1, 0);
    zero.alloc_bytes_est = 0.0;
    p.samples.push(zero);
    let json = write_profile(&dir, "edges.json", &p);
    let out = dir.join("edges.pb.gz");
    pprof(&json, &out, &[]);
    let d = decode(&out);
    check_consistent(&d);
    let m = &d.mapping[0];
    assert_eq!(
        (m.filename, m.build_id),
        (0, 0),
        "empty strings are index 0"
    );
    // A location with no lines leaves its mapping to be symbolized by pprof.
    assert!(!m.has_functions);
    let unresolved = d.location.iter().find(|l| l.address == 0x4000).unwrap();
    assert!(unresolved.line.is_empty() && unresolved.mapping_id == m.id);
    let nowhere = d.location.iter().find(|l| l.address == 0).unwrap();
    assert_eq!(nowhere.mapping_id, 0);
    let f = d
        .function
        .iter()
        .find(|f| f.id == nowhere.line[0].function_id)
        .unwrap();
    assert_eq!((f.name, f.filename, nowhere.line[0].line), (0, 0, 0));
    let last = d.sample.last().unwrap();
    assert_eq!(last.value, [1, 0, 0, 0]);
    assert_eq!((d.time_nanos, d.duration_nanos), (0, 0));

    // A version-1 profile (no mappings): one made-up mapping holds every location,
    // marked symbolized, and spans every address.
    let v1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-demo.json");
    let out = dir.join("v1.pb.gz");
    pprof(&v1, &out, &[]);
    let d = decode(&out);
    check_consistent(&d);
    assert_eq!(d.mapping.len(), 1);
    let m = &d.mapping[0];
    assert!(m.has_functions && m.memory_start == 0 && m.memory_limit == u64::MAX);
    assert!(d.location.iter().all(|l| l.mapping_id == m.id));
    assert!(!d.sample.is_empty());
}

#[test]
fn go_tool_pprof_shows_names_unchanged_and_a_total() {
    let dir = scratch_dir("pprof-go");
    let json = write_profile(&dir, "generic.json", &generic_profile(0));
    let out = dir.join("generic.pb.gz");
    pprof(&json, &out, &[]);
    let Some(raw) = go_pprof(&["-raw"], &out) else {
        return;
    };
    for name in GENERIC_NAMES {
        assert!(
            raw.contains(&format!(" {name} src/lib.rs:")),
            "{name:?} changed in:\n{raw}"
        );
    }
    let top = go_pprof(&["-top", "-nodecount=100"], &out).unwrap();
    // One node per function, each named in full: nothing merged into `::clone`.
    for name in GENERIC_NAMES {
        let rows = top.lines().filter(|l| l.trim_end().ends_with(name)).count();
        assert_eq!(rows, 1, "{name:?} in:\n{top}");
    }
    assert!(
        !top.lines().any(|l| l.trim_end().ends_with(" ::clone")),
        "{top}"
    );
    assert!(top.contains("Type: alloc_space"), "{top}");

    // The demo's own pprof: `go tool pprof -top` with no -sample_index shows what
    // the demo allocated, not an empty in-use heap.
    let top = go_pprof(&["-top"], &demo_dir().join("heap.pb.gz")).unwrap();
    let total = top
        .lines()
        .find_map(|l| l.split_once("Total samples = "))
        .map(|(_, t)| t.trim().to_string())
        .unwrap_or_else(|| panic!("no total in:\n{top}"));
    assert!(
        total.starts_with(|c: char| c.is_ascii_digit()) && !total.starts_with('0'),
        "Total samples = {total}\n{top}"
    );
}
