//! The entry points (Go's `malloc.go`: `mallocgc` and the calls around it): the
//! `GlobalAlloc` implementation every allocation of the program goes through, and
//! each thread's record.
//!
//! This is the only file that sees both the allocator core and the profiler, as in Go
//! only `mallocgc` calls `profilealloc`. Each allocation's facts are decided here once
//! (size class, slot bytes, page count of a large object) and passed down to the core
//! (`heap.rs`, `cache.rs`); after the core has allocated, and before it frees, this
//! file alone calls the profiler's hooks (`profile/hooks.rs`), and only when a site is
//! current, sampling is on, or tagged objects exist. The fast paths (a slot from the
//! thread cache's current span, a free into it) read one thread-local word and the
//! cache line of the class, and test one word beside it.
//!
//! Each thread has one [`ThreadRecord`], off the Rust heap: its thread cache and the
//! profiler's state side by side, plus (once spanprof allocates for itself on the
//! thread) a second cache for spanprof's own objects. The books an object is on are
//! decided here: the profiler's objects are served from that second cache and tagged,
//! and their frees, found by the tag, go back through it. At thread exit the record's
//! caches are flushed to the central lists and its profiler state retired, and the
//! record goes back to its pool (`fixalloc::RecordPool`) for the next new thread, its
//! memory to the OS once its chunk is unused; a thread without a record (its TLS torn
//! down) allocates through the heap's orphan cache. A large reallocation the profiler
//! does not watch is resized without a copy where the page heap can
//! (`realloc_large`); otherwise it moves, counted as a free and an allocation.
//!
//! Start-up (the first allocation of the first thread) wires the layers together:
//! the core frees the profiler's per-span records through a function registered here
//! (`span::set_special_release`), the profiler is handed the heap, the background
//! scavenger may work on it, and `fork` handlers take every lock.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::cache::ThreadCache;
use crate::fixalloc::RecordPool;
use crate::heap::{Heap, fits_in_place};
use crate::lock::SpinLock;
use crate::profile::hooks::{self, Allocated, Block, SUSPENDED, ThreadProf};
use crate::profile::{self, symbolize, tags};
use crate::region;
use crate::scavenger;
use crate::size_class::{PAGE_SIZE, class_for, class_size, slot_bytes};
use crate::span;

/// The process-wide heap behind [`SpanAlloc`].
pub(crate) static HEAP: Heap = Heap::new();

/// One thread's record: the profiler's state and the thread cache side by side, so
/// the fast path's test of the one and use of the other go through one pointer.
#[repr(C)]
pub(crate) struct ThreadRecord {
    cache: ThreadCache,
    prof: ThreadProf,
    /// The thread's cache for spanprof's own objects (the profiler's books): null
    /// until spanprof first allocates or frees one of its objects on this thread.
    shadow: *mut ThreadCache,
}

/// Thread records, off the Rust heap (a zeroed record is an empty one). Exited
/// threads' records serve new threads, and go back to the OS once none of their chunk
/// is in use.
static RECORDS: SpinLock<RecordPool> = SpinLock::new(RecordPool::new(size_of::<ThreadRecord>()));

/// Marks a thread whose record was retired at exit: it allocates through the orphan
/// cache from then on.
const DEAD: *mut ThreadRecord = ptr::without_provenance_mut(1);

/// The thread's record: null before first use, `DEAD` after thread exit.
///
/// On x86-64 glibc Linux it is a thread-local word of the initial-exec TLS model,
/// declared in assembly and read with two instructions (the offset from the GOT, then
/// a load relative to `%fs`): in `libspanprof.so`, a `cdylib`, rustc's `thread_local!`
/// is general-dynamic and every access calls `__tls_get_addr` (about 11 instructions
/// and a call; two per C `malloc`/`free` pair), and stable Rust has no way to ask for
/// another model. In an executable the linker turns these accesses into the
/// local-exec form, as it does for `thread_local!`. A library with initial-exec TLS
/// takes its thread-local words from the static TLS block: always there for a library
/// loaded at start-up (`LD_PRELOAD`, or linked), and from the few hundred bytes glibc
/// keeps spare for `dlopen` otherwise (this is 8 bytes; jemalloc and mimalloc use the
/// same model). Only with the `initial-exec-tls` feature, which `libspanprof.so`
/// turns on: in an executable the relaxed form costs one instruction more per access
/// than `thread_local!` (go-seed: 114 → 116 instructions per alloc+free), so programs
/// that link spanprof keep a `thread_local!`, as does every other target.
mod record_slot {
    use super::ThreadRecord;

