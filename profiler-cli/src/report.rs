//! `spanprof report`: totals, top site stacks, the size-class table, large objects,
//! heap events, the top sampled stacks and the Peak, Leaks and Temporary views
//! (`views.rs`), as text or JSON. Also the text helpers the
//! other text outputs share: counted nouns ([`count`]) and colour ([`Paint`]).

use crate::folded::{site_names, user_frames};
use serde::Serialize;
use spanprof::Profile;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The whole report; serialised as is for `--format json`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The program as it was started (`argv[0]`, as the runtime records it).
    pub program: String,
    /// Its arguments (`argv[1..]`).
    pub args: Vec<String>,
    pub sample_rate: u64,
    pub totals: Totals,
    pub sites: Vec<SiteRow>,
    pub classes: Vec<ClassRow>,
    pub large: spanprof::format::LargeCounters,
    pub events: Vec<spanprof::format::HeapEvent>,
    pub stacks: Vec<StackRow>,
    /// Sampled allocations lost because the stack table was full: the stacks above
    /// undercount by about this many samples.
    pub dropped_samples: u64,
    /// The heap at its largest.
    pub peak: crate::views::PeakView,
    /// What was still live when the profile was written.
    pub leaks: crate::views::LeaksView,
    /// Allocations freed before the next one on their thread.
    pub temporary: crate::views::TemporaryView,
    /// Why there are no sampled stacks, when there are none (text output only).
    #[serde(skip)]
    pub no_samples: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Totals {
    pub objects: u64,
    pub bytes: u64,
    pub requested_bytes: u64,
    pub waste_bytes: u64,
    pub live_objects: u64,
    pub live_bytes: u64,
    pub refills: u64,
    pub arenas: u64,
    pub bytes_mapped: u64,
    pub bytes_scavenged: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct SiteRow {
    pub stack: String,
    pub objects: u64,
    pub bytes: u64,
    pub requested_bytes: u64,
    pub refills: u64,
    /// `None` when the profile's sites did not track frees (`site_counts_only`).
    pub live_bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct ClassRow {
    pub class: u32,
    pub size: u64,
    pub objects: u64,
    pub bytes: u64,
    pub requested_bytes: u64,
    pub waste_pct: f64,
    pub refills: u64,
    pub spans: u64,
}

#[derive(Debug, Serialize)]
pub struct StackRow {
    pub frame: String,
    pub location: String,
    pub alloc_bytes_est: u64,
    pub alloc_objects_est: u64,
    pub inuse_bytes_est: u64,
}

/// Builds the report, keeping the `top` biggest sites and stacks.
pub fn build(p: &Profile, top: usize) -> Report {
    let mut requested_by_class: BTreeMap<u32, u64> = BTreeMap::new();
    let mut sites: BTreeMap<String, SiteRow> = BTreeMap::new();
    for s in &p.site_stats {
        *requested_by_class.entry(s.class).or_default() += s.requested_bytes;
        let name = site_names(p, &s.stack).join(" > ");
        let row = sites.entry(name.clone()).or_default();
        row.stack = name;
        row.objects += s.allocs;
        row.bytes += s.slot_bytes;
        row.requested_bytes += s.requested_bytes;
        row.refills += s.refills;
        row.live_bytes = (!p.site_counts_only).then(|| row.live_bytes.unwrap_or(0) + s.live_bytes);
    }
    let mut sites: Vec<SiteRow> = sites.into_values().collect();
    sites.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.stack.cmp(&b.stack)));
    sites.truncate(top);

    let classes: Vec<ClassRow> = p
        .classes
        .iter()
        .filter(|c| c.allocs > 0)
        .map(|c| {
            let requested = requested_by_class
                .get(&c.class)
                .copied()
                .unwrap_or(c.bytes_allocated);
            ClassRow {
                class: c.class,
                size: c.size,
                objects: c.allocs,
                bytes: c.bytes_allocated,
                requested_bytes: requested,
                waste_pct: pct(
                    c.bytes_allocated.saturating_sub(requested),
                    c.bytes_allocated,
                ),
                refills: c.refills,
                spans: c.spans_in_use,
            }
        })
        .collect();

    let small_bytes: u64 = p.classes.iter().map(|c| c.bytes_allocated).sum();
    let bytes = small_bytes + p.large.bytes_allocated;
    let requested: u64 = classes.iter().map(|c| c.requested_bytes).sum::<u64>()
        + if p.large.allocs > 0 {
            p.large.requested_bytes
        } else {
            0
        };
    let totals = Totals {
        objects: p.classes.iter().map(|c| c.allocs).sum::<u64>() + p.large.allocs,
        bytes,
        requested_bytes: requested,
        waste_bytes: bytes.saturating_sub(requested),
        live_objects: p.classes.iter().map(|c| c.live_objects).sum::<u64>()
            + p.large.allocs.saturating_sub(p.large.frees),
        live_bytes: p.classes.iter().map(|c| c.live_bytes).sum::<u64>()
            + p.large.bytes_allocated.saturating_sub(p.large.bytes_freed),
        refills: p.classes.iter().map(|c| c.refills).sum(),
        arenas: p.heap.arenas_mapped,
        bytes_mapped: p.heap.bytes_mapped,
        bytes_scavenged: p.heap.bytes_scavenged,
    };

    let mut stacks: BTreeMap<(String, String), [f64; 3]> = BTreeMap::new();
    let users = user_frames(p);
    for s in &p.samples {
        let Some(user) = users.get(s.stack as usize) else {
            continue;
        };
        let e = stacks.entry(user.clone()).or_default();
        e[0] += s.alloc_bytes_est;
        e[1] += s.alloc_objects_est;
        e[2] += s.inuse_bytes_est;
    }
    let mut stacks: Vec<StackRow> = stacks
        .into_iter()
        .map(|((frame, location), v)| StackRow {
            frame,
            location,
            alloc_bytes_est: v[0].round() as u64,
            alloc_objects_est: v[1].round() as u64,
            inuse_bytes_est: v[2].round() as u64,
        })
        .collect();
    stacks.sort_by(|a, b| {
        b.alloc_bytes_est
            .cmp(&a.alloc_bytes_est)
            .then(a.frame.cmp(&b.frame))
    });
    stacks.truncate(top);

    Report {
        program: p.program.clone(),
        args: p.args.clone(),
        sample_rate: p.sample_rate,
        totals,
        sites,
        classes,
        large: p.large.clone(),
        events: p.events.clone(),
        stacks,
        dropped_samples: p.dropped_samples,
        peak: crate::views::peak(p, top),
        leaks: crate::views::leaks(p, top),
        temporary: crate::views::temporary(p, top),
        no_samples: no_samples_hint(p),
    }
}

