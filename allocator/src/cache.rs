//! Thread caches: per thread, one current span per size class (Go's `mcache`).
//!
//! The fast path lives here. While a span is a cache's current span, the cache keeps
//! the span's free-list head, slot range and use count in its own per-class record
//! (one cache line), so allocation pops a slot and a free into the current span
//! pushes it back touching nothing but that line and the slot: no lock, no atomic,
//! no span lookup. The span record is brought up to date when it stops being
//! current.
//!
//! Frees of slots outside the current span go to the cache's *free list* for the
//! class (a bounded intrusive stack, as in tcmalloc's thread cache): the next
//! allocations of the class reuse them while they are hot, again with no atomic.
//! When a free list grows past its bound, half of it is flushed to the owning spans'
//! remote lists, so memory freed by a thread that does not allocate flows back to
//! the thread (or central list) that holds the span; a push that may have brought
//! back the last slot of a span its central list holds tells the list
//! ([`CentralLists::emptied`]), which returns the span to the page heap.
//!
//! When the current span and the free list are both empty the cache takes the span's
//! never-used slots, then its remote frees ([`ThreadCache::next_free`], Go's
//! `nextFree`), then *refills* from the central list ([`ThreadCache::refill`]).
//! Counters are per cache and written only by their thread; the registry in
//! `heap.rs` sums them for a snapshot and folds them in when the cache retires.
//!
//! Below the cache, everything it needs (central lists, the page map) comes through
//! the narrow [`CentralLists`] trait, as the central lists reach the page heap through
//! `central::SpanSource`: this file names no heap type. Above it, the entry points
//! (`malloc.rs`) decide the size class and pass it in; the cache knows nothing of the
//! profiler, whose per-thread state sits beside the cache in the entry points'
//! per-thread record.

use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::region;
use crate::size_class::NUM_CLASSES;
use crate::span::{Slot, Span};

/// What a thread cache needs from the heap it belongs to: the central list of each
/// class and the page map. `heap::Heap` implements it; generic callers are
/// monomorphised, so the fast path pays nothing for the indirection.
pub trait CentralLists {
    /// A span of `class` with free slots, held by the cache `owner` from now on (Go's
    /// `mcentral.cacheSpan`), or `None` when out of memory.
    fn cache_span(&self, class: usize, owner: usize) -> Option<*mut Span>;
    /// Gives a span back to its central list (Go's `mcentral.uncacheSpan`).
    ///
    /// # Safety
    /// The calling cache must hold `span` (of `class`) and give up all access to it.
    unsafe fn uncache_span(&self, class: usize, span: *mut Span);
    /// Hands a parked span of `class` that just received its first remote free to its
    /// central list.
    ///
    /// # Safety
    /// The caller's remote free must have unparked `span`.
    unsafe fn unparked(&self, class: usize, span: *mut Span);
    /// A remote free into `span` (of `class`) may have freed its last slot while its
    /// central list holds it: the list checks under its lock and, if so, gives the
    /// span's pages back to the page heap.
    ///
    /// # Safety
    /// `span` must be a span record of this heap (it may have changed hands since).
    unsafe fn emptied(&self, class: usize, span: *mut Span);
    /// The span holding `addr` (Go's `spanOf`), or null.
    fn span_of(&self, addr: usize) -> *mut Span;
}

/// Single-writer increment: compiles to a plain add. Release so a snapshot that sees
/// a free also sees the allocation that preceded it on another thread.
#[inline(always)]
fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Release);
}

/// Free-list bound in bytes per class, at most: generous for small objects (churn of
/// small objects is where reuse pays), tight for big ones (where it would cost
/// resident memory). The count is clamped to [`MIN_LIST`, `MAX_LIST`].
const LIST_BYTES_SMALL: usize = 64 * 1024;
const LIST_BYTES_BIG: usize = 16 * 1024;
/// Free-list bound in bytes per class at first, and the least it shrinks to (at most
/// [`FLOOR_MAX_LIST`] objects, so this applies from 512-byte objects up). A lower
/// floor made a thread that only frees flush so often that its chains of one span
/// got short (one CAS each): xthread (8-512 B objects) ran 14 % slower with 4 KiB,
/// 10 % with 8 KiB.
const LIST_BYTES_FLOOR: usize = 16 * 1024;
const MIN_LIST: usize = 1;
const MAX_LIST: usize = 256;
const FLOOR_MAX_LIST: usize = 32;

