//! spanprof: Go's span allocator for Rust, and the heap profiler built into it.
//!
//! Install it as the global allocator and every allocation of the program goes
//! through Go's runtime design — per-thread caches, per-size-class central lists, a
//! page heap of 64 MiB arenas cut into spans, 67 size classes from 8 B to 32 KiB —
//! with always-on counters that say where the memory went:
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();
//!
//! fn main() {
//!     let before = spanprof::stats();
//!     let boxes: Vec<Box<[u8; 33]>> = (0..1000).map(|_| Box::new([0u8; 33])).collect();
//!     let after = spanprof::stats();
//!
//!     // 33-byte boxes land in the 48 B size class: 15 bytes of rounding each.
//!     let class = spanprof::size_class::class_of(33).unwrap();
//!     let c = &after.classes[class];
//!     assert_eq!(spanprof::size_class::class_size(class), 48);
//!     assert!(c.allocs - before.classes[class].allocs >= 1000);
//!     println!("48 B class: {} allocs, {} refills, {} spans", c.allocs, c.refills, c.spans_in_use);
//!     drop(boxes);
//! }
//! ```
//!
//! # Profiling
//!
//! Set `SPANPROF_OUT` and the program writes a profile when it exits: per size class,
//! per site, and sampled native stacks (Go's byte sampler, 512 KiB by default):
//!
//! ```console
//! $ SPANPROF_OUT=heap-%p.json cargo run --release
//! spanprof: wrote heap-4242.json: 1000016 allocations, 61 sampled in 3 stacks, 1 site with allocations; see `spanprof report heap-4242.json`
//! $ SPANPROF_OUT=heap.json SPANPROF_RATE=1 cargo run --release   # every allocation
//! ```
//!
//! Stacks need line tables to name files, lines and inlined functions. The one line
//! for `Cargo.toml` (`cargo spanprof run` sets it, and frame pointers, by itself):
//!
//! ```toml
//! [profile.release]
//! debug = "line-tables-only"
//! ```
//!
//! Mark functions to attribute their allocations exactly, per size class, with
//! rounding waste and the refills they cause; measure a closure on the calling
//! thread (safe in parallel tests):
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();
//!
//! fn build_index(words: &[&str]) -> Vec<String> {
//!     let _site = spanprof::enter(spanprof::site!("build_index"));
//!     words.iter().map(|w| w.to_uppercase()).collect()
//! }
//!
//! let (index, m) = spanprof::measure(|| build_index(&["alpha", "beta", "gamma"]));
//! assert_eq!(m.allocs, 4); // three strings and the Vec
//! let site = spanprof::site_stats("build_index").unwrap();
//! assert_eq!(site.allocs, 4);
//! assert!(site.slot_bytes > site.requested_bytes); // 5-byte strings use 8-byte slots
//! drop(index);
//! ```
//!
//! | variable | meaning |
//! |---|---|
//! | `SPANPROF_OUT` | write a profile here at exit and before SIGINT, SIGTERM or SIGHUP end the program (`%p` = pid, `%n` = the profile's number); turns sampling on |
//! | `SPANPROF_RATE` | mean bytes between sampled stacks (`1` = all, `0` = none; default 524288 when `SPANPROF_OUT` is set, else 0) |
//! | `SPANPROF_UNWIND` | `fp` walks frame pointers (fast; build with `-C force-frame-pointers=yes`; without them the DWARF unwinder is used and the profile says so); `dwarf` (default) the DWARF unwinder; other values warn |
//! | `SPANPROF_QUIET` | set (not `0`): no `spanprof: wrote …` line on stderr at exit |
//! | `SPANPROF_SIGNAL` | a signal (`SIGUSR2`, `USR2`, `12`) that writes a numbered profile of the running program each time it arrives; needs `SPANPROF_OUT` |
//! | `SPANPROF_INTERVAL` | write a numbered profile every interval (`500ms`, `30s`, `5m`, `1h`); needs `SPANPROF_OUT` |
//!
//! Long-running programs: SIGINT, SIGTERM and SIGHUP write the final profile, then
//! the program dies by that signal as it would have (the handler only wakes a writer
//! thread, `spanprof-writer`; the profile is written there). A signal ignored at start
//! stays ignored, and a handler the program installs keeps the signal: the profile
//! then comes from the program's exit. Numbered profiles (`SPANPROF_SIGNAL`,
//! `SPANPROF_INTERVAL`) take `%n` in the path, or, without it, a number before the
//! extension (`heap.json` → `heap.0.json`), the final one keeping the path as given:
//!
//! ```console
//! $ SPANPROF_OUT=heap-%p-%n.json SPANPROF_INTERVAL=30s ./server
//! $ SPANPROF_OUT=heap.json SPANPROF_SIGNAL=SIGUSR2 ./server & kill -USR2 $!
//! ```
//!
//! The format is documented field by field in `docs/profile-format.md`.
//!
//! # How it works
//!
//! Small requests (≤ 32 KiB) take a slot of their size class from the thread
//! cache's current span, with no lock and no atomic; an exhausted span is handed
//! back to the class's central list for one with free slots (a *refill*), which cuts
//! new spans from the page heap, which maps 64 MiB arenas. Large requests are
//! page-rounded runs of the page heap. Frees go back to the current span, to the
//! thread cache's bounded free list, or to the owning span's lock-free remote list.
//! The README's "How it works" walks through it, and `docs/architecture.md` in the
//! repository is the map of the files, their layers and the rules a test keeps.
//!
//! Metadata never touches the Rust heap, the allocator never panics or unwinds, and
//! out of memory returns null. A free of a pointer spanprof never handed out aborts
//! with the address; with debug assertions or the `hardened` feature, so do double
//! frees.
//!
//! # Dependencies and features
//!
//! What a program that uses spanprof links: `libc`, `linkme` (the static site
//! table) and `backtrace` (stacks and symbols, with its `addr2line`, `gimli`,
//! `object`, `miniz_oxide`, `rustc-demangle`); `#[track_alloc]` adds only
//! compile-time crates (`spanprof-macros`, `syn`, `quote`, `proc-macro2`). None of
//! them adds trait impls to std types that could change type inference in your code.
//! Features, all off by default: `serde` (Serialize/Deserialize on the profile types
//! in [`mod@format`], for tools that read profiles) and `hardened` (double-free and
//! invalid-free checks in release builds).
//!
//! # Modules
//!
//! One concept per file, named as in Go's runtime, in layers: the allocator core
//! ([`size_class`], `span`, `pageheap`, `central`, `cache`, `heap`, `fixalloc`,
//! [`mod@stats`]) never names the profiler; the profiler (`profile/`) sits on the core
//! and is handed the heap it describes; the entry points (`malloc`, with the
//! `GlobalAlloc` impl) alone call the profiler's hooks; this file is the public API.

