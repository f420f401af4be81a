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
use crate::stats::{ClassStats, HeapStats, LargeStats, Stats};

/// The registry of live thread caches plus the counts of retired ones.
#[derive(Debug)]
pub struct Registry {
    head: *mut ThreadCache,
    pool: FixAlloc,
    /// Counters folded in from flushed caches: allocs, frees, refills, remote frees.
    retired: [[u64; 4]; NUM_CLASSES],
    live: usize,
}

// SAFETY: cache records are process-wide; access is under the registry lock.
unsafe impl Send for Registry {}

/// Counters of the large-object path.
#[derive(Debug)]
pub struct LargeCounters {
    pub allocs: AtomicU64,
    pub frees: AtomicU64,
    pub bytes_allocated: AtomicU64,
    pub bytes_freed: AtomicU64,
    pub requested_bytes: AtomicU64,
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
    pub(crate) large: LargeCounters,
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
                live: 0,
            }),
            orphan: SpinLock::new(ptr::null_mut()),
            large: LargeCounters {
                allocs: AtomicU64::new(0),
                frees: AtomicU64::new(0),
                bytes_allocated: AtomicU64::new(0),
                bytes_freed: AtomicU64::new(0),
                requested_bytes: AtomicU64::new(0),
            },
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

    /// A new thread cache, registered for snapshots. `None` when out of memory.
    pub(crate) fn new_cache(&self) -> Option<*mut ThreadCache> {
        let mut reg = self.registry.lock();
        let c = reg.pool.alloc()?.as_ptr().cast::<ThreadCache>();
        // SAFETY: a zeroed record is a valid empty cache (null spans, zero counters);
        // we link it in under the registry lock.
        unsafe {
            (*c).next = reg.head;
            if !reg.head.is_null() {
                (*reg.head).prev = c;
            }
        }
        reg.head = c;
        reg.live += 1;
        Some(c)
    }

    /// Flushes a cache's spans, folds its counters into the totals and frees it.
    ///
    /// # Safety
    /// `c` must come from `new_cache` of this heap and never be used again.
    pub(crate) unsafe fn retire_cache(&self, c: *mut ThreadCache) {
        // SAFETY: the caller gives us the cache.
        let cache = unsafe { &mut *c };
        cache.flush(self);
        // SAFETY: the table is the retiring thread's and nobody uses it any more.
        unsafe { crate::profile::counters::retire(cache.prof.table) };
        cache.prof.table = ptr::null_mut();
        let mut reg = self.registry.lock();
        for class in 1..NUM_CLASSES {
            let counts = cache.counts(class);
            for (r, k) in reg.retired[class].iter_mut().zip(counts) {
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
        reg.live -= 1;
    }

    /// Allocates `layout` through `cache` (null = the orphan cache). Returns null when
    /// out of memory. Also reports whether the memory is known to be zero.
    #[inline(always)]
    pub(crate) fn alloc_with(&self, cache: *mut ThreadCache, layout: Layout) -> (*mut u8, bool) {
        let class = class_for(layout.size(), layout.align());
        if class == 0 {
            return self.alloc_large(layout);
        }
        if cache.is_null() {
            return self.alloc_orphan(class);
        }
        // SAFETY: a non-null cache passed in is the calling thread's own.
        unsafe { (*cache).alloc(self, class) }
    }

    /// Frees `p`, allocated with `layout`, through `cache` (null = the orphan cache).
    ///
    /// # Safety
    /// `p` must have been allocated from this heap with `layout`.
    #[inline(always)]
    pub(crate) unsafe fn dealloc_with(&self, cache: *mut ThreadCache, p: *mut u8, layout: Layout) {
        let class = class_for(layout.size(), layout.align());
        if class == 0 {
            // SAFETY: forwarded.
            return unsafe { self.dealloc_large(p) };
        }
        if cache.is_null() {
            // SAFETY: forwarded.
            return unsafe { self.dealloc_orphan(p, class) };
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
                self.resized_large(layout.size(), new_size);
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

    /// A large object was resized in place from `old` to `new` bytes: its requested
    /// bytes follow.
    pub(crate) fn resized_large(&self, old: usize, new: usize) {
        // Wrapping: a shrink adds the two's complement of the difference.
        self.large
            .requested_bytes
            .fetch_add((new as u64).wrapping_sub(old as u64), Ordering::Relaxed);
    }

    fn alloc_orphan(&self, class: usize) -> (*mut u8, bool) {
        let mut orphan = self.orphan.lock();
        if orphan.is_null() {
            match self.new_cache() {
                Some(c) => *orphan = c,
                None => return (ptr::null_mut(), false),
            }
        }
        // SAFETY: the orphan cache is only used under its lock, which we hold.
        unsafe { (**orphan).alloc(self, class) }
    }

    unsafe fn dealloc_orphan(&self, p: *mut u8, class: usize) {
        let mut orphan = self.orphan.lock();
        if orphan.is_null() {
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

    fn alloc_large(&self, layout: Layout) -> (*mut u8, bool) {
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
        self.large.allocs.fetch_add(1, Ordering::Relaxed);
        self.large
            .bytes_allocated
            .fetch_add((npages * PAGE_SIZE) as u64, Ordering::Relaxed);
        self.large
            .requested_bytes
            .fetch_add(layout.size() as u64, Ordering::Relaxed);
        (start as *mut u8, zeroed)
    }

    unsafe fn dealloc_large(&self, p: *mut u8) {
        let s = self.span_of(p as usize);
        // SAFETY: a non-null span_of result is a live record.
        if s.is_null() || unsafe { (*s).state != SpanState::Large || (*s).start != p as usize } {
            crate::os::fatal(
                "free of a pointer spanprof never handed out (or a large object freed twice):",
                p as usize,
            );
        }
        // SAFETY: checked above: p is the start of a live large span, now ours.
        let npages = unsafe { (*s).npages };
        self.large.frees.fetch_add(1, Ordering::Relaxed);
        self.large
            .bytes_freed
            .fetch_add((npages * PAGE_SIZE) as u64, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { self.return_span(s) };
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

    /// A snapshot of every counter.
    ///
    /// Frees are read before allocations, so for every class `allocs >= frees` even
    /// while other threads run.
    pub fn stats(&self) -> Stats {
        let mut classes = [ClassStats::default(); NUM_CLASSES];
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
            let read = |slot: usize, class: usize| {
                caches().map(|c| c.counts(class)[slot]).sum::<u64>() + reg.retired[class][slot]
            };
            for (class, cs) in classes.iter_mut().enumerate().skip(1) {
                cs.frees = read(1, class);
                cs.remote_frees = read(3, class);
            }
            for (class, cs) in classes.iter_mut().enumerate().skip(1) {
                cs.allocs = read(0, class);
                cs.refills = read(2, class);
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
        let lf = self.large.frees.load(Ordering::Acquire);
        let bf = self.large.bytes_freed.load(Ordering::Acquire);
        let large = LargeStats {
            allocs: self.large.allocs.load(Ordering::Acquire),
            frees: lf,
            bytes_allocated: self.large.bytes_allocated.load(Ordering::Acquire),
            bytes_freed: bf,
            requested_bytes: self.large.requested_bytes.load(Ordering::Relaxed),
        };
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
            cache: self.new_cache()?,
        })
    }

    /// Locks every lock of the heap (before `fork`).
    pub(crate) fn lock_all(&self) {
        self.orphan.lock_forever();
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