/// `bytes / size` clamped to [`MIN_LIST`, `max`].
const fn slots(bytes: usize, size: usize, max: usize) -> u32 {
    let n = bytes / size;
    (if n < MIN_LIST {
        MIN_LIST
    } else if n > max {
        max
    } else {
        n
    }) as u32
}

/// Free-list bounds (in slots) per class: `[floor, ceiling]`. A class's bound starts
/// at the floor and moves between the two by [`ThreadCache::free`]'s rule.
const LIST_CAP: [[u32; 2]; NUM_CLASSES] = {
    let mut caps = [[0u32; 2]; NUM_CLASSES];
    let mut c = 1;
    while c < NUM_CLASSES {
        let size = crate::size_class::class_size(c);
        let most = if size <= 1024 {
            LIST_BYTES_SMALL
        } else {
            LIST_BYTES_BIG
        };
        let ceiling = slots(most, size, MAX_LIST);
        let floor = slots(LIST_BYTES_FLOOR, size, FLOOR_MAX_LIST);
        caps[c] = [if floor < ceiling { floor } else { ceiling }, ceiling];
        c += 1;
    }
    caps
};

/// Everything the fast path touches for one class, in one cache line.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Current {
    /// The current span's free list (authoritative while the span is current).
    free: *mut Slot,
    /// The current span's slot range; empty when there is no current span.
    start: usize,
    limit: usize,
    /// The current span, or null.
    span: *mut Span,
    /// Length of `list`.
    list_len: u32,
    /// Bound of `list_len` (0 in a fresh record: set on the first overflow).
    list_cap: u32,
    /// Freed slots of other spans.
    list: *mut Slot,
    /// Objects allocated.
    pub allocs: AtomicU64,
    /// Objects freed.
    pub frees: AtomicU64,
}

/// A cache's counters of one class, read for a snapshot or a measurement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// Objects allocated.
    pub allocs: u64,
    /// Objects freed.
    pub frees: u64,
    /// Spans taken from the central list.
    pub refills: u64,
    /// Frees of slots outside the freeing thread's current span.
    pub remote_frees: u64,
}

impl CacheCounts {
    /// Adds `o` field by field.
    pub fn add(&mut self, o: &CacheCounts) {
        self.allocs += o.allocs;
        self.frees += o.frees;
        self.refills += o.refills;
        self.remote_frees += o.remote_frees;
    }
}

/// Counters off the fast path.
#[derive(Debug)]
pub struct ColdCounters {
    /// Spans taken from the central list.
    pub refills: AtomicU64,
    /// Frees of slots outside the freeing thread's current span.
    pub remote_frees: AtomicU64,
    /// `Current::allocs` at the free list's last overflow (owner thread only).
    allocs_at_overflow: AtomicU64,
}

/// Large objects allocated and freed through one cache (for `measure`; the heap's
/// own large counters are what `stats()` reports).
#[derive(Debug)]
pub struct LargeTally {
    pub allocs: AtomicU64,
    pub frees: AtomicU64,
    /// Page-rounded bytes.
    pub bytes: AtomicU64,
    pub freed_bytes: AtomicU64,
}

impl LargeTally {
    /// Counts one large object of `bytes` page-rounded bytes allocated.
    #[inline]
    pub fn alloc(&self, bytes: u64) {
        bump(&self.allocs);
        self.bytes.store(
            self.bytes.load(Ordering::Relaxed) + bytes,
            Ordering::Release,
        );
    }

    /// Counts a large object resized where it lies: `grown` page-rounded bytes more
    /// allocated, or `shrunk` bytes given back (the object counts stay).
    #[inline]
    pub fn resized(&self, grown: u64, shrunk: u64) {
        self.bytes.store(
            self.bytes.load(Ordering::Relaxed) + grown,
            Ordering::Release,
        );
        self.freed_bytes.store(
            self.freed_bytes.load(Ordering::Relaxed) + shrunk,
            Ordering::Release,
        );
    }