    #[cfg(not(all(
        feature = "initial-exec-tls",
        target_arch = "x86_64",
        target_os = "linux",
        target_env = "gnu"
    )))]
    pub(super) use fallback::{get, set};
    #[cfg(all(
        feature = "initial-exec-tls",
        target_arch = "x86_64",
        target_os = "linux",
        target_env = "gnu"
    ))]
    pub(super) use initial_exec::{get, set};

    /// The word in assembly, read and written relative to `%fs`.
    #[cfg(all(
        feature = "initial-exec-tls",
        target_arch = "x86_64",
        target_os = "linux",
        target_env = "gnu"
    ))]
    mod initial_exec {
        use super::ThreadRecord;

        /// The word's symbol: hidden (never exported from a library), and named with
        /// the crate's version so that two versions of spanprof in one program (one as
        /// the allocator, one as a library's dependency) keep a word each.
        macro_rules! sym_name {
            () => {
                concat!("spanprof_thread_record_", env!("CARGO_PKG_VERSION"))
            };
        }

        core::arch::global_asm!(
            ".pushsection .tbss,\"awT\",@nobits",
            ".p2align 3",
            concat!(".globl ", sym_name!()),
            concat!(".hidden ", sym_name!()),
            concat!(".type ", sym_name!(), ",@object"),
            concat!(".size ", sym_name!(), ",8"),
            concat!(sym_name!(), ":"),
            ".zero 8",
            ".popsection",
        );

        /// The calling thread's word.
        #[inline(always)]
        pub(in super::super) fn get() -> *mut ThreadRecord {
            let v: usize;
            // SAFETY: reads the calling thread's 8-byte TLS word declared above (its
            // offset from the thread pointer comes from the GOT, filled in by the dynamic
            // linker or the static linker); no other memory is touched.
            unsafe {
                core::arch::asm!(
                    concat!("mov {v}, qword ptr [rip + ", sym_name!(), "@GOTTPOFF]"),
                    "mov {v}, qword ptr fs:[{v}]",
                    v = out(reg) v,
                    options(nostack, readonly, preserves_flags),
                );
            }
            // The record's provenance was exposed by `set`.
            core::ptr::with_exposed_provenance_mut(v)
        }

        /// Sets the calling thread's word.
        #[inline(always)]
        pub(in super::super) fn set(r: *mut ThreadRecord) {
            // SAFETY: writes the calling thread's 8-byte TLS word declared above, nothing
            // else.
            unsafe {
                core::arch::asm!(
                    concat!("mov {off}, qword ptr [rip + ", sym_name!(), "@GOTTPOFF]"),
                    "mov qword ptr fs:[{off}], {v}",
                    off = out(reg) _,
                    v = in(reg) r.expose_provenance(),
                    options(nostack, preserves_flags),
                );
            }
        }
    }

    /// Everywhere else: a `thread_local!`.
    #[cfg(not(all(
        feature = "initial-exec-tls",
        target_arch = "x86_64",
        target_os = "linux",
        target_env = "gnu"
    )))]
    mod fallback {
        use super::ThreadRecord;

        thread_local! {
            static RECORD: core::cell::Cell<*mut ThreadRecord> =
                const { core::cell::Cell::new(core::ptr::null_mut()) };
        }

        /// The calling thread's word.
        #[inline(always)]
        pub(in super::super) fn get() -> *mut ThreadRecord {
            RECORD.with(core::cell::Cell::get)
        }

        /// Sets the calling thread's word.
        #[inline(always)]
        pub(in super::super) fn set(r: *mut ThreadRecord) {
            RECORD.with(|c| c.set(r));
        }
    }
}

