//! The hooks: what the profiler does on an allocation or free, and the per-thread
//! state it does it with.
//!
//! The allocator's fast paths stay as they are while a thread has no site current
//! and sampling is off: `lib.rs` checks [`wants_alloc_hook`] and
//! [`tags::TAGGED`](crate::profile::tags::TAGGED) and only then comes here. An
//! allocation under a site is counted for its context and class (objects, slot
//! bytes, requested bytes, refills it caused) and its slot is tagged with the
//! context; a sampled allocation records its stack and is tagged with the record.
//! A free reads and clears the slot's tag and charges the free to that context and
//! record; an in-place reallocation charges the change of requested bytes to it.
//!
//! # The profiler's own allocations
//!
//! spanprof never counts itself. Whatever it allocates (building, symbolizing and
//! writing a profile, on any thread) runs [`suspended`], which sets the thread's
//! context to [`SUSPENDED`]: being non-zero, it sends every allocation of the thread
//! off the fast path (which checks the context anyway: the fast path does no extra
//! work) to [`alloc`], which serves it from the thread's *profiler cache* (a second
//! thread cache, `ThreadProf::shadow`, whose counters are the profiler's books) and
//! tags it [`tags::PROFILER`]. Such an object is never counted per site, sampled or
//! counted in a program figure. Its free, on whatever thread and however much later
//! (a `Profile` the program drops, a symbol cache trimmed during the next write),
//! finds the tag and goes through that thread's profiler cache, so it is charged to
//! the profiler too; the program's objects freed while suspended stay on the
//! program's books the same way. So every object is on exactly one set of books,
//! from its allocation to its free, and a snapshot taken at any moment, on any
//! thread, sees no profiler object in the program's figures.
//!
//! Tagging the profiler's objects makes frees take the hooked path from then on, as
//! sampling or any site already does. A thread with no cache (during its teardown)
//! cannot be suspended: what it allocates is the program's. If the tag cannot be
//! stored (out of memory for the tag table), the object is served by the program's
//! cache instead, and stays on the program's books both ways.

use core::alloc::Layout;
use core::sync::atomic::Ordering;

use crate::cache::ThreadCache;
use crate::malloc::Heap;
use crate::profile::counters::{self, ThreadTable};
use crate::profile::sample::{self, MAX_FRAMES, RATE};
use crate::profile::tags;
use crate::size_class::{PAGE_SIZE, class_size, large_pages};
use crate::span::Span;

/// `ThreadProf::ctx` while the thread is suspended: never an interned context (ids
/// stay below `context::MAX_CTX`), and non-zero, so the allocation fast path sends
/// every allocation to [`alloc`].
pub const SUSPENDED: u32 = u32::MAX;

/// The profiler's state in a thread cache (all-zero is "nothing yet").
#[derive(Debug)]
#[repr(C)]
pub struct ThreadProf {
    /// Current context (site stack); 0 = no site; [`SUSPENDED`] while the profiler
    /// itself runs on the thread.
    pub ctx: u32,
    /// The thread's context while `ctx` is [`SUSPENDED`].
    pub saved_ctx: u32,
    /// Bytes until the next sample (refreshed when the rate changes).
    pub sample_left: i64,
    /// The rate `sample_left` was drawn for.
    pub sample_rate: u64,
    pub rng: u64,
    /// This thread's stack, for the frame-pointer walker.
    pub stack: (usize, usize),
    /// Per-context counters (null until the first allocation under a site).
    pub table: *mut ThreadTable,
    /// The thread's profiler cache: null until spanprof first allocates or frees one
    /// of its own objects on this thread; retired with the thread's cache.
    pub shadow: *mut ThreadCache,
}

/// Whether allocations on the thread owning `c` need the hooks.
#[inline(always)]
pub fn wants_alloc_hook(c: &ThreadCache) -> bool {
    c.prof.ctx != 0 || RATE.load(Ordering::Relaxed) != 0
}

/// The calling thread's context (the one it resumes with, while suspended).
pub fn current_context() -> u32 {
    let c = crate::thread_cache();
    if c.is_null() {
        return 0;
    }
    // SAFETY: the calling thread's own live cache.
    let p = unsafe { &(*c).prof };
    if p.ctx == SUSPENDED {
        p.saved_ctx
    } else {
        p.ctx
    }
}

/// Sets the calling thread's context (the one it resumes with, while suspended: a
/// site entered by code the profiler runs does not end the suspension).
pub fn set_context(ctx: u32) {
    let c = crate::thread_cache();
    if !c.is_null() {
        // SAFETY: the calling thread's own live cache.
        let p = unsafe { &mut (*c).prof };
        if p.ctx == SUSPENDED {
            p.saved_ctx = ctx;
        } else {
            p.ctx = ctx;
        }
    }
}

