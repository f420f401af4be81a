//! The heap as a whole, and the entry points every allocation goes through
//! (Go's `malloc.go`).
//!
//! A [`Heap`] ties the parts together: the arena index and page heap (`heap.rs`),
//! one central list per size class (`central.rs`), and the registry of thread caches
//! (`cache.rs`) with the totals of caches that are gone. Small requests go to a
//! thread cache, large ones to the page heap. The global allocator (`lib.rs`) uses
//! one static `Heap` with a cache per thread; tests can build their own `Heap` and
//! drive caches by hand through [`CacheHandle`]. Threads without a cache (during
//! thread teardown) share one *orphan* cache behind a lock.
//!
//! Every object is on one of two sets of books: the program's, or the profiler's
//! (spanprof's own allocations, see `profile/hooks.rs`). Small objects are counted by
//! the cache they go through, which is a program cache or a profiler cache (the
//! `profiler` flag of `ThreadCache`); large objects in [`Heap::large`] or
//! [`Heap::large_prof`]. [`Heap::stats`] reports the program's books as the figures
//! and the profiler's apart, so no figure mixes the two.

use core::alloc::Layout;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::cache::ThreadCache;
use crate::central::{Central, SpanSource};
use crate::fixalloc::FixAlloc;
use crate::heap::{self, ArenaIndex, HeapCounters, PageHeap};
use crate::lock::SpinLock;
use crate::size_class::{NUM_CLASSES, PAGE_SIZE, class_for, class_size, large_pages, span_pages};
use crate::span::{Span, SpanState};
use crate::stats::{ClassStats, HeapStats, LargeStats, ProfilerStats, Stats};

/// The registry of live thread caches plus the counts of retired ones.
#[derive(Debug)]
pub struct Registry {
    head: *mut ThreadCache,
    pool: FixAlloc,
    /// Counters folded in from flushed program caches: allocs, frees, refills, remote
    /// frees.
    retired: [[u64; 4]; NUM_CLASSES],
    /// The same, from flushed profiler caches.
    retired_prof: [[u64; 4]; NUM_CLASSES],
    /// Program caches alive (profiler caches are not threads of their own).
    live: usize,
}

// SAFETY: cache records are process-wide; access is under the registry lock.
unsafe impl Send for Registry {}

/// Counters of the large-object path (one set per books).
#[derive(Debug)]
pub struct LargeCounters {
    pub allocs: AtomicU64,
    pub frees: AtomicU64,
    pub bytes_allocated: AtomicU64,
    pub bytes_freed: AtomicU64,
    /// Bytes asked for, kept up to date by in-place reallocations (which add a
    /// two's-complement delta when they shrink: the sum wraps back).
    pub requested_bytes: AtomicU64,
}

impl LargeCounters {
    const fn new() -> Self {
        LargeCounters {
            allocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            bytes_allocated: AtomicU64::new(0),
            bytes_freed: AtomicU64::new(0),
            requested_bytes: AtomicU64::new(0),
        }
    }

    /// A snapshot; frees are read before allocations, so `allocs >= frees`.
    fn snapshot(&self) -> LargeStats {
        let frees = self.frees.load(Ordering::Acquire);
        let bytes_freed = self.bytes_freed.load(Ordering::Acquire);
        LargeStats {
            allocs: self.allocs.load(Ordering::Acquire),
            frees,
            bytes_allocated: self.bytes_allocated.load(Ordering::Acquire),
            bytes_freed,
            requested_bytes: self.requested_bytes.load(Ordering::Acquire),
        }
    }
}

/// A complete heap: page heap, central lists, thread-cache registry.
#[derive(Debug)]
pub struct Heap {
    index: AtomicPtr<ArenaIndex>,
    pub(crate) pages: SpinLock<PageHeap>,
    pub(crate) counters: HeapCounters,
    pub(crate) central: [Central; NUM_CLASSES],
    pub(crate) registry: SpinLock<Registry>,
    pub(crate) orphan: SpinLock<*mut ThreadCache>,
    /// The orphan cache for the profiler's objects (freed by threads without a cache).
    pub(crate) orphan_prof: SpinLock<*mut ThreadCache>,
    /// Large objects on the program's books.
    pub(crate) large: LargeCounters,
    /// Large objects on the profiler's books.
    pub(crate) large_prof: LargeCounters,
}

