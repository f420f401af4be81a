//! The Go seed program in Rust: a non-inlined constructor returning a boxed 32-byte
//! struct, run under spanprof with the constructor as a site, then what the
//! allocator and the site counted.
//!
//! ```console
//! $ cargo run --release -p spanprof-examples --example go_seed
//! $ SPANPROF_OUT=go-seed.json cargo run --release -p spanprof-examples --example go_seed
//! ```

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
    let _site = spanprof::enter(spanprof::site!("new_seed"));
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
    if let Some(s) = spanprof::site_stats("new_seed") {
        println!(
            "site new_seed: {} allocations ({} in the 32 B class), {} B of slots for {} B asked, {} live",
            s.allocs, s.class_allocs[class], s.slot_bytes, s.requested_bytes, s.live_objects
        );
    }
}
