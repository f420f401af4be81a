//! The hooks: what the profiler does after an allocation, before a free and on an
//! in-place resize, and the per-thread state it does it with.
//!
//! The profiler is a layer over the allocator, as Go's `profilealloc` is over
//! `mallocgc`: the entry points (`malloc.rs`) allocate and free through the core and
//! alone call in here, with the block already allocated (or not yet freed) and every
//! fact decided once (size class, slot bytes). Nothing here allocates a block for the
//! program or frees one; hooks only count, sample and tag. The per-thread state,
//! [`ThreadProf`], lives in the entry points' per-thread record beside the thread
//! cache, so the fast path's test of it reads a word next to the cache it is about
//! to use; [`attach`] gives this module a pointer to it for the calls that do not
//! come through the entry points ([`enter`], [`suspended`], `measure`).
//!
//! An allocation under a site is counted for its context and class (objects,
//! requested bytes, the refills it caused) and its slot is tagged with the context;
//! a sampled allocation records its stack and is tagged with the record. A free
//! reads and clears the slot's tag and charges the free to that context and record;
//! an in-place reallocation charges the change of requested bytes to it.
//!
//! # The profiler's own allocations
//!
//! spanprof never counts itself. Whatever it allocates (building, symbolizing and
//! writing a profile, on any thread) runs [`suspended`], which sets the thread's
//! context to [`SUSPENDED`]: being non-zero, it sends every allocation of the thread
//! off the fast path, and the entry points serve it from the thread's *profiler
//! cache* (a second thread cache, whose counters are the profiler's books) and tag
//! it [`tags::PROFILER`] through [`tag_profiler`]. Such an object is never counted
//! per site, sampled or counted in a program figure. Its free, on whatever thread and
//! however much later, finds the tag ([`on_free`] says so) and goes through that
//! thread's profiler cache, so it is charged to the profiler too. A thread with no
//! per-thread record (during its teardown) cannot be suspended: what it allocates is
//! the program's.

use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::Ordering;

use crate::cache::{CentralLists, ThreadCache};
use crate::heap::Heap;
use crate::lock::SpinLock;
use crate::profile::context;
use crate::profile::counters::{self, CtxCounters, ThreadTable};
use crate::profile::peak;
use crate::profile::sample::{self, RATE};
use crate::profile::site::Site;
use crate::profile::tags;
use crate::size_class::class_size;
use crate::span::Span;

/// `ThreadProf::ctx` while the thread is suspended: never an interned context (ids
/// stay below `context::MAX_CTX`), and non-zero, so the allocation fast path sends
/// every allocation to the hooks.
pub const SUSPENDED: u32 = u32::MAX;

/// The profiler's state of one thread (all-zero is "nothing yet").
#[derive(Debug)]
#[repr(C)]
pub struct ThreadProf {
    /// Current context (site stack); 0 = no site; [`SUSPENDED`] while the profiler
    /// itself runs on the thread.
    pub ctx: u32,
    /// Non-zero while `measure` watches the thread's live bytes ([`watch_start`]):
    /// its allocations then take the hooked paths. Beside `ctx`, so the fast path
    /// tests both with one load ([`wants_alloc_hook`]).
    pub watch: u32,
    /// The thread's context while `ctx` is [`SUSPENDED`].
    pub saved_ctx: u32,
    /// Bytes until the next sample (refreshed when the rate changes).
    pub sample_left: i64,
    /// The rate `sample_left` was drawn for.
    pub sample_rate: u64,
    pub rng: u64,
    /// This thread's stack, for the frame-pointer walker.
    pub stack: (usize, usize),
    /// Per-context counters (null until the first allocation under a site).
    pub table: *mut ThreadTable,
    /// The counters of the thread's context (`ctx`, or `saved_ctx` while suspended)
    /// in `table`, looked up when the context is set, so counting an allocation is
    /// two adds; null for no context (or out of memory).
    pub row: *mut CtxCounters,
    /// The thread's program cache, beside this record (read by `measure`).
    pub cache: *const ThreadCache,
    /// The address of the thread's last allocation the hooks saw (0 = none since
    /// the context changed or it was freed): its free is a temporary allocation's.
    pub last: usize,
    /// Temporary allocations freed on this thread (the hooked frees, see
    /// [`temporary_total`]).
    pub temporary: u64,
    /// What `measure` watches while `watch` is set.
    pub watched: Watched,
    /// Links in the list of live threads' states (under `THREADS`).
    next: *mut ThreadProf,
    prev: *mut ThreadProf,
}

