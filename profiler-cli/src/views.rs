//! The views people open a heap profiler for, as report sections: the Peak (what was
//! live when the heap was largest), the Leaks (what was still live when the profile
//! was written) and the Temporary allocations (freed with no other allocation on
//! their thread in between), each per site stack (exact) and per sampled stack
//! (innermost user frame, estimated), largest first. Also `spanprof check`'s
//! leak gate. `report.rs` and the HTML report show these; the figures come from the
//! profile's `peak`, `site_stats`, `samples` and `temporary_total`.

use crate::folded::{site_names, user_frames};
use crate::report::{Paint, count, human};
use serde::Serialize;
use spanprof::Profile;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One row of a view: a site stack (exact) or a sampled stack's innermost user frame
/// and its location (estimated).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Row {
    /// Site stack (`a > b`) or function.
    pub name: String,
    /// `file:line` of a sampled stack's frame; empty for a site stack.
    pub location: String,
    pub objects: u64,
    pub bytes: u64,
}

/// The heap at its largest.
#[derive(Debug, Default, Serialize)]
pub struct PeakView {
    /// Whether the profile recorded a peak (written with `SPANPROF_OUT`).
    pub recorded: bool,
    /// Why none was, when none was (see [`no_peak_reason`]).
    #[serde(skip)]
    pub why_none: &'static str,
    pub t_ms: u64,
    pub live_bytes: u64,
    pub mapped_bytes: u64,
    pub sites: Vec<Row>,
    pub stacks: Vec<Row>,
}

/// What was still live when the profile was written.
#[derive(Debug, Default, Serialize)]
pub struct LeaksView {
    pub live_objects: u64,
    pub live_bytes: u64,
    /// Per site stack (exact); empty when the sites did not track frees.
    pub sites: Vec<Row>,
    /// Sites' frees were not tracked (`site_counts_only`): no site rows.
    pub site_counts_only: bool,
    pub stacks: Vec<Row>,
}

/// Allocations freed with no other allocation on their thread in between.
#[derive(Debug, Default, Serialize)]
pub struct TemporaryView {
    /// Temporary allocations the runtime saw (see `temporary_total` in
    /// docs/profile-format.md).
    pub total: u64,
    /// All allocations, for the share.
    pub allocs: u64,
    /// `total` as a percentage of `allocs`.
    pub share_pct: f64,
    /// Per site stack (exact) and per sampled stack (estimated), most first.
    pub sites: Vec<TempRow>,
    pub stacks: Vec<TempRow>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TempRow {
    pub name: String,
    pub location: String,
    /// Temporary allocations (estimated for sampled stacks).
    pub temporary: u64,
    /// All allocations there.
    pub allocs: u64,
    /// `temporary` as a percentage of `allocs`.
    pub share_pct: f64,
}

/// Sums `(key, objects, bytes)` into rows, largest bytes first, `top` of them.
fn rows(items: impl Iterator<Item = ((String, String), u64, u64)>, top: usize) -> Vec<Row> {
    let mut m: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for (k, o, b) in items {
        let e = m.entry(k).or_default();
        e.0 += o;
        e.1 += b;
    }
    let mut v: Vec<Row> = m
        .into_iter()
        .filter(|(_, (o, b))| *o > 0 || *b > 0)
        .map(|((name, location), (objects, bytes))| Row {
            name,
            location,
            objects,
            bytes,
        })
        .collect();
    v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.name.cmp(&b.name)));
    v.truncate(top);
    v
}

fn site_key(p: &Profile, stack: &[u32]) -> (String, String) {
    (site_names(p, stack).join(" > "), String::new())
}

/// Why a profile has no peak. Peaks and the timeline are recorded under the same
/// condition (`SPANPROF_OUT`), so a profile with a timeline was recording: its live
/// bytes never passed the first peak's margin.
pub fn no_peak_reason(p: &Profile) -> &'static str {
    if p.timeline.points.is_empty() {
        "peaks are recorded in profiles written with SPANPROF_OUT"
    } else {
        "the live bytes never reached 1 MiB, the least peak recorded"
    }
}

