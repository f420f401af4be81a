//! Central lists: per size class, the spans no thread cache holds (Go's `mcentral`).
//!
//! A thread cache whose current span is exhausted *refills*: it hands the span back
//! here ([`Central::uncache_span`], Go's `uncacheSpan`) and takes one with free slots
//! ([`Central::cache_span`], Go's `cacheSpan`). Spans with free slots wait on the partial
//! list. Exhausted spans are *parked*: they sit on no list, and the first remote free
//! into a parked span pushes it onto the lock-free ready stack, which the next refill
//! drains into the partial list. When no span has free slots the central list grows
//! by a fresh span from the page heap ([`Central::grow`], Go's `mcentral.grow`); spans
//! found entirely free go back to the page heap. The page heap is reached only through
//! the [`SpanSource`] trait, so this file names neither the page heap nor the thread
//! caches above it (which reach it through `cache::CentralLists`). The lock order is
//! central list → page heap.

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::lock::SpinLock;
use crate::span::{Span, SpanState};

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
            unsafe {
                self.head = (*s).next;
                if !self.head.is_null() {
                    (*self.head).prev = ptr::null_mut();
                }
                (*s).next = ptr::null_mut();
            }
            self.len -= 1;
        }
        s
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
                .compare_exchange_weak(head, span, Ordering::Release, Ordering::Relaxed)
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
        if s.used == 0 {
            drop(partial);
            // SAFETY: empty span held by us.
            unsafe { self.give_back(span, src) };
        } else if !s.exhausted() {
            partial.push(span);
        } else if s.park_full() {
            s.state = SpanState::Full;
        } else {
            s.collect_remote();
            partial.push(span);
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
        let mut s = self.ready.swap(ptr::null_mut(), Ordering::Acquire);
        while !s.is_null() {
            // SAFETY: spans on the ready stack are unparked and now held by us (the
            // swap took the whole stack).
            let sp = unsafe { &mut *s };
            let next = sp.ready_next;
            sp.ready_next = ptr::null_mut();
            sp.collect_remote();
            if sp.used == 0 {
                // SAFETY: empty span held by us.
                unsafe { self.give_back(s, src) };
            } else {
                partial.push(s);
            }
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
            let sp = unsafe { &mut *s };
            sp.collect_remote();
            if sp.used == 0 {
                // SAFETY: empty span held by us.
                unsafe { self.give_back(s, src) };
            } else {
                keep.push(s);
            }
        }
        *partial = keep;
    }

    unsafe fn give_back(&self, span: *mut Span, src: &impl SpanSource) {
        self.spans_in_use.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { src.free_span(span) };
    }
}
