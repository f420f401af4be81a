//! The profile of `format.rs` as JSON text, written by hand.
//!
//! The runtime writes JSON without serde_json on purpose: spanprof is a dependency of
//! every program it profiles, and serde_json's `impl PartialEq<Value> for u8` (and
//! friends) change type inference in the user's crate (`assert_eq!(&b[..], &v[..])`
//! stops compiling). Writing is one direction and a fixed shape, so a small writer
//! does it; reading belongs to the CLI, which enables the `serde` feature. The
//! output is RFC 8259 JSON that `serde_json` reads back into the same [`Profile`]
//! (checked by the round-trip tests in `tests/profile_json.rs`).

use crate::profile::format::*;

impl Profile {
    /// The profile as one line of UTF-8 JSON, the file format of
    /// `docs/profile-format.md` (what [`write_profile`](crate::write_profile) writes).
    pub fn to_json(&self) -> Vec<u8> {
        let mut w = Writer(String::with_capacity(
            16384
                + self.samples.len() * 320
                + self.locations.len() * 256
                + self
                    .stacks
                    .iter()
                    .map(|s| 16 + s.locations.len() * 6)
                    .sum::<usize>(),
        ));
        self.write(&mut w);
        w.0.into_bytes()
    }
}

struct Writer(String);

impl Writer {
    fn str(&mut self, s: &str) {
        use core::fmt::Write as _;
        self.0.push('"');
        // Runs that need no escape are copied whole; every character that does is
        // ASCII, so `start` always falls on a character boundary.
        let mut start = 0;
        for (i, b) in s.bytes().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                b if b < 0x20 || b == 0x7f => "",
                _ => continue,
            };
            self.0.push_str(&s[start..i]);
            if escape.is_empty() {
                let _ = write!(self.0, "\\u{b:04x}");
            } else {
                self.0.push_str(escape);
            }
            start = i + 1;
        }
        self.0.push_str(&s[start..]);
        self.0.push('"');
    }

    fn u64(&mut self, v: u64) {
        // Digits straight into the buffer: no String per number.
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = v;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for &d in &digits[i..] {
            self.0.push(char::from(d));
        }
    }

    /// Finite values in Rust's shortest round-trip form; JSON has no NaN or infinity,
    /// and an estimate can only be one through a broken counter, so those read as 0.
    fn f64(&mut self, v: f64) {
        if v.is_finite() {
            use core::fmt::Write as _;
            let _ = write!(self.0, "{v:?}");
        } else {
            self.0.push('0');
        }
    }

    fn object(&mut self, fields: impl FnOnce(&mut Fields<'_>)) {
        self.0.push('{');
        let mut f = Fields {
            w: self,
            first: true,
        };
        fields(&mut f);
        self.0.push('}');
    }

    fn array<T>(&mut self, items: &[T], mut item: impl FnMut(&mut Writer, &T)) {
        self.0.push('[');
        for (i, x) in items.iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            item(self, x);
        }
        self.0.push(']');
    }
}

struct Fields<'a> {
    w: &'a mut Writer,
    first: bool,
}

impl Fields<'_> {
    fn key(&mut self, name: &str) -> &mut Writer {
        if !self.first {
            self.w.0.push(',');
        }
        self.first = false;
        self.w.str(name);
        self.w.0.push(':');
        self.w
    }
    fn u64(&mut self, name: &str, v: u64) {
        self.key(name).u64(v);
    }
    fn f64(&mut self, name: &str, v: f64) {
        self.key(name).f64(v);
    }
    fn str(&mut self, name: &str, v: &str) {
        self.key(name).str(v);
    }
    fn bool(&mut self, name: &str, v: bool) {
        self.key(name).0.push_str(if v { "true" } else { "false" });
    }
    fn opt_u64(&mut self, name: &str, v: Option<u64>) {
        match v {
            Some(v) => self.u64(name, v),
            None => self.key(name).0.push_str("null"),
        }
    }
    fn opt_str(&mut self, name: &str, v: Option<&str>) {
        match v {
            Some(v) => self.str(name, v),
            None => self.key(name).0.push_str("null"),
        }
    }
    fn array<T: Write>(&mut self, name: &str, items: &[T]) {
        self.key(name).array(items, |w, x| x.write(w));
    }
    fn strings(&mut self, name: &str, items: &[String]) {
        self.key(name).array(items, |w, s| w.str(s));
    }
    fn object<T: Write>(&mut self, name: &str, v: &T) {
        v.write(self.key(name));
    }
}

trait Write {
    fn write(&self, w: &mut Writer);
}

