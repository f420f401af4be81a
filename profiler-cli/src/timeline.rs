//! `spanprof timeline PROFILE -o heap.svg`: the heap over time (the profile's
//! `timeline`) as an SVG chart drawn with plotters' SVG backend. Two charts share the
//! time axis: the levels in bytes (live, page heap in use, mapped, RSS) with the heap
//! events and the peak marked, and the rates derived from the cumulative counters
//! (allocations per second on the left axis, refills per second on the right).
//!
//! plotters is built without a font backend: the SVG backend writes text as `<text>`
//! elements the viewer renders, and plotters only estimates their size for layout, so
//! nothing here needs fontconfig or FreeType.

use crate::output::{CliError, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use spanprof::Profile;

/// Width and height of the chart in px.
pub const SIZE: (u32, u32) = (1200, 760);

const LIVE: RGBColor = RGBColor(31, 119, 180);
const IN_USE: RGBColor = RGBColor(44, 160, 44);
const MAPPED: RGBColor = RGBColor(255, 127, 14);
const RSS: RGBColor = RGBColor(214, 39, 40);
const ALLOCS: RGBColor = RGBColor(31, 119, 180);
const REFILLS: RGBColor = RGBColor(148, 103, 189);
const GROWTH: RGBColor = RGBColor(140, 86, 75);
const SCAVENGE: RGBColor = RGBColor(127, 127, 127);
const PEAK: RGBColor = RGBColor(214, 39, 40);

/// One level of a timeline point.
type Level = fn(&spanprof::format::TimelinePoint) -> u64;

/// The one-line problem of a profile without a timeline: how to get one.
pub const NO_TIMELINE: &str = "no timeline in this profile: it is recorded while a program runs with SPANPROF_OUT set (by hand or through `spanprof run`), one point every SPANPROF_TIMELINE_MS milliseconds (default 10); profiles from older versions have none";

/// Whether the profile has a timeline to draw.
pub fn has_timeline(p: &Profile) -> bool {
    !p.timeline.points.is_empty()
}

/// A binary unit for bytes up to `max`: its divisor and name.
fn byte_unit(max: u64) -> (f64, &'static str) {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut div = 1f64;
    while max as f64 >= div * 1024.0 && unit + 1 < UNITS.len() {
        div *= 1024.0;
        unit += 1;
    }
    (div, UNITS[unit])
}

/// Time axis: seconds for runs of 10 s or more, else milliseconds.
fn time_unit(max_ms: u64) -> (f64, &'static str) {
    if max_ms >= 10_000 {
        (1000.0, "s")
    } else {
        (1.0, "ms")
    }
}

/// Per-second rates of a cumulative counter between consecutive points, at the later
/// point's time (ms); points at the same time are skipped, counters that went back
/// (a corrupted file) count as zero.
pub fn rates(points: &[(u64, u64)]) -> Vec<(u64, f64)> {
    points
        .windows(2)
        .filter_map(|w| {
            let ((t0, c0), (t1, c1)) = (w[0], w[1]);
            (t1 > t0).then(|| (t1, c1.saturating_sub(c0) as f64 * 1000.0 / (t1 - t0) as f64))
        })
        .collect()
}

/// A time on the axis: whole numbers without decimals.
fn axis_time(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A count per second as a short label: `950`, `12.5k`, `3.2M`.
fn short(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn err(file: &str) -> impl Fn(String) -> CliError + '_ {
    move |e| CliError::new(file, format!("cannot draw the timeline: {e}"))
}

/// The chart as SVG bytes; an error naming `file` when the profile has no timeline.
pub fn svg(p: &Profile, file: &str) -> Result<Vec<u8>> {
    if !has_timeline(p) {
        return Err(CliError::new(file, NO_TIMELINE));
    }
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&root, p).map_err(err(file))?;
        root.present().map_err(|e| err(file)(e.to_string()))?;
    }
    Ok(out.into_bytes())
}