#![warn(missing_docs)]

// The core, bottom up (each may use only those above it in this list; see
// docs/architecture.md and tests/layering.rs):
mod cache;
mod central;
mod fixalloc;
mod heap;
mod lock;
mod os;
mod pageheap;
mod region;
mod scavenger;
pub mod size_class;
mod span;
pub mod stats;
// The profiler, a layer over the core:
mod profile;
// The entry points, the only caller of the profiler's hooks:
mod malloc;
// The C allocation API over the entry points, for the preloadable libspanprof.so.
#[doc(hidden)]
pub mod cabi;

/// An ELF note every program that links spanprof carries (`.note.spanprof`, an
/// allocated section that `strip` keeps): `spanprof run` reads it to tell a program
/// built with spanprof from one to run under `libspanprof.so`. Name "spanprof",
/// type 1, and a descriptor that is also a byte string to search for.
#[used]
#[unsafe(link_section = ".note.spanprof")]
static SPANPROF_NOTE: Note =
    Note(*b"\x09\0\0\0\x18\0\0\0\x01\0\0\0spanprof\0\0\0\0SPANPROF-ALLOCATOR-NOTE\0");

/// An ELF note's bytes, 4-aligned as notes are.
#[repr(C, align(4))]
struct Note([u8; 48]);

use core::sync::atomic::Ordering;

pub use heap::{CacheHandle, Heap};
use malloc::HEAP;
pub use malloc::SpanAlloc;
pub use profile::format;
pub use profile::format::Profile;
pub use profile::hooks::SiteGuard;
pub use profile::measure::{ClassMeasurement, Measurement};
pub use profile::site::{Finding, SITES, Site};
pub use profile::site::{TYPES, TypeInfo};
pub use profile::writer::{cancel_exit_profile, expand_path};
/// Marks a function, a method or an `impl` block as an allocation site (static metadata
/// with escape findings, and the site current while it runs), or registers a struct,
/// enum or union for the size-class audit; see [`spanprof_macros`].
pub use spanprof_macros::track_alloc;
pub use stats::{ClassStats, HeapStats, LargeStats, ProfilerStats, Stats};

