//! The page heap: 64 MiB arenas reserved from the OS, cut into page runs for spans
//! and large objects (Go's `mheap` and `heapArena`).
//!
//! Each arena keeps a bitmap of free pages, so freed runs coalesce with their
//! neighbours for free (runs are found first fit, oldest arena first, so pages freed
//! and still resident are reused before a newer arena's untouched ones), and a map
//! from each page to its span record, which makes `span_of` (any pointer → its span)
//! two loads with no lock. The arena index (one
//! entry per 64 MiB of address space) is the only structure read without the heap
//! lock. Central lists ask for spans here when they have no free slots left; large
//! objects come straight here. Pages that stay free for about a second are scavenged:
//! returned to the OS with `madvise` and handed out again later (they come back
//! zeroed). The background scavenger (`scavenger.rs`, Go's `bgscavenge`) asks for
//! them one 64 KiB quantum at a time ([`PageHeap::scavenge_quantum`]); while it does
//! not run (switched off, or not started yet) the heap's own frees release them every
//! tick, and [`PageHeap::scavenge`] releases everything at once for
//! `release_free_memory`. The free and released bytes are kept as Go's `heapFree`
//! and `heapReleased`. Objects larger than an arena get a mapping of their own, at
//! any alignment; it grows and shrinks with `mremap`.

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::fixalloc::FixAlloc;
use crate::os;
use crate::scavenger;
use crate::size_class::{PAGE_SHIFT, PAGE_SIZE};
use crate::span::{Span, SpanState};

/// log2 of the arena size.
pub const ARENA_SHIFT: usize = 26;
/// 64 MiB.
pub const ARENA_SIZE: usize = 1 << ARENA_SHIFT;
/// Pages per arena.
pub const ARENA_PAGES: usize = ARENA_SIZE / PAGE_SIZE;
const WORDS: usize = ARENA_PAGES / 64;
/// User-space addresses on x86-64 and aarch64 Linux fit in 47 bits (48-bit VA).
const ADDR_BITS: usize = 48;
/// Entries in the arena index.
pub const INDEX_LEN: usize = 1 << (ADDR_BITS - ARENA_SHIFT);

/// Tick of the heap's own scavenging (when the background scavenger does not run).
const SCAVENGE_PERIOD_NS: u64 = 500_000_000;
/// Page ages are kept in epochs of 2^27 ns (134 ms), 16 bits (wrapping after 2.4 h).
const EPOCH_SHIFT: u32 = 27;
/// Pages free for this many epochs (1.07 s) are scavenged.
pub const SCAVENGE_AGE: u16 = 8;
/// Pages released per quantum of background scavenging (64 KiB, Go's
/// `scavengeQuantum`).
const QUANTUM_PAGES: usize = 65536 / PAGE_SIZE;

/// The current epoch (see [`EPOCH_SHIFT`]).
fn epoch_now() -> u16 {
    (os::now_ns() >> EPOCH_SHIFT) as u16
}

/// Per-arena metadata (mapped separately from the arena itself).
pub struct HeapArena {
    base: usize,
    /// Page → span record.
    spans: [AtomicPtr<Span>; ARENA_PAGES],
    /// 1 = page is free.
    free: [u64; WORDS],
    /// 1 = page was returned to the OS (zero, not resident); meaningful for free pages.
    scavenged: [u64; WORDS],
    /// Epoch at which each page was last freed.
    freed_at: [u16; ARENA_PAGES],
    free_pages: usize,
    /// Every page below this one is in use.
    hint: usize,
    /// The shortest run the last searches found missing (0 = none known): a search for
    /// at least that many pages skips the arena until pages come back to it.
    no_run: usize,
    next: *mut HeapArena,
    /// Length of a dedicated mapping for one huge object, or 0 for a normal arena.
    direct_len: usize,
}

/// The arena index: address >> 26 → arena metadata.
pub type ArenaIndex = [AtomicPtr<HeapArena>; INDEX_LEN];

/// Heap-growth and scavenging figures (read without the lock).
#[derive(Debug, Default)]
pub struct HeapCounters {
    pub arenas_mapped: AtomicU64,
    pub bytes_mapped: AtomicU64,
    pub pages_in_use: AtomicU64,
    pub bytes_scavenged: AtomicU64,
    pub scavenge_runs: AtomicU64,
    /// Bytes in free pages that are still resident (Go's `heapFree`); written under
    /// the heap lock only.
    pub heap_free: AtomicU64,
    /// Bytes in free pages returned to the OS (Go's `heapReleased`).
    pub heap_released: AtomicU64,
    pub direct_mappings: AtomicU64,
    pub metadata_bytes: AtomicU64,
}

impl HeapCounters {
    pub const fn new() -> Self {
        HeapCounters {
            arenas_mapped: AtomicU64::new(0),
            bytes_mapped: AtomicU64::new(0),
            pages_in_use: AtomicU64::new(0),
            bytes_scavenged: AtomicU64::new(0),
            scavenge_runs: AtomicU64::new(0),
            heap_free: AtomicU64::new(0),
            heap_released: AtomicU64::new(0),
            direct_mappings: AtomicU64::new(0),
            metadata_bytes: AtomicU64::new(0),
        }
    }
}

