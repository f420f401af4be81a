//! The peak: the moment the program's live bytes were largest, and what was live
//! then, per site stack and class (exact) and per sampled record (raw counts, which
//! the writer turns into estimates), like heaptrack's peak contributions and dhat's
//! t-gmax.
//!
//! Cheap by construction: [`check`] runs only on the hooks' slow paths (an
//! allocation that refilled a thread cache or a large one) and only while a profile
//! is asked for ([`enable`]). It first compares a near upper bound of the live bytes,
//! the page heap's pages in use plus 1/16 (for sampled objects of the apart region,
//! at most about 3 % of the heap), with the last peak plus a margin,
//! `max(peak / 16, 1 MiB)`; only above it does it read the exact live bytes
//! (`Heap::stats`) and, when those exceed the last peak by the margin too, copy the
//! live figures of every context and sampled record into a snapshot held off the
//! Rust heap (mapped at the first peak, never freed). A check that finds no new peak
//! raises the bound's threshold to the pages then plus the margin and waits at least
//! 1 ms, so a fragmented heap, whose pages stay above the last peak, is checked again
//! only when its pages grow by another margin (the threshold comes down again when
//! the pages fall two margins below it).
//!
//! Precision: the recorded `live_bytes` is exact for its moment; the true maximum
//! may exceed it by the margin, by what threads allocated from spans they already
//! held (no refill, so no check; at most a span per class per thread), by growth of
//! the live bytes into free slots of pages already in use after a check that found
//! no new peak (at most those pages' free bytes then: a fragmented heap's peak can be
//! missed by its fragmentation until its pages grow), and by a peak shorter than
//! the 1 ms wait. Nothing here allocates.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use crate::heap::Heap;
use crate::os;
use crate::profile::context::{self, MAX_CTX};
use crate::profile::counters::Totals;
use crate::profile::sample::{self, MAX_RECORDS};
use crate::size_class::{NUM_CLASSES, PAGE_SIZE};

/// Checks run only while a profile is asked for.
static ON: AtomicBool = AtomicBool::new(false);
/// Taken while a snapshot is written or read.
static BUSY: AtomicBool = AtomicBool::new(false);
/// The live bytes of the recorded peak (0 = none yet).
static PEAK_LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK_MAPPED: AtomicU64 = AtomicU64::new(0);
static PEAK_AT_NS: AtomicU64 = AtomicU64::new(0);
/// No exact check while the bound (pages in use plus 1/16) stays below this: the
/// last peak plus the margin, or, after a check that found no new peak, the bound
/// then plus the margin. It starts at the first peak's margin: below that no
/// check can find a peak, and a check that finds none holds the next for 1 ms (a
/// start at 0 checked the first refill, and a short program's whole peak could
/// pass unseen in that millisecond).
static FLOOR: AtomicU64 = AtomicU64::new(MIN_MARGIN);
/// No exact check before this time (after one that found no new peak).
static QUIET_UNTIL_NS: AtomicU64 = AtomicU64::new(0);
/// Per context and class, the totals at the peak (`MAX_CTX × NUM_CLASSES`).
static SITES: AtomicPtr<[Totals; NUM_CLASSES]> = AtomicPtr::new(ptr::null_mut());
/// Contexts in `SITES` at the peak.
static SITES_LEN: AtomicU64 = AtomicU64::new(0);
/// Per sampled record, objects in use at the peak (`MAX_RECORDS`).
static RECORDS: AtomicPtr<u64> = AtomicPtr::new(ptr::null_mut());
static RECORDS_LEN: AtomicU64 = AtomicU64::new(0);

/// The least growth over the last peak that records a new one.
const MIN_MARGIN: u64 = 1 << 20;

/// Turns the peak checks on (when a profile is asked for).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

fn margin(peak: u64) -> u64 {
    (peak / 16).max(MIN_MARGIN)
}

/// The program's live bytes now: small objects at slot bytes, large ones
/// page-rounded (the exact figure, from every cache's counters).
pub fn live_bytes(heap: &Heap) -> (u64, u64) {
    let s = heap.stats();
    let small: u64 = s.classes.iter().map(|c| c.live_bytes).sum();
    let large = s.large.bytes_allocated.saturating_sub(s.large.bytes_freed);
    (small + large, s.heap.bytes_mapped)
}

/// Sums the live threads' counter tables and the retired totals into the rows given
/// (the hooks' thread list owns the tables).
pub type SumTables = fn(&mut [[Totals; NUM_CLASSES]]);

/// After an allocation on a slow path (a refill or a large object): records a new
/// peak snapshot when the live bytes passed the last peak by the margin.
#[inline]
pub fn check(heap: &Heap, sum: SumTables) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let pages = heap.counters.pages_in_use.load(Ordering::Relaxed) * PAGE_SIZE as u64;
    let bound = pages + pages / 16;
    let floor = FLOOR.load(Ordering::Relaxed);
    if bound < floor {
        // The pages fell well below the floor (spans given back): lower it, so the
        // live bytes of a new peak cannot hide in pages already in use.
        let peak = PEAK_LIVE.load(Ordering::Relaxed);
        let m = margin(peak);
        if bound + 2 * m < floor {
            FLOOR.store((bound + m).max(peak + m), Ordering::Relaxed);
        }
        return;
    }
    check_exact(heap, sum, bound);
}

