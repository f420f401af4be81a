//! Trimming the allocation machinery off the top of sampled stacks, as Go's heap
//! profile hides `mallocgc` and the leading `runtime.*` frames
//! (golang/go `src/runtime/pprof/protomem.go`): the innermost frame every output
//! shows (report, folded, flamegraph, diff, pprof) is then the code that asked for
//! memory — the user's function, or the public std API it called (`Vec::push`,
//! `String::clone`) — not `alloc::alloc::alloc`, `RawVec` growth or the global
//! allocator's shim, which every allocation passes through and which say nothing.
//!
//! The profile on disk keeps every frame; this runs on the loaded copy, unless the
//! user asks for `--keep-alloc-frames`. It rewrites `Profile::stacks` in place: a
//! location whose inlined lines are only partly machinery is replaced, in that stack,
//! by a new location at the same address holding the rest of its lines.

use clap::Args;
use spanprof::Profile;
use spanprof::format::{Line, Location};
use std::collections::HashMap;

/// The option every command that shows stacks takes.
#[derive(Args, Clone, Copy, Debug, Default)]
pub struct FrameOpts {
    /// Keep the allocation machinery (global-allocator shims, `alloc::alloc`,
    /// `RawVec` growth, `Box` allocation) at the top of sampled stacks; by default it
    /// is trimmed so the innermost frame is the code that allocated.
    #[arg(long)]
    pub keep_alloc_frames: bool,
}

/// Trims `p` unless `opts` keeps the machinery.
pub fn apply(p: &mut Profile, opts: FrameOpts) {
    if !opts.keep_alloc_frames {
        alloc_frames(p);
    }
}

/// Drops, from the innermost end of every stack, the frames [`is_alloc_machinery`]
/// names. A stack made only of such frames is left whole (Go does the same: nothing
/// left would say less than the machinery).
pub fn alloc_frames(p: &mut Profile) {
    // (location, first kept line) → the trimmed copy, made once.
    let mut copies: HashMap<(u32, usize), u32> = HashMap::new();
    let mut stacks = std::mem::take(&mut p.stacks);
    for stack in &mut stacks {
        let Some((at, line)) = first_kept(p, &stack.locations) else {
            continue;
        };
        let mut kept = stack.locations.split_off(at);
        if line > 0 {
            let id = kept[0];
            kept[0] = *copies
                .entry((id, line))
                .or_insert_with(|| push_trimmed(&mut p.locations, id, line));
        }
        stack.locations = kept;
    }
    p.stacks = stacks;
    drop_unused_locations(p);
}

/// Removes the locations no stack uses any more (the untrimmed originals of split
/// locations, the machinery's own addresses), so outputs that list every location
/// (pprof) carry only what the stacks show.
fn drop_unused_locations(p: &mut Profile) {
    let mut used = vec![false; p.locations.len()];
    for id in p.stacks.iter().flat_map(|s| &s.locations) {
        if let Some(u) = used.get_mut(*id as usize) {
            *u = true;
        }
    }
    if used.iter().all(|u| *u) {
        return;
    }
    let mut renumbered = vec![u32::MAX; used.len()];
    let mut next = 0u32;
    for (old, new) in renumbered.iter_mut().enumerate() {
        if used[old] {
            *new = next;
            next += 1;
        }
    }
    let mut old = 0;
    p.locations.retain(|_| {
        old += 1;
        used[old - 1]
    });
    for id in p.stacks.iter_mut().flat_map(|s| &mut s.locations) {
        *id = renumbered.get(*id as usize).copied().unwrap_or(*id);
    }
}

/// Where the kept part of a stack starts: (index in `locations`, index of the line
/// in that location); `None` when nothing is to be trimmed or when every frame is
/// machinery. Past the machinery, a run of std frames (`Vec::push` calling
/// `Vec::reserve` calling `RawVec` code) is cut to its outermost frame, the call the
/// program made, unless the run reaches the root (a stack of std frames only, such
/// as the runtime's start-up, keeps them all).
fn first_kept(p: &Profile, locations: &[u32]) -> Option<(usize, usize)> {
    // Every frame, innermost first: (index in `locations`, line index, the line).
    let mut frames = Vec::new();
    for (i, &id) in locations.iter().enumerate() {
        let loc = p.locations.get(id as usize)?;
        if loc.lines.is_empty() {
            frames.push((i, 0, None));
        }
        frames.extend(loc.lines.iter().enumerate().map(|(j, l)| (i, j, Some(l))));
    }
    let machinery =
        |l: Option<&Line>| l.is_some_and(|l| is_alloc_machinery(&l.function, l.file.as_deref()));
    let mut k = frames.iter().position(|f| !machinery(f.2))?;
    let std_run = frames[k..]
        .iter()
        .take_while(|f| f.2.is_some_and(is_std))
        .count();
    if std_run > 1 && k + std_run < frames.len() {
        k += std_run - 1;
    }
    let (i, j, _) = frames[k];
    (i > 0 || j > 0).then_some((i, j))
}

