//! Folded stacks (`root;…;leaf count`) from a profile: native sampled stacks or site
//! stacks, weighted by bytes, objects or refills, optionally one size class only and
//! with the size class as the leaf frame. Also `spanprof folded`.
//!
//! Frame names are escaped where the folded format cannot carry them (see
//! [`crate::names`]): `;`, control characters, U+FFFE/U+FFFF, white space at either
//! end, the space of a trailing ` <digits>` and a few inferno markers become `\u{…}`
//! (the code point in hex), and `\` becomes `\\`.

use crate::output::{CliError, Result};
use clap::{Args, ValueEnum};
use spanprof::Profile;
use spanprof::format::FrameRef;
use std::collections::BTreeMap;

/// What a stack is weighted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Weight {
    AllocBytes,
    AllocObjects,
    InuseBytes,
    InuseObjects,
    Refills,
    /// What was live when the heap was largest (the profile's `peak`).
    PeakBytes,
    /// Temporary allocations: freed before the next allocation on their thread.
    Temporary,
}

impl Weight {
    /// The unit shown in flamegraph tooltips.
    pub fn count_name(self) -> &'static str {
        match self {
            Weight::AllocBytes | Weight::InuseBytes | Weight::PeakBytes => "bytes",
            Weight::AllocObjects | Weight::InuseObjects | Weight::Temporary => "objects",
            Weight::Refills => "refills",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Weight::AllocBytes => "alloc-bytes",
            Weight::AllocObjects => "alloc-objects",
            Weight::InuseBytes => "inuse-bytes",
            Weight::InuseObjects => "inuse-objects",
            Weight::Refills => "refills",
            Weight::PeakBytes => "peak-bytes",
            Weight::Temporary => "temporary",
        }
    }
}

/// Which stacks to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stacks {
    /// Sampled native call stacks (needs SPANPROF_RATE).
    Native,
    /// Site stacks (`#[track_alloc]` / `site!`), exact counts.
    Sites,
}

/// Options shared by `flamegraph`, `folded` and `diff`.
#[derive(Args, Clone, Debug)]
pub struct StackOpts {
    /// What each stack is weighted by (refills needs --stacks sites).
    #[arg(long, value_enum, default_value = "alloc-bytes")]
    pub weight: Weight,
    /// Native sampled stacks or site stacks.
    #[arg(long, value_enum, default_value = "native")]
    pub stacks: Stacks,
    /// Only this size class: a class number (`4`) or a slot size (`32B`); 0 = large.
    #[arg(long, value_name = "N|BYTES")]
    pub size_class: Option<String>,
    /// Append the size class (`[32 B]`) as the leaf frame.
    #[arg(long)]
    pub class_frames: bool,
}

/// A size-class filter, resolved to a class number (0 for large).
#[derive(Clone, Copy, Debug)]
pub struct ClassFilter {
    pub class: u32,
}

/// Parses `4`, `32B`, `32 B` or `large` into a class.
pub fn parse_class(text: &str) -> std::result::Result<ClassFilter, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("large") || t == "0" {
        return Ok(ClassFilter { class: 0 });
    }
    let classes = spanprof::size_class::classes;
    if let Some(bytes) = t.strip_suffix(['B', 'b']) {
        let n: u64 = bytes.trim().parse().map_err(|_| {
            format!("unknown size class '{text}' (give a class number or a slot size like 32B)")
        })?;
        if let Some(c) = classes().find(|c| c.size as u64 == n) {
            return Ok(ClassFilter {
                class: c.class as u32,
            });
        }
        return Err(match classes().find(|c| c.size as u64 >= n) {
            Some(c) => format!(
                "unknown size class '{text}': {n} B is not a slot size (it lands in class {} of {} B)",
                c.class, c.size
            ),
            None => format!(
                "unknown size class '{text}': over 32 KiB is large (use --size-class large)"
            ),
        });
    }
    let n: usize = t.parse().map_err(|_| {
        format!("unknown size class '{text}' (give a class number or a slot size like 32B)")
    })?;
    match classes().find(|c| c.class == n) {
        Some(c) => Ok(ClassFilter {
            class: c.class as u32,
        }),
        None => Err(format!(
            "unknown size class '{text}' (classes are 1 to 67, or 0 = large)"
        )),
    }
}

