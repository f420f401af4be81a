//! Finishing inferno's SVG: each frame's title and label rewritten from the folded
//! name (see [`crate::names`]) and the label shortened by [`crate::label`]; in a diff,
//! the titles tell each frame's before → after totals. Reads and writes with the
//! quick-xml inferno itself uses (0.41), so no other crate is built.
//!
//! It relies on the layout of inferno 0.12.8's output (`src/flamegraph/mod.rs`,
//! `svg.rs`): the frames are the `<g>` children of `<svg id="frames"
//! total_samples="…">`, each a `<title>NAME (SUFFIX)</title>`, a `<rect>` with `y`,
//! `fg:x` and `fg:w` (its start and width in samples) and a `<text>` label; frames of
//! one depth share one `y`.

use crate::label;
use crate::names;
use quick_xml::escape::unescape;
use quick_xml::events::{BytesCData, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

/// How the label is fitted (inferno's `Options`: font size in px, font width in em,
/// image width in px).
#[derive(Debug, Clone, Copy)]
pub struct Fit {
    pub font_size: f64,
    pub font_width: f64,
    pub image_width: f64,
}

/// Inferno's padding left and right of the frames (`XPAD`, `src/flamegraph/mod.rs`).
const XPAD: f64 = 10.0;

impl Fit {
    /// Pixels per character. Inferno's default 0.59 em is a little under the common
    /// monospace fonts' 0.6 em (DejaVu Sans Mono: 0.602), which let long labels spill
    /// out of their frames; at least 0.6 em is assumed.
    fn char_px(self) -> f64 {
        self.font_size * self.font_width.max(0.6)
    }
}

/// One input line of a differential graph, in the order inferno sorted the lines.
#[derive(Debug, Clone, Copy)]
pub struct DiffRow {
    /// Where the line's frames start, in samples (the sum of the widths before it).
    pub start: u64,
    /// Weight before and after.
    pub before: u64,
    pub after: u64,
    /// Frames in the stack.
    pub depth: usize,
}

/// What the titles say.
#[derive(Debug)]
pub enum Tooltips<'a> {
    /// Inferno's own (`NAME (N bytes, P%)`), with the name as written.
    Plain,
    /// Before → after totals of each frame and its own (self) allocations.
    Diff {
        rows: &'a [DiffRow],
        /// `bytes`, `objects`, `refills`: how to write a weight.
        unit: &'a str,
    },
}

