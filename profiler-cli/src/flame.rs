//! Flamegraph SVGs with inferno: plain (from folded stacks) and differential (from
//! `stack before after` lines), with the memory palette and deterministic colours,
//! finished by [`crate::svg`] so names read right (see [`crate::names`] and
//! [`crate::label`]).

use crate::folded::{StackOpts, Stacks};
use crate::output::{CliError, Result};
use crate::svg::{self, DiffRow, Fit, Tooltips};
use inferno::flamegraph::{
    self, Direction, Options, TextTruncateDirection, color::BasicPalette, color::Palette,
};

/// How the graph looks.
#[derive(Debug, Clone)]
pub struct Look {
    pub title: Option<String>,
    pub icicle: bool,
}

/// The default title: what is weighted and which stacks.
pub fn default_title(opts: &StackOpts) -> String {
    let stacks = match opts.stacks {
        Stacks::Native => "native stacks",
        Stacks::Sites => "site stacks",
    };
    let class = match &opts.size_class {
        Some(c) => format!(", size class {c}"),
        None => String::new(),
    };
    format!("spanprof heap: {} ({stacks}{class})", opts.weight.label())
}

fn options(opts: &StackOpts, look: &Look) -> Options<'static> {
    let mut o = Options::default();
    // The title is SVG text: shown as written, control characters escaped.
    o.title = crate::names::shown(&look.title.clone().unwrap_or_else(|| default_title(opts)));
    o.count_name = opts.weight.count_name().into();
    o.colors = Palette::Basic(BasicPalette::Mem);
    o.deterministic = true;
    o.hash = true;
    // The start of a Rust name says what it is; the labels are refitted (generic
    // arguments elided first) by `svg::finish` and its script.
    o.text_truncate_direction = TextTruncateDirection::Right;
    if look.icicle {
        o.direction = Direction::Inverted;
    }
    o
}

/// The largest total weight drawn: inferno adds the counts in `u64` and turns them
/// into `isize` deltas.
const MAX_TOTAL: u64 = i64::MAX as u64 / 4;

fn render(
    file: &str,
    lines: &[String],
    o: &mut Options<'_>,
    tips: &Tooltips<'_>,
) -> Result<Vec<u8>> {
    if lines.is_empty() {
        return Err(CliError::new(
            file,
            "nothing to draw: no allocations match these options",
        ));
    }
    let mut out = Vec::new();
    flamegraph::from_lines(o, lines.iter().map(String::as_str), &mut out)
        .map_err(|e| CliError::new(file, format!("cannot draw the flamegraph: {e}")))?;
    let fit = Fit {
        font_size: o.font_size as f64,
        font_width: o.font_width,
        image_width: o.image_width.unwrap_or(1200) as f64,
    };
    svg::finish(&out, tips, fit, o.direction == Direction::Inverted)
        .map_err(|e| CliError::new(file, e))
}

/// Renders folded `lines` (`stack weight`, frames written by
/// [`crate::folded::fold`]) to SVG bytes.
pub fn svg(file: &str, lines: &[String], opts: &StackOpts, look: &Look) -> Result<Vec<u8>> {
    let total = lines.iter().try_fold(0u64, |t, l| {
        let w = l
            .rsplit_once(' ')
            .and_then(|(_, w)| w.parse::<u64>().ok())
            .unwrap_or(0);
        t.checked_add(w).filter(|t| *t <= MAX_TOTAL)
    });
    if total.is_none() {
        return Err(CliError::new(file, "the weights are too large to draw"));
    }
    render(file, lines, &mut options(opts, look), &Tooltips::Plain)
}

/// Renders a differential graph of `stack before after` weights: one frame width per
/// stack of max(before, after), so what shrank shows as clearly as what grew;
/// coloured by each frame's own change (inferno's differential colours: red grew,
/// blue shrank), titled with each frame's totals before → after.
///
/// Inferno reads `stack first second` as width = second, delta = second − first
/// (`src/flamegraph/merge.rs`); `second = max(b, a)`, `first = second − (a − b)`
/// gives both.
pub fn diff_svg(
    file: &str,
    stacks: &[(String, u64, u64)],
    opts: &StackOpts,
    look: &Look,
) -> Result<Vec<u8>> {
    let mut lines = Vec::with_capacity(stacks.len());
    let mut rows = Vec::with_capacity(stacks.len());
    let mut total = 0u64;
    for (stack, b, a) in stacks {
        let (b, a) = (*b, *a);
        let second = b.max(a);
        // b ≥ a: first = 2b − a ≤ 2·second.
        let first = (second as u128 + b as u128 - a as u128) as u64;
        total = match total.checked_add(second).filter(|t| *t <= MAX_TOTAL) {
            Some(t) => t,
            None => return Err(CliError::new(file, "the weights are too large to draw")),
        };
        lines.push((
            format!("{stack} {first} {second}"),
            b,
            a,
            stack.split(';').count(),
        ));
    }
    // Inferno sorts the lines as strings; the frames' x follow that order.
    lines.sort_by(|x, y| x.0.cmp(&y.0));
    let mut start = 0;
    for (_, before, after, depth) in &lines {
        rows.push(DiffRow {
            start,
            before: *before,
            after: *after,
            depth: *depth,
        });
        start += before.max(after);
    }
    let lines: Vec<String> = lines.into_iter().map(|l| l.0).collect();
    let mut o = options(opts, look);
    o.subtitle = Some(
        "width: the larger of before and after; red grew, blue shrank (a frame's own \
         allocations); hover for before → after"
            .into(),
    );
    let tips = Tooltips::Diff {
        rows: &rows,
        unit: opts.weight.count_name(),
    };
    render(file, &lines, &mut o, &tips)
}
