//! `spanprof audit`: every boxed type (`Box`/`Rc`/`Arc::new`) an escape finding names
//! with a size, and every type marked with `#[track_alloc]` (the profile's `types`),
//! mapped to its size class: slot size, bytes wasted per object, how often the site
//! allocated in that class, and how much shrinking the type would save. A marked type
//! that a finding also names is listed once, from the finding (which has counts).

use crate::report::{Paint, count, human};
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
    /// `waste_bytes` in percent of `slot_size`; `None` (JSON `null`, text `—`) when
    /// there is no slot to divide by (a size no allocation can have).
    pub waste_pct: Option<f64>,
    /// Objects the site allocated in that class (all types), from the counters.
    pub site_allocs_in_class: u64,
    pub hint: String,
}

/// The size class and slot (bytes) a `size`-byte object takes: a class's slot, or
/// whole 8 KiB pages when it is large. `None` for a size no allocation can have:
/// over `isize::MAX` (Rust's `Layout` limit), which only a damaged profile holds.
fn slot_of(size: u64) -> Option<(u32, u64)> {
    if size > isize::MAX as u64 {
        return None;
    }
    match class_of(usize::try_from(size).ok()?) {
        Some(c) if c > 0 => Some((c as u32, class_info(c).size as u64)),
        _ => Some((0, size.div_ceil(8192).checked_mul(8192)?)),
    }
}

/// `waste` in percent of `slot`, to one decimal; `None` when there is no slot.
fn waste_pct(waste: u64, slot: u64) -> Option<f64> {
    (slot > 0).then(|| (waste as f64 * 1000.0 / slot as f64).round() / 10.0)
}

fn hint(size: u64, class: u32, slot: u64) -> String {
    if slot == 0 || slot < size {
        return "no size class or page run holds this size".into();
    }
    if size == slot {
        return "fits its slot exactly".into();
    }
    if class == 0 {
        return format!("large object: rounded up to {} of pages", human(slot));
    }
    let smaller = classes().filter(|c| (c.size as u64) < size).last();
    match smaller {
        Some(c) if c.size > 0 && slot >= c.size as u64 => {
            let shrink = size - c.size as u64;
            let save = (slot - c.size as u64) as f64 * 100.0 / slot as f64;
            format!(
                "{} smaller would move it to the {} B class and save {save:.0} %",
                count(shrink, "byte", "bytes"),
                c.size
            )
        }
        _ => format!(
            "{} of padding per object",
            count(slot - size, "byte", "bytes")
        ),
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
            // A size past every limit (a damaged profile) keeps its row, with no slot.
            let size = size.saturating_add(header);
            if size == 0 {
                continue;
            }
            let (class, slot) = slot_of(size).unwrap_or((0, 0));
            let allocs = p
                .site_stats
                .iter()
                .filter(|s| s.stack.last() == Some(&site.id) && s.class == class)
                .fold(0u64, |n, s| n.saturating_add(s.allocs));
            rows.entry((site.name.clone(), ty.clone()))
                .or_insert(AuditRow {
                    site: site.name.clone(),
                    source: "finding",
                    type_name: ty.clone(),
                    size,
                    align: f.align,
                    size_class: class,
                    slot_size: slot,
                    waste_bytes: slot.saturating_sub(size),
                    waste_pct: waste_pct(slot.saturating_sub(size), slot),
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
            waste_pct: waste_pct(t.waste, t.slot_size),
            site_allocs_in_class: 0,
            hint: hint(t.size, t.size_class, t.slot_size),
        });
    }
    rows.sort_by(|a, b| {
        let total = |r: &AuditRow| r.waste_bytes.saturating_mul(r.site_allocs_in_class.max(1));
        total(b)
            .cmp(&total(a))
            .then(b.waste_bytes.cmp(&a.waste_bytes))
            .then(a.type_name.cmp(&b.type_name))
    });
    rows
}

/// The audit as a plain text table (for files: `spanprof demo`'s audit.txt).
pub fn render_text(rows: &[AuditRow]) -> String {
    render(rows, Paint::PLAIN)
}

/// The audit as a text table, styled by `paint`: the header bold, waste over
/// [`crate::report::NOTABLE_WASTE_PCT`] yellow.
pub fn render(rows: &[AuditRow], paint: Paint) -> String {
    let mut o = String::new();
    if rows.is_empty() {
        o.push_str("no typed allocations to audit (escape findings with a known size come from #[track_alloc] sites, marked types from #[track_alloc] on a struct or enum)\n");
        return o;
    }
    let header = format!(
        "{:<24} {:<20} {:>6} {:>5} {:>5} {:>6} {:>6} {:>6} {:>10}  hint",
        "type", "site", "size", "align", "class", "slot", "waste", "waste%", "allocs"
    );
    let _ = writeln!(o, "{}", paint.heading(&header));
    for r in rows {
        let align = r.align.map_or("-".into(), |a| a.to_string());
        let waste = match r.waste_pct {
            Some(pct) => paint.waste(pct, &format!("{pct:.1}%"), 6),
            None => format!("{:>6}", "—"),
        };
        let slot = if r.slot_size == 0 {
            "—".to_string()
        } else {
            r.slot_size.to_string()
        };
        let _ = writeln!(
            o,
            "{:<24} {:<20} {:>6} {:>5} {:>5} {:>6} {:>6} {} {:>10}  {}",
            crate::names::shown(&r.type_name),
            crate::names::shown(&r.site),
            r.size,
            align,
            r.size_class,
            slot,
            r.waste_bytes,
            waste,
            r.site_allocs_in_class,
            r.hint
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_with_no_slot_shows_a_dash_not_inf() {
        // Past isize::MAX no allocation exists, and page rounding would overflow.
        assert_eq!(slot_of(u64::MAX), None);
        assert_eq!(slot_of(isize::MAX as u64 + 1), None);
        assert_eq!(slot_of(33), Some((5, 48)));
        assert_eq!(slot_of(32769), Some((0, 40960)));
        assert_eq!(waste_pct(8, 0), None);
        assert_eq!(waste_pct(8, 48), Some(16.7));
        let row = AuditRow {
            site: "s".into(),
            source: "finding",
            type_name: "Huge".into(),
            size: u64::MAX,
            align: None,
            size_class: 0,
            slot_size: 0,
            waste_bytes: 0,
            waste_pct: None,
            site_allocs_in_class: 0,
            hint: hint(u64::MAX, 0, 0),
        };
        let text = render_text(&[row]);
        let line = text.lines().nth(1).unwrap();
        assert!(line.contains("     —      0      — "), "{line:?}");
        assert!(line.ends_with("no size class or page run holds this size"));
        assert!(!text.contains("inf") && !text.contains("NaN"), "{text}");
    }

    #[test]
    fn hints_count_bytes_in_the_singular_and_plural() {
        assert_eq!(
            hint(33, 5, 48),
            "1 byte smaller would move it to the 32 B class and save 33 %"
        );
        assert_eq!(
            hint(40, 5, 48),
            "8 bytes smaller would move it to the 32 B class and save 33 %"
        );
        assert_eq!(hint(7, 1, 8), "1 byte of padding per object");
        assert_eq!(hint(6, 1, 8), "2 bytes of padding per object");
        // A slot smaller than the type (a damaged profile) is said, not subtracted.
        assert_eq!(
            hint(100, 5, 48),
            "no size class or page run holds this size"
        );
    }
}