/// Live threads' states, so a snapshot can sum their tables.
struct Threads {
    head: *mut ThreadProf,
}

// SAFETY: the states are per-thread records that stay valid while listed; access is
// under the lock.
unsafe impl Send for Threads {}

static THREADS: SpinLock<Threads> = SpinLock::new(Threads {
    head: ptr::null_mut(),
});

thread_local! {
    /// The calling thread's state (null before [`attach`] and after [`detach`]).
    static PROF: Cell<*mut ThreadProf> = const { Cell::new(ptr::null_mut()) };
}

/// Makes `prof` (zeroed, in the calling thread's per-thread record, beside its
/// program cache `cache`) the calling thread's profiler state.
///
/// # Safety
/// `prof` must stay valid until [`detach`] on this thread, and `cache` as long.
pub unsafe fn attach(prof: *mut ThreadProf, cache: *const ThreadCache, stack: (usize, usize)) {
    let mut threads = THREADS.lock();
    // SAFETY: the caller gives us the record; we link it under the lock.
    unsafe {
        (*prof).cache = cache;
        (*prof).stack = stack;
        (*prof).prev = ptr::null_mut();
        (*prof).next = threads.head;
        if !threads.head.is_null() {
            (*threads.head).prev = prof;
        }
    }
    threads.head = prof;
    drop(threads);
    // Registering fails only while the thread's TLS is torn down; then the hooks simply
    // do not see this thread's state.
    let _ = PROF.try_with(|p| p.set(prof));
}

/// Ends the calling thread's state (thread exit): unlists it and folds its counters
/// into the totals of exited threads.
///
/// # Safety
/// `prof` must be the record given to [`attach`] on this thread; nothing uses it after.
pub unsafe fn detach(prof: *mut ThreadProf) {
    let _ = PROF.try_with(|p| p.set(ptr::null_mut()));
    let mut threads = THREADS.lock();
    // SAFETY: listed records are valid under the lock.
    unsafe {
        let p = &mut *prof;
        if !p.prev.is_null() {
            (*p.prev).next = p.next;
        } else {
            threads.head = p.next;
        }
        if !p.next.is_null() {
            (*p.next).prev = p.prev;
        }
    }
    // SAFETY: as above: the exiting thread's record.
    RETIRED_TEMPORARY.fetch_add(unsafe { (*prof).temporary }, Ordering::Relaxed);
    drop(threads);
    // SAFETY: the table is the exiting thread's and nobody uses it any more.
    unsafe {
        counters::retire((*prof).table);
        (*prof).table = ptr::null_mut();
    }
}

/// Runs `f` over the counter tables of live threads (their list locked).
pub fn with_thread_tables<R>(f: impl FnOnce(&mut dyn Iterator<Item = *mut ThreadTable>) -> R) -> R {
    let threads = THREADS.lock();
    let mut v = threads.head;
    let mut it = core::iter::from_fn(move || {
        // SAFETY: listed records are valid while we hold the lock.
        let p = unsafe { v.as_ref()? };
        v = p.next;
        Some(p.table)
    });
    f(&mut it)
}

/// Temporary allocations of threads that exited.
static RETIRED_TEMPORARY: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Temporary allocations of the program whose frees the hooks saw: every object
/// allocated under a site (with exact site frees) or sampled, every large object, and,
/// while tags of small spans exist, every small object freed on a thread whose
/// allocations the hooks see (a site current or sampling on).
pub fn temporary_total() -> u64 {
    let threads = THREADS.lock();
    let mut sum = RETIRED_TEMPORARY.load(Ordering::Relaxed);
    let mut v = threads.head;
    // SAFETY: listed records are valid while we hold the lock.
    while let Some(p) = unsafe { v.as_ref() } {
        // SAFETY: a word of a live record, written by its thread alone: read racily
        // (volatile, so the read is not assumed stable), as the counters are.
        sum = sum.wrapping_add(unsafe { ptr::read_volatile(&raw const p.temporary) });
        v = p.next;
    }
    sum
}

