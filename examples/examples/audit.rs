//! Structs around size-class boundaries (33 B and 40 B land in the 48 B class, 24 B
//! fits its class exactly, 72 B lands in 80 B), each allocated by a `#[track_alloc]`
//! constructor returning `Box<T>`. `spanprof audit` lists the types with their class,
//! their waste and what a smaller layout would save:
//!
//! ```console
//! $ SPANPROF_OUT=audit.json cargo run --release -p spanprof-examples --example audit
//! $ spanprof audit audit.json
//! ```

use spanprof_examples::site_line;
use spanprof_examples::types::{self, Interval, Order, Sample, Token};

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

fn main() {
    let n = 200_000;
    let sum = types::run(n, 64);
    println!("{n} objects of each type, checksum {sum}");
    let sizes = [
        ("Token", size_of::<Token>(), "new_token"),
        ("Order", size_of::<Order>(), "new_order"),
        ("Interval", size_of::<Interval>(), "new_interval"),
        ("Sample", size_of::<Sample>(), "new_sample"),
    ];
    for (ty, size, site) in sizes {
        let class = spanprof::size_class::class_of(size).unwrap_or(0);
        let slot = spanprof::size_class::class_size(class);
        println!(
            "{ty:<9} {size:>3} B -> class {class:>2} ({slot:>3} B slots), waste {:>2} B per object ({:.0} %)",
            slot - size,
            (slot - size) as f64 * 100.0 / slot as f64
        );
        if let Some(line) = site_line(site) {
            println!("  {line}");
        }
    }
}