use profile::hooks;

#[doc(hidden)]
pub mod __private {
    pub use linkme;
}

/// Makes `site` current on this thread until the guard drops: allocations made
/// meanwhile are counted for the site stack ending in `site`, per size class.
pub fn enter(site: &'static Site) -> SiteGuard {
    // The thread's record holds the site stack: make it now if the thread has not
    // allocated yet.
    malloc::thread_record();
    hooks::enter(site)
}

/// Runs `f` and reports what it allocated on this thread, per size class.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();
///
/// let (v, m) = spanprof::measure(|| (0..100).map(|i| Box::new([i as u8; 33])).collect::<Vec<_>>());
/// // 100 boxes in the 48 B class, plus the Vec's buffer.
/// let c48 = m.classes.iter().find(|c| c.size == 48).unwrap();
/// assert_eq!(c48.allocs, 100);
/// assert_eq!(m.live_objects, 101);
/// drop(v);
/// ```
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Measurement) {
    malloc::thread_record();
    profile::measure::measure(f)
}

/// A snapshot of the global heap's counters: per size class, large objects, page heap.
///
/// Cheap enough to call often (it sums one set of counters per thread); allocates
/// nothing. Counts only what went through [`SpanAlloc`], so it reads zero when
/// spanprof is not the global allocator. The object figures are the program's alone:
/// spanprof's own allocations (profiles being built or written, symbol caches, a
/// [`Profile`] returned by [`profile()`]) are in [`Stats::profiler`] and nowhere else;
/// page-heap figures are heap-wide ([`mod@stats`] lists which are which).
pub fn stats() -> Stats {
    HEAP.stats()
}

/// Returns every free span and free page of the global heap to the OS now (Go's
/// `debug.FreeOSMemory`); returns the bytes released. The heap also does this by
/// itself for pages that stay free for about a second.
pub fn release_free_memory() -> usize {
    HEAP.release_free_memory()
}

/// Aggregated counters of every context whose innermost site is named `name`.
///
/// A plain value: [`site_stats`] allocates nothing, so asking changes no figure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteStats {
    /// Objects allocated while the site was current (innermost).
    pub allocs: u64,
    /// Slot (or page-rounded) bytes of those objects.
    pub slot_bytes: u64,
    /// Bytes asked for, following in-place reallocations (a `Vec` of capacity 33
    /// grown where it is to 40 counts 40): `slot_bytes - requested_bytes` is rounding
    /// waste.
    pub requested_bytes: u64,
    /// Refills those allocations caused.
    pub refills: u64,
    /// Of those objects, how many were freed (on any thread).
    pub frees: u64,
    /// `allocs - frees`.
    pub live_objects: u64,
    /// Slot (or page-rounded) bytes of the live objects.
    pub live_bytes: u64,
    /// Bytes asked for by the live objects, as they are now: `live_bytes -
    /// live_requested_bytes` is the rounding waste held now.
    pub live_requested_bytes: u64,
    /// Per size class (index = class, 0 = large): allocations.
    pub class_allocs: [u64; size_class::NUM_CLASSES],
}

impl Default for SiteStats {
    fn default() -> Self {
        SiteStats {
            allocs: 0,
            slot_bytes: 0,
            requested_bytes: 0,
            refills: 0,
            frees: 0,
            live_objects: 0,
            live_bytes: 0,
            live_requested_bytes: 0,
            class_allocs: [0; size_class::NUM_CLASSES],
        }
    }
}

/// Counters of the site(s) named `name` (summed over every stack in which it is the
/// innermost site), or `None` when no such site ran. Allocates nothing.
pub fn site_stats(name: &str) -> Option<SiteStats> {
    let n = profile::context::count();
    // Contexts whose innermost site is `name`, as a bitmap on the stack.
    let mut picked = [0u64; profile::context::MAX_CTX / 64];
    let mut found = false;
    for ctx in 1..n {
        if profile::context::innermost(ctx as u32).is_some_and(|s| s.name == name) {
            picked[ctx / 64] |= 1 << (ctx % 64);
            found = true;
        }
    }
    if !found {
        return None;
    }
    let mut row = [profile::counters::Totals::default(); size_class::NUM_CLASSES];
    let pick = |ctx: usize| {
        picked
            .get(ctx / 64)
            .is_some_and(|w| w & (1 << (ctx % 64)) != 0)
    };
    hooks::with_thread_tables(|tables| profile::counters::sum_matching(tables, &pick, &mut row));
    let mut out = SiteStats::default();
    let mut freed_bytes = 0u64;
    let mut freed_requested = 0u64;
    for (class, t) in row.iter().enumerate() {
        out.allocs += t.allocs;
        out.slot_bytes += t.slot_bytes;
        out.requested_bytes = out.requested_bytes.wrapping_add(t.requested_bytes);
        out.refills += t.refills;
        out.frees += t.frees;
        out.class_allocs[class] += t.allocs;
        freed_bytes += t.freed_bytes;
        freed_requested = freed_requested.wrapping_add(t.freed_requested);
    }
    out.live_objects = out.allocs.saturating_sub(out.frees);
    out.live_bytes = out.slot_bytes.saturating_sub(freed_bytes);
    out.live_requested_bytes = out.requested_bytes.wrapping_sub(freed_requested);
    Some(out)
}

