//! Thread caches: per thread, one current span per size class (Go's `mcache`).
//!
//! The fast path lives here: allocation pops a slot from the class's current span
//! and a free by the span's holder pushes it back, both with plain loads and stores,
//! no lock, no atomic read-modify-write. When the current span runs dry the cache
//! first collects the span's remote frees, then *refills* from the central list.
//! Frees of slots in spans this cache does not hold go to the span's remote list.
//! Counters are per cache and written only by their thread; the registry in
//! `malloc.rs` sums them for a snapshot, and folds them into its totals when the
//! thread exits and the cache is flushed.

use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::malloc::Heap;
use crate::size_class::NUM_CLASSES;
use crate::span::Span;

/// Per-class counters of one cache. Only the owning thread writes them (plain
/// load + store), snapshots read them with acquire loads.
#[derive(Debug)]
pub struct ClassCounters {
    pub allocs: AtomicU64,
    pub frees: AtomicU64,
    pub refills: AtomicU64,
    pub remote_frees: AtomicU64,
}

/// Single-writer increment: compiles to a plain add. Release so a snapshot that sees
/// a free also sees the allocation that preceded it on another thread.
#[inline(always)]
pub fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Release);
}

/// A thread cache (a record from the registry's metadata pool).
#[repr(C)]
#[derive(Debug)]
pub struct ThreadCache {
    /// Current span per class; null until the first allocation of the class.
    pub spans: [*mut Span; NUM_CLASSES],
    pub counters: [ClassCounters; NUM_CLASSES],
    /// Registry links.
    pub next: *mut ThreadCache,
    pub prev: *mut ThreadCache,
}

impl ThreadCache {
    /// This cache's identity as a span owner.
    #[inline(always)]
    pub fn id(&self) -> usize {
        self as *const ThreadCache as usize
    }

    /// Allocates one slot of `class`. Returns the slot (null when out of memory) and
    /// whether it is known to be zero.
    #[inline(always)]
    pub fn alloc(&mut self, heap: &Heap, class: usize) -> (*mut u8, bool) {
        let s = self.spans[class];
        if !s.is_null() {
            // SAFETY: a non-null current span is held by this cache.
            let (p, zero) = unsafe { (*s).pop() };
            if !p.is_null() {
                // SAFETY: as above.
                unsafe { (*s).mark_live(p) };
                bump(&self.counters[class].allocs);
                return (p, zero);
            }
        }
        self.alloc_slow(heap, class)
    }

    #[cold]
    #[inline(never)]
    fn alloc_slow(&mut self, heap: &Heap, class: usize) -> (*mut u8, bool) {
        let mut s = self.spans[class];
        // Remote frees into our own span come back before we ask for anything.
        // SAFETY: a non-null current span is held by this cache.
        if s.is_null() || unsafe { (*s).collect_remote() } == 0 {
            let central = &heap.central[class];
            if !s.is_null() {
                self.spans[class] = ptr::null_mut();
                // SAFETY: we hold s and give it up here.
                unsafe { central.release(s, heap) };
            }
            s = match central.acquire(self.id(), heap, class) {
                Some(s) => s,
                None => return (ptr::null_mut(), false),
            };
            self.spans[class] = s;
            bump(&self.counters[class].refills);
        }
        // SAFETY: s is held by this cache and has a free slot.
        let (p, zero) = unsafe { (*s).pop() };
        if !p.is_null() {
            // SAFETY: as above.
            unsafe { (*s).mark_live(p) };
            bump(&self.counters[class].allocs);
        }
        (p, zero)
    }

    /// Frees slot `p` of `class`. Aborts with the address if `p` is not a live slot of
    /// that class.
    ///
    /// # Safety
    /// `p` must have been returned by an allocation of `class` from `heap`.
    #[inline(always)]
    pub unsafe fn free(&mut self, heap: &Heap, p: *mut u8, class: usize) {
        let s = heap.span_of(p as usize);
        if s.is_null() {
            crate::os::fatal("free of a pointer spanprof never handed out:", p as usize);
        }
        // SAFETY: span_of returned the live record of p's span; p is live, so the
        // span cannot be released under us.
        let span = unsafe { &mut *s };
        if span.class as usize != class {
            bad_class(p);
        }
        span.check_free(p);
        bump(&self.counters[class].frees);
        if span.owner.load(Ordering::Relaxed) == self.id() {
            // SAFETY: we hold the span; p is its allocated slot.
            unsafe { span.push_local(p) };
        } else {
            bump(&self.counters[class].remote_frees);
            // SAFETY: p is an allocated slot of s; s is not touched after an ordinary push.
            unsafe { remote_free(heap, s, p, class) };
        }
    }

    /// Gives every current span back to its central list (thread exit, or a test
    /// cache being dropped).
    pub fn flush(&mut self, heap: &Heap) {
        for class in 1..NUM_CLASSES {
            let s = self.spans[class];
            if !s.is_null() {
                self.spans[class] = ptr::null_mut();
                // SAFETY: we hold s and give it up here.
                unsafe { heap.central[class].release(s, heap) };
            }
        }
    }
}

#[cold]
fn bad_class(p: *mut u8) -> ! {
    crate::os::fatal(
        "free with a Layout that does not match the allocation (or a bad pointer):",
        p as usize,
    )
}

/// A free by a thread that does not hold the span (or has no cache at all).
///
/// # Safety
/// `p` must be an allocated slot of `span`, of `class`.
pub unsafe fn remote_free(heap: &Heap, span: *mut Span, p: *mut u8, class: usize) {
    // SAFETY: forwarded; the span stays valid until our push publishes the slot.
    if unsafe { (*span).push_remote(p) } {
        // SAFETY: we unparked the span, so only we may hand it to the central list.
        unsafe { heap.central[class].notify(span) };
    }
}