/// Whether the free of `addr` on the thread whose state is `p` ends a temporary
/// allocation (heaptrack's: no other allocation on the thread since it), counted in
/// the thread's total. `last` is kept only while the hooks see the thread's
/// allocations (it is cleared when the context changes and when a watch ends), so
/// one comparison tells.
#[inline(always)]
pub fn note_free(p: &mut ThreadProf, addr: usize) -> bool {
    if p.last != addr {
        return false;
    }
    p.last = 0;
    p.temporary += 1;
    true
}

/// A free the hooks see without a tag to read (a large object none tagged): only
/// the temporary count ([`note_free`]).
pub fn on_free_untagged(prof: Option<&mut ThreadProf>, addr: *mut u8) {
    if let Some(p) = prof {
        note_free(p, addr as usize);
    }
}

/// Sums the counter tables of live threads and the retired totals into `rows`
/// (contexts below `rows.len()`), for the peak snapshot. Allocates nothing.
fn sum_tables(rows: &mut [[counters::Totals; crate::size_class::NUM_CLASSES]]) {
    with_thread_tables(|tables| counters::sum_into(tables, rows));
}

/// Holds the thread list's lock until [`force_unlock`] (around `fork`).
pub(crate) fn lock_forever() {
    THREADS.lock_forever();
}

/// Releases [`lock_forever`]'s lock.
///
/// # Safety
/// Must follow `lock_forever` on the same thread.
pub(crate) unsafe fn force_unlock() {
    // SAFETY: forwarded.
    unsafe { THREADS.force_unlock() };
}

/// Makes the calling thread's per-thread record (registered by the entry points,
/// which own the records; 0 = none registered yet).
static THREAD_INIT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Registers the entry points' function that gives the calling thread its record
/// (and so calls [`attach`]): a thread that has not allocated yet (a writer thread
/// the profiler starts) gets its state when the profiler first needs it.
pub fn set_thread_init(f: fn()) {
    THREAD_INIT.store(f as usize, Ordering::Release);
}

/// The calling thread's state, made on first use; null for a thread without one
/// (its TLS torn down, or out of memory).
#[inline]
pub fn current() -> *mut ThreadProf {
    let p = PROF.try_with(Cell::get).unwrap_or(ptr::null_mut());
    if p.is_null() { current_slow() } else { p }
}

#[cold]
fn current_slow() -> *mut ThreadProf {
    let f = THREAD_INIT.load(Ordering::Acquire);
    if f != 0 {
        // SAFETY: a non-zero THREAD_INIT is the address of a `fn()` stored by
        // `set_thread_init`.
        let f = unsafe { core::mem::transmute::<usize, fn()>(f) };
        f();
    }
    PROF.try_with(Cell::get).unwrap_or(ptr::null_mut())
}

/// Whether allocations on the thread whose state is `p` need the hooks: a context,
/// a watch or sampling.
#[inline(always)]
pub fn wants_alloc_hook(p: &ThreadProf) -> bool {
    // SAFETY: `ctx` and `watch` are the first two `u32`s of a `repr(C)` struct
    // aligned to 8 (it holds `i64`s): one aligned, initialised `u64`.
    let word = unsafe { ptr::read(ptr::from_ref(p).cast::<u64>()) };
    word != 0 || RATE.load(Ordering::Relaxed) != 0
}

/// A thread's live bytes as `measure` watches them, relative to the watch's start.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Watched {
    /// Slot (or page-rounded) bytes allocated since the start.
    up: u64,
    /// The thread cache's freed bytes at the start.
    freed_base: u64,
    /// Bytes freed since the start, as last read (a lower bound of the present).
    freed_seen: u64,
    /// The high-water mark of `up − freed` at allocations.
    peak: u64,
}

/// Slot (or page-rounded) bytes freed through the thread's program cache so far.
fn freed_bytes(p: &ThreadProf) -> u64 {
    // SAFETY: the program cache beside the thread's state lives as long as it.
    let Some(cache) = (unsafe { p.cache.as_ref() }) else {
        return 0;
    };
    let small: u64 = (1..crate::size_class::NUM_CLASSES)
        .map(|c| cache.counts(c).frees * class_size(c) as u64)
        .sum();
    small + cache.large.freed_bytes.load(Ordering::Relaxed)
}

