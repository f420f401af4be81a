//! The C allocation API over spanprof's heap (`malloc`, `free`, `calloc`, `realloc`,
//! `posix_memalign`, …, with C's semantics), for the preloadable `libspanprof.so`
//! (the `spanprof-preload` crate exports these under their C names; this module
//! exports nothing itself, so a Rust program that uses spanprof as its global
//! allocator keeps the C library's `malloc`).
//!
//! It sits beside `malloc.rs`, on top of it: every allocation and free goes through
//! [`SpanAlloc`]'s `GlobalAlloc` methods, so C allocations are counted, sampled and
//! profiled like Rust ones. What C adds is a free without a size: the block's size
//! class or large span is found from the pointer through the page map
//! ([`CentralLists::span_of`]), and for a sampled block of the apart region
//! (`region.rs`, whose blocks carry no class) through a byte per region page that
//! this module writes when it hands such a block out. A pointer the page map does
//! not know was never handed out by spanprof (the C library's allocations made
//! before spanprof was loaded, when it is `dlopen`ed): it goes back to glibc
//! (`__libc_free`, `__libc_realloc`). Blocks are 16-byte aligned (glibc's
//! `alignof(max_align_t)`), 8-byte ones for requests of at most 8 bytes.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicU8, Ordering};

use crate::cache::CentralLists;
use crate::heap::fits_in_place;
use crate::malloc::{HEAP, SpanAlloc, alloc_class, dealloc_class};
use crate::region;
use crate::size_class::{PAGE_SIZE, class_for, class_size};
use crate::span::SpanState;

/// The alignment C's `malloc` promises (`alignof(max_align_t)` on x86-64 and arm64).
const MIN_ALIGN: usize = 16;
/// The system page (what `valloc` and `pvalloc` align to).
const SYS_PAGE: usize = 4096;
/// The allocator every C call goes through (a unit value: the heap is global).
const A: SpanAlloc = SpanAlloc::new();
/// Pages of the apart region.
const REGION_PAGES: usize = region::LEN / PAGE_SIZE;

/// The size class of each apart-region block this module handed out, by the
/// block's first page (0: none). 512 KiB of zero pages, touched only where used.
static APART_CLASS: [AtomicU8; REGION_PAGES] = [const { AtomicU8::new(0) }; REGION_PAGES];

#[cfg(target_env = "gnu")]
unsafe extern "C" {
    fn __libc_free(p: *mut c_void);
    fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void;
}

/// Where a pointer came from.
#[derive(Clone, Copy)]
enum Owner {
    /// A small block of this size class.
    Small(usize),
    /// A large block of this many bytes (whole pages).
    Large(usize),
    /// Not spanprof's.
    Foreign,
}

/// The alignment a request of `size` bytes gets.
#[inline(always)]
fn c_align(size: usize) -> usize {
    if size <= 8 { 8 } else { MIN_ALIGN }
}

/// The size class of a request of `size` (at least 1) bytes at C's alignment
/// ([`c_align`]): `class_for(size, c_align(size))` without its search for a class of
/// the alignment. Every class size above 8 but 24 is a multiple of 16, so it is the
/// class for 8-byte alignment, or the next one (32) for 24. A test checks every size.
#[inline(always)]
fn c_class(size: usize) -> usize {
    let c = class_for(size, 8);
    if size > 8 && c != 0 && !class_size(c).is_multiple_of(MIN_ALIGN) {
        c + 1
    } else {
        c
    }
}

/// The layout a small block of `class` is freed with: one that maps back to `class`.
#[inline(always)]
fn small_layout(class: usize) -> Layout {
    let size = class_size(class);
    let align = (1usize << size.trailing_zeros()).min(MIN_ALIGN);
    // SAFETY: a class size is non-zero and a multiple of `align`, a power of two.
    unsafe { Layout::from_size_align_unchecked(size, align) }
}

/// The layout a large block of `bytes` is freed with: an alignment above a page
/// keeps it large whatever its size.
#[inline(always)]
fn large_layout(bytes: usize) -> Layout {
    // SAFETY: bytes is a whole number of pages of a live block; the alignment is a
    // power of two.
    unsafe { Layout::from_size_align_unchecked(bytes, 2 * PAGE_SIZE) }
}

fn region_page(p: usize) -> usize {
    (p & (region::LEN - 1)) / PAGE_SIZE
}