    /// Counts one large object of `bytes` page-rounded bytes freed.
    #[inline]
    pub fn free(&self, bytes: u64) {
        bump(&self.frees);
        self.freed_bytes.store(
            self.freed_bytes.load(Ordering::Relaxed) + bytes,
            Ordering::Release,
        );
    }
}

/// A thread cache (a record from the registry's metadata pool; all-zero is empty).
///
/// Every cache keeps one set of books: a *program* cache counts the program's
/// objects; a cache with `profiler` set counts spanprof's own (the entry points give
/// each thread one of each once spanprof allocates on it, see `malloc.rs`), so the
/// counters of program caches hold the program's objects only.
#[repr(C)]
#[derive(Debug)]
pub struct ThreadCache {
    pub cur: [Current; NUM_CLASSES],
    pub cold: [ColdCounters; NUM_CLASSES],
    /// Large objects allocated and freed through this cache (for `measure`).
    pub large: LargeTally,
    /// A profiler cache: its counters are the profiler's own use, never the program's.
    pub profiler: bool,
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

    /// The span holding `p`, found without the page map when `p` lies in the current
    /// span of `class` (the common case right after an allocation).
    #[inline]
    pub fn span_of(&self, lists: &impl CentralLists, p: *mut u8, class: usize) -> *mut Span {
        if let Some(cur) = self.cur.get(class) {
            let a = p as usize;
            if class != 0 && a.wrapping_sub(cur.start) < cur.limit - cur.start {
                return cur.span;
            }
        }
        lists.span_of(p as usize)
    }

    /// The counters of `class` (small classes only; large objects are in `large`).
    pub fn counts(&self, class: usize) -> CacheCounts {
        let (cur, cold) = (&self.cur[class], &self.cold[class]);
        CacheCounts {
            allocs: cur.allocs.load(Ordering::Acquire),
            frees: cur.frees.load(Ordering::Acquire),
            refills: cold.refills.load(Ordering::Acquire),
            remote_frees: cold.remote_frees.load(Ordering::Acquire),
        }
    }

    /// Counts an object of small `class` allocated (or, `free`, freed) by this
    /// cache's thread outside any span (a block of the apart region, `region.rs`), so
    /// the class's figures and the thread's measurements include it.
    pub fn count_apart(&self, class: usize, free: bool) {
        let c = &self.cur[class];
        bump(if free { &c.frees } else { &c.allocs });
    }

    /// Spans this cache has taken from the central list of `class` (read around a
    /// slow-path allocation to tell whether it refilled).
    #[inline]
    pub fn refills(&self, class: usize) -> u64 {
        self.cold[class].refills.load(Ordering::Relaxed)
    }

    /// The fast path (Go's `nextFreeFast`): a slot of `class` from the current span's
    /// free list or the cache's free list, or null when both are empty. Touches one
    /// cache line and the slot; no lock, no atomic, no call.
    #[inline(always)]
    pub fn next_free_fast(&mut self, lists: &impl CentralLists, class: usize) -> *mut u8 {
        let _ = lists;
        // SAFETY: class < NUM_CLASSES: every caller got it from class_for.
        let c = unsafe { self.cur.get_unchecked_mut(class) };
        let p = c.free;
        if !p.is_null() {
            // SAFETY: slots on the current free list are free slots holding a link.
            c.free = unsafe { (*p).next };
            bump(&c.allocs);
            #[cfg(any(debug_assertions, feature = "hardened"))]
            // SAFETY: c.span is the live current span holding p.
            unsafe {
                (*c.span).mark_live(p.cast())
            };
            return p.cast();
        }
        let p = c.list;
        if !p.is_null() {
            // SAFETY: slots on our free list are free slots holding a link.
            c.list = unsafe { (*p).next };
            c.list_len -= 1;
            bump(&c.allocs);
            #[cfg(any(debug_assertions, feature = "hardened"))]
            // SAFETY: p is a slot of a live span (allocated from the span's view).
            unsafe {
                (*lists.span_of(p as usize)).mark_live(p.cast())
            };
        }
        p.cast()
    }