thread_local! {
    /// Touched once per thread to register the exit hook that retires the record.
    static EXIT: RecordExit = const { RecordExit };
    /// Set while the thread's record is being made: registering the exit hook and
    /// reading the thread's stack call the C library, which (with spanprof as the C
    /// allocator, `cabi.rs`) allocates back into here; those go to the orphan cache.
    static MAKING: Cell<bool> = const { Cell::new(false) };
}

struct RecordExit;

impl Drop for RecordExit {
    fn drop(&mut self) {
        retire_record();
    }
}

/// Retires the calling thread's record (at its exit): its caches flushed, its
/// profiler state detached, the record back to the pool; the thread allocates
/// through the orphan cache from then on.
fn retire_record() {
    let r = record_slot::get();
    record_slot::set(DEAD);
    if r.is_null() || r == DEAD {
        return;
    }
    let key = EXIT_KEY.load(Ordering::Acquire);
    if key != 0 {
        // SAFETY: a key made by `start`, never deleted. Cleared, glibc calls no
        // destructor of ours for the thread after this one (the library may be
        // unloaded by then when it was `dlopen`ed).
        unsafe { libc::pthread_setspecific((key - 1) as libc::pthread_key_t, ptr::null()) };
    }
    // SAFETY: r is this thread's record and the thread is exiting; nothing uses it
    // after the slot was set to DEAD (frees from here on go to the orphan caches).
    unsafe {
        hooks::detach(&raw mut (*r).prof);
        HEAP.unregister(&raw mut (*r).cache);
        let shadow = (*r).shadow;
        if !shadow.is_null() {
            HEAP.retire_cache(shadow);
        }
        let mut pool = RECORDS.lock();
        let mapped = pool.mapped;
        pool.free(ptr::NonNull::new_unchecked(r.cast()));
        // Wrapping: a chunk unmapped adds the two's complement of its bytes.
        HEAP.note_metadata((pool.mapped as u64).wrapping_sub(mapped as u64));
    }
}

/// The pthread key whose destructor retires a record that [`RecordExit`] cannot: one
/// made after the thread's thread-local destructors ran, by the thread's first
/// allocation or free in a pthread key destructor (glibc runs those after the
/// thread-local ones, and a thread-local destructor registered then never runs).
/// Such a record would otherwise stay registered for good, with a cache and a span
/// per class it used. Key plus one; 0 until made (or when none could be).
static EXIT_KEY: AtomicUsize = AtomicUsize::new(0);

/// [`EXIT_KEY`]'s destructor, given the record it was set to: retires it unless
/// [`RecordExit`] did already (the slot is then `DEAD`).
extern "C" fn exit_key_destructor(r: *mut libc::c_void) {
    if record_slot::get() == r.cast::<ThreadRecord>() {
        retire_record();
    }
}

/// The calling thread's record, created on first use; null means "use the orphan
/// cache" (thread exiting, or out of memory).
#[inline(always)]
pub(crate) fn thread_record() -> *mut ThreadRecord {
    let r = record_slot::get();
    if r as usize > DEAD as usize {
        return r;
    }
    if r == DEAD {
        return ptr::null_mut();
    }
    new_thread_record()
}

#[cold]
#[inline(never)]
fn new_thread_record() -> *mut ThreadRecord {
    if MAKING.with(|m| m.replace(true)) {
        return ptr::null_mut();
    }
    let r = make_thread_record();
    MAKING.with(|m| m.set(false));
    r
}

fn make_thread_record() -> *mut ThreadRecord {
    start();
    // Registering the exit hook fails once the thread's TLS is being torn down; such a
    // thread never gets a record of its own.
    if EXIT.try_with(|_| ()).is_err() {
        record_slot::set(DEAD);
        return ptr::null_mut();
    }
    let r = {
        let mut pool = RECORDS.lock();
        let mapped = pool.mapped;
        let r = pool.alloc();
        HEAP.note_metadata((pool.mapped - mapped) as u64);
        match r {
            Some(r) => r.as_ptr().cast::<ThreadRecord>(),
            None => return ptr::null_mut(),
        }
    };
    // SAFETY: a fresh zeroed record, ours alone; it lives until the thread's exit
    // hook unregisters and detaches it.
    unsafe {
        HEAP.register(&raw mut (*r).cache, false);
        hooks::attach(&raw mut (*r).prof, &raw const (*r).cache, thread_stack());
    }
    record_slot::set(r);
    let key = EXIT_KEY.load(Ordering::Acquire);
    if key != 0 {
        // SAFETY: a key made by `start`, never deleted. A value set while the thread
        // runs its key destructors has its destructor run in a further round.
        unsafe { libc::pthread_setspecific((key - 1) as libc::pthread_key_t, r.cast()) };
    }
    r
}

