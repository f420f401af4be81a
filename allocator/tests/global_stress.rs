//! `SpanAlloc` as the global allocator under multi-threaded load: millions of
//! operations over four threads, blocks handed across threads through channels and
//! freed there, every block pattern-checked before it is freed.

use std::sync::mpsc;
use std::thread;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn size(&mut self) -> usize {
        match self.next() % 1000 {
            0..=899 => 1 + (self.next() % 512) as usize,
            900..=989 => 513 + (self.next() % (32 * 1024 - 512)) as usize,
            _ => 32 * 1024 + (self.next() % (256 * 1024)) as usize,
        }
    }
}

/// A block whose bytes all equal a tag derived from its address and seed.
struct Block(Vec<u8>);

impl Block {
    fn new(len: usize, seed: u8) -> Block {
        let mut v = Vec::with_capacity(len);
        let tag = seed ^ (v.as_ptr() as usize >> 4) as u8;
        v.resize(len, tag);
        Block(v)
    }

    fn check(&self) {
        let Some(&tag) = self.0.first() else { return };
        assert!(
            self.0.iter().all(|&b| b == tag),
            "block at {:p} corrupted",
            self.0.as_ptr()
        );
    }
}

#[test]
fn four_threads_with_cross_thread_frees() {
    const THREADS: usize = 4;
    const OPS: usize = 400_000;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| mpsc::sync_channel::<Vec<Block>>(64))
        .unzip();
    let handles: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(t, rx)| {
            let next = txs[(t + 1) % THREADS].clone();
            thread::spawn(move || {
                let mut rng = Rng(t as u64 + 1);
                let mut live: Vec<Block> = Vec::new();
                let mut outbox: Vec<Block> = Vec::new();
                let mut received = 0usize;
                for i in 0..OPS {
                    match rng.next() % 4 {
                        0 | 1 => live.push(Block::new(rng.size(), i as u8)),
                        2 if !live.is_empty() => {
                            let k = (rng.next() as usize) % live.len();
                            let b = live.swap_remove(k);
                            b.check();
                            outbox.push(b);
                        }
                        _ if !live.is_empty() => {
                            let k = (rng.next() as usize) % live.len();
                            live.swap_remove(k).check();
                        }
                        _ => {}
                    }
                    if outbox.len() == 64 {
                        // Hand a batch to the next thread, which frees it.
                        let _ = next.try_send(std::mem::take(&mut outbox));
                    }
                    while let Ok(batch) = rx.try_recv() {
                        received += batch.len();
                        batch.iter().for_each(Block::check);
                    }
                }
                drop(next);
                live.iter().for_each(Block::check);
                received
            })
        })
        .collect();
    drop(txs);
    let received: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(
        received > 10_000,
        "cross-thread frees happened ({received})"
    );
    let s = spanprof::stats();
    let remote: u64 = s.size_classes().iter().map(|c| c.remote_frees).sum();
    assert!(
        remote >= received as u64 / 2,
        "remote frees counted: {remote}"
    );
    for c in s.size_classes() {
        assert!(
            c.allocs >= c.frees,
            "class {}: {} allocs < {} frees",
            c.class,
            c.allocs,
            c.frees
        );
    }
}

#[test]
fn realloc_grows_and_shrinks_across_classes() {
    let mut v: Vec<u8> = Vec::new();
    for i in 0..200_000u32 {
        v.push(i as u8);
    }
    assert!(v.iter().enumerate().all(|(i, &b)| b == i as u8));
    let class_of = |n| spanprof::size_class::class_of(n);
    // Shrink through every class down to a few bytes, keeping the prefix.
    for len in [150_000, 40_000, 30_000, 5_000, 700, 100, 33, 9, 1] {
        v.truncate(len);
        v.shrink_to_fit();
        assert!(v.capacity() >= len);
        assert!(
            v.iter().enumerate().all(|(i, &b)| b == i as u8),
            "prefix kept at {len}"
        );
    }
    // Same-class growth stays in place.
    let mut s = String::with_capacity(40);
    let p = s.as_ptr();
    s.reserve_exact(48);
    assert_eq!(class_of(40), class_of(48));
    assert_eq!(p, s.as_ptr(), "40 → 48 bytes stays in the 48 B slot");
    s.push_str("hello");
    assert_eq!(s, "hello");
}

#[test]
fn zeroed_memory_is_zero_after_reuse() {
    for round in 0..50 {
        let dirty: Vec<Vec<u8>> = (0..200)
            .map(|i| vec![0xAA; 8 + (i * 13 + round) % 3000])
            .collect();
        drop(dirty);
        let zeroed: Vec<Vec<u8>> = (0..200)
            .map(|i| vec![0u8; 8 + (i * 13 + round) % 3000])
            .collect();
        for z in &zeroed {
            assert!(z.iter().all(|&b| b == 0));
        }
    }
    let big = vec![0u64; 10 << 20];
    assert!(big.iter().all(|&w| w == 0));
}

#[test]
fn large_objects_of_random_sizes() {
    let mut rng = Rng(99);
    let mut live: Vec<Vec<u8>> = Vec::new();
    for i in 0..300 {
        let len = 32 * 1024 + (rng.next() % (40 << 20)) as usize / (1 + (i % 8));
        let mut v = vec![0u8; len];
        let tag = (i as u8).wrapping_mul(31) | 1;
        v[0] = tag;
        v[len / 2] = tag;
        v[len - 1] = tag;
        live.push(v);
        if live.len() > 6 {
            let v = live.remove((rng.next() as usize) % live.len());
            let (a, b, c) = (v[0], v[v.len() / 2], v[v.len() - 1]);
            assert!(a == b && b == c && a != 0);
        }
    }
    // An object larger than an arena gets its own mapping.
    let huge = vec![7u8; 70 << 20];
    assert_eq!(huge[(70 << 20) - 1], 7);
    drop(huge);
    drop(live);
    let s = spanprof::stats();
    assert!(s.large.allocs >= 301);
    assert!(s.heap.direct_mappings >= 1);
}

#[test]
fn over_aligned_layouts() {
    use std::alloc::{GlobalAlloc, Layout};
    for shift in 0..=20 {
        let align = 1usize << shift;
        for size in [1, 7, 24, 100, 4096, 40_000] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero size; freed below with the same layout.
            unsafe {
                let p = GLOBAL.alloc(layout);
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "size {size} align {align}");
                p.write_bytes(0x5A, size);
                GLOBAL.dealloc(p, layout);
            }
        }
    }
}
