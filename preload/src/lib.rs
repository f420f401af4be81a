//! `libspanprof.so`: spanprof's heap as the C allocator of any program, by
//! `LD_PRELOAD=libspanprof.so PROGRAM` (or `spanprof run -- PROGRAM`).
//!
//! This crate owns nothing but the C names: each function below is exported
//! unmangled and forwards to `spanprof::cabi` (the allocator crate's `cabi.rs`), which
//! implements C's semantics over `SpanAlloc`. The library's own Rust code (the
//! profiler, which builds and writes the profile at exit or on a signal exactly as in
//! a Rust program built with spanprof) allocates through `SpanAlloc` as its global
//! allocator, on spanprof's books. glibc's own `__libc_*` functions are not exported,
//! so a pointer spanprof never handed out can still be given back to glibc.

use core::ffi::{c_int, c_void};
use spanprof_core::cabi;

#[global_allocator]
static GLOBAL: spanprof_core::SpanAlloc = spanprof_core::SpanAlloc::new();

/// The library's constructor: starts spanprof (reads `SPANPROF_*`, arms the exit
/// hook) even in a program that never calls `malloc`; most have called it already.
#[used]
#[unsafe(link_section = ".init_array")]
static START: extern "C" fn() = start;

extern "C" fn start() {
    // SAFETY: a block just allocated here, freed once.
    unsafe { cabi::free(cabi::malloc(1)) };
}

/// C `malloc`.
#[unsafe(no_mangle)]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    cabi::malloc(size)
}

/// C `calloc`.
#[unsafe(no_mangle)]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    cabi::calloc(n, size)
}

/// C `free`.
///
/// # Safety
/// `p` is null or a live block of this allocator (or of glibc's).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: forwarded.
    unsafe { cabi::free(p) }
}

/// C23 `free_sized`: the size is not needed.
///
/// # Safety
/// As [`free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free_sized(p: *mut c_void, _size: usize) {
    // SAFETY: forwarded.
    unsafe { cabi::free(p) }
}

/// C23 `free_aligned_sized`: the alignment and size are not needed.
///
/// # Safety
/// As [`free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free_aligned_sized(p: *mut c_void, _align: usize, _size: usize) {
    // SAFETY: forwarded.
    unsafe { cabi::free(p) }
}

/// The obsolete `cfree`, which glibc still exports.
///
/// # Safety
/// As [`free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cfree(p: *mut c_void) {
    // SAFETY: forwarded.
    unsafe { cabi::free(p) }
}

/// C `realloc`.
///
/// # Safety
/// As [`free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { cabi::realloc(p, size) }
}

/// `reallocarray`.
///
/// # Safety
/// As [`free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { cabi::reallocarray(p, n, size) }
}

/// POSIX `posix_memalign`.
///
/// # Safety
/// `out` is valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    // SAFETY: forwarded.
    unsafe { cabi::posix_memalign(out, align, size) }
}

/// C11 `aligned_alloc`.
#[unsafe(no_mangle)]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    cabi::aligned_alloc(align, size)
}

/// `memalign`.
#[unsafe(no_mangle)]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    cabi::memalign(align, size)
}

/// `valloc`.
#[unsafe(no_mangle)]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    cabi::valloc(size)
}

/// `pvalloc`.
#[unsafe(no_mangle)]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    cabi::pvalloc(size)
}

/// `malloc_usable_size`.
///
/// # Safety
/// `p` is null or a live block of this allocator (or of glibc's).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    // SAFETY: forwarded.
    unsafe { cabi::malloc_usable_size(p) }
}

/// `malloc_trim`: hands free memory back to the OS.
#[unsafe(no_mangle)]
pub extern "C" fn malloc_trim(pad: usize) -> c_int {
    cabi::malloc_trim(pad)
}

/// `mallopt`: accepted, ignored.
#[unsafe(no_mangle)]
pub extern "C" fn mallopt(param: c_int, value: c_int) -> c_int {
    cabi::mallopt(param, value)
}