/// Who owns `p` (non-null).
#[inline(always)]
fn owner(p: *mut c_void) -> Owner {
    let a = p as usize;
    if region::contains(a) {
        return match APART_CLASS[region_page(a)].load(Ordering::Relaxed) {
            0 => crate::os::fatal(
                "free of an apart block spanprof's C API never handed out:",
                a,
            ),
            c => Owner::Small(c as usize),
        };
    }
    let s = CentralLists::span_of(&HEAP, a);
    if s.is_null() {
        return Owner::Foreign;
    }
    // SAFETY: a non-null span_of result is a live span record; p is a live block in
    // it, so its class and page count do not change under us.
    let (state, class, npages) = unsafe { ((*s).state, (*s).class, (*s).npages) };
    match state {
        SpanState::Large => Owner::Large(npages * PAGE_SIZE),
        SpanState::Dead => crate::os::fatal("free of a block spanprof already freed:", a),
        _ => Owner::Small(class as usize),
    }
}

fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno.
    unsafe { *libc::__errno_location() = e };
}

fn enomem() -> *mut c_void {
    set_errno(libc::ENOMEM);
    ptr::null_mut()
}

/// Allocates `size` bytes (at least 1) aligned to `align`; null and ENOMEM on failure.
#[inline(always)]
fn alloc(size: usize, align: usize, zero: bool) -> *mut c_void {
    let size = size.max(1);
    let Ok(layout) = Layout::from_size_align(size, align) else {
        return enomem();
    };
    let class = if align == c_align(size) {
        c_class(size)
    } else {
        class_for(size, align)
    };
    // SAFETY: the layout has a non-zero size, and `class` is its class.
    let p = unsafe {
        if zero {
            A.alloc_zeroed(layout)
        } else {
            alloc_class(layout, class)
        }
    };
    if p.is_null() {
        return enomem();
    }
    if region::contains(p as usize) {
        APART_CLASS[region_page(p as usize)].store(class as u8, Ordering::Relaxed);
    }
    p.cast()
}

/// Frees `p`, a block of `owner`.
///
/// # Safety
/// `p` must be a live block that `owner` describes; nothing may use it afterwards.
#[inline(always)]
unsafe fn release(p: *mut c_void, owner: Owner) {
    match owner {
        // SAFETY: the caller's promise; the layout maps back to the block's class.
        Owner::Small(c) => unsafe { dealloc_class(p.cast(), small_layout(c), c) },
        // SAFETY: as above; a large block is freed by its start whatever the size.
        Owner::Large(b) => unsafe { A.dealloc(p.cast(), large_layout(b)) },
        // SAFETY: not ours, so the C library's (the only other allocator of C blocks).
        #[cfg(target_env = "gnu")]
        Owner::Foreign => unsafe { __libc_free(p) },
        #[cfg(not(target_env = "gnu"))]
        Owner::Foreign => {
            crate::os::fatal("free of a pointer spanprof never handed out:", p as usize)
        }
    }
}

/// C `malloc`.
#[inline]
pub fn malloc(size: usize) -> *mut c_void {
    alloc(size, c_align(size), false)
}

/// C `calloc`: zeroed; ENOMEM when `n * size` overflows.
#[inline]
pub fn calloc(n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        Some(total) => alloc(total, c_align(total), true),
        None => enomem(),
    }
}

/// C `free` (keeps `errno`, as glibc asks of a replacement).
///
/// # Safety
/// `p` must be null or a live block from this API (or from the C library's own
/// allocator); nothing may use it afterwards.
#[inline]
pub unsafe fn free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: __errno_location returns the calling thread's errno (located once: a
    // call into the C library), valid as long as the thread; the block is the
    // caller's promise.
    unsafe {
        let errno = libc::__errno_location();
        let saved = *errno;
        release(p, owner(p));
        *errno = saved;
    }
}

