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
//! # How an allocation is served
//!
//! * **Small (≤ 32 KiB)**: the size (and alignment) picks a size class; the thread
//!   cache pops a slot from its current span of that class — no lock, no atomic.
//!   When that span is exhausted the cache first takes back the span's remote frees,
//!   then *refills*: it hands the span to the class's central list and takes one
//!   with free slots; when there is none the central list cuts a new span from the
//!   page heap; when the page heap has no room it maps a new 64 MiB arena.
//! * **Large (> 32 KiB)**: a page-rounded run straight from the page heap.
//! * **Free**: a free into the thread's current span is a plain push; any other
//!   goes onto the thread cache's bounded free list for the class and is reused by
//!   the next allocations. Overflowing lists go back, one chain per span, to the
//!   spans' lock-free remote lists (a page → span map finds a span in O(1)), which
//!   their holders collect before asking for more memory, so a thread that only
//!   frees what another allocates keeps the heap bounded.
//! * Empty spans go back to the page heap, free pages coalesce, and pages free for
//!   about a second are returned to the OS (scavenged) and reused later.
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
//! One concept per file, named as in Go's runtime: [`size_class`] (the table),
//! `heap` (page heap, arenas), `span`, `central` (central lists), `cache` (thread
//! caches), `fixalloc` (metadata), `malloc` (the entry points), [`mod@stats`] (snapshots).

#![warn(missing_docs)]

mod cache;
mod central;
mod fixalloc;
mod heap;
mod lock;
mod malloc;
mod os;
mod profile;
pub mod size_class;
mod span;
pub mod stats;

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

use cache::ThreadCache;
pub use malloc::{CacheHandle, Heap};
pub use profile::format;
pub use profile::format::Profile;
pub use profile::measure::{ClassMeasurement, Measurement, measure};
pub use profile::site::{Finding, SITES, Site, SiteGuard, enter};
pub use profile::site::{TYPES, TypeInfo};
pub use profile::writer::{cancel_exit_profile, expand_path, write_profile};
/// Marks a function, a method or an `impl` block as an allocation site (static metadata
/// with escape findings, and the site current while it runs), or registers a struct,
/// enum or union for the size-class audit; see [`spanprof_macros`].
pub use spanprof_macros::track_alloc;
pub use stats::{ClassStats, HeapStats, LargeStats, ProfilerStats, Stats};

use profile::{hooks, tags};

#[doc(hidden)]
pub mod __private {
    pub use linkme;
}

/// The process-wide heap behind [`SpanAlloc`].
static HEAP: Heap = Heap::new();

/// Marks a thread whose cache was flushed at exit: it allocates through the orphan
/// cache from then on.
const DEAD: *mut ThreadCache = ptr::without_provenance_mut(1);

thread_local! {
    /// The thread's cache: null before first use, `DEAD` after thread exit.
    static CACHE: Cell<*mut ThreadCache> = const { Cell::new(ptr::null_mut()) };
    /// Touched once per thread to register the exit hook that flushes the cache.
    static EXIT: CacheExit = const { CacheExit };
}

struct CacheExit;

impl Drop for CacheExit {
    fn drop(&mut self) {
        let c = CACHE.with(|c| c.replace(DEAD));
        if !c.is_null() && c != DEAD {
            // SAFETY: c is this thread's cache and the thread is exiting; nothing
            // uses it (or its profiler cache) after the slot was set to DEAD.
            unsafe {
                let shadow = (*c).prof.shadow;
                HEAP.retire_cache(c);
                if !shadow.is_null() {
                    HEAP.retire_cache(shadow);
                }
            }
        }
    }
}

/// The calling thread's cache, created on first use; null means "use the orphan
/// cache" (thread exiting, or out of memory).
#[inline(always)]
fn thread_cache() -> *mut ThreadCache {
    let c = CACHE.with(Cell::get);
    if c as usize > DEAD as usize {
        return c;
    }
    if c == DEAD {
        return ptr::null_mut();
    }
    new_thread_cache()
}

#[cold]
#[inline(never)]
fn new_thread_cache() -> *mut ThreadCache {
    install_fork_handlers();
    profile::writer::init_from_env();
    // Registering the exit hook fails once the thread's TLS is being torn down; such a
    // thread never gets a cache of its own.
    if EXIT.try_with(|_| ()).is_err() {
        CACHE.with(|c| c.set(DEAD));
        return ptr::null_mut();
    }
    match HEAP.new_cache(false) {
        Some(c) => {
            // SAFETY: a fresh cache, ours alone.
            unsafe { (*c).prof.stack = thread_stack() };
            CACHE.with(|slot| slot.set(c));
            c
        }
        None => ptr::null_mut(),
    }
}

/// The calling thread's stack as (lowest, highest) address, for the frame-pointer
/// walker; (0, 0) when unknown (the walker then takes no frames).
fn thread_stack() -> (usize, usize) {
    // SAFETY: attr is initialised by pthread_getattr_np before use and destroyed after;
    // glibc's implementation allocates with its own malloc, not ours.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return (0, 0);
        }
        let mut addr: *mut libc::c_void = ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if ok {
            (addr as usize, addr as usize + size)
        } else {
            (0, 0)
        }
    }
}

fn install_fork_handlers() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }
    extern "C" fn prepare() {
        profile::lock_all(&HEAP);
    }
    extern "C" fn after() {
        // SAFETY: prepare() locked everything on this thread before the fork.
        unsafe { profile::unlock_all(&HEAP) };
    }
    // SAFETY: the handlers are plain functions that take and release our own locks.
    unsafe { libc::pthread_atfork(Some(prepare), Some(after), Some(after)) };
}

