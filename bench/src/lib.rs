//! The workloads of the allocator benchmark, shared by every `bench-<allocator>` binary.
//!
//! Each workload is a function taking an op count and returning `(seconds, ops)`:
//! the seconds of the measured loop only (any initial live set is built before the
//! clock starts and freed after it stops) and the ops actually performed. Sizes come
//! from a fixed-seed [`SplitMix64`], so every allocator sees the same sequence.
//! The definitions follow `perf-anchors.md` (shared research notes), so the numbers
//! can be compared with the ones measured there for glibc, mimalloc and jemalloc.
//!
//! The binaries in `src/bin/` differ only in their `#[global_allocator]`; each calls
//! [`run_cli`], which runs one workload and prints one line:
//! `workload=<w> allocator=<a> secs=<f64> ops=<n> ns_per_op=<f64>`.
//! The driver (`benches/allocators.rs`) runs them as child processes.
//!
//! Profiling binaries (`bench-spanprof-sites`, `bench-dhat`, …) also install a
//! [thread hook](set_thread_hook) before [`run_cli`]: every workload calls it at the
//! start of each thread that does its work and keeps what it returns (e.g. a
//! `spanprof::SiteGuard`) alive for that thread's work. `benches/profiling.rs` drives
//! them.

use std::any::Any;
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::sync::mpsc;
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::Instant;

/// The seed of every workload's random sequence.
pub const SEED: u64 = 0x5eed_2024_a110_c8ed;

/// The splitmix64 generator: tiny, fast, and identical on every run.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by multiply-high (no division).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A number in `lo..=hi`.
    #[inline]
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
}

/// What a [thread hook](set_thread_hook) returns: a guard kept alive for the thread's work.
pub type ThreadGuard = Box<dyn Any>;

/// The process-wide thread hook; unset by default.
static THREAD_HOOK: OnceLock<fn() -> ThreadGuard> = OnceLock::new();

/// Installs `hook`, which every workload then calls at the start of each thread that
/// does its work (the loop thread, and the producer/consumer or worker threads of
/// `xthread` and `larson`), keeping the returned guard alive until that thread's work
/// is done — e.g. `|| Box::new(spanprof::enter(spanprof::site!("bench")))` runs every
/// workload under a site. Call it before [`run_cli`]; it can be set once per process.
///
/// # Panics
///
/// If a hook was already set.
pub fn set_thread_hook(hook: fn() -> ThreadGuard) {
    assert!(
        THREAD_HOOK.set(hook).is_ok(),
        "spanprof-bench: the thread hook can be set only once"
    );
}

/// Calls the thread hook, if one is set; the caller keeps the guard for its work.
#[inline(never)]
fn thread_hook() -> Option<ThreadGuard> {
    THREAD_HOOK.get().map(|hook| hook())
}

/// A workload: `(seconds of the measured loop, ops performed)` for a requested op count.
pub type WorkloadFn = fn(u64) -> (f64, u64);

/// One entry of [`WORKLOADS`].
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// The name used on the command line and in the report.
    pub name: &'static str,
    /// The function that runs it.
    pub run: WorkloadFn,
    /// Default op count: about 1.5 s with glibc malloc on the reference machine.
    pub default_ops: u64,
    /// What one op is, for the report.
    pub op: &'static str,
}

/// Every workload, in report order.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "small-churn",
        run: small_churn,
        default_ops: 60_000_000,
        op: "free+alloc 8-512 B, random slot of 10k",
    },
    Workload {
        name: "go-seed",
        run: go_seed,
        default_ops: 150_000_000,
        op: "alloc 32 B + free (16 live)",
    },
    Workload {
        name: "go-seed-baseline",
        run: go_seed_baseline,
        default_ops: 150_000_000,
        op: "go-seed loop, struct by value (no heap)",
    },
    Workload {
        name: "mixed-sizes",
        run: mixed_sizes,
        default_ops: 35_000_000,
        op: "free+alloc 8 B-64 KB, random slot of 4096",
    },
    Workload {
        name: "xthread",
        run: xthread,
        default_ops: 12_000_000,
        op: "object alloc'd on T1, freed on T2",
    },
    Workload {
        name: "larson",
        run: larson,
        default_ops: 40_000_000,
        op: "free+alloc 8-1000 B (sum of 2 threads)",
    },
    Workload {
        name: "realloc-grow",
        run: realloc_grow,
        default_ops: 150_000,
        op: "one buffer grown to 4-64 KB",
    },
    Workload {
        name: "json",
        run: json,
        default_ops: 2,
        op: "serde_json round trip of a 20 MB catalogue",
    },
];