/// Why `p` has no sampled stacks and what to run instead, fitted to how it was taken
/// (so a run that sampled nothing is never told to do what it just did); `None` when
/// it has samples. Every place that reports missing stacks says this.
pub fn no_samples_hint(p: &Profile) -> Option<String> {
    if !p.samples.is_empty() {
        return None;
    }
    // The sampler counts slot bytes, small and large, so compare the rate with those.
    let bytes = p
        .classes
        .iter()
        .map(|c| c.bytes_allocated)
        .fold(p.large.bytes_allocated, u64::saturating_add);
    let rate = p.sample_rate;
    // Both ways a rate is given: `spanprof run`/`cargo spanprof run`, or by hand.
    let run_with = |r: u64| format!("--rate {r} (SPANPROF_RATE={r} when run by hand)");
    let mut hint = if bytes == 0 {
        "no stacks were recorded: the program allocated nothing".to_string()
    } else if rate == 0 {
        // A few samples even from a small program, and no more than one per 4 KiB.
        format!(
            "no stacks were recorded: sampling was off; run with {}",
            run_with(smaller_rate(bytes, 8192))
        )
    } else if rate == 1 {
        "no stacks were recorded although sampling was on for every allocation (rate 1)".to_string()
    } else {
        let why = if bytes < rate {
            format!(
                "the program allocated {}, less than about one sampling interval of {rate} bytes",
                count(bytes, "byte", "bytes")
            )
        } else {
            // Each thread counts down its own bytes, so many threads that each
            // allocate less than the rate can add up to more and still sample nothing.
            // (rate > 1 here, so both figures are plural.)
            format!(
                "none of the {bytes} bytes the program allocated was sampled at about one stack per {rate} bytes (each thread counts its own)"
            )
        };
        format!(
            "no stacks were recorded: {why}; run with a smaller rate, {}, or 1 for every allocation",
            run_with(smaller_rate(bytes, rate))
        )
    };
    if p.dropped_samples > 0 {
        hint.push_str(&format!(
            " ({} dropped: the stack table was full)",
            were(p.dropped_samples, "sample", "samples")
        ));
    }
    Some(hint)
}

