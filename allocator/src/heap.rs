//! The heap as a whole (Go's `mheap_`, with its `central` array and the registry
//! of `mcache`s).
//!
//! A [`Heap`] ties the core together: the arena index and page heap
//! (`pageheap.rs`), one central list per size class (`central.rs`), and the registry
//! of thread caches (`cache.rs`) with the totals of caches that are gone. It is the
//! [`SpanSource`] of its central lists and the [`CentralLists`] of its thread caches,
//! so neither of those names it. Small requests go to a thread cache, large ones to
//! the page heap; the caller (the entry points in `malloc.rs`, or a
//! [`CacheHandle`]) has already decided the size class and, for a large object, the
//! page count. Threads without a cache (during thread teardown) share one *orphan*
//! cache behind a lock. The global allocator uses one static `Heap`; tests build their
//! own and drive caches by hand through [`CacheHandle`]. The static heap alone lets
//! the background scavenger (`scavenger.rs`) work on it: the heap wakes it whenever
//! pages come back and serves its batches of 64 KiB quanta
//! (`Heap::scavenge_background`). Large objects are resized here without a copy when
//! the page heap can grow or shrink them where they lie (`Heap::resize_large`).
//!
//! Every object is on one of two sets of books: the program's, or spanprof's own
//! (the entry points decide which, see `malloc.rs`). Small objects are counted by the
//! cache they go through, which is a program cache or a profiler cache (the
//! `profiler` flag of `ThreadCache`); large objects in [`Heap::large`] or
//! [`Heap::large_prof`]. [`Heap::stats`] reports the program's books as the figures
//! and spanprof's apart, so no figure mixes the two. This file, like the rest of the
//! core, never names the profiler.

use core::alloc::Layout;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::cache::{CacheCounts, CentralLists, ThreadCache};
use crate::central::{Central, SpanSource};
use crate::fixalloc::FixAlloc;
use crate::lock::SpinLock;
use crate::os;
use crate::pageheap::{self, ArenaIndex, HeapCounters, HeapEvent, PageHeap, SCAVENGE_AGE};
use crate::region;
use crate::scavenger::{self, Work};
use crate::size_class::{NUM_CLASSES, PAGE_SIZE, class_for, class_size, large_pages, span_pages};
use crate::span::{Span, SpanState};
use crate::stats::{ClassStats, HeapStats, LargeStats, ProfilerStats, Stats};

/// The registry of live thread caches plus the counts of retired ones.
#[derive(Debug)]
pub struct Registry {
    head: *mut ThreadCache,
    pool: FixAlloc,
    /// Counters folded in from flushed program caches.
    retired: [CacheCounts; NUM_CLASSES],
    /// The same, from flushed profiler caches.
    retired_prof: [CacheCounts; NUM_CLASSES],
    /// Program caches alive (profiler caches are not threads of their own).
    live: usize,
}

// SAFETY: cache records are process-wide; access is under the registry lock.
unsafe impl Send for Registry {}

/// The heap's counters of the large-object path, one set per books (what
/// [`LargeStats`] snapshots; the profile's serialized `format::LargeCounters` is
/// another thing).
#[derive(Debug)]
pub struct LargeObjectCounters {
    pub allocs: AtomicU64,
    pub frees: AtomicU64,
    pub bytes_allocated: AtomicU64,
    pub bytes_freed: AtomicU64,
    /// Bytes asked for, kept up to date by in-place reallocations (which add a
    /// two's-complement delta when they shrink: the sum wraps back).
    pub requested_bytes: AtomicU64,
}