/// Wires the layers together, once: the core's special records are the profiler's
/// tag tables, the profiler gets the heap and the environment, `fork` is handled.
fn start() {
    static STARTED: AtomicBool = AtomicBool::new(false);
    if STARTED.swap(true, Ordering::AcqRel) {
        return;
    }
    span::set_special_release(tags::release);
    hooks::set_thread_init(|| {
        thread_record();
    });
    symbolize::set_entry_anchors([
        alloc_slow as *const () as usize,
        alloc_hooked_small as *const () as usize,
    ]);
    install_fork_handlers();
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: key is a valid out-pointer; the destructor is a plain function.
    if unsafe { libc::pthread_key_create(&mut key, Some(exit_key_destructor)) } == 0 {
        EXIT_KEY.store(key as usize + 1, Ordering::Release);
    }
    HEAP.enable_scavenger();
    profile::init(&HEAP);
}

/// The calling thread's stack as (lowest, highest) address, for the frame-pointer
/// walker; (0, 0) when unknown (the walker then takes no frames).
fn thread_stack() -> (usize, usize) {
    // SAFETY: attr is initialised by pthread_getattr_np before use and destroyed after;
    // glibc's implementation allocates with its own malloc, not ours.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return (0, 0);
        }
        let mut addr: *mut libc::c_void = ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if ok {
            (addr as usize, addr as usize + size)
        } else {
            (0, 0)
        }
    }
}

fn install_fork_handlers() {
    extern "C" fn prepare() {
        RECORDS.lock_forever();
        profile::lock_all(&HEAP);
        region::lock_forever();
    }
    extern "C" fn after() {
        // SAFETY: prepare() locked everything on this thread before the fork.
        unsafe {
            region::force_unlock();
            profile::unlock_all(&HEAP);
            RECORDS.force_unlock();
        }
    }
    // SAFETY: the handlers are plain functions that take and release our own locks.
    unsafe { libc::pthread_atfork(Some(prepare), Some(after), Some(after)) };
}

/// An allocation's facts, decided once: the layout, its size class and its slot
/// bytes (for a large object, the page-rounded size, which gives the page count).
#[derive(Clone, Copy)]
struct Request {
    layout: Layout,
    class: usize,
    slot: usize,
}

impl Request {
    #[inline(always)]
    fn new(layout: Layout, class: usize) -> Request {
        Request {
            layout,
            class,
            slot: slot_bytes(class, layout.size()),
        }
    }
}

/// Allocates `req` through `cache` (null = the orphan cache), on the books of `cache`.
#[inline(always)]
fn alloc_in(cache: *mut ThreadCache, req: Request) -> (*mut u8, bool) {
    if req.class == 0 {
        HEAP.alloc_large(cache, req.layout, req.slot / PAGE_SIZE)
    } else {
        HEAP.alloc_small(cache, req.class)
    }
}

/// Everything but the two fast paths: first use of a thread, refills, large
/// objects, threads without a record, and allocations the profiler sees. Kept out of
/// line so the fast paths need no stack frame.
/// Starts the background scavenger when the heap asked for it while this slow path
/// held its locks (`scavenger::start_wanted`), on the way out, when none is held.
struct StartScavenger;

impl Drop for StartScavenger {
    #[inline]
    fn drop(&mut self) {
        scavenger::start_wanted();
    }
}