/// The largest power of two at most a quarter of `bytes` (about four samples) and below
/// `rate`, at least 1.
fn smaller_rate(bytes: u64, rate: u64) -> u64 {
    let prev_pow2 = |n: u64| if n == 0 { 1 } else { 1 << n.ilog2() };
    prev_pow2(bytes / 4)
        .min(prev_pow2(rate.saturating_sub(1)))
        .max(1)
}

/// `n` with its noun: `1 byte`, `0 bytes`, `2 bytes`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `n` with its noun and verb: `1 sample was`, `3 samples were`.
fn were(n: u64, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        count(n, one, many),
        if n == 1 { "was" } else { "were" }
    )
}

/// Go's size classes keep rounding waste at or below 12.5 % of the slot for sizes
/// that fit them well (golang/go `src/runtime/mksizeclasses.go` picks classes so
/// that "the waste is at most 12.5%"); above that the figure is worth a look, and
/// coloured text shows it.
pub const NOTABLE_WASTE_PCT: f64 = 12.5;

/// When text output is coloured: the global `--color` flag (as ripgrep and cargo
/// have it). `auto`: on a terminal, unless `NO_COLOR` is set (or `CLICOLOR=0`, or
/// `TERM=dumb`), and into pipes too under `CLICOLOR_FORCE` (anstream's rules);
/// `always`: whatever the terminal and the environment say; `never`: plain text.
// (No doc comments on the variants: clap then lists the values on one line.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    #[default]
    Auto,
    Always,
    Never,
}

/// How text output is styled: plain, or ANSI colour for a terminal. Headings are
/// bold; figures that say memory grew or was wasted are yellow, and only those, so
/// the colour points somewhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Paint {
    on: bool,
}

impl Paint {
    /// Plain text: for files, and whatever is not written to stdout.
    pub const PLAIN: Paint = Paint { on: false };

    /// The styling of text written to stdout under `when`: `auto` asks anstream
    /// whether stdout is a terminal that takes colour and what `NO_COLOR`,
    /// `CLICOLOR` and `CLICOLOR_FORCE` say.
    pub fn for_stdout(when: ColorWhen) -> Paint {
        let on = match when {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
            }
        };
        Paint { on }
    }

    fn style(self, style: anstyle::Style, text: &str) -> String {
        if self.on {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }

    /// A section heading: bold.
    pub fn heading(self, text: &str) -> String {
        self.style(anstyle::Style::new().bold(), text)
    }

    /// A figure that says memory grew or was wasted: yellow.
    pub fn alert(self, text: &str) -> String {
        self.style(
            anstyle::AnsiColor::Yellow
                .on_default()
                .effects(anstyle::Effects::BOLD),
            text,
        )
    }

    /// `text` (a waste percentage) in yellow when `pct` is over
    /// [`NOTABLE_WASTE_PCT`], else as is; right-aligned in `width` columns, the
    /// padding left uncoloured.
    pub fn waste(self, pct: f64, text: &str, width: usize) -> String {
        let pad = " ".repeat(width.saturating_sub(text.chars().count()));
        if pct > NOTABLE_WASTE_PCT {
            format!("{pad}{}", self.alert(text))
        } else {
            format!("{pad}{text}")
        }
    }
}