// SAFETY: every mutable part is behind a lock or atomic.
unsafe impl Sync for Heap {}

impl SpanSource for Heap {
    fn new_span(&self, class: usize) -> Option<NonNull<Span>> {
        let index = self.index_or_init()?;
        let mut pages = self.pages.lock();
        pages.alloc_span(index, &self.counters, span_pages(class), 1, class)
    }

    unsafe fn return_span(&self, span: *mut Span) {
        let Some(index) = self.index() else { return };
        // SAFETY: forwarded from the caller.
        unsafe { self.pages.lock().free_span(index, &self.counters, span) };
    }
}

impl Default for Heap {
    fn default() -> Self {
        Self::new()
    }
}

impl Heap {
    /// An empty heap. Maps nothing until the first allocation.
    pub const fn new() -> Self {
        Heap {
            index: AtomicPtr::new(ptr::null_mut()),
            pages: SpinLock::new(PageHeap::new()),
            counters: HeapCounters::new(),
            central: [const { Central::new() }; NUM_CLASSES],
            registry: SpinLock::new(Registry {
                head: ptr::null_mut(),
                pool: FixAlloc::new(core::mem::size_of::<ThreadCache>()),
                retired: [[0; 4]; NUM_CLASSES],
                retired_prof: [[0; 4]; NUM_CLASSES],
                live: 0,
            }),
            orphan: SpinLock::new(ptr::null_mut()),
            orphan_prof: SpinLock::new(ptr::null_mut()),
            large: LargeCounters::new(),
            large_prof: LargeCounters::new(),
        }
    }

    fn index(&self) -> Option<&ArenaIndex> {
        let p = self.index.load(Ordering::Acquire);
        // SAFETY: non-null means published, and the index mapping lives forever.
        unsafe { p.as_ref() }
    }

    fn index_or_init(&self) -> Option<&ArenaIndex> {
        if let Some(i) = self.index() {
            return Some(i);
        }
        let _pages = self.pages.lock();
        if let Some(i) = self.index() {
            return Some(i);
        }
        let p = heap::new_index()?;
        self.index.store(p, Ordering::Release);
        // SAFETY: just mapped and published; the mapping lives forever.
        let index = unsafe { &*p };
        Some(index)
    }

    /// The span holding `addr`, or null.
    #[inline(always)]
    pub(crate) fn span_of(&self, addr: usize) -> *mut Span {
        heap::span_of(self.index.load(Ordering::Acquire), addr)
    }

    /// A new thread cache, registered for snapshots: a program cache, or with
    /// `profiler` a profiler cache. `None` when out of memory.
    pub(crate) fn new_cache(&self, profiler: bool) -> Option<*mut ThreadCache> {
        let mut reg = self.registry.lock();
        let c = reg.pool.alloc()?.as_ptr().cast::<ThreadCache>();
        // SAFETY: a zeroed record is a valid empty cache (null spans, zero counters);
        // we link it in under the registry lock.
        unsafe {
            (*c).profiler = profiler;
            (*c).next = reg.head;
            if !reg.head.is_null() {
                (*reg.head).prev = c;
            }
        }
        reg.head = c;
        reg.live += usize::from(!profiler);
        Some(c)
    }

    /// Whether objects going through `cache` are on the profiler's books.
    #[inline]
    fn books(cache: *mut ThreadCache) -> bool {
        // SAFETY: a non-null cache passed in is the calling thread's own (or an
        // orphan cache under its lock).
        !cache.is_null() && unsafe { (*cache).profiler }
    }

    /// Flushes a cache's spans, folds its counters into the totals and frees it.
    ///
    /// # Safety
    /// `c` must come from `new_cache` of this heap and never be used again.
    pub(crate) unsafe fn retire_cache(&self, c: *mut ThreadCache) {
        // SAFETY: the caller gives us the cache.
        let cache = unsafe { &mut *c };
        let profiler = cache.profiler;
        cache.flush(self);
        // SAFETY: the table is the retiring thread's and nobody uses it any more.
        unsafe { crate::profile::counters::retire(cache.prof.table) };
        cache.prof.table = ptr::null_mut();
        let mut reg = self.registry.lock();
        let reg = &mut *reg;
        let retired = if cache.profiler {
            &mut reg.retired_prof
        } else {
            &mut reg.retired
        };
        for (class, row) in retired.iter_mut().enumerate().skip(1) {
            for (r, k) in row.iter_mut().zip(cache.counts(class)) {
                *r += k;
            }
        }
        // SAFETY: registry links are valid under the lock.
        unsafe {
            if !cache.prev.is_null() {
                (*cache.prev).next = cache.next;
            } else {
                reg.head = cache.next;
            }
            if !cache.next.is_null() {
                (*cache.next).prev = cache.prev;
            }
            reg.pool.free(NonNull::new_unchecked(c.cast()));
        }
        reg.live -= usize::from(!profiler);
    }

