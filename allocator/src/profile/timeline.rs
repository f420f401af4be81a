//! The heap over time: a series of points (live bytes, page-heap bytes in use,
//! mapped bytes, resident memory, and the cumulative allocations, refills and
//! scavenged bytes) taken on wall-clock intervals while a profile is asked for.
//!
//! `profile::init` calls [`init`] with `SPANPROF_TIMELINE_MS` (default 10 ms, 0 =
//! off) when `SPANPROF_OUT` is set; the capture module's writer thread, which never
//! allocates on the program's books, calls [`tick`] at each deadline
//! ([`next_deadline_ms`]). Points go to a fixed buffer of [`CAPACITY`] points mapped
//! off the Rust heap at the first one; when it is full every other point is dropped
//! and the interval doubles, so the memory stays bounded (one 64 KiB mapping)
//! however long the program runs, at a resolution of the run's length over 512 to
//! 1024 points. Nothing here allocates except [`snapshot`] (for the writer).

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use crate::heap::Heap;
use crate::lock::SpinLock;
use crate::os;

/// Points the buffer holds (halved when full).
pub const CAPACITY: usize = 1024;

/// The default interval when `SPANPROF_TIMELINE_MS` is not set.
pub const DEFAULT_MS: u64 = 10;

/// One point, as recorded (time on the monotonic clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Point {
    pub at_ns: u64,
    pub live_bytes: u64,
    pub heap_in_use_bytes: u64,
    pub mapped_bytes: u64,
    pub rss_bytes: u64,
    pub allocs: u64,
    pub refills: u64,
    pub scavenged_bytes: u64,
}

struct Buffer {
    points: *mut Point,
    len: usize,
    /// The resolution now (0 = off).
    interval_ms: u64,
    /// When the last point was taken (monotonic ms).
    last_ms: u64,
}

// SAFETY: a process-wide mapping, used under the lock.
unsafe impl Send for Buffer {}

static BUF: SpinLock<Buffer> = SpinLock::new(Buffer {
    points: ptr::null_mut(),
    len: 0,
    interval_ms: 0,
    last_ms: 0,
});

/// The heap the points describe (set by [`init`]).
static HEAP: AtomicPtr<Heap> = AtomicPtr::new(ptr::null_mut());

/// Parses `SPANPROF_TIMELINE_MS`: `None` (unset) is the default, a bad value is
/// the default with a warning line.
pub fn parse_ms(value: Option<&[u8]>) -> (u64, Option<&'static [u8]>) {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return (DEFAULT_MS, None);
    };
    let n = v.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    });
    match n {
        Some(n) => (n, None),
        None => (
            DEFAULT_MS,
            Some(b"spanprof: SPANPROF_TIMELINE_MS is not a number of milliseconds; using 10\n"),
        ),
    }
}

/// Turns the timeline on for `heap` at `ms` (0 = off): from start-up, allocates
/// nothing.
pub fn init(heap: &'static Heap, ms: u64) {
    HEAP.store(ptr::from_ref(heap).cast_mut(), Ordering::Release);
    BUF.lock().interval_ms = ms;
}

/// The monotonic time (ms) at which the next point is due; `None` when off or
/// frozen (no point will be taken: a deadline then would stay in the past, and the
/// writer thread would wake for it again and again).
pub fn next_deadline_ms() -> Option<u64> {
    let b = BUF.lock();
    deadline(&b, FROZEN.load(Ordering::Relaxed))
}

/// When the next point is due in `b`, unless the timeline is off or `frozen`.
fn deadline(b: &Buffer, frozen: bool) -> Option<u64> {
    (b.interval_ms != 0 && !frozen).then(|| b.last_ms + b.interval_ms)
}

/// Set when the exit profile is being written: the writer thread takes no more
/// points (the writing's own allocations are not the program's heap).
static FROZEN: AtomicBool = AtomicBool::new(false);

/// Ends the periodic points (the exit profile's build still takes its last one).
pub fn freeze() {
    FROZEN.store(true, Ordering::Relaxed);
}

/// Takes a point now if one is due (or `force`): from the writer thread, and once
/// more when a profile is built.
pub fn tick(force: bool) {
    if !force && FROZEN.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: non-null only as stored from a `&'static Heap`.
    let Some(heap) = (unsafe { HEAP.load(Ordering::Acquire).as_ref() }) else {
        return;
    };
    let now_ns = os::now_ns();
    let now_ms = now_ns / 1_000_000;
    {
        let b = BUF.lock();
        if b.interval_ms == 0 || (!force && now_ms < b.last_ms + b.interval_ms) {
            return;
        }
    }
    let p = measure(heap, now_ns);
    let mut b = BUF.lock();
    if b.points.is_null() {
        match os::map(CAPACITY * size_of::<Point>()) {
            Some(m) => b.points = m.as_ptr().cast(),
            None => {
                // No memory for points: the timeline is off (its deadline would
                // otherwise stay due, and the writer thread wake for it at once).
                b.interval_ms = 0;
                return;
            }
        }
    }
    if b.len == CAPACITY {
        halve(&mut b);
    }
    // SAFETY: len < CAPACITY: inside the mapping, written under the lock.
    unsafe { b.points.add(b.len).write(p) };
    b.len += 1;
    b.last_ms = now_ms;
}

