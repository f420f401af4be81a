//! The Go seed program in Rust: a non-inlined constructor returning a boxed 32-byte
//! struct, run under spanprof, then the per-class counters it produced.
//!
//! `cargo run --release -p spanprof-examples --example go_seed`

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

#[derive(Debug)]
#[allow(dead_code)]
struct Seed {
    a: i64,
    b: i64,
    c: f64,
    d: f64,
}

#[inline(never)]
fn new_seed(i: i64) -> Box<Seed> {
    Box::new(Seed {
        a: i,
        b: i * 2,
        c: i as f64,
        d: i as f64 / 2.0,
    })
}

fn main() {
    let n = 1_000_000;
    let mut window: Vec<Box<Seed>> = Vec::with_capacity(16);
    let mut sum = 0i64;
    for i in 0..n {
        if window.len() == 16 {
            sum += window.swap_remove((i % 16) as usize).a;
        }
        window.push(new_seed(i));
    }
    drop(window);
    let stats = spanprof::stats();
    let class = spanprof::size_class::class_of(32).unwrap_or(0);
    let c = &stats.classes[class];
    println!("checksum {sum}");
    println!(
        "32 B class (class {class}): {} allocations, {} frees, {} refills, {} spans in use",
        c.allocs, c.frees, c.refills, c.spans_in_use
    );
}