#[cold]
#[inline(never)]
fn alloc_slow(layout: Layout, class: usize) -> (*mut u8, bool) {
    let _scavenger = StartScavenger;
    let r = thread_record();
    if r.is_null() {
        return alloc_in(ptr::null_mut(), Request::new(layout, class));
    }
    if class != 0 {
        // SAFETY: the calling thread's own live record.
        let p = unsafe { alloc_hooked(r, layout, class) };
        if !p.is_null() {
            return (p, false);
        }
    }
    let req = Request::new(layout, class);
    // SAFETY: the calling thread's own live record; its fields are used apart.
    let (prof, cache) = unsafe { (&mut (*r).prof, &raw mut (*r).cache) };
    if !hooks::wants_alloc_hook(prof) {
        return alloc_in(cache, req);
    }
    if prof.ctx == SUSPENDED {
        return profiler_alloc(r, req);
    }
    let due = hooks::sample_due(prof, req.slot as u64);
    if due
        && class != 0
        && hooks::sample_apart()
        && let Some(done) = alloc_apart(prof, cache, req)
    {
        return done;
    }
    // SAFETY: as above.
    let before = unsafe { (*cache).refills(class) };
    let (p, zero) = alloc_in(cache, req);
    if p.is_null() {
        return (p, zero);
    }
    // SAFETY: as above.
    let cache = unsafe { &*cache };
    let refills = cache.refills(class) - before;
    let a = Allocated {
        p,
        size: layout.size(),
        class,
        slot: req.slot as u64,
        refills,
    };
    hooks::on_alloc(&HEAP, prof, cache, a, due);
    (p, zero)
}

/// A sampled small allocation, served from the apart region (`region.rs`) so that
/// its free is found by address and no other free has to look for a tag; counted
/// on the class's figures through `cache` (the calling thread's program cache).
/// `None` when the region has no room (the caller then serves it as usual).
#[cold]
fn alloc_apart(
    prof: &mut ThreadProf,
    cache: *mut ThreadCache,
    req: Request,
) -> Option<(*mut u8, bool)> {
    let (p, zero) = region::alloc(req.slot, 0)?;
    HEAP.count_apart(cache, req.class, false);
    let a = Allocated {
        p,
        size: req.layout.size(),
        class: req.class,
        slot: req.slot as u64,
        refills: 0,
    };
    let tag = hooks::on_alloc_apart(prof, a);
    // SAFETY: p is the live block just allocated.
    unsafe { region::set_special(p, tag) };
    Some((p, zero))
}

/// Frees a block of the apart region: its tag charged, the class's figures counted
/// through the calling thread's cache (record `r`, or null).
///
/// # Safety
/// `p` must be a live block of the apart region allocated with `layout` (class
/// `class`).
#[cold]
#[inline(never)]
unsafe fn dealloc_apart(r: *mut ThreadRecord, p: *mut u8, layout: Layout, class: usize) {
    let slot = slot_bytes(class, layout.size());
    // SAFETY: the caller's promise.
    let tag = unsafe { region::free(p, slot) };
    let cache = if r.is_null() {
        ptr::null_mut()
    } else {
        // SAFETY: the calling thread's own live record.
        unsafe { &raw mut (*r).cache }
    };
    HEAP.count_apart(cache, class, true);
    // SAFETY: as above, or null.
    let (prof, _) = unsafe { hook_args(r) };
    let b = Block {
        p,
        size: layout.size(),
        class,
        slot: slot as u64,
    };
    hooks::on_free_tag(prof, tag, b);
}

/// A small allocation on a thread that wants the hooks (`alloc`'s record `r`): the
/// hooked fast path, else [`alloc_slow`].
///
/// # Safety
/// `r` must be the calling thread's own live record and `class` non-zero.
// Cold: the branch to it in `alloc` is laid out off the plain fast path, which
// then falls straight through with no taken jump.
#[cold]
#[inline(never)]
unsafe fn alloc_hooked_small(r: *mut ThreadRecord, layout: Layout, class: usize) -> *mut u8 {
    // SAFETY: the caller's promise.
    let p = unsafe { alloc_hooked(r, layout, class) };
    if !p.is_null() {
        return p;
    }
    alloc_slow(layout, class).0
}