/// Drops every other point (keeping the first) and doubles the interval.
fn halve(b: &mut Buffer) {
    // SAFETY: the mapping holds CAPACITY points; we hold the lock.
    let pts = unsafe { core::slice::from_raw_parts_mut(b.points, CAPACITY) };
    for i in 0..b.len / 2 {
        pts[i] = pts[2 * i];
    }
    b.len /= 2;
    b.interval_ms *= 2;
}

/// The figures of one point (no allocation: `Heap::stats` is a fixed-size value).
fn measure(heap: &Heap, at_ns: u64) -> Point {
    let s = heap.stats();
    let small_live: u64 = s.classes.iter().map(|c| c.live_bytes).sum();
    let allocs: u64 = s.classes.iter().map(|c| c.allocs).sum();
    let refills: u64 = s.classes.iter().map(|c| c.refills).sum();
    Point {
        at_ns,
        live_bytes: small_live + s.large.bytes_allocated.saturating_sub(s.large.bytes_freed),
        heap_in_use_bytes: s.heap.bytes_in_use,
        mapped_bytes: s.heap.bytes_mapped,
        rss_bytes: rss_bytes(),
        allocs: allocs + s.large.allocs,
        refills,
        scavenged_bytes: s.heap.bytes_scavenged,
    }
}

/// Resident memory from `/proc/self/statm` (its second field, in pages); 0 when
/// unreadable. Reads into a stack buffer: no allocation.
fn rss_bytes() -> u64 {
    let mut buf = [0u8; 128];
    // SAFETY: a NUL-terminated path; the descriptor is closed below; read writes at
    // most buf.len() bytes into buf.
    let n = unsafe {
        let fd = libc::open(
            c"/proc/self/statm".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return 0;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    let Ok(n) = usize::try_from(n) else {
        return 0;
    };
    let mut fields = buf[..n.min(buf.len())].split(|&b| b == b' ');
    let pages = fields.nth(1).and_then(|f| {
        f.iter().try_fold(0u64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
        })
    });
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages.unwrap_or(0) * page.max(0) as u64
}

/// The points so far and the interval now (allocates: call with the hooks
/// suspended).
pub fn snapshot() -> (u64, Vec<Point>) {
    let b = BUF.lock();
    if b.points.is_null() {
        return (b.interval_ms, Vec::new());
    }
    // SAFETY: the first len points of the mapping were written; we hold the lock.
    let pts = unsafe { core::slice::from_raw_parts(b.points, b.len) }.to_vec();
    (b.interval_ms, pts)
}

/// Holds the buffer's lock until [`force_unlock`] (around `fork`).
pub(crate) fn lock_forever() {
    BUF.lock_forever();
}

/// Releases [`lock_forever`]'s lock.
///
/// # Safety
/// Must follow `lock_forever` on the same thread.
pub(crate) unsafe fn force_unlock() {
    // SAFETY: forwarded.
    unsafe { BUF.force_unlock() };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_comes_from_the_environment() {
        assert_eq!(parse_ms(None), (10, None));
        assert_eq!(parse_ms(Some(b"")), (10, None));
        assert_eq!(parse_ms(Some(b"0")), (0, None));
        assert_eq!(parse_ms(Some(b"250")), (250, None));
        let (n, w) = parse_ms(Some(b"10ms"));
        assert_eq!(n, 10);
        assert!(w.is_some());
    }

    #[test]
    fn no_deadline_when_off_or_frozen() {
        let mut b = Buffer {
            points: ptr::null_mut(),
            len: 0,
            interval_ms: 10,
            last_ms: 1000,
        };
        assert_eq!(deadline(&b, false), Some(1010));
        // Frozen at exit: no point will be taken, so none is due.
        assert_eq!(deadline(&b, true), None);
        b.interval_ms = 0;
        assert_eq!(deadline(&b, false), None);
    }

    #[test]
    fn halving_keeps_every_other_point_and_doubles_the_interval() {
        let mut pts = vec![Point::default(); CAPACITY];
        for (i, p) in pts.iter_mut().enumerate() {
            p.at_ns = i as u64;
        }
        let mut b = Buffer {
            points: pts.as_mut_ptr(),
            len: CAPACITY,
            interval_ms: 10,
            last_ms: 0,
        };
        halve(&mut b);
        assert_eq!((b.len, b.interval_ms), (CAPACITY / 2, 20));
        assert_eq!(
            pts[..4].iter().map(|p| p.at_ns).collect::<Vec<_>>(),
            [0, 2, 4, 6]
        );
    }
}