/// Everything but the two fast paths: first use of a thread, refills, large
/// objects, threads without a cache. Kept out of line so the fast paths need no
/// stack frame.
#[cold]
#[inline(never)]
fn alloc_slow(layout: Layout, class: usize) -> (*mut u8, bool) {
    let c = thread_cache();
    if c.is_null() {
        return HEAP.alloc_with(c, layout);
    }
    // SAFETY: the calling thread's own live cache.
    if hooks::wants_alloc_hook(unsafe { &*c }) {
        hooks::alloc(&HEAP, c, layout, class)
    } else {
        HEAP.alloc_with(c, layout)
    }
}

/// See [`alloc_slow`].
///
/// # Safety
/// `p` must be a live block of the global heap allocated with `layout`, and `class`
/// must be `class_for(layout)`.
#[cold]
#[inline(never)]
unsafe fn dealloc_slow(p: *mut u8, layout: Layout, class: usize) {
    let c = thread_cache();
    // Even while the profiler itself runs: a tag left behind would be inherited by
    // the slot's next object. Charging a free allocates nothing. The tag says whose
    // books the object is on: the profiler's objects go through the thread's
    // profiler cache (or the profiler's orphan cache).
    let profiler = tags::TAGGED.load(core::sync::atomic::Ordering::Relaxed)
        && hooks::on_free(&HEAP, c, p, layout, class);
    let target = if profiler { hooks::shadow(&HEAP, c) } else { c };
    // SAFETY: p is a live block of `class` from this heap; target is this thread's
    // cache on the books `profiler` names, or null (the orphan cache of those books).
    unsafe { HEAP.dealloc_in(target, profiler, p, class) }
}

/// An in-place reallocation when objects may be tagged or it is large: the object's
/// requested bytes follow, on its books and in its context.
#[cold]
#[inline(never)]
fn resized_in_place(p: *mut u8, layout: Layout, new_size: usize, class: usize) {
    let c = thread_cache();
    let profiler = tags::TAGGED.load(core::sync::atomic::Ordering::Relaxed)
        && hooks::on_resize(&HEAP, c, p, layout, new_size, class);
    if class == 0 {
        HEAP.resized_large(profiler, layout.size(), new_size);
    }
}

/// spanprof's global allocator.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();
/// # fn main() {}
/// ```
///
/// All `SpanAlloc` values share one process-wide heap; read its counters with
/// [`stats()`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SpanAlloc {
    _private: (),
}

impl SpanAlloc {
    /// The allocator value to put in a `#[global_allocator]` static.
    pub const fn new() -> Self {
        SpanAlloc { _private: () }
    }
}

// SAFETY: every method returns memory of at least `layout.size()` bytes aligned to
// `layout.align()` that no other live allocation overlaps (the heap's invariant), or
// null on failure; none unwinds (no panicking code paths; fatal errors abort).
unsafe impl GlobalAlloc for SpanAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let class = size_class::class_for(layout.size(), layout.align());
        let c = CACHE.with(Cell::get);
        // SAFETY: c is this thread's live cache when above DEAD.
        if class != 0 && c as usize > DEAD as usize && !hooks::wants_alloc_hook(unsafe { &*c }) {
            // SAFETY: as above.
            let p = unsafe { (*c).try_alloc(&HEAP, class) };
            if !p.is_null() {
                return p;
            }
        }
        alloc_slow(layout, class).0
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let (p, zero) = alloc_slow(layout, size_class::class_for(layout.size(), layout.align()));
        if !p.is_null() && !zero {
            // SAFETY: p is a fresh block of layout.size() bytes.
            unsafe { ptr::write_bytes(p, 0, layout.size()) };
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        let class = size_class::class_for(layout.size(), layout.align());
        let c = CACHE.with(Cell::get);
        let fast = class != 0
            && c as usize > DEAD as usize
            && !tags::TAGGED.load(core::sync::atomic::Ordering::Relaxed);
        // SAFETY: c is this thread's live cache; the caller passes a block we
        // allocated with this layout.
        if fast && unsafe { (*c).try_free(&HEAP, p, class) } {
            return;
        }
        // SAFETY: as above.
        unsafe { dealloc_slow(p, layout, class) }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // In place: the object stays where it is, in its context and on its books;
        // only its requested bytes change (counted when they can be anywhere: large
        // objects, or any object once tags exist). Moving: through the slow paths, so
        // it is counted (per thread, per site, sampled) like any allocation and free.
        let old = size_class::class_for(layout.size(), layout.align());
        if malloc::fits_in_place(layout, new_size) {
            if old == 0 || tags::TAGGED.load(core::sync::atomic::Ordering::Relaxed) {
                resized_in_place(p, layout, new_size, old);
            }
            return p;
        }
        let new = size_class::class_for(new_size, layout.align());
        // SAFETY: the caller guarantees new_size rounded to align fits isize.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let (q, _) = alloc_slow(new_layout, new);
        if !q.is_null() {
            // SAFETY: both blocks are live and at least min(old, new) bytes long; p is
            // freed with its own layout.
            unsafe {
                ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                dealloc_slow(p, layout, old);
            }
        }
        q
    }
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
    with_thread_tables(|tables| profile::counters::sum_matching(tables, &pick, &mut row));
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
    profile::sample::RATE.store(bytes, core::sync::atomic::Ordering::Relaxed);
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
    profile::writer::build()
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
        if profile::sample::RATE.load(core::sync::atomic::Ordering::Relaxed) == 0 {
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

fn heap_events() -> Vec<heap::HeapEvent> {
    let (events, n) = HEAP.events();
    events[..n].to_vec()
}

fn with_thread_tables<R>(
    f: impl FnOnce(&mut dyn Iterator<Item = *mut profile::counters::ThreadTable>) -> R,
) -> R {
    HEAP.with_tables(f)
}