impl Write for Profile {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.u64("version", u64::from(self.version));
            f.str("spanprof_version", &self.spanprof_version);
            f.str("program", &self.program);
            f.strings("args", &self.args);
            f.u64("pid", u64::from(self.pid));
            f.u64("start_unix_ms", self.start_unix_ms);
            f.u64("end_unix_ms", self.end_unix_ms);
            f.u64("sample_rate", self.sample_rate);
            f.strings("warnings", &self.warnings);
            f.array("size_classes", &self.size_classes);
            f.array("classes", &self.classes);
            f.object("large", &self.large);
            f.object("heap", &self.heap);
            f.array("events", &self.events);
            f.array("sites", &self.sites);
            f.array("site_stats", &self.site_stats);
            f.array("mappings", &self.mappings);
            f.array("locations", &self.locations);
            f.array("stacks", &self.stacks);
            f.array("samples", &self.samples);
            f.u64("dropped_samples", self.dropped_samples);
            f.u64("max_frames", u64::from(self.max_frames));
            f.array("types", &self.types);
            f.bool("site_counts_only", self.site_counts_only);
            f.object("peak", &self.peak);
            f.u64("temporary_total", self.temporary_total);
            f.object("timeline", &self.timeline);
        });
    }
}

impl Write for TypeRow {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.str("name", &self.name);
            f.str("module", &self.module);
            f.str("file", &self.file);
            f.u64("line", u64::from(self.line));
            f.u64("size", self.size);
            f.u64("align", self.align);
            f.u64("size_class", u64::from(self.size_class));
            f.u64("slot_size", self.slot_size);
            f.u64("waste", self.waste);
        });
    }
}

impl Write for SizeClassRow {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.u64("class", u64::from(self.class));
            f.u64("size", self.size);
            f.u64("pages", u64::from(self.pages));
            f.u64("objects", u64::from(self.objects));
            f.u64("tail_waste", self.tail_waste);
        });
    }
}

impl Write for ClassCounters {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.u64("class", u64::from(self.class));
            f.u64("size", self.size);
            f.u64("allocs", self.allocs);
            f.u64("frees", self.frees);
            f.u64("bytes_allocated", self.bytes_allocated);
            f.u64("live_objects", self.live_objects);
            f.u64("live_bytes", self.live_bytes);
            f.u64("refills", self.refills);
            f.u64("remote_frees", self.remote_frees);
            f.u64("spans_in_use", self.spans_in_use);
        });
    }
}

impl Write for LargeCounters {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.u64("allocs", self.allocs);
            f.u64("frees", self.frees);
            f.u64("bytes_allocated", self.bytes_allocated);
            f.u64("bytes_freed", self.bytes_freed);
            f.u64("requested_bytes", self.requested_bytes);
        });
    }
}

impl Write for HeapFigures {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.u64("arenas_mapped", self.arenas_mapped);
            f.u64("bytes_mapped", self.bytes_mapped);
            f.u64("bytes_in_use", self.bytes_in_use);
            f.u64("bytes_scavenged", self.bytes_scavenged);
            f.u64("metadata_bytes", self.metadata_bytes);
        });
    }
}

impl Write for HeapEvent {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.u64("at_ms", self.at_ms);
            f.str("kind", &self.kind);
            f.u64("bytes", self.bytes);
        });
    }
}

impl Write for SiteInfo {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.u64("id", u64::from(self.id));
            f.str("name", &self.name);
            f.str("module", &self.module);
            f.str("file", &self.file);
            f.u64("line", u64::from(self.line));
            f.u64("column", u64::from(self.column));
            f.array("findings", &self.findings);
        });
    }
}

impl Write for FindingInfo {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.u64("line", u64::from(self.line));
            f.u64("column", u64::from(self.column));
            f.str("expr", &self.expr);
            f.str("kind", &self.kind);
            f.str("reason", &self.reason);
            f.opt_str("type", self.type_name.as_deref());
            f.opt_u64("size", self.size);
            f.opt_u64("align", self.align);
            f.opt_u64("size_class", self.size_class.map(u64::from));
        });
    }
}

impl Write for SiteStat {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.key("stack")
                .array(&self.stack, |w, id| w.u64(u64::from(*id)));
            f.u64("class", u64::from(self.class));
            f.u64("allocs", self.allocs);
            f.u64("slot_bytes", self.slot_bytes);
            f.u64("requested_bytes", self.requested_bytes);
            f.u64("refills", self.refills);
            f.u64("frees", self.frees);
            f.u64("live_objects", self.live_objects);
            f.u64("live_bytes", self.live_bytes);
            f.u64("temporary", self.temporary);
        });
    }
}

impl Write for Peak {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.u64("t_ms", self.t_ms);
            f.u64("live_bytes", self.live_bytes);
            f.u64("mapped_bytes", self.mapped_bytes);
            f.array("site_stats", &self.site_stats);
            f.array("samples", &self.samples);
        });
    }
}

impl Write for PeakSiteStat {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.key("stack")
                .array(&self.stack, |w, id| w.u64(u64::from(*id)));
            f.u64("class", u64::from(self.class));
            f.u64("live_objects", self.live_objects);
            f.u64("live_bytes", self.live_bytes);
        });
    }
}

