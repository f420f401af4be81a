//! Reading a profile: every way a file can fail to be a spanprof profile becomes one
//! clear error naming the file.
//!
//! Version 2 files parse straight into [`Profile`]; version 1 files (every sample
//! with its own frames) parse into their own shape and are interned into the
//! version-2 model as they are converted, moving their strings. Either way the
//! document is parsed once into typed structs: the version is read first by a
//! struct that has only that field (serde skips the rest without building it).

use crate::output::{CliError, Result};
use serde::Deserialize;
use spanprof::Profile;
use spanprof::format::{
    ClassCounters, FORMAT_VERSION, HeapEvent, HeapFigures, LargeCounters, Line, Location, Sample,
    SiteInfo, SiteStat, SizeClassRow, Stack, TypeRow,
};
use std::collections::HashMap;
use std::io;
use std::path::Path;

/// Reads and checks the profile at `path`, and prints the profile's own warnings
/// (how it was taken: e.g. frame-pointer stacks asked for without frame pointers)
/// on stderr, one line each, so every command that reads it says so.
pub fn load(path: &Path) -> Result<Profile> {
    let profile = read(path)?;
    for w in &profile.warnings {
        eprintln!("spanprof: warning: {}: {w}", path.display());
    }
    Ok(profile)
}

fn read(path: &Path) -> Result<Profile> {
    let name = path.display().to_string();
    if path.is_dir() {
        return Err(CliError::new(&name, "is a directory, not a profile"));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        let problem = match e.kind() {
            io::ErrorKind::NotFound => "no such file".to_string(),
            io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => format!("cannot read: {e}"),
        };
        CliError::new(&name, problem)
    })?;
    parse(&bytes).map_err(|problem| CliError::new(name, problem))
}

/// The one field read before the rest: which format the document is in.
#[derive(Deserialize)]
struct Version {
    version: Option<serde_json::Value>,
}

/// Parses profile JSON (version 1 or 2), explaining what is wrong when it is not a
/// profile.
pub fn parse(bytes: &[u8]) -> std::result::Result<Profile, String> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => return Err("empty file, not a spanprof profile".into()),
        Some(b'{') => {}
        Some(_) => {
            // Say "not JSON" for text, "not a profile" for JSON of another shape.
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                    Err(e) => json_error(&e),
                    Ok(_) => "not a spanprof profile: expected a JSON object".into(),
                },
            );
        }
    }
    let version: Version = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => format!("not a spanprof profile: {e}"),
        _ => json_error(&e),
    })?;
    let profile = match version.version {
        None => return Err("not a spanprof profile: no \"version\" field".into()),
        Some(v) if v.as_u64() == Some(u64::from(FORMAT_VERSION)) => {
            serde_json::from_slice::<Profile>(bytes).map_err(shape_error)?
        }
        Some(v) if v.as_u64() == Some(1) => {
            from_v1(serde_json::from_slice::<V1Profile>(bytes).map_err(shape_error)?)
        }
        Some(v) => {
            return Err(format!(
                "profile format version {v} is not supported (this spanprof reads versions 1 and {FORMAT_VERSION})"
            ));
        }
    };
    check(&profile)?;
    Ok(profile)
}

fn json_error(e: &serde_json::Error) -> String {
    if e.is_eof() {
        format!(
            "truncated JSON (ends at line {} column {}); was the program still writing it?",
            e.line(),
            e.column()
        )
    } else {
        format!("not JSON: {e}")
    }
}

fn shape_error(e: serde_json::Error) -> String {
    if e.is_eof() || e.is_syntax() {
        json_error(&e)
    } else {
        format!("not a spanprof profile: {e}")
    }
}

/// Every index a table holds points into the table it names.
fn check(p: &Profile) -> std::result::Result<(), String> {
    let bad = |what: String| Err(format!("not a spanprof profile: {what}"));
    for (i, s) in p.samples.iter().enumerate() {
        if s.stack as usize >= p.stacks.len() {
            return bad(format!(
                "sample {i} names stack {}, but there are {} stacks",
                s.stack,
                p.stacks.len()
            ));
        }
    }
    for (i, s) in p.stacks.iter().enumerate() {
        if let Some(l) = s
            .locations
            .iter()
            .find(|&&l| l as usize >= p.locations.len())
        {
            return bad(format!(
                "stack {i} names location {l}, but there are {} locations",
                p.locations.len()
            ));
        }
    }
    for (i, l) in p.locations.iter().enumerate() {
        if let Some(m) = l.mapping.filter(|&m| m as usize >= p.mappings.len()) {
            return bad(format!(
                "location {i} names mapping {m}, but there are {} mappings",
                p.mappings.len()
            ));
        }
    }
    Ok(())
}

