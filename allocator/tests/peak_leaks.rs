//! The views of issue 14 on a child whose answers are known: its peak is a 50 MB
//! vector made under a site, it leaks exactly `LEAKED` objects from another, and it
//! makes exactly `TEMPS` temporary allocations at a third. Sampling every byte
//! (`SPANPROF_RATE=1`) makes the sampled figures exact too. Child cases re-run this
//! test binary with `SPANPROF_VIEWS_CASE` set.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;

use spanprof::Profile;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

const BIG: usize = 50 << 20;
const LEAKED: u64 = 37;
const TEMPS: u64 = 500;

#[inline(never)]
fn make_big() -> usize {
    let _s = spanprof::enter(spanprof::site!("big"));
    let v = black_box(vec![1u8; BIG]);
    v.len()
}

#[inline(never)]
fn leak_some() {
    let _s = spanprof::enter(spanprof::site!("leaky"));
    for i in 0..LEAKED {
        black_box(Box::leak(Box::new([i as u8; 100])));
    }
}

#[inline(never)]
fn temporaries() {
    let _s = spanprof::enter(spanprof::site!("temps"));
    for i in 0..TEMPS {
        let b = black_box(Box::new([i as u8; 300]));
        drop(b);
    }
}

#[test]
fn child_entry() {
    if std::env::var("SPANPROF_VIEWS_CASE").is_err() {
        return;
    }
    assert_eq!(make_big(), BIG);
    leak_some();
    temporaries();
    if let Ok(ms) = std::env::var("SPANPROF_VIEWS_SPIN_MS") {
        // Allocate for a while, so the timeline fills and halves.
        let end = std::time::Instant::now() + std::time::Duration::from_millis(ms.parse().unwrap());
        let mut v: Vec<Vec<u8>> = Vec::new();
        while std::time::Instant::now() < end {
            v.push(vec![0u8; 64]);
            if v.len() > 1000 {
                v.clear();
            }
        }
    }
}

fn run_child(name: &str, env: &[(&str, &str)]) -> Profile {
    let dir = std::env::temp_dir().join(format!("spanprof-views-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out: PathBuf = dir.join("p.json");
    let o = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--test-threads=1"])
        .env("SPANPROF_VIEWS_CASE", "1")
        .env("SPANPROF_OUT", &out)
        .env("SPANPROF_QUIET", "1")
        .env_remove("SPANPROF_RATE")
        .env_remove("SPANPROF_TIMELINE_MS")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p: Profile = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    p
}

fn site(p: &Profile, name: &str) -> u32 {
    p.sites.iter().find(|s| s.name == name).unwrap().id
}

/// Samples whose stack has a frame of `function`.
fn samples_in<'a>(p: &'a Profile, function: &str) -> Vec<&'a spanprof::format::Sample> {
    p.samples
        .iter()
        .filter(|s| {
            p.stacks[s.stack as usize].locations.iter().any(|&l| {
                p.locations[l as usize]
                    .lines
                    .iter()
                    .any(|line| line.function.ends_with(function))
            })
        })
        .collect()
}

