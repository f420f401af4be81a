//! Per-context counters: for each site stack and size class, what was allocated
//! and freed.
//!
//! Each thread counts into its own table (single writer, no lock, no atomic
//! read-modify-write); a snapshot sums the tables of live threads and the totals of
//! threads that exited. Class 0 holds large objects. Frees are counted by the thread
//! that frees, under the context that allocated the object (read from the slot's
//! tag), so live = allocations − frees holds across threads.
//!
//! Requested bytes follow in-place reallocations: the thread that resizes an object
//! adds the (two's-complement, when it shrinks) difference to the object's context,
//! so one thread's cell may hold a "negative" amount; every sum wraps, and the totals
//! come out exact. Frees record the object's requested size as well, so the requested
//! bytes of live objects are known too.

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::fixalloc::FixAlloc;
use crate::lock::SpinLock;
use crate::os;
use crate::profile::context::MAX_CTX;
use crate::size_class::NUM_CLASSES;

/// Counters of one (context, class).
#[derive(Debug, Default)]
#[repr(C)]
pub struct ClassCounters {
    pub allocs: AtomicU64,
    pub slot_bytes: AtomicU64,
    pub requested_bytes: AtomicU64,
    pub refills: AtomicU64,
    pub frees: AtomicU64,
    pub freed_bytes: AtomicU64,
    /// Requested bytes of the freed objects, as they were when freed.
    pub freed_requested: AtomicU64,
    /// Objects freed with no other allocation on their thread in between.
    pub temporary: AtomicU64,
}

/// Plain totals of one (context, class), as a snapshot reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub allocs: u64,
    pub slot_bytes: u64,
    pub requested_bytes: u64,
    pub refills: u64,
    pub frees: u64,
    pub freed_bytes: u64,
    pub freed_requested: u64,
    pub temporary: u64,
}

impl Totals {
    /// Adds `o` (wrapping: see the module docs).
    pub fn add(&mut self, o: &Totals) {
        self.allocs = self.allocs.wrapping_add(o.allocs);
        self.slot_bytes = self.slot_bytes.wrapping_add(o.slot_bytes);
        self.requested_bytes = self.requested_bytes.wrapping_add(o.requested_bytes);
        self.refills = self.refills.wrapping_add(o.refills);
        self.frees = self.frees.wrapping_add(o.frees);
        self.freed_bytes = self.freed_bytes.wrapping_add(o.freed_bytes);
        self.freed_requested = self.freed_requested.wrapping_add(o.freed_requested);
        self.temporary = self.temporary.wrapping_add(o.temporary);
    }
}

impl ClassCounters {
    /// The counts of class `class`; small classes' byte counts are derived from the
    /// object counts (the hooks only add bytes for large objects).
    fn totals(&self, class: usize) -> Totals {
        let frees = self.frees.load(Ordering::Acquire);
        let allocs = self.allocs.load(Ordering::Acquire);
        let size = crate::size_class::class_size(class) as u64;
        Totals {
            allocs,
            slot_bytes: if class == 0 {
                self.slot_bytes.load(Ordering::Acquire)
            } else {
                allocs * size
            },
            requested_bytes: self.requested_bytes.load(Ordering::Acquire),
            refills: self.refills.load(Ordering::Acquire),
            frees,
            freed_bytes: if class == 0 {
                self.freed_bytes.load(Ordering::Acquire)
            } else {
                frees * size
            },
            freed_requested: self.freed_requested.load(Ordering::Acquire),
            temporary: self.temporary.load(Ordering::Acquire),
        }
    }
}

/// Single-writer add (wrapping: a two's-complement `v` subtracts).
#[inline]
pub fn add(c: &AtomicU64, v: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(v), Ordering::Release);
}

/// One context's counters, per class.
#[repr(C)]
pub struct CtxCounters {
    pub classes: [ClassCounters; NUM_CLASSES],
}

/// A thread's table: context id → its counters (allocated on first use).
pub struct ThreadTable {
    slots: [*mut CtxCounters; MAX_CTX],
}

