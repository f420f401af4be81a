//! `spanprof pprof`: the sampled stacks as a gzipped `perftools.profiles.Profile`
//! protobuf with Go's four heap sample types, so `go tool pprof` and continuous
//! profilers read it. A small hand-written protobuf encoder; field numbers from
//! google/pprof's `profile.proto`.

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

fn value_type(strings: &mut Strings, ty: &str, unit: &str) -> Msg {
    let mut m = Msg::default();
    m.uint(1, strings.id(ty));
    m.uint(2, strings.id(unit));
    m
}

/// Encodes the profile (uncompressed protobuf bytes). The profile's interned tables
/// map one to one: its mappings (with build IDs), locations (an address with its
/// lines, inlined first) and stacks; functions are the distinct (name, file) pairs.
pub fn encode(p: &Profile) -> Vec<u8> {
    let mut strings = Strings::new();
    let mut out = Msg::default();
    for (ty, unit) in [
        ("alloc_objects", "count"),
        ("alloc_space", "bytes"),
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
    ] {
        out.msg(1, &value_type(&mut strings, ty, unit));
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
        sample.packed(2, &values.map(|v| v.max(0.0).round() as u64));
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
                    f.uint(3, strings.id(&line.function));
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
    out.uint(9, p.start_unix_ms.saturating_mul(1_000_000));
    out.uint(
        10,
        p.end_unix_ms
            .saturating_sub(p.start_unix_ms)
            .saturating_mul(1_000_000),
    );
    let period_type = value_type(&mut strings, "space", "bytes");
    out.msg(11, &period_type);
    // The rate in force at the end may be 0 (sampling turned off); the samples know theirs.
    let period = p
        .samples
        .iter()
        .map(|s| s.rate)
        .max()
        .unwrap_or(p.sample_rate);
    out.uint(12, period);
    let default_type = strings.id("inuse_space");
    out.uint(14, default_type);
    for s in &strings.list {
        out.bytes(6, s.as_bytes());
    }
    out.0
}

/// The gzipped profile; an error when there are no samples.
pub fn gzipped(p: &Profile, file: &str) -> Result<Vec<u8>> {
    if let Some(hint) = crate::report::no_samples_hint(p) {
        return Err(CliError::new(file, hint));
    }
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&encode(p))
        .and_then(|()| gz.finish())
        .map_err(|e| CliError::new(file, format!("cannot compress: {e}")))
}