/// The hooked fast path of a small allocation, tried first by [`alloc_slow`]: when
/// the allocation will not be sampled (sampling off, or the thread's byte countdown,
/// Go's `nextSample`, stays above zero) and the thread's context row is cached, a
/// slot from the thread cache's fast path, counted there (the countdown, two adds,
/// and with exact site frees a tag). Null otherwise (the general path then serves it).
///
/// # Safety
/// `r` must be the calling thread's own live record and `class` non-zero.
#[inline(always)]
unsafe fn alloc_hooked(r: *mut ThreadRecord, layout: Layout, class: usize) -> *mut u8 {
    // SAFETY: the caller's promise; the two fields are used apart.
    let (prof, cache) = unsafe { (&mut (*r).prof, &mut (*r).cache) };
    if !hooks::counts_inline(prof, class_size(class) as i64) {
        return ptr::null_mut();
    }
    let p = cache.next_free_fast(&HEAP, class);
    if !p.is_null() {
        hooks::site_alloc(&HEAP, prof, cache, p, layout.size(), class);
    }
    p
}

/// The hooked fast path of a small free once tags exist, tried first by
/// [`dealloc_slow`]: the slot's tag read and charged here, the slot freed through the
/// thread's cache. Returns false, having done nothing, for a sampled or profiler
/// object (the general path then frees it).
///
/// # Safety
/// As [`dealloc_slow`], with `r` the calling thread's own live record and `class`
/// non-zero.
#[inline(always)]
unsafe fn dealloc_tagged(r: *mut ThreadRecord, p: *mut u8, layout: Layout, class: usize) -> bool {
    // SAFETY: the caller's promise; the two fields are used apart.
    let (prof, cache) = unsafe { (&mut (*r).prof, &mut (*r).cache) };
    match hooks::site_free(&HEAP, prof, cache, p, layout.size(), class) {
        hooks::Freed::Program => {
            // SAFETY: p is a live block of `class`, now on no books but the program's.
            unsafe { cache.free(&HEAP, p, class) };
            true
        }
        hooks::Freed::Slow => false,
    }
}

/// The profiler cache of the thread whose record is `r` (made on first use); null
/// when `r` is null or no cache record can be had.
fn shadow(r: *mut ThreadRecord) -> *mut ThreadCache {
    // SAFETY: the calling thread's own live record, or null.
    let Some(rec) = (unsafe { r.as_mut() }) else {
        return ptr::null_mut();
    };
    if rec.shadow.is_null()
        && let Some(s) = HEAP.new_cache(true)
    {
        rec.shadow = s;
    }
    rec.shadow
}

/// An allocation of the profiler (the thread is suspended): served by the thread's
/// profiler cache and tagged as the profiler's.
#[cold]
fn profiler_alloc(r: *mut ThreadRecord, req: Request) -> (*mut u8, bool) {
    // SAFETY: the calling thread's own live record.
    let cache = unsafe { &raw mut (*r).cache };
    let pc = shadow(r);
    if pc.is_null() {
        return alloc_in(cache, req);
    }
    let (p, zero) = alloc_in(pc, req);
    if p.is_null() {
        return (p, zero);
    }
    // SAFETY: the calling thread's own profiler cache.
    if hooks::tag_profiler(&HEAP, unsafe { &*pc }, p, req.class) {
        return (p, zero);
    }
    // No tag (out of memory for the table): its free could not tell it apart, so the
    // program's cache serves it, on the program's books both ways.
    // SAFETY: p was just allocated in req.class through pc, on the profiler's books.
    unsafe { HEAP.dealloc_in(pc, true, p, req.class) };
    alloc_in(cache, req)
}

/// The hooked part of a free or resize: the record's state and program cache, as
/// the hooks take them (`None` for a thread without a record).
///
/// # Safety
/// `r` must be the calling thread's own live record, or null.
unsafe fn hook_args<'a>(
    r: *mut ThreadRecord,
) -> (Option<&'a mut ThreadProf>, Option<&'a ThreadCache>) {
    if r.is_null() {
        return (None, None);
    }
    // SAFETY: the caller's promise; the two fields are used apart.
    unsafe { (Some(&mut (*r).prof), Some(&(*r).cache)) }
}