/// Reads the frees anew and raises the high-water mark to the live bytes now.
#[cold]
fn watch_refresh(p: &mut ThreadProf) {
    let freed = freed_bytes(p).wrapping_sub(p.watched.freed_base);
    let w = &mut p.watched;
    w.freed_seen = freed;
    let live = w.up.wrapping_sub(w.freed_seen) as i64;
    w.peak = w.peak.max(live.max(0) as u64);
}

/// An allocation of `slot` bytes on a watched thread: the high-water mark follows
/// (the frees are read only when the bound `up − freed_seen` passes it).
#[inline]
fn watch_alloc(p: &mut ThreadProf, slot: u64) {
    let w = &mut p.watched;
    w.up += slot;
    if w.up.wrapping_sub(w.freed_seen) as i64 > w.peak as i64 {
        watch_refresh(p);
    }
}

/// What [`watch_start`] saved of an enclosing watch.
#[derive(Clone, Copy, Debug, Default)]
pub struct SavedWatch {
    watch: u32,
    watched: Watched,
    /// The enclosing watch's live bytes when this one started.
    outer_live: u64,
}

/// Starts watching the calling thread's live bytes (for `measure`): its
/// allocations take the hooked paths until [`watch_stop`]. Nests.
pub fn watch_start() -> SavedWatch {
    // SAFETY: the calling thread's own live state, or null.
    let Some(p) = (unsafe { current().as_mut() }) else {
        return SavedWatch::default();
    };
    let mut saved = SavedWatch {
        watch: p.watch,
        watched: p.watched,
        outer_live: 0,
    };
    if p.watch != 0 {
        watch_refresh(p);
        saved.watched = p.watched;
        let w = &p.watched;
        saved.outer_live = (w.up.wrapping_sub(w.freed_seen) as i64).max(0) as u64;
    }
    p.watched = Watched {
        freed_base: freed_bytes(p),
        ..Watched::default()
    };
    p.watch = 1;
    p.row = ptr::null_mut();
    saved
}

/// Ends the watch [`watch_start`] began; returns its high-water mark of live bytes
/// (relative to its start), and folds it into an enclosing watch.
pub fn watch_stop(saved: SavedWatch) -> u64 {
    // SAFETY: the calling thread's own live state, or null.
    let Some(p) = (unsafe { current().as_mut() }) else {
        return 0;
    };
    let inner = p.watched;
    p.watch = saved.watch;
    p.watched = saved.watched;
    // The thread's allocations may go unseen again.
    p.last = 0;
    let ctx = if p.ctx == SUSPENDED {
        p.saved_ctx
    } else {
        p.ctx
    };
    p.row = cached_row(p, ctx);
    if saved.watch != 0 {
        let w = &mut p.watched;
        w.up += inner.up;
        w.peak = w.peak.max(saved.outer_live + inner.peak);
    }
    inner.peak
}

/// The calling thread's context (the one it resumes with, while suspended).
pub fn current_context() -> u32 {
    // SAFETY: the calling thread's own live state, or null.
    let Some(p) = (unsafe { current().as_ref() }) else {
        return 0;
    };
    if p.ctx == SUSPENDED {
        p.saved_ctx
    } else {
        p.ctx
    }
}

/// Sets the calling thread's context (the one it resumes with, while suspended: a
/// site entered by code the profiler runs does not end the suspension), and caches
/// its counter row.
pub fn set_context(ctx: u32) {
    // SAFETY: the calling thread's own live state, or null.
    if let Some(p) = unsafe { current().as_mut() } {
        if p.ctx == SUSPENDED {
            p.saved_ctx = ctx;
        } else {
            p.ctx = ctx;
        }
        // Allocations outside any site are not seen while sampling is off.
        p.last = 0;
        // Made here, off the allocation path (from the counters' own pool, not the
        // Rust heap).
        p.row = cached_row(p, ctx);
    }
}