    /// Allocates `layout` through `cache` (null = the orphan cache). Returns null when
    /// out of memory. Also reports whether the memory is known to be zero. The object
    /// is on the books of `cache` (a profiler cache's are the profiler's).
    #[inline(always)]
    pub(crate) fn alloc_with(&self, cache: *mut ThreadCache, layout: Layout) -> (*mut u8, bool) {
        let class = class_for(layout.size(), layout.align());
        if class == 0 {
            return self.alloc_large_with(cache, layout);
        }
        if cache.is_null() {
            return self.alloc_orphan(class);
        }
        // SAFETY: a non-null cache passed in is the calling thread's own.
        unsafe { (*cache).alloc(self, class) }
    }

    /// Frees `p`, allocated with `layout`, through `cache` (null = the orphan cache),
    /// on the books of `cache`.
    ///
    /// # Safety
    /// `p` must have been allocated from this heap with `layout`.
    #[inline(always)]
    pub(crate) unsafe fn dealloc_with(&self, cache: *mut ThreadCache, p: *mut u8, layout: Layout) {
        let class = class_for(layout.size(), layout.align());
        // SAFETY: forwarded.
        unsafe { self.dealloc_in(cache, Self::books(cache), p, class) }
    }

    /// Frees `p` of `class` through `cache` on the profiler's books when `profiler`,
    /// else on the program's. A null `cache` is the orphan cache of those books.
    ///
    /// # Safety
    /// `p` must have been allocated from this heap with a layout of `class`, and a
    /// non-null `cache` must be the calling thread's own, on the books `profiler` names.
    #[inline(always)]
    pub(crate) unsafe fn dealloc_in(
        &self,
        cache: *mut ThreadCache,
        profiler: bool,
        p: *mut u8,
        class: usize,
    ) {
        if class == 0 {
            // SAFETY: forwarded.
            let bytes = unsafe { self.dealloc_large(p, profiler) };
            // SAFETY: the calling thread's own cache.
            if let Some(c) = unsafe { cache.as_ref() } {
                c.large.free(bytes);
            }
            return;
        }
        if cache.is_null() {
            // SAFETY: forwarded.
            return unsafe { self.dealloc_orphan(p, class, profiler) };
        }
        // SAFETY: the calling thread's own cache; p is a live slot of `class`.
        unsafe { (*cache).free(self, p, class) }
    }

    /// Resizes in place when the new size keeps the same slot (or page count).
    ///
    /// # Safety
    /// As `GlobalAlloc::realloc`.
    pub(crate) unsafe fn realloc_with(
        &self,
        cache: *mut ThreadCache,
        p: *mut u8,
        layout: Layout,
        new_size: usize,
    ) -> *mut u8 {
        if fits_in_place(layout, new_size) {
            if class_for(layout.size(), layout.align()) == 0 {
                self.resized_large(Self::books(cache), layout.size(), new_size);
            }
            return p;
        }
        // SAFETY: align comes from a valid Layout and new_size was checked by the caller.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let (q, _) = self.alloc_with(cache, new_layout);
        if !q.is_null() {
            // SAFETY: both blocks are live and at least min(old, new) bytes long.
            unsafe {
                ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                self.dealloc_with(cache, p, layout);
            }
        }
        q
    }

    /// A large object on the profiler's books (`profiler`) or the program's was
    /// resized in place from `old` to `new` bytes: its requested bytes follow.
    pub(crate) fn resized_large(&self, profiler: bool, old: usize, new: usize) {
        let large = if profiler {
            &self.large_prof
        } else {
            &self.large
        };
        // Wrapping: a shrink adds the two's complement of the difference.
        large
            .requested_bytes
            .fetch_add((new as u64).wrapping_sub(old as u64), Ordering::Relaxed);
    }