pub fn peak(p: &Profile, top: usize) -> PeakView {
    let pk = &p.peak;
    let users = user_frames(p);
    PeakView {
        recorded: pk.live_bytes > 0,
        why_none: no_peak_reason(p),
        t_ms: pk.t_ms,
        live_bytes: pk.live_bytes,
        mapped_bytes: pk.mapped_bytes,
        sites: rows(
            pk.site_stats
                .iter()
                .map(|s| (site_key(p, &s.stack), s.live_objects, s.live_bytes)),
            top,
        ),
        stacks: rows(
            pk.samples.iter().filter_map(|s| {
                let u = users.get(s.stack as usize)?.clone();
                Some((
                    u,
                    s.inuse_objects_est.round() as u64,
                    s.inuse_bytes_est.round() as u64,
                ))
            }),
            top,
        ),
    }
}

/// What was live at the end: `(objects, bytes)` of the program.
pub fn live_total(p: &Profile) -> (u64, u64) {
    let objects = p.classes.iter().map(|c| c.live_objects).sum::<u64>()
        + p.large.allocs.saturating_sub(p.large.frees);
    let bytes = p.classes.iter().map(|c| c.live_bytes).sum::<u64>()
        + p.large.bytes_allocated.saturating_sub(p.large.bytes_freed);
    (objects, bytes)
}

