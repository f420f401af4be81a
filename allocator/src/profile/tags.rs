//! Slot tags: which context allocated a slot, and which sample (if any) it belongs to.
//!
//! A free must be charged to the context that made the object and must tell a
//! sampled object's stack that it died, but the allocator's fast paths keep no
//! per-object data. So spans that hold such objects get a side table of one `u32`
//! per slot, made the first time one is needed (off the Rust heap, freed with the
//! span). Once any table of a small span exists, small frees take the hooked path,
//! which looks at the span's table only when it has one: spans without tagged
//! objects cost one load. Sampled small objects are not tagged here when sampling is
//! sparse: the entry points put them in the apart region (`region.rs`), which the
//! free path recognises by address, so sampling alone never sends frees this way.
//!
//! One tag is no context and no sample: [`PROFILER`] marks an object spanprof made
//! for itself, so that its free, on whatever thread and however much later, is
//! charged to the profiler's books and not the program's (see `hooks.rs`).

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::fixalloc::FixAlloc;
use crate::lock::SpinLock;
use crate::size_class::{PAGE_SIZE, span_objects};
use crate::span::Span;

/// Set once the first tag table of a small span exists: from then on small frees
/// take the hooked path.
pub static TAGGED: AtomicBool = AtomicBool::new(false);

/// Set once the first tag table of a large object's span exists (large frees take
/// the slow path anyway; they look at tags from then on).
static LARGE_TAGGED: AtomicBool = AtomicBool::new(false);

/// Whether a free or resize of an object of `class` (0 = large) must look for a tag.
#[inline]
pub fn any(class: usize) -> bool {
    TAGGED.load(Ordering::Relaxed) || (class == 0 && LARGE_TAGGED.load(Ordering::Relaxed))
}

/// Set once a site's object was tagged with its context alone (exact per-site frees,
/// see [`SITE_FREES`]): from then on any slot may carry a tag, and frees look.
pub static SITE_TAGS: AtomicBool = AtomicBool::new(false);

/// Whether objects allocated under a site are tagged, so their frees are charged to
/// the site exactly (on by default; `spanprof::set_site_frees`). Off, sites count
/// what they allocate only, and only sampled and profiler objects carry tags.
pub static SITE_FREES: AtomicBool = AtomicBool::new(true);

/// Set for good once exact site frees were turned off: a profile then says its
/// sites' frees and live figures are not exact (`Profile::site_frees`).
pub static SITE_FREES_OFF_SEEN: AtomicBool = AtomicBool::new(false);

/// Turns exact site frees on or off (`spanprof::set_site_frees`,
/// `SPANPROF_SITE_FREES`).
pub fn set_site_frees(exact: bool) {
    if !exact {
        SITE_FREES_OFF_SEEN.store(true, Ordering::Relaxed);
    }
    SITE_FREES.store(exact, Ordering::Relaxed);
}

/// Whether every site free so far was charged exactly (exact site frees never off).
pub fn site_frees_exact() -> bool {
    !SITE_FREES_OFF_SEEN.load(Ordering::Relaxed)
}

/// Buckets of [`FILTER`] (a power of two).
const FILTER_LEN: usize = 1 << 16;

/// A counting filter of the slots that carry a sample or profiler tag, by address
/// hash: a free whose bucket reads zero carries no such tag, so while no site tags
/// exist ([`SITE_TAGS`]) it skips the span lookup. Counts go up when such a tag is
/// set and down when it is taken; collisions only cost a lookup.
static FILTER: [AtomicU32; FILTER_LEN] = [const { AtomicU32::new(0) }; FILTER_LEN];

#[inline(always)]
fn bucket(p: usize) -> &'static AtomicU32 {
    let h =
        ((p >> 3) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - FILTER_LEN.trailing_zeros());
    // SAFETY: h < FILTER_LEN by the shift.
    unsafe { FILTER.get_unchecked(h as usize) }
}