impl Workload {
    /// Whether each op allocates: all but `go-seed-baseline`, the no-heap loop. The
    /// profiling binaries expect counted or sampled allocations only from these.
    pub fn allocates(&self) -> bool {
        self.name != "go-seed-baseline"
    }

    /// A small op count for tests: 1/10,000 of the default, at least `at_least`,
    /// except for workloads whose op is itself long (json: one round trip of a
    /// 20 MB document), which run one op.
    pub fn smoke_ops(&self, at_least: u64) -> u64 {
        if self.default_ops < 100 {
            1
        } else {
            (self.default_ops / 10_000).max(at_least)
        }
    }
}

/// The workload called `name`.
pub fn workload(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// An uninitialised byte buffer of `n > 0` bytes with its first and last byte written.
#[inline]
fn touched_block(n: usize) -> Box<[MaybeUninit<u8>]> {
    let mut b = Box::<[u8]>::new_uninit_slice(n);
    b[0].write(n as u8);
    b[n - 1].write(1);
    b
}

/// small-churn: a ring of 10k live `Vec<u8>`; each op replaces a random slot with
/// `Vec::with_capacity(8..=512)` holding one byte (one alloc + one free).
pub fn small_churn(ops: u64) -> (f64, u64) {
    let _hook = thread_hook();
    const LIVE: usize = 10_000;
    let mut rng = SplitMix64::new(SEED);
    let mut ring: Vec<Vec<u8>> = (0..LIVE)
        .map(|_| {
            let mut v = Vec::with_capacity(rng.range(8, 512));
            v.push(1);
            v
        })
        .collect();
    let start = Instant::now();
    for _ in 0..ops {
        let slot = rng.below(LIVE);
        let n = rng.range(8, 512);
        let mut v = Vec::with_capacity(n);
        v.push(n as u8);
        ring[slot] = black_box(v);
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(&ring);
    drop(ring);
    (secs, ops)
}

/// The 32-byte object of the go-seed workload (Go's `seed` benchmark struct).
#[derive(Debug)]
pub struct Seed {
    /// First field.
    pub a: i64,
    /// Second field.
    pub b: i64,
    /// Third field.
    pub c: f64,
    /// Fourth field.
    pub d: f64,
}

/// The go-seed constructor: one 32-byte heap allocation behind a real call.
#[inline(never)]
pub fn new_seed(i: u64) -> Box<Seed> {
    Box::new(Seed {
        a: i as i64,
        b: (i as i64).wrapping_mul(3),
        c: i as f64,
        d: i as f64 * 0.5,
    })
}

/// The go-seed-baseline constructor: the same struct, returned by value (no heap).
#[inline(never)]
pub fn new_seed_value(i: u64) -> Seed {
    Seed {
        a: i as i64,
        b: (i as i64).wrapping_mul(3),
        c: i as f64,
        d: i as f64 * 0.5,
    }
}

/// go-seed: each op boxes a [`Seed`] through the non-inlined [`new_seed`] and frees
/// the one boxed 16 ops earlier (a window of 16 live objects).
pub fn go_seed(ops: u64) -> (f64, u64) {
    let _hook = thread_hook();
    let mut window: [Box<Seed>; 16] = std::array::from_fn(|i| new_seed(i as u64));
    let start = Instant::now();
    for i in 0..ops {
        window[(i & 15) as usize] = black_box(new_seed(black_box(i)));
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(&window);
    drop(window);
    (secs, ops)
}

/// go-seed-baseline: the go-seed loop with [`new_seed_value`] (no heap), keeping one
/// field of each struct in a window of 16: the loop and call overhead that go-seed's
/// ns/op includes, so `go-seed - go-seed-baseline` is the net alloc+free cost.
pub fn go_seed_baseline(ops: u64) -> (f64, u64) {
    let _hook = thread_hook();
    let mut window = [0i64; 16];
    let start = Instant::now();
    for i in 0..ops {
        window[(i & 15) as usize] = black_box(new_seed_value(black_box(i)).a);
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(&window);
    (secs, ops)
}

/// A mixed-sizes size: 70% 8-128 B, 20% 129 B-1 KB, 7% 1-8 KB, 2% 8-32 KB, 1% 32-64 KB.
#[inline]
fn mixed_size(rng: &mut SplitMix64) -> usize {
    match rng.below(100) {
        0..70 => rng.range(8, 128),
        70..90 => rng.range(129, 1024),
        90..97 => rng.range(1025, 8 * 1024),
        97..99 => rng.range(8 * 1024 + 1, 32 * 1024),
        _ => rng.range(32 * 1024 + 1, 64 * 1024),
    }
}

/// mixed-sizes: a ring of 4096 live byte boxes; each op replaces a random slot with a
/// box of a [mixed size](mixed_size), first and last byte written (one alloc + one free).
pub fn mixed_sizes(ops: u64) -> (f64, u64) {
    let _hook = thread_hook();
    const LIVE: usize = 4096;
    let mut rng = SplitMix64::new(SEED);
    let mut ring: Vec<Box<[MaybeUninit<u8>]>> = (0..LIVE)
        .map(|_| touched_block(mixed_size(&mut rng)))
        .collect();
    let start = Instant::now();
    for _ in 0..ops {
        let slot = rng.below(LIVE);
        let n = mixed_size(&mut rng);
        ring[slot] = black_box(touched_block(n));
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(&ring);
    drop(ring);
    (secs, ops)
}

/// xthread: this thread allocates `ops` objects of 8..=512 B in batches of 256 and
/// sends each batch over `mpsc::sync_channel(16)`; a consumer thread frees them. One
/// op = one object allocated on one thread and freed on the other. The clock covers
/// producing everything and the consumer finishing.
pub fn xthread(ops: u64) -> (f64, u64) {
    let _hook = thread_hook();
    const BATCH: usize = 256;
    let (tx, rx) = mpsc::sync_channel::<Vec<Box<[MaybeUninit<u8>]>>>(16);
    let consumer = thread::spawn(move || {
        let _hook = thread_hook();
        let mut freed = 0u64;
        for batch in rx {
            for obj in batch {
                freed += 1;
                drop(black_box(obj));
            }
        }
        freed
    });
    let mut rng = SplitMix64::new(SEED);
    let start = Instant::now();
    let mut left = ops;
    while left > 0 {
        let n = left.min(BATCH as u64) as usize;
        let mut batch = Vec::with_capacity(BATCH);
        for _ in 0..n {
            batch.push(touched_block(rng.range(8, 512)));
        }
        tx.send(black_box(batch)).expect("xthread consumer hung up");
        left -= n as u64;
    }
    drop(tx);
    let freed = consumer.join().expect("xthread consumer panicked");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(
        freed, ops,
        "xthread: consumer freed {freed} of {ops} objects"
    );
    (secs, ops)
}

/// larson: 2 threads, each with a live set of 10k objects of 8..=1000 B, replace a
/// random object per op; the work is cut into 20 rounds, and after every round the
/// two live sets are swapped between the threads, so the next round frees objects the
/// other thread allocated. One op = one free + alloc; ops are summed over the threads.
pub fn larson(ops: u64) -> (f64, u64) {
    let _hook = thread_hook();
    const THREADS: u64 = 2;
    const ROUNDS: u64 = 20;
    const LIVE: usize = 10_000;
    type LiveSet = Vec<Box<[MaybeUninit<u8>]>>;

    let per_round = ops / (THREADS * ROUNDS);
    let done_ops = per_round * THREADS * ROUNDS;
    // Two threads plus this one, which owns the clock.
    let start_line = Arc::new(Barrier::new(THREADS as usize + 1));
    let (to_1, from_0) = mpsc::channel::<LiveSet>();
    let (to_0, from_1) = mpsc::channel::<LiveSet>();
    let ends = [(0u64, to_1, from_1), (1u64, to_0, from_0)];
    let workers: Vec<_> = ends
        .into_iter()
        .map(|(id, send, recv)| {
            let start_line = Arc::clone(&start_line);
            thread::spawn(move || {
                let _hook = thread_hook();
                let mut rng = SplitMix64::new(SEED ^ (id + 1).wrapping_mul(0x9e37_79b9));
                let mut live: LiveSet = (0..LIVE)
                    .map(|_| touched_block(rng.range(8, 1000)))
                    .collect();
                start_line.wait();
                for _ in 0..ROUNDS {
                    for _ in 0..per_round {
                        let slot = rng.below(LIVE);
                        let n = rng.range(8, 1000);
                        live[slot] = black_box(touched_block(n));
                    }
                    send.send(live).expect("larson peer hung up");
                    live = recv.recv().expect("larson peer hung up");
                }
                live
            })
        })
        .collect();
    start_line.wait();
    let start = Instant::now();
    let sets: Vec<LiveSet> = workers
        .into_iter()
        .map(|w| w.join().expect("larson worker panicked"))
        .collect();
    let secs = start.elapsed().as_secs_f64();
    black_box(&sets);
    drop(sets);
    (secs, done_ops)
}

/// 128 bytes to append from, valid UTF-8 for the `String` buffers.
const PIECE: &str = concat!(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_",
    "the quick brown fox jumps over the lazy dog; pack my box with 5."
);

/// realloc-grow: 8 buffers (4 `Vec<u8>`, 4 `String`) grown together by appending
/// 8..=128 B pieces; each is dropped on reaching its random 4-64 KB target and starts
/// again empty. One op = one finished buffer (about ten capacity changes).
pub fn realloc_grow(ops: u64) -> (f64, u64) {
    let _hook = thread_hook();
    const _: () = assert!(PIECE.len() == 128);
    fn target(rng: &mut SplitMix64) -> usize {
        rng.range(4 * 1024, 64 * 1024)
    }
    let mut rng = SplitMix64::new(SEED);
    let mut vecs: [(Vec<u8>, usize); 4] = std::array::from_fn(|_| (Vec::new(), target(&mut rng)));
    let mut strings: [(String, usize); 4] =
        std::array::from_fn(|_| (String::new(), target(&mut rng)));
    let mut done = 0u64;
    let start = Instant::now();
    'outer: while done < ops {
        for (buf, goal) in vecs.iter_mut() {
            let n = rng.range(8, 128);
            buf.extend_from_slice(&PIECE.as_bytes()[..n]);
            if buf.len() >= *goal {
                drop(black_box(std::mem::take(buf)));
                *goal = target(&mut rng);
                done += 1;
                if done == ops {
                    break 'outer;
                }
            }
        }
        for (buf, goal) in strings.iter_mut() {
            let n = rng.range(8, 128);
            buf.push_str(&PIECE[..n]);
            if buf.len() >= *goal {
                drop(black_box(std::mem::take(buf)));
                *goal = target(&mut rng);
                done += 1;
                if done == ops {
                    break 'outer;
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    black_box((&vecs, &strings));
    drop((vecs, strings));
    (secs, done)
}

/// One product of the [`json`] workload's catalogue.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Product {
    /// Stock-keeping number.
    pub id: u64,
    /// Display name, 12-40 B.
    pub name: String,
    /// Free text, 40-400 B.
    pub description: String,
    /// 1-6 tags of 4-16 B.
    pub tags: Vec<String>,
    /// Price in cents.
    pub price_cents: u64,
    /// 0-4 variants.
    pub variants: Vec<Variant>,
}

/// A variant of a [`Product`].
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Variant {
    /// Variant code, 6-20 B.
    pub sku: String,
    /// Units in stock.
    pub stock: u32,
    /// Attribute name/value pairs, 0-3.
    pub attributes: Vec<(String, String)>,
}

/// A string of `lo..=hi` bytes cut from [`PIECE`] at a random offset.
fn text(rng: &mut SplitMix64, lo: usize, hi: usize) -> String {
    let n = rng.range(lo, hi);
    let mut s = String::with_capacity(n);
    while s.len() < n {
        let take = (n - s.len()).min(PIECE.len());
        let at = rng.below(PIECE.len() - take + 1);
        s.push_str(&PIECE[at..at + take]);
    }
    s
}

/// The catalogue of the [`json`] workload: 40,000 products, about 20 MB as compact
/// JSON (31 MB pretty-printed).
pub fn catalogue(rng: &mut SplitMix64) -> Vec<Product> {
    (0..40_000u64)
        .map(|id| Product {
            id,
            name: text(rng, 12, 40),
            description: text(rng, 40, 400),
            tags: (0..rng.range(1, 6)).map(|_| text(rng, 4, 16)).collect(),
            price_cents: rng.range(99, 999_999) as u64,
            variants: (0..rng.range(0, 4))
                .map(|_| Variant {
                    sku: text(rng, 6, 20),
                    stock: rng.below(1000) as u32,
                    attributes: (0..rng.range(0, 3))
                        .map(|_| (text(rng, 3, 10), text(rng, 3, 24)))
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

/// json: the real-crate workload of issue 13. One op builds the [`catalogue`],
/// serializes it (compact), re-parses that as an untyped `serde_json::Value` (maps,
/// vectors, strings), pretty-prints the value and parses the pretty text back into
/// typed products, checking the count. Buffers of tens of MB grow by reallocation;
/// peak RSS is dominated by the live documents, as in a service that reshapes JSON.
pub fn json(ops: u64) -> (f64, u64) {
    let _hook = thread_hook();
    let mut rng = SplitMix64::new(SEED);
    let start = Instant::now();
    for _ in 0..ops {
        let products = catalogue(&mut rng);
        let compact = serde_json::to_string(&products).expect("catalogue serializes");
        drop(products);
        let value: serde_json::Value = serde_json::from_str(&compact).expect("compact parses");
        drop(compact);
        let pretty = serde_json::to_string_pretty(&value).expect("value serializes");
        drop(value);
        let back: Vec<Product> = serde_json::from_str(&pretty).expect("pretty parses");
        assert_eq!(back.len(), 40_000, "json: products lost in the round trip");
        drop(black_box((pretty, back)));
    }
    (start.elapsed().as_secs_f64(), ops)
}

/// The `main` of every `bench-<allocator>` binary: parses `<workload> [ops]` from the
/// command line (ops defaults to the workload's default), runs it under whatever
/// global allocator the binary set, and prints
/// `workload=<w> allocator=<allocator> secs=<f64> ops=<n> ns_per_op=<f64>`.
/// Exits with status 2 on a usage error. Returns what ran, for checks after the run.
pub fn run_cli(allocator: &str) -> Run {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        let names: Vec<&str> = WORKLOADS.iter().map(|w| w.name).collect();
        eprintln!(
            "usage: bench-{allocator} <workload> [ops]\n  workloads: {}",
            names.join(", ")
        );
        std::process::exit(2)
    };
    let (name, ops) = match args.as_slice() {
        [name] => (name, None),
        [name, ops] => (name, Some(ops)),
        _ => usage(),
    };
    let Some(w) = workload(name) else { usage() };
    let ops = match ops {
        None => w.default_ops,
        Some(s) => s.replace('_', "").parse().unwrap_or_else(|_| usage()),
    };
    let (secs, done) = (w.run)(ops);
    let ns_per_op = if done == 0 {
        0.0
    } else {
        secs * 1e9 / done as f64
    };
    println!(
        "workload={} allocator={allocator} secs={secs:.6} ops={done} ns_per_op={ns_per_op:.3}",
        w.name
    );
    Run {
        workload: w,
        ops: done,
        secs,
    }
}

/// What [`run_cli`] ran.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// The workload.
    pub workload: &'static Workload,
    /// Ops performed.
    pub ops: u64,
    /// Seconds of the measured loop.
    pub secs: f64,
}

/// For the profiling binaries: prints `bench-<allocator>: <what>` to stderr and exits
/// with status 1 (the driver reports the run as failed).
pub fn fail(allocator: &str, what: &str) -> ! {
    eprintln!("bench-{allocator}: {what}");
    std::process::exit(1)
}

/// Checks, run after the measured loop, that the spanprof profiling binaries really
/// profiled: each fails the run ([`fail`]) if not.
pub mod check {
    use super::{Run, fail};

    /// The run's allocations were counted under the site `site`: at least one per op
    /// (per op of a workload that [allocates](super::Workload::allocates)).
    /// Returns the site's counters.
    pub fn site_counted(allocator: &str, run: &Run, site: &str) -> spanprof::SiteStats {
        let Some(stats) = spanprof::site_stats(site) else {
            fail(
                allocator,
                &format!(
                    "spanprof::site_stats({site:?}) is None after {} ops of {}",
                    run.ops, run.workload.name
                ),
            )
        };
        let want = if run.workload.allocates() { run.ops } else { 0 };
        if stats.allocs < want || stats.allocs == 0 {
            fail(
                allocator,
                &format!(
                    "site {site:?} counted {} allocations in {} ops of {} (expected >= {})",
                    stats.allocs,
                    run.ops,
                    run.workload.name,
                    want.max(1)
                ),
            );
        }
        stats
    }

    /// `spanprof::profile()` holds at least `min_objects` sampled allocations (raw
    /// counts, plus any dropped for a full stack table), and some sample at all when
    /// `min_objects > 0`.
    pub fn sampled(allocator: &str, run: &Run, min_objects: u64) {
        let profile = spanprof::profile();
        let objects: u64 = profile.samples.iter().map(|s| s.alloc_objects).sum();
        if min_objects > 0
            && (profile.samples.is_empty() || objects + profile.dropped_samples < min_objects)
        {
            fail(
                allocator,
                &format!(
                    "spanprof::profile() has {} sample stacks, {objects} sampled + {} dropped \
                     allocations after {} ops of {} at rate {} (expected >= {min_objects})",
                    profile.samples.len(),
                    profile.dropped_samples,
                    run.ops,
                    run.workload.name,
                    profile.sample_rate,
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_catalogue_is_about_20_mb() {
        let products = catalogue(&mut SplitMix64::new(SEED));
        let compact = serde_json::to_string(&products).unwrap();
        let mb = compact.len() as f64 / 1e6;
        assert!(
            (18.0..=26.0).contains(&mb),
            "compact catalogue is {mb:.1} MB"
        );
    }

    #[test]
    fn splitmix_is_deterministic_and_in_range() {
        let mut a = SplitMix64::new(SEED);
        let mut b = SplitMix64::new(SEED);
        for _ in 0..1000 {
            let x = a.range(8, 512);
            assert_eq!(x, b.range(8, 512));
            assert!((8..=512).contains(&x));
        }
        let mut rng = SplitMix64::new(SEED);
        let sizes: Vec<usize> = (0..10_000).map(|_| mixed_size(&mut rng)).collect();
        assert!(sizes.iter().all(|&n| (8..=64 * 1024).contains(&n)));
        let small = sizes.iter().filter(|&&n| n <= 128).count();
        assert!(
            (6500..7500).contains(&small),
            "{small} of 10000 sizes <= 128 B"
        );
    }

    #[test]
    fn every_workload_runs() {
        for w in WORKLOADS {
            let ops = w.smoke_ops(10);
            let (secs, done) = (w.run)(ops);
            assert!(secs > 0.0 && secs < 10.0, "{}: {secs} s", w.name);
            // larson rounds down to whole rounds; the others do exactly `ops`.
            if w.name == "larson" {
                assert_eq!(done, ops - ops % 40, "{}", w.name);
            } else {
                assert_eq!(done, ops, "{}", w.name);
            }
        }
    }

    #[test]
    fn zero_ops_is_fine() {
        for w in WORKLOADS {
            assert_eq!((w.run)(0).1, 0, "{}", w.name);
        }
    }
}