/// The row to cache for context `ctx` (see [`ThreadProf::row`]): none for no context
/// and while `measure` watches the thread ([`counts_inline`] then declines).
fn cached_row(p: &mut ThreadProf, ctx: u32) -> *mut CtxCounters {
    if ctx == 0 || p.watch != 0 {
        ptr::null_mut()
    } else {
        counters::row(&mut p.table, ctx)
    }
}

/// Proof that a site is current on this thread; restores the previous site stack when
/// dropped (also on early return and unwinding). Not `Send`: the site stack is the
/// thread's.
#[derive(Debug)]
#[must_use = "the site is current only while the guard lives"]
pub struct SiteGuard {
    previous: u32,
    _not_send: PhantomData<*const ()>,
}

/// Makes `site` current on this thread until the guard drops: allocations made
/// meanwhile are counted for the site stack ending in `site`, per size class.
pub fn enter(site: &'static Site) -> SiteGuard {
    let previous = current_context();
    set_context(context::child(previous, site));
    SiteGuard {
        previous,
        _not_send: PhantomData,
    }
}

impl Drop for SiteGuard {
    fn drop(&mut self) {
        set_context(self.previous);
    }
}

/// Runs `f` with the calling thread suspended: everything it allocates is the
/// profiler's (served by the thread's profiler cache, tagged, counted apart from the
/// program, never per site, never sampled), and stays the profiler's until freed,
/// wherever that happens. Nests; the suspension ends when `f` returns or unwinds.
///
/// Everything spanprof allocates must be allocated in here: a value allocated
/// outside (a path string built before the call) is the program's, and shows in the
/// profile being written.
pub fn suspended<R>(f: impl FnOnce() -> R) -> R {
    struct Resume(*mut ThreadProf);
    impl Drop for Resume {
        fn drop(&mut self) {
            // SAFETY: the calling thread's own live state (detached only by its
            // thread's exit, which cannot happen inside `suspended`).
            let p = unsafe { &mut *self.0 };
            p.ctx = p.saved_ctx;
        }
    }
    let p = current();
    // SAFETY: the calling thread's own live state, or null.
    if p.is_null() || unsafe { (*p).ctx } == SUSPENDED {
        return f();
    }
    // SAFETY: as above.
    unsafe {
        (*p).saved_ctx = (*p).ctx;
        (*p).ctx = SUSPENDED;
    }
    let _resume = Resume(p);
    f()
}

/// Tags a block the profiler just allocated through `cache` (its profiler cache) as
/// the profiler's. Returns false when the tag cannot be stored (out of memory for the
/// tag table): the caller then serves the block from the program's cache instead.
pub fn tag_profiler(heap: &Heap, cache: &ThreadCache, p: *mut u8, class: usize) -> bool {
    let s = cache.span_of(heap, p, class);
    // SAFETY: the live span of the block just allocated.
    !s.is_null() && tags::set(unsafe { &*s }, p as usize, tags::PROFILER)
}

/// Whether the next allocation of small class `class` (of `slot` bytes) on this
/// thread can be handled inline, by [`site_alloc`]: the thread is not suspended, its
/// context (if any) has its row cached, and the allocation will not be sampled
/// (sampling off, or the countdown stays at or above zero, as [`sample_due`]
/// decides).
#[inline(always)]
pub fn counts_inline(p: &ThreadProf, slot: i64) -> bool {
    // A watch (`measure`) nulls the row, so its allocations take the general path
    // with the same two tests: `word` is `ctx` and `watch` together.
    // SAFETY: as in `wants_alloc_hook`.
    let word = unsafe { ptr::read(ptr::from_ref(p).cast::<u64>()) };
    if word == u64::from(SUSPENDED) || (word != 0 && p.row.is_null()) {
        return false;
    }
    let rate = RATE.load(Ordering::Relaxed);
    rate == 0 || (p.sample_rate == rate && p.sample_left >= slot)
}

