//! OS memory: the only place that talks to the kernel.
//!
//! The page heap reserves arenas and the arena index here, the metadata allocator
//! maps its chunks here, and the scavenger hands pages back here; the background
//! scavenger (`scavenger.rs`) gets its thread, its sleeps and its wake-ups here. Everything is
//! anonymous private memory, so fresh pages read as zero — the page heap relies on
//! that to skip zeroing. Also home to the two things the allocator may do when all
//! else fails: report a fatal heap corruption on stderr and abort, without touching
//! the heap it is reporting on.

use core::ptr::{self, NonNull};

/// Maps `len` bytes of fresh, zeroed, read-write memory, or `None` when the kernel
/// refuses. `len` must be a multiple of the OS page size.
pub fn map(len: usize) -> Option<NonNull<u8>> {
    // SAFETY: an anonymous private mapping with no address hint touches no existing
    // memory; the result is checked against MAP_FAILED before use.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        None
    } else {
        NonNull::new(p.cast())
    }
}

/// Reserves exactly `[addr, addr+len)`, inaccessible, without replacing anything
/// already there (`MAP_FIXED_NOREPLACE`). False when the kernel gives any other range.
pub fn reserve_at(addr: usize, len: usize) -> bool {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; a result other
    // than `addr` (an old kernel treating it as a hint) is unmapped again.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE
                | libc::MAP_ANONYMOUS
                | libc::MAP_NORESERVE
                | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return false;
    }
    if p as usize != addr {
        // SAFETY: p is the mapping just made, which nothing uses.
        unsafe { unmap(p.cast(), len) };
        return false;
    }
    true
}

/// Makes `[p, p+len)` of a [`reserve_at`] range readable and writable (zeroed).
///
/// # Safety
/// The range must lie in a range the caller reserved with [`reserve_at`] and hold no
/// live data (its contents may be replaced).
pub unsafe fn commit(p: *mut u8, len: usize) -> bool {
    // SAFETY: the caller's promise: part of its own reservation.
    unsafe { libc::mprotect(p.cast(), len, libc::PROT_READ | libc::PROT_WRITE) == 0 }
}

/// Maps `len` bytes aligned to `align` (a power of two ≥ the OS page), trimming the
/// misaligned head and tail of a larger mapping.
pub fn map_aligned(len: usize, align: usize) -> Option<NonNull<u8>> {
    let padded = len.checked_add(align)?;
    let raw = map(padded)?.as_ptr() as usize;
    let start = (raw + align - 1) & !(align - 1);
    let head = start - raw;
    let tail = padded - head - len;
    if head > 0 {
        // SAFETY: [raw, raw+head) is the unused front of the mapping made above.
        unsafe { unmap(raw as *mut u8, head) };
    }
    if tail > 0 {
        // SAFETY: [start+len, raw+padded) is the unused back of the same mapping.
        unsafe { unmap((start + len) as *mut u8, tail) };
    }
    NonNull::new(start as *mut u8)
}

/// Returns a mapping to the kernel.
///
/// # Safety
/// `[p, p+len)` must be memory this module mapped and nothing may use it afterwards.
pub unsafe fn unmap(p: *mut u8, len: usize) {
    // SAFETY: the caller owns the range; munmap failing leaves it mapped, which is safe.
    unsafe { libc::munmap(p.cast(), len) };
}

/// Tells the kernel the contents of `[p, p+len)` are no longer needed: the pages
/// leave the resident set and read back as zero on next touch.
///
/// # Safety
/// The range must be mapped by this module and hold no live data.
pub unsafe fn release(p: *mut u8, len: usize) -> bool {
    // SAFETY: MADV_DONTNEED on a private anonymous mapping only discards contents the
    // caller declared dead; the mapping itself stays valid.
    unsafe { libc::madvise(p.cast(), len, libc::MADV_DONTNEED) == 0 }
}

/// Grows or shrinks the mapping `[p, p+old)` to `new` bytes where it is (`mremap`
/// without moving). False when the address space after it is taken (nothing changed).
///
/// # Safety
/// `[p, p+old)` must be one whole mapping made by this module.
pub unsafe fn remap_in_place(p: *mut u8, old: usize, new: usize) -> bool {
    // SAFETY: the caller owns the mapping; on failure the kernel leaves it as it was.
    unsafe { libc::mremap(p.cast(), old, new, 0) != libc::MAP_FAILED }
}

