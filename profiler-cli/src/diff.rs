//! `spanprof diff`: a differential flamegraph (drawn at max(before, after) widths;
//! red grew, blue shrank) and a table of the site stacks and size classes that
//! changed most.

use crate::folded::{StackOpts, fold, site_names};
use crate::report::human;
use spanprof::Profile;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Every stack of either profile with its weight before and after (0 where it is
/// absent), for [`crate::flame::diff_svg`].
pub fn lines(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> Vec<(String, u64, u64)> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .map(|k| {
            let b = before.get(k).copied().unwrap_or(0);
            let a = after.get(k).copied().unwrap_or(0);
            (k.clone(), b, a)
        })
        .collect()
}

/// Folds both profiles with the same options.
pub fn fold_both(
    before: (&Profile, &str),
    after: (&Profile, &str),
    opts: &StackOpts,
) -> crate::output::Result<(BTreeMap<String, u64>, BTreeMap<String, u64>)> {
    Ok((
        fold(before.0, before.1, opts)?,
        fold(after.0, after.1, opts)?,
    ))
}

fn by_site(p: &Profile) -> BTreeMap<String, i128> {
    let mut m = BTreeMap::new();
    for s in &p.site_stats {
        *m.entry(site_names(p, &s.stack).join(" > ")).or_default() += i128::from(s.slot_bytes);
    }
    m
}

fn by_class(p: &Profile) -> BTreeMap<String, i128> {
    let mut m = BTreeMap::new();
    for c in p.classes.iter().filter(|c| c.bytes_allocated > 0) {
        m.insert(
            format!("class {} ({} B)", c.class, c.size),
            i128::from(c.bytes_allocated),
        );
    }
    if p.large.bytes_allocated > 0 {
        m.insert("large".into(), i128::from(p.large.bytes_allocated));
    }
    m
}

fn changes(
    before: &BTreeMap<String, i128>,
    after: &BTreeMap<String, i128>,
    top: usize,
) -> Vec<(String, i128, i128)> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut v: Vec<(String, i128, i128)> = keys
        .into_iter()
        .map(|k| {
            (
                k.clone(),
                before.get(k).copied().unwrap_or(0),
                after.get(k).copied().unwrap_or(0),
            )
        })
        .filter(|(_, b, a)| a != b)
        .collect();
    v.sort_by(|x, y| {
        (y.2 - y.1)
            .abs()
            .cmp(&(x.2 - x.1).abs())
            .then(x.0.cmp(&y.0))
    });
    v.truncate(top);
    v
}

fn signed(d: i128) -> String {
    let h = human(d.unsigned_abs() as u64);
    if d < 0 {
        format!("-{h}")
    } else {
        format!("+{h}")
    }
}

/// The text table of the biggest changes in slot bytes.
pub fn table(before: &Profile, after: &Profile, top: usize) -> String {
    let mut o = String::new();
    for (title, b, a) in [
        ("Site stacks (slot bytes)", by_site(before), by_site(after)),
        (
            "Size classes (slot bytes)",
            by_class(before),
            by_class(after),
        ),
    ] {
        let _ = writeln!(o, "{title}");
        let rows = changes(&b, &a, top);
        if rows.is_empty() {
            let _ = writeln!(o, "  no change");
        }
        for (name, bv, av) in rows {
            let _ = writeln!(
                o,
                "  {:>12} -> {:>12}  {:>12}  {}",
                human(bv as u64),
                human(av as u64),
                signed(av - bv),
                crate::names::shown(&name)
            );
        }
    }
    o
}