/// C `realloc`: `realloc(NULL, n)` is `malloc(n)`; `realloc(p, 0)` frees `p` and
/// returns null (glibc); on failure null, ENOMEM, and `p` untouched.
///
/// # Safety
/// As [`free`].
#[inline]
pub unsafe fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return malloc(size);
    }
    if size == 0 {
        // SAFETY: forwarded.
        unsafe { free(p) };
        return ptr::null_mut();
    }
    let own = owner(p);
    let (old_layout, usable) = match own {
        Owner::Small(c) => (small_layout(c), class_size(c)),
        Owner::Large(b) => (large_layout(b), b),
        #[cfg(target_env = "gnu")]
        // SAFETY: the C library's block, resized by the C library.
        Owner::Foreign => return unsafe { __libc_realloc(p, size) },
        #[cfg(not(target_env = "gnu"))]
        Owner::Foreign => crate::os::fatal(
            "realloc of a pointer spanprof never handed out:",
            p as usize,
        ),
    };
    if fits_in_place(old_layout, size) {
        // The block stays as it is. Its requested bytes stay as counted at `malloc`:
        // C does not say what the old request was, and charging the change from the
        // block's rounded size would drift the totals down by up to a page per call.
        return p;
    }
    let q = alloc(size, c_align(size), false);
    if !q.is_null() {
        // SAFETY: both blocks are live, at least min(usable, size) bytes long, and
        // distinct; p is freed once.
        unsafe {
            ptr::copy_nonoverlapping(p.cast::<u8>(), q.cast::<u8>(), usable.min(size));
            release(p, own);
        }
    }
    q
}

/// C `reallocarray`: `realloc(p, n * size)`, ENOMEM when that overflows.
///
/// # Safety
/// As [`free`].
pub unsafe fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: forwarded.
        Some(total) => unsafe { realloc(p, total) },
        None => enomem(),
    }
}

/// glibc's `memalign`: an alignment that is not a power of two is rounded up to one;
/// one above `usize::MAX / 2 + 1` is EINVAL.
pub fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(align) = align.max(1).checked_next_power_of_two() else {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    };
    alloc(size, align.max(c_align(size)), false)
}

/// C11 `aligned_alloc`, as glibc 2.36 has it (`memalign`).
pub fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    memalign(align, size)
}

/// POSIX `posix_memalign`: EINVAL unless `align` is a power of two and a multiple of
/// `sizeof(void *)`; ENOMEM on failure (returned; `*out` untouched).
///
/// # Safety
/// `out` must be valid for a pointer write.
pub unsafe fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || !align.is_multiple_of(size_of::<usize>()) {
        return libc::EINVAL;
    }
    // SAFETY: __errno_location returns the calling thread's errno.
    let errno = unsafe { *libc::__errno_location() };
    let p = alloc(size, align.max(c_align(size)), false);
    set_errno(errno);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller's promise.
    unsafe { out.write(p) };
    0
}

/// `valloc`: aligned to the system page.
pub fn valloc(size: usize) -> *mut c_void {
    memalign(SYS_PAGE, size)
}

/// `pvalloc`: aligned to the system page, the size rounded up to whole pages.
pub fn pvalloc(size: usize) -> *mut c_void {
    match size.max(1).checked_next_multiple_of(SYS_PAGE) {
        Some(s) => memalign(SYS_PAGE, s),
        None => enomem(),
    }
}

/// `malloc_usable_size`: the bytes of the block (its slot, or its pages), all of
/// which the program may use; 0 for null.
///
/// # Safety
/// `p` must be null or a live block from this API (or the C library's).
pub unsafe fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    match owner(p) {
        Owner::Small(c) => class_size(c),
        Owner::Large(b) => b,
        Owner::Foreign => {
            // glibc's chunk header: the size word before the block, flags in its low
            // bits (2 = mmapped, whose chunks have no next-chunk overlap).
            // SAFETY: a live glibc block has its chunk's size word just before it.
            let word = unsafe { p.cast::<usize>().sub(1).read() };
            let chunk = word & !7;
            chunk.saturating_sub(if word & 2 != 0 { 16 } else { 8 })
        }
    }
}

/// `malloc_trim`: returns every free span and page to the OS; 1 if memory was
/// released, else 0.
pub fn malloc_trim(_pad: usize) -> c_int {
    c_int::from(HEAP.release_free_memory() > 0)
}

/// `mallopt`: accepted and ignored (spanprof has no such tunables); returns 1, success.
pub fn mallopt(_param: c_int, _value: c_int) -> c_int {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_class_is_the_class_of_c_alignment() {
        for size in 1..=crate::size_class::MAX_SMALL_SIZE + 2 * PAGE_SIZE {
            assert_eq!(c_class(size), class_for(size, c_align(size)), "size {size}");
        }
        for size in [usize::MAX / 2, usize::MAX - 100, usize::MAX] {
            assert_eq!(c_class(size), class_for(size, c_align(size)));
        }
    }
}