/// A version-1 profile: the version-2 fields but for its samples, each carrying its
/// whole stack, and no mappings, locations or stacks.
#[derive(Deserialize)]
struct V1Profile {
    version: u32,
    spanprof_version: String,
    program: String,
    args: Vec<String>,
    pid: u32,
    start_unix_ms: u64,
    end_unix_ms: u64,
    sample_rate: u64,
    #[serde(default)]
    warnings: Vec<String>,
    size_classes: Vec<SizeClassRow>,
    classes: Vec<ClassCounters>,
    large: LargeCounters,
    heap: HeapFigures,
    #[serde(default)]
    events: Vec<HeapEvent>,
    sites: Vec<SiteInfo>,
    site_stats: Vec<SiteStat>,
    samples: Vec<V1Sample>,
    #[serde(default)]
    dropped_samples: u64,
    #[serde(default)]
    types: Vec<TypeRow>,
}

#[derive(Deserialize)]
struct V1Sample {
    frames: Vec<V1Frame>,
    size: u64,
    rate: u64,
    alloc_objects: u64,
    alloc_bytes: u64,
    free_objects: u64,
    free_bytes: u64,
    alloc_objects_est: f64,
    alloc_bytes_est: f64,
    inuse_objects_est: f64,
    inuse_bytes_est: f64,
}

#[derive(Deserialize)]
struct V1Frame {
    function: String,
    file: Option<String>,
    line: Option<u32>,
    address: u64,
    inlined: bool,
}

