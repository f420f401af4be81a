//! The apart region: a fixed range of addresses whose objects every free recognises
//! by their address alone, with no load of allocator metadata (tcmalloc's sampled
//! memory tag, `MemoryTag::kSampled`).
//!
//! Some small objects need work when they are freed (a sampled object must tell its
//! stack it died), but the fast paths keep no per-object data and a free's only
//! clue is its address. Serving those few objects from a range of their own makes
//! the test one XOR and one shift against a word that is set once, so every other
//! free pays nothing for them. The range (`LEN` bytes at `BASE`) is reserved once,
//! inaccessible, the first time it is wanted, and committed as it is used; if the
//! kernel will not give that exact range, [`contains`] stays false for every address
//! and [`alloc`] returns `None` (the caller then serves the object as usual).
//!
//! Each object gets whole pages of its own, so this suits objects that are rare (a
//! few per MiB allocated); freed blocks are kept per page count for the next one. A
//! block carries one `u32` beside it (the *special*, after Go's span specials) that
//! the layer putting it there reads back at free; the core never interprets it.
//! The entry points (`malloc.rs`) decide what goes here; the thread cache's free path
//! (`cache.rs`) declines addresses in the range so they reach the entry points' slow
//! path.

use core::ptr;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::lock::SpinLock;
use crate::os;
use crate::size_class::{MAX_SMALL_SIZE, PAGE_SIZE};

/// Start of the range: 16 TiB, far below where Linux places mappings (near 128 TiB
/// down) and above where it places programs and their `brk` heap.
const BASE: usize = 0x1000_0000_0000;
/// log2 of the range's length; `BASE` is aligned to it.
const SHIFT: u32 = 32;
/// 4 GiB: at one object per 256 KiB sampled, room for the sampled objects of a
/// 128 GiB live heap.
pub(crate) const LEN: usize = 1 << SHIFT;
/// Pages committed at a time.
const COMMIT: usize = 1 << 20;
/// The largest block, in pages (a small object of the largest class).
const MAX_PAGES: usize = MAX_SMALL_SIZE / PAGE_SIZE;
/// Pages in the range (entries of the specials table).
const PAGES: usize = LEN / PAGE_SIZE;

const _: () = assert!(BASE & (LEN - 1) == 0 && MAX_SMALL_SIZE.is_multiple_of(PAGE_SIZE));

/// `BASE` once the range is reserved; until then (and if it cannot be) an address no
/// user pointer has, so that [`contains`] is false.
static START: AtomicUsize = AtomicUsize::new(NONE);
const NONE: usize = 1 << 63;

struct State {
    /// Whether the reservation was tried (it is tried once).
    tried: bool,
    /// Bytes of the range handed out so far (blocks are never given back to it).
    used: usize,
    /// Bytes of the range committed (readable and writable).
    committed: usize,
    /// Freed blocks by page count (index 0 unused), linked through their first word.
    free: [*mut u8; MAX_PAGES + 1],
    /// One special per page of the range (the block's first page holds it).
    specials: *mut AtomicU32,
    /// Bytes of blocks handed out and not freed.
    in_use: usize,
}

// SAFETY: the raw pointers are into memory this module owns; access is under STATE.
unsafe impl Send for State {}

static STATE: SpinLock<State> = SpinLock::new(State {
    tried: false,
    used: 0,
    committed: 0,
    free: [ptr::null_mut(); MAX_PAGES + 1],
    specials: ptr::null_mut(),
    in_use: 0,
});

/// Whether `p` lies in the region: one load of a word set once, an XOR and a shift.
#[inline(always)]
pub fn contains(p: usize) -> bool {
    (p ^ START.load(Ordering::Relaxed)) >> SHIFT == 0
}

/// Pages of a block holding `bytes` (1 ..= MAX_PAGES for a small object).
fn pages_for(bytes: usize) -> usize {
    bytes.div_ceil(PAGE_SIZE).max(1)
}

