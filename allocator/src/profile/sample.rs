//! Sampling: Go's byte-based heap sampler and the table of sampled stacks.
//!
//! Each thread counts down the bytes it allocates; when the count crosses zero the
//! allocation is sampled and a new count is drawn from an exponential distribution
//! with mean `rate`, so every byte has the same chance 1/rate of being the one
//! that triggers a sample (Go's `nextSample`). A sample captures the native return
//! addresses (unresolved: symbols are looked up once, when the profile is written),
//! up to [`max_frames`] of them plus room for spanprof's own; a stack with more is
//! cut there and remembered as cut. Each distinct stack is stored once (its
//! addresses in a shared arena) and samples are counted in a record keyed by
//! (stack, slot size, rate). All of it lives off the Rust heap in one mapping made
//! at the first sample; the sampled object's slot tag points at its record, so its
//! free decrements the record's in-use counts without any lookup.

use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

/// Return addresses a stack keeps unless `SPANPROF_MAX_FRAMES` says otherwise.
pub const DEFAULT_MAX_FRAMES: usize = 128;
/// The most `SPANPROF_MAX_FRAMES` may ask for.
pub const MAX_FRAMES_CAP: usize = 512;
/// Room for spanprof's own frames (the unwinder, the hooks and the allocator up to the
/// `__rust_alloc` shim), captured on top of the limit and trimmed when the profile is
/// written, so the program keeps its [`max_frames`].
pub const OWN_FRAMES: usize = 24;
/// Length of a capture buffer: the most addresses a stack can keep, spanprof's own
/// included, plus one that tells a cut stack from a complete one.
pub const MAX_FRAMES: usize = MAX_FRAMES_CAP + OWN_FRAMES + 1;

/// The frame limit in force; 0 = `SPANPROF_MAX_FRAMES` not read yet.
static FRAME_LIMIT: AtomicUsize = AtomicUsize::new(0);

/// Return addresses a stack keeps (`SPANPROF_MAX_FRAMES`, read at the first sample;
/// default [`DEFAULT_MAX_FRAMES`], at most [`MAX_FRAMES_CAP`]). Allocates nothing.
pub fn max_frames() -> usize {
    match FRAME_LIMIT.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: the name is NUL-terminated; getenv returns null or a pointer to
            // a NUL-terminated value in the environment block, read up to the NUL.
            let value = unsafe {
                let p = libc::getenv(c"SPANPROF_MAX_FRAMES".as_ptr());
                (!p.is_null()).then(|| core::slice::from_raw_parts(p.cast::<u8>(), libc::strlen(p)))
            };
            let (n, warning) = parse_max_frames(value);
            if let Some(w) = warning {
                crate::os::write_stderr(&[w]);
            }
            // Racing first samples compute the same value; one warning may repeat.
            FRAME_LIMIT.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// The frame limit `SPANPROF_MAX_FRAMES=value` asks for, and the line to print when
/// the value cannot be used as given.
pub fn parse_max_frames(value: Option<&[u8]>) -> (usize, Option<&'static [u8]>) {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return (DEFAULT_MAX_FRAMES, None);
    };
    let n = v.iter().try_fold(0usize, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(usize::from(b - b'0'))
        } else {
            None
        }
    });
    match n {
        Some(0) | None => (
            DEFAULT_MAX_FRAMES,
            Some(b"spanprof: SPANPROF_MAX_FRAMES is not a number of frames from 1 to 512; using 128\n"),
        ),
        Some(n) if n > MAX_FRAMES_CAP => (
            MAX_FRAMES_CAP,
            Some(b"spanprof: SPANPROF_MAX_FRAMES is above the limit of 512 frames; using 512\n"),
        ),
        Some(n) => (n, None),
    }
}

/// Distinct (stack, slot size, rate) records.
pub const MAX_RECORDS: usize = 1 << 18;
/// Distinct stacks.
pub const MAX_STACKS: usize = 1 << 16;
/// Addresses all stacks share (64 MiB of address space, touched as stacks arrive).
const ARENA_WORDS: usize = 1 << 23;
const INDEX_LEN: usize = MAX_RECORDS * 2;
const STACK_INDEX_LEN: usize = MAX_STACKS * 2;

const _: () = assert!(ARENA_WORDS <= u32::MAX as usize);