impl LargeObjectCounters {
    const fn new() -> Self {
        LargeObjectCounters {
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
    pub(crate) large: LargeObjectCounters,
    /// Large objects on the profiler's books.
    pub(crate) large_prof: LargeObjectCounters,
    /// Metadata mapped by others for this heap's caches (the entry points' per-thread
    /// records), counted in `HeapStats::metadata_bytes`.
    extra_metadata: AtomicU64,
}

// SAFETY: every mutable part is behind a lock or atomic.
unsafe impl Sync for Heap {}

impl SpanSource for Heap {
    fn alloc_span(&self, class: usize) -> Option<NonNull<Span>> {
        let index = self.index_or_init()?;
        let mut pages = self.pages.lock();
        pages.alloc_span(index, &self.counters, span_pages(class), 1, class)
    }

    unsafe fn free_span(&self, span: *mut Span) {
        let Some(index) = self.index() else { return };
        // SAFETY: forwarded from the caller.
        unsafe { self.pages.lock().free_span(index, &self.counters, span) };
        scavenger::wake(self.counters.heap_free.load(Ordering::Relaxed));
    }
}

impl CentralLists for Heap {
    #[inline]
    fn cache_span(&self, class: usize, owner: usize) -> Option<*mut Span> {
        self.central[class].cache_span(owner, self, class)
    }

    #[inline]
    unsafe fn uncache_span(&self, class: usize, span: *mut Span) {
        // SAFETY: forwarded from the caller.
        unsafe { self.central[class].uncache_span(span, self) }
    }

    #[inline]
    unsafe fn unparked(&self, class: usize, span: *mut Span) {
        // SAFETY: forwarded from the caller.
        unsafe { self.central[class].notify(span) }
    }

    #[inline]
    unsafe fn emptied(&self, class: usize, span: *mut Span) {
        // SAFETY: forwarded from the caller.
        unsafe { self.central[class].reclaim(span, class, self) }
    }

    #[inline(always)]
    fn span_of(&self, addr: usize) -> *mut Span {
        pageheap::span_of(self.index.load(Ordering::Acquire), addr)
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
                retired: [CacheCounts {
                    allocs: 0,
                    frees: 0,
                    refills: 0,
                    remote_frees: 0,
                }; NUM_CLASSES],
                retired_prof: [CacheCounts {
                    allocs: 0,
                    frees: 0,
                    refills: 0,
                    remote_frees: 0,
                }; NUM_CLASSES],
                live: 0,
            }),
            orphan: SpinLock::new(ptr::null_mut()),
            orphan_prof: SpinLock::new(ptr::null_mut()),
            large: LargeObjectCounters::new(),
            large_prof: LargeObjectCounters::new(),
            extra_metadata: AtomicU64::new(0),
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
        let p = pageheap::new_index()?;
        self.index.store(p, Ordering::Release);
        // SAFETY: just mapped and published; the mapping lives forever.
        let index = unsafe { &*p };
        Some(index)
    }

    /// A new thread cache from the registry's own pool, registered for snapshots: a
    /// program cache, or with `profiler` a profiler cache. `None` when out of memory.
    pub(crate) fn new_cache(&self, profiler: bool) -> Option<*mut ThreadCache> {
        let c = self
            .registry
            .lock()
            .pool
            .alloc()?
            .as_ptr()
            .cast::<ThreadCache>();
        // SAFETY: a fresh zeroed record from the pool, ours alone.
        unsafe { self.register(c, profiler) };
        Some(c)
    }

    /// Registers a cache record that lives elsewhere (the entry points keep each
    /// thread's cache inside their per-thread record) for snapshots.
    ///
    /// # Safety
    /// `c` must be a zeroed `ThreadCache` record, not registered, that stays valid
    /// until [`Heap::unregister`].
    pub(crate) unsafe fn register(&self, c: *mut ThreadCache, profiler: bool) {
        let mut reg = self.registry.lock();
        // SAFETY: a zeroed record is a valid empty cache (null spans, zero counters);
        // we link it in under the registry lock.
        unsafe {
            (*c).profiler = profiler;
            (*c).prev = ptr::null_mut();
            (*c).next = reg.head;
            if !reg.head.is_null() {
                (*reg.head).prev = c;
            }
        }
        reg.head = c;
        reg.live += usize::from(!profiler);
    }