    /// Allocates one slot of `class`. Returns the slot (null when out of memory) and
    /// whether it is known to be zero.
    #[inline(always)]
    pub fn alloc(&mut self, lists: &impl CentralLists, class: usize) -> (*mut u8, bool) {
        let p = self.next_free_fast(lists, class);
        if !p.is_null() {
            return (p, false);
        }
        self.next_free(lists, class)
    }

    /// Writes the current span's cached state back to its record. The use count is
    /// not kept on the fast path: it is what the free list and the never-used range
    /// do not hold (the free list is empty whenever this runs on the allocation path,
    /// so the walk only costs at flush).
    fn sync_out(&mut self, class: usize) {
        let c = &mut self.cur[class];
        if c.span.is_null() {
            return;
        }
        let mut free = 0usize;
        let mut f = c.free;
        while !f.is_null() {
            free += 1;
            // SAFETY: the current free list holds free slots linked by their first word.
            f = unsafe { (*f).next };
        }
        // SAFETY: the current span is held by this cache.
        let s = unsafe { &mut *c.span };
        let never_used = (s.limit - s.bump) / s.elem_size as usize;
        let slots = (s.limit - s.start) / s.elem_size as usize;
        s.free = c.free;
        s.used = (slots - never_used - free) as u32;
    }

    /// Makes `span` (held by this cache, or null) the current span of `class`.
    fn sync_in(&mut self, class: usize, span: *mut Span) {
        let c = &mut self.cur[class];
        c.span = span;
        if span.is_null() {
            (c.free, c.start, c.limit) = (ptr::null_mut(), 0, 0);
        } else {
            // SAFETY: the span is held by this cache.
            let s = unsafe { &mut *span };
            (c.free, c.start, c.limit) = (s.free, s.start, s.limit);
            s.free = ptr::null_mut();
        }
    }

    /// The slow path (Go's `mcache.nextFree`): the current span's never-used slots,
    /// then its remote frees, then a [`refill`](Self::refill).
    #[cold]
    #[inline(never)]
    pub fn next_free(&mut self, lists: &impl CentralLists, class: usize) -> (*mut u8, bool) {
        self.sync_out(class);
        let mut s = self.cur[class].span;
        // SAFETY: a non-null current span is held by this cache.
        if s.is_null() || unsafe { (*s).bump >= (*s).limit && (*s).collect_remote() == 0 } {
            s = match self.refill(lists, class, s) {
                Some(s) => s,
                None => return (ptr::null_mut(), false),
            };
        }
        // SAFETY: s is held by this cache and has a free slot.
        let (p, zero) = unsafe { (*s).pop() };
        self.sync_in(class, s);
        if p.is_null() {
            return (p, false);
        }
        // SAFETY: as above.
        unsafe { (*s).mark_live(p) };
        bump(&self.cur[class].allocs);
        (p, zero)
    }

    /// Hands the exhausted current span `old` (or null) back to the central list and
    /// takes one with free slots (Go's `mcache.refill`). Counts the refill.
    fn refill(
        &mut self,
        lists: &impl CentralLists,
        class: usize,
        old: *mut Span,
    ) -> Option<*mut Span> {
        if !old.is_null() {
            self.sync_in(class, ptr::null_mut());
            // SAFETY: we hold `old` and give it up here.
            unsafe { lists.uncache_span(class, old) };
        }
        let s = lists.cache_span(class, self.id())?;
        bump(&self.cold[class].refills);
        Some(s)
    }

