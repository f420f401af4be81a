//! Central lists: per size class, the spans no thread cache holds (Go's `mcentral`).
//!
//! A thread cache whose current span is exhausted *refills*: it hands the span back
//! here ([`Central::uncache_span`], Go's `uncacheSpan`) and takes one with free slots
//! ([`Central::cache_span`], Go's `cacheSpan`). Spans with free slots wait on the partial
//! list. Exhausted spans are *parked*: they sit on no list, and the first remote free
//! into a parked span pushes it onto the lock-free ready stack, which the next refill
//! drains into the partial list. When no span has free slots the central list grows
//! by a fresh span from the page heap ([`Central::grow`], Go's `mcentral.grow`).
//!
//! A span whose slots are all free goes back to the page heap as soon as that is
//! known, so its pages serve any class or a large object at once: when a cache hands
//! it back empty, and when a remote free (a thread flushing its free list, or a free
//! from a thread without a cache) brings back the last slot of a span this list holds
//! — parked, on the ready stack or partial. A listed span carries its use count in an
//! atomic (`Span::listed_used`) that the freer compares with the remote frees it
//! leaves pending; on a match it calls [`Central::reclaim`], which checks under the
//! lock. The fast paths never look. The page heap is reached only through
//! the [`SpanSource`] trait, so this file names neither the page heap nor the thread
//! caches above it (which reach it through `cache::CentralLists`). The lock order is
//! central list → page heap.

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::lock::SpinLock;
use crate::span::{Span, SpanState, UNLISTED};

/// The partial list (under the central lock).
#[derive(Debug)]
pub struct Partial {
    head: *mut Span,
    len: usize,
}

// SAFETY: span records are process-wide; access is under the central lock.
unsafe impl Send for Partial {}

impl Partial {
    fn push(&mut self, s: *mut Span) {
        // SAFETY: the caller holds the central lock and the span is on no list.
        unsafe {
            (*s).state = SpanState::Partial;
            (*s).listed_used.store((*s).used, Ordering::SeqCst);
            (*s).prev = ptr::null_mut();
            (*s).next = self.head;
            if !self.head.is_null() {
                (*self.head).prev = s;
            }
        }
        self.head = s;
        self.len += 1;
    }

    fn pop(&mut self) -> *mut Span {
        let s = self.head;
        if !s.is_null() {
            // SAFETY: listed spans are live records; we hold the lock.
            unsafe { self.unlink(s) };
        }
        s
    }

    /// Takes listed span `s` off the list; it is held (`Cached`) by the caller now.
    ///
    /// # Safety
    /// `s` must be on this list and the caller must hold the central lock.
    unsafe fn unlink(&mut self, s: *mut Span) {
        // SAFETY: the caller's promise; the neighbours are listed live records.
        unsafe {
            let (prev, next) = ((*s).prev, (*s).next);
            if prev.is_null() {
                self.head = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            (*s).next = ptr::null_mut();
            (*s).prev = ptr::null_mut();
            (*s).state = SpanState::Cached;
            (*s).listed_used.store(UNLISTED, Ordering::SeqCst);
        }
        self.len -= 1;
    }
}

/// One size class's central list.
#[derive(Debug)]
pub struct Central {
    pub(crate) partial: SpinLock<Partial>,
    /// Parked spans that received a remote free (Treiber stack via `Span::ready_next`).
    ready: AtomicPtr<Span>,
    /// Spans of this class cut from the page heap and not yet returned.
    pub spans_in_use: AtomicU64,
    /// Spans handed to thread caches (refills served).
    pub spans_handed_out: AtomicU64,
}

/// What the central list needs from the page heap.
pub trait SpanSource {
    /// A fresh span for `class` (Go's `mheap.alloc`), or `None` when out of memory.
    fn alloc_span(&self, class: usize) -> Option<NonNull<Span>>;
    /// Gives an empty span's pages back (Go's `mheap.freeSpan`).
    ///
    /// # Safety
    /// The span must be held by the caller, have no allocated slot, and never be used again.
    unsafe fn free_span(&self, span: *mut Span);
}

impl Central {
    pub const fn new() -> Self {
        Central {
            partial: SpinLock::new(Partial {
                head: ptr::null_mut(),
                len: 0,
            }),
            ready: AtomicPtr::new(ptr::null_mut()),
            spans_in_use: AtomicU64::new(0),
            spans_handed_out: AtomicU64::new(0),
        }
    }

