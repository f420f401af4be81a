//! A log summary: access-log lines in, per-route request counts, errors and latency
//! out. [`summarize_naive`] is how such code is often first written: a `String` per
//! field, a lowercased copy per path segment, a `format!` per key and an owned key per
//! lookup. [`summarize_fixed`] does the same work with one reused key buffer and
//! allocates only when it meets a route for the first time. Both are the site
//! `summarize`, so `spanprof diff naive.json fixed.json` compares them frame by frame.

use std::collections::HashMap;
use std::fmt::Write;

/// What the summary keeps per route.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    pub requests: u64,
    pub errors: u64,
    pub total_ms: u64,
}

/// Route (`METHOD /path/:id/...`, lowercased path) → counters.
pub type Summary = HashMap<String, Route>;

/// `n` lines of a synthetic access log (`time method path status latency`).
#[spanprof::track_alloc]
pub fn sample_log(n: usize) -> String {
    let methods = ["GET", "POST", "PUT", "DELETE"];
    let mut log = String::with_capacity(n * 64);
    for i in 0..n {
        let status = if i % 17 == 0 { 500 } else { 200 };
        // Writing into a String cannot fail.
        let _ = writeln!(
            log,
            "2026-11-26T10:{:02}:{:02}Z {} /API/Users/{}/Orders/{} {} {}ms",
            (i / 60) % 60,
            i % 60,
            methods[i % 4],
            i % 500,
            i % 7,
            status,
            3 + i % 250
        );
    }
    log
}

fn count(r: &mut Route, status: &str, ms: &str) {
    r.requests += 1;
    if status.starts_with('5') {
        r.errors += 1;
    }
    r.total_ms += ms.trim_end_matches("ms").parse::<u64>().unwrap_or(0);
}

/// The first version: several allocations per line.
#[spanprof::track_alloc(name = "summarize")]
#[inline(never)]
pub fn summarize_naive(log: &str) -> Summary {
    let mut out = Summary::new();
    for line in log.lines() {
        let fields: Vec<String> = line.split_whitespace().map(|f| f.to_string()).collect();
        if fields.len() < 5 {
            continue;
        }
        let segments: Vec<String> = fields[2]
            .split('/')
            .map(|seg| {
                if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                    ":id".to_string()
                } else {
                    seg.to_lowercase()
                }
            })
            .collect();
        let key = format!("{} {}", fields[1], segments.join("/"));
        count(out.entry(key).or_default(), &fields[3], &fields[4]);
    }
    out
}

/// The fixed version: borrowed fields, one key buffer reused for every line, an owned
/// key only for a route not seen before.
#[spanprof::track_alloc(name = "summarize")]
#[inline(never)]
pub fn summarize_fixed(log: &str) -> Summary {
    let mut out = Summary::new();
    let mut key = String::with_capacity(64);
    for line in log.lines() {
        let mut f = line.split_whitespace();
        let (Some(_time), Some(method), Some(path), Some(status), Some(ms)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        key.clear();
        key.push_str(method);
        key.push(' ');
        for (i, seg) in path.split('/').enumerate() {
            if i > 0 {
                key.push('/');
            }
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                key.push_str(":id");
            } else {
                key.extend(seg.chars().flat_map(char::to_lowercase));
            }
        }
        if let Some(r) = out.get_mut(key.as_str()) {
            count(r, status, ms);
        } else {
            let mut r = Route::default();
            count(&mut r, status, ms);
            out.insert(key.clone(), r);
        }
    }
    out
}
