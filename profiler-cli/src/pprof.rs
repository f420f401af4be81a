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

/// Encodes the profile (uncompressed protobuf bytes).
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
    let mut functions: HashMap<(String, String), u64> = HashMap::new();
    let mut function_msgs = Vec::new();
    let mut locations: HashMap<(u64, Vec<(u64, u64)>), u64> = HashMap::new();
    let mut location_msgs = Vec::new();
    let bytes_key = strings.id("bytes");
    for s in &p.samples {
        let mut loc_ids = Vec::new();
        let mut lines: Vec<(u64, u64)> = Vec::new();
        for (i, f) in s.frames.iter().enumerate() {
            let file = f.file.clone().unwrap_or_default();
            let key = (f.function.clone(), file.clone());
            let next = functions.len() as u64 + 1;
            let fid = *functions.entry(key).or_insert_with(|| {
                let mut m = Msg::default();
                m.uint(1, next);
                m.uint(2, strings.id(&f.function));
                m.uint(3, strings.id(&f.function));
                m.uint(4, strings.id(&file));
                function_msgs.push(m);
                next
            });
            lines.push((fid, u64::from(f.line.unwrap_or(0))));
            if f.inlined && i + 1 < s.frames.len() {
                continue; // inlined into the next frame: one location, innermost line first
            }
            let key = (f.address, std::mem::take(&mut lines));
            let next = locations.len() as u64 + 1;
            let lid = *locations.entry(key.clone()).or_insert_with(|| {
                let mut m = Msg::default();
                m.uint(1, next);
                m.uint(2, 1); // the one mapping: the program
                m.uint(3, key.0);
                for &(fid, line) in &key.1 {
                    let mut l = Msg::default();
                    l.uint(1, fid);
                    l.uint(2, line);
                    m.msg(4, &l);
                }
                location_msgs.push(m);
                next
            });
            loc_ids.push(lid);
        }
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
    // One mapping for the program, marked symbolized so pprof does not look for it.
    let mut mapping = Msg::default();
    mapping.uint(1, 1);
    mapping.uint(3, u64::MAX);
    mapping.uint(5, strings.id(&p.program));
    for field in 7..=10 {
        mapping.uint(field, 1); // has_functions, has_filenames, has_line_numbers, has_inline_frames
    }
    out.msg(3, &mapping);
    for m in &location_msgs {
        out.msg(4, m);
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
