//! `spanprof pprof`: the sampled stacks as a gzipped `perftools.profiles.Profile`
//! protobuf with Go's four heap sample types, so `go tool pprof` and continuous
//! profilers read it. A small hand-written protobuf encoder; field numbers from
//! google/pprof's `profile.proto`.
//!
//! Two choices make the file read right in `go tool pprof`:
//! - `default_sample_type` (field 14) names what the profile is about (see
//!   [`SampleIndex::for_profile`]), not Go's fixed `inuse_space`, which shows
//!   `Total samples = 0` for a program that freed everything before it exited.
//! - `Function.system_name` (field 3) is left empty. pprof's symbolizer
//!   (`internal/symbolizer/symbolizer.go`, `demangleSingleFunction`) leaves a
//!   function alone only when `name != ""` and `system_name != name`; otherwise it
//!   treats the name as demangled C++ and strips every `<…>` and `(…)` group, so
//!   `apply_all<fn(u32) -> Vec<u8>>` became `apply_all alloc::vec::Vec>` and
//!   `<Vec<u8> as Clone>::clone` and `<String as Clone>::clone` merged into one
//!   `::clone`. The profile keeps no mangled symbol to put there instead.

use crate::output::{CliError, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use spanprof::Profile;
use std::collections::HashMap;
use std::io::Write;

/// Protobuf wire encoding into a byte vector.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn uint(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.varint(u64::from(field) << 3);
            self.varint(v);
        }
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.varint(u64::from(field) << 3 | 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn msg(&mut self, field: u32, m: &Msg) {
        self.bytes(field, &m.0);
    }
    fn packed(&mut self, field: u32, vs: &[u64]) {
        let mut m = Msg::default();
        for &v in vs {
            m.varint(v);
        }
        self.bytes(field, &m.0);
    }
}

/// The string table: index 0 is "".
struct Strings {
    list: Vec<String>,
    index: HashMap<String, u64>,
}

impl Strings {
    fn new() -> Self {
        Strings {
            list: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }
    fn id(&mut self, s: &str) -> u64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len() as u64;
        self.list.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }
}

/// One of Go's four heap sample types, in the order pprof files list them
/// (`runtime/pprof/protomem.go`): what `go tool pprof -sample_index=NAME` selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SampleIndex {
    /// Objects allocated over the run (count).
    #[value(name = "alloc_objects")]
    AllocObjects,
    /// Bytes allocated over the run (slot bytes).
    #[value(name = "alloc_space")]
    AllocSpace,
    /// Objects still live when the profile was written (count).
    #[value(name = "inuse_objects")]
    InuseObjects,
    /// Bytes still live when the profile was written (slot bytes).
    #[value(name = "inuse_space")]
    InuseSpace,
}

/// The sample types with their units, in the order the samples' values are written.
const SAMPLE_TYPES: [(SampleIndex, &str); 4] = [
    (SampleIndex::AllocObjects, "count"),
    (SampleIndex::AllocSpace, "bytes"),
    (SampleIndex::InuseObjects, "count"),
    (SampleIndex::InuseSpace, "bytes"),
];

impl SampleIndex {
    /// The sample type's name in the file (and in `-sample_index`).
    pub fn name(self) -> &'static str {
        match self {
            SampleIndex::AllocObjects => "alloc_objects",
            SampleIndex::AllocSpace => "alloc_space",
            SampleIndex::InuseObjects => "inuse_objects",
            SampleIndex::InuseSpace => "inuse_space",
        }
    }

    /// What `p` is about, written as `default_sample_type` (profile.proto field 14):
    /// `inuse_space` when the sampled bytes still in use when the profile was
    /// written are at least a tenth of the sampled bytes allocated (a dump of a
    /// running program, or a program that holds or leaks much of what it allocated:
    /// the live heap is the story), else `alloc_space` (a program that freed most of
    /// what it allocated: the story is the allocation traffic, and the in-use view
    /// would show only leftovers, or `Total samples = 0`).
    ///
    /// Go always writes `inuse_space` because a Go heap profile is read from a
    /// running program; spanprof profiles are mostly written at exit, after the
    /// program dropped its data. Both figures are pprof's unbiased estimates, in
    /// bytes. `spanprof pprof --sample-index` and `go tool pprof -sample_index`
    /// choose another.
    pub fn for_profile(p: &Profile) -> SampleIndex {
        let sum = |f: fn(&spanprof::format::Sample) -> f64| {
            p.samples
                .iter()
                .map(f)
                .filter(|v| v.is_finite() && *v > 0.0)
                .sum::<f64>()
        };
        let alloc = sum(|s| s.alloc_bytes_est);
        let inuse = sum(|s| s.inuse_bytes_est);
        if inuse > 0.0 && inuse * 10.0 >= alloc {
            SampleIndex::InuseSpace
        } else {
            SampleIndex::AllocSpace
        }
    }
}

fn value_type(strings: &mut Strings, ty: &str, unit: &str) -> Msg {
    let mut m = Msg::default();
    m.uint(1, strings.id(ty));
    m.uint(2, strings.id(unit));
    m
}