/// The command line the profile was taken from, as the user gave it: the program as
/// started (relative to the current folder when it lies inside it: see
/// [`crate::output::shown_path`]) and its arguments, each quoted as a POSIX shell
/// would need it (control characters as `$'\xNN'`, so a crafted argument cannot
/// drive the terminal). Past [`MAX_ARGS_SHOWN`] characters of arguments the rest are
/// counted, not shown.
pub fn command_line(program: &str, args: &[String]) -> String {
    let mut line = shell_word(&crate::output::shown_path(program));
    let mut shown = 0;
    for (i, a) in args.iter().enumerate() {
        let word = shell_word(a);
        if shown + word.len() > MAX_ARGS_SHOWN && i > 0 {
            let rest = args.len() - i;
            let noun = if rest == 1 { "argument" } else { "arguments" };
            line.push_str(&format!(" … ({rest} more {noun})"));
            break;
        }
        shown += word.len() + 1;
        line.push(' ');
        line.push_str(&word);
    }
    line
}

/// How many characters of arguments the report's header shows.
const MAX_ARGS_SHOWN: usize = 160;

/// `w` as one shell word: as is when it needs no quoting, else in single quotes, or
/// in `$'…'` with `\xNN` escapes when it holds control characters.
fn shell_word(w: &str) -> String {
    let plain = |c: char| c.is_alphanumeric() || "_-./:=,+@%".contains(c);
    if !w.is_empty() && w.chars().all(plain) {
        return w.to_string();
    }
    if !w.chars().any(char::is_control) {
        return format!("'{}'", w.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in w.chars() {
        match c {
            '\'' => out.push_str(r"\'"),
            '\\' => out.push_str(r"\\"),
            c if c.is_control() => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

/// Bytes with a binary unit: `512 B`, `4.0 KiB`, `1.5 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The report as text, styled by `paint`.
pub fn render(r: &Report, paint: Paint) -> String {
    let mut o = String::new();
    let t = &r.totals;
    let h = |text: &str| paint.heading(text);
    let _ = writeln!(
        o,
        "{}",
        h(&format!(
            "spanprof report: {}",
            command_line(&r.program, &r.args)
        ))
    );
    let _ = writeln!(o, "\n{}", h("Totals"));
    let _ = writeln!(o, "  objects allocated  {}", t.objects);
    let _ = writeln!(o, "  bytes (slots)      {} ({})", t.bytes, human(t.bytes));
    let _ = writeln!(
        o,
        "  requested bytes    {} ({})",
        t.requested_bytes,
        human(t.requested_bytes)
    );
    let waste = pct(t.waste_bytes, t.bytes);
    let _ = writeln!(
        o,
        "  waste              {} ({}, {})",
        t.waste_bytes,
        human(t.waste_bytes),
        paint.waste(waste, &format!("{waste:.1} %"), 0)
    );
    let _ = writeln!(
        o,
        "  live at end        {}, {}",
        count(t.live_objects, "object", "objects"),
        human(t.live_bytes)
    );
    let _ = writeln!(o, "  refills            {}", t.refills);
    let _ = writeln!(
        o,
        "  arenas             {} ({} mapped)",
        t.arenas,
        human(t.bytes_mapped)
    );
    let _ = writeln!(o, "  scavenged          {}", human(t.bytes_scavenged));

    let _ = writeln!(o, "\n{}", h("Top sites (by slot bytes)"));
    let _ = writeln!(
        o,
        "  {:>12} {:>10} {:>7} {:>8}  stack",
        "bytes", "objects", "waste", "refills"
    );
    for s in &r.sites {
        let waste = pct(s.bytes.saturating_sub(s.requested_bytes), s.bytes);
        let _ = writeln!(
            o,
            "  {:>12} {:>10} {} {:>8}  {}",
            s.bytes,
            s.objects,
            paint.waste(waste, &format!("{waste:.1}%"), 7),
            s.refills,
            crate::names::shown(&s.stack)
        );
    }

    let _ = writeln!(o, "\n{}", h("Size classes"));
    let _ = writeln!(
        o,
        "  {:>5} {:>6} {:>10} {:>12} {:>12} {:>7} {:>8} {:>6}",
        "class", "slot", "objects", "bytes", "requested", "waste", "refills", "spans"
    );
    for c in &r.classes {
        let _ = writeln!(
            o,
            "  {:>5} {:>6} {:>10} {:>12} {:>12} {} {:>8} {:>6}",
            c.class,
            c.size,
            c.objects,
            c.bytes,
            c.requested_bytes,
            paint.waste(c.waste_pct, &format!("{:.1}%", c.waste_pct), 7),
            c.refills,
            c.spans
        );
    }
    let _ = writeln!(
        o,
        "  (requested bytes are known only under sites; elsewhere they count as slot bytes)"
    );

    let l = &r.large;
    let _ = writeln!(o, "\n{}", h("Large allocations (> 32 KiB)"));
    let _ = writeln!(
        o,
        "  {} allocated, {} freed, {} ({} requested, {} rounding waste)",
        l.allocs,
        l.frees,
        human(l.bytes_allocated),
        human(l.requested_bytes),
        human(l.bytes_allocated.saturating_sub(l.requested_bytes))
    );

    let _ = writeln!(o, "\n{}", h("Heap events"));
    if r.events.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for e in &r.events {
        // Mapping more memory is the heap growing: the event to look at.
        let kind = format!("{:<12}", e.kind);
        let kind = if e.kind.ends_with("_mapped") {
            paint.alert(&kind)
        } else {
            kind
        };
        let _ = writeln!(o, "  {:>8} ms  {kind} {}", e.at_ms, human(e.bytes));
    }

    let _ = writeln!(
        o,
        "\n{}",
        h("Top sampled stacks (innermost user frame, estimated)")
    );
    if let Some(hint) = &r.no_samples {
        let _ = writeln!(o, "  ({hint})");
    } else if r.dropped_samples > 0 {
        let _ = writeln!(
            o,
            "  ({} dropped: the stack table was full; the figures below undercount)",
            were(
                r.dropped_samples,
                "sampled allocation",
                "sampled allocations"
            )
        );
    }
    for s in &r.stacks {
        let _ = writeln!(
            o,
            "  {:>12} {:>10}  {}  {}",
            s.alloc_bytes_est,
            s.alloc_objects_est,
            crate::names::shown(&s.frame),
            crate::names::shown(&s.location)
        );
    }
    crate::views::render_peak(&mut o, &r.peak, paint);
    crate::views::render_leaks(&mut o, &r.leaks, paint);
    crate::views::render_temporary(&mut o, &r.temporary, paint);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_quote_what_a_shell_would_split_or_interpret() {
        assert_eq!(shell_word("--rate=4096"), "--rate=4096");
        assert_eq!(shell_word("./target/a.b"), "./target/a.b");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("$HOME"), "'$HOME'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("a\nb'\\"), r"$'a\x0ab\'\\'");
        assert_eq!(shell_word("\u{9b}31m"), r"$'\xc2\x9b31m'");
    }

    #[test]
    fn counted_nouns() {
        assert_eq!(count(0, "byte", "bytes"), "0 bytes");
        assert_eq!(count(1, "byte", "bytes"), "1 byte");
        assert_eq!(were(1, "sample", "samples"), "1 sample was");
        assert_eq!(were(2, "sample", "samples"), "2 samples were");
    }

    #[test]
    fn paint_styles_only_when_on() {
        let on = Paint { on: true };
        assert_eq!(Paint::PLAIN.heading("T"), "T");
        assert_eq!(on.heading("T"), "\u{1b}[1mT\u{1b}[0m");
        assert_eq!(Paint::PLAIN.waste(50.0, "50.0%", 7), "  50.0%");
        assert_eq!(on.waste(12.5, "12.5%", 7), "  12.5%");
        assert!(on.waste(12.6, "12.6%", 7).starts_with("  \u{1b}["));
    }
}
