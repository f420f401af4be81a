//! Reading a profile: every way a file can fail to be a spanprof profile becomes one
//! clear error naming the file.
//!
//! Every subcommand that reads a profile reads it here, so two rules hold for all:
//!
//! - **Bounded input.** At most [`DEFAULT_MAX_PROFILE_BYTES`] (1 GiB) are read, or
//!   what `SPANPROF_MAX_PROFILE_BYTES` says (bytes, or with a suffix: `512MiB`, `2GiB`,
//!   `3G`; `KiB`/`K` are 1024, `KB` 1000, and so on): a larger file is refused before
//!   it is read and an endless stream (`/dev/zero`, a pipe that never closes) after
//!   limit + 1 bytes, with one line saying how to raise the limit. Input that does not
//!   start with `{` cannot be a profile: after its first MiB it is refused as "not
//!   JSON" (or not an object) without reading the rest.
//! - **Checked sums.** Every counter the commands add up or multiply (the totals of
//!   `classes`, `large`, `site_stats` and `samples`, the report's requested bytes, the
//!   sizes the audit rounds to slots) is checked at load: a crafted profile whose sums
//!   overflow is an error naming the table and field
//!   (`classes: allocs overflow u64 when summed`), never a wrapped number. Estimates
//!   must be finite and not negative, and their sums fit pprof's `int64` values.
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
    load_named(path, &path.display().to_string())
}

/// [`load`], naming the profile `name` in errors and warnings (`spanprof run` reads
/// the program's profile from a private copy of what it writes to `-o`).
pub fn load_named(path: &Path, name: &str) -> Result<Profile> {
    let profile = read(path, name)?;
    for w in &profile.warnings {
        eprintln!("spanprof: warning: {name}: {}", crate::names::shown(w));
    }
    Ok(profile)
}

/// The most bytes a profile may have unless `SPANPROF_MAX_PROFILE_BYTES` says
/// otherwise: 1 GiB. The runtime's tables bound what it writes (65,536 stacks,
/// 262,144 samples): real profiles are kilobytes to a few hundred MiB (10 M sampled
/// allocations over 1,000 stacks make 0.8 MB), and parsing takes a few times the
/// file's size in memory, so 1 GiB passes every profile spanprof writes while an
/// endless or mistaken input stops after a second or so.
pub const DEFAULT_MAX_PROFILE_BYTES: u64 = 1 << 30;

/// Input that does not start with `{` is read this far (1 MiB), then refused.
const SNIFF_BYTES: usize = 1 << 20;

/// The limit on a profile's size, in bytes: `SPANPROF_MAX_PROFILE_BYTES` (see
/// [`parse_size`]), or [`DEFAULT_MAX_PROFILE_BYTES`] when it is unset or empty. A
/// value that is not a size is a usage error.
pub fn max_profile_bytes() -> Result<u64> {
    const VAR: &str = "SPANPROF_MAX_PROFILE_BYTES";
    match std::env::var_os(VAR) {
        None => Ok(DEFAULT_MAX_PROFILE_BYTES),
        Some(v) if v.is_empty() => Ok(DEFAULT_MAX_PROFILE_BYTES),
        Some(v) => v.to_str().and_then(parse_size).ok_or_else(|| {
            CliError::usage(
                VAR,
                format!(
                    "'{}' is not a size: give bytes, or a number with KiB, MiB, GiB, TiB (or K, M, G, T: the same) or KB, MB, GB, TB (powers of 1000), e.g. 2GiB",
                    v.to_string_lossy()
                ),
            )
        }),
    }
}

/// A size in bytes: a number (`4096`; `1.5` with a unit), then optionally spaces and a unit,
/// case-insensitive: `B`; `K`/`KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB`, `E`/`EiB` (powers
/// of 1024); `KB`, `MB`, `GB`, `TB`, `EB` (powers of 1000). The bytes a decimal makes round
/// to the nearest. `None` when it is not one or does not fit in a `u64`.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number = &text[..digits];
    if !number.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let unit: u64 = match text[digits..].trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "e" | "eib" => 1 << 60,
        "eb" => 1_000_000_000_000_000_000,
        _ => return None,
    };
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(unit);
    }
    if unit == 1 {
        // Bytes are whole: `1.5` is a mistake, not 2.
        return None;
    }
    // A decimal: exact enough for sizes a person types (f64 holds 53 bits).
    let v = number.parse::<f64>().ok()? * unit as f64;
    (v.is_finite() && v < u64::MAX as f64).then(|| v.round() as u64)
}