    /// Counts `bytes` of metadata mapped outside the heap for its caches (the two's
    /// complement of the bytes when some went back: the sum wraps).
    pub(crate) fn note_metadata(&self, bytes: u64) {
        self.extra_metadata.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Whether objects going through `cache` are on the profiler's books.
    #[inline]
    fn books(cache: *mut ThreadCache) -> bool {
        // SAFETY: a non-null cache passed in is the calling thread's own (or an
        // orphan cache under its lock).
        !cache.is_null() && unsafe { (*cache).profiler }
    }

    /// Flushes a registered cache's spans, folds its counters into the totals and
    /// unlinks it; the record itself stays its owner's.
    ///
    /// # Safety
    /// `c` must be registered with this heap and never be used again by anyone else.
    pub(crate) unsafe fn unregister(&self, c: *mut ThreadCache) {
        // SAFETY: the caller gives us the cache.
        let cache = unsafe { &mut *c };
        let profiler = cache.profiler;
        cache.flush(self);
        let mut reg = self.registry.lock();
        let reg = &mut *reg;
        let retired = if profiler {
            &mut reg.retired_prof
        } else {
            &mut reg.retired
        };
        for (class, row) in retired.iter_mut().enumerate().skip(1) {
            row.add(&cache.counts(class));
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
        }
        reg.live -= usize::from(!profiler);
    }

    /// Unregisters a cache made by [`Heap::new_cache`] and frees its record.
    ///
    /// # Safety
    /// `c` must come from `new_cache` of this heap and never be used again.
    pub(crate) unsafe fn retire_cache(&self, c: *mut ThreadCache) {
        // SAFETY: forwarded.
        unsafe { self.unregister(c) };
        // SAFETY: the record came from the pool and is unlinked.
        unsafe {
            self.registry
                .lock()
                .pool
                .free(NonNull::new_unchecked(c.cast()))
        };
    }

    /// Allocates `layout` through `cache` (null = the orphan cache), deciding its class
    /// here: the path of a [`CacheHandle`]. Returns null when out of memory, and whether
    /// the memory is known to be zero. The object is on the books of `cache`.
    #[inline(always)]
    pub(crate) fn alloc_with(&self, cache: *mut ThreadCache, layout: Layout) -> (*mut u8, bool) {
        let class = class_for(layout.size(), layout.align());
        if class == 0 {
            return self.alloc_large(cache, layout, large_pages(layout.size().max(1)));
        }
        self.alloc_small(cache, class)
    }

    /// A slot of `class` (non-zero) through `cache` (null = the orphan cache).
    #[inline(always)]
    pub(crate) fn alloc_small(&self, cache: *mut ThreadCache, class: usize) -> (*mut u8, bool) {
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

    /// Counts an object of small `class` allocated (or, `free`, freed) outside the
    /// spans (a block of the apart region) on the program's books: through `cache`,
    /// the calling thread's own, or the program's orphan cache when it is null.
    pub(crate) fn count_apart(&self, cache: *mut ThreadCache, class: usize, free: bool) {
        // SAFETY: a non-null cache passed in is the calling thread's own.
        if let Some(c) = unsafe { cache.as_ref() } {
            return c.count_apart(class, free);
        }
        let mut orphan = self.orphan_of(false).lock();
        if orphan.is_null()
            && let Some(c) = self.new_cache(false)
        {
            *orphan = c;
        }
        // SAFETY: the orphan cache is only used under its lock, which we hold.
        if let Some(c) = unsafe { orphan.as_ref() } {
            c.count_apart(class, free);
        }
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

    /// Resizes the large object at `p` (allocated with `layout`, through `cache` or
    /// null = none) to `new_size` bytes, also large, without copying: in its arena
    /// when the following pages are free (or giving the tail back), or with `mremap`
    /// for a mapping of its own, which may move it. Returns the object's address, or
    /// null (nothing changed) when that cannot be done. Counted on the books of
    /// `cache`: the page-rounded bytes as allocated (or freed) bytes, the requested
    /// bytes as an in-place resize; the object counts do not change.
    ///
    /// # Safety
    /// `p` must be a live large object of this heap allocated with `layout`, and the
    /// caller must be its only user.
    pub(crate) unsafe fn resize_large(
        &self,
        cache: *mut ThreadCache,
        p: *mut u8,
        layout: Layout,
        new_size: usize,
    ) -> *mut u8 {
        let s = CentralLists::span_of(self, p as usize);
        let Some(index) = self.index() else {
            return ptr::null_mut();
        };
        // SAFETY: a non-null span_of result is a live record.
        if s.is_null() || unsafe { (*s).state != SpanState::Large || (*s).start != p as usize } {
            return ptr::null_mut();
        }
        let (old, new) = (large_pages(layout.size()), large_pages(new_size));
        // SAFETY: s is the live large span of p, which the caller alone uses.
        let moved = unsafe {
            self.pages
                .lock()
                .resize_large(index, &self.counters, s, new, layout.align())
        };
        let Some(start) = moved else {
            return ptr::null_mut();
        };
        let profiler = Self::books(cache);
        let large = if profiler {
            &self.large_prof
        } else {
            &self.large
        };
        let (grown, shrunk) = (new.saturating_sub(old), old.saturating_sub(new));
        let (grown, shrunk) = ((grown * PAGE_SIZE) as u64, (shrunk * PAGE_SIZE) as u64);
        large.bytes_allocated.fetch_add(grown, Ordering::Relaxed);
        large.bytes_freed.fetch_add(shrunk, Ordering::Relaxed);
        self.resized_large(profiler, layout.size(), new_size);
        // SAFETY: a non-null cache is the calling thread's own.
        if let Some(c) = unsafe { cache.as_ref() } {
            c.large.resized(grown, shrunk);
        }
        start as *mut u8
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
            let s = CentralLists::span_of(self, p as usize);
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

    /// A large object of `npages` pages (decided by the caller from `layout`) through
    /// `cache` (null = no cache), on the books of `cache`; counted once for the heap and
    /// once for the cache (which `measure` reads).
    pub(crate) fn alloc_large(
        &self,
        cache: *mut ThreadCache,
        layout: Layout,
        npages: usize,
    ) -> (*mut u8, bool) {
        let r = self.alloc_pages(layout, npages, Self::books(cache));
        // SAFETY: a non-null cache is the calling thread's own.
        if let Some(c) = unsafe { cache.as_ref() }
            && !r.0.is_null()
        {
            c.large.alloc((npages * PAGE_SIZE) as u64);
        }
        r
    }

    fn alloc_pages(&self, layout: Layout, npages: usize, profiler: bool) -> (*mut u8, bool) {
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
            unsafe { self.free_span(span.as_ptr()) };
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
        let s = CentralLists::span_of(self, p as usize);
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
        unsafe { self.free_span(s) };
        bytes
    }

    /// Lets the background scavenger (`scavenger.rs`) work on this heap: the global
    /// heap only, hence `'static`. The thread itself starts once enough is free.
    pub(crate) fn enable_scavenger(&'static self) {
        scavenger::enable(self as *const Heap as usize, Self::scavenge_background);
    }

    /// One batch of background scavenging on the heap at `ctx`: 64 KiB quanta, each
    /// under the heap lock, until `budget_ns` is spent or nothing old enough is left.
    fn scavenge_background(ctx: usize, budget_ns: u64) -> Work {
        // SAFETY: ctx is the address `enable_scavenger` registered, of a `'static` heap.
        let heap = unsafe { &*(ctx as *const Heap) };
        let mut work = Work::default();
        let Some(index) = heap.index() else {
            return work;
        };
        let t0 = os::now_ns();
        {
            let mut pages = heap.pages.lock();
            work.busy = pages.take_busy();
            pages.flush_cached_if_old(index, &heap.counters, SCAVENGE_AGE);
        }
        loop {
            let quantum = heap
                .pages
                .lock()
                .scavenge_quantum(&heap.counters, SCAVENGE_AGE);
            match quantum {
                Ok(bytes) => work.released += bytes,
                Err(young) => {
                    work.waiting = young;
                    return work;
                }
            }
            if os::now_ns().saturating_sub(t0) >= budget_ns {
                return work;
            }
        }
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
        let (cache_bytes, live_caches) = self.read_caches(&mut classes, &mut prof);
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
        Stats {
            classes,
            large: self.large.snapshot(),
            heap: self.heap_stats(cache_bytes, live_caches),
            profiler: self.profiler_stats(&prof),
        }
    }

    /// Sums the counters of live and retired caches into `classes` (program caches)
    /// and `prof` (profiler caches), frees before allocations; returns the bytes the
    /// cache records take and the number of program caches alive.
    fn read_caches(
        &self,
        classes: &mut [ClassStats; NUM_CLASSES],
        prof: &mut [ClassStats; NUM_CLASSES],
    ) -> (u64, u64) {
        let reg = self.registry.lock();
        let read = |field: fn(&CacheCounts) -> u64, class: usize, profiler: bool| {
            let retired = if profiler {
                &reg.retired_prof
            } else {
                &reg.retired
            };
            let mut sum = field(&retired[class]);
            let mut v = reg.head;
            // SAFETY: registry links are valid while we hold its lock.
            while let Some(c) = unsafe { v.as_ref() } {
                if c.profiler == profiler {
                    sum += field(&c.counts(class));
                }
                v = c.next;
            }
            sum
        };
        for (profiler, out) in [(false, classes), (true, prof)] {
            for (class, cs) in out.iter_mut().enumerate().skip(1) {
                cs.frees = read(|k| k.frees, class, profiler);
                cs.remote_frees = read(|k| k.remote_frees, class, profiler);
            }
            for (class, cs) in out.iter_mut().enumerate().skip(1) {
                cs.allocs = read(|k| k.allocs, class, profiler);
                cs.refills = read(|k| k.refills, class, profiler);
            }
        }
        (reg.pool.mapped as u64, reg.live as u64)
    }

    /// Spanprof's own objects: the profiler caches' classes `prof` and its large
    /// objects, summed.
    fn profiler_stats(&self, prof: &[ClassStats; NUM_CLASSES]) -> ProfilerStats {
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
        profiler
    }

    /// The page heap's figures, with the metadata of the cache records.
    fn heap_stats(&self, cache_bytes: u64, live_caches: u64) -> HeapStats {
        let c = &self.counters;
        let (apart_mapped, apart_in_use) = region::footprint();
        HeapStats {
            arenas_mapped: c.arenas_mapped.load(Ordering::Relaxed),
            bytes_mapped: c.bytes_mapped.load(Ordering::Relaxed) + apart_mapped,
            bytes_in_use: c.pages_in_use.load(Ordering::Relaxed) * PAGE_SIZE as u64 + apart_in_use,
            bytes_scavenged: c.bytes_scavenged.load(Ordering::Relaxed),
            scavenge_runs: c.scavenge_runs.load(Ordering::Relaxed),
            direct_mappings: c.direct_mappings.load(Ordering::Relaxed),
            metadata_bytes: c.metadata_bytes.load(Ordering::Relaxed)
                + cache_bytes
                + self.extra_metadata.load(Ordering::Relaxed),
            thread_caches: live_caches,
        }
    }

    /// The page heap's growth and scavenging events.
    pub(crate) fn events(&self) -> ([HeapEvent; 512], usize) {
        let pages = self.pages.lock();
        let e = pages.events();
        let mut out = [HeapEvent::default(); 512];
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