/// A version-1 profile in the version-2 model: frames of one address (inlined ones
/// and the frame they are inlined into) become one location, each distinct location
/// and stack is stored once, samples name their stack.
fn from_v1(v1: V1Profile) -> Profile {
    use std::hash::BuildHasher;
    // Locations are interned by hash with the candidates compared in place, so each
    // one's strings are held once (a map keyed by the location would hold them twice).
    let hasher = std::collections::hash_map::RandomState::new();
    let mut locations: Vec<Location> = Vec::new();
    let mut location_ids: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut stacks: Vec<Stack> = Vec::new();
    let mut stack_ids: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut samples = Vec::with_capacity(v1.samples.len());
    for s in v1.samples {
        let mut ids = Vec::new();
        let mut lines = Vec::new();
        let n = s.frames.len();
        for (i, f) in s.frames.into_iter().enumerate() {
            let address = f.address;
            let inlined = f.inlined && i + 1 < n;
            lines.push(Line {
                function: f.function,
                file: f.file,
                line: f.line,
                inlined,
            });
            if inlined {
                continue; // inlined into the next frame: the same location
            }
            let loc = Location {
                address,
                mapping: None,
                offset: address,
                lines: std::mem::take(&mut lines),
            };
            let same = location_ids.entry(hasher.hash_one(&loc)).or_default();
            let id = match same.iter().find(|&&id| locations[id as usize] == loc) {
                Some(&id) => id,
                None => {
                    let id = locations.len() as u32;
                    locations.push(loc);
                    same.push(id);
                    id
                }
            };
            ids.push(id);
        }
        let next = stacks.len() as u32;
        let stack = *stack_ids.entry(ids).or_insert_with_key(|ids| {
            stacks.push(Stack {
                locations: ids.clone(),
            });
            next
        });
        samples.push(Sample {
            stack,
            size: s.size,
            rate: s.rate,
            alloc_objects: s.alloc_objects,
            alloc_bytes: s.alloc_bytes,
            free_objects: s.free_objects,
            free_bytes: s.free_bytes,
            alloc_objects_est: s.alloc_objects_est,
            alloc_bytes_est: s.alloc_bytes_est,
            inuse_objects_est: s.inuse_objects_est,
            inuse_bytes_est: s.inuse_bytes_est,
        });
    }
    Profile {
        version: v1.version,
        spanprof_version: v1.spanprof_version,
        program: v1.program,
        args: v1.args,
        pid: v1.pid,
        start_unix_ms: v1.start_unix_ms,
        end_unix_ms: v1.end_unix_ms,
        sample_rate: v1.sample_rate,
        warnings: v1.warnings,
        size_classes: v1.size_classes,
        classes: v1.classes,
        large: v1.large,
        heap: v1.heap,
        events: v1.events,
        sites: v1.sites,
        site_stats: v1.site_stats,
        mappings: Vec::new(),
        locations,
        stacks,
        samples,
        dropped_samples: v1.dropped_samples,
        max_frames: 0,
        types: v1.types,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"version":1,"spanprof_version":"0.1.0","program":"p","args":[],
        "pid":1,"start_unix_ms":0,"end_unix_ms":5,"sample_rate":1,
        "size_classes":[],"classes":[],
        "large":{"allocs":0,"frees":0,"bytes_allocated":0,"bytes_freed":0,"requested_bytes":0},
        "heap":{"arenas_mapped":0,"bytes_mapped":0,"bytes_in_use":0,"bytes_scavenged":0,"metadata_bytes":0},
        "sites":[],"site_stats":[],
        "samples":[
          {"frames":[{"function":"vec_new","file":"/rustc/x/vec.rs","line":3,"address":16,"inlined":true},
                     {"function":"app::work","file":"src/main.rs","line":9,"address":16,"inlined":false},
                     {"function":"app::main","file":"src/main.rs","line":2,"address":32,"inlined":false}],
           "size":16,"rate":1,"alloc_objects":2,"alloc_bytes":32,"free_objects":1,"free_bytes":16,
           "alloc_objects_est":2.0,"alloc_bytes_est":32.0,"inuse_objects_est":1.0,"inuse_bytes_est":16.0},
          {"frames":[{"function":"vec_new","file":"/rustc/x/vec.rs","line":3,"address":16,"inlined":true},
                     {"function":"app::work","file":"src/main.rs","line":9,"address":16,"inlined":false},
                     {"function":"app::main","file":"src/main.rs","line":2,"address":32,"inlined":false}],
           "size":32,"rate":1,"alloc_objects":1,"alloc_bytes":32,"free_objects":0,"free_bytes":0,
           "alloc_objects_est":1.0,"alloc_bytes_est":32.0,"inuse_objects_est":1.0,"inuse_bytes_est":32.0},
          {"frames":[{"function":"app::main","file":"src/main.rs","line":2,"address":32,"inlined":false}],
           "size":16,"rate":1,"alloc_objects":1,"alloc_bytes":16,"free_objects":0,"free_bytes":0,
           "alloc_objects_est":1.0,"alloc_bytes_est":16.0,"inuse_objects_est":1.0,"inuse_bytes_est":16.0}
        ]}"#;

    #[test]
    fn a_version_1_profile_is_interned_into_the_version_2_model() {
        let p = parse(V1.as_bytes()).unwrap();
        assert_eq!(p.version, 1);
        assert_eq!(p.samples.len(), 3);
        // Two distinct stacks; the address with an inlined frame is one location.
        assert_eq!(p.stacks.len(), 2);
        assert_eq!(p.locations.len(), 2);
        assert_eq!(p.samples[0].stack, p.samples[1].stack);
        assert_eq!(p.stacks[p.samples[0].stack as usize].locations, [0, 1]);
        assert_eq!(p.stacks[p.samples[2].stack as usize].locations, [1]);
        let names: Vec<(&str, bool)> = p
            .frames(p.samples[0].stack)
            .map(|f| (f.function, f.inlined))
            .collect();
        assert_eq!(
            names,
            [
                ("vec_new", true),
                ("app::work", false),
                ("app::main", false)
            ]
        );
        assert_eq!(p.locations[0].lines.len(), 2);
        assert_eq!(p.samples[1].alloc_bytes_est, 32.0);
    }

    #[test]
    fn indices_out_of_their_tables_are_refused() {
        let p = parse(V1.as_bytes()).unwrap();
        let mut bad = p.clone();
        bad.samples[0].stack = 9;
        assert!(check(&bad).unwrap_err().contains("sample 0 names stack 9"));
        let mut bad = p.clone();
        bad.stacks[1].locations.push(5);
        assert!(
            check(&bad)
                .unwrap_err()
                .contains("stack 1 names location 5")
        );
        let mut bad = p;
        bad.locations[0].mapping = Some(0);
        assert!(
            check(&bad)
                .unwrap_err()
                .contains("location 0 names mapping 0, but there are 0 mappings")
        );
    }
}