/// One sampled (stack, slot size, rate).
#[repr(C)]
pub struct Record {
    pub hash: u64,
    pub size: u64,
    /// The sampling rate in force when these samples were taken (part of the key, so
    /// every record can be unbiased exactly even if the rate changes).
    pub rate: u64,
    /// Index of its stack.
    pub stack: u32,
    pub alloc_objects: AtomicU64,
    pub alloc_bytes: AtomicU64,
    pub free_objects: AtomicU64,
    pub free_bytes: AtomicU64,
    /// Frees with no other allocation on the thread since the object's.
    pub temporary_objects: AtomicU64,
}

/// One distinct stack: `depth` addresses at `start` in the arena.
#[repr(C)]
struct StackEntry {
    hash: u64,
    start: u32,
    depth: u32,
    /// The capture stopped at the limit: the stack goes on beyond its last address.
    truncated: bool,
}

struct Table {
    records: *mut Record,
    index: *mut u32,
    len: usize,
    stacks: *mut StackEntry,
    stack_index: *mut u32,
    stack_len: usize,
    arena: *mut usize,
    arena_len: usize,
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
    stacks: ptr::null_mut(),
    stack_index: ptr::null_mut(),
    stack_len: 0,
    arena: ptr::null_mut(),
    arena_len: 0,
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
    let v = -super::expmath::ln_unit(u) * rate as f64;
    v.min(i64::MAX as f64 / 2.0) as i64
}

/// How many addresses [`capture`] takes: the limit, spanprof's own frames, and one
/// more that shows whether the stack goes on.
fn capture_len() -> usize {
    max_frames() + OWN_FRAMES + 1
}

/// A buffer for [`capture`], left uninitialised: zeroing its 4 KiB on every sample
/// would cost more than a frame-pointer walk.
pub type Frames = [MaybeUninit<usize>; MAX_FRAMES];

/// A fresh [`Frames`] buffer (nothing written).
#[inline(always)]
pub const fn frames() -> Frames {
    [const { MaybeUninit::uninit() }; MAX_FRAMES]
}

/// Captures the caller's return addresses into `buf`; returns them. More than
/// `max_frames() + OWN_FRAMES` of them means the stack goes on beyond them
/// ([`record`] cuts it there and marks it).
#[inline(never)]
pub fn capture(buf: &mut Frames, stack: (usize, usize)) -> &[usize] {
    let want = capture_len().min(MAX_FRAMES);
    let n = if FRAME_POINTERS.load(Ordering::Relaxed) {
        capture_fp(&mut buf[..want], stack)
    } else {
        let mut n = 0;
        // SAFETY: the callback only writes into our fixed buffer, below `want`;
        // trace_unsynchronized needs no lock here because the callback does not
        // re-enter the unwinder.
        unsafe {
            backtrace::trace_unsynchronized(|frame| {
                buf[n].write(frame.ip() as usize);
                n += 1;
                n < want
            });
        }
        n
    };
    // SAFETY: the first n entries were written above (n <= want <= MAX_FRAMES).
    unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<usize>(), n) }
}

/// Walks the frame-pointer chain, trusting only frames inside this thread's stack.
#[cfg(target_arch = "x86_64")]
fn capture_fp(buf: &mut [MaybeUninit<usize>], (lo, hi): (usize, usize)) -> usize {
    let mut fp: usize;
    // SAFETY: reading rbp has no side effects.
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    let mut n = 0;
    while n < buf.len() && fp >= lo && fp + 16 <= hi && fp.is_multiple_of(8) {
        // SAFETY: fp and fp + 8 lie inside this thread's mapped stack.
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if ret == 0 {
            break;
        }
        buf[n].write(ret);
        n += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
    n
}

#[cfg(not(target_arch = "x86_64"))]
fn capture_fp(buf: &mut [MaybeUninit<usize>], _stack: (usize, usize)) -> usize {
    FRAME_POINTERS.store(false, Ordering::Relaxed);
    let mut n = 0;
    // SAFETY: as in `capture`: the callback writes only below buf.len().
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            buf[n].write(frame.ip() as usize);
            n += 1;
            n < buf.len()
        });
    }
    n
}

fn hash_ips(ips: &[usize]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &ip in ips {
        h = (h ^ ip as u64).wrapping_mul(0x100_0000_01b3);
    }
    h
}

fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

