//! Sampling: Go's byte-based heap sampler and the table of sampled stacks.
//!
//! Each thread counts down the bytes it allocates; when the count crosses zero the
//! allocation is sampled and a new count is drawn from an exponential distribution
//! with mean `rate`, so every byte has the same chance 1/rate of being the one
//! that triggers a sample (Go's `nextSample`). A sample captures the native return
//! addresses (unresolved: symbols are looked up once, when the profile is written)
//! and is counted in a record keyed by (stack, slot size). Records live off the Rust
//! heap; the sampled object's slot tag points at its record, so its free decrements
//! the record's in-use counts without any lookup.

use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::lock::SpinLock;
use crate::os;

/// Mean bytes between samples; 0 = no stacks are taken.
pub static RATE: AtomicU64 = AtomicU64::new(0);
/// Use the frame-pointer walker instead of the DWARF unwinder.
pub static FRAME_POINTERS: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Frame-pointer unwinding was asked for in a build whose code keeps no frame
/// pointers, so the DWARF unwinder is used instead (the profile says so).
pub static FRAME_POINTERS_MISSING: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Turns the frame-pointer walker on when this build keeps frame pointers; otherwise
/// keeps the DWARF unwinder and remembers why. Returns whether the walker is on.
pub fn use_frame_pointers(on: bool) -> bool {
    let usable = on && frame_pointers_present();
    FRAME_POINTERS.store(usable, Ordering::Relaxed);
    FRAME_POINTERS_MISSING.store(on && !usable, Ordering::Relaxed);
    usable
}

/// Whether code of this build keeps frame pointers: a function's frame record must
/// hold the return address into its caller. Rust sets frame pointers for every crate
/// of a build alike (`-C force-frame-pointers`), so spanprof's own code answers for
/// the program's.
#[inline(never)]
pub fn frame_pointers_present() -> bool {
    let ret = caller_return_address();
    // That call returns into this function, a few bytes past its start.
    ret.wrapping_sub(frame_pointers_present as *const () as usize) < 4096
}

