//! Flamegraph SVGs with inferno: plain (from folded stacks) and differential (from
//! `stack before after` lines), with the memory palette and deterministic colours.

use crate::folded::{StackOpts, Stacks};
use crate::output::{CliError, Result};
use inferno::flamegraph::{self, Direction, Options, color::BasicPalette, color::Palette};

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
    o.title = look.title.clone().unwrap_or_else(|| default_title(opts));
    o.count_name = opts.weight.count_name().into();
    o.colors = Palette::Basic(BasicPalette::Mem);
    o.deterministic = true;
    o.hash = true;
    if look.icicle {
        o.direction = Direction::Inverted;
    }
    o
}

/// Renders `lines` (folded, or differential with two counts) to SVG bytes.
pub fn svg(file: &str, lines: &[String], opts: &StackOpts, look: &Look) -> Result<Vec<u8>> {
    if lines.is_empty() {
        return Err(CliError::new(
            file,
            "nothing to draw: no allocations match these options",
        ));
    }
    let mut o = options(opts, look);
    let mut out = Vec::new();
    flamegraph::from_lines(&mut o, lines.iter().map(String::as_str), &mut out)
        .map_err(|e| CliError::new(file, format!("cannot draw the flamegraph: {e}")))?;
    Ok(out)
}