fn draw(root: &DrawingArea<SVGBackend<'_>, Shift>, p: &Profile) -> std::result::Result<(), String> {
    let s = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(s)?;
    let program = crate::report::command_line(&p.program, &p.args);
    let title = format!("spanprof heap over time: {}", crate::names::shown(&program));
    let root = root.titled(&title, ("sans-serif", 24)).map_err(s)?;
    let (top, bottom) = root.split_vertically(SIZE.1 as i32 * 58 / 100);

    let points = &p.timeline.points;
    let t_end = points
        .iter()
        .map(|q| q.t_ms)
        .chain(std::iter::once(p.peak.t_ms))
        .max()
        .unwrap_or(0)
        .max(1);
    let (tdiv, tname) = time_unit(t_end);
    let x_max = t_end as f64 / tdiv;
    let x = |t_ms: u64| t_ms as f64 / tdiv;

    // Levels in bytes.
    let max_bytes = points
        .iter()
        .flat_map(|q| {
            [
                q.live_bytes,
                q.heap_in_use_bytes,
                q.mapped_bytes,
                q.rss_bytes,
            ]
        })
        .chain([p.peak.live_bytes, p.peak.mapped_bytes])
        .max()
        .unwrap_or(0)
        .max(1);
    let (bdiv, bname) = byte_unit(max_bytes);
    let y_max = max_bytes as f64 / bdiv * 1.08;
    let mut chart = ChartBuilder::on(&top)
        .caption("Heap levels", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .right_y_label_area_size(80)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(s)?;
    chart
        .configure_mesh()
        .x_desc(format!("time since start ({tname})"))
        .y_desc(format!("bytes ({bname})"))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .x_label_formatter(&|v| axis_time(*v))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()
        .map_err(s)?;
    let lines: [(&str, RGBColor, Level); 4] = [
        ("live bytes", LIVE, |q| q.live_bytes),
        ("page heap in use", IN_USE, |q| q.heap_in_use_bytes),
        ("mapped", MAPPED, |q| q.mapped_bytes),
        ("RSS (resident)", RSS, |q| q.rss_bytes),
    ];
    for (label, color, field) in lines {
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|q| (x(q.t_ms), field(q) as f64 / bdiv)),
                color.stroke_width(2),
            ))
            .map_err(s)?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    // Heap events: a vertical line each, one legend entry per kind present.
    let mut shown_kinds: Vec<&str> = Vec::new();
    for e in &p.events {
        let (color, label) = match e.kind.as_str() {
            "scavenged" => (SCAVENGE, "scavenging"),
            _ => (GROWTH, "arena growth"),
        };
        let series = chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x(e.at_ms), 0.0), (x(e.at_ms), y_max)],
                color.stroke_width(2),
            )))
            .map_err(s)?;
        if !shown_kinds.contains(&label) {
            shown_kinds.push(label);
            series
                .label(format!("{label} (event)"))
                .legend(move |(x, y)| {
                    PathElement::new(
                        vec![(x + 10, y - 6), (x + 10, y + 6)],
                        color.stroke_width(2),
                    )
                });
        }
    }
    // The peak: a marker on the live line and its figures.
    if p.peak.live_bytes > 0 {
        let (px, py) = (x(p.peak.t_ms), p.peak.live_bytes as f64 / bdiv);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(px, 0.0), (px, y_max)],
                PEAK.mix(0.5).stroke_width(1),
            )))
            .map_err(s)?;
        chart
            .draw_series(std::iter::once(Circle::new((px, py), 5, PEAK.filled())))
            .map_err(s)?
            .label(format!(
                "peak: {} live at {} ms",
                crate::report::human(p.peak.live_bytes),
                p.peak.t_ms
            ))
            .legend(|(x, y)| Circle::new((x + 10, y), 5, PEAK.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(s)?;

    // Rates from the cumulative counters.
    let allocs = rates(
        &points
            .iter()
            .map(|q| (q.t_ms, q.allocs))
            .collect::<Vec<_>>(),
    );
    let refills = rates(
        &points
            .iter()
            .map(|q| (q.t_ms, q.refills))
            .collect::<Vec<_>>(),
    );
    let top_of = |r: &[(u64, f64)]| r.iter().map(|v| v.1).fold(1.0f64, f64::max) * 1.08;
    let mut chart = ChartBuilder::on(&bottom)
        .caption("Allocation rates", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .right_y_label_area_size(80)
        .build_cartesian_2d(0f64..x_max, 0f64..top_of(&allocs))
        .map_err(s)?
        .set_secondary_coord(0f64..x_max, 0f64..top_of(&refills));
    chart
        .configure_mesh()
        .x_desc(format!("time since start ({tname})"))
        .y_desc("allocations per second")
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .x_label_formatter(&|v| axis_time(*v))
        .y_label_formatter(&|v| short(*v))
        .draw()
        .map_err(s)?;
    chart
        .configure_secondary_axes()
        .y_desc("refills per second")
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .y_label_formatter(&|v| short(*v))
        .draw()
        .map_err(s)?;
    chart
        .draw_series(LineSeries::new(
            allocs.iter().map(|&(t, v)| (x(t), v)),
            ALLOCS.stroke_width(2),
        ))
        .map_err(s)?
        .label("allocations/s (left axis)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ALLOCS.stroke_width(2)));
    chart
        .draw_secondary_series(LineSeries::new(
            refills.iter().map(|&(t, v)| (x(t), v)),
            REFILLS.stroke_width(2),
        ))
        .map_err(s)?
        .label("refills/s (right axis)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], REFILLS.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(s)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_second_between_points() {
        let r = rates(&[(0, 0), (10, 100), (10, 150), (30, 350), (40, 300)]);
        assert_eq!(r, vec![(10, 10_000.0), (30, 10_000.0), (40, 0.0)]);
    }

    #[test]
    fn units_follow_the_largest_value() {
        assert_eq!(byte_unit(1000), (1.0, "B"));
        assert_eq!(byte_unit(3 << 20).1, "MiB");
        assert_eq!(time_unit(9_999).1, "ms");
        assert_eq!(time_unit(10_000).1, "s");
        assert_eq!(short(12_500.0), "12.5k");
    }
}