/// Reserves the range and the specials table, once. False when unavailable.
fn reserve(st: &mut State) -> bool {
    if st.tried {
        return !st.specials.is_null();
    }
    st.tried = true;
    if !os::reserve_at(BASE, LEN) {
        return false;
    }
    let Some(table) = os::map(PAGES * size_of::<AtomicU32>()) else {
        // SAFETY: the range was just reserved by us and holds nothing.
        unsafe { os::unmap(BASE as *mut u8, LEN) };
        return false;
    };
    st.specials = table.as_ptr().cast();
    START.store(BASE, Ordering::Release);
    true
}

/// A block for an object of `bytes` (at most `MAX_SMALL_SIZE`), page-aligned, with
/// its special set to `special`; and whether it reads as zero. `None` when the range
/// is unavailable or full.
pub fn alloc(bytes: usize, special: u32) -> Option<(*mut u8, bool)> {
    let n = pages_for(bytes);
    if n > MAX_PAGES {
        return None;
    }
    let mut st = STATE.lock();
    if !reserve(&mut st) {
        return None;
    }
    let (p, zero) = if st.free[n].is_null() {
        (bump(&mut st, n * PAGE_SIZE)?, true)
    } else {
        let p = st.free[n];
        // SAFETY: a freed block of ours holds the next block's address in its first word.
        st.free[n] = unsafe { p.cast::<*mut u8>().read() };
        (p, false)
    };
    st.in_use += n * PAGE_SIZE;
    special_of(&st, p as usize).store(special, Ordering::Relaxed);
    Some((p, zero))
}

/// Carves `bytes` off the unused end of the range, committing as needed.
fn bump(st: &mut State, bytes: usize) -> Option<*mut u8> {
    let end = st.used.checked_add(bytes).filter(|&e| e <= LEN)?;
    if end > st.committed {
        let grow = (end - st.committed)
            .next_multiple_of(COMMIT)
            .min(LEN - st.committed);
        // SAFETY: [committed, committed+grow) lies in our reservation and was never
        // handed out.
        if !unsafe { os::commit((BASE + st.committed) as *mut u8, grow) } {
            return None;
        }
        st.committed += grow;
    }
    let p = (BASE + st.used) as *mut u8;
    st.used = end;
    Some(p)
}

/// The special of the block at `p` (a block's first page), which must lie in the range.
fn special_of(st: &State, p: usize) -> &AtomicU32 {
    let i = (p - BASE) / PAGE_SIZE;
    debug_assert!(i < PAGES);
    // SAFETY: i < PAGES entries of the specials table, mapped for the process's life.
    unsafe { &*st.specials.add(i) }
}

/// The special of the live block at `p`.
///
/// # Safety
/// `p` must be a live block of this region.
pub unsafe fn special(p: *mut u8) -> u32 {
    let st = STATE.lock();
    special_of(&st, p as usize).load(Ordering::Relaxed)
}

/// Sets the special of the live block at `p`.
///
/// # Safety
/// `p` must be a live block of this region.
pub unsafe fn set_special(p: *mut u8, special: u32) {
    let st = STATE.lock();
    special_of(&st, p as usize).store(special, Ordering::Relaxed);
}

/// Frees the block at `p`, which held an object of `bytes`; returns its special.
///
/// # Safety
/// `p` must be a live block of this region, allocated for an object of `bytes`,
/// and nothing may use it afterwards.
pub unsafe fn free(p: *mut u8, bytes: usize) -> u32 {
    let n = pages_for(bytes);
    let mut st = STATE.lock();
    let special = special_of(&st, p as usize).swap(0, Ordering::Relaxed);
    // SAFETY: the block is ours again and at least a page long: its first word links it.
    unsafe { p.cast::<*mut u8>().write(st.free[n]) };
    st.free[n] = p;
    st.in_use -= n * PAGE_SIZE;
    special
}

/// Bytes of the region committed (mapped readable) and in use by live blocks.
pub fn footprint() -> (u64, u64) {
    let st = STATE.lock();
    (st.committed as u64, st.in_use as u64)
}

/// Holds the region's lock until [`force_unlock`] (around `fork`).
pub fn lock_forever() {
    STATE.lock_forever();
}

/// Releases [`lock_forever`]'s lock.
///
/// # Safety
/// Must follow `lock_forever` on the same thread.
pub unsafe fn force_unlock() {
    // SAFETY: forwarded.
    unsafe { STATE.force_unlock() };
}