/// See [`alloc_slow`].
///
/// # Safety
/// `p` must be a live block of the global heap allocated with `layout`, and `class`
/// must be `class_for(layout)`.
#[cold]
#[inline(never)]
unsafe fn dealloc_slow(p: *mut u8, layout: Layout, class: usize) {
    let _scavenger = StartScavenger;
    let r = thread_record();
    if class != 0 && region::contains(p as usize) {
        // SAFETY: forwarded: a block of the region is one of its live blocks.
        return unsafe { dealloc_apart(r, p, layout, class) };
    }
    if class != 0 && !r.is_null() && tags::TAGGED.load(Ordering::Relaxed) {
        // SAFETY: the calling thread's own live record; forwarded.
        if unsafe { dealloc_tagged(r, p, layout, class) } {
            return;
        }
    }
    let cache = if r.is_null() {
        ptr::null_mut()
    } else {
        // SAFETY: the calling thread's own live record.
        unsafe { &raw mut (*r).cache }
    };
    // Even while the profiler itself runs: a tag left behind would be inherited by
    // the slot's next object. Charging a free allocates nothing. The tag says whose
    // books the object is on: the profiler's objects go through the thread's
    // profiler cache (or the profiler's orphan cache).
    if class == 0 && !tags::any(0) {
        // SAFETY: as above.
        hooks::on_free_untagged(unsafe { hook_args(r) }.0, p);
    }
    let profiler = tags::any(class) && {
        // SAFETY: as above.
        let (prof, c) = unsafe { hook_args(r) };
        let b = Block {
            p,
            size: layout.size(),
            class,
            slot: slot_bytes(class, layout.size()) as u64,
        };
        hooks::on_free(&HEAP, prof, c, b)
    };
    let target = if profiler { shadow(r) } else { cache };
    // SAFETY: p is a live block of `class` from this heap; target is this thread's
    // cache on the books `profiler` names, or null (the orphan cache of those books).
    unsafe { HEAP.dealloc_in(target, profiler, p, class) }
}

/// An in-place reallocation when objects may be tagged or it is large: the object's
/// requested bytes follow, on its books and in its context.
#[cold]
#[inline(never)]
fn resized_in_place(p: *mut u8, layout: Layout, new_size: usize, class: usize) {
    let r = thread_record();
    // SAFETY: the calling thread's own live record, or null.
    let (prof, c) = unsafe { hook_args(r) };
    let b = Block {
        p,
        size: layout.size(),
        class,
        slot: slot_bytes(class, layout.size()) as u64,
    };
    if class != 0 && region::contains(p as usize) {
        // SAFETY: a block of the region is one of its live blocks (being resized).
        let tag = unsafe { region::special(p) };
        return hooks::on_resize_tag(prof, tag, b, new_size);
    }
    let profiler = tags::any(class) && hooks::on_resize(&HEAP, prof, c, b, new_size);
    if class == 0 {
        HEAP.resized_large(profiler, layout.size(), new_size);
    }
}

/// A large object resized without a copy (grown into the free pages after it, its
/// tail given back, or its own mapping moved by `mremap`); null when it cannot be.
/// Only while the profiler sees nothing of it (no tags anywhere, no hook wanted):
/// the profiler's per-site and sampled figures count a large reallocation that
/// changes the page count as a free and an allocation, which the moving path gives.
///
/// # Safety
/// As `GlobalAlloc::realloc`, with `p` large and `new_size` large.
#[cold]
#[inline(never)]
unsafe fn realloc_large(p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    if tags::any(0) {
        return ptr::null_mut();
    }
    let r = thread_record();
    // SAFETY: the calling thread's own live record, or null.
    let cache = match unsafe { r.as_mut() } {
        Some(rec) if hooks::wants_alloc_hook(&rec.prof) => return ptr::null_mut(),
        Some(rec) => &raw mut rec.cache,
        None => ptr::null_mut(),
    };
    // SAFETY: forwarded from the caller; cache is this thread's own or null.
    unsafe { HEAP.resize_large(cache, p, layout, new_size) }
}

/// spanprof's global allocator.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();
/// # fn main() {}
/// ```
///
/// All `SpanAlloc` values share one process-wide heap; read its counters with
/// [`stats()`](crate::stats).
#[derive(Clone, Copy, Debug, Default)]
pub struct SpanAlloc {
    _private: (),
}

