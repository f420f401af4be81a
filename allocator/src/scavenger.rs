//! The background scavenger (Go's `mgcscavenge.go`): one thread that hands pages
//! free for about a second back to the OS while the program leaves them alone.
//!
//! The page heap decides *what* goes back (`PageHeap::scavenge_quantum`: the next
//! 64 KiB quantum of pages free for at least `SCAVENGE_AGE_NS`, released with
//! `madvise(MADV_DONTNEED)` under the heap lock, one quantum per lock hold); this file
//! owns *when*: the thread, its pacing and its switch. The heap registers its work
//! once ([`enable`]: the global heap only, at the entry points' start-up, never a
//! test's heap) and calls [`wake`] whenever it frees pages. The first wake that finds
//! [`START_FREE`] bytes free and unreleased (Go's `heapFree`) marks the thread wanted,
//! and the entry points start it on their way out of the slow path, holding no lock
//! ([`start_wanted`]: creating a thread may allocate, through spanprof itself under
//! `LD_PRELOAD`). So a program that never frees much never has one and none starts
//! inside the allocator's first allocation.
//!
//! Pacing follows Go's `scavengePercent`: the thread works in batches of about 1 ms
//! and then sleeps 99 times as long (1 % of a core) while the heap is busy; when the
//! page heap saw no allocation or free since the last batch (the program is idle) it
//! sleeps only 4 times as long, so an idle program's memory goes back within a second
//! or two. With nothing old enough yet it sleeps [`WAIT_NS`]; with nothing free at
//! all it blocks on a futex until the next wake.
//!
//! The thread never allocates through the Rust heap (glibc maps its stack; the work
//! is the page heap's), so it has no thread record and no profile counts it; every
//! signal is blocked on it. `SPANPROF_SCAVENGER=0` turns it off (read at the first
//! wake; the page heap then releases long-free pages on its own frees, as before).
//! In a `fork` child the thread is gone: the child starts its own at its next wake.

use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::os;

/// What one batch of background work did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Work {
    /// Bytes returned to the OS.
    pub released: usize,
    /// Free pages exist that are not old enough yet.
    pub waiting: bool,
    /// The heap allocated or freed pages since the previous batch.
    pub busy: bool,
}

/// A batch of work: `(context, budget in ns)` → what it did.
pub type WorkFn = fn(usize, u64) -> Work;

/// Free, unreleased bytes that start the thread.
pub const START_FREE: u64 = 4 << 20;
/// Work per batch (Go's `minScavWorkTime` is 1 ms).
const BATCH_NS: u64 = 1_000_000;
/// Sleep per unit of work while the heap is busy: 1 % of a core (Go's
/// `scavengePercent` is 1 % of all cores).
const BUSY_RATIO: u64 = 99;
/// Sleep per unit of work while the heap is idle: 20 % of a core, for a second or two.
const IDLE_RATIO: u64 = 4;
/// Shortest sleep between batches.
const MIN_SLEEP_NS: u64 = 1_000_000;
/// Sleep while free pages are too young to release.
const WAIT_NS: u64 = 250_000_000;
const STACK: usize = 128 * 1024;
/// Wait before trying again to start a thread that could not be had.
const RETRY_NS: u64 = 1_000_000_000;

const NOT_STARTED: u8 = 0;
const RUNNING: u8 = 1;
const DISABLED: u8 = 2;
/// A wake found enough to do; the thread starts at the next [`start_wanted`].
const WANTED: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(NOT_STARTED);
/// The registered work (a `WorkFn` as an address; 0 = none) and its context.
static WORK: AtomicUsize = AtomicUsize::new(0);
static CTX: AtomicUsize = AtomicUsize::new(0);
/// Bumped by a wake that finds the thread blocked; the thread blocks on it.
static GEN: AtomicU32 = AtomicU32::new(0);
/// When a failed start may be tried again (monotonic ns; 0 = any time).
static RETRY_AT: AtomicU64 = AtomicU64::new(0);
/// 1 while the thread blocks (or is about to) on `GEN`: only then does a wake touch
/// `GEN` or pay a system call, so a free costs one load.
static BLOCKED: AtomicU32 = AtomicU32::new(0);

/// Registers the heap's background work; the thread may start from the next [`wake`].
pub fn enable(ctx: usize, work: WorkFn) {
    CTX.store(ctx, Ordering::Release);
    WORK.store(work as usize, Ordering::Release);
}

/// Whether the thread runs (the page heap then leaves long-free pages to it).
#[inline]
pub fn running() -> bool {
    STATE.load(Ordering::Relaxed) == RUNNING
}