/// Runs `f` with the calling thread suspended: everything it allocates is the
/// profiler's (served by the thread's profiler cache, tagged, counted apart from the
/// program, never per site, never sampled), and stays the profiler's until freed,
/// wherever that happens. Nests; the suspension ends when `f` returns or unwinds.
///
/// Everything spanprof allocates must be allocated in here: a value allocated
/// outside (a path string built before the call) is the program's, and shows in the
/// profile being written.
pub fn suspended<R>(f: impl FnOnce() -> R) -> R {
    struct Resume(*mut ThreadCache);
    impl Drop for Resume {
        fn drop(&mut self) {
            // SAFETY: the calling thread's own live cache (a cache is retired only by
            // its thread's exit, which cannot happen inside `suspended`).
            let p = unsafe { &mut (*self.0).prof };
            p.ctx = p.saved_ctx;
        }
    }
    let c = crate::thread_cache();
    // SAFETY: the calling thread's own live cache.
    if c.is_null() || unsafe { (*c).prof.ctx } == SUSPENDED {
        return f();
    }
    // SAFETY: as above.
    unsafe {
        let p = &mut (*c).prof;
        p.saved_ctx = p.ctx;
        p.ctx = SUSPENDED;
    }
    let _resume = Resume(c);
    f()
}

/// The profiler cache of the thread whose program cache is `c` (made on first use);
/// null when `c` is null or no cache record can be had.
pub fn shadow(heap: &Heap, c: *mut ThreadCache) -> *mut ThreadCache {
    if c.is_null() {
        return c;
    }
    // SAFETY: the calling thread's own live cache.
    let prof = unsafe { &mut (*c).prof };
    if prof.shadow.is_null()
        && let Some(s) = heap.new_cache(true)
    {
        prof.shadow = s;
    }
    prof.shadow
}

/// An allocation of the profiler (the thread is suspended): served by the thread's
/// profiler cache and tagged as the profiler's.
#[cold]
fn profiler_alloc(
    heap: &Heap,
    c: *mut ThreadCache,
    layout: Layout,
    class: usize,
) -> (*mut u8, bool) {
    let pc = shadow(heap, c);
    if pc.is_null() {
        return heap.alloc_with(c, layout);
    }
    let (p, zero) = heap.alloc_with(pc, layout);
    if p.is_null() {
        return (p, zero);
    }
    // SAFETY: the calling thread's own profiler cache.
    let s = unsafe { (*pc).span_of(heap, p, class) };
    // SAFETY: the live span of the block just allocated.
    if !s.is_null() && tags::set(unsafe { &*s }, p as usize, tags::PROFILER) {
        return (p, zero);
    }
    // No tag (out of memory for the table): its free could not tell it apart, so the
    // program's cache serves it, on the program's books both ways.
    // SAFETY: p was just allocated with `layout` through pc.
    unsafe { heap.dealloc_with(pc, p, layout) };
    heap.alloc_with(c, layout)
}

/// An allocation through the hooks. Returns the block and whether it is known zero.
pub fn alloc(heap: &Heap, c: *mut ThreadCache, layout: Layout, class: usize) -> (*mut u8, bool) {
    // SAFETY: the calling thread's own live cache.
    let cache = unsafe { &mut *c };
    if cache.prof.ctx == SUSPENDED {
        return profiler_alloc(heap, c, layout, class);
    }
    let refills_before = cache.cold[class].refills.load(Ordering::Relaxed);
    let (p, zero) = match class {
        0 => heap.alloc_with(c, layout),
        _ => cache.alloc(heap, class),
    };
    if p.is_null() {
        return (p, zero);
    }
    let slot = slot_bytes(layout, class);
    let ctx = cache.prof.ctx;
    if ctx != 0 {
        let refills = cache.cold[class].refills.load(Ordering::Relaxed) - refills_before;
        if let Some(cell) = counters::cell(&mut cache.prof.table, ctx, class) {
            counters::add(&cell.allocs, 1);
            counters::add(&cell.requested_bytes, layout.size() as u64);
            // Small classes' slot bytes are allocs × size: only large ones vary.
            if class == 0 {
                counters::add(&cell.slot_bytes, slot);
            }
            if refills != 0 {
                counters::add(&cell.refills, refills);
            }
        }
    }
    let sample = if RATE.load(Ordering::Relaxed) == 0 {
        None
    } else {
        maybe_sample(cache, slot)
    };
    if ctx != 0 || sample.is_some() {
        let s = cache.span_of(heap, p, class);
        if !s.is_null() {
            // SAFETY: the live span of the block we just allocated.
            tags::set(unsafe { &*s }, p as usize, tags::pack(ctx, sample));
        }
    }
    (p, zero)
}