    /// The orphan cache of the program's books, or of the profiler's.
    fn orphan_of(&self, profiler: bool) -> &SpinLock<*mut ThreadCache> {
        if profiler {
            &self.orphan_prof
        } else {
            &self.orphan
        }
    }

    fn alloc_orphan(&self, class: usize) -> (*mut u8, bool) {
        let mut orphan = self.orphan.lock();
        if orphan.is_null() {
            match self.new_cache(false) {
                Some(c) => *orphan = c,
                None => return (ptr::null_mut(), false),
            }
        }
        // SAFETY: the orphan cache is only used under its lock, which we hold.
        unsafe { (**orphan).alloc(self, class) }
    }

    unsafe fn dealloc_orphan(&self, p: *mut u8, class: usize, profiler: bool) {
        let mut orphan = self.orphan_of(profiler).lock();
        if orphan.is_null()
            && let Some(c) = self.new_cache(profiler)
        {
            *orphan = c;
        }
        if orphan.is_null() {
            // Out of memory for a cache record: straight to the span, uncounted.
            let s = self.span_of(p as usize);
            if s.is_null() {
                crate::os::fatal("free of a pointer spanprof never handed out:", p as usize);
            }
            // SAFETY: s is p's live span; any thread may push onto its remote list.
            unsafe {
                (*s).check_free(p);
                crate::cache::remote_free(self, s, p, class);
            }
            return;
        }
        // SAFETY: used only under its lock, which we hold; p is a live slot of class.
        unsafe { (**orphan).free(self, p, class) }
    }

    /// A large object through `cache` (null = no cache), on its books.
    fn alloc_large_with(&self, cache: *mut ThreadCache, layout: Layout) -> (*mut u8, bool) {
        let r = self.alloc_large(layout, Self::books(cache));
        // SAFETY: a non-null cache is the calling thread's own.
        let c = unsafe { cache.as_ref() };
        if let Some(c) = c
            && !r.0.is_null()
        {
            c.large
                .alloc((large_pages(layout.size().max(1)) * PAGE_SIZE) as u64);
        }
        r
    }

    fn alloc_large(&self, layout: Layout, profiler: bool) -> (*mut u8, bool) {
        let npages = large_pages(layout.size().max(1));
        let align_pages = layout.align().div_ceil(PAGE_SIZE).max(1);
        let Some(index) = self.index_or_init() else {
            return (ptr::null_mut(), false);
        };
        let span = {
            let mut pages = self.pages.lock();
            pages.alloc_span(index, &self.counters, npages, align_pages, 0)
        };
        let Some(span) = span else {
            return (ptr::null_mut(), false);
        };
        // SAFETY: a fresh large span, ours.
        let (start, zeroed, npages) = unsafe {
            let s = span.as_ptr();
            (*s).state = SpanState::Large;
            ((*s).start, (*s).zeroed, (*s).npages)
        };
        if start % layout.align() != 0 {
            // Alignments beyond an arena: only a direct mapping could serve them.
            // SAFETY: the span is ours and unused.
            unsafe { self.return_span(span.as_ptr()) };
            return (ptr::null_mut(), false);
        }
        let large = if profiler {
            &self.large_prof
        } else {
            &self.large
        };
        large.allocs.fetch_add(1, Ordering::Relaxed);
        large
            .bytes_allocated
            .fetch_add((npages * PAGE_SIZE) as u64, Ordering::Relaxed);
        large
            .requested_bytes
            .fetch_add(layout.size() as u64, Ordering::Relaxed);
        (start as *mut u8, zeroed)
    }

