//! `spanprof diff`: a differential flamegraph (drawn at max(before, after) widths;
//! red grew, blue shrank) and a table of the stacks and size classes that changed
//! most, in the graph's weight.

use crate::folded::{StackOpts, Stacks, Weight, fold};
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

/// A folded stack as a table row names it: its innermost frames (at most
/// [`ROW_FRAMES`]), outermost first, ` > ` between them; names shown as the report
/// shows them.
pub fn row_name(folded: &str) -> String {
    let frames: Vec<String> = folded
        .split(';')
        .map(|f| crate::names::shown(&crate::names::unescape(f)))
        .collect();
    let cut = frames.len().saturating_sub(ROW_FRAMES);
    let mut name = frames[cut..].join(" > ");
    if cut > 0 {
        name.insert_str(0, "… > ");
    }
    name
}

/// How many innermost frames a stack's row shows.
const ROW_FRAMES: usize = 4;

fn by_stack(folded: &BTreeMap<String, u64>) -> BTreeMap<String, i128> {
    let mut m = BTreeMap::new();
    for (stack, w) in folded {
        *m.entry(row_name(stack)).or_default() += i128::from(*w);
    }
    m
}

/// The size classes' counters in the graph's weight, only the `--size-class` one
/// when there is a filter; large objects are class 0 (they count no refills).
fn by_class(p: &Profile, opts: &StackOpts) -> BTreeMap<String, i128> {
    let filter = opts
        .size_class
        .as_deref()
        .and_then(|t| crate::folded::parse_class(t).ok())
        .map(|f| f.class);
    let keep = |class: u32| filter.is_none_or(|f| f == class);
    // Per class from the sites: the peak's live bytes and the temporary objects
    // (the "(no site)" rows hold the rest of each class).
    let by_class = |class: u32| -> (u64, u64) {
        let peak = p.peak.site_stats.iter().filter(|s| s.class == class);
        let temp = p.site_stats.iter().filter(|s| s.class == class);
        (
            peak.map(|s| s.live_bytes).sum(),
            temp.map(|s| s.temporary).sum(),
        )
    };
    let mut m = BTreeMap::new();
    for c in p.classes.iter().filter(|c| keep(c.class)) {
        let w = match opts.weight {
            Weight::PeakBytes => by_class(c.class).0,
            Weight::Temporary => by_class(c.class).1,
            Weight::AllocBytes => c.bytes_allocated,
            Weight::AllocObjects => c.allocs,
            Weight::InuseBytes => c.live_bytes,
            Weight::InuseObjects => c.live_objects,
            Weight::Refills => c.refills,
        };
        if w > 0 {
            m.insert(format!("class {} ({} B)", c.class, c.size), i128::from(w));
        }
    }
    let l = &p.large;
    let w = match opts.weight {
        Weight::AllocBytes => l.bytes_allocated,
        Weight::AllocObjects => l.allocs,
        Weight::InuseBytes => l.bytes_allocated.saturating_sub(l.bytes_freed),
        Weight::InuseObjects => l.allocs.saturating_sub(l.frees),
        Weight::Refills => 0,
        Weight::PeakBytes => by_class(0).0,
        Weight::Temporary => by_class(0).1,
    };
    if keep(0) && w > 0 {
        m.insert("large".into(), i128::from(w));
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

/// `v` in the weight's unit: bytes as `1.5 MiB`, counts as they are.
fn amount(v: i128, weight: Weight) -> String {
    match weight.count_name() {
        "bytes" => human(v.unsigned_abs() as u64),
        _ => v.unsigned_abs().to_string(),
    }
}

fn signed(d: i128, weight: Weight) -> String {
    let sign = if d < 0 { '-' } else { '+' };
    format!("{sign}{}", amount(d, weight))
}

/// The text table of the biggest changes: the stacks as the graph draws them (same
/// `--stacks`, `--weight` and `--size-class`; `folded` are the graph's two folds),
/// then the size classes in the same weight.
pub fn table(
    profiles: (&Profile, &Profile),
    folded: (&BTreeMap<String, u64>, &BTreeMap<String, u64>),
    opts: &StackOpts,
    top: usize,
) -> String {
    let w = opts.weight;
    let stacks = match opts.stacks {
        Stacks::Sites => "site stacks",
        Stacks::Native => "sampled stacks, estimated",
    };
    let mut o = String::new();
    for (title, b, a) in [
        (
            format!("Stacks ({}, {stacks})", w.label()),
            by_stack(folded.0),
            by_stack(folded.1),
        ),
        (
            format!("Size classes ({})", w.label()),
            by_class(profiles.0, opts),
            by_class(profiles.1, opts),
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
                "  {:>12} -> {:>12}  {:>12}  {name}",
                amount(bv, w),
                amount(av, w),
                signed(av - bv, w),
            );
        }
    }
    o
}