pub fn leaks(p: &Profile, top: usize) -> LeaksView {
    let (live_objects, live_bytes) = live_total(p);
    let users = user_frames(p);
    LeaksView {
        live_objects,
        live_bytes,
        site_counts_only: p.site_counts_only,
        sites: if p.site_counts_only {
            Vec::new()
        } else {
            rows(
                p.site_stats
                    .iter()
                    .filter(|s| !s.stack.is_empty())
                    .map(|s| (site_key(p, &s.stack), s.live_objects, s.live_bytes)),
                top,
            )
        },
        stacks: rows(
            p.samples.iter().filter_map(|s| {
                let u = users.get(s.stack as usize)?.clone();
                Some((
                    u,
                    s.inuse_objects_est.round() as u64,
                    s.inuse_bytes_est.round() as u64,
                ))
            }),
            top,
        ),
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn temp_rows(
    items: impl Iterator<Item = ((String, String), u64, u64)>,
    top: usize,
) -> Vec<TempRow> {
    let mut m: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for (k, t, a) in items {
        let e = m.entry(k).or_default();
        e.0 += t;
        e.1 += a;
    }
    let mut v: Vec<TempRow> = m
        .into_iter()
        .filter(|(_, (t, _))| *t > 0)
        .map(|((name, location), (temporary, allocs))| TempRow {
            name,
            location,
            temporary,
            allocs,
            share_pct: pct(temporary, allocs),
        })
        .collect();
    v.sort_by(|a, b| b.temporary.cmp(&a.temporary).then(a.name.cmp(&b.name)));
    v.truncate(top);
    v
}

pub fn temporary(p: &Profile, top: usize) -> TemporaryView {
    let allocs = p.classes.iter().map(|c| c.allocs).sum::<u64>() + p.large.allocs;
    let users = user_frames(p);
    TemporaryView {
        total: p.temporary_total,
        allocs,
        share_pct: pct(p.temporary_total, allocs),
        sites: temp_rows(
            p.site_stats
                .iter()
                .filter(|s| !s.stack.is_empty())
                .map(|s| (site_key(p, &s.stack), s.temporary, s.allocs)),
            top,
        ),
        stacks: temp_rows(
            p.samples.iter().filter_map(|s| {
                let u = users.get(s.stack as usize)?.clone();
                Some((
                    u,
                    s.temporary_objects_est.round() as u64,
                    s.alloc_objects_est.round() as u64,
                ))
            }),
            top,
        ),
    }
}

fn row_lines(o: &mut String, rows: &[Row], what: &str) {
    if rows.is_empty() {
        let _ = writeln!(o, "  ({what}: none)");
        return;
    }
    for r in rows {
        let _ = writeln!(
            o,
            "  {:>12} {:>10}  {}{}",
            human(r.bytes),
            r.objects,
            crate::names::shown(&r.name),
            if r.location.is_empty() {
                String::new()
            } else {
                format!("  {}", crate::names::shown(&r.location))
            }
        );
    }
}

pub fn render_peak(o: &mut String, v: &PeakView, paint: Paint) {
    let _ = writeln!(o, "\n{}", paint.heading("Peak (the heap at its largest)"));
    if !v.recorded {
        let _ = writeln!(o, "  (no peak recorded: {})", v.why_none);
        return;
    }
    let _ = writeln!(
        o,
        "  {} live at {} ms ({} mapped)",
        human(v.live_bytes),
        v.t_ms,
        human(v.mapped_bytes)
    );
    let _ = writeln!(o, "  {:>12} {:>10}  site stack (exact)", "bytes", "objects");
    row_lines(o, &v.sites, "no site stacks");
    let _ = writeln!(
        o,
        "  {:>12} {:>10}  sampled stack (estimated)",
        "bytes", "objects"
    );
    row_lines(o, &v.stacks, "no sampled stacks");
}

pub fn render_leaks(o: &mut String, v: &LeaksView, paint: Paint) {
    let _ = writeln!(
        o,
        "\n{}",
        paint.heading("Leaks (live when the profile was written)")
    );
    let _ = writeln!(
        o,
        "  {} in {} (objects reachable from statics count too)",
        human(v.live_bytes),
        count(v.live_objects, "object", "objects")
    );
    let _ = writeln!(o, "  {:>12} {:>10}  site stack (exact)", "bytes", "objects");
    if v.site_counts_only {
        let _ = writeln!(o, "  (sites did not track frees: SPANPROF_SITE_FREES=0)");
    } else {
        row_lines(o, &v.sites, "no site stacks");
    }
    let _ = writeln!(
        o,
        "  {:>12} {:>10}  sampled stack (estimated)",
        "bytes", "objects"
    );
    row_lines(o, &v.stacks, "no sampled stacks");
}

pub fn render_temporary(o: &mut String, v: &TemporaryView, paint: Paint) {
    let _ = writeln!(
        o,
        "\n{}",
        paint.heading("Temporary allocations (freed before the next allocation)")
    );
    let _ = writeln!(
        o,
        "  {} of {} allocations ({:.1} %) seen by the runtime's hooks",
        v.total, v.allocs, v.share_pct
    );
    let line = |o: &mut String, rows: &[TempRow], what: &str| {
        if rows.is_empty() {
            let _ = writeln!(o, "  ({what}: none)");
        }
        for r in rows {
            let _ = writeln!(
                o,
                "  {:>10} {:>10} {:>6.1}%  {}{}",
                r.temporary,
                r.allocs,
                r.share_pct,
                crate::names::shown(&r.name),
                if r.location.is_empty() {
                    String::new()
                } else {
                    format!("  {}", crate::names::shown(&r.location))
                }
            );
        }
    };
    let _ = writeln!(
        o,
        "  {:>10} {:>10} {:>7}  site stack (exact)",
        "temporary", "allocs", "share"
    );
    line(o, &v.sites, "no site stacks");
    let _ = writeln!(
        o,
        "  {:>10} {:>10} {:>7}  sampled stack (estimated)",
        "temporary", "allocs", "share"
    );
    line(o, &v.stacks, "no sampled stacks");
}

/// `spanprof check`: Err(reason) when the profile leaked more than `max` bytes.
pub fn check_leaks(p: &Profile, max: u64) -> Result<(), String> {
    let (objects, bytes) = live_total(p);
    if bytes > max {
        return Err(format!(
            "leaked {bytes} bytes ({}) in {}, over --max-leaked-bytes {max}",
            human(bytes),
            count(objects, "object", "objects")
        ));
    }
    Ok(())
}