    /// Frees the large object at `p`, on the profiler's books or the program's;
    /// returns its page-rounded size.
    unsafe fn dealloc_large(&self, p: *mut u8, profiler: bool) -> u64 {
        let s = self.span_of(p as usize);
        // SAFETY: a non-null span_of result is a live record.
        if s.is_null() || unsafe { (*s).state != SpanState::Large || (*s).start != p as usize } {
            crate::os::fatal(
                "free of a pointer spanprof never handed out (or a large object freed twice):",
                p as usize,
            );
        }
        // SAFETY: checked above: p is the start of a live large span, now ours.
        let bytes = unsafe { (*s).npages * PAGE_SIZE } as u64;
        let large = if profiler {
            &self.large_prof
        } else {
            &self.large
        };
        large.frees.fetch_add(1, Ordering::Relaxed);
        large.bytes_freed.fetch_add(bytes, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { self.return_span(s) };
        bytes
    }

    /// Returns every entirely free span to the page heap and every free page to the OS
    /// (Go's `debug.FreeOSMemory`). Returns the bytes handed back to the OS.
    pub fn release_free_memory(&self) -> usize {
        for c in &self.central[1..] {
            c.shrink(self);
        }
        let Some(index) = self.index() else { return 0 };
        self.pages.lock().scavenge(index, &self.counters, 0)
    }

    /// A snapshot of every counter: the program's books as the figures, the
    /// profiler's apart (`Stats::profiler`).
    ///
    /// Frees are read before allocations, so for every class `allocs >= frees` even
    /// while other threads run.
    pub fn stats(&self) -> Stats {
        let mut classes = [ClassStats::default(); NUM_CLASSES];
        let mut prof = [ClassStats::default(); NUM_CLASSES];
        let (cache_bytes, live_caches) = {
            let reg = self.registry.lock();
            let caches = || {
                let mut v = reg.head;
                core::iter::from_fn(move || {
                    // SAFETY: registry links are valid while we hold its lock.
                    let c = unsafe { v.as_ref()? };
                    v = c.next;
                    Some(c)
                })
            };
            let read = |slot: usize, class: usize, profiler: bool| {
                let retired = if profiler {
                    &reg.retired_prof
                } else {
                    &reg.retired
                };
                caches()
                    .filter(|c| c.profiler == profiler)
                    .map(|c| c.counts(class)[slot])
                    .sum::<u64>()
                    + retired[class][slot]
            };
            for (profiler, out) in [(false, &mut classes), (true, &mut prof)] {
                for (class, cs) in out.iter_mut().enumerate().skip(1) {
                    cs.frees = read(1, class, profiler);
                    cs.remote_frees = read(3, class, profiler);
                }
                for (class, cs) in out.iter_mut().enumerate().skip(1) {
                    cs.allocs = read(0, class, profiler);
                    cs.refills = read(2, class, profiler);
                }
            }
            (reg.pool.mapped as u64, reg.live as u64)
        };
        for (class, cs) in classes.iter_mut().enumerate().skip(1) {
            let size = class_size(class) as u64;
            cs.class = class;
            cs.size = size as usize;
            cs.bytes_allocated = cs.allocs * size;
            cs.bytes_freed = cs.frees * size;
            cs.live_objects = cs.allocs - cs.frees;
            cs.live_bytes = cs.live_objects * size;
            cs.spans_in_use = self.central[class].spans_in_use.load(Ordering::Relaxed);
        }
        let large = self.large.snapshot();
        let pl = self.large_prof.snapshot();
        let mut profiler = ProfilerStats {
            allocs: pl.allocs,
            frees: pl.frees,
            bytes_allocated: pl.bytes_allocated,
            bytes_freed: pl.bytes_freed,
            refills: 0,
            ..ProfilerStats::default()
        };
        for (class, cs) in prof.iter().enumerate().skip(1) {
            let size = class_size(class) as u64;
            profiler.allocs += cs.allocs;
            profiler.frees += cs.frees;
            profiler.bytes_allocated += cs.allocs * size;
            profiler.bytes_freed += cs.frees * size;
            profiler.refills += cs.refills;
        }
        profiler.live_objects = profiler.allocs - profiler.frees;
        profiler.live_bytes = profiler.bytes_allocated - profiler.bytes_freed;
        let c = &self.counters;
        let heap = HeapStats {
            arenas_mapped: c.arenas_mapped.load(Ordering::Relaxed),
            bytes_mapped: c.bytes_mapped.load(Ordering::Relaxed),
            bytes_in_use: c.pages_in_use.load(Ordering::Relaxed) * PAGE_SIZE as u64,
            bytes_scavenged: c.bytes_scavenged.load(Ordering::Relaxed),
            scavenge_runs: c.scavenge_runs.load(Ordering::Relaxed),
            direct_mappings: c.direct_mappings.load(Ordering::Relaxed),
            metadata_bytes: c.metadata_bytes.load(Ordering::Relaxed) + cache_bytes,
            thread_caches: live_caches,
        };
        Stats {
            classes,
            large,
            heap,
            profiler,
        }
    }

    /// Runs `f` over the per-context tables of live caches (registry lock held).
    pub(crate) fn with_tables<R>(
        &self,
        f: impl FnOnce(&mut dyn Iterator<Item = *mut crate::profile::counters::ThreadTable>) -> R,
    ) -> R {
        let reg = self.registry.lock();
        let mut v = reg.head;
        let mut it = core::iter::from_fn(move || {
            // SAFETY: registry links are valid while we hold its lock.
            let c = unsafe { v.as_ref()? };
            v = c.next;
            Some(c.prof.table)
        });
        f(&mut it)
    }

    /// The page heap's growth and scavenging events.
    pub(crate) fn events(&self) -> ([crate::heap::HeapEvent; 512], usize) {
        let pages = self.pages.lock();
        let e = pages.events();
        let mut out = [crate::heap::HeapEvent::default(); 512];
        out[..e.len()].copy_from_slice(e);
        (out, e.len())
    }

    /// A cache of this heap driven by hand, for tests and embedders that manage
    /// their own threads. `None` when out of memory.
    pub fn cache(&self) -> Option<CacheHandle<'_>> {
        Some(CacheHandle {
            heap: self,
            cache: self.new_cache(false)?,
        })
    }