/// `bytes` as the user would write it back: `1 GiB`, `64 KiB`, else `N bytes`.
fn shown_size(bytes: u64) -> String {
    for (unit, name) in [
        (1u64 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    format!("{bytes} bytes")
}

fn read(path: &Path, name: &str) -> Result<Profile> {
    if path.is_dir() {
        return Err(CliError::new(name, "is a directory, not a profile"));
    }
    let limit = max_profile_bytes()?;
    let cannot_read = |e: io::Error| {
        let problem = match e.kind() {
            io::ErrorKind::NotFound => "no such file".to_string(),
            io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => format!("cannot read: {e}"),
        };
        CliError::new(name, problem)
    };
    let too_large = || {
        CliError::new(
            name,
            format!(
                "larger than {}, the most a profile may have; set SPANPROF_MAX_PROFILE_BYTES (e.g. SPANPROF_MAX_PROFILE_BYTES=4GiB) to read it",
                shown_size(limit)
            ),
        )
    };
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    let known = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    if known.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    match read_bounded(file, limit, known).map_err(cannot_read)? {
        Input::Whole(bytes) => parse(&bytes).map_err(|problem| CliError::new(name, problem)),
        Input::TooLarge => Err(too_large()),
        Input::NotAnObject(prefix) => Err(CliError::new(name, not_an_object(&prefix, false))),
    }
}

/// What [`read_bounded`] read.
enum Input {
    /// The whole input.
    Whole(Vec<u8>),
    /// More than the limit (what was read is dropped).
    TooLarge,
    /// The first [`SNIFF_BYTES`] of an input that does not start with `{` (more follow).
    NotAnObject(Vec<u8>),
}

/// Reads `input` to its end, but never more than `limit + 1` bytes (the one more
/// says that there is more). `known`: the size of a regular file, to read it in one
/// allocation. Stops early, after [`SNIFF_BYTES`], when the first byte that is not
/// white space is not `{`.
fn read_bounded(input: impl io::Read, limit: u64, known: Option<u64>) -> io::Result<Input> {
    use std::io::Read;
    let mut input = input.take(limit.saturating_add(1));
    if let Some(n) = known {
        // A regular file: one allocation of its size.
        let mut bytes = Vec::with_capacity(n.min(limit) as usize + 1);
        input.read_to_end(&mut bytes)?;
        return Ok(match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            _ if bytes.len() as u64 > limit => Input::TooLarge,
            Some(&b) if b != b'{' && bytes.len() > SNIFF_BYTES => {
                bytes.truncate(SNIFF_BYTES);
                Input::NotAnObject(bytes)
            }
            _ => Input::Whole(bytes),
        });
    }
    // A pipe or a device: fixed-size blocks, joined once at the end, so an endless
    // input holds about the limit when it is refused; a doubling buffer would have
    // held its earlier copies too.
    const BLOCK: usize = 8 << 20;
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut total = 0usize;
    let mut object = None;
    loop {
        let mut block = Vec::with_capacity(BLOCK);
        let n = (&mut input).take(BLOCK as u64).read_to_end(&mut block)?;
        if n == 0 {
            break;
        }
        total += n;
        if total as u64 > limit {
            return Ok(Input::TooLarge);
        }
        if object.is_none() {
            object = block
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .map(|&b| b == b'{');
        }
        blocks.push(block);
        if object == Some(false) && total >= SNIFF_BYTES {
            let mut bytes = blocks.concat();
            bytes.truncate(SNIFF_BYTES);
            return Ok(Input::NotAnObject(bytes));
        }
    }
    Ok(Input::Whole(blocks.concat()))
}

/// Why `bytes`, which do not start with `{`, are not a profile: "not JSON" for text,
/// "not a spanprof profile" for JSON of another shape. `whole`: `bytes` is the whole
/// input (else its first part, so running out of it is no sign of truncation).
fn not_an_object(bytes: &[u8], whole: bool) -> String {
    match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Err(e) if whole || !e.is_eof() => json_error(&e),
        _ => "not a spanprof profile: expected a JSON object".into(),
    }
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
        Some(_) => return Err(not_an_object(bytes, true)),
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
    check_sums(&profile)?;
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

/// Every counter the commands add up or multiply, checked (see the module doc): the
/// error names the table and the field. The sums checked bound every partial sum the
/// commands make (per site stack, per class, per folded stack, in inferno's totals).
fn check_sums(p: &Profile) -> std::result::Result<(), String> {
    fn total<T>(
        rows: &[T],
        field: impl Fn(&T) -> u64,
        what: &str,
    ) -> std::result::Result<u64, String> {
        rows.iter()
            .try_fold(0u64, |sum, r| sum.checked_add(field(r)))
            .ok_or_else(|| format!("{what} overflow u64 when summed"))
    }
    fn plus(sum: u64, more: u64, what: &str) -> std::result::Result<u64, String> {
        sum.checked_add(more)
            .ok_or_else(|| format!("{what} overflow u64 when summed"))
    }
    let (c, l) = (&p.classes, &p.large);
    // The report's totals: classes, then large.
    plus(
        total(c, |c| c.allocs, "classes: allocs")?,
        l.allocs,
        "classes and large: allocs",
    )?;
    let small_bytes = total(c, |c| c.bytes_allocated, "classes: bytes_allocated")?;
    plus(
        small_bytes,
        l.bytes_allocated,
        "classes and large: bytes_allocated",
    )?;
    plus(
        total(c, |c| c.live_objects, "classes: live_objects")?,
        l.allocs.saturating_sub(l.frees),
        "classes and large: live objects",
    )?;
    plus(
        total(c, |c| c.live_bytes, "classes: live_bytes")?,
        l.bytes_allocated.saturating_sub(l.bytes_freed),
        "classes and large: live bytes",
    )?;
    total(c, |c| c.refills, "classes: refills")?;
    // Site stacks: per stack and per class in the report and diff, per folded stack.
    let s = &p.site_stats;
    total(s, |s| s.allocs, "site_stats: allocs")?;
    total(s, |s| s.slot_bytes, "site_stats: slot_bytes")?;
    total(s, |s| s.requested_bytes, "site_stats: requested_bytes")?;
    total(s, |s| s.refills, "site_stats: refills")?;
    total(s, |s| s.live_objects, "site_stats: live_objects")?;
    total(s, |s| s.live_bytes, "site_stats: live_bytes")?;
    // The report's requested bytes: each class's from its site stacks (else its slot
    // bytes), plus large's.
    let mut requested: HashMap<u32, u64> = HashMap::new();
    for s in s {
        *requested.entry(s.class).or_default() += s.requested_bytes; // bounded just above
    }
    let small_requested = c
        .iter()
        .filter(|c| c.allocs > 0)
        .map(|c| {
            requested
                .get(&c.class)
                .copied()
                .unwrap_or(c.bytes_allocated)
        })
        .try_fold(0u64, u64::checked_add);
    let what = "classes, site_stats and large: requested_bytes";
    let small_requested =
        small_requested.ok_or_else(|| format!("{what} overflow u64 when summed"))?;
    plus(small_requested, l.requested_bytes, what)?;
    // Samples: merged by `symbolize`, estimates summed by the report, folded and pprof.
    let m = &p.samples;
    total(m, |s| s.alloc_objects, "samples: alloc_objects")?;
    total(m, |s| s.alloc_bytes, "samples: alloc_bytes")?;
    total(m, |s| s.free_objects, "samples: free_objects")?;
    total(m, |s| s.free_bytes, "samples: free_bytes")?;
    /// An estimate of a sample, by name.
    type Estimate = (&'static str, fn(&Sample) -> f64);
    let estimates: [Estimate; 4] = [
        ("alloc_objects_est", |s| s.alloc_objects_est),
        ("alloc_bytes_est", |s| s.alloc_bytes_est),
        ("inuse_objects_est", |s| s.inuse_objects_est),
        ("inuse_bytes_est", |s| s.inuse_bytes_est),
    ];
    for (name, field) in estimates {
        // pprof stores values as int64; folded rounds each estimate, the report rounds sums.
        let mut sum: u64 = 0;
        for (i, s) in m.iter().enumerate() {
            let v = field(s);
            if !v.is_finite() || v < 0.0 {
                return Err(format!(
                    "samples: sample {i} has {name} {v}; estimates are finite and not negative"
                ));
            }
            let rounded = v.round();
            sum = match sum.checked_add(rounded as u64) {
                Some(sum) if rounded <= i64::MAX as f64 && sum <= i64::MAX as u64 => sum,
                _ => {
                    return Err(format!(
                        "samples: {name} overflow i64 (pprof's value type) when summed"
                    ));
                }
            };
        }
    }
    // The audit adds a header to a finding's size and rounds it up to whole pages.
    let rust_max = isize::MAX as u64;
    for site in &p.sites {
        for (j, f) in site.findings.iter().enumerate() {
            if let Some(size) = f.size.filter(|&size| size > rust_max) {
                return Err(format!(
                    "sites: site {} finding {j} has size {size}, more than any Rust type ({rust_max} bytes)",
                    site.id
                ));
            }
        }
    }
    // ... and subtracts a registered type's size from its slot.
    for (i, t) in p.types.iter().enumerate() {
        if t.size > rust_max {
            return Err(format!(
                "types: type {i} ({}) has size {}, more than any Rust type ({rust_max} bytes)",
                t.name, t.size
            ));
        }
        if t.slot_size < t.size {
            return Err(format!(
                "types: type {i} ({}) has slot_size {} smaller than its size {}",
                t.name, t.slot_size, t.size
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
            ..Sample::default()
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
        site_counts_only: false,
        ..Profile::default()
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