/// A frame of the standard library: by its source file when it has one (std's
/// sources are under `/rustc/<hash>/library/`, the crates it vendors under
/// `/rust/deps/`), else by its crate name.
fn is_std(l: &Line) -> bool {
    match l.file.as_deref() {
        Some(f) => {
            f.contains("/library/") && (f.starts_with("/rustc/") || f.contains("/rustlib/"))
                || f.starts_with("/rust/deps/")
        }
        None => {
            let bare = l
                .function
                .trim_start_matches(['<', '&', '*'])
                .trim_start_matches("mut ");
            ["std::", "core::", "alloc::"]
                .iter()
                .any(|c| bare.starts_with(c))
        }
    }
}

fn push_trimmed(locations: &mut Vec<Location>, id: u32, line: usize) -> u32 {
    let loc = &locations[id as usize];
    let copy = Location {
        address: loc.address,
        mapping: loc.mapping,
        offset: loc.offset,
        lines: loc.lines[line..].to_vec(),
    };
    locations.push(copy);
    (locations.len() - 1) as u32
}

/// The allocator's modules: frames of the `spanprof` runtime under these paths are
/// the allocator (the runtime trims them when it writes a profile; a stripped build
/// symbolized later may still have them). Other `spanprof::` names may be a
/// program's own, since a binary crate can be called `spanprof` too.
const ALLOCATOR_MODULES: [&str; 13] = [
    "SpanAlloc",
    "alloc_slow",
    "cabi::",
    "cache::",
    "central::",
    "fixalloc::",
    "heap::",
    "lock::",
    "malloc::",
    "os::",
    "profile::",
    "span::",
    "stats::",
];

/// Whether a frame is allocation machinery: a global-allocator shim (`__rust_alloc`,
/// `__rdl_alloc`, `__rg_alloc`, spanprof's `GlobalAlloc` impl), std's allocation
/// functions (`alloc::alloc`, `Global`'s `Allocator` impl, `RawVec`), the
/// allocating half of `Box::new`, or hashbrown's allocation helper. The public API
/// the program called (`Vec::push`, `HashMap::insert`) is not machinery.
///
/// Inlined frames of a build with line tables only carry short names (`alloc`,
/// `allocate`, `box_new_uninit`): their source file tells what they are — std's
/// sources are under `/rustc/<hash>/library/` (or a local `rust-src`).
pub fn is_alloc_machinery(function: &str, file: Option<&str>) -> bool {
    let bare = function
        .trim_start_matches(['<', '&', '*'])
        .trim_start_matches("mut ");
    let by_name = bare.starts_with("__rust")
        || bare.starts_with("__rdl_")
        || bare.starts_with("__rg_")
        || bare.starts_with("alloc::alloc::")
        || bare.starts_with("alloc::raw_vec::")
        || bare.starts_with("core::alloc::")
        || bare.starts_with("std::alloc::")
        || bare.starts_with("std::sys::alloc::")
        || bare.starts_with("hashbrown::raw::alloc::")
        || (bare.starts_with("alloc::boxed::") && is_box_allocation(function))
        || bare
            .strip_prefix("spanprof::")
            .is_some_and(|rest| ALLOCATOR_MODULES.iter().any(|m| rest.starts_with(m)));
    by_name || is_c_allocation(bare) || file.is_some_and(|f| is_machinery_file(f, function))
}

/// C++'s `operator new` (mangled `_Znwm`, `_Znam` and their `nothrow` and
/// `align_val_t` forms), which only calls `malloc`: the frame the program called
/// it from is the allocation's site.
fn is_c_allocation(function: &str) -> bool {
    function.starts_with("_Znw")
        || function.starts_with("_Zna")
        || function.starts_with("operator new")
}

