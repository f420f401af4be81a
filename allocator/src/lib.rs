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
pub mod size_class;
mod span;
pub mod stats;

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

use cache::ThreadCache;
pub use malloc::{CacheHandle, Heap};
pub use stats::{ClassStats, HeapStats, LargeStats, Stats};

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
            // uses it after the slot was set to DEAD.
            unsafe { HEAP.retire_cache(c) };
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
    // Registering the exit hook fails once the thread's TLS is being torn down; such a
    // thread never gets a cache of its own.
    if EXIT.try_with(|_| ()).is_err() {
        CACHE.with(|c| c.set(DEAD));
        return ptr::null_mut();
    }
    match HEAP.new_cache() {
        Some(c) => {
            CACHE.with(|slot| slot.set(c));
            c
        }
        None => ptr::null_mut(),
    }
}

fn install_fork_handlers() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }
    extern "C" fn prepare() {
        HEAP.lock_all();
    }
    extern "C" fn after() {
        // SAFETY: prepare() locked everything on this thread before the fork.
        unsafe { HEAP.unlock_all() };
    }
    // SAFETY: the handlers are plain functions that take and release our own locks.
    unsafe { libc::pthread_atfork(Some(prepare), Some(after), Some(after)) };
}

/// Everything but the two fast paths: first use of a thread, refills, large
/// objects, threads without a cache. Kept out of line so the fast paths need no
/// stack frame.
#[cold]
#[inline(never)]
fn alloc_slow(layout: Layout) -> *mut u8 {
    HEAP.alloc_with(thread_cache(), layout).0
}

/// See [`alloc_slow`].
///
/// # Safety
/// `p` must be a live block of the global heap allocated with `layout`.
#[cold]
#[inline(never)]
unsafe fn dealloc_slow(p: *mut u8, layout: Layout) {
    // SAFETY: forwarded.
    unsafe { HEAP.dealloc_with(thread_cache(), p, layout) }
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
        if class != 0 && c as usize > DEAD as usize {
            // SAFETY: c is this thread's live cache.
            let p = unsafe { (*c).try_alloc(&HEAP, class) };
            if !p.is_null() {
                return p;
            }
        }
        alloc_slow(layout)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let (p, zero) = HEAP.alloc_with(thread_cache(), layout);
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
        // SAFETY: c is this thread's live cache; the caller passes a block we
        // allocated with this layout.
        if class != 0 && c as usize > DEAD as usize && unsafe { (*c).try_free(&HEAP, p, class) } {
            return;
        }
        // SAFETY: as above.
        unsafe { dealloc_slow(p, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded from the caller, who upholds GlobalAlloc::realloc's contract.
        unsafe { HEAP.realloc_with(thread_cache(), p, layout, new_size) }
    }
}

/// A snapshot of the global heap's counters: per size class, large objects, page heap.
///
/// Cheap enough to call often (it sums one set of counters per thread); allocates
/// nothing. Counts only what went through [`SpanAlloc`], so it reads zero when
/// spanprof is not the global allocator.
pub fn stats() -> Stats {
    HEAP.stats()
}

/// Returns every free span and free page of the global heap to the OS now (Go's
/// `debug.FreeOSMemory`); returns the bytes released. The heap also does this by
/// itself for pages that stay free for about a second.
pub fn release_free_memory() -> usize {
    HEAP.release_free_memory()
}