/// A frame as inferno wrote it.
struct Frame {
    /// The title's text, XML unescaped.
    title: String,
    rect: BytesStart<'static>,
    text: BytesStart<'static>,
    x: u64,
    w: u64,
    y: f64,
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.try_get_attribute(name)
        .ok()
        .flatten()
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

/// A weight for a title: bytes as `1.5 MiB`, others as a count with the unit.
fn weight(v: u64, unit: &str) -> String {
    if unit == "bytes" {
        crate::report::human(v)
    } else {
        format!("{v} {unit}")
    }
}

fn change(before: u64, after: u64, unit: &str) -> String {
    let d = i128::from(after) - i128::from(before);
    if d == 0 {
        return "no change".into();
    }
    let sign = if d < 0 { '-' } else { '+' };
    let size = weight(d.unsigned_abs() as u64, unit);
    if before == 0 {
        format!("{sign}{size}, new")
    } else {
        format!(
            "{sign}{size}, {sign}{:.1}%",
            d.unsigned_abs() as f64 * 100.0 / before as f64
        )
    }
}

/// The suffix of a diff title (no `(`: inferno's script cuts the name at the last ` (`).
fn diff_suffix(rows: &[DiffRow], f: &Frame, depth: usize, unit: &str) -> String {
    let first = rows.partition_point(|r| r.start < f.x);
    let last = rows.partition_point(|r| r.start < f.x.saturating_add(f.w));
    let (mut b, mut a, mut sb, mut sa) = (0u64, 0u64, 0u64, 0u64);
    for r in &rows[first..last] {
        b = b.saturating_add(r.before);
        a = a.saturating_add(r.after);
        if r.depth == depth {
            sb = sb.saturating_add(r.before);
            sa = sa.saturating_add(r.after);
        }
    }
    let mut s = format!(
        "{} → {}, {}",
        weight(b, unit),
        weight(a, unit),
        change(b, a, unit)
    );
    if (sb, sa) != (0, 0) && (sb, sa) != (b, a) {
        s.push_str(&format!(
            "; own: {} → {}, {}",
            weight(sb, unit),
            weight(sa, unit),
            change(sb, sa, unit)
        ));
    }
    s
}

/// A frame's own (self) weight before and after: the rows that end at its depth.
fn own(rows: &[DiffRow], f: &Frame, depth: usize) -> (u64, u64) {
    let first = rows.partition_point(|r| r.start < f.x);
    let last = rows.partition_point(|r| r.start < f.x.saturating_add(f.w));
    rows[first..last]
        .iter()
        .filter(|r| r.depth == depth)
        .fold((0u64, 0u64), |(b, a), r| {
            (b.saturating_add(r.before), a.saturating_add(r.after))
        })
}

/// The palest a changed frame may be drawn (of 255): inferno scales a frame's
/// colour to the largest change in the graph, so a new stack of a few KiB next to a
/// shrink of hundreds of MiB came out white (`rgb(255,248,248)`); any change stays
/// visibly red or blue.
const PALEST: u8 = 215;

/// `rect` with its fill at least [`PALEST`]-strong in the direction of `change`
/// (red grew, blue shrank); unchanged when the fill is not inferno's `rgb(…)`.
fn visible(rect: &BytesStart<'static>, grew: bool) -> BytesStart<'static> {
    let Some(fill) = attr(rect, "fill") else {
        return rect.clone();
    };
    let rgb: Vec<u8> = fill
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let [r, g, b] = rgb[..] else {
        return rect.clone();
    };
    let fill = if grew {
        format!("rgb(255,{},{})", g.min(PALEST), b.min(PALEST))
    } else {
        format!("rgb({},{},255)", r.min(PALEST), g.min(PALEST))
    };
    let mut out = BytesStart::new("rect");
    for a in rect.attributes().flatten() {
        if a.key.as_ref() != b"fill" {
            out.push_attribute(a);
        }
    }
    out.push_attribute(("fill", fill.as_str()));
    out.into_owned()
}

/// Rewrites inferno's SVG (see the module docs). Errors are one line.
pub fn finish(
    inferno: &[u8],
    tips: &Tooltips<'_>,
    fit: Fit,
    inverted: bool,
) -> Result<Vec<u8>, String> {
    let bad = |e: &dyn std::fmt::Display| format!("cannot read inferno's SVG: {e}");
    let mut reader = Reader::from_reader(inferno);
    let mut out = Writer::new(Vec::with_capacity(inferno.len() + 4096));
    let write = |out: &mut Writer<Vec<u8>>, e: Event<'_>| {
        out.write_event(e)
            .map_err(|e| format!("cannot write the SVG: {e}"))
    };
    let mut injected = false;
    let mut total: Option<u64> = None;
    loop {
        let ev = reader.read_event().map_err(|e| bad(&e))?;
        match ev {
            Event::Eof => break,
            Event::End(ref e) if e.name().as_ref() == b"script" && !injected => {
                write(&mut out, ev.borrow())?;
                // After inferno's script: its functions this one replaces are
                // declared by then.
                write(
                    &mut out,
                    Event::Start(
                        BytesStart::new("script").with_attributes([("type", "text/ecmascript")]),
                    ),
                )?;
                write(&mut out, Event::CData(BytesCData::new(label::SCRIPT)))?;
                write(&mut out, Event::End(BytesEnd::new("script")))?;
                injected = true;
            }
            Event::Start(ref e)
                if e.name().as_ref() == b"svg" && attr(e, "id").as_deref() == Some("frames") =>
            {
                total = attr(e, "total_samples").and_then(|t| t.parse().ok());
                write(&mut out, ev.borrow())?;
                let frames = read_frames(&mut reader)?;
                let total = total.ok_or_else(|| bad(&"no total_samples"))?;
                write_frames(&mut out, &frames, total, tips, fit, inverted)?;
                write(&mut out, Event::End(BytesEnd::new("svg")))?;
            }
            _ => write(&mut out, ev)?,
        }
    }
    if total.is_none() || !injected {
        return Err(bad(&"no frames or no script"));
    }
    Ok(out.into_inner())
}

/// The frames up to the end of `<svg id="frames">`, which is consumed.
fn read_frames(reader: &mut Reader<&[u8]>) -> Result<Vec<Frame>, String> {
    let bad = |e: &dyn std::fmt::Display| format!("cannot read inferno's SVG frames: {e}");
    let mut frames = Vec::new();
    let mut title: Option<String> = None;
    let mut in_title = false;
    let mut rect = None;
    let mut text = None;
    loop {
        match reader.read_event().map_err(|e| bad(&e))? {
            Event::Eof => return Err(bad(&"unexpected end")),
            Event::Start(e) => match e.name().as_ref() {
                b"g" => {
                    title = Some(String::new());
                    rect = None;
                    text = None;
                }
                b"title" => in_title = true,
                b"text" => text = Some(e.into_owned()),
                _ => return Err(bad(&"unexpected element")),
            },
            Event::Empty(e) if e.name().as_ref() == b"rect" => rect = Some(e.into_owned()),
            Event::Text(t) if in_title => {
                if let Some(s) = title.as_mut() {
                    s.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) if in_title => {
                if let Some(s) = title.as_mut() {
                    s.push('&');
                    s.push_str(&String::from_utf8_lossy(&r));
                    s.push(';');
                }
            }
            Event::End(e) => match e.name().as_ref() {
                b"title" => in_title = false,
                b"g" => {
                    let (Some(raw), Some(rect), Some(text)) =
                        (title.take(), rect.take(), text.take())
                    else {
                        return Err(bad(&"a frame without title, rect or text"));
                    };
                    let num = |n: &str| attr(&rect, n).ok_or_else(|| bad(&format!("no {n}")));
                    let x = num("fg:x")?.parse().map_err(|e| bad(&e))?;
                    let w = num("fg:w")?.parse().map_err(|e| bad(&e))?;
                    let y = num("y")?.parse().map_err(|e| bad(&e))?;
                    let title = unescape(&raw).map_err(|e| bad(&e))?.into_owned();
                    frames.push(Frame {
                        title,
                        rect,
                        text,
                        x,
                        w,
                        y,
                    });
                }
                b"svg" => return Ok(frames),
                _ => {}
            },
            _ => {}
        }
    }
}

fn write_frames(
    out: &mut Writer<Vec<u8>>,
    frames: &[Frame],
    total: u64,
    tips: &Tooltips<'_>,
    fit: Fit,
    inverted: bool,
) -> Result<(), String> {
    let err = |e: std::io::Error| format!("cannot write the SVG: {e}");
    // Depth by y: one y per depth, the root's at the bottom (top when inverted).
    let mut ys: Vec<f64> = frames.iter().map(|f| f.y).collect();
    ys.sort_by(|a, b| {
        if inverted {
            a.total_cmp(b)
        } else {
            b.total_cmp(a)
        }
    });
    ys.dedup();
    for f in frames {
        let depth = ys.iter().position(|y| *y == f.y).unwrap_or(0);
        let (name, suffix) = match f.title.rfind(" (") {
            Some(i) => (&f.title[..i], f.title[i + 2..].trim_end_matches(')')),
            None => (f.title.as_str(), ""),
        };
        let shown = if depth == 0 {
            name.to_string()
        } else {
            names::shown(&names::unescape(name))
        };
        let suffix = match tips {
            Tooltips::Plain => suffix.to_string(),
            Tooltips::Diff { rows, unit } => diff_suffix(rows, f, depth, unit),
        };
        let [full, elided, short, leaf] = label::forms(&shown);
        let mut g = BytesStart::new("g");
        if elided != full {
            g.push_attribute(("fg:elided", elided.as_str()));
        }
        if short != elided {
            g.push_attribute(("fg:short", short.as_str()));
        }
        if leaf != short {
            g.push_attribute(("fg:leaf", leaf.as_str()));
        }
        let steps = label::steps(&shown);
        // As inferno's script measures it: the frame's share of the frames area (the
        // image less 10 px each side), less the label's 3 px indent.
        let width_px = f.w as f64 / total.max(1) as f64 * (fit.image_width - 2.0 * XPAD) - 3.0;
        let text = label::fit(&steps, width_px, fit.char_px());
        let title = format!("{shown} ({suffix})");
        out.write_event(Event::Start(g)).map_err(err)?;
        out.write_event(Event::Start(BytesStart::new("title")))
            .map_err(err)?;
        out.write_event(Event::Text(BytesText::new(&title)))
            .map_err(err)?;
        out.write_event(Event::End(BytesEnd::new("title")))
            .map_err(err)?;
        let rect = match tips {
            Tooltips::Diff { rows, .. } => match own(rows, f, depth) {
                (b, a) if a != b => visible(&f.rect, a > b),
                _ => f.rect.clone(),
            },
            Tooltips::Plain => f.rect.clone(),
        };
        out.write_event(Event::Empty(rect.borrow())).map_err(err)?;
        out.write_event(Event::Start(f.text.borrow()))
            .map_err(err)?;
        out.write_event(Event::Text(BytesText::new(&text)))
            .map_err(err)?;
        out.write_event(Event::End(BytesEnd::new("text")))
            .map_err(err)?;
        out.write_event(Event::End(BytesEnd::new("g")))
            .map_err(err)?;
    }
    Ok(())
}