/// Moves the mapping `[p, p+old)`, resized to `new` bytes, to `dst` (`mremap` with
/// `MREMAP_FIXED`: the pages move, nothing is copied), replacing whatever was mapped
/// there. False when the kernel refuses (nothing changed).
///
/// # Safety
/// `[p, p+old)` must be one whole mapping made by this module, and `[dst, dst+new)`
/// a mapping of this module that nobody uses.
pub unsafe fn remap_to(p: *mut u8, old: usize, new: usize, dst: *mut u8) -> bool {
    // SAFETY: the caller owns both ranges; on failure the kernel leaves them alone.
    let q = unsafe {
        libc::mremap(
            p.cast(),
            old,
            new,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            dst.cast::<libc::c_void>(),
        )
    };
    q != libc::MAP_FAILED
}

/// Sleeps for `ns` nanoseconds (a signal may end it early).
pub fn sleep_ns(ns: u64) {
    let ts = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: ts is valid for the call; a null remainder is allowed.
    unsafe { libc::nanosleep(&ts, ptr::null_mut()) };
}

/// Blocks while `*word == expected` (until [`futex_wake`], a signal, or a spurious
/// wake-up: callers re-check).
pub fn futex_wait(word: &core::sync::atomic::AtomicU32, expected: u32) {
    // SAFETY: word is a live, aligned u32 for the call; FUTEX_WAIT only reads it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ptr::null::<libc::timespec>(),
        )
    };
}

/// Wakes one thread blocked in [`futex_wait`] on `word`.
pub fn futex_wake(word: &core::sync::atomic::AtomicU32) {
    // SAFETY: FUTEX_WAKE on a live u32 touches no memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        )
    };
}

/// Starts a detached thread running `f` on a stack of `stack` bytes that glibc maps
/// (no allocation through the Rust heap), with every signal blocked so process
/// signals go to the program's threads. False when it cannot be had.
pub fn spawn_detached(
    f: extern "C" fn(*mut libc::c_void) -> *mut libc::c_void,
    stack: usize,
) -> bool {
    // SAFETY: the attribute and signal sets live on this stack for the calls; the new
    // thread inherits the full mask set around pthread_create, and the caller's mask is
    // restored after.
    unsafe {
        let mut all: libc::sigset_t = core::mem::zeroed();
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setstacksize(&mut attr, stack);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        let mut thread: libc::pthread_t = core::mem::zeroed();
        let r = libc::pthread_create(&mut thread, &attr, f, ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
        r == 0
    }
}

/// Monotonic clock in nanoseconds (vDSO, no system call on Linux).
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Writes `parts` to stderr with no allocation.
pub fn write_stderr(parts: &[&[u8]]) {
    for part in parts {
        let mut rest = *part;
        while !rest.is_empty() {
            // SAFETY: rest points to rest.len() readable bytes.
            let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
            if n <= 0 {
                return;
            }
            rest = &rest[n as usize..];
        }
    }
}

/// Formats `v` as `0x…` hex into `buf`, returning the used part.
pub fn hex(v: usize, buf: &mut [u8; 18]) -> &[u8] {
    buf[0] = b'0';
    buf[1] = b'x';
    let digits = b"0123456789abcdef";
    let mut n = 0;
    let mut tmp = [0u8; 16];
    let mut x = v;
    loop {
        tmp[n] = digits[x & 0xf];
        n += 1;
        x >>= 4;
        if x == 0 {
            break;
        }
    }
    for i in 0..n {
        buf[2 + i] = tmp[n - 1 - i];
    }
    &buf[..2 + n]
}

/// Reports heap corruption at `addr` and aborts the process. Never returns, never
/// unwinds, never allocates: the heap is not trusted any more.
#[cold]
#[inline(never)]
pub fn fatal(what: &str, addr: usize) -> ! {
    let mut buf = [0u8; 18];
    write_stderr(&[
        b"spanprof: fatal: ",
        what.as_bytes(),
        b" ",
        hex(addr, &mut buf),
        b"\n",
    ]);
    // SAFETY: abort has no preconditions and does not return.
    unsafe { libc::abort() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_mapping_is_aligned_and_zeroed() {
        let align = 64 << 20;
        let p = map_aligned(align, align).unwrap().as_ptr();
        assert_eq!(p as usize % align, 0);
        // SAFETY: p is a fresh mapping of `align` bytes.
        unsafe {
            assert_eq!(*p.add(12345), 0);
            *p.add(12345) = 7;
            assert!(release(p, 1 << 16));
            assert_eq!(*p.add(12345), 0, "released pages read back as zero");
            unmap(p, align);
        }
    }

    #[test]
    fn hex_formats() {
        let mut b = [0u8; 18];
        assert_eq!(hex(0xdead_beef, &mut b), b"0xdeadbeef");
        assert_eq!(hex(0, &mut b), b"0x0");
    }
}