fn is_machinery_file(file: &str, function: &str) -> bool {
    const FILES: [&str; 6] = [
        "/library/alloc/src/alloc.rs",
        "/library/alloc/src/raw_vec",
        "/library/core/src/alloc/",
        "/library/std/src/alloc.rs",
        "/library/std/src/sys/alloc/",
        "/src/raw/alloc.rs",
    ];
    // libspanprof.so's C entry points (`malloc`, `calloc`, … and what they inline).
    if [
        "/allocator/src/cabi.rs",
        "/allocator/src/malloc.rs",
        "/preload/src/lib.rs",
    ]
    .iter()
    .any(|f| file.ends_with(f))
    {
        return true;
    }
    let std_or_vendored = file.contains("/library/") || file.contains("/hashbrown-");
    std_or_vendored
        && (FILES.iter().any(|f| file.contains(f))
            || (file.contains("/library/alloc/src/boxed") && is_box_allocation(function)))
}

/// `Box::new` and its relatives that only allocate (`new_uninit`, `box_new_uninit`,
/// `try_new`, `new_in`, `new_zeroed`): the last path segment, generics removed.
fn is_box_allocation(function: &str) -> bool {
    let last = last_segment(function);
    last == "new"
        || last == "new_in"
        || last == "try_new"
        || last == "try_new_in"
        || last == "exchange_malloc"
        || last.contains("new_uninit")
        || last.contains("new_zeroed")
}