    /// The fast path of a free: into the current span, or onto the cache's free list
    /// while it has room. Returns false (having done nothing) otherwise, and for a
    /// block of the apart region (`region.rs`, never a current span's), which only
    /// the entry points free.
    ///
    /// # Safety
    /// `p` must have been returned by an allocation of `class` from the heap behind
    /// `lists`.
    #[inline(always)]
    pub unsafe fn try_free(&mut self, lists: &impl CentralLists, p: *mut u8, class: usize) -> bool {
        let _ = lists;
        // SAFETY: class < NUM_CLASSES: every caller got it from class_for.
        let c = unsafe { self.cur.get_unchecked_mut(class) };
        let a = p as usize;
        let slot = p.cast::<Slot>();
        if a.wrapping_sub(c.start) < c.limit - c.start {
            #[cfg(any(debug_assertions, feature = "hardened"))]
            // SAFETY: c.span is the live current span and p lies in it.
            unsafe {
                (*c.span).check_free(p)
            };
            // SAFETY: p is a slot of our current span, freed: it joins the free list.
            unsafe { (*slot).next = c.free };
            c.free = slot;
            bump(&c.frees);
            return true;
        }
        if c.list_len >= c.list_cap || region::contains(a) {
            return false;
        }
        #[cfg(any(debug_assertions, feature = "hardened"))]
        check_foreign(lists, p, class);
        // SAFETY: p is a freed slot of at least 8 bytes; it now belongs to our list.
        unsafe { (*slot).next = c.list };
        c.list = slot;
        c.list_len += 1;
        bump(&c.frees);
        // SAFETY: as above.
        bump(&unsafe { self.cold.get_unchecked(class) }.remote_frees);
        true
    }

    /// Frees slot `p` of `class`.
    ///
    /// # Safety
    /// `p` must have been returned by an allocation of `class` from the heap behind
    /// `lists`.
    #[inline(always)]
    pub unsafe fn free(&mut self, lists: &impl CentralLists, p: *mut u8, class: usize) {
        // SAFETY: forwarded.
        if unsafe { self.try_free(lists, p, class) } {
            return;
        }
        // The free list is full: keep half, flush the rest, then push.
        let cap = self.adapt_list_cap(class);
        self.flush_list(lists, class, cap / 2);
        // SAFETY: forwarded; the list has room now.
        let pushed = unsafe { self.try_free(lists, p, class) };
        debug_assert!(pushed);
    }

    /// Moves the free-list bound of `class` on an overflow and returns it: doubled
    /// (up to the class's ceiling) when the thread allocated objects of the class
    /// since the last overflow, since it may take them back from the list; halved
    /// (down to the floor) when it did not, as a thread that only frees what others
    /// allocate would otherwise park up to the ceiling per class (64 KiB) of their
    /// memory. After tcmalloc's per-class `max_length` (slow start, shrink on
    /// overflow); only this slow path reads or moves it.
    #[cold]
    fn adapt_list_cap(&mut self, class: usize) -> u32 {
        let [floor, ceiling] = LIST_CAP[class];
        let c = &mut self.cur[class];
        let allocs = c.allocs.load(Ordering::Relaxed);
        let last = &self.cold[class].allocs_at_overflow;
        c.list_cap = if c.list_cap == 0 {
            floor
        } else if allocs != last.load(Ordering::Relaxed) {
            (c.list_cap * 2).min(ceiling)
        } else {
            (c.list_cap / 2).max(floor)
        };
        last.store(allocs, Ordering::Relaxed);
        c.list_cap
    }

    /// Returns all but `keep` slots of a class's free list to their spans' remote
    /// lists. Runs of slots from one span (the common case: a thread freeing what
    /// another allocated in order) go over as one chain with one CAS.
    #[cold]
    fn flush_list(&mut self, lists: &impl CentralLists, class: usize, keep: u32) {
        let c = &mut self.cur[class];
        let mut chain: Option<(*mut Span, *mut Slot, *mut Slot, usize)> = None;
        while c.list_len > keep {
            let slot = c.list;
            // SAFETY: the list holds list_len valid slots.
            c.list = unsafe { (*slot).next };
            c.list_len -= 1;
            let a = slot as usize;
            if let Some((s, head, tail, n)) = chain {
                // SAFETY: s is the live span of the chain's slots.
                let (start, limit) = unsafe { ((*s).start, (*s).limit) };
                if a.wrapping_sub(start) < limit - start {
                    // SAFETY: slot is free and ours; it becomes the chain's new head.
                    unsafe { (*slot).next = head };
                    chain = Some((s, slot, tail, n + 1));
                    continue;
                }
                push_chain(lists, chain.take(), class);
            }
            let s = lists.span_of(a);
            // SAFETY: a non-null span_of result is a live record.
            if s.is_null() || unsafe { (*s).class as usize != class } {
                bad_free(slot.cast());
            }
            chain = Some((s, slot, slot, 1));
        }
        push_chain(lists, chain, class);
    }