/// Encodes the profile (uncompressed protobuf bytes) with `default` as its
/// `default_sample_type`. The profile's interned tables map one to one: its
/// mappings (with build IDs), locations (an address with its lines, inlined first)
/// and stacks; functions are the distinct (name, file) pairs, named as written
/// (`system_name` empty: see the module's docs).
pub fn encode(p: &Profile, default: SampleIndex) -> Vec<u8> {
    let mut strings = Strings::new();
    let mut out = Msg::default();
    for (ty, unit) in SAMPLE_TYPES {
        out.msg(1, &value_type(&mut strings, ty.name(), unit));
    }
    let bytes_key = strings.id("bytes");
    for s in &p.samples {
        let loc_ids: Vec<u64> = p
            .stacks
            .get(s.stack as usize)
            .map(|st| st.locations.iter().map(|&l| u64::from(l) + 1).collect())
            .unwrap_or_default();
        let mut sample = Msg::default();
        sample.packed(1, &loc_ids);
        let values = [
            s.alloc_objects_est,
            s.alloc_bytes_est,
            s.inuse_objects_est,
            s.inuse_bytes_est,
        ];
        // int64 values: NaN and negatives as 0, clamped to i64::MAX.
        sample.packed(
            2,
            &values.map(|v| (v.max(0.0).round() as u64).min(i64::MAX as u64)),
        );
        let mut label = Msg::default();
        label.uint(1, bytes_key);
        label.uint(3, s.size);
        sample.msg(3, &label);
        out.msg(2, &sample);
    }
    // A version-1 profile has no mappings: one for the program, holding every
    // location, marked symbolized so pprof does not look for it.
    let fallback = p.mappings.is_empty();
    if fallback {
        let mut mapping = Msg::default();
        mapping.uint(1, 1);
        mapping.uint(3, u64::MAX);
        mapping.uint(5, strings.id(&p.program));
        for field in 7..=10 {
            mapping.uint(field, 1); // has_functions, has_filenames, has_line_numbers, has_inline_frames
        }
        out.msg(3, &mapping);
    }
    // A mapping is symbolized when every location in it is: otherwise pprof may
    // symbolize the rest from the binary it finds by path or build ID.
    let mut resolved = vec![true; p.mappings.len()];
    for l in &p.locations {
        if let Some(m) = l.mapping.and_then(|m| resolved.get_mut(m as usize)) {
            *m &= !l.lines.is_empty();
        }
    }
    for (i, m) in p.mappings.iter().enumerate() {
        let mut mapping = Msg::default();
        mapping.uint(1, i as u64 + 1);
        mapping.uint(2, m.start);
        mapping.uint(3, m.end);
        mapping.uint(4, m.file_offset);
        mapping.uint(5, strings.id(&m.path));
        mapping.uint(6, strings.id(&m.build_id));
        if resolved[i] {
            for field in 7..=10 {
                mapping.uint(field, 1);
            }
        }
        out.msg(3, &mapping);
    }
    let mut functions: HashMap<(&str, &str), u64> = HashMap::new();
    let mut function_msgs = Vec::new();
    for (i, l) in p.locations.iter().enumerate() {
        let mut m = Msg::default();
        m.uint(1, i as u64 + 1);
        let mapping = match l.mapping {
            _ if fallback => 1,
            Some(id) => u64::from(id) + 1,
            None => 0,
        };
        m.uint(2, mapping);
        m.uint(3, l.address);
        for line in &l.lines {
            let file = line.file.as_deref().unwrap_or("");
            let next = functions.len() as u64 + 1;
            let fid = *functions
                .entry((line.function.as_str(), file))
                .or_insert_with(|| {
                    let mut f = Msg::default();
                    f.uint(1, next);
                    f.uint(2, strings.id(&line.function));
                    // system_name (3) stays "": equal to name, it makes pprof
                    // strip generic arguments and merge distinct functions.
                    f.uint(4, strings.id(file));
                    function_msgs.push(f);
                    next
                });
            let mut lm = Msg::default();
            lm.uint(1, fid);
            lm.uint(2, u64::from(line.line.unwrap_or(0)));
            m.msg(4, &lm);
        }
        out.msg(4, &m);
    }
    for m in &function_msgs {
        out.msg(5, m);
    }
    // time_nanos and duration_nanos are int64: clamp so a far-off clock in a
    // crafted profile is not read back as a negative time.
    let nanos = |ms: u64| ms.saturating_mul(1_000_000).min(i64::MAX as u64);
    out.uint(9, nanos(p.start_unix_ms));
    out.uint(10, nanos(p.end_unix_ms.saturating_sub(p.start_unix_ms)));
    let period_type = value_type(&mut strings, "space", "bytes");
    out.msg(11, &period_type);
    // The rate in force at the end may be 0 (sampling turned off); the samples know theirs.
    let period = p
        .samples
        .iter()
        .map(|s| s.rate)
        .max()
        .unwrap_or(p.sample_rate)
        .min(i64::MAX as u64); // period is int64
    out.uint(12, period);
    let default_type = strings.id(default.name());
    out.uint(14, default_type);
    for s in &strings.list {
        out.bytes(6, s.as_bytes());
    }
    out.0
}

/// The gzipped profile, its default sample type chosen by
/// [`SampleIndex::for_profile`]; an error when there are no samples.
pub fn gzipped(p: &Profile, file: &str) -> Result<Vec<u8>> {
    gzipped_as(p, file, None)
}

/// The gzipped profile with `default` as its default sample type (`None`: the one
/// [`SampleIndex::for_profile`] chooses); an error when there are no samples.
pub fn gzipped_as(p: &Profile, file: &str, default: Option<SampleIndex>) -> Result<Vec<u8>> {
    if let Some(hint) = crate::report::no_samples_hint(p) {
        return Err(CliError::new(file, hint));
    }
    let default = default.unwrap_or_else(|| SampleIndex::for_profile(p));
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&encode(p, default))
        .and_then(|()| gz.finish())
        .map_err(|e| CliError::new(file, format!("cannot compress: {e}")))
}