struct Pools {
    records: FixAlloc,
    tables: FixAlloc,
    /// Totals of exited threads, by context and class.
    retired: *mut [[Totals; NUM_CLASSES]; MAX_CTX],
}

// SAFETY: process-wide mappings, used under the lock.
unsafe impl Send for Pools {}

static POOLS: SpinLock<Pools> = SpinLock::new(Pools {
    records: FixAlloc::new(core::mem::size_of::<CtxCounters>()),
    tables: FixAlloc::new(core::mem::size_of::<ThreadTable>()),
    retired: ptr::null_mut(),
});

/// The counters of context `ctx` in `table` (created on first use), or `None` when
/// out of memory.
#[inline]
pub fn cell(table: &mut *mut ThreadTable, ctx: u32, class: usize) -> Option<&ClassCounters> {
    if !table.is_null() {
        // SAFETY: a non-null table is ours and its non-null slots are live records.
        let rec = unsafe { *(**table).slots.get(ctx as usize)? };
        if !rec.is_null() {
            // SAFETY: as above.
            return unsafe { (*rec).classes.get(class) };
        }
    }
    cell_slow(table, ctx, class)
}

/// The counters of context `ctx` (non-zero) in `table`, made on first use: the row
/// a thread caches while the context is current. Null when out of memory.
pub fn row(table: &mut *mut ThreadTable, ctx: u32) -> *mut CtxCounters {
    if cell(table, ctx, 0).is_none() {
        return ptr::null_mut();
    }
    // SAFETY: `cell` just made the table and the context's record.
    unsafe {
        (**table)
            .slots
            .get(ctx as usize)
            .copied()
            .unwrap_or(ptr::null_mut())
    }
}

#[cold]
fn cell_slow(table: &mut *mut ThreadTable, ctx: u32, class: usize) -> Option<&ClassCounters> {
    if table.is_null() {
        *table = POOLS.lock().tables.alloc()?.as_ptr().cast();
    }
    // SAFETY: a non-null table is ours (zeroed at creation: all slots null).
    let t = unsafe { &mut **table };
    let slot = t.slots.get_mut(ctx as usize)?;
    if slot.is_null() {
        *slot = POOLS.lock().records.alloc()?.as_ptr().cast();
    }
    // SAFETY: the record is live and zero-initialised (valid atomics).
    unsafe { (**slot).classes.get(class) }
}

/// Adds a thread's table into the retired totals and frees it (thread exit).
///
/// # Safety
/// `table` must come from [`cell`] and not be used afterwards.
pub unsafe fn retire(table: *mut ThreadTable) {
    if table.is_null() {
        return;
    }
    let mut pools = POOLS.lock();
    if pools.retired.is_null() {
        match os::map(core::mem::size_of::<[[Totals; NUM_CLASSES]; MAX_CTX]>()) {
            Some(p) => pools.retired = p.as_ptr().cast(),
            None => return,
        }
    }
    // SAFETY: the table is ours; retired is a live mapping.
    unsafe {
        for (ctx, &rec) in (*table).slots.iter().enumerate() {
            if rec.is_null() {
                continue;
            }
            for (class, c) in (*rec).classes.iter().enumerate() {
                (*pools.retired)[ctx][class].add(&c.totals(class));
            }
            pools.records.free(NonNull::new_unchecked(rec.cast()));
        }
        pools.tables.free(NonNull::new_unchecked(table.cast()));
    }
}

