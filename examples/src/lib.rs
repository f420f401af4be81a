//! Runnable examples for spanprof: `cargo run --release -p spanprof-examples --example NAME`.
//!
//! | example | what it shows |
//! |---|---|
//! | `small_struct` | Go's seed program: a non-inlined constructor returning a boxed 32 B struct |
//! | `churn` | a log summary with heap churn worth fixing, and the fixed version (`--fixed`) |
//! | `threads` | workers sharing jobs over channels; objects freed on other threads |
//! | `audit` | structs just above a size-class boundary, for `spanprof audit` |
//! | `go_seed`, `heap_churn` | the seed program with `site!`, and churn across sites and threads |
//!
//! Every example installs `spanprof::SpanAlloc` as its global allocator, prints what
//! spanprof counted, and writes a profile when `SPANPROF_OUT` is set. The workloads
//! live in this library so the tests (`tests/examples.rs`) can measure them.

pub mod churn;
pub mod threads;
pub mod types;

/// One line about a site's counters (`None` when the site never ran).
pub fn site_line(name: &str) -> Option<String> {
    let s = spanprof::site_stats(name)?;
    // The busiest classes first; at most four of them named.
    let mut busy: Vec<(usize, u64)> = s
        .class_allocs
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, n)| n > 0)
        .collect();
    busy.sort_by_key(|&(class, n)| (std::cmp::Reverse(n), class));
    let mut classes: Vec<String> = busy
        .iter()
        .take(4)
        .map(|&(class, n)| match class {
            0 => format!("{n} large"),
            c => format!("{n} x {} B", spanprof::size_class::class_size(c)),
        })
        .collect();
    if busy.len() > 4 {
        classes.push(format!("{} more classes", busy.len() - 4));
    }
    Some(format!(
        "{name}: {} allocs ({}), {} B of slots for {} B asked (waste {} B), {} refills, {} live",
        s.allocs,
        classes.join(", "),
        s.slot_bytes,
        s.requested_bytes,
        s.slot_bytes.saturating_sub(s.requested_bytes),
        s.refills,
        s.live_objects
    ))
}