impl SpanAlloc {
    /// The allocator value to put in a `#[global_allocator]` static.
    pub const fn new() -> Self {
        SpanAlloc { _private: () }
    }
}

/// `GlobalAlloc::alloc` of a layout whose class the caller knows (the C API's
/// `malloc` finds it without `class_for`'s search for a class of the alignment).
///
/// # Safety
/// As `GlobalAlloc::alloc`, and `class == class_for(layout.size(), layout.align())`.
#[inline(always)]
pub(crate) unsafe fn alloc_class(layout: Layout, class: usize) -> *mut u8 {
    let r = record_slot::get();
    if class != 0 && r as usize > DEAD as usize {
        // SAFETY: r is this thread's live record when above DEAD.
        if hooks::wants_alloc_hook(unsafe { &(*r).prof }) {
            // Out of line, in a small function of its own, so the plain path
            // keeps its registers.
            // SAFETY: as above.
            return unsafe { alloc_hooked_small(r, layout, class) };
        }
        // SAFETY: as above.
        let p = unsafe { (*r).cache.next_free_fast(&HEAP, class) };
        if !p.is_null() {
            return p;
        }
    }
    alloc_slow(layout, class).0
}

/// `GlobalAlloc::dealloc` of a block whose class the caller knows (`class_for` of
/// `layout`): the C API's `free` finds it from the pointer and does not compute it
/// again from a layout.
///
/// # Safety
/// As `GlobalAlloc::dealloc`, and `class == class_for(layout.size(), layout.align())`.
#[inline(always)]
pub(crate) unsafe fn dealloc_class(p: *mut u8, layout: Layout, class: usize) {
    let r = record_slot::get();
    // The plain fast path only, as in `alloc`.
    let fast = class != 0 && r as usize > DEAD as usize && !tags::TAGGED.load(Ordering::Relaxed);
    // SAFETY: r is this thread's live record; the caller passes a block we
    // allocated with this layout.
    if fast && unsafe { (*r).cache.try_free(&HEAP, p, class) } {
        return;
    }
    // SAFETY: as above.
    unsafe { dealloc_slow(p, layout, class) }
}

// SAFETY: every method returns memory of at least `layout.size()` bytes aligned to
// `layout.align()` that no other live allocation overlaps (the heap's invariant), or
// null on failure; none unwinds (no panicking code paths; fatal errors abort).
unsafe impl GlobalAlloc for SpanAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the class is the layout's.
        unsafe { alloc_class(layout, class_for(layout.size(), layout.align())) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let (p, zero) = alloc_slow(layout, class_for(layout.size(), layout.align()));
        if !p.is_null() && !zero {
            // SAFETY: p is a fresh block of layout.size() bytes.
            unsafe { ptr::write_bytes(p, 0, layout.size()) };
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: forwarded; the class is the layout's.
        unsafe { dealloc_class(p, layout, class_for(layout.size(), layout.align())) }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // In place: the object stays where it is, in its context and on its books;
        // only its requested bytes change (counted when they can be anywhere: large
        // objects, or any object once tags exist). Moving: through the slow paths, so
        // it is counted (per thread, per site, sampled) like any allocation and free.
        let old = class_for(layout.size(), layout.align());
        if fits_in_place(layout, new_size) {
            if old == 0 || tags::TAGGED.load(Ordering::Relaxed) || region::contains(p as usize) {
                resized_in_place(p, layout, new_size, old);
            }
            return p;
        }
        let new = class_for(new_size, layout.align());
        if old == 0 && new == 0 {
            // SAFETY: forwarded from the caller.
            let q = unsafe { realloc_large(p, layout, new_size) };
            if !q.is_null() {
                return q;
            }
        }
        // SAFETY: the caller guarantees new_size rounded to align fits isize.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let (q, _) = alloc_slow(new_layout, new);
        if !q.is_null() {
            // SAFETY: both blocks are live and at least min(old, new) bytes long; p is
            // freed with its own layout.
            unsafe {
                ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                dealloc_slow(p, layout, old);
            }
        }
        q
    }
}