    /// Gives every free-list slot and current span back (thread exit, or a test cache
    /// being dropped).
    pub fn flush(&mut self, lists: &impl CentralLists) {
        for class in 1..NUM_CLASSES {
            self.flush_list(lists, class, 0);
            self.sync_out(class);
            let s = self.cur[class].span;
            if !s.is_null() {
                self.sync_in(class, ptr::null_mut());
                // SAFETY: we hold s and give it up here.
                unsafe { lists.uncache_span(class, s) };
            }
        }
    }
}

/// Hardened check of a free outside the current span: `p` must be a live slot of
/// `class`. Marks it free in the span's bitmap.
#[cfg(any(debug_assertions, feature = "hardened"))]
fn check_foreign(lists: &impl CentralLists, p: *mut u8, class: usize) {
    let s = lists.span_of(p as usize);
    // SAFETY: a non-null span_of result is a live record.
    if s.is_null() || unsafe { (*s).class as usize != class } {
        bad_free(p);
    }
    // SAFETY: as above.
    unsafe { (*s).check_free(p) };
}

#[cold]
fn bad_free(p: *mut u8) -> ! {
    crate::os::fatal(
        "free of a pointer spanprof never handed out, or with the wrong Layout:",
        p as usize,
    )
}

/// Hands a chain of freed slots of one span to the span's remote list.
fn push_chain(
    lists: &impl CentralLists,
    chain: Option<(*mut Span, *mut Slot, *mut Slot, usize)>,
    class: usize,
) {
    let Some((s, head, tail, n)) = chain else {
        return;
    };
    // SAFETY: the chain holds allocated (from the span's view) slots of the live span s.
    let pushed = unsafe { (*s).push_remote_chain(head.cast(), tail.cast(), n) };
    // SAFETY: s is a span record of this heap.
    unsafe { after_remote_push(lists, s, class, pushed) };
}

/// A free by a thread that does not hold the span (or has no cache at all).
///
/// # Safety
/// `p` must be an allocated slot of `span`, of `class`.
pub unsafe fn remote_free(lists: &impl CentralLists, span: *mut Span, p: *mut u8, class: usize) {
    // SAFETY: forwarded; the span stays valid until our push publishes the slot.
    let pushed = unsafe { (*span).push_remote_chain(p, p, 1) };
    // SAFETY: span is a span record of this heap.
    unsafe { after_remote_push(lists, span, class, pushed) };
}

/// What a remote push `(unparked, pending)` into `span` calls for: an unparked span
/// goes to its central list's ready stack; a span whose last slot may just have come
/// back is handed to its central list to return to the page heap, so the pages serve
/// any class again at once rather than when this class next refills.
///
/// # Safety
/// `span` must be a span record of this heap; after an unparking push, only this
/// caller may hand it on.
#[inline]
unsafe fn after_remote_push(
    lists: &impl CentralLists,
    span: *mut Span,
    class: usize,
    (unparked, mut pending): (bool, usize),
) {
    if unparked {
        // SAFETY: we unparked the span, so only we may hand it to the central list.
        unsafe { lists.unparked(class, span) };
        // Frees that completed the span while it was on its way to the ready stack
        // found it in neither place: read the count again (see `Central::reclaim`).
        // SAFETY: span records are never unmapped.
        pending = unsafe { (*span).remote_pending() };
    }
    // SAFETY: span records are never unmapped: reading an atomic of one that changed
    // hands since is harmless, and `emptied` checks again under the central lock.
    if unsafe { (*span).emptied_by(pending) } {
        // SAFETY: as above.
        unsafe { lists.emptied(class, span) };
    }
}