/// Sets the sampling rate: mean bytes between sampled allocations (`1` = every
/// allocation, `0` = no stacks). `SPANPROF_RATE` sets it at start-up.
pub fn set_sample_rate(bytes: u64) {
    profile::sample::RATE.store(bytes, Ordering::Relaxed);
}

/// Whether frees of objects allocated under a site are charged to the site exactly
/// (`true`, the default): every such object's slot is tagged with its site stack, and
/// every free reads the tag, so [`SiteStats::frees`] and the `live_*` figures are
/// exact. That costs a store on each allocation and a span lookup on each free.
///
/// With `false`, sites count what they allocate (objects, slot and requested bytes,
/// refills) at the cost of two adds, and their frees and live figures are not tracked
/// (what is in use is then told by the sampled stacks' in-use figures, which follow
/// every sampled object to its free). Objects allocated while it was on keep their
/// tags. Set it before the sites run; `SPANPROF_SITE_FREES=0` turns it off at
/// start-up. Once it was off, a profile says so (`Profile::site_counts_only`) and
/// the CLI shows no site in-use figures. Measured costs: README, "Profiling overhead".
pub fn set_site_frees(exact: bool) {
    profile::tags::set_site_frees(exact);
}

/// Captures sampled stacks by walking frame pointers (tens of nanoseconds) instead
/// of the DWARF unwinder (microseconds). Only correct when the whole program is
/// built with `-C force-frame-pointers=yes` (`cargo spanprof run` does so); frames
/// of code without frame pointers (a precompiled C library) end the walk early. Also
/// set by `SPANPROF_UNWIND=fp`.
///
/// Returns whether the walker is now on: asked for in a build without frame
/// pointers, it stays off, the DWARF unwinder is used, and the profile carries a
/// warning saying so (`Profile::warnings`).
pub fn set_frame_pointer_unwinding(on: bool) -> bool {
    profile::sample::use_frame_pointers(on)
}

/// The profile as it stands now, without writing it.
///
/// Like everything spanprof allocates, the returned value is on the profiler's books
/// ([`Stats::profiler`]), not the program's: building it, holding it and dropping it
/// (on any thread) changes no program figure, and the next profile does not show it.
pub fn profile() -> Profile {
    profile::writer::build(&HEAP)
}

/// Builds the profile and writes it to `path`: atomically (temporary file in the
/// target's folder, then rename) over a regular file or a new path, through symlinks;
/// in place to a character device or a FIFO. The previous file at `path`, if any,
/// stays intact on error.
pub fn write_profile(path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
    profile::writer::write_profile(&HEAP, path)
}

/// Writes a profile to its path when dropped (errors go to stderr as one line).
#[derive(Debug)]
pub struct ProfileGuard {
    path: std::path::PathBuf,
}

impl ProfileGuard {
    /// A guard writing to `path` (`%p` becomes the process id). Turns sampling on at
    /// the default rate if it is off.
    pub fn new(path: impl AsRef<str>) -> ProfileGuard {
        if profile::sample::RATE.load(Ordering::Relaxed) == 0 {
            set_sample_rate(profile::writer::DEFAULT_RATE);
        }
        // The path is the profiler's, like the profile the guard writes.
        ProfileGuard {
            path: hooks::suspended(|| expand_path(path.as_ref())),
        }
    }
}

impl Drop for ProfileGuard {
    fn drop(&mut self) {
        if let Err(e) = write_profile(&self.path) {
            eprintln!(
                "spanprof: cannot write profile {}: {e}",
                self.path.display()
            );
        }
    }
}