/// The inline hook of an allocation of small class `class` (of `slot` bytes) served
/// by the fast path while [`counts_inline`] held: the sampling countdown, and under
/// a site two adds to the cached row and, with exact site frees, the slot's tag.
#[inline(always)]
pub fn site_alloc(
    heap: &Heap,
    p: &mut ThreadProf,
    cache: &ThreadCache,
    a: *mut u8,
    size: usize,
    class: usize,
) {
    // Unconditional: while sampling is off the countdown is unused, and it is drawn
    // afresh when a rate is set (`sample_rate` differs then).
    p.sample_left -= class_size(class) as i64;
    p.last = a as usize;
    if p.ctx == 0 {
        return;
    }
    // SAFETY: a non-null row is a live record of this thread's table (counts_inline
    // checked it is non-null under a context), and class < NUM_CLASSES.
    let cell = unsafe { (*p.row).classes.get_unchecked(class) };
    counters::add(&cell.allocs, 1);
    counters::add(&cell.requested_bytes, size as u64);
    if !tags::SITE_FREES.load(Ordering::Relaxed) {
        return;
    }
    let s = cache.span_of(heap, a, class);
    // SAFETY: the live span of the block just allocated (the current span).
    if let Some(s) = unsafe { s.as_ref() } {
        tags::set_ctx(s, class, a as usize, p.ctx);
    }
}

/// What [`site_free`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freed {
    /// Charged (or untagged): free it through the program's cache.
    Program,
    /// Untouched: a sampled or profiler object, or no span; take the general path.
    Slow,
}

/// The inline hook of a free of small class `class` once tags exist: reads and
/// clears the slot's tag and charges a site's object to its context (the cached row
/// when it is the thread's own context) and a sampled one to its record. Profiler
/// objects are left to [`on_free`].
#[inline(always)]
pub fn site_free(
    heap: &Heap,
    p: &mut ThreadProf,
    cache: &ThreadCache,
    a: *mut u8,
    size: usize,
    class: usize,
) -> Freed {
    let temporary = note_free(p, a as usize);
    if !tags::may_be_tagged(a as usize) {
        return Freed::Program;
    }
    let s = cache.span_of(heap, a, class);
    // SAFETY: a non-null span_of result is a live record: the block being freed.
    let Some(s) = (unsafe { s.as_ref() }) else {
        return Freed::Slow;
    };
    let Some(cell) = tags::small_cell(s, class, a as usize) else {
        return Freed::Program;
    };
    let tag = cell.load(Ordering::Acquire);
    if tag == 0 {
        return Freed::Program;
    }
    if tag == tags::PROFILER {
        return Freed::Slow;
    }
    // Only the thread freeing the slot touches its tag now.
    cell.store(0, Ordering::Relaxed);
    let (ctx, sample_id) = tags::unpack(tag);
    if let Some(id) = sample_id {
        tags::note_taken(a as usize, tag);
        sample::freed(id);
        if temporary {
            sample::temporary(id);
        }
    }
    if ctx == 0 {
        return Freed::Program;
    }
    let counts = if ctx == p.ctx && !p.row.is_null() {
        // SAFETY: a non-null row is a live record of this thread's table.
        Some(unsafe { (*p.row).classes.get_unchecked(class) })
    } else {
        counters::cell(&mut p.table, ctx, class)
    };
    if let Some(c) = counts {
        counters::add(&c.frees, 1);
        counters::add(&c.freed_requested, size as u64);
        if temporary {
            counters::add(&c.temporary, 1);
        }
    }
    Freed::Program
}

/// What the entry points know of a program allocation the hooks see.
#[derive(Clone, Copy, Debug)]
pub struct Allocated {
    pub p: *mut u8,
    /// Bytes asked for.
    pub size: usize,
    pub class: usize,
    /// Slot (or page-rounded) bytes.
    pub slot: u64,
    /// Refills the allocation caused.
    pub refills: u64,
}

/// Counts a program allocation for the thread's context (objects, requested bytes,
/// slot bytes of a large one, the refills it caused).
fn count(prof: &mut ThreadProf, a: &Allocated) {
    let ctx = prof.ctx;
    if ctx == 0 {
        return;
    }
    let Some(cell) = counters::cell(&mut prof.table, ctx, a.class) else {
        return;
    };
    counters::add(&cell.allocs, 1);
    counters::add(&cell.requested_bytes, a.size as u64);
    // Small classes' slot bytes are allocs × size: only large ones vary.
    if a.class == 0 {
        counters::add(&cell.slot_bytes, a.slot);
    }
    if a.refills != 0 {
        counters::add(&cell.refills, a.refills);
    }
}