/// The last `::` segment of a name, outside any `<…>`, without its generic
/// arguments: `alloc::boxed::Box<T>::new` and `new<foo::Bar>` both give `new`.
fn last_segment(name: &str) -> &str {
    let mut depth = 0usize;
    let mut start = 0;
    let mut end = name.len();
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => {
                if depth == 0 && i >= start {
                    end = i;
                }
                depth += 1;
            }
            b'>' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => {
                start = i + 2;
                end = name.len();
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    name.get(start..end.max(start)).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spanprof::format::Stack;

    const ALLOC_RS: &str = "/rustc/abc/library/alloc/src/alloc.rs";
    const RAW_VEC: &str = "/rustc/abc/library/alloc/src/raw_vec/mod.rs";
    const BOXED: &str = "/rustc/abc/library/alloc/src/boxed.rs";
    const VEC: &str = "/rustc/abc/library/alloc/src/vec/mod.rs";
    const APP: &str = "/home/u/app/src/main.rs";

    fn line(function: &str, file: &str, inlined: bool) -> Line {
        Line {
            function: function.into(),
            file: Some(file.into()),
            line: Some(1),
            inlined,
        }
    }

    fn location(address: u64, lines: Vec<Line>) -> Location {
        Location {
            address,
            mapping: None,
            offset: address,
            lines,
        }
    }

    fn names(p: &Profile, stack: u32) -> Vec<String> {
        p.frames(stack).map(|f| f.name().into_owned()).collect()
    }

    #[test]
    fn short_names_are_known_by_their_std_file() {
        assert!(is_alloc_machinery("alloc", Some(ALLOC_RS)));
        assert!(is_alloc_machinery("alloc_impl_runtime", Some(ALLOC_RS)));
        assert!(is_alloc_machinery(
            "try_allocate_in<alloc::alloc::Global>",
            Some(RAW_VEC)
        ));
        assert!(is_alloc_machinery("box_new_uninit", Some(BOXED)));
        assert!(is_alloc_machinery("new<app::Order>", Some(BOXED)));
        assert!(!is_alloc_machinery("clone<u8>", Some(BOXED)));
        assert!(!is_alloc_machinery("push<u8>", Some(VEC)));
        // A program's own `alloc` function is not std's.
        assert!(!is_alloc_machinery("alloc", Some(APP)));
    }

    #[test]
    fn full_names_are_known_without_files() {
        for name in [
            "__rust_alloc",
            "__rustc::__rust_realloc",
            "__rdl_alloc",
            "alloc::alloc::alloc",
            "<alloc::alloc::Global as core::alloc::Allocator>::allocate",
            "alloc::raw_vec::RawVecInner<A>::finish_grow",
            "alloc::boxed::Box<T>::new",
            "<spanprof::SpanAlloc as core::alloc::global::GlobalAlloc>::alloc",
            "spanprof::alloc_slow",
            "hashbrown::raw::alloc::inner::do_alloc",
        ] {
            assert!(is_alloc_machinery(name, None), "{name}");
        }
        for name in [
            "alloc::vec::Vec<T,A>::push",
            "<alloc::string::String as core::clone::Clone>::clone",
            "alloc::boxed::Box<T>::leak",
            "spanprof::workload::churn",
            "app::alloc",
        ] {
            assert!(!is_alloc_machinery(name, None), "{name}");
        }
    }

    #[test]
    fn last_segment_ignores_generics() {
        assert_eq!(last_segment("alloc::boxed::Box<T>::new"), "new");
        assert_eq!(last_segment("new<spanprof::workload::Order>"), "new");
        assert_eq!(last_segment("<Vec<u8> as Clone>::clone"), "clone");
        assert_eq!(last_segment("box_new_uninit"), "box_new_uninit");
    }

    #[test]
    fn stacks_lose_their_machinery_and_split_inlined_locations() {
        let mut p = Profile {
            locations: vec![
                // One address: three inlined std frames, then Box::new, then the
                // user's function it was inlined into.
                location(
                    0x10,
                    vec![
                        line("alloc", ALLOC_RS, true),
                        line("box_new_uninit", BOXED, true),
                        line("new<app::Order>", BOXED, true),
                        line("app::make_order", APP, false),
                    ],
                ),
                location(0x20, vec![line("app::main", APP, false)]),
                location(0x30, vec![line("__rust_alloc", ALLOC_RS, false)]),
                location(0x40, vec![line("alloc::alloc::alloc", ALLOC_RS, false)]),
            ],
            stacks: vec![
                Stack {
                    locations: vec![0, 1],
                },
                Stack {
                    locations: vec![2, 0, 1],
                },
                Stack { locations: vec![3] },
                Stack { locations: vec![1] },
            ],
            ..Default::default()
        };
        alloc_frames(&mut p);
        assert_eq!(names(&p, 0), ["app::make_order", "app::main"]);
        assert_eq!(names(&p, 1), ["app::make_order", "app::main"]);
        // Both stacks share the one trimmed copy of location 0; the untrimmed
        // original and the shim's location are no longer used and are gone.
        assert_eq!(p.stacks[0].locations, p.stacks[1].locations);
        let addresses: Vec<u64> = p.locations.iter().map(|l| l.address).collect();
        assert_eq!(addresses, [0x20, 0x40, 0x10]);
        assert_eq!(p.locations[2].lines.len(), 1);
        // Only machinery: kept whole. Nothing to trim: untouched.
        assert_eq!(names(&p, 2), ["alloc::alloc::alloc"]);
        assert_eq!(names(&p, 3), ["app::main"]);
    }

    #[test]
    fn a_run_of_std_frames_keeps_the_call_the_program_made() {
        const THREAD: &str = "/rustc/abc/library/std/src/thread/current.rs";
        const RT: &str = "/rustc/abc/library/std/src/rt.rs";
        let mut p = Profile {
            locations: vec![
                location(
                    0x10,
                    vec![
                        line("alloc", ALLOC_RS, true),
                        line("with_capacity_in<u8>", RAW_VEC, true),
                        line("alloc::vec::Vec<T,A>::with_capacity_in", VEC, true),
                        line("alloc::vec::Vec<T>::with_capacity", VEC, true),
                        line("app::fill", APP, false),
                    ],
                ),
                location(0x20, vec![line("alloc", ALLOC_RS, false)]),
                location(0x30, vec![line("set_current", THREAD, false)]),
                location(0x40, vec![line("lang_start", RT, false)]),
            ],
            stacks: vec![
                Stack { locations: vec![0] },
                Stack {
                    locations: vec![1, 2, 3],
                },
            ],
            ..Default::default()
        };
        alloc_frames(&mut p);
        assert_eq!(
            names(&p, 0),
            ["alloc::vec::Vec<T>::with_capacity", "app::fill"]
        );
        // Std frames all the way to the root: only the machinery goes.
        assert_eq!(names(&p, 1), ["set_current", "lang_start"]);
    }

    #[test]
    fn an_unresolved_address_stops_the_trim() {
        let mut p = Profile {
            locations: vec![
                location(0x30, vec![line("__rust_alloc", ALLOC_RS, false)]),
                location(0x50, Vec::new()),
            ],
            stacks: vec![Stack {
                locations: vec![0, 1],
            }],
            ..Default::default()
        };
        alloc_frames(&mut p);
        assert_eq!(p.stacks[0].locations, [0]);
        assert_eq!(p.locations[0].address, 0x50);
    }
}
