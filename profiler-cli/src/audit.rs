//! `spanprof audit`: every boxed type (`Box`/`Rc`/`Arc::new`) an escape finding names
//! with a size, and every type marked with `#[track_alloc]` (the profile's `types`),
//! mapped to its size class: slot size, bytes wasted per object, how often the site
//! allocated in that class, and how much shrinking the type would save. A marked type
//! that a finding also names is listed once, from the finding (which has counts).

use crate::report::human;
use serde::Serialize;
use spanprof::Profile;
use spanprof::size_class::{class_info, class_of, classes};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// One audited type at one site (or, for a marked type no finding names, alone).
#[derive(Debug, Serialize)]
pub struct AuditRow {
    /// The site's name; `(registered)` for a type known only from `#[track_alloc]`.
    pub site: String,
    /// `finding` (an escape finding at a site) or `registered` (a marked type).
    pub source: &'static str,
    #[serde(rename = "type")]
    pub type_name: String,
    pub size: u64,
    pub align: Option<u64>,
    pub size_class: u32,
    pub slot_size: u64,
    pub waste_bytes: u64,
    pub waste_pct: f64,
    /// Objects the site allocated in that class (all types), from the counters.
    pub site_allocs_in_class: u64,
    pub hint: String,
}

fn slot_of(size: u64) -> (u32, u64) {
    match class_of(size as usize) {
        Some(c) if c > 0 => (c as u32, class_info(c).size as u64),
        _ => (0, size.div_ceil(8192) * 8192),
    }
}

fn hint(size: u64, class: u32, slot: u64) -> String {
    if size == slot {
        return "fits its slot exactly".into();
    }
    if class == 0 {
        return format!("large object: rounded up to {} of pages", human(slot));
    }
    let smaller = classes().filter(|c| (c.size as u64) < size).last();
    match smaller {
        Some(c) if c.size > 0 => {
            let shrink = size - c.size as u64;
            let save = (slot - c.size as u64) as f64 * 100.0 / slot as f64;
            format!(
                "{shrink} bytes smaller would move it to the {} B class and save {save:.0} %",
                c.size
            )
        }
        _ => format!("{} bytes of padding per object", slot - size),
    }
}

/// The audit rows, largest total waste first.
pub fn build(p: &Profile) -> Vec<AuditRow> {
    let mut rows: BTreeMap<(String, String), AuditRow> = BTreeMap::new();
    for site in &p.sites {
        for f in &site.findings {
            let (Some(ty), Some(size)) = (&f.type_name, f.size) else {
                continue;
            };
            // One object per allocation only: a collection's `type` is its element.
            let header = if f.expr.starts_with("Box::new") {
                0
            } else if f.expr.starts_with("Rc::new") || f.expr.starts_with("Arc::new") {
                16 // the strong and weak counts
            } else {
                continue;
            };
            let size = size + header;
            if size == 0 {
                continue;
            }
            let (class, slot) = slot_of(size);
            let allocs = p
                .site_stats
                .iter()
                .filter(|s| s.stack.last() == Some(&site.id) && s.class == class)
                .map(|s| s.allocs)
                .sum();
            rows.entry((site.name.clone(), ty.clone()))
                .or_insert(AuditRow {
                    site: site.name.clone(),
                    source: "finding",
                    type_name: ty.clone(),
                    size,
                    align: f.align,
                    size_class: class,
                    slot_size: slot,
                    waste_bytes: slot - size,
                    waste_pct: ((slot - size) as f64 * 1000.0 / slot as f64).round() / 10.0,
                    site_allocs_in_class: allocs,
                    hint: hint(size, class, slot),
                });
        }
    }
    let mut rows: Vec<AuditRow> = rows.into_values().collect();
    // Marked types no finding names (findings write `path::Type` or `Type`).
    let last = |n: &str| n.rsplit("::").next().unwrap_or(n).to_string();
    let named: BTreeSet<String> = rows.iter().map(|r| last(&r.type_name)).collect();
    let mut seen = BTreeSet::new();
    for t in &p.types {
        if t.size == 0 || named.contains(&t.name) || !seen.insert(t.name.clone()) {
            continue;
        }
        rows.push(AuditRow {
            site: "(registered)".into(),
            source: "registered",
            type_name: t.name.clone(),
            size: t.size,
            align: Some(t.align),
            size_class: t.size_class,
            slot_size: t.slot_size,
            waste_bytes: t.waste,
            waste_pct: (t.waste as f64 * 1000.0 / t.slot_size.max(1) as f64).round() / 10.0,
            site_allocs_in_class: 0,
            hint: hint(t.size, t.size_class, t.slot_size),
        });
    }
    rows.sort_by(|a, b| {
        let total = |r: &AuditRow| r.waste_bytes * r.site_allocs_in_class.max(1);
        total(b)
            .cmp(&total(a))
            .then(b.waste_bytes.cmp(&a.waste_bytes))
            .then(a.type_name.cmp(&b.type_name))
    });
    rows
}

/// The audit as a text table.
pub fn render_text(rows: &[AuditRow]) -> String {
    let mut o = String::new();
    if rows.is_empty() {
        o.push_str("no typed allocations to audit (escape findings with a known size come from #[track_alloc] sites, marked types from #[track_alloc] on a struct or enum)\n");
        return o;
    }
    let _ = writeln!(
        o,
        "{:<24} {:<20} {:>6} {:>5} {:>5} {:>6} {:>6} {:>6} {:>10}  hint",
        "type", "site", "size", "align", "class", "slot", "waste", "waste%", "allocs"
    );
    for r in rows {
        let align = r.align.map_or("-".into(), |a| a.to_string());
        let _ = writeln!(
            o,
            "{:<24} {:<20} {:>6} {:>5} {:>5} {:>6} {:>6} {:>5.1}% {:>10}  {}",
            r.type_name,
            r.site,
            r.size,
            align,
            r.size_class,
            r.slot_size,
            r.waste_bytes,
            r.waste_pct,
            r.site_allocs_in_class,
            r.hint
        );
    }
    o
}
