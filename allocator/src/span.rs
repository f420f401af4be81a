//! Spans: a run of 8 KiB pages cut into equal slots of one size class, or one large
//! object (Go's `mspan`).
//!
//! A span is held by exactly one party at a time: a thread cache (which allocates
//! from it and frees into it with plain loads and stores), or its central list
//! (under the central lock). Everyone else frees into the span's *remote list*, a
//! lock-free stack the holder collects before it asks for more memory. The page heap
//! creates span records and maps every page of a span to its record, so any pointer
//! finds its span in O(1).
//!
//! While a central list holds a span (partial, parked or on the ready stack) the
//! span's use count is also in [`Span::listed_used`], so a remote freer can tell from
//! the pending count its push leaves whether it freed the span's last slot.
//!
//! Slots come from two places: the local free list (slots freed by the holder or
//! collected from the remote list) and the *bump* range of slots never handed out.
//! Never-used slots of a span cut from fresh or scavenged pages are known to be zero,
//! which lets `alloc_zeroed` skip the memset.
//!
//! # Specials
//!
//! Per-slot data that is not the allocator's own (the profiler's slot tags) hangs off
//! a span through one opaque side pointer, [`Span::special`], in the manner of Go's
//! span "specials" (`mspan.specials`, freed by the sweeper through `freeSpecial`).
//! The allocator never reads it: whoever attaches a record also registers, once,
//! the function that frees it ([`set_special_release`]); the page heap calls
//! [`Span::release_special`] when the span's pages go back, so a record never
//! outlives its span. The core knows nothing of what the record holds.

use core::ptr;
#[cfg(any(debug_assertions, feature = "hardened"))]
use core::sync::atomic::AtomicU64;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

/// Frees a span's special record; registered once by the layer that attaches them.
pub type SpecialRelease = fn(*mut u8);

/// The registered [`SpecialRelease`], as an address (0 = none registered).
static SPECIAL_RELEASE: AtomicUsize = AtomicUsize::new(0);

/// Registers the function that frees special records. Called once, before the first
/// record is attached (a later call replaces the function; records attached before it
/// are freed by the new one, so it must free them all).
pub fn set_special_release(f: SpecialRelease) {
    SPECIAL_RELEASE.store(f as usize, Ordering::Release);
}

/// A free slot's first word links to the next free slot.
#[repr(C)]
pub struct Slot {
    pub next: *mut Slot,
}

/// Set in `Span::remote` while the span sits exhausted in its central list, so the
/// first remote free tells the central list that the span has room again.
pub const REMOTE_FULL: usize = 1;
/// The remote word is `count << 48 | head | REMOTE_FULL`: user-space addresses fit in
/// 47 bits and slots are 8-aligned, and a span has at most 1024 slots.
const REMOTE_COUNT_SHIFT: usize = 48;
const REMOTE_PTR: usize = (1 << REMOTE_COUNT_SHIFT) - 8;

/// [`Span::listed_used`] of a span no central list holds: no count of pending remote
/// frees ever equals it.
pub const UNLISTED: u32 = u32::MAX;

/// Where a span is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SpanState {
    /// Record on the metadata free list, or pages back in the page heap.
    Dead = 0,
    /// Held by one party off every list: a thread cache's current span, or a span
    /// just cut by the page heap or taken off a list.
    Cached = 1,
    /// On its central list's partial list: has free slots, nobody holds it.
    Partial = 2,
    /// Exhausted and parked by its central list until a remote free arrives.
    Full = 3,
    /// A large object.
    Large = 4,
}

/// Bitmap words for the hardened allocation bitmap (one bit per slot, 1024 slots max).
#[cfg(any(debug_assertions, feature = "hardened"))]
const CHECK_WORDS: usize = 16;