/// The page heap proper (lives behind the heap lock).
#[derive(Debug)]
pub struct PageHeap {
    arenas: *mut HeapArena,
    spans: FixAlloc,
    last_tick: u64,
    /// Page allocations and frees so far, and the count the background scavenger saw
    /// last (it paces itself harder while they move).
    ops: u64,
    ops_seen: u64,
    /// Where the background scavenger's pass stands: an arena (null = the first) and
    /// a page in it; and whether the pass so far saw free pages too young to release.
    cursor: (*mut HeapArena, usize),
    pass_young: bool,
    /// Epoch of the last span put in the span cache.
    cached_epoch: u16,
    /// Freed spans of up to `CACHED_MAX_PAGES` pages kept whole, by length, so that
    /// churn of same-sized spans (large objects, span turnover) skips the bitmap
    /// search. Flushed to the bitmap every scavenger tick.
    cached: [*mut Span; CACHED_MAX_PAGES + 1],
    cached_pages: usize,
    /// Heap growth and scavenging, oldest first (the first `EVENTS` are kept).
    events: [HeapEvent; EVENTS],
    nevents: usize,
}

/// Events the page heap remembers.
const EVENTS: usize = 512;

/// A moment the heap grew or shrank.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeapEvent {
    /// Monotonic clock, nanoseconds.
    pub at_ns: u64,
    /// 0 = arena mapped, 1 = huge object mapped, 2 = pages scavenged.
    pub kind: u8,
    pub bytes: u64,
}

/// Longest span kept in the span cache (512 KiB).
const CACHED_MAX_PAGES: usize = 64;
/// The span cache holds at most an eighth of the pages in use, plus this many, so it
/// adds little to the resident set of a small heap.
const CACHED_SLACK: usize = 32;

// SAFETY: all pointers are to process-wide mappings; access is under the heap lock.
unsafe impl Send for PageHeap {}

fn bit(words: &[u64; WORDS], i: usize) -> bool {
    free_at(words, i)
}