impl Table {
    /// Maps the tables at the first sample: one mapping, carved in five.
    fn ensure_mapped(&mut self) -> Option<()> {
        if !self.records.is_null() {
            return Some(());
        }
        let parts = [
            MAX_RECORDS * core::mem::size_of::<Record>(),
            INDEX_LEN * 4,
            MAX_STACKS * core::mem::size_of::<StackEntry>(),
            STACK_INDEX_LEN * 4,
            ARENA_WORDS * core::mem::size_of::<usize>(),
        ];
        let base = os::map(parts.iter().sum())?.as_ptr();
        let mut at = [0usize; 5];
        for i in 1..5 {
            at[i] = at[i - 1] + parts[i - 1];
        }
        // SAFETY: each part lies inside the fresh zeroed mapping, at an offset that is
        // a multiple of 8 (every part's size is), so suitably aligned for its type.
        unsafe {
            self.records = base.add(at[0]).cast();
            self.index = base.add(at[1]).cast();
            self.stacks = base.add(at[2]).cast();
            self.stack_index = base.add(at[3]).cast();
            self.arena = base.add(at[4]).cast();
        }
        RECORDS.store(self.records, Ordering::Release);
        Some(())
    }

    /// The id of stack `ips` (with its cut mark), stored now if new; `None` when the
    /// stack table or the arena is full.
    fn intern_stack(&mut self, ips: &[usize], truncated: bool) -> Option<u32> {
        let h = hash_ips(ips) ^ u64::from(truncated);
        let mut slot = (mix(h) as usize) % STACK_INDEX_LEN;
        loop {
            // SAFETY: slot < STACK_INDEX_LEN.
            let v = unsafe { *self.stack_index.add(slot) };
            if v == 0 {
                if self.stack_len >= MAX_STACKS || self.arena_len + ips.len() > ARENA_WORDS {
                    return None;
                }
                let id = self.stack_len;
                // SAFETY: id < MAX_STACKS and the arena has room for ips after
                // arena_len (checked above); both are fresh zeroed memory of the
                // mapping, written only here, under the lock.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        ips.as_ptr(),
                        self.arena.add(self.arena_len),
                        ips.len(),
                    );
                    self.stacks.add(id).write(StackEntry {
                        hash: h,
                        start: self.arena_len as u32,
                        depth: ips.len() as u32,
                        truncated,
                    });
                    *self.stack_index.add(slot) = id as u32 + 1;
                }
                self.arena_len += ips.len();
                self.stack_len += 1;
                return Some(id as u32);
            }
            let id = (v - 1) as usize;
            // SAFETY: id < stack_len: the entry and its addresses were written.
            let same = unsafe {
                let e = &*self.stacks.add(id);
                e.hash == h
                    && e.truncated == truncated
                    && e.depth as usize == ips.len()
                    && core::slice::from_raw_parts(self.arena.add(e.start as usize), ips.len())
                        == ips
            };
            if same {
                return Some(id as u32);
            }
            slot = (slot + 1) % STACK_INDEX_LEN;
        }
    }

    /// The stored addresses of stack `id` (< stack_len) and its cut mark.
    fn stack(&self, id: usize) -> (&[usize], bool) {
        // SAFETY: id < stack_len: the entry and its addresses were written and never
        // change; the slice lies inside the arena.
        unsafe {
            let e = &*self.stacks.add(id);
            (
                core::slice::from_raw_parts(self.arena.add(e.start as usize), e.depth as usize),
                e.truncated,
            )
        }
    }
}