/// Counts `slot` bytes against the thread's sampling countdown; samples when it runs out.
fn maybe_sample(cache: &mut ThreadCache, slot: u64) -> Option<u32> {
    let rate = RATE.load(Ordering::Relaxed);
    if rate == 0 {
        return None;
    }
    let st = &mut cache.prof;
    if st.sample_rate != rate {
        if st.rng == 0 {
            // Deterministic per thread (by creation order), so runs repeat.
            static THREADS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
            let n = THREADS.fetch_add(1, Ordering::Relaxed) + 1;
            st.rng = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        }
        st.sample_rate = rate;
        st.sample_left = sample::next_interval(&mut st.rng, rate);
    }
    st.sample_left -= slot as i64;
    if st.sample_left >= 0 {
        return None;
    }
    st.sample_left = sample::next_interval(&mut st.rng, rate);
    // Whatever the unwinder allocates is the profiler's.
    st.saved_ctx = st.ctx;
    st.ctx = SUSPENDED;
    let mut ips = [0usize; MAX_FRAMES];
    let n = sample::capture(&mut ips, st.stack);
    let id = sample::record(&ips[..n], slot, rate);
    cache.prof.ctx = cache.prof.saved_ctx;
    id
}

/// The span of block `p` of `class`: through the thread's cache when it has one (its
/// current span needs no page-map lookup), else through the page map.
fn span_for(heap: &Heap, c: *mut ThreadCache, p: *mut u8, class: usize) -> *mut Span {
    if c.is_null() {
        heap.span_of(p as usize)
    } else {
        // SAFETY: the calling thread's own live cache.
        unsafe { (*c).span_of(heap, p, class) }
    }
}

/// The hooked part of a free: charges a tagged block to its context and sample.
/// Runs before the block is actually freed. Returns whether the block is the
/// profiler's (tagged [`tags::PROFILER`]): it is then freed on the profiler's books.
pub fn on_free(heap: &Heap, c: *mut ThreadCache, p: *mut u8, layout: Layout, class: usize) -> bool {
    let s = span_for(heap, c, p, class);
    if s.is_null() {
        return false;
    }
    // SAFETY: the live span of a block being freed.
    let tag = tags::take(unsafe { &*s }, p as usize);
    if tag == 0 {
        return false;
    }
    if tag == tags::PROFILER {
        return true;
    }
    let (ctx, sample_id) = tags::unpack(tag);
    if let Some(id) = sample_id {
        sample::freed(id);
    }
    if ctx == 0 || c.is_null() {
        if ctx != 0 {
            counters::orphan_free(ctx, layout);
        }
        return false;
    }
    // SAFETY: the calling thread's own live cache.
    let cache = unsafe { &mut *c };
    if let Some(cell) = counters::cell(&mut cache.prof.table, ctx, class) {
        counters::add(&cell.frees, 1);
        counters::add(&cell.freed_requested, layout.size() as u64);
        if class == 0 {
            counters::add(&cell.freed_bytes, slot_bytes(layout, class));
        }
    }
    false
}

/// A block of `class` resized in place from `layout.size()` to `new_size` bytes:
/// its context's requested bytes follow. Returns whether the block is the
/// profiler's.
pub fn on_resize(
    heap: &Heap,
    c: *mut ThreadCache,
    p: *mut u8,
    layout: Layout,
    new_size: usize,
    class: usize,
) -> bool {
    let s = span_for(heap, c, p, class);
    if s.is_null() {
        return false;
    }
    // SAFETY: the live span of the block being resized.
    let tag = tags::peek(unsafe { &*s }, p as usize);
    if tag == tags::PROFILER {
        return true;
    }
    let ctx = tags::unpack(tag).0;
    // Two's complement when it shrinks: the sums wrap back (see counters.rs).
    let delta = (new_size as u64).wrapping_sub(layout.size() as u64);
    if ctx == 0 || delta == 0 {
        return false;
    }
    if c.is_null() {
        counters::orphan_resize(ctx, class, delta);
        return false;
    }
    // SAFETY: the calling thread's own live cache.
    let cache = unsafe { &mut *c };
    if let Some(cell) = counters::cell(&mut cache.prof.table, ctx, class) {
        counters::add(&cell.requested_bytes, delta);
    }
    false
}

/// Slot bytes of a block of `layout` in `class`: the page-rounded size when large.
fn slot_bytes(layout: Layout, class: usize) -> u64 {
    if class == 0 {
        (large_pages(layout.size().max(1)) * PAGE_SIZE) as u64
    } else {
        class_size(class) as u64
    }
}
