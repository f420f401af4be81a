//! A Rust program on the system allocator (it does not link spanprof), run by the
//! preload tests (`tests/preload.rs`) under `libspanprof.so` and by `spanprof run`,
//! which must tell it from a program built with spanprof and preload the library.

use std::collections::BTreeMap;

#[inline(never)]
fn build_inventory(n: usize) -> BTreeMap<String, Vec<u64>> {
    (0..n)
        .map(|i| (format!("item-{i:06}"), (0..(i % 50) as u64).collect()))
        .collect()
}

fn main() {
    let mut total = 0usize;
    for round in 0..10 {
        let inv = build_inventory(20_000 + round);
        total += inv.values().map(Vec::len).sum::<usize>();
    }
    let worker = std::thread::spawn(|| build_inventory(5_000).len());
    total += worker.join().unwrap_or(0);
    println!("total {total}");
}
