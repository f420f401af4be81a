//! A program built with spanprof whose peak and temporary allocations are known, for
//! the tests of `--weight peak-bytes` and `--weight temporary` on sampled stacks. Run
//! with `SPANPROF_OUT` set and `SPANPROF_RATE=1` (every allocation sampled):
//!
//! * `hold_peak` allocates [`PEAK_OBJECTS`] blocks of [`PEAK_BYTES`] (large objects,
//!   whole pages) and keeps them: they are all live at the heap's peak, then freed
//!   (the last one before any other allocation: one temporary allocation);
//! * `make_temporaries` then makes [`TEMPORARIES`] allocations of
//!   [`TEMPORARY_BYTES`], each freed before the next allocation (temporary ones).
//!
//! It prints the figures so a test reads them from its output.

use std::hint::black_box;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

/// Blocks live at the peak (each passes the peak check's margin on its own).
const PEAK_OBJECTS: usize = 8;
/// Bytes of each (4 MiB: a large object, page-rounded to itself).
const PEAK_BYTES: usize = 4 << 20;
/// Temporary allocations made after the peak.
const TEMPORARIES: usize = 1000;
/// Bytes of each (a size class of its own: 256 B slots).
const TEMPORARY_BYTES: usize = 256;

#[inline(never)]
fn hold_peak(keep: &mut Vec<Vec<u8>>) {
    for i in 0..PEAK_OBJECTS {
        let mut block = Vec::<u8>::with_capacity(PEAK_BYTES);
        block.push(i as u8);
        keep.push(black_box(block));
    }
}

#[inline(never)]
fn make_temporaries() -> u64 {
    let mut sum = 0u64;
    for i in 0..TEMPORARIES {
        let mut v = Vec::<u8>::with_capacity(TEMPORARY_BYTES);
        v.push(i as u8);
        sum += u64::from(black_box(&v)[0]);
        drop(v);
    }
    sum
}

fn main() {
    // Room for the blocks first, so `hold_peak` allocates nothing but them.
    let mut keep = Vec::with_capacity(PEAK_OBJECTS);
    hold_peak(&mut keep);
    black_box(&keep);
    drop(keep);
    let sum = make_temporaries();
    println!(
        "views program: peak {PEAK_OBJECTS} x {PEAK_BYTES} B, {TEMPORARIES} temporary x {TEMPORARY_BYTES} B (checksum {sum})"
    );
}