/// The context an object's tag carries: the thread's, with exact site frees on;
/// without them none (a sampled object's free is the sample's business alone).
fn tag_ctx(prof: &ThreadProf) -> u32 {
    if tags::SITE_FREES.load(Ordering::Relaxed) {
        prof.ctx
    } else {
        0
    }
}

/// After a program allocation on a thread with a site current or sampling on:
/// counts it for the context, records its stack when [`sample_due`] said so (`due`),
/// and tags its slot.
pub fn on_alloc(heap: &Heap, prof: &mut ThreadProf, cache: &ThreadCache, a: Allocated, due: bool) {
    count(prof, &a);
    prof.last = a.p as usize;
    if prof.watch != 0 {
        watch_alloc(prof, a.slot);
    }
    let sample = if due { take_sample(prof, a.slot) } else { None };
    let tag_ctx = tag_ctx(prof);
    if tag_ctx != 0 || sample.is_some() {
        let s = cache.span_of(heap, a.p, a.class);
        if !s.is_null() {
            // SAFETY: the live span of the block just allocated.
            tags::set(unsafe { &*s }, a.p as usize, tags::pack(tag_ctx, sample));
        }
    }
    // Last: the snapshot is to see this object, counted and sampled.
    if a.refills != 0 || a.class == 0 {
        peak::check(heap, sum_tables);
    }
}

/// After a sampled small allocation the entry points served from the apart region
/// (`region.rs`, see [`sample_apart`]): counts it and records its stack, as
/// [`on_alloc`]; returns the tag to keep beside the block (its region special).
pub fn on_alloc_apart(prof: &mut ThreadProf, a: Allocated) -> u32 {
    count(prof, &a);
    prof.last = a.p as usize;
    if prof.watch != 0 {
        watch_alloc(prof, a.slot);
    }
    let sample = take_sample(prof, a.slot);
    tags::pack(tag_ctx(prof), sample)
}

/// Sampling no denser than one stack per this many bytes puts sampled small objects
/// in the apart region (a page or more each, so at most about a page per
/// `APART_MIN_RATE` bytes of live heap, 3 % at this bound); denser sampling tags
/// them in their spans instead.
pub const APART_MIN_RATE: u64 = 256 * 1024;

/// Whether a small allocation [`sample_due`] picked goes to the apart region.
#[inline]
pub fn sample_apart() -> bool {
    RATE.load(Ordering::Relaxed) >= APART_MIN_RATE
}

/// Counts `slot` bytes against the thread's sampling countdown (Go's `nextSample`);
/// true when it runs out: the allocation is to be sampled ([`take_sample`]).
pub fn sample_due(st: &mut ThreadProf, slot: u64) -> bool {
    let rate = RATE.load(Ordering::Relaxed);
    if rate == 0 || st.ctx == SUSPENDED {
        return false;
    }
    if st.sample_rate != rate {
        if st.rng == 0 {
            // Deterministic per thread (by creation order), so runs repeat.
            static SEEDS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
            let n = SEEDS.fetch_add(1, Ordering::Relaxed) + 1;
            st.rng = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        }
        st.sample_rate = rate;
        st.sample_left = sample::next_interval(&mut st.rng, rate);
    }
    st.sample_left -= slot as i64;
    if st.sample_left >= 0 {
        return false;
    }
    st.sample_left = sample::next_interval(&mut st.rng, rate);
    true
}

/// Records the calling thread's stack as a sample of `slot` bytes; the record's id,
/// or `None` when the sample table is full.
fn take_sample(st: &mut ThreadProf, slot: u64) -> Option<u32> {
    let rate = RATE.load(Ordering::Relaxed);
    // Whatever the unwinder allocates is the profiler's.
    st.saved_ctx = st.ctx;
    st.ctx = SUSPENDED;
    let mut buf = sample::frames();
    let ips = sample::capture(&mut buf, st.stack);
    let id = sample::record(ips, slot, rate.max(1));
    st.ctx = st.saved_ctx;
    id
}