/// Sums `tables` (live threads) and the retired totals into `out[ctx][class]` for
/// contexts below `out.len()`.
pub fn sum_into(tables: impl Iterator<Item = *mut ThreadTable>, out: &mut [[Totals; NUM_CLASSES]]) {
    let pools = POOLS.lock();
    for t in tables {
        if t.is_null() {
            continue;
        }
        // SAFETY: live threads' tables stay valid while the registry lock (held by the
        // caller) keeps them from retiring.
        let slots = unsafe { &(*t).slots };
        for (ctx, row) in out.iter_mut().enumerate() {
            let rec = slots[ctx];
            if rec.is_null() {
                continue;
            }
            for (class, total) in row.iter_mut().enumerate() {
                // SAFETY: live record.
                total.add(&unsafe { &(*rec).classes[class] }.totals(class));
            }
        }
    }
    if !pools.retired.is_null() {
        for (ctx, row) in out.iter_mut().enumerate() {
            for (class, total) in row.iter_mut().enumerate() {
                // SAFETY: retired is a live mapping of MAX_CTX rows.
                total.add(unsafe { &(*pools.retired)[ctx][class] });
            }
        }
    }
}

/// Sums, over live threads' `tables` and the retired totals, every context for
/// which `pick(ctx)` holds, per class into `out`. Allocates nothing.
pub fn sum_matching(
    tables: impl Iterator<Item = *mut ThreadTable>,
    pick: &dyn Fn(usize) -> bool,
    out: &mut [Totals; NUM_CLASSES],
) {
    let pools = POOLS.lock();
    for t in tables {
        if t.is_null() {
            continue;
        }
        // SAFETY: live threads' tables stay valid while the registry lock (held by the
        // caller) keeps them from retiring.
        let slots = unsafe { &(*t).slots };
        for (ctx, &rec) in slots.iter().enumerate() {
            if rec.is_null() || !pick(ctx) {
                continue;
            }
            for (class, total) in out.iter_mut().enumerate() {
                // SAFETY: live record.
                total.add(&unsafe { &(*rec).classes[class] }.totals(class));
            }
        }
    }
    if !pools.retired.is_null() {
        for ctx in (0..MAX_CTX).filter(|&c| pick(c)) {
            for (class, total) in out.iter_mut().enumerate() {
                // SAFETY: retired is a live mapping of MAX_CTX rows.
                total.add(unsafe { &(*pools.retired)[ctx][class] });
            }
        }
    }
}

/// The retired totals of (`ctx`, `class`), under the lock, mapped on first use.
fn with_retired(ctx: u32, class: usize, f: impl FnOnce(&mut Totals)) {
    let mut pools = POOLS.lock();
    if pools.retired.is_null() {
        match os::map(core::mem::size_of::<[[Totals; NUM_CLASSES]; MAX_CTX]>()) {
            Some(p) => pools.retired = p.as_ptr().cast(),
            None => return,
        }
    }
    if (ctx as usize) < MAX_CTX && class < NUM_CLASSES {
        // SAFETY: retired is a live mapping of MAX_CTX rows; ctx and class are in range.
        f(unsafe { &mut (*pools.retired)[ctx as usize][class] });
    }
}

/// A free of a block of `size` bytes (`slot` in `class`) tagged with `ctx`, by a
/// thread without a cache (thread teardown): charged straight to the retired totals.
pub fn orphan_free(ctx: u32, class: usize, slot: u64, size: usize) {
    with_retired(ctx, class, |t| {
        t.frees = t.frees.wrapping_add(1);
        t.freed_bytes = t.freed_bytes.wrapping_add(slot);
        t.freed_requested = t.freed_requested.wrapping_add(size as u64);
    });
}

/// An in-place resize of a block tagged with `ctx` by a thread without a cache:
/// `delta` (two's complement when it shrank) goes straight to the retired totals.
pub fn orphan_resize(ctx: u32, class: usize, delta: u64) {
    with_retired(ctx, class, |t| {
        t.requested_bytes = t.requested_bytes.wrapping_add(delta);
    });
}

/// Holds the lock until [`force_unlock`] (around `fork`).
pub(crate) fn lock_forever() {
    POOLS.lock_forever();
}

/// Releases [`lock_forever`]'s lock.
///
/// # Safety
/// Must follow `lock_forever` on the same thread.
pub(crate) unsafe fn force_unlock() {
    // SAFETY: forwarded.
    unsafe { POOLS.force_unlock() };
}
