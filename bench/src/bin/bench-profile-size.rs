//! The program of the profile-size benchmark (`benches/profile_size.rs`): every
//! allocation sampled (`set_sample_rate(1)`, frame-pointer stacks), made by
//! `THREADS` threads from 1,024 distinct stacks (a 10-level binary call tree: each
//! leaf path is its own stack), three slot sizes per stack, each object freed at
//! once. Then it writes its profile and prints one line for the driver:
//! `allocations=N write_secs=S bytes=B`.
//!
//! Usage: `bench-profile-size PROFILE [ALLOCATIONS] [THREADS]` (defaults 10,000,000
//! and 4).

use std::hint::black_box;
use std::time::Instant;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

/// Levels of the call tree: 2^LEVELS distinct stacks.
const LEVELS: u32 = 10;
const PATHS: u32 = 1 << LEVELS;
/// Request sizes, one slot size each (16, 48 and 112 B).
const SIZES: [usize; 3] = [16, 40, 100];

#[inline(never)]
fn leaf(n: u64) {
    for i in 0..n {
        let v: Vec<u8> = Vec::with_capacity(SIZES[(i % 3) as usize]);
        black_box(&v);
    }
    black_box(());
}

/// The left and right branches of the tree: distinct return addresses make every
/// path a distinct stack. The call is never a tail call (work follows it), and the
/// two differ (identical functions would be merged into one).
#[inline(never)]
fn left(path: u32, level: u32, n: u64) {
    descend(path, level, n);
    black_box(level ^ 0x1eff);
}

#[inline(never)]
fn right(path: u32, level: u32, n: u64) {
    descend(path, level, n);
    black_box(level ^ 0x519e);
}

#[inline(never)]
fn descend(path: u32, level: u32, n: u64) {
    if level == 0 {
        leaf(n);
    } else if path & (1 << (level - 1)) != 0 {
        left(path, level - 1, n);
    } else {
        right(path, level - 1, n);
    }
    black_box(path);
}

/// One thread's share: every path, `per_path` allocations each (the first `extra`
/// paths one more).
fn work(per_path: u64, extra: u64) {
    for path in 0..PATHS {
        let n = per_path + u64::from(u64::from(path) < extra);
        descend(black_box(path), LEVELS, n);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: bench-profile-size PROFILE [ALLOCATIONS] [THREADS]");
        std::process::exit(2);
    };
    let allocations: u64 = args.next().map_or(10_000_000, |a| a.parse().unwrap());
    let threads: u64 = args.next().map_or(4, |a| a.parse().unwrap()).max(1);
    if !spanprof::set_frame_pointer_unwinding(true) {
        eprintln!(
            "bench-profile-size: this build has no frame pointers; the DWARF unwinder is used"
        );
    }
    spanprof::set_sample_rate(1);
    let share = allocations / threads;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            // The first thread takes the remainder.
            let mine = share + if t == 0 { allocations % threads } else { 0 };
            let per_path = mine / u64::from(PATHS);
            let extra = mine % u64::from(PATHS);
            std::thread::spawn(move || work(per_path, extra))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    spanprof::set_sample_rate(0);
    let start = Instant::now();
    spanprof::write_profile(&out).unwrap();
    let write_secs = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&out).map_or(0, |m| m.len());
    println!("allocations={allocations} write_secs={write_secs:.3} bytes={bytes}");
}