/// The span of block `p` of `class`: through the thread's cache when it has one (its
/// current span needs no page-map lookup), else through the page map.
fn span_for(heap: &Heap, cache: Option<&ThreadCache>, p: *mut u8, class: usize) -> *mut Span {
    match cache {
        Some(c) => c.span_of(heap, p, class),
        None => heap.span_of(p as usize),
    }
}

/// What the entry points know of a block about to be freed or resized.
#[derive(Clone, Copy, Debug)]
pub struct Block {
    pub p: *mut u8,
    /// Bytes asked for (the layout's size).
    pub size: usize,
    pub class: usize,
    /// Slot (or page-rounded) bytes.
    pub slot: u64,
}

/// The hooked part of a free, once tags exist: charges a tagged block to its context
/// and sample. Runs before the block is actually freed, on the freeing thread (whose
/// state and program cache are `prof` and `cache`, or `None` during its teardown).
/// Returns whether the block is the profiler's (tagged [`tags::PROFILER`]): it is
/// then freed on the profiler's books.
pub fn on_free(
    heap: &Heap,
    prof: Option<&mut ThreadProf>,
    cache: Option<&ThreadCache>,
    b: Block,
) -> bool {
    let s = span_for(heap, cache, b.p, b.class);
    if s.is_null() {
        return false;
    }
    // SAFETY: the live span of a block being freed.
    let tag = tags::take(unsafe { &*s }, b.p as usize);
    if tag == tags::PROFILER {
        return true;
    }
    on_free_tag(prof, tag, b);
    false
}

/// Charges the free of a program block that carried `tag` (0 = none) to its context
/// and sample: the part of [`on_free`] after the tag is found, also the whole hook of
/// a block of the apart region, whose tag the entry points keep.
pub fn on_free_tag(mut prof: Option<&mut ThreadProf>, tag: u32, b: Block) {
    let temporary = prof
        .as_deref_mut()
        .is_some_and(|p| note_free(p, b.p as usize));
    if tag == 0 {
        return;
    }
    let (ctx, sample_id) = tags::unpack(tag);
    if let Some(id) = sample_id {
        sample::freed(id);
        if temporary {
            sample::temporary(id);
        }
    }
    if ctx == 0 {
        return;
    }
    let Some(prof) = prof else {
        counters::orphan_free(ctx, b.class, b.slot, b.size);
        return;
    };
    if let Some(cell) = counters::cell(&mut prof.table, ctx, b.class) {
        counters::add(&cell.frees, 1);
        counters::add(&cell.freed_requested, b.size as u64);
        if b.class == 0 {
            counters::add(&cell.freed_bytes, b.slot);
        }
        if temporary {
            counters::add(&cell.temporary, 1);
        }
    }
}

/// A block resized in place from `b.size` to `new_size` bytes: its context's
/// requested bytes follow. Returns whether the block is the profiler's.
pub fn on_resize(
    heap: &Heap,
    prof: Option<&mut ThreadProf>,
    cache: Option<&ThreadCache>,
    b: Block,
    new_size: usize,
) -> bool {
    let s = span_for(heap, cache, b.p, b.class);
    if s.is_null() {
        return false;
    }
    // SAFETY: the live span of the block being resized.
    let tag = tags::peek(unsafe { &*s }, b.p as usize);
    if tag == tags::PROFILER {
        return true;
    }
    on_resize_tag(prof, tag, b, new_size);
    false
}

/// A program block carrying `tag` resized in place from `b.size` to `new_size`
/// bytes: its context's requested bytes follow (the part of [`on_resize`] after the
/// tag is found; the whole hook for a block of the apart region).
pub fn on_resize_tag(prof: Option<&mut ThreadProf>, tag: u32, b: Block, new_size: usize) {
    let ctx = tags::unpack(tag).0;
    // Two's complement when it shrinks: the sums wrap back (see counters.rs).
    let delta = (new_size as u64).wrapping_sub(b.size as u64);
    if ctx == 0 || delta == 0 {
        return;
    }
    let Some(prof) = prof else {
        counters::orphan_resize(ctx, b.class, delta);
        return;
    };
    if let Some(cell) = counters::cell(&mut prof.table, ctx, b.class) {
        counters::add(&cell.requested_bytes, delta);
    }
}