    /// Locks every lock of the heap (before `fork`).
    pub(crate) fn lock_all(&self) {
        self.orphan.lock_forever();
        self.orphan_prof.lock_forever();
        self.registry.lock_forever();
        for c in &self.central {
            c.partial.lock_forever();
        }
        self.pages.lock_forever();
    }

    /// Unlocks what `lock_all` locked (after `fork`, in parent and child).
    ///
    /// # Safety
    /// Must follow `lock_all` on the same thread.
    pub(crate) unsafe fn unlock_all(&self) {
        // SAFETY: lock_all took every one of these.
        unsafe {
            self.pages.force_unlock();
            for c in &self.central {
                c.partial.force_unlock();
            }
            self.registry.force_unlock();
            self.orphan_prof.force_unlock();
            self.orphan.force_unlock();
        }
    }
}

/// Whether a block of `layout` can become `new_size` bytes where it is: the same
/// slot class, or the same page count for a large object.
#[inline(always)]
pub(crate) fn fits_in_place(layout: Layout, new_size: usize) -> bool {
    let class = class_for(layout.size(), layout.align());
    class == class_for(new_size, layout.align())
        && (class != 0 || large_pages(layout.size()) == large_pages(new_size))
}

/// A thread cache of a [`Heap`] used by hand. Each handle is its own cache: a free
/// through another handle is a remote free. Not `Send`: like a thread cache, it
/// belongs to the thread that made it.
#[derive(Debug)]
pub struct CacheHandle<'h> {
    heap: &'h Heap,
    cache: *mut ThreadCache,
}

impl CacheHandle<'_> {
    /// Allocates `layout`; null when out of memory.
    pub fn alloc(&mut self, layout: Layout) -> *mut u8 {
        self.heap.alloc_with(self.cache, layout).0
    }

    /// Allocates zeroed memory for `layout`; null when out of memory.
    pub fn alloc_zeroed(&mut self, layout: Layout) -> *mut u8 {
        let (p, zero) = self.heap.alloc_with(self.cache, layout);
        if !p.is_null() && !zero {
            // SAFETY: p is a fresh block of at least layout.size() bytes.
            unsafe { ptr::write_bytes(p, 0, layout.size()) };
        }
        p
    }

    /// Frees `p`.
    ///
    /// # Safety
    /// `p` must come from a handle of the same heap, allocated with `layout`, and not
    /// be freed twice.
    pub unsafe fn dealloc(&mut self, p: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { self.heap.dealloc_with(self.cache, p, layout) }
    }

    /// Resizes `p` to `new_size` bytes, in place when the slot allows.
    ///
    /// # Safety
    /// As `GlobalAlloc::realloc`, with `p` from a handle of the same heap.
    pub unsafe fn realloc(&mut self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe { self.heap.realloc_with(self.cache, p, layout, new_size) }
    }
}

impl Drop for CacheHandle<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle owns its cache and is going away.
        unsafe { self.heap.retire_cache(self.cache) };
    }
}
