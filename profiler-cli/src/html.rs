//! `spanprof html PROFILE -o report.html`: one self-contained page (no network: the
//! SVGs, CSS and script are inline) with the summary, the timeline chart, the Peak,
//! Leaks and Temporary tables, the flamegraphs, the sites, the size classes and the
//! audit. A section whose data the profile does not have says "not recorded".
//!
//! Each flamegraph is inferno's SVG, finished by [`crate::svg`], in an
//! `<iframe srcdoc>`: a document of its own, so the graphs' scripts and element ids
//! do not meet, and of the page's origin, so inferno's search (which asks with
//! `prompt()`, refused to cross-origin frames) and zoom work as in the SVG file.
//! Inferno records its zoom and search in the URL with `history.replaceState`, which
//! a `srcdoc` document (`about:srcdoc`) may not do; a one-line guard turns that into
//! nothing, as it is nothing a reader of the page needs.

use crate::folded::{StackOpts, Stacks, Weight, fold, site_names, user_frame};
use crate::output::Result;
use crate::report::{self, human};
use crate::{audit, flame, timeline};
use spanprof::Profile;
use std::collections::BTreeMap;
use std::fmt::Write;

/// How many rows each table shows.
const TOP: usize = 20;

/// Text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The sections of the page, in order: (id, heading). The browser test checks each.
pub const SECTIONS: [(&str, &str); 9] = [
    ("summary", "Summary"),
    ("timeline", "Heap over time"),
    ("peak", "Peak"),
    ("leaks", "Leaks"),
    ("temporary", "Temporary allocations"),
    ("flamegraphs", "Flamegraphs"),
    ("sites", "Sites"),
    ("classes", "Size classes"),
    ("audit", "Audit"),
];