/// The return address in this function's own frame record, or 0 when the
/// frame-pointer register does not point at a record just above the stack pointer
/// (no frame pointers: the register holds whatever the code left in it).
#[inline(never)]
fn caller_return_address() -> usize {
    // A call makes this a non-leaf function, so its prologue (which builds the frame
    // record when frame pointers are kept) runs before the register is read; in a
    // leaf, LLVM may sink the prologue below the read.
    fn nothing() {}
    core::hint::black_box(nothing as fn())();
    let (fp, sp): (usize, usize);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reading two registers has no side effects.
    unsafe {
        core::arch::asm!("mov {}, rbp", "mov {}, rsp", out(reg) fp, out(reg) sp,
            options(nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reading two registers has no side effects.
    unsafe {
        core::arch::asm!("mov {}, x29", "mov {}, sp", out(reg) fp, out(reg) sp,
            options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        (fp, sp) = (0, 1);
    }
    if fp < sp || fp - sp > 512 || !fp.is_multiple_of(8) {
        return 0;
    }
    // SAFETY: fp lies within 512 bytes above the stack pointer, inside the frames of
    // this call chain, so fp + 8 is mapped stack memory.
    unsafe { core::ptr::read_volatile((fp + 8) as *const usize) }
}

/// Frames kept per stack.
pub const MAX_FRAMES: usize = 48;
/// Distinct (stack, size) records.
pub const MAX_RECORDS: usize = 1 << 16;
const INDEX_LEN: usize = MAX_RECORDS * 2;

/// One sampled (stack, slot size).
#[repr(C)]
pub struct Record {
    pub hash: u64,
    pub size: u64,
    /// The sampling rate in force when these samples were taken (part of the key, so
    /// every record can be unbiased exactly even if the rate changes).
    pub rate: u64,
    pub depth: u32,
    pub ips: [usize; MAX_FRAMES],
    pub alloc_objects: AtomicU64,
    pub alloc_bytes: AtomicU64,
    pub free_objects: AtomicU64,
    pub free_bytes: AtomicU64,
}

struct Table {
    records: *mut Record,
    index: *mut u32,
    len: usize,
    dropped: u64,
}

// SAFETY: process-wide mappings, used under the lock (counters are atomics).
unsafe impl Send for Table {}

/// The records, published once mapped (they never move), so frees need no lock.
static RECORDS: core::sync::atomic::AtomicPtr<Record> =
    core::sync::atomic::AtomicPtr::new(ptr::null_mut());

static TABLE: SpinLock<Table> = SpinLock::new(Table {
    records: ptr::null_mut(),
    index: ptr::null_mut(),
    len: 0,
    dropped: 0,
});

/// The next countdown: exponential with mean `rate` bytes (at least 1).
pub fn next_interval(rng: &mut u64, rate: u64) -> i64 {
    if rate <= 1 {
        return 0;
    }
    // xorshift64*: good enough for sampling, no allocation, per thread.
    *rng ^= *rng >> 12;
    *rng ^= *rng << 25;
    *rng ^= *rng >> 27;
    let r = rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
    // Uniform in (0, 1]: 53 random bits.
    let u = ((r >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let v = -u.ln() * rate as f64;
    v.min(i64::MAX as f64 / 2.0) as i64
}

/// Captures the caller's return addresses into `buf`; returns how many.
#[inline(never)]
pub fn capture(buf: &mut [usize; MAX_FRAMES], stack: (usize, usize)) -> usize {
    if FRAME_POINTERS.load(Ordering::Relaxed) {
        return capture_fp(buf, stack);
    }
    let mut n = 0;
    // SAFETY: the callback only writes into our fixed buffer; trace_unsynchronized
    // needs no lock here because the callback does not re-enter the unwinder.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            buf[n] = frame.ip() as usize;
            n += 1;
            n < MAX_FRAMES
        });
    }
    n
}

/// Walks the frame-pointer chain, trusting only frames inside this thread's stack.
#[cfg(target_arch = "x86_64")]
fn capture_fp(buf: &mut [usize; MAX_FRAMES], (lo, hi): (usize, usize)) -> usize {
    let mut fp: usize;
    // SAFETY: reading rbp has no side effects.
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    let mut n = 0;
    while n < MAX_FRAMES && fp >= lo && fp + 16 <= hi && fp.is_multiple_of(8) {
        // SAFETY: fp and fp + 8 lie inside this thread's mapped stack.
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if ret == 0 {
            break;
        }
        buf[n] = ret;
        n += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
    n
}

#[cfg(not(target_arch = "x86_64"))]
fn capture_fp(buf: &mut [usize; MAX_FRAMES], _stack: (usize, usize)) -> usize {
    FRAME_POINTERS.store(false, Ordering::Relaxed);
    capture(buf, (0, 0))
}

fn hash(ips: &[usize], size: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ size;
    for &ip in ips {
        h = (h ^ ip as u64).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Counts one sampled allocation of `size` slot bytes at stack `ips`; returns its
/// record index, or `None` when the table is full (the sample is dropped and
/// counted as such).
pub fn record(ips: &[usize], size: u64, rate: u64) -> Option<u32> {
    let h = hash(ips, size) ^ rate.rotate_left(17);
    let mut t = TABLE.lock();
    if t.records.is_null() {
        let r = os::map(MAX_RECORDS * core::mem::size_of::<Record>())?;
        let i = os::map(INDEX_LEN * 4)?;
        t.records = r.as_ptr().cast();
        t.index = i.as_ptr().cast();
        RECORDS.store(t.records, Ordering::Release);
    }
    let mut slot = (h as usize) % INDEX_LEN;
    let id = loop {
        // SAFETY: slot < INDEX_LEN.
        let v = unsafe { *t.index.add(slot) };
        if v == 0 {
            if t.len >= MAX_RECORDS {
                t.dropped += 1;
                return None;
            }
            let id = t.len;
            // SAFETY: id < MAX_RECORDS; the record memory is fresh and zeroed.
            unsafe {
                let r = &mut *t.records.add(id);
                r.hash = h;
                r.size = size;
                r.rate = rate;
                r.depth = ips.len() as u32;
                r.ips[..ips.len()].copy_from_slice(ips);
                *t.index.add(slot) = id as u32 + 1;
            }
            t.len += 1;
            break id;
        }
        let id = (v - 1) as usize;
        // SAFETY: id < len.
        let r = unsafe { &*t.records.add(id) };
        if r.hash == h && r.size == size && r.rate == rate && r.ips[..r.depth as usize] == *ips {
            break id;
        }
        slot = (slot + 1) % INDEX_LEN;
    };
    // SAFETY: id < len.
    let r = unsafe { &*t.records.add(id) };
    r.alloc_objects.fetch_add(1, Ordering::Relaxed);
    r.alloc_bytes.fetch_add(size, Ordering::Relaxed);
    Some(id as u32)
}

/// A sampled object of record `id` was freed.
pub fn freed(id: u32) {
    let records = RECORDS.load(Ordering::Acquire);
    if records.is_null() || id as usize >= MAX_RECORDS {
        return;
    }
    // SAFETY: ids come from `record`, which initialised the record before handing the
    // id out (published to us through the object's tag); records never move.
    let r = unsafe { &*records.add(id as usize) };
    r.free_objects.fetch_add(1, Ordering::Relaxed);
    r.free_bytes.fetch_add(r.size, Ordering::Relaxed);
}

/// A copy of one record, for the profile writer.
#[derive(Clone, Debug)]
pub struct Sampled {
    pub ips: Vec<usize>,
    pub size: u64,
    pub rate: u64,
    pub alloc_objects: u64,
    pub alloc_bytes: u64,
    pub free_objects: u64,
    pub free_bytes: u64,
}

/// Every record (allocates: call with hooks suspended), and the dropped-sample count.
pub fn snapshot() -> (Vec<Sampled>, u64) {
    let t = TABLE.lock();
    let mut out = Vec::with_capacity(t.len);
    for id in 0..t.len {
        // SAFETY: id < len.
        let r = unsafe { &*t.records.add(id) };
        out.push(Sampled {
            ips: r.ips[..r.depth as usize].to_vec(),
            size: r.size,
            rate: r.rate,
            alloc_objects: r.alloc_objects.load(Ordering::Relaxed),
            alloc_bytes: r.alloc_bytes.load(Ordering::Relaxed),
            free_objects: r.free_objects.load(Ordering::Relaxed),
            free_bytes: r.free_bytes.load(Ordering::Relaxed),
        });
    }
    (out, t.dropped)
}

/// Holds the lock until [`force_unlock`] (around `fork`).
pub(crate) fn lock_forever() {
    TABLE.lock_forever();
}

/// Releases [`lock_forever`]'s lock.
///
/// # Safety
/// Must follow `lock_forever` on the same thread.
pub(crate) unsafe fn force_unlock() {
    // SAFETY: forwarded.
    unsafe { TABLE.force_unlock() };
}