#[test]
fn peak_leaks_and_temporaries_are_exact_per_site_and_sampled_stack() {
    let p = run_child("exact", &[("SPANPROF_RATE", "1")]);
    let pages = BIG.div_ceil(8192) as u64 * 8192;
    // The peak: the big vector was live, and nothing near as large besides.
    assert!(p.peak.live_bytes >= pages, "{:?}", p.peak.live_bytes);
    assert!(
        p.peak.live_bytes < pages + (4 << 20),
        "{}",
        p.peak.live_bytes
    );
    assert!(p.peak.mapped_bytes >= p.peak.live_bytes);
    let big = site(&p, "big");
    let at_peak: Vec<_> = p
        .peak
        .site_stats
        .iter()
        .filter(|s| s.stack.last() == Some(&big))
        .collect();
    assert_eq!(at_peak.len(), 1, "{at_peak:?}");
    assert_eq!((at_peak[0].class, at_peak[0].live_objects), (0, 1));
    assert_eq!(at_peak[0].live_bytes, pages);
    let big_samples: Vec<_> = p.peak.samples.iter().filter(|s| s.size == pages).collect();
    assert_eq!(big_samples.len(), 1);
    assert_eq!(big_samples[0].inuse_objects, 1);
    assert_eq!(big_samples[0].inuse_bytes_est, pages as f64);
    // At exit the big vector is gone and the leaks remain, per site and per stack.
    let live = |id: u32| -> (u64, u64) {
        p.site_stats
            .iter()
            .filter(|s| s.stack.last() == Some(&id))
            .fold((0, 0), |a, s| (a.0 + s.live_objects, a.1 + s.live_bytes))
    };
    assert_eq!(live(big), (0, 0));
    let class = spanprof::size_class::class_of(100).unwrap();
    let slot = spanprof::size_class::class_size(class) as u64;
    let leaky = site(&p, "leaky");
    let rows: Vec<_> = p
        .site_stats
        .iter()
        .filter(|s| s.stack.last() == Some(&leaky))
        .collect();
    assert_eq!(live(leaky), (LEAKED, LEAKED * slot), "{rows:?}");
    let leaked: f64 = samples_in(&p, "leak_some")
        .iter()
        .map(|s| s.inuse_objects_est)
        .sum();
    assert_eq!(leaked, LEAKED as f64);
    // Temporaries: exact at the site and at the sampled stack, and in the total.
    let temps = site(&p, "temps");
    let t: u64 = p
        .site_stats
        .iter()
        .filter(|s| s.stack.last() == Some(&temps))
        .map(|s| s.temporary)
        .sum();
    assert_eq!(t, TEMPS);
    let sampled: u64 = samples_in(&p, "temporaries")
        .iter()
        .map(|s| s.temporary_objects)
        .sum();
    assert_eq!(sampled, TEMPS);
    assert!(p.temporary_total >= TEMPS);
}

#[test]
fn the_timeline_stays_bounded_and_halves_its_resolution() {
    // About 2.5 s of points every millisecond: more than the buffer's 1024.
    let p = run_child(
        "timeline",
        &[
            ("SPANPROF_TIMELINE_MS", "1"),
            ("SPANPROF_VIEWS_SPIN_MS", "2500"),
        ],
    );
    let t = &p.timeline;
    assert!(!t.points.is_empty());
    assert!(t.points.len() <= 1024, "{}", t.points.len());
    assert!(t.interval_ms >= 2, "{}", t.interval_ms);
    assert!(t.points.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
    assert!(t.points.windows(2).all(|w| w[0].allocs <= w[1].allocs));
    assert!(t.points.iter().any(|q| q.live_bytes > 0));
    assert!(
        t.points
            .iter()
            .all(|q| q.mapped_bytes >= q.heap_in_use_bytes)
    );
    assert!(t.points.last().unwrap().rss_bytes > 0);
    // The last point is the program's heap when the exit profile read its counters,
    // not what writing the profile allocated afterwards (symbolizing at exit runs on
    // the program's books: the thread's record is gone).
    let live_at_end: u64 = p.classes.iter().map(|c| c.live_bytes).sum::<u64>()
        + p.large.bytes_allocated.saturating_sub(p.large.bytes_freed);
    let last = t.points.last().unwrap();
    assert!(
        last.live_bytes <= live_at_end + (1 << 20),
        "last point {} B live, profile {} B",
        last.live_bytes,
        live_at_end
    );
}

#[test]
fn the_timeline_is_off_with_zero() {
    let p = run_child("timeline-off", &[("SPANPROF_TIMELINE_MS", "0")]);
    assert_eq!(p.timeline.interval_ms, 0);
    assert!(p.timeline.points.is_empty());
}
