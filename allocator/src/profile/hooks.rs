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
//! Anything the profiler itself allocates (while writing a profile, taking
//! a snapshot) runs with the hooks suspended, so it is neither counted nor sampled.

use core::alloc::Layout;
use core::sync::atomic::Ordering;

use crate::cache::ThreadCache;
use crate::malloc::Heap;
use crate::profile::counters::{self, ThreadTable};
use crate::profile::sample::{self, MAX_FRAMES, RATE};
use crate::profile::tags;
use crate::size_class::{PAGE_SIZE, class_size, large_pages};

/// The profiler's state in a thread cache (all-zero is "nothing yet").
#[derive(Debug)]
#[repr(C)]
pub struct ThreadProf {
    /// Current context (site stack); 0 = no site.
    pub ctx: u32,
    /// Hooks are suspended (the profiler itself is allocating).
    pub busy: bool,
    /// Bytes until the next sample (refreshed when the rate changes).
    pub sample_left: i64,
    /// The rate `sample_left` was drawn for.
    pub sample_rate: u64,
    pub rng: u64,
    /// This thread's stack, for the frame-pointer walker.
    pub stack: (usize, usize),
    /// Per-context counters (null until the first allocation under a site).
    pub table: *mut ThreadTable,
}

/// Whether allocations on the thread owning `c` need the hooks.
#[inline(always)]
pub fn wants_alloc_hook(c: &ThreadCache) -> bool {
    c.prof.ctx != 0 || RATE.load(Ordering::Relaxed) != 0
}

/// The calling thread's context.
pub fn current_context() -> u32 {
    let c = crate::thread_cache();
    if c.is_null() {
        return 0;
    }
    // SAFETY: the calling thread's own live cache.
    unsafe { (*c).prof.ctx }
}

/// Sets the calling thread's context.
pub fn set_context(ctx: u32) {
    let c = crate::thread_cache();
    if !c.is_null() {
        // SAFETY: the calling thread's own live cache.
        unsafe { (*c).prof.ctx = ctx };
    }
}

/// Runs `f` with the calling thread's hooks suspended: its allocations are served but
/// neither counted per site nor sampled.
pub fn suspended<R>(f: impl FnOnce() -> R) -> R {
    let c = crate::thread_cache();
    let was = if c.is_null() {
        true
    } else {
        // SAFETY: the calling thread's own live cache.
        unsafe { core::mem::replace(&mut (*c).prof.busy, true) }
    };
    let r = f();
    if !c.is_null() {
        // SAFETY: as above.
        unsafe { (*c).prof.busy = was };
    }
    r
}

/// An allocation through the hooks. Returns the block and whether it is known zero.
pub fn alloc(heap: &Heap, c: *mut ThreadCache, layout: Layout, class: usize) -> (*mut u8, bool) {
    // SAFETY: the calling thread's own live cache.
    let cache = unsafe { &mut *c };
    if cache.prof.busy {
        return heap.alloc_with(c, layout);
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
    st.busy = true;
    let mut ips = [0usize; MAX_FRAMES];
    let n = sample::capture(&mut ips, st.stack);
    let id = sample::record(&ips[..n], slot, rate);
    cache.prof.busy = false;
    id
}

/// The hooked part of a free: charges a tagged block to its context and sample.
/// Runs before the block is actually freed.
pub fn on_free(heap: &Heap, c: *mut ThreadCache, p: *mut u8, layout: Layout, class: usize) {
    let s = if c.is_null() {
        heap.span_of(p as usize)
    } else {
        // SAFETY: the calling thread's own live cache.
        unsafe { (*c).span_of(heap, p, class) }
    };
    if s.is_null() {
        return;
    }
    // SAFETY: the live span of a block being freed.
    let tag = tags::take(unsafe { &*s }, p as usize);
    if tag == 0 {
        return;
    }
    let (ctx, sample_id) = tags::unpack(tag);
    if let Some(id) = sample_id {
        sample::freed(id);
    }
    if ctx == 0 || c.is_null() {
        if ctx != 0 {
            counters::orphan_free(ctx, layout);
        }
        return;
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
}

/// A block of `class` resized in place from `layout.size()` to `new_size` bytes:
/// its context's requested bytes follow.
pub fn on_resize(
    heap: &Heap,
    c: *mut ThreadCache,
    p: *mut u8,
    layout: Layout,
    new_size: usize,
    class: usize,
) {
    let s = if c.is_null() {
        heap.span_of(p as usize)
    } else {
        // SAFETY: the calling thread's own live cache.
        unsafe { (*c).span_of(heap, p, class) }
    };
    if s.is_null() {
        return;
    }
    // SAFETY: the live span of the block being resized.
    let ctx = tags::unpack(tags::peek(unsafe { &*s }, p as usize)).0;
    // Two's complement when it shrinks: the sums wrap back (see counters.rs).
    let delta = (new_size as u64).wrapping_sub(layout.size() as u64);
    if ctx == 0 || delta == 0 {
        return;
    }
    if c.is_null() {
        counters::orphan_resize(ctx, class, delta);
        return;
    }
    // SAFETY: the calling thread's own live cache.
    let cache = unsafe { &mut *c };
    if let Some(cell) = counters::cell(&mut cache.prof.table, ctx, class) {
        counters::add(&cell.requested_bytes, delta);
    }
}

/// Slot bytes of a block of `layout` in `class`: the page-rounded size when large.
fn slot_bytes(layout: Layout, class: usize) -> u64 {
    if class == 0 {
        (large_pages(layout.size().max(1)) * PAGE_SIZE) as u64
    } else {
        class_size(class) as u64
    }
}