/// Sampling denser than one stack per this many bytes turns the filter off for good
/// (every object is then tagged, and the filter's atomic counts would only cost).
const FILTER_MIN_RATE: u64 = 64 * 1024;

/// Set, for good, once a sample tag was stored without being counted in [`FILTER`]
/// (dense sampling): from then on every slot may carry a tag.
static FILTER_OFF: AtomicBool = AtomicBool::new(false);

/// Whether slot `p` may carry a tag. False means certainly not, so its free needs no
/// span lookup.
#[inline(always)]
pub fn may_be_tagged(p: usize) -> bool {
    SITE_TAGS.load(Ordering::Relaxed)
        || FILTER_OFF.load(Ordering::Relaxed)
        || bucket(p).load(Ordering::Relaxed) != 0
}

/// Notes that slot `p` now carries `tag` (non-zero) for [`may_be_tagged`].
#[inline]
fn note_set(p: usize, tag: u32) {
    if tag >> CTX_BITS != 0 {
        if FILTER_OFF.load(Ordering::Relaxed) {
            return;
        }
        let rate = crate::profile::sample::RATE.load(Ordering::Relaxed);
        if tag != PROFILER && rate != 0 && rate < FILTER_MIN_RATE {
            FILTER_OFF.store(true, Ordering::Relaxed);
            return;
        }
        bucket(p).fetch_add(1, Ordering::Relaxed);
    } else if !SITE_TAGS.load(Ordering::Relaxed) {
        SITE_TAGS.store(true, Ordering::Relaxed);
    }
}

/// Notes that the tag `tag` (non-zero) was taken off slot `p`.
#[inline]
pub fn note_taken(p: usize, tag: u32) {
    if tag >> CTX_BITS != 0 && !FILTER_OFF.load(Ordering::Relaxed) {
        bucket(p).fetch_sub(1, Ordering::Relaxed);
    }
}

/// Low bits of a tag: the context id; high bits: sample record + 1.
pub const CTX_BITS: u32 = 12;
const CTX_MASK: u32 = (1 << CTX_BITS) - 1;

/// One table record holds a tag per slot of the largest span (1024 slots).
const TABLE_BYTES: usize = 4096;

static POOL: SpinLock<FixAlloc> = SpinLock::new(FixAlloc::new(TABLE_BYTES));

/// The tag of an object on the profiler's books. [`pack`] never makes it: its sample
/// part would be a record id far beyond the sample table.
pub const PROFILER: u32 = u32::MAX;

const _: () = assert!(
    (crate::profile::sample::MAX_RECORDS as u64) < (PROFILER >> CTX_BITS) as u64 - 1,
    "a real tag could read as PROFILER"
);

/// Packs a context and an optional sample record.
pub fn pack(ctx: u32, sample: Option<u32>) -> u32 {
    (ctx & CTX_MASK) | sample.map_or(0, |s| (s + 1) << CTX_BITS)
}

/// Unpacks a tag into (context, sample record).
pub fn unpack(tag: u32) -> (u32, Option<u32>) {
    let s = tag >> CTX_BITS;
    (tag & CTX_MASK, if s == 0 { None } else { Some(s - 1) })
}

#[inline]
fn slot_index(span: &Span, p: usize) -> usize {
    match span.class as usize {
        0 => 0,
        c if c < crate::size_class::NUM_CLASSES => crate::size_class::slot_index(c, p - span.start),
        _ => usize::MAX,
    }
}

fn table(span: &Span) -> *mut AtomicU32 {
    span.special.load(Ordering::Acquire).cast()
}

/// The tag cell of slot `p` (of small class `class`, non-zero) of `span`, when the
/// span has a table: the inline path of the hooks' fast paths.
#[inline(always)]
pub fn small_cell(span: &Span, class: usize, p: usize) -> Option<&AtomicU32> {
    let t = table(span);
    if t.is_null() {
        return None;
    }
    let i = crate::size_class::slot_index(class, p.wrapping_sub(span.start));
    if i >= TABLE_BYTES / 4 {
        return None;
    }
    // SAFETY: i < 1024 slots of the live table record, which lives as long as the
    // span holds it (the caller's block keeps the span alive).
    Some(unsafe { &*t.add(i) })
}