fn set_bits(words: &mut [u64; WORDS], from: usize, n: usize, on: bool) {
    for i in from..from + n {
        if let Some(w) = words.get_mut(i / 64) {
            if on {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }
}

/// Bit `i` of `words`, false past the end.
fn free_at(words: &[u64; WORDS], i: usize) -> bool {
    words.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

/// The first page at or after `i` whose bit is `want`, or `ARENA_PAGES`.
fn next_with(words: &[u64; WORDS], mut i: usize, want: bool) -> usize {
    while let Some(&w) = words.get(i / 64) {
        let w = if want { w } else { !w } >> (i % 64);
        if w != 0 {
            return (i + w.trailing_zeros() as usize).min(ARENA_PAGES);
        }
        i = (i / 64 + 1) * 64;
    }
    ARENA_PAGES
}

/// First run of `n` free pages at or after `from` whose start is a multiple of
/// `align` pages (a power of two). Also returns the first free page seen, for the
/// search hint. Never panics: every index is checked.
pub fn find_run(
    free: &[u64; WORDS],
    from: usize,
    n: usize,
    align: usize,
) -> (Option<usize>, usize) {
    let align = align.max(1);
    let n = n.max(1);
    let first_free = next_with(free, from, true);
    let mut i = first_free;
    while i.saturating_add(n) <= ARENA_PAGES {
        let start = i.next_multiple_of(align);
        if start != i {
            i = next_with(free, start, true);
            continue;
        }
        // The run starting at i ends at the next used page.
        let end = next_with(free, i, false);
        if end - i >= n {
            return (Some(i), first_free);
        }
        i = next_with(free, end, true);
    }
    (None, first_free)
}

impl PageHeap {
    pub const fn new() -> Self {
        PageHeap {
            arenas: ptr::null_mut(),
            spans: FixAlloc::new(core::mem::size_of::<Span>()),
            last_tick: 0,
            ops: 0,
            ops_seen: 0,
            cursor: (ptr::null_mut(), 0),
            pass_young: false,
            cached_epoch: 0,
            cached: [ptr::null_mut(); CACHED_MAX_PAGES + 1],
            cached_pages: 0,
            events: [HeapEvent {
                at_ns: 0,
                kind: 0,
                bytes: 0,
            }; EVENTS],
            nevents: 0,
        }
    }

    /// A span of `npages` pages starting on a multiple of `align_pages`, cut for
    /// `class`, mapped page by page in the index. `None` when the OS is out of memory.
    pub fn alloc_span(
        &mut self,
        index: &ArenaIndex,
        counters: &HeapCounters,
        npages: usize,
        align_pages: usize,
        class: usize,
    ) -> Option<NonNull<Span>> {
        if npages > ARENA_PAGES || align_pages > ARENA_PAGES {
            return self.alloc_direct(index, counters, npages, align_pages);
        }
        self.ops += 1;
        if align_pages <= 1 && npages <= CACHED_MAX_PAGES && !self.cached[npages].is_null() {
            return self.take_cached(counters, npages, class);
        }
        let (arena, first) = match self.find(npages, align_pages) {
            Some(found) => found,
            None if self.cached_pages > 0 => {
                // Spans kept whole for their own length may coalesce into this run:
                // better than growing the heap.
                self.flush_cached(index, counters);
                self.find_or_grow(index, counters, npages, align_pages)?
            }
            None => self.find_or_grow(index, counters, npages, align_pages)?,
        };
        let rec = self.spans.alloc()?.cast::<Span>();
        // SAFETY: `arena` is live metadata found above, exclusively ours under the lock.
        let a = unsafe { &mut *arena };
        let released = (first..first + npages)
            .filter(|&p| bit(&a.scavenged, p))
            .count();
        let zeroed = released == npages;
        take_free(counters, npages - released, released);
        set_bits(&mut a.free, first, npages, false);
        set_bits(&mut a.scavenged, first, npages, false);
        a.free_pages -= npages;
        let start = a.base + (first << PAGE_SHIFT);
        // SAFETY: rec is a fresh record from our metadata pool.
        unsafe { Span::init(rec.as_ptr(), start, npages, class, zeroed) };
        for p in first..first + npages {
            a.spans[p].store(rec.as_ptr(), Ordering::Release);
        }
        counters
            .pages_in_use
            .fetch_add(npages as u64, Ordering::Relaxed);
        counters
            .metadata_bytes
            .store(self.spans.mapped as u64, Ordering::Relaxed);
        Some(rec)
    }

    /// A span of `npages` from the span cache, cut for `class`.
    fn take_cached(
        &mut self,
        counters: &HeapCounters,
        npages: usize,
        class: usize,
    ) -> Option<NonNull<Span>> {
        let rec = self.cached[npages];
        // SAFETY: cached spans are whole, dead records whose pages (still mapped
        // to the record) nobody uses.
        unsafe {
            self.cached[npages] = (*rec).next;
            Span::init(rec, (*rec).start, npages, class, false);
        }
        self.cached_pages -= npages;
        counters
            .pages_in_use
            .fetch_add(npages as u64, Ordering::Relaxed);
        sub(&counters.heap_free, npages * PAGE_SIZE);
        NonNull::new(rec)
    }

    fn event(&mut self, kind: u8, bytes: u64) {
        if self.nevents < EVENTS {
            self.events[self.nevents] = HeapEvent {
                at_ns: os::now_ns(),
                kind,
                bytes,
            };
            self.nevents += 1;
        }
    }

    /// The events recorded so far.
    pub fn events(&self) -> &[HeapEvent] {
        &self.events[..self.nevents]
    }

    fn find_or_grow(
        &mut self,
        index: &ArenaIndex,
        counters: &HeapCounters,
        npages: usize,
        align: usize,
    ) -> Option<(*mut HeapArena, usize)> {
        if let Some(found) = self.find(npages, align) {
            return Some(found);
        }
        self.grow(index, counters)?;
        self.find(npages, align)
    }

    fn find(&mut self, npages: usize, align: usize) -> Option<(*mut HeapArena, usize)> {
        let mut a = self.arenas;
        while !a.is_null() {
            // SAFETY: arena metadata on our list stays mapped while it is listed.
            let arena = unsafe { &mut *a };
            let may_fit = arena.no_run == 0 || npages < arena.no_run;
            if arena.free_pages >= npages && may_fit {
                let (found, first_free) = find_run(&arena.free, arena.hint, npages, align);
                if first_free < ARENA_PAGES {
                    arena.hint = first_free;
                }
                if let Some(p) = found {
                    return Some((a, p));
                }
                if align <= 1 {
                    arena.no_run = npages;
                }
            }
            a = arena.next;
        }
        None
    }

    /// Maps one more arena and registers it.
    fn grow(&mut self, index: &ArenaIndex, counters: &HeapCounters) -> Option<()> {
        let base = os::map_aligned(ARENA_SIZE, ARENA_SIZE)?.as_ptr() as usize;
        let Some(meta) = new_arena_meta(base, 0) else {
            // SAFETY: base is the arena we just mapped and nobody has seen it.
            unsafe { os::unmap(base as *mut u8, ARENA_SIZE) };
            return None;
        };
        // SAFETY: meta is freshly mapped metadata, ours alone.
        let m = unsafe { &mut *meta };
        m.free = [u64::MAX; WORDS];
        m.scavenged = [u64::MAX; WORDS];
        m.free_pages = ARENA_PAGES;
        // Appended: first fit then searches the oldest arenas first, so pages freed
        // there (resident) are reused before a newer arena's never-touched pages.
        let mut link = &mut self.arenas;
        // SAFETY: listed arenas stay mapped and are ours under the heap lock.
        while let Some(a) = unsafe { link.as_mut() } {
            link = &mut a.next;
        }
        *link = meta;
        index[base >> ARENA_SHIFT].store(meta, Ordering::Release);
        counters.arenas_mapped.fetch_add(1, Ordering::Relaxed);
        self.event(0, ARENA_SIZE as u64);
        counters
            .bytes_mapped
            .fetch_add(ARENA_SIZE as u64, Ordering::Relaxed);
        Some(())
    }

    /// A huge object in a mapping of its own, registered in the index.
    fn alloc_direct(
        &mut self,
        index: &ArenaIndex,
        counters: &HeapCounters,
        npages: usize,
        align_pages: usize,
    ) -> Option<NonNull<Span>> {
        let len = npages
            .checked_mul(PAGE_SIZE)?
            .checked_next_multiple_of(ARENA_SIZE)?;
        // Any alignment: the mapping is reserved that much larger and trimmed.
        let align = align_pages.checked_mul(PAGE_SIZE)?.max(ARENA_SIZE);
        let base = os::map_aligned(len, align)?.as_ptr() as usize;
        let Some(meta) = new_arena_meta(base, len) else {
            // SAFETY: the mapping was made above and never shared.
            unsafe { os::unmap(base as *mut u8, len) };
            return None;
        };
        let Some(rec) = self.spans.alloc() else {
            // SAFETY: both mappings were made above and never shared.
            unsafe {
                os::unmap(meta.cast(), meta_len());
                os::unmap(base as *mut u8, len);
            }
            return None;
        };
        let rec = rec.cast::<Span>();
        // SAFETY: fresh record; fresh metadata.
        unsafe {
            Span::init(rec.as_ptr(), base, npages, 0, true);
            (*meta).spans[0].store(rec.as_ptr(), Ordering::Release);
        }
        index[base >> ARENA_SHIFT].store(meta, Ordering::Release);
        counters.direct_mappings.fetch_add(1, Ordering::Relaxed);
        self.event(1, len as u64);
        counters
            .bytes_mapped
            .fetch_add(len as u64, Ordering::Relaxed);
        counters
            .pages_in_use
            .fetch_add(npages as u64, Ordering::Relaxed);
        Some(rec)
    }

    /// Resizes the large object of `span` to `npages` pages where it lies: in its arena
    /// when the pages after it are free (a shrink gives its tail back), or with
    /// `mremap` for a mapping of its own (moved, if it must, to another place aligned to
    /// `align` bytes and an arena, so the page map finds it). Returns the object's
    /// start, or `None` (nothing changed) when it cannot.
    ///
    /// # Safety
    /// `span` must be a live large span of this heap held by the caller.
    pub unsafe fn resize_large(
        &mut self,
        index: &ArenaIndex,
        counters: &HeapCounters,
        span: *mut Span,
        npages: usize,
        align: usize,
    ) -> Option<usize> {
        // SAFETY: the caller holds the span.
        let (old, old_start) = unsafe { ((*span).npages, (*span).start) };
        let meta = index[old_start >> ARENA_SHIFT].load(Ordering::Acquire);
        // SAFETY: a live span's arena is registered and stays mapped.
        let start = if unsafe { (*meta).direct_len } != 0 {
            // SAFETY: the span is the mapping's one object, held by the caller.
            unsafe { self.remap_direct(index, counters, meta, (old_start, old), npages, align)? }
        } else {
            // SAFETY: as above; an arena's metadata is ours under the heap lock.
            let a = unsafe { &mut *meta };
            if npages > old {
                grow_in_arena(counters, a, span, npages)?
            } else {
                shrink_in_arena(counters, a, old_start, old, npages);
                old_start
            }
        };
        self.ops += 1;
        // SAFETY: the caller holds the span.
        let s = unsafe { &mut *span };
        s.npages = npages;
        s.elem_size = (npages * PAGE_SIZE).min(u32::MAX as usize) as u32;
        // As `Span::init` lays out a large object: one slot of the whole span.
        s.start = start;
        s.bump = start;
        s.limit = start + npages * PAGE_SIZE;
        if npages >= old {
            counters
                .pages_in_use
                .fetch_add((npages - old) as u64, Ordering::Relaxed);
        } else {
            counters
                .pages_in_use
                .fetch_sub((old - npages) as u64, Ordering::Relaxed);
        }
        Some(start)
    }

    /// Grows or shrinks the mapping `meta` of one large object to hold `npages`: in
    /// place when the address space after it allows, else moved by the kernel (no
    /// copy) to a fresh reservation aligned to `align` and an arena.
    ///
    /// # Safety
    /// `meta` must be the registered metadata of the dedicated mapping of the object
    /// at `old_start`, of `old` pages, held by the caller.
    unsafe fn remap_direct(
        &mut self,
        index: &ArenaIndex,
        counters: &HeapCounters,
        meta: *mut HeapArena,
        (old_start, old): (usize, usize),
        npages: usize,
        align: usize,
    ) -> Option<usize> {
        // SAFETY: the caller's promise.
        let a = unsafe { &mut *meta };
        let len = npages
            .checked_mul(PAGE_SIZE)?
            .checked_next_multiple_of(ARENA_SIZE)?;
        let old_len = a.direct_len;
        // SAFETY: [old_start, +old_len) is the object's own mapping.
        let start = match unsafe { os::remap_in_place(old_start as *mut u8, old_len, len) } {
            true => old_start,
            false => {
                let dst = os::map_aligned(len, align.max(ARENA_SIZE))?.as_ptr();
                // SAFETY: as above; dst is a reservation of ours that nobody uses.
                match unsafe { os::remap_to(old_start as *mut u8, old_len, len, dst) } {
                    true => dst as usize,
                    false => {
                        // SAFETY: the reservation made above, unused.
                        unsafe { os::unmap(dst, len) };
                        return None;
                    }
                }
            }
        };
        if start != old_start {
            index[old_start >> ARENA_SHIFT].store(ptr::null_mut(), Ordering::Release);
            a.base = start;
            index[start >> ARENA_SHIFT].store(meta, Ordering::Release);
        }
        a.direct_len = len;
        if npages < old {
            // The mapping is arena-sized: the part past the object goes back too.
            let end = start + npages * PAGE_SIZE;
            let old_end = (start + old * PAGE_SIZE).min(start + len);
            // SAFETY: past the object's end, inside its own mapping: no live data.
            unsafe { os::release(end as *mut u8, old_end - end) };
        }
        counters
            .bytes_mapped
            .fetch_add((len as u64).wrapping_sub(old_len as u64), Ordering::Relaxed);
        Some(start)
    }

    /// Returns a span's pages to the heap (or its mapping to the OS) and its record to
    /// the metadata pool; short spans wait whole in the span cache first.
    ///
    /// # Safety
    /// `span` must come from this heap, be held by the caller and never used again.
    pub unsafe fn free_span(
        &mut self,
        index: &ArenaIndex,
        counters: &HeapCounters,
        span: *mut Span,
    ) {
        // SAFETY: the caller holds the span.
        let s = unsafe { &mut *span };
        // Whatever hangs off the span goes with it (see `span.rs`, "Specials").
        s.release_special();
        self.ops += 1;
        // A mapping of its own (any size: a huge alignment, or a huge object shrunk in
        // place) is unmapped whole; its pages never join the arenas' free pages or the
        // span cache, whose records must have every page in the page map.
        let direct = {
            let meta = index[s.start >> ARENA_SHIFT].load(Ordering::Acquire);
            // SAFETY: a live span's arena is registered and stays mapped.
            unsafe { (*meta).direct_len != 0 }
        };
        if !direct {
            add(&counters.heap_free, s.npages * PAGE_SIZE);
        }
        let now = os::now_ns();
        let in_use = counters.pages_in_use.load(Ordering::Relaxed) as usize;
        if !direct
            && s.npages <= CACHED_MAX_PAGES
            && self.cached_pages + s.npages <= in_use / 8 + CACHED_SLACK
        {
            // The page map keeps pointing at the dead record, so a second free of the
            // same object is still recognised.
            s.state = SpanState::Dead;
            s.next = self.cached[s.npages];
            self.cached[s.npages] = span;
            self.cached_pages += s.npages;
            self.cached_epoch = (now >> EPOCH_SHIFT) as u16;
            counters
                .pages_in_use
                .fetch_sub(s.npages as u64, Ordering::Relaxed);
            self.tick(index, counters, now);
            return;
        }
        counters
            .pages_in_use
            .fetch_sub(s.npages as u64, Ordering::Relaxed);
        // SAFETY: forwarded.
        unsafe { self.release_span(index, counters, span, (now >> EPOCH_SHIFT) as u16) };
        self.tick(index, counters, now);
    }

    /// Empties the span cache into the bitmaps. Its pages count as freed when the
    /// last span went in (none is younger).
    pub fn flush_cached(&mut self, index: &ArenaIndex, counters: &HeapCounters) {
        let freed_at = self.cached_epoch;
        for n in 1..=CACHED_MAX_PAGES {
            while !self.cached[n].is_null() {
                let s = self.cached[n];
                // SAFETY: cached spans are dead records held by the page heap.
                self.cached[n] = unsafe { (*s).next };
                // SAFETY: as above.
                unsafe { self.release_span(index, counters, s, freed_at) };
            }
        }
        self.cached_pages = 0;
    }

    /// Gives a dead span's pages, free since epoch `freed_at`, to the bitmap (or its
    /// mapping to the OS) and its record to the metadata pool.
    ///
    /// # Safety
    /// `span` must be a record of this heap that nobody uses any more.
    unsafe fn release_span(
        &mut self,
        index: &ArenaIndex,
        counters: &HeapCounters,
        span: *mut Span,
        freed_at: u16,
    ) {
        // SAFETY: the caller gives us the span.
        let s = unsafe { &mut *span };
        let meta = index[s.start >> ARENA_SHIFT].load(Ordering::Acquire);
        // SAFETY: a live span's arena is registered and stays mapped.
        let a = unsafe { &mut *meta };
        s.state = SpanState::Dead;
        if a.direct_len != 0 {
            index[s.start >> ARENA_SHIFT].store(ptr::null_mut(), Ordering::Release);
            counters
                .bytes_mapped
                .fetch_sub(a.direct_len as u64, Ordering::Relaxed);
            // SAFETY: the direct mapping and its metadata belong to this span alone.
            unsafe {
                os::unmap(s.start as *mut u8, a.direct_len);
                os::unmap(meta.cast(), meta_len());
            }
        } else {
            let first = (s.start - a.base) >> PAGE_SHIFT;
            for p in first..first + s.npages {
                a.spans[p].store(ptr::null_mut(), Ordering::Release);
                a.freed_at[p] = freed_at;
            }
            set_bits(&mut a.free, first, s.npages, true);
            a.free_pages += s.npages;
            a.hint = a.hint.min(first);
            a.no_run = 0;
        }
        // SAFETY: the record came from our pool and is dead now.
        unsafe { self.spans.free(NonNull::new_unchecked(span.cast())) };
    }

    /// On a new tick, empties the span cache and, unless the background scavenger
    /// runs, returns long-free pages.
    fn tick(&mut self, index: &ArenaIndex, counters: &HeapCounters, now: u64) {
        if now.saturating_sub(self.last_tick) < SCAVENGE_PERIOD_NS {
            return;
        }
        self.last_tick = now;
        if scavenger::running() {
            self.flush_cached(index, counters);
        } else {
            self.scavenge(index, counters, SCAVENGE_AGE);
        }
    }

    /// Returns to the OS every free page freed at least `min_age` ticks ago (0 = all
    /// free pages, including the span cache). Returns the bytes released.
    pub fn scavenge(&mut self, index: &ArenaIndex, counters: &HeapCounters, min_age: u16) -> usize {
        self.flush_cached(index, counters);
        let now = epoch_now();
        let mut released = 0;
        let mut a = self.arenas;
        while !a.is_null() {
            // SAFETY: listed arenas stay mapped.
            let arena = unsafe { &mut *a };
            let mut p = 0;
            let mut young = false;
            while let Some((start, n)) =
                next_eligible(arena, p, ARENA_PAGES, (now, min_age), &mut young)
            {
                released += release_run(arena, start, n);
                p = start + n;
            }
            a = arena.next;
        }
        self.released(counters, released);
        released
    }

    /// Counts `bytes` just released to the OS.
    fn released(&mut self, counters: &HeapCounters, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.event(2, bytes as u64);
        counters
            .bytes_scavenged
            .fetch_add(bytes as u64, Ordering::Relaxed);
        counters.scavenge_runs.fetch_add(1, Ordering::Relaxed);
        sub(&counters.heap_free, bytes);
        add(&counters.heap_released, bytes);
    }

    /// One quantum of background scavenging: releases up to 64 KiB of pages free for
    /// at least `min_age` epochs, resuming where the last quantum stopped. Returns the
    /// bytes released, or `None` when the pass is over (the next call starts another),
    /// with whether that pass saw free pages too young to release.
    pub fn scavenge_quantum(
        &mut self,
        counters: &HeapCounters,
        min_age: u16,
    ) -> Result<usize, bool> {
        let now = epoch_now();
        if self.cached_pages > 0 && now.wrapping_sub(self.cached_epoch) < min_age {
            self.pass_young = true;
        }
        let (mut a, mut p) = self.cursor;
        if a.is_null() {
            a = self.arenas;
            p = 0;
        }
        while !a.is_null() {
            // SAFETY: listed arenas stay mapped; the cursor only holds listed arenas.
            let arena = unsafe { &mut *a };
            let found = next_eligible(
                arena,
                p,
                QUANTUM_PAGES,
                (now, min_age),
                &mut self.pass_young,
            );
            if let Some((start, n)) = found {
                let bytes = release_run(arena, start, n);
                self.cursor = (a, start + n);
                self.released(counters, bytes);
                return Ok(bytes);
            }
            a = arena.next;
            p = 0;
        }
        self.cursor = (ptr::null_mut(), 0);
        Err(core::mem::take(&mut self.pass_young))
    }

    /// Whether pages were allocated or freed since the last call.
    pub fn take_busy(&mut self) -> bool {
        let busy = self.ops != self.ops_seen;
        self.ops_seen = self.ops;
        busy
    }

    /// Empties the span cache when its last span went in at least `min_age` epochs
    /// ago (the background scavenger cannot release pages the cache holds).
    pub fn flush_cached_if_old(
        &mut self,
        index: &ArenaIndex,
        counters: &HeapCounters,
        min_age: u16,
    ) {
        if self.cached_pages > 0 && epoch_now().wrapping_sub(self.cached_epoch) >= min_age {
            self.flush_cached(index, counters);
        }
    }
}

/// Takes the free pages after `span` up to `npages` in all, if they are free.
fn grow_in_arena(
    counters: &HeapCounters,
    a: &mut HeapArena,
    span: *mut Span,
    npages: usize,
) -> Option<usize> {
    // SAFETY: the caller holds the span.
    let (start, old) = unsafe { ((*span).start, (*span).npages) };
    let end = ((start - a.base) >> PAGE_SHIFT) + old;
    let more = npages - old;
    if end + more > ARENA_PAGES || next_with(&a.free, end, false) < end + more {
        return None;
    }
    let released = (end..end + more).filter(|&p| bit(&a.scavenged, p)).count();
    take_free(counters, more - released, released);
    set_bits(&mut a.free, end, more, false);
    set_bits(&mut a.scavenged, end, more, false);
    a.free_pages -= more;
    for p in end..end + more {
        a.spans[p].store(span, Ordering::Release);
    }
    Some(start)
}

/// Gives the pages of `s` past `npages` back to the arena's bitmap.
fn shrink_in_arena(
    counters: &HeapCounters,
    a: &mut HeapArena,
    start: usize,
    old: usize,
    npages: usize,
) {
    let first = ((start - a.base) >> PAGE_SHIFT) + npages;
    let n = old - npages;
    let now = epoch_now();
    for p in first..first + n {
        a.spans[p].store(ptr::null_mut(), Ordering::Release);
        a.freed_at[p] = now;
    }
    set_bits(&mut a.free, first, n, true);
    a.free_pages += n;
    a.hint = a.hint.min(first);
    a.no_run = 0;
    add(&counters.heap_free, n * PAGE_SIZE);
}

/// Adds `n` to a counter only the heap lock's holder writes (a plain add, no locked
/// instruction: readers without the lock only need a recent value).
fn add(c: &AtomicU64, n: usize) {
    c.store(
        c.load(Ordering::Relaxed).wrapping_add(n as u64),
        Ordering::Relaxed,
    );
}

/// Subtracts `n`; see [`add`].
fn sub(c: &AtomicU64, n: usize) {
    c.store(
        c.load(Ordering::Relaxed).wrapping_sub(n as u64),
        Ordering::Relaxed,
    );
}

/// Counts `dirty` resident and `released` scavenged free pages taken for a span.
fn take_free(counters: &HeapCounters, dirty: usize, released: usize) {
    sub(&counters.heap_free, dirty * PAGE_SIZE);
    sub(&counters.heap_released, released * PAGE_SIZE);
}

/// Whether page `p` of `a` is free, resident, and free for `min_age` epochs at `now`.
fn eligible(a: &HeapArena, p: usize, now: u16, min_age: u16) -> bool {
    bit(&a.free, p) && !bit(&a.scavenged, p) && now.wrapping_sub(a.freed_at[p]) >= min_age
}

/// The first run (at most `max` pages) of pages at or after `p` that may be released;
/// sets `young` when it passes free resident pages too young for that.
fn next_eligible(
    a: &HeapArena,
    mut p: usize,
    max: usize,
    (now, min_age): (u16, u16),
    young: &mut bool,
) -> Option<(usize, usize)> {
    while p < ARENA_PAGES {
        let w = p / 64;
        if (a.free[w] & !a.scavenged[w]) >> (p % 64) == 0 {
            p = (w + 1) * 64;
            continue;
        }
        if !eligible(a, p, now, min_age) {
            *young |= bit(&a.free, p) && !bit(&a.scavenged, p);
            p += 1;
            continue;
        }
        let start = p;
        while p < ARENA_PAGES && p - start < max && eligible(a, p, now, min_age) {
            p += 1;
        }
        return Some((start, p - start));
    }
    None
}

/// Returns `n` free pages of `a` from `start` to the OS; the bytes released.
fn release_run(a: &mut HeapArena, start: usize, n: usize) -> usize {
    // SAFETY: the pages are free (no live data) and inside our arena.
    if unsafe { os::release((a.base + (start << PAGE_SHIFT)) as *mut u8, n * PAGE_SIZE) } {
        set_bits(&mut a.scavenged, start, n, true);
        n * PAGE_SIZE
    } else {
        0
    }
}

fn meta_len() -> usize {
    core::mem::size_of::<HeapArena>().next_multiple_of(4096)
}

fn new_arena_meta(base: usize, direct_len: usize) -> Option<*mut HeapArena> {
    let meta = os::map(meta_len())?.as_ptr().cast::<HeapArena>();
    // SAFETY: fresh zeroed mapping large enough for a HeapArena; all-zero is a valid
    // HeapArena (null pointers, empty bitmaps), then the fields we need are set.
    unsafe {
        (*meta).base = base;
        (*meta).direct_len = direct_len;
    }
    Some(meta)
}

/// Maps the arena index (16 MiB of address space, touched only where arenas live).
pub fn new_index() -> Option<*mut ArenaIndex> {
    Some(os::map(core::mem::size_of::<ArenaIndex>())?.as_ptr().cast())
}

/// The span holding `addr`, or null for an address spanprof does not manage.
#[inline(always)]
pub fn span_of(index: *const ArenaIndex, addr: usize) -> *mut Span {
    let i = addr >> ARENA_SHIFT;
    if index.is_null() || i >= INDEX_LEN {
        return ptr::null_mut();
    }
    // SAFETY: index is a live mapping of INDEX_LEN entries and i is in range.
    let meta = unsafe { (*index).get_unchecked(i) }.load(Ordering::Acquire);
    if meta.is_null() {
        return ptr::null_mut();
    }
    let page = (addr >> PAGE_SHIFT) & (ARENA_PAGES - 1);
    // SAFETY: registered metadata stays mapped while registered; page < ARENA_PAGES.
    unsafe { (*meta).spans.get_unchecked(page) }.load(Ordering::Acquire)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(free: &[usize]) -> [u64; WORDS] {
        let mut w = [0u64; WORDS];
        for &p in free {
            w[p / 64] |= 1 << (p % 64);
        }
        w
    }

    #[test]
    fn find_run_agrees_with_a_naive_search() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..300 {
            let mut w = [0u64; WORDS];
            let density = rnd() % 4;
            for word in w.iter_mut() {
                *word = (0..=density).fold(u64::MAX, |acc, _| acc & rnd());
                if round % 7 == 0 {
                    *word = u64::MAX;
                }
            }
            let n = 1 + (rnd() as usize % 300);
            let align = 1 << (rnd() % 8);
            let from = rnd() as usize % ARENA_PAGES;
            let naive = (from..ARENA_PAGES)
                .filter(|&s| s % align == 0 && s + n <= ARENA_PAGES)
                .find(|&s| (s..s + n).all(|p| free_at(&w, p)));
            assert_eq!(
                find_run(&w, from, n, align).0,
                naive,
                "n {n} align {align} from {from}"
            );
        }
    }

    #[test]
    fn find_run_first_fit_with_alignment() {
        let mut free: Vec<usize> = (10..20).collect();
        free.extend(100..300);
        let w = words(&free);
        assert_eq!(find_run(&w, 0, 5, 1), (Some(10), 10));
        assert_eq!(find_run(&w, 0, 10, 1), (Some(10), 10));
        assert_eq!(find_run(&w, 0, 11, 1), (Some(100), 10));
        assert_eq!(find_run(&w, 0, 8, 8).0, Some(104));
        assert_eq!(find_run(&w, 0, 64, 64).0, Some(128));
        assert_eq!(find_run(&w, 0, 201, 1).0, None);
        let all = [u64::MAX; WORDS];
        assert_eq!(find_run(&all, 0, ARENA_PAGES, 1).0, Some(0));
        assert_eq!(find_run(&all, 1, ARENA_PAGES, 1).0, None);
    }

    #[test]
    fn spans_coalesce_and_scavenged_pages_come_back_zeroed() {
        let index = new_index().unwrap();
        // SAFETY: index is a fresh mapping.
        let index = unsafe { &*index };
        let counters = HeapCounters::new();
        let mut h = PageHeap::new();
        let a = h.alloc_span(index, &counters, 3, 1, 0).unwrap().as_ptr();
        let b = h.alloc_span(index, &counters, 5, 1, 0).unwrap().as_ptr();
        // SAFETY: a and b are live spans from h.
        let (sa, sb) = unsafe { ((*a).start, (*b).start) };
        // SAFETY: a is a live span.
        let zeroed = unsafe { (*a).zeroed };
        assert!(zeroed);
        assert_eq!(sb, sa + 3 * PAGE_SIZE);
        assert_eq!(span_of(index, sa + 2 * PAGE_SIZE + 17), a);
        assert_eq!(span_of(index, sb + 4 * PAGE_SIZE), b);
        assert_eq!(counters.arenas_mapped.load(Ordering::Relaxed), 1);
        // SAFETY: the spans are ours; the pages are writable.
        unsafe {
            (sb as *mut u8).write(9);
            h.free_span(index, &counters, a);
            h.free_span(index, &counters, b);
        }
        // Freed spans wait whole in the span cache: a same-sized request reuses one.
        let again = h.alloc_span(index, &counters, 5, 1, 0).unwrap().as_ptr();
        assert_eq!(again, b);
        // SAFETY: again is live.
        unsafe {
            assert!(!(*again).zeroed, "a reused span is dirty");
            h.free_span(index, &counters, again);
        }
        h.flush_cached(index, &counters);
        assert!(span_of(index, sa).is_null());
        // The two runs coalesced: 8 pages fit at the start again, dirty.
        let c = h.alloc_span(index, &counters, 8, 1, 0).unwrap().as_ptr();
        // SAFETY: c is live.
        unsafe {
            assert_eq!((*c).start, sa);
            assert!(!(*c).zeroed);
            h.free_span(index, &counters, c);
        }
        assert!(h.scavenge(index, &counters, 0) >= 8 * PAGE_SIZE);
        let d = h.alloc_span(index, &counters, 8, 1, 0).unwrap().as_ptr();
        // SAFETY: d is live and its pages are mapped.
        unsafe {
            assert_eq!((*d).start, sa);
            assert!((*d).zeroed);
            assert_eq!(((*d).start as *const u8).add(3 * PAGE_SIZE).read(), 0);
        }
        assert!(counters.bytes_scavenged.load(Ordering::Relaxed) >= 8 * PAGE_SIZE as u64);
    }

    #[test]
    fn huge_objects_get_their_own_mapping() {
        let index = new_index().unwrap();
        // SAFETY: fresh mapping.
        let index = unsafe { &*index };
        let counters = HeapCounters::new();
        let mut h = PageHeap::new();
        let n = ARENA_PAGES + 10;
        let s = h.alloc_span(index, &counters, n, 1, 0).unwrap().as_ptr();
        // SAFETY: s is live.
        let start = unsafe { (*s).start };
        assert_eq!(span_of(index, start), s);
        // SAFETY: s is ours; every page is mapped.
        unsafe {
            ((start + n * PAGE_SIZE - 1) as *mut u8).write(1);
            h.free_span(index, &counters, s);
        }
        assert!(span_of(index, start).is_null());
        assert_eq!(counters.pages_in_use.load(Ordering::Relaxed), 0);
    }
}