    /// Called by the one remote freer that unparked `span`.
    ///
    /// # Safety
    /// `span` must be parked full and just unparked by the caller's remote free.
    pub unsafe fn notify(&self, span: *mut Span) {
        let mut head = self.ready.load(Ordering::Relaxed);
        loop {
            // SAFETY: only the unparking freer touches a parked span's link.
            unsafe { (*span).ready_next = head };
            match self
                .ready
                .compare_exchange_weak(head, span, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Takes back a span from a thread cache (exhausted at refill, or any state when
    /// the cache is flushed): Go's `uncacheSpan`.
    ///
    /// # Safety
    /// The caller's cache must hold `span` and give up all access to it.
    pub unsafe fn uncache_span(&self, span: *mut Span, src: &impl SpanSource) {
        let mut partial = self.partial.lock();
        // SAFETY: we are the holder until the span is listed, parked or returned.
        let s = unsafe { &mut *span };
        s.owner.store(0, Ordering::Relaxed);
        s.collect_remote();
        if s.used != 0 && s.exhausted() {
            // Before parking: the freer that unparks it reads it, and a later freer
            // that brings the last slot back compares its pending count with it.
            s.listed_used.store(s.used, Ordering::SeqCst);
            if s.park_full() {
                s.state = SpanState::Full;
                return;
            }
        }
        // SAFETY: held by us; we hold the lock.
        unsafe { self.relist(&mut partial, span, src) };
    }

    /// Lists a span this list holds, after collecting its remote frees, or gives it
    /// back to the page heap when it is empty. A freer that pushes its last slot
    /// between our count and the listing either sees `listed_used` (and calls
    /// [`Central::reclaim`], which waits for our lock) or is seen here.
    ///
    /// # Safety
    /// The caller must hold `span` and this list's lock (`partial`).
    unsafe fn relist(&self, partial: &mut Partial, span: *mut Span, src: &impl SpanSource) {
        // SAFETY: the caller holds the span.
        let s = unsafe { &mut *span };
        s.collect_remote();
        while s.used != 0 {
            partial.push(span);
            if s.remote_pending() != s.used as usize {
                return;
            }
            // SAFETY: just listed, and we hold the lock.
            unsafe { partial.unlink(span) };
            s.collect_remote();
        }
        // SAFETY: empty (every slot came back) and held by us.
        unsafe { self.give_back(span, src) };
    }

    /// A remote free may have brought back the last slot of `span` (of this list's
    /// `class`): if the span is listed here and empty, it goes to the page heap. The
    /// ready stack is drained first, so a span waiting there is seen too.
    ///
    /// # Safety
    /// `span` must be a span record of the heap behind `src` (in any state: records
    /// are never unmapped, and under our lock a span of our class marked `Partial` is
    /// on our list).
    pub unsafe fn reclaim(&self, span: *mut Span, class: usize, src: &impl SpanSource) {
        let mut partial = self.partial.lock();
        self.drain_ready(&mut partial, src);
        // SAFETY: see above; state and class only change under our lock while the span
        // is ours, or while it is dead (when neither reads Partial and our class).
        let listed =
            unsafe { (*span).state == SpanState::Partial && (*span).class as usize == class };
        // The last span with free slots stays listed, empty, for the class's next
        // refill: a class that keeps allocating and freeing does not take a span from
        // the page heap each time its one span drains (at most one such span waits
        // per class).
        // SAFETY: listed: on our list, held by us under the lock, `used` steady.
        if listed && partial.len > 1 && unsafe { (*span).remote_pending() == (*span).used as usize }
        {
            // SAFETY: as above.
            unsafe {
                partial.unlink(span);
                self.relist(&mut partial, span, src);
            }
        }
    }

    /// A span with free slots for the cache `owner` (Go's `cacheSpan`), or `None`
    /// when out of memory.
    pub fn cache_span(
        &self,
        owner: usize,
        src: &impl SpanSource,
        class: usize,
    ) -> Option<*mut Span> {
        let mut partial = self.partial.lock();
        self.drain_ready(&mut partial, src);
        let s = partial.pop();
        drop(partial);
        // A span off the list or fresh from the page heap is `Cached` and unlisted.
        let span = if !s.is_null() {
            s
        } else {
            self.grow(src, class)?
        };
        // SAFETY: the span came off our list or fresh from the page heap: ours now.
        let sp = unsafe { &mut *span };
        sp.collect_remote();
        sp.state = SpanState::Cached;
        sp.owner.store(owner, Ordering::Relaxed);
        self.spans_handed_out.fetch_add(1, Ordering::Relaxed);
        Some(span)
    }

    /// A fresh span from the page heap (Go's `mcentral.grow`).
    fn grow(&self, src: &impl SpanSource, class: usize) -> Option<*mut Span> {
        let s = src.alloc_span(class)?.as_ptr();
        self.spans_in_use.fetch_add(1, Ordering::Relaxed);
        Some(s)
    }

    /// Moves unparked spans to the partial list, returning empty ones to the heap.
    fn drain_ready(&self, partial: &mut Partial, src: &impl SpanSource) {
        if self.ready.load(Ordering::Relaxed).is_null() {
            return;
        }
        // SeqCst: an unparking freer that pushes after this swap reads the pending
        // count after it, so it sees the frees of a `reclaim` that missed its span.
        let mut s = self.ready.swap(ptr::null_mut(), Ordering::SeqCst);
        while !s.is_null() {
            // SAFETY: spans on the ready stack are unparked and now held by us (the
            // swap took the whole stack).
            let sp = unsafe { &mut *s };
            let next = sp.ready_next;
            sp.ready_next = ptr::null_mut();
            sp.state = SpanState::Cached;
            // SAFETY: held by us; we hold the lock.
            unsafe { self.relist(partial, s, src) };
            s = next;
        }
    }

    /// Returns every entirely free span on the partial list to the page heap.
    pub fn shrink(&self, src: &impl SpanSource) {
        let mut partial = self.partial.lock();
        self.drain_ready(&mut partial, src);
        let mut keep = Partial {
            head: ptr::null_mut(),
            len: 0,
        };
        loop {
            let s = partial.pop();
            if s.is_null() {
                break;
            }
            // SAFETY: listed spans are held by the central list, i.e. by us.
            unsafe { self.relist(&mut keep, s, src) };
        }
        *partial = keep;
    }

    unsafe fn give_back(&self, span: *mut Span, src: &impl SpanSource) {
        self.spans_in_use.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { src.free_span(span) };
    }
}