/// The display names of a site stack, outermost first; "(no site)" for the empty stack.
pub fn site_names(p: &Profile, stack: &[u32]) -> Vec<String> {
    if stack.is_empty() {
        return vec!["(no site)".into()];
    }
    stack
        .iter()
        .map(|id| match p.sites.iter().find(|s| s.id == *id) {
            Some(s) => s.name.clone(),
            None => format!("site#{id}"),
        })
        .collect()
}

/// The innermost frame outside the standard library and dependencies, with its
/// `file:line`; the innermost frame when there is none.
///
/// With line tables, the file tells: std's sources are under `/rustc/<hash>/` and the
/// crates it vendors (hashbrown, …) under `/rust/deps/`; dependencies under cargo's
/// registry or git checkouts. Without them (a build with no debug info) only names
/// are left, and the crates of the standard library are known by their paths.
pub fn user_frame(frames: &[FrameRef<'_>]) -> (String, String) {
    let f = if frames.iter().any(|f| f.file.is_some()) {
        frames
            .iter()
            .find(|f| f.file.is_some_and(|file| !is_lib_file(file)))
    } else {
        frames.iter().find(|f| !is_lib_name(&f.name()))
    };
    // A stack of library frames only (std's own start-up allocations): the innermost
    // frame that is not the allocation machinery says more than `alloc::alloc::alloc`.
    let f = f.or_else(|| {
        frames
            .iter()
            .find(|f| !is_alloc_machinery(f) && f.name() != spanprof::format::TRUNCATED)
    });
    match f.or(frames.first()) {
        Some(f) => {
            let loc = match (f.file, f.line) {
                (Some(file), Some(line)) => {
                    format!("{}:{line}", crate::output::shown_path(file))
                }
                (Some(file), None) => crate::output::shown_path(file),
                _ => String::new(),
            };
            (f.name().into_owned(), loc)
        }
        None => ("[unknown]".into(), String::new()),
    }
}

/// [`user_frame`] of every stack of `p`, by stack index.
pub fn user_frames(p: &Profile) -> Vec<(String, String)> {
    (0..p.stacks.len() as u32)
        .map(|id| user_frame(&p.frames(id).collect::<Vec<_>>()))
        .collect()
}

/// The allocation functions every allocation passes through (see
/// [`crate::trim::is_alloc_machinery`]).
fn is_alloc_machinery(f: &FrameRef<'_>) -> bool {
    crate::trim::is_alloc_machinery(f.function, f.file)
}

fn is_lib_file(file: &str) -> bool {
    file.starts_with("/rustc/")
        || file.starts_with("/rust/deps/")
        || file.contains("/.cargo/registry/")
        || file.contains("/.cargo/git/")
}

/// Names of the standard library's crates, bare (`alloc::vec::…`) or as the self type
/// of a trait impl (`<alloc::vec::Vec<T> as …>::…`, `<&T as …>`), the allocator
/// shims, and the `[truncated]` marker of a cut stack (never the user's frame).
fn is_lib_name(name: &str) -> bool {
    let bare = name
        .trim_start_matches(['<', '&', '*'])
        .trim_start_matches("mut ");
    const STD: [&str; 6] = [
        "std::",
        "core::",
        "alloc::",
        "hashbrown::",
        "spanprof::",
        "backtrace::",
    ];
    STD.iter().any(|p| bare.starts_with(p))
        || name.starts_with("__rust")
        || name.starts_with("__rdl")
        || name == spanprof::format::TRUNCATED
}

/// A frame name for the folded format: what the format cannot carry (`;`, line
/// breaks and other control characters, a trailing ` 42` read as a count, …) written
/// as `\u{…}` and `\` as `\\`, so the name is recoverable; `[unknown]` when empty.
/// The rules and their sources: [`crate::names`].
fn clean(name: &str) -> String {
    crate::names::folded_frame(name)
}

fn class_frame(class: u32, size: u64) -> String {
    if class == 0 {
        "[large]".into()
    } else {
        format!("[{size} B]")
    }
}

/// Folded stacks and their weights, sorted by stack. `file` names the profile in errors.
pub fn fold(p: &Profile, file: &str, opts: &StackOpts) -> Result<BTreeMap<String, u64>> {
    let filter = match &opts.size_class {
        Some(t) => Some(parse_class(t).map_err(|e| CliError::usage(file, e))?),
        None => None,
    };
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    match opts.stacks {
        Stacks::Native => {
            if opts.weight == Weight::Refills {
                return Err(CliError::usage(
                    file,
                    "--weight refills needs --stacks sites (samples do not count refills)",
                ));
            }
            if let Some(hint) = crate::report::no_samples_hint(p) {
                return Err(CliError::new(
                    file,
                    format!("{hint}; or use --stacks sites"),
                ));
            }
            // Each stack's folded frames, outermost first, built once.
            let stacks: Vec<String> = (0..p.stacks.len() as u32)
                .map(|id| {
                    let mut names: Vec<String> = p.frames(id).map(|f| clean(&f.name())).collect();
                    if names.is_empty() {
                        names.push("[unknown]".into());
                    }
                    names.reverse();
                    names.join(";")
                })
                .collect();
            // The peak's in-use bytes per (stack, slot size, rate).
            let at_peak: BTreeMap<(u32, u64, u64), f64> = p
                .peak
                .samples
                .iter()
                .map(|s| ((s.stack, s.size, s.rate), s.inuse_bytes_est))
                .collect();
            for s in &p.samples {
                let class = spanprof::size_class::classes()
                    .find(|c| c.size as u64 == s.size)
                    .map_or(0, |c| c.class as u32);
                if filter.is_some_and(|f| f.class != class) {
                    continue;
                }
                let w = match opts.weight {
                    Weight::AllocBytes => s.alloc_bytes_est,
                    Weight::AllocObjects => s.alloc_objects_est,
                    Weight::InuseBytes => s.inuse_bytes_est,
                    Weight::InuseObjects => s.inuse_objects_est,
                    Weight::Refills => 0.0,
                    Weight::PeakBytes => at_peak
                        .get(&(s.stack, s.size, s.rate))
                        .copied()
                        .unwrap_or(0.0),
                    Weight::Temporary => s.temporary_objects_est,
                };
                let Some(stack) = stacks.get(s.stack as usize) else {
                    continue;
                };
                let key = if opts.class_frames {
                    format!("{stack};{}", class_frame(class, s.size))
                } else {
                    stack.clone()
                };
                *out.entry(key).or_default() += w.max(0.0).round() as u64;
            }
        }
        Stacks::Sites => {
            if p.site_counts_only
                && matches!(
                    opts.weight,
                    Weight::InuseBytes | Weight::InuseObjects | Weight::PeakBytes
                )
            {
                return Err(CliError::new(
                    file,
                    "the sites' in-use figures were not tracked (exact site frees were off: \
                     SPANPROF_SITE_FREES=0 or set_site_frees(false)); use --stacks native \
                     for the sampled in-use figures",
                ));
            }
            let at_peak: BTreeMap<(&[u32], u32), u64> = p
                .peak
                .site_stats
                .iter()
                .map(|s| ((s.stack.as_slice(), s.class), s.live_bytes))
                .collect();
            for s in &p.site_stats {
                if filter.is_some_and(|f| f.class != s.class) {
                    continue;
                }
                let w = match opts.weight {
                    Weight::PeakBytes => at_peak
                        .get(&(s.stack.as_slice(), s.class))
                        .copied()
                        .unwrap_or(0),
                    Weight::Temporary => s.temporary,
                    Weight::AllocBytes => s.slot_bytes,
                    Weight::AllocObjects => s.allocs,
                    Weight::InuseBytes => s.live_bytes,
                    Weight::InuseObjects => s.live_objects,
                    Weight::Refills => s.refills,
                };
                let mut names: Vec<String> =
                    site_names(p, &s.stack).iter().map(|n| clean(n)).collect();
                if opts.class_frames {
                    let size = spanprof::size_class::class_info(s.class as usize).size as u64;
                    names.push(class_frame(s.class, size));
                }
                *out.entry(names.join(";")).or_default() += w;
            }
        }
    }
    out.retain(|_, w| *w > 0);
    Ok(out)
}

/// Folded lines, one per stack.
pub fn render(folded: &BTreeMap<String, u64>) -> String {
    folded.iter().map(|(s, w)| format!("{s} {w}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use spanprof::format::Location;

    /// The location of frames built without a profile.
    static NO_LOCATION: Location = Location {
        address: 0,
        mapping: None,
        offset: 0,
        lines: Vec::new(),
    };

    fn frame<'a>(function: &'a str, file: Option<&'a str>) -> FrameRef<'a> {
        FrameRef {
            function,
            file,
            line: file.map(|_| 7),
            address: 0,
            inlined: false,
            location: &NO_LOCATION,
            mapping: None,
        }
    }

    #[test]
    fn the_user_frame_skips_std_and_its_vendored_crates_by_file() {
        let frames = [
            frame(
                "alloc::alloc::alloc",
                Some("/rustc/abc/library/alloc/src/alloc.rs"),
            ),
            frame(
                "do_alloc<alloc::alloc::Global>",
                Some("/rust/deps/hashbrown-0.16.1/src/raw/alloc.rs"),
            ),
            frame(
                "serde_json::de::from_str",
                Some("/root/.cargo/registry/src/x/de.rs"),
            ),
            frame("infer", Some("/nonexistent/app/src/main.rs")),
            frame("main", Some("/nonexistent/app/src/main.rs")),
        ];
        assert_eq!(
            user_frame(&frames),
            ("infer".into(), "/nonexistent/app/src/main.rs:7".into())
        );
    }

    #[test]
    fn without_line_tables_the_user_frame_is_found_by_name() {
        let frames = [
            frame("alloc::raw_vec::finish_grow", None),
            frame(
                "<core::iter::adapters::map::Map<I,F> as core::iter::traits::iterator::Iterator>::fold",
                None,
            ),
            frame(
                "<alloc::vec::Vec<T> as alloc::vec::spec_from_iter::SpecFromIter<T,I>>::from_iter",
                None,
            ),
            frame("feat::make_names", None),
            frame("feat::main", None),
        ];
        assert_eq!(
            user_frame(&frames),
            ("feat::make_names".into(), String::new())
        );
    }

    #[test]
    fn a_stack_of_library_frames_only_shows_the_innermost() {
        let frames = [
            frame("std::rt::lang_start", None),
            frame("core::ops::f", None),
        ];
        assert_eq!(user_frame(&frames).0, "std::rt::lang_start");
        assert_eq!(user_frame(&[]).0, "[unknown]");
        // A cut stack's marker is never taken for the user's frame.
        let cut = [
            frame("alloc::raw_vec::finish_grow", None),
            frame(spanprof::format::TRUNCATED, None),
        ];
        assert_eq!(user_frame(&cut).0, "alloc::raw_vec::finish_grow");
    }

    #[test]
    fn an_unresolved_address_is_named_by_its_module_and_offset() {
        let loc = Location {
            address: 0x5000,
            mapping: Some(0),
            offset: 0x1234,
            lines: Vec::new(),
        };
        let m = spanprof::format::Mapping {
            path: "/usr/lib/libfoo.so".into(),
            ..Default::default()
        };
        let f = FrameRef {
            function: "",
            file: None,
            line: None,
            address: loc.address,
            inlined: false,
            location: &loc,
            mapping: Some(&m),
        };
        assert_eq!(user_frame(&[f]).0, "libfoo.so+0x1234");
        let bare = FrameRef { mapping: None, ..f };
        assert_eq!(user_frame(&[bare]).0, "0x5000");
    }

    #[test]
    fn a_stack_of_std_frames_shows_the_first_beyond_the_allocation_machinery() {
        let frames = [
            frame("alloc", Some("/rustc/abc/library/alloc/src/alloc.rs")),
            frame(
                "finish_grow",
                Some("/rustc/abc/library/alloc/src/raw_vec/mod.rs"),
            ),
            frame(
                "set_current",
                Some("/rustc/abc/library/std/src/thread/current.rs"),
            ),
            frame("lang_start", Some("/rustc/abc/library/std/src/rt.rs")),
        ];
        assert_eq!(user_frame(&frames).0, "set_current");
    }
}