/// A span record (lives in the page heap's metadata allocator, never on the Rust heap).
#[repr(C)]
#[derive(Debug)]
pub struct Span {
    // Holder-only fields, touched on every allocation and free.
    /// Local free list.
    pub free: *mut Slot,
    /// Next never-used slot.
    pub bump: usize,
    /// End of the slot area (`start + nelems * elem_size`).
    pub limit: usize,
    /// Slots handed out and not yet returned to the holder.
    pub used: u32,
    /// Size class; 0 for a large object.
    pub class: u8,
    /// See [`SpanState`]; written by the holder, read by checks.
    pub state: SpanState,
    /// Never-used slots are known to read as zero.
    pub zeroed: bool,
    /// Slot size in bytes (page-rounded size for a large object).
    pub elem_size: u32,
    /// First byte of the span.
    pub start: usize,
    /// Length in pages.
    pub npages: usize,
    /// The thread cache holding the span, or 0.
    pub owner: AtomicUsize,
    /// Head of the remote-free stack, or'ed with [`REMOTE_FULL`].
    pub remote: AtomicUsize,
    /// `used` as of when the span's central list last took it (written under the
    /// central lock), or [`UNLISTED`] while anyone else holds it: a remote freer whose
    /// push brings the pending count to this figure has freed the span's last slot
    /// (tcmalloc's `ReleaseToSpans` at free time; Go waits for the sweeper).
    pub listed_used: AtomicU32,
    /// Links in the central partial list.
    pub next: *mut Span,
    pub prev: *mut Span,
    /// Link in the central list's ready stack.
    pub ready_next: *mut Span,
    /// The span's special record (opaque to the allocator; see the module docs), or
    /// null. Set by compare-and-swap, so two threads racing to attach one agree.
    pub special: AtomicPtr<u8>,
    /// One bit per slot, set while the slot is allocated.
    #[cfg(any(debug_assertions, feature = "hardened"))]
    pub live_bits: [AtomicU64; CHECK_WORDS],
}

impl Span {
    /// Sets up a fresh record for `npages` pages at `start`, cut for `class` (0 =
    /// one large object of `npages` pages).
    ///
    /// # Safety
    /// `this` must point to a writable, exclusively held span record.
    pub unsafe fn init(this: *mut Span, start: usize, npages: usize, class: usize, zeroed: bool) {
        // A small span starts held by whoever asked for it, on no list.
        let (elem, nelems, state) = if class == 0 {
            (npages * crate::size_class::PAGE_SIZE, 1, SpanState::Large)
        } else {
            let e = crate::size_class::class_size(class);
            (e, crate::size_class::span_objects(class), SpanState::Cached)
        };
        // SAFETY: exclusive access is the caller's promise; every field is written.
        unsafe {
            ptr::write(
                this,
                Span {
                    free: ptr::null_mut(),
                    bump: start,
                    limit: start + elem * nelems,
                    used: 0,
                    class: class as u8,
                    state,
                    zeroed,
                    elem_size: elem.min(u32::MAX as usize) as u32,
                    start,
                    npages,
                    owner: AtomicUsize::new(0),
                    remote: AtomicUsize::new(0),
                    listed_used: AtomicU32::new(UNLISTED),
                    next: ptr::null_mut(),
                    prev: ptr::null_mut(),
                    ready_next: ptr::null_mut(),
                    special: AtomicPtr::new(ptr::null_mut()),
                    #[cfg(any(debug_assertions, feature = "hardened"))]
                    live_bits: [const { AtomicU64::new(0) }; CHECK_WORDS],
                },
            )
        };
    }

    /// Detaches the span's special record, if any, and frees it through the
    /// registered [`SpecialRelease`] (the span's pages are going back).
    pub fn release_special(&self) {
        if self.special.load(Ordering::Relaxed).is_null() {
            return;
        }
        let rec = self.special.swap(ptr::null_mut(), Ordering::AcqRel);
        let f = SPECIAL_RELEASE.load(Ordering::Acquire);
        if !rec.is_null() && f != 0 {
            // SAFETY: a non-zero SPECIAL_RELEASE is the address of a `SpecialRelease`
            // stored by `set_special_release`.
            let f: SpecialRelease = unsafe { core::mem::transmute::<usize, SpecialRelease>(f) };
            f(rec);
        }
    }

    /// Takes a slot, from the free list first, else from never-used memory.
    /// Returns the slot and whether it is known zero, or null when exhausted.
    #[inline(always)]
    pub fn pop(&mut self) -> (*mut u8, bool) {
        let p = self.pop_free();
        if !p.is_null() {
            return (p, false);
        }
        self.pop_bump()
    }

    /// Takes a slot from the local free list, or null.
    #[inline(always)]
    pub fn pop_free(&mut self) -> *mut u8 {
        let s = self.free;
        if !s.is_null() {
            // SAFETY: slots on the free list are free slots of this span, holding a link.
            self.free = unsafe { (*s).next };
            self.used += 1;
        }
        s.cast()
    }