/// Pages were freed and `free` bytes are free and unreleased: wakes the thread, or
/// starts it the first time there is enough to do.
#[inline]
pub fn wake(free: u64) {
    match STATE.load(Ordering::Relaxed) {
        RUNNING if BLOCKED.load(Ordering::SeqCst) != 0 => {
            GEN.fetch_add(1, Ordering::SeqCst);
            os::futex_wake(&GEN);
        }
        NOT_STARTED if free >= START_FREE && WORK.load(Ordering::Relaxed) != 0 => want(),
        _ => {}
    }
}

/// Marks the thread wanted. Wakes run under the heap's locks, and creating a thread
/// may allocate (glibc's `pthread_create` calls `calloc` for the new thread's TLS,
/// which is spanprof's own under `LD_PRELOAD`): the entry points start it with
/// [`start_wanted`] once they hold no lock.
#[cold]
fn want() {
    let retry = RETRY_AT.load(Ordering::Relaxed);
    if retry != 0 && os::now_ns() < retry {
        return;
    }
    let _ = STATE.compare_exchange(NOT_STARTED, WANTED, Ordering::AcqRel, Ordering::Relaxed);
}

/// Starts the thread if a wake wanted it. The caller must hold no allocator lock.
#[inline]
pub fn start_wanted() {
    if STATE.load(Ordering::Relaxed) == WANTED {
        start();
    }
}

#[cold]
fn start() {
    if STATE
        .compare_exchange(WANTED, DISABLED, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    if switched_off() {
        return;
    }
    static FORK_HOOK: AtomicU8 = AtomicU8::new(0);
    if FORK_HOOK.swap(1, Ordering::AcqRel) == 0 {
        // SAFETY: a plain function that resets this file's atomics.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    }
    // RUNNING before the thread exists, so no second start races this one. If the
    // thread cannot be had (out of threads or memory for a moment), a free a second
    // later tries again; meanwhile the page heap scavenges on its frees.
    STATE.store(RUNNING, Ordering::Release);
    if !os::spawn_detached(run, STACK) {
        RETRY_AT.store(os::now_ns() + RETRY_NS, Ordering::Relaxed);
        STATE.store(NOT_STARTED, Ordering::Release);
    }
}

/// `SPANPROF_SCAVENGER=0` (or `off`, `false`, `no`).
fn switched_off() -> bool {
    // SAFETY: getenv returns null or a NUL-terminated string that lives while the
    // environment is not changed; it allocates nothing.
    let v = unsafe { libc::getenv(c"SPANPROF_SCAVENGER".as_ptr()) };
    if v.is_null() {
        return false;
    }
    // SAFETY: as above.
    let v = unsafe { core::ffi::CStr::from_ptr(v) }.to_bytes();
    matches!(v, b"0" | b"off" | b"false" | b"no")
}

/// In a `fork` child only the forking thread exists: the next wake starts a new one.
extern "C" fn after_fork_in_child() {
    BLOCKED.store(0, Ordering::Relaxed);
    if STATE.load(Ordering::Relaxed) == RUNNING {
        STATE.store(NOT_STARTED, Ordering::Relaxed);
    }
}

/// The thread: batches of work, paced; blocks when there is nothing to do.
extern "C" fn run(_: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: names the calling thread (15 bytes and the NUL, the kernel's limit).
    unsafe { libc::pthread_setname_np(libc::pthread_self(), c"spanprof-scav".as_ptr()) };
    let w = WORK.load(Ordering::Acquire);
    // SAFETY: a non-zero WORK is the address of a `WorkFn` stored by `enable`, and
    // `start` runs only once one is registered.
    let work: WorkFn = unsafe { core::mem::transmute::<usize, WorkFn>(w) };
    let ctx = CTX.load(Ordering::Acquire);
    let mut blocked = false;
    loop {
        let seen = GEN.load(Ordering::SeqCst);
        let t0 = os::now_ns();
        let done = work(ctx, BATCH_NS);
        let spent = os::now_ns().saturating_sub(t0);
        if done.released > 0 || done.waiting {
            BLOCKED.store(0, Ordering::SeqCst);
            blocked = false;
        }
        if done.released > 0 {
            let ratio = if done.busy { BUSY_RATIO } else { IDLE_RATIO };
            os::sleep_ns((spent * ratio).max(MIN_SLEEP_NS));
        } else if done.waiting {
            os::sleep_ns(WAIT_NS);
        } else if !blocked {
            // Announce the block, then look once more: a free that the look misses
            // comes after it (the heap lock orders them) and so sees the flag.
            BLOCKED.store(1, Ordering::SeqCst);
            blocked = true;
        } else {
            // Returns at once if a wake came since `seen` was read.
            os::futex_wait(&GEN, seen);
        }
    }
}
