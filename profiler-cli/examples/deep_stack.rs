//! A program built with spanprof that allocates 400 calls deep, for the tests of deep
//! stacks: it samples every allocation of the recursion (and nothing else), then
//! writes its profile to the path given as its first argument.

use std::hint::black_box;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

const DEPTH: u32 = 400;

#[inline(never)]
#[allow(clippy::vec_box)] // one allocation per box is the point
fn leaf() -> Vec<Box<[u8; 64]>> {
    let mut v = Vec::with_capacity(8);
    for i in 0..8 {
        v.push(black_box(Box::new([i as u8; 64])));
    }
    // Work after the last call: no tail call, the frame stays.
    black_box(&v);
    v
}

#[inline(never)]
#[allow(clippy::vec_box)]
fn recurse(n: u32) -> Vec<Box<[u8; 64]>> {
    if n == 0 {
        return leaf();
    }
    let v = recurse(black_box(n - 1));
    black_box(&v);
    v
}

fn main() {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: deep_stack PROFILE");
        std::process::exit(2);
    };
    spanprof::set_sample_rate(1);
    let v = recurse(DEPTH);
    spanprof::set_sample_rate(0);
    spanprof::write_profile(&out).unwrap();
    println!("deep_stack: {} boxes allocated {DEPTH} calls deep", v.len());
}