    /// Takes a never-used slot; returns it and whether it is known zero, or null.
    #[inline]
    pub fn pop_bump(&mut self) -> (*mut u8, bool) {
        if self.bump < self.limit {
            let p = self.bump;
            self.bump += self.elem_size as usize;
            self.used += 1;
            (p as *mut u8, self.zeroed)
        } else {
            (ptr::null_mut(), false)
        }
    }

    /// Returns a slot to the free list (holder only; thread caches keep the free list
    /// of their current span themselves, so this serves tests).
    #[cfg(test)]
    /// # Safety
    /// `p` must be an allocated slot of this span.
    #[inline(always)]
    pub unsafe fn push_local(&mut self, p: *mut u8) {
        let s = p.cast::<Slot>();
        // SAFETY: the slot is ours again and at least 8 bytes, 8-aligned.
        unsafe { (*s).next = self.free };
        self.free = s;
        self.used -= 1;
    }

    #[cfg(test)]
    /// Pushes a slot onto the remote list (any thread). Returns true when the span was
    /// parked full, in which case the caller must hand it to the central list's ready
    /// stack: it is the only one told.
    ///
    /// # Safety
    /// `p` must be an allocated slot of this span; the caller must not touch the span
    /// after this returns false (its holder may release it at once).
    #[inline]
    pub unsafe fn push_remote(&self, p: *mut u8) -> bool {
        // SAFETY: forwarded: a chain of one.
        unsafe { self.push_remote_chain(p, p, 1).0 }
    }

    /// Pushes a chain of `n` slots `head ..= tail` (linked through their first words)
    /// onto the remote list with one CAS. Returns what [`Span::push_remote`] returns
    /// and the number of remote frees now pending (see [`Span::emptied_by`]).
    ///
    /// # Safety
    /// Every slot of the chain must be an allocated slot of this span; the caller must
    /// not touch the span after this returns false, but for reading its atomics (span
    /// records are never unmapped, so they stay readable if recycled).
    #[inline]
    pub unsafe fn push_remote_chain(
        &self,
        head: *mut u8,
        tail: *mut u8,
        n: usize,
    ) -> (bool, usize) {
        let tail = tail.cast::<Slot>();
        let mut old = self.remote.load(Ordering::Relaxed);
        loop {
            // SAFETY: the chain is ours until the CAS below publishes it.
            unsafe { (*tail).next = (old & REMOTE_PTR) as *mut Slot };
            let count = (old >> REMOTE_COUNT_SHIFT) + n;
            let new = (count << REMOTE_COUNT_SHIFT) | head as usize;
            // SeqCst, with the central list's store of `listed_used` and load of the
            // pending count: of a freer and a central list racing, one sees the other,
            // so a span's last free is never missed by both.
            match self
                .remote
                .compare_exchange_weak(old, new, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return (old & REMOTE_FULL != 0, count),
                Err(now) => old = now,
            }
        }
    }

    /// Moves every remotely freed slot onto the local free list (holder only) and
    /// returns how many there were. The count travels in the remote word, so only a
    /// non-empty local free list needs the chain walked (to splice it).
    pub fn collect_remote(&mut self) -> u32 {
        if self.remote.load(Ordering::Relaxed) & REMOTE_PTR == 0 {
            return 0;
        }
        let word = self.remote.swap(0, Ordering::Acquire);
        let head = (word & REMOTE_PTR) as *mut Slot;
        if head.is_null() {
            return 0;
        }
        let n = (word >> REMOTE_COUNT_SHIFT) as u32;
        if !self.free.is_null() {
            let mut tail = head;
            // SAFETY: the list was published with Release by push_remote_chain and
            // taken whole by the swap; its slots are free slots of this span.
            unsafe {
                while !(*tail).next.is_null() {
                    tail = (*tail).next;
                }
                (*tail).next = self.free;
            }
        }
        self.free = head;
        self.used -= n;
        n
    }

    /// Remote frees pending (pushed and not yet collected).
    pub fn remote_pending(&self) -> usize {
        self.remote.load(Ordering::SeqCst) >> REMOTE_COUNT_SHIFT
    }

    /// Whether a push that left `pending` remote frees may have freed the span's last
    /// slot while a central list holds it. A hint, read without the lock: the central
    /// list checks again under it.
    #[inline]
    pub fn emptied_by(&self, pending: usize) -> bool {
        pending == self.listed_used.load(Ordering::SeqCst) as usize
    }