const CSS: &str = "
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1260px; padding: 0 16px 40px; color: #222; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ccc; padding: 8px 0; z-index: 1; }
nav a { margin-right: 14px; color: #1f5fa8; text-decoration: none; }
h1 { font-size: 1.5em; margin: 16px 0 4px; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 32px; }
h3 { font-size: 1.05em; margin: 18px 0 6px; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f4f4f4; }
td.name, th.name { text-align: left; font-family: ui-monospace, monospace; }
pre { background: #f8f8f8; padding: 10px; overflow-x: auto; }
.note { color: #666; }
.missing { color: #8a5a00; background: #fff6e0; padding: 6px 10px; display: inline-block; }
.warning { color: #a00; }
iframe.flame { width: 100%; border: 1px solid #ddd; }
figure { margin: 10px 0 24px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
.chart svg { max-width: 100%; height: auto; }
";

/// Stops `history.replaceState` from throwing in a `srcdoc` frame (see the module doc).
const FRAME_GUARD: &str = "<script>(function(){var r=history.replaceState;history.replaceState=function(){try{return r.apply(history,arguments)}catch(e){}};})();</script>";

struct Table {
    head: Vec<(&'static str, bool)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns: (heading, whether it holds names: left-aligned, monospace).
    fn new(head: &[(&'static str, bool)]) -> Table {
        Table {
            head: head.to_vec(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self, o: &mut String) {
        o.push_str("<table><thead><tr>");
        for (h, name) in &self.head {
            let class = if *name { " class=\"name\"" } else { "" };
            let _ = write!(o, "<th{class}>{}</th>", esc(h));
        }
        o.push_str("</tr></thead><tbody>");
        for r in &self.rows {
            o.push_str("<tr>");
            for (cell, (_, name)) in r.iter().zip(&self.head) {
                let class = if *name { " class=\"name\"" } else { "" };
                let _ = write!(o, "<td{class}>{}</td>", esc(cell));
            }
            o.push_str("</tr>");
        }
        o.push_str("</tbody></table>\n");
    }
}

fn missing(o: &mut String, what: &str) {
    let _ = writeln!(o, "<p class=\"missing\">not recorded: {}</p>", esc(what));
}

fn bytes_cell(b: u64) -> String {
    if b < 1024 {
        format!("{b} B")
    } else {
        format!("{} ({b})", human(b))
    }
}

fn share(part: f64, whole: f64) -> String {
    if whole <= 0.0 {
        "—".into()
    } else {
        format!("{:.1}%", part * 100.0 / whole)
    }
}

/// The innermost user frame of sampled stack `stack`: `name  file:line`.
fn stack_name(p: &Profile, stack: u32) -> String {
    let (name, loc) = user_frame(&p.frames(stack).collect::<Vec<_>>());
    if loc.is_empty() {
        crate::names::shown(&name)
    } else {
        format!("{}  {loc}", crate::names::shown(&name))
    }
}

fn site_stack(p: &Profile, stack: &[u32]) -> String {
    crate::names::shown(&site_names(p, stack).join(" > "))
}

fn summary(o: &mut String, p: &Profile, r: &report::Report) {
    let t = &r.totals;
    let mut table = Table::new(&[("figure", true), ("value", false)]);
    let rows: [(&str, String); 9] = [
        ("objects allocated", t.objects.to_string()),
        ("bytes (slots)", bytes_cell(t.bytes)),
        ("requested bytes", bytes_cell(t.requested_bytes)),
        ("waste", bytes_cell(t.waste_bytes)),
        (
            "live at end",
            format!(
                "{}, {}",
                report::count(t.live_objects, "object", "objects"),
                human(t.live_bytes)
            ),
        ),
        ("refills", t.refills.to_string()),
        (
            "arenas",
            format!("{} ({} mapped)", t.arenas, human(t.bytes_mapped)),
        ),
        ("scavenged", human(t.bytes_scavenged)),
        (
            "sampling rate",
            match p.sample_rate {
                0 => "no stacks".into(),
                1 => "every allocation".into(),
                r => format!("one stack per {r} bytes (mean)"),
            },
        ),
    ];
    for (k, v) in rows {
        table.row(vec![k.into(), v]);
    }
    table.render(o);
    for w in &p.warnings {
        let _ = writeln!(o, "<p class=\"warning\">warning: {}</p>", esc(w));
    }
    if let Some(hint) = &r.no_samples {
        let _ = writeln!(o, "<p class=\"note\">{}</p>", esc(hint));
    }
}

fn peak(o: &mut String, p: &Profile) {
    let k = &p.peak;
    if k.live_bytes == 0 && k.site_stats.is_empty() && k.samples.is_empty() {
        if p.timeline.points.is_empty() {
            missing(
                o,
                "this profile has no peak (it is recorded while the program runs, by spanprof versions that write `peak`)",
            );
        } else {
            missing(o, crate::views::no_peak_reason(p));
        }
        return;
    }
    let _ = writeln!(
        o,
        "<p>The heap was largest at <b>{} ms</b>: <b>{}</b> live, {} mapped.</p>",
        k.t_ms,
        esc(&human(k.live_bytes)),
        esc(&human(k.mapped_bytes))
    );
    o.push_str("<h3>Live at the peak, per site stack (exact)</h3>\n");
    let mut by: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for s in &k.site_stats {
        let e = by.entry(site_stack(p, &s.stack)).or_default();
        e.0 += s.live_objects;
        e.1 += s.live_bytes;
    }
    if by.is_empty() {
        let why = if p.site_counts_only {
            "site figures at the peak need exact site frees (the run had them off)"
        } else {
            "no site had objects live at the peak"
        };
        let _ = writeln!(o, "<p class=\"note\">{why}</p>");
    } else {
        let mut rows: Vec<_> = by.into_iter().collect();
        rows.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(&b.0)));
        let mut t = Table::new(&[
            ("live bytes", false),
            ("share of peak", false),
            ("objects", false),
            ("site stack", true),
        ]);
        for (name, (objects, bytes)) in rows.into_iter().take(TOP) {
            t.row(vec![
                bytes_cell(bytes),
                share(bytes as f64, k.live_bytes as f64),
                objects.to_string(),
                name,
            ]);
        }
        t.render(o);
    }
    o.push_str("<h3>In use at the peak, per sampled stack (estimated)</h3>\n");
    let mut by: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for s in &k.samples {
        let e = by.entry(stack_name(p, s.stack)).or_default();
        e.0 += s.inuse_objects_est;
        e.1 += s.inuse_bytes_est;
    }
    stack_table(
        o,
        by,
        k.live_bytes as f64,
        "no sampled stack was in use at the peak",
    );
}

/// A table of sampled stacks by estimated bytes, largest first.
fn stack_table(o: &mut String, by: BTreeMap<String, (f64, f64)>, whole: f64, none: &str) {
    let mut rows: Vec<_> = by.into_iter().filter(|r| r.1.1 > 0.0).collect();
    if rows.is_empty() {
        let _ = writeln!(o, "<p class=\"note\">{}</p>", esc(none));
        return;
    }
    rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1).then(a.0.cmp(&b.0)));
    let mut t = Table::new(&[
        ("bytes", false),
        ("share", false),
        ("objects", false),
        ("innermost user frame", true),
    ]);
    for (name, (objects, bytes)) in rows.into_iter().take(TOP) {
        t.row(vec![
            bytes_cell(bytes.round() as u64),
            share(bytes, whole),
            format!("{:.0}", objects),
            name,
        ]);
    }
    t.render(o);
}

fn leaks(o: &mut String, p: &Profile, live_bytes: u64) {
    let _ = writeln!(
        o,
        "<p>What was still live when the profile was written (at exit, or at a dump): \
         {}. Objects reachable from statics count as live at exit too.</p>",
        esc(&human(live_bytes))
    );
    o.push_str("<h3>Per site stack (exact)</h3>\n");
    if p.site_counts_only {
        o.push_str("<p class=\"note\">not shown: exact site frees were off for this run (SPANPROF_SITE_FREES=0), so the sites' live figures miss frees; the sampled stacks below still tell.</p>\n");
    } else {
        let mut by: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for s in p.site_stats.iter().filter(|s| s.live_objects > 0) {
            let e = by.entry(site_stack(p, &s.stack)).or_default();
            e.0 += s.live_objects;
            e.1 += s.live_bytes;
        }
        let mut rows: Vec<_> = by.into_iter().collect();
        rows.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(&b.0)));
        if rows.is_empty() {
            o.push_str("<p class=\"note\">nothing allocated under a site was live</p>\n");
        } else {
            let mut t = Table::new(&[
                ("live bytes", false),
                ("objects", false),
                ("site stack", true),
            ]);
            for (name, (objects, bytes)) in rows.into_iter().take(TOP) {
                t.row(vec![bytes_cell(bytes), objects.to_string(), name]);
            }
            t.render(o);
        }
    }
    o.push_str("<h3>Per sampled stack (estimated)</h3>\n");
    let mut by: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for s in &p.samples {
        let e = by.entry(stack_name(p, s.stack)).or_default();
        e.0 += s.inuse_objects_est;
        e.1 += s.inuse_bytes_est;
    }
    let none = if p.samples.is_empty() {
        "no stacks were sampled"
    } else {
        "no sampled allocation was live"
    };
    stack_table(o, by, live_bytes as f64, none);
}

fn temporary(o: &mut String, p: &Profile, objects: u64) {
    let any_site = p.site_stats.iter().any(|s| s.temporary > 0);
    let any_sample = p.samples.iter().any(|s| s.temporary_objects > 0);
    // Files that count temporaries also record a timeline or a peak: only where
    // neither is there does a zero mean "not counted" rather than "none".
    let newer = timeline::has_timeline(p) || p.peak.live_bytes > 0;
    if p.temporary_total == 0 && !any_site && !any_sample && !newer {
        missing(
            o,
            "this profile has no temporary allocations counted (spanprof versions that count them write `temporary_total`)",
        );
        return;
    }
    let _ = writeln!(
        o,
        "<p>Temporary: freed with no other allocation on that thread in between (heaptrack's definition). \
         <b>{}</b> of {} allocations ({}).</p>",
        p.temporary_total,
        objects,
        share(p.temporary_total as f64, objects as f64)
    );
    o.push_str("<h3>Per site stack (exact)</h3>\n");
    let mut by: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for s in &p.site_stats {
        let e = by.entry(site_stack(p, &s.stack)).or_default();
        e.0 += s.temporary;
        e.1 += s.allocs;
    }
    let mut rows: Vec<_> = by.into_iter().filter(|r| r.1.0 > 0).collect();
    rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
    if rows.is_empty() {
        o.push_str("<p class=\"note\">no temporary allocation under a site</p>\n");
    } else {
        let mut t = Table::new(&[
            ("temporary", false),
            ("of its allocations", false),
            ("of all allocations", false),
            ("site stack", true),
        ]);
        for (name, (temp, allocs)) in rows.into_iter().take(TOP) {
            t.row(vec![
                temp.to_string(),
                share(temp as f64, allocs as f64),
                share(temp as f64, objects as f64),
                name,
            ]);
        }
        t.render(o);
    }
    o.push_str("<h3>Per sampled stack (estimated)</h3>\n");
    let mut by: BTreeMap<String, f64> = BTreeMap::new();
    for s in &p.samples {
        *by.entry(stack_name(p, s.stack)).or_default() += s.temporary_objects_est;
    }
    let mut rows: Vec<_> = by.into_iter().filter(|r| r.1 > 0.0).collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if rows.is_empty() {
        o.push_str("<p class=\"note\">no temporary allocation among the sampled ones</p>\n");
    } else {
        let mut t = Table::new(&[
            ("temporary (est.)", false),
            ("of all allocations", false),
            ("innermost user frame", true),
        ]);
        for (name, n) in rows.into_iter().take(TOP) {
            t.row(vec![format!("{n:.0}"), share(n, objects as f64), name]);
        }
        t.render(o);
    }
}

/// The height inferno gave the SVG (its root's `height`), for the frame.
fn svg_height(svg: &str) -> u32 {
    let root = svg.find("<svg").map_or("", |i| &svg[i..]);
    let root = &root[..root.find('>').unwrap_or(root.len())];
    root.find(" height=\"")
        .and_then(|i| {
            let v = &root[i + 9..];
            v[..v.find('"')?].parse::<f64>().ok()
        })
        .map_or(400, |h| h.ceil() as u32)
}

/// An SVG as a document for `srcdoc`: without its XML prolog (the frame parses HTML).
fn frame_doc(svg: &str) -> String {
    let body = svg.find("<svg").map_or(svg, |i| &svg[i..]);
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>html,body{{margin:0}}svg{{display:block;width:100%}}</style>{FRAME_GUARD}</head><body>{body}</body></html>"
    )
}

fn flamegraphs(o: &mut String, p: &Profile, file: &str) -> Result<()> {
    o.push_str("<p class=\"note\">Click a frame to zoom, <i>Reset Zoom</i> to go back; <i>Search</i> (or Ctrl-F inside a graph) highlights the frames whose name matches.</p>\n");
    let graphs = [
        (
            "flame-heap",
            "Allocated bytes, sampled native stacks (estimated)",
            Stacks::Native,
            Weight::AllocBytes,
        ),
        (
            "flame-inuse",
            "Bytes in use at the end, sampled native stacks (estimated)",
            Stacks::Native,
            Weight::InuseBytes,
        ),
        (
            "flame-sites",
            "Allocated bytes, site stacks (exact)",
            Stacks::Sites,
            Weight::AllocBytes,
        ),
        (
            "flame-refills",
            "Refills, site stacks (exact)",
            Stacks::Sites,
            Weight::Refills,
        ),
    ];
    let look = flame::Look {
        title: None,
        icicle: false,
    };
    for (id, caption, stacks, weight) in graphs {
        let _ = writeln!(
            o,
            "<figure id=\"{id}\"><figcaption>{}</figcaption>",
            esc(caption)
        );
        let opts = StackOpts {
            weight,
            stacks,
            size_class: None,
            class_frames: false,
        };
        // Native stacks of a profile without samples: `fold` says why (an error for
        // the flamegraph command); here it is a note under the caption.
        let hint = (stacks == Stacks::Native)
            .then(|| report::no_samples_hint(p))
            .flatten();
        let lines: Vec<String> = match hint {
            Some(_) => Vec::new(),
            None => fold(p, file, &opts)?
                .iter()
                .map(|(s, w)| format!("{s} {w}"))
                .collect(),
        };
        if lines.is_empty() {
            let why =
                hint.unwrap_or_else(|| "nothing to draw: no allocation has this weight".into());
            let _ = writeln!(o, "<p class=\"note\">{}</p>", esc(&why));
        } else {
            let svg = flame::svg(file, &lines, &opts, &look)?;
            let svg = String::from_utf8_lossy(&svg);
            let _ = writeln!(
                o,
                "<iframe class=\"flame\" id=\"{id}-frame\" title=\"{}\" style=\"height:{}px\" srcdoc=\"{}\"></iframe>",
                esc(caption),
                svg_height(&svg) + 4,
                esc(&frame_doc(&svg))
            );
        }
        o.push_str("</figure>\n");
    }
    Ok(())
}

fn sites(o: &mut String, p: &Profile, r: &report::Report) {
    if r.sites.is_empty() {
        o.push_str(
            "<p class=\"note\">no allocation was counted (no site and no other allocation)</p>\n",
        );
        return;
    }
    let mut t = Table::new(&[
        ("bytes (slots)", false),
        ("objects", false),
        ("requested", false),
        ("waste", false),
        ("refills", false),
        ("live bytes", false),
        ("site stack", true),
    ]);
    for s in &r.sites {
        t.row(vec![
            bytes_cell(s.bytes),
            s.objects.to_string(),
            bytes_cell(s.requested_bytes),
            share(
                s.bytes.saturating_sub(s.requested_bytes) as f64,
                s.bytes as f64,
            ),
            s.refills.to_string(),
            s.live_bytes.map_or_else(|| "—".into(), bytes_cell),
            crate::names::shown(&s.stack),
        ]);
    }
    t.render(o);
    if p.site_counts_only {
        o.push_str("<p class=\"note\">live bytes: not tracked (exact site frees were off)</p>\n");
    }
}

fn classes(o: &mut String, r: &report::Report) {
    let mut t = Table::new(&[
        ("class", false),
        ("slot", false),
        ("objects", false),
        ("bytes", false),
        ("requested", false),
        ("waste", false),
        ("refills", false),
        ("spans", false),
    ]);
    for c in &r.classes {
        t.row(vec![
            c.class.to_string(),
            c.size.to_string(),
            c.objects.to_string(),
            c.bytes.to_string(),
            c.requested_bytes.to_string(),
            format!("{:.1}%", c.waste_pct),
            c.refills.to_string(),
            c.spans.to_string(),
        ]);
    }
    t.render(o);
    let l = &r.large;
    let _ = writeln!(
        o,
        "<p>Large allocations (&gt; 32 KiB): {} allocated, {} freed, {} ({} requested).</p>",
        l.allocs,
        l.frees,
        esc(&human(l.bytes_allocated)),
        esc(&human(l.requested_bytes))
    );
}

/// The page for profile `p` (its stacks trimmed for display), read from `file`.
pub fn page(p: &Profile, file: &str) -> Result<String> {
    // Every site and stack, as the tables show at most TOP rows themselves.
    let r = report::build(p, usize::MAX);
    let program = report::command_line(&p.program, &p.args);
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>spanprof: {}</title><style>{CSS}</style></head><body>\n",
        esc(&crate::names::shown(&program))
    );
    o.push_str("<nav>");
    for (id, heading) in SECTIONS {
        let _ = write!(o, "<a href=\"#{id}\">{}</a>", esc(heading));
    }
    o.push_str("</nav>\n");
    let _ = writeln!(
        o,
        "<h1>spanprof report</h1><p class=\"note\"><code>{}</code> · profile {} · spanprof {}</p>",
        esc(&crate::names::shown(&program)),
        esc(file),
        esc(&p.spanprof_version)
    );
    for (id, heading) in SECTIONS {
        let _ = writeln!(o, "<section id=\"{id}\"><h2>{}</h2>", esc(heading));
        match id {
            "summary" => summary(&mut o, p, &r),
            "timeline" => {
                if timeline::has_timeline(p) {
                    let svg = timeline::svg(p, file)?;
                    let _ = writeln!(
                        o,
                        "<div class=\"chart\">{}</div>",
                        String::from_utf8_lossy(&svg)
                    );
                } else {
                    missing(
                        &mut o,
                        timeline::NO_TIMELINE.trim_start_matches("no timeline in this profile: "),
                    );
                }
            }
            "peak" => peak(&mut o, p),
            "leaks" => leaks(&mut o, p, r.totals.live_bytes),
            "temporary" => temporary(&mut o, p, r.totals.objects),
            "flamegraphs" => flamegraphs(&mut o, p, file)?,
            "sites" => sites(&mut o, p, &r),
            "classes" => classes(&mut o, &r),
            "audit" => {
                let _ = writeln!(
                    o,
                    "<pre>{}</pre>",
                    esc(&audit::render_text(&audit::build(p)))
                );
            }
            _ => {}
        }
        o.push_str("</section>\n");
    }
    o.push_str("</body></html>\n");
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn the_summary_counts_one_object_in_the_singular() {
        let mut p = Profile {
            classes: vec![spanprof::format::ClassCounters {
                class: 27,
                size: 576,
                allocs: 3,
                frees: 2,
                bytes_allocated: 3 * 576,
                live_objects: 1,
                live_bytes: 576,
                ..Default::default()
            }],
            ..Profile::default()
        };
        let mut o = String::new();
        summary(&mut o, &p, &report::build(&p, 10));
        assert!(o.contains("<td>1 object, 576 B</td>"), "{o}");
        p.classes[0].live_objects = 2;
        p.classes[0].live_bytes = 2 * 576;
        let mut o = String::new();
        summary(&mut o, &p, &report::build(&p, 10));
        assert!(o.contains("<td>2 objects, 1.1 KiB</td>"), "{o}");
    }

    #[test]
    fn frame_height_and_document_come_from_the_svg() {
        let svg = "<?xml version=\"1.0\"?><!DOCTYPE svg><svg version=\"1.1\" width=\"1200\" height=\"358\" onload=\"init(evt)\"><g/></svg>";
        assert_eq!(svg_height(svg), 358);
        let doc = frame_doc(svg);
        assert!(!doc.contains("<?xml") && !doc.contains("DOCTYPE svg"));
        assert!(doc.contains("<body><svg version"));
    }
}