/// Counts one sampled allocation of `size` slot bytes at stack `ips` (as [`capture`]
/// returned it); returns its record index, or `None` when a table is full (the sample
/// is dropped and counted as such).
pub fn record(ips: &[usize], size: u64, rate: u64) -> Option<u32> {
    let keep = max_frames() + OWN_FRAMES;
    let (ips, truncated) = if ips.len() > keep {
        (&ips[..keep], true)
    } else {
        (ips, false)
    };
    let mut t = TABLE.lock();
    if t.ensure_mapped().is_none() {
        t.dropped += 1;
        return None;
    }
    let Some(stack) = t.intern_stack(ips, truncated) else {
        t.dropped += 1;
        return None;
    };
    let h = mix(u64::from(stack) ^ size.rotate_left(32) ^ rate.rotate_left(17));
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
            // SAFETY: id < MAX_RECORDS; the record memory is fresh and zeroed, and is
            // published (through the index and the returned id) only once written.
            unsafe {
                let r = &mut *t.records.add(id);
                r.hash = h;
                r.size = size;
                r.rate = rate;
                r.stack = stack;
                *t.index.add(slot) = id as u32 + 1;
            }
            t.len += 1;
            break id;
        }
        let id = (v - 1) as usize;
        // SAFETY: id < len.
        let r = unsafe { &*t.records.add(id) };
        if r.hash == h && r.stack == stack && r.size == size && r.rate == rate {
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

/// A sampled object of record `id` was freed with no other allocation on its thread
/// in between (counted besides [`freed`]).
pub fn temporary(id: u32) {
    let records = RECORDS.load(Ordering::Acquire);
    if records.is_null() || id as usize >= MAX_RECORDS {
        return;
    }
    // SAFETY: as in `freed`.
    let r = unsafe { &*records.add(id as usize) };
    r.temporary_objects.fetch_add(1, Ordering::Relaxed);
}

/// Writes, per record, the objects in use now (allocated − freed) into `out`;
/// returns how many records there are (at most `out.len()`). Allocates nothing.
pub fn inuse_into(out: &mut [u64]) -> usize {
    let t = TABLE.lock();
    let n = t.len.min(out.len());
    for (id, o) in out.iter_mut().enumerate().take(n) {
        // SAFETY: id < len.
        let r = unsafe { &*t.records.add(id) };
        let freed = r.free_objects.load(Ordering::Relaxed);
        *o = r
            .alloc_objects
            .load(Ordering::Relaxed)
            .saturating_sub(freed);
    }
    n
}

/// A copy of one stack, for the profile writer.
#[derive(Clone, Debug)]
pub struct SampledStack {
    /// Return addresses, innermost first, spanprof's own frames included.
    pub ips: Vec<usize>,
    /// The capture stopped at the limit: the stack went on.
    pub truncated: bool,
}

/// A copy of one record, for the profile writer.
#[derive(Clone, Debug)]
pub struct Sampled {
    /// Index into [`Snapshot::stacks`].
    pub stack: u32,
    pub size: u64,
    pub rate: u64,
    pub alloc_objects: u64,
    pub alloc_bytes: u64,
    pub free_objects: u64,
    pub free_bytes: u64,
    pub temporary_objects: u64,
}

/// Every stack and record, the dropped-sample count and the frame limit.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub stacks: Vec<SampledStack>,
    pub records: Vec<Sampled>,
    pub dropped: u64,
    pub max_frames: usize,
}

/// Every stack and record (allocates: call with hooks suspended).
pub fn snapshot() -> Snapshot {
    let max_frames = max_frames();
    let t = TABLE.lock();
    let stacks = (0..t.stack_len)
        .map(|id| {
            let (ips, truncated) = t.stack(id);
            SampledStack {
                ips: ips.to_vec(),
                truncated,
            }
        })
        .collect();
    let records = (0..t.len)
        .map(|id| {
            // SAFETY: id < len.
            let r = unsafe { &*t.records.add(id) };
            Sampled {
                stack: r.stack,
                size: r.size,
                rate: r.rate,
                alloc_objects: r.alloc_objects.load(Ordering::Relaxed),
                alloc_bytes: r.alloc_bytes.load(Ordering::Relaxed),
                free_objects: r.free_objects.load(Ordering::Relaxed),
                free_bytes: r.free_bytes.load(Ordering::Relaxed),
                temporary_objects: r.temporary_objects.load(Ordering::Relaxed),
            }
        })
        .collect();
    Snapshot {
        stacks,
        records,
        dropped: t.dropped,
        max_frames,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_limit_comes_from_the_environment_within_bounds() {
        assert_eq!(parse_max_frames(None), (DEFAULT_MAX_FRAMES, None));
        assert_eq!(parse_max_frames(Some(b"")), (DEFAULT_MAX_FRAMES, None));
        assert_eq!(parse_max_frames(Some(b"200")), (200, None));
        assert_eq!(parse_max_frames(Some(b"512")), (512, None));
        assert_eq!(parse_max_frames(Some(b"1")), (1, None));
        let (n, w) = parse_max_frames(Some(b"513"));
        assert_eq!(n, MAX_FRAMES_CAP);
        assert!(w.is_some_and(|w| w.ends_with(b"using 512\n")));
        for bad in [&b"0"[..], b"lots", b"-5", b"99999999999999999999999"] {
            let (n, w) = parse_max_frames(Some(bad));
            assert_eq!(n, DEFAULT_MAX_FRAMES, "{bad:?}");
            assert!(w.is_some(), "{bad:?}");
        }
    }

    #[test]
    fn the_capture_buffer_holds_the_largest_limit_and_the_cut_mark() {
        assert_eq!(MAX_FRAMES, MAX_FRAMES_CAP + OWN_FRAMES + 1);
        assert!(capture_len() <= MAX_FRAMES);
    }
}