    /// Parks an exhausted span: sets [`REMOTE_FULL`] unless remote frees already
    /// arrived. Returns true when parked.
    pub fn park_full(&self) -> bool {
        self.remote
            .compare_exchange(0, REMOTE_FULL, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// True when no slot is free to the holder (remote frees not counted).
    #[inline]
    pub fn exhausted(&self) -> bool {
        self.free.is_null() && self.bump >= self.limit
    }

    /// Hardened check: marks slot `p` allocated.
    #[inline(always)]
    pub fn mark_live(&self, _p: *mut u8) {
        #[cfg(any(debug_assertions, feature = "hardened"))]
        if self.class != 0 {
            let i = (_p as usize - self.start) / self.elem_size as usize;
            let old = self.live_bits[i / 64].fetch_or(1 << (i % 64), Ordering::Relaxed);
            if old & (1 << (i % 64)) != 0 {
                crate::os::fatal("slot handed out twice (heap corrupted) at", _p as usize);
            }
        }
    }

    /// Hardened check: `p` must be the start of an allocated slot; marks it free.
    /// Aborts with the address otherwise.
    #[inline(always)]
    pub fn check_free(&self, p: *mut u8) {
        let a = p as usize;
        if a < self.start || a >= self.limit {
            crate::os::fatal("free of a pointer spanprof never handed out:", a);
        }
        #[cfg(any(debug_assertions, feature = "hardened"))]
        if self.class != 0 {
            let off = a - self.start;
            if !off.is_multiple_of(self.elem_size as usize) {
                crate::os::fatal("free of a pointer spanprof never handed out:", a);
            }
            let i = off / self.elem_size as usize;
            let old = self.live_bits[i / 64].fetch_and(!(1 << (i % 64)), Ordering::Relaxed);
            if old & (1 << (i % 64)) == 0 {
                crate::os::fatal("double free (or free of a never-allocated slot) at", a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::size_class::{PAGE_SIZE, class_of, span_objects};

    fn with_span(class: usize, f: impl FnOnce(&mut Span)) {
        let mut mem = vec![0u64; PAGE_SIZE * 10 / 8];
        let mut rec = core::mem::MaybeUninit::<Span>::uninit();
        // SAFETY: rec is exclusively ours; mem outlives the span.
        unsafe {
            Span::init(
                rec.as_mut_ptr(),
                mem.as_mut_ptr() as usize,
                crate::size_class::span_pages(class),
                class,
                true,
            );
            f(&mut *rec.as_mut_ptr());
        }
    }

    #[test]
    fn hands_out_every_slot_once_then_reuses_frees() {
        let class = class_of(32).unwrap();
        with_span(class, |s| {
            let mut got = Vec::new();
            loop {
                let (p, zero) = s.pop();
                if p.is_null() {
                    break;
                }
                assert!(zero);
                s.mark_live(p);
                got.push(p as usize);
            }
            assert_eq!(got.len(), span_objects(class));
            assert!(s.exhausted());
            let mut sorted = got.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), got.len());
            // SAFETY: each pointer is an allocated slot of s.
            unsafe {
                s.check_free(got[3] as *mut u8);
                s.push_local(got[3] as *mut u8);
                s.check_free(got[7] as *mut u8);
                assert!(!s.push_remote(got[7] as *mut u8));
            }
            assert_eq!(s.used as usize, span_objects(class) - 1);
            assert_eq!(s.collect_remote(), 1);
            assert_eq!(s.used as usize, span_objects(class) - 2);
            let (a, za) = s.pop();
            let (b, _) = s.pop();
            assert!(!za);
            let mut two = [a as usize, b as usize];
            two.sort();
            assert_eq!(two, [got[3], got[7]]);
        });
    }

    #[test]
    fn parking_reports_the_first_remote_free() {
        with_span(class_of(64).unwrap(), |s| {
            let (p, _) = s.pop();
            let (q, _) = s.pop();
            assert!(s.park_full());
            // SAFETY: p and q are allocated slots of s.
            unsafe {
                assert!(
                    s.push_remote(p),
                    "first remote free after parking tells the caller"
                );
                assert!(!s.push_remote(q));
            }
            assert!(!s.park_full(), "cannot park with remote frees pending");
            assert_eq!(s.collect_remote(), 2);
            assert_eq!(s.remote.load(Ordering::Relaxed), 0);
        });
    }
}