impl Write for PeakSample {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.u64("stack", u64::from(self.stack));
            f.u64("size", self.size);
            f.u64("rate", self.rate);
            f.u64("inuse_objects", self.inuse_objects);
            f.f64("inuse_objects_est", self.inuse_objects_est);
            f.f64("inuse_bytes_est", self.inuse_bytes_est);
        });
    }
}

impl Write for Timeline {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.u64("interval_ms", self.interval_ms);
            f.array("points", &self.points);
        });
    }
}

impl Write for TimelinePoint {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.u64("t_ms", self.t_ms);
            f.u64("live_bytes", self.live_bytes);
            f.u64("heap_in_use_bytes", self.heap_in_use_bytes);
            f.u64("mapped_bytes", self.mapped_bytes);
            f.u64("rss_bytes", self.rss_bytes);
            f.u64("allocs", self.allocs);
            f.u64("refills", self.refills);
            f.u64("scavenged_bytes", self.scavenged_bytes);
        });
    }
}

impl Write for Mapping {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.str("path", &self.path);
            f.str("build_id", &self.build_id);
            f.u64("start", self.start);
            f.u64("end", self.end);
            f.u64("file_offset", self.file_offset);
            f.u64("load_bias", self.load_bias);
        });
    }
}

impl Write for Location {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.u64("address", self.address);
            f.opt_u64("mapping", self.mapping.map(u64::from));
            f.u64("offset", self.offset);
            f.array("lines", &self.lines);
        });
    }
}

impl Write for Line {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.str("function", &self.function);
            f.opt_str("file", self.file.as_deref());
            f.opt_u64("line", self.line.map(u64::from));
            f.bool("inlined", self.inlined);
        });
    }
}

impl Write for Stack {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.key("locations")
                .array(&self.locations, |w, id| w.u64(u64::from(*id)));
        });
    }
}

impl Write for Sample {
    fn write(&self, w: &mut Writer) {
        w.object(|f| {
            f.u64("stack", u64::from(self.stack));
            f.u64("size", self.size);
            f.u64("rate", self.rate);
            f.u64("alloc_objects", self.alloc_objects);
            f.u64("alloc_bytes", self.alloc_bytes);
            f.u64("free_objects", self.free_objects);
            f.u64("free_bytes", self.free_bytes);
            f.f64("alloc_objects_est", self.alloc_objects_est);
            f.f64("alloc_bytes_est", self.alloc_bytes_est);
            f.f64("inuse_objects_est", self.inuse_objects_est);
            f.f64("inuse_bytes_est", self.inuse_bytes_est);
            f.u64("temporary_objects", self.temporary_objects);
            f.f64("temporary_objects_est", self.temporary_objects_est);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &impl Write) -> String {
        let mut w = Writer(String::new());
        v.write(&mut w);
        w.0
    }

    #[test]
    fn strings_escape_what_json_cannot_carry() {
        let mut w = Writer(String::new());
        w.str("a\"b\\c\nd\u{1b}[31m\u{0}\u{7f}é\u{fffe}");
        // Control characters as \uXXXX; everything else, U+FFFE included, as UTF-8.
        assert_eq!(w.0, "\"a\\\"b\\\\c\\nd\\u001b[31m\\u0000\\u007fé\u{fffe}\"");
    }

    #[test]
    fn floats_keep_their_value_and_never_write_nan() {
        let mut w = Writer(String::new());
        w.f64(0.1);
        w.0.push(' ');
        w.f64(1e300);
        w.0.push(' ');
        w.f64(f64::NAN);
        w.0.push(' ');
        w.f64(3.0);
        assert_eq!(w.0, "0.1 1e300 0 3.0");
    }

    #[test]
    fn optional_fields_are_null() {
        let l = Line {
            function: "f".into(),
            file: None,
            line: Some(7),
            inlined: true,
        };
        assert_eq!(
            text(&l),
            r#"{"function":"f","file":null,"line":7,"inlined":true}"#
        );
        let loc = Location {
            address: 16,
            mapping: None,
            offset: 16,
            lines: vec![l],
        };
        assert_eq!(
            text(&loc),
            r#"{"address":16,"mapping":null,"offset":16,"lines":[{"function":"f","file":null,"line":7,"inlined":true}]}"#
        );
    }

    #[test]
    fn integers_are_written_in_full() {
        let mut w = Writer(String::new());
        for v in [0, 7, 10, 1234567890, u64::MAX] {
            w.u64(v);
            w.0.push(' ');
        }
        assert_eq!(w.0, "0 7 10 1234567890 18446744073709551615 ");
    }

    #[test]
    fn stacks_are_lists_of_location_indices() {
        let s = Stack {
            locations: vec![3, 0, 12],
        };
        assert_eq!(text(&s), r#"{"locations":[3,0,12]}"#);
    }
}