#[cold]
fn check_exact(heap: &Heap, sum: SumTables, bound: u64) {
    let now = os::now_ns();
    if now < QUIET_UNTIL_NS.load(Ordering::Relaxed) {
        return;
    }
    if BUSY.swap(true, Ordering::Acquire) {
        return;
    }
    let peak = PEAK_LIVE.load(Ordering::Relaxed);
    let (live, mapped) = live_bytes(heap);
    if live >= peak + margin(peak) && take(now, live, mapped, sum) {
        QUIET_UNTIL_NS.store(0, Ordering::Relaxed);
        FLOOR.store(live + margin(live), Ordering::Relaxed);
    } else {
        // Not before the pages grow by another margin (or a millisecond passed).
        QUIET_UNTIL_NS.store(now + 1_000_000, Ordering::Relaxed);
        FLOOR.store(bound + margin(peak), Ordering::Relaxed);
    }
    BUSY.store(false, Ordering::Release);
}

/// Copies what is live now into the snapshot (under `BUSY`); false when out of
/// memory for it.
fn take(now: u64, live: u64, mapped: u64, sum: SumTables) -> bool {
    let Some(sites) = mapped_or(&SITES, MAX_CTX * size_of::<[Totals; NUM_CLASSES]>()) else {
        return false;
    };
    let Some(records) = mapped_or(&RECORDS, MAX_RECORDS * size_of::<u64>()) else {
        return false;
    };
    let n = context::count().min(MAX_CTX);
    // SAFETY: a live mapping of MAX_CTX rows, written only under BUSY (ours).
    let rows = unsafe { core::slice::from_raw_parts_mut(sites, n) };
    rows.fill([Totals::default(); NUM_CLASSES]);
    sum(rows);
    // SAFETY: a live mapping of MAX_RECORDS words, written only under BUSY.
    let inuse = unsafe { core::slice::from_raw_parts_mut(records, MAX_RECORDS) };
    let m = sample::inuse_into(inuse);
    SITES_LEN.store(n as u64, Ordering::Relaxed);
    RECORDS_LEN.store(m as u64, Ordering::Relaxed);
    PEAK_LIVE.store(live, Ordering::Relaxed);
    PEAK_MAPPED.store(mapped, Ordering::Relaxed);
    PEAK_AT_NS.store(now, Ordering::Relaxed);
    true
}

fn mapped_or<T>(slot: &AtomicPtr<T>, len: usize) -> Option<*mut T> {
    let p = slot.load(Ordering::Acquire);
    if !p.is_null() {
        return Some(p);
    }
    let p = os::map(len)?.as_ptr().cast::<T>();
    slot.store(p, Ordering::Release);
    Some(p)
}

/// The recorded peak, for the writer: its time (monotonic ns), live and mapped bytes,
/// per context the totals then, per sampled record the objects in use then.
#[derive(Debug)]
pub struct Snapshot {
    pub at_ns: u64,
    pub live_bytes: u64,
    pub mapped_bytes: u64,
    pub sites: Vec<[Totals; NUM_CLASSES]>,
    pub records: Vec<u64>,
}

/// A copy of the recorded peak (see [`Snapshot`]); `None` when none was recorded.
/// Allocates (call with the hooks suspended).
pub fn snapshot() -> Option<Snapshot> {
    while BUSY.swap(true, Ordering::Acquire) {
        core::hint::spin_loop();
    }
    let out = copy();
    BUSY.store(false, Ordering::Release);
    out
}

fn copy() -> Option<Snapshot> {
    let live = PEAK_LIVE.load(Ordering::Relaxed);
    let sites = SITES.load(Ordering::Acquire);
    let records = RECORDS.load(Ordering::Acquire);
    if live == 0 || sites.is_null() || records.is_null() {
        return None;
    }
    let n = SITES_LEN.load(Ordering::Relaxed) as usize;
    let m = RECORDS_LEN.load(Ordering::Relaxed) as usize;
    // SAFETY: live mappings whose first n rows and m words `take` wrote; we hold BUSY.
    let (sites, records) = unsafe {
        (
            core::slice::from_raw_parts(sites, n).to_vec(),
            core::slice::from_raw_parts(records, m).to_vec(),
        )
    };
    Some(Snapshot {
        at_ns: PEAK_AT_NS.load(Ordering::Relaxed),
        live_bytes: live,
        mapped_bytes: PEAK_MAPPED.load(Ordering::Relaxed),
        sites,
        records,
    })
}

/// Holds the snapshot's flag until [`force_unlock`] (around `fork`: a snapshot under
/// way on another thread would leave it set in the child for good).
pub(crate) fn lock_forever() {
    while BUSY.swap(true, Ordering::Acquire) {
        core::hint::spin_loop();
    }
}

/// Releases [`lock_forever`]'s flag.
///
/// # Safety
/// Must follow `lock_forever` on the same thread.
pub(crate) unsafe fn force_unlock() {
    BUSY.store(false, Ordering::Release);
}