/// Tags slot `p` of small class `class` of `span` with context `ctx` (no sample):
/// a store when the span has its table, else through [`set`].
#[inline(always)]
pub fn set_ctx(span: &Span, class: usize, p: usize, ctx: u32) {
    match small_cell(span, class, p) {
        Some(cell) => {
            if !SITE_TAGS.load(Ordering::Relaxed) {
                SITE_TAGS.store(true, Ordering::Relaxed);
            }
            cell.store(pack(ctx, None), Ordering::Release);
        }
        None => {
            set(span, p, pack(ctx, None));
        }
    }
}

/// Tags slot `p` of `span`, making the span's table if needed. Returns false when
/// the table cannot be made (out of memory): the object then goes untagged.
pub fn set(span: &Span, p: usize, tag: u32) -> bool {
    let mut t = table(span);
    if t.is_null() {
        let Some(fresh) = POOL.lock().alloc() else {
            return false;
        };
        let fresh = fresh.as_ptr().cast::<u32>();
        match span.special.compare_exchange(
            ptr::null_mut(),
            fresh.cast(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => t = fresh.cast(),
            Err(other) => {
                // SAFETY: our fresh record was never published.
                unsafe { POOL.lock().free(NonNull::new_unchecked(fresh.cast())) };
                t = other.cast();
            }
        }
        if span.class == 0 {
            LARGE_TAGGED.store(true, Ordering::Release);
        } else {
            TAGGED.store(true, Ordering::Release);
        }
    }
    let i = slot_index(span, p);
    if i >= TABLE_BYTES / 4 {
        return false;
    }
    if tag != 0 {
        note_set(p, tag);
    }
    // SAFETY: i < 1024 slots of the table record.
    unsafe { (*t.add(i)).store(tag, Ordering::Release) };
    true
}

/// The tag cell of slot `p`, when the span has a table.
fn cell(span: &Span, p: usize) -> Option<&AtomicU32> {
    let t = table(span);
    if t.is_null() {
        return None;
    }
    let i = slot_index(span, p);
    if i >= TABLE_BYTES / 4 {
        return None;
    }
    // SAFETY: i < 1024 slots of the live table record, which lives as long as the
    // span holds it.
    Some(unsafe { &*t.add(i) })
}

/// Takes (and clears) the tag of slot `p`, or 0.
pub fn take(span: &Span, p: usize) -> u32 {
    let Some(tag) = cell(span, p) else {
        return 0;
    };
    // Only the thread freeing the slot touches its tag now, so a load and a store
    // suffice (no atomic swap).
    let v = tag.load(Ordering::Acquire);
    if v != 0 {
        tag.store(0, Ordering::Relaxed);
        note_taken(p, v);
    }
    v
}

/// The tag of slot `p`, or 0, left in place (an object resized where it is).
pub fn peek(span: &Span, p: usize) -> u32 {
    cell(span, p).map_or(0, |tag| tag.load(Ordering::Acquire))
}

/// Frees a tag table detached from its span (the span is going back to the page
/// heap): the `span::SpecialRelease` the entry points register.
pub fn release(table: *mut u8) {
    if let Some(t) = NonNull::new(table) {
        // SAFETY: every special record is a tag table from POOL, and the span no
        // longer references it.
        unsafe { POOL.lock().free(t) };
    }
}

const _: () = assert!(span_objects(1) * 4 <= TABLE_BYTES && PAGE_SIZE / 8 == 1024);

/// Holds the lock until [`force_unlock`] (around `fork`).
pub(crate) fn lock_forever() {
    POOL.lock_forever();
}

/// Releases [`lock_forever`]'s lock.
///
/// # Safety
/// Must follow `lock_forever` on the same thread.
pub(crate) unsafe fn force_unlock() {
    // SAFETY: forwarded.
    unsafe { POOL.force_unlock() };
}
