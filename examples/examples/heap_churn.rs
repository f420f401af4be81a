//! Heap churn across threads and sites: a parser that allocates strings it throws
//! away, a cache that keeps some, and worker threads freeing each other's objects.
//! Writes a profile when `SPANPROF_OUT` is set.
//!
//! ```console
//! $ SPANPROF_OUT=churn.json cargo run --release -p spanprof-examples --example heap_churn
//! ```

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

#[inline(never)]
fn parse_line(line: &str) -> Vec<String> {
    let _site = spanprof::enter(spanprof::site!("parse_line"));
    line.split(',').map(|f| f.trim().to_string()).collect()
}

#[inline(never)]
fn remember(cache: &mut HashMap<String, Vec<u8>>, key: &str, len: usize) {
    let _site = spanprof::enter(spanprof::site!("remember"));
    cache
        .entry(key.to_string())
        .or_insert_with(|| vec![0u8; len]);
}

fn main() {
    let (tx, rx) = mpsc::channel::<Vec<String>>();
    let consumer = thread::spawn(move || rx.iter().map(|v| v.len()).sum::<usize>());
    let mut cache = HashMap::new();
    for i in 0..200_000 {
        let line = format!("id{i}, name{}, value{}, tag{}", i % 977, i * 7, i % 13);
        let fields = parse_line(&line);
        if i % 10 == 0 {
            remember(&mut cache, &fields[1], 64 + i % 4000);
        }
        tx.send(fields).expect("consumer alive");
    }
    drop(tx);
    let fields = consumer.join().expect("consumer finished");
    let s = spanprof::stats();
    println!("{fields} fields sent; {} cached keys", cache.len());
    println!(
        "{} objects allocated, {} refills, {} remote frees, {} arenas",
        s.total_allocs(),
        s.total_refills(),
        s.size_classes().iter().map(|c| c.remote_frees).sum::<u64>(),
        s.heap.arenas_mapped
    );
    for site in ["parse_line", "remember"] {
        if let Some(st) = spanprof::site_stats(site) {
            println!(
                "{site}: {} allocs, waste {} B, {} refills, {} live",
                st.allocs,
                st.slot_bytes - st.requested_bytes,
                st.refills,
                st.live_objects
            );
        }
    }
}
