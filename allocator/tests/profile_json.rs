//! The hand-written JSON of `Profile::to_json` reads back through serde into the same
//! profile, for any strings (control characters, quotes, any Unicode), any integers
//! and any finite floats; and a real profile of this process does too.

use proptest::prelude::*;
use spanprof::format::*;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

fn read(json: &[u8]) -> Profile {
    serde_json::from_slice(json).unwrap_or_else(|e| {
        panic!(
            "not valid profile JSON ({e}): {}",
            String::from_utf8_lossy(json)
        )
    })
}

fn line() -> impl Strategy<Value = Line> {
    (
        any::<String>(),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<u32>()),
        any::<bool>(),
    )
        .prop_map(|(function, file, line, inlined)| Line {
            function,
            file,
            line,
            inlined,
        })
}

fn location() -> impl Strategy<Value = Location> {
    (
        any::<u64>(),
        proptest::option::of(any::<u32>()),
        any::<u64>(),
        proptest::collection::vec(line(), 0..4),
    )
        .prop_map(|(address, mapping, offset, lines)| Location {
            address,
            mapping,
            offset,
            lines,
        })
}

fn mapping() -> impl Strategy<Value = Mapping> {
    (any::<(String, String)>(), any::<[u64; 4]>()).prop_map(|((path, build_id), n)| Mapping {
        path,
        build_id,
        start: n[0],
        end: n[1],
        file_offset: n[2],
        load_bias: n[3],
    })
}

fn stack() -> impl Strategy<Value = Stack> {
    proptest::collection::vec(any::<u32>(), 0..6).prop_map(|locations| Stack { locations })
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        0.0..1e6f64,
        Just(0.0),
        Just(f64::MIN_POSITIVE),
        Just(f64::MAX),
    ]
}

fn sample() -> impl Strategy<Value = Sample> {
    (
        any::<u32>(),
        any::<[u64; 6]>(),
        [finite(), finite(), finite(), finite()],
    )
        .prop_map(|(stack, n, e)| Sample {
            stack,
            size: n[0],
            rate: n[1],
            alloc_objects: n[2],
            alloc_bytes: n[3],
            free_objects: n[4],
            free_bytes: n[5],
            alloc_objects_est: e[0],
            alloc_bytes_est: e[1],
            inuse_objects_est: e[2],
            inuse_bytes_est: e[3],
            // Written by the issue-14 writer; defaults until it lands here.
            temporary_objects: 0,
            temporary_objects_est: 0.0,
        })
}

fn finding() -> impl Strategy<Value = FindingInfo> {
    (
        any::<(u32, u32)>(),
        any::<[String; 3]>(),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u32>()),
    )
        .prop_map(
            |((line, column), [expr, kind, reason], type_name, size, align, size_class)| {
                FindingInfo {
                    line,
                    column,
                    expr,
                    kind,
                    reason,
                    type_name,
                    size,
                    align,
                    size_class,
                }
            },
        )
}

fn profile() -> impl Strategy<Value = Profile> {
    (
        any::<(String, Vec<String>, Vec<String>)>(),
        any::<(u32, u64, u64, u64)>(),
        proptest::collection::vec(sample(), 0..4),
        proptest::collection::vec(finding(), 0..3),
        any::<(String, String, u64)>(),
        proptest::collection::vec(any::<u32>(), 0..4),
        (
            proptest::collection::vec(mapping(), 0..3),
            proptest::collection::vec(location(), 0..4),
            proptest::collection::vec(stack(), 0..4),
        ),
    )
        .prop_map(
            |(
                (program, args, warnings),
                (pid, start, end, rate),
                samples,
                findings,
                ev,
                stack,
                (mappings, locations, stacks),
            )| {
                Profile {
                    version: FORMAT_VERSION,
                    spanprof_version: "0.1.0".into(),
                    program,
                    args,
                    pid,
                    start_unix_ms: start,
                    end_unix_ms: end,
                    sample_rate: rate,
                    warnings,
                    size_classes: vec![SizeClassRow {
                        class: 1,
                        size: 8,
                        pages: 1,
                        objects: 1024,
                        tail_waste: 0,
                    }],
                    classes: vec![ClassCounters {
                        class: 1,
                        size: 8,
                        allocs: start,
                        frees: end,
                        ..ClassCounters::default()
                    }],
                    large: LargeCounters {
                        allocs: end,
                        ..LargeCounters::default()
                    },
                    heap: HeapFigures {
                        bytes_mapped: u64::MAX,
                        ..HeapFigures::default()
                    },
                    events: vec![HeapEvent {
                        at_ms: ev.2,
                        kind: ev.0.clone(),
                        bytes: ev.2,
                    }],
                    sites: vec![SiteInfo {
                        id: 0,
                        name: ev.0,
                        module: ev.1.clone(),
                        file: ev.1,
                        line: pid,
                        column: 3,
                        findings,
                    }],
                    site_stats: vec![SiteStat {
                        stack,
                        class: 4,
                        allocs: rate,
                        ..SiteStat::default()
                    }],
                    mappings,
                    locations,
                    stacks,
                    samples,
                    dropped_samples: rate,
                    max_frames: pid,
                    types: vec![TypeRow::default()],
                    site_counts_only: pid % 2 == 1,
                    // Written by the issue-14 writer; defaults until it lands here.
                    peak: Default::default(),
                    temporary_total: 0,
                    timeline: Default::default(),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_profile_reads_back_unchanged(p in profile()) {
        let json = p.to_json();
        prop_assert!(!json.contains(&b'\n'), "one line");
        prop_assert_eq!(read(&json), p);
    }
}

#[test]
fn a_real_profile_reads_back_unchanged() {
    spanprof::set_sample_rate(1);
    let _s = spanprof::enter(spanprof::site!("json_site \"quoted\"\t"));
    let v: Vec<String> = (0..100).map(|i| format!("item-{i}")).collect();
    let p = spanprof::profile();
    drop(v);
    assert!(!p.samples.is_empty());
    assert!(!p.locations.is_empty() && !p.stacks.is_empty() && !p.mappings.is_empty());
    assert!(p.sites.iter().any(|s| s.name == "json_site \"quoted\"\t"));
    assert_eq!(read(&p.to_json()), p);
}
