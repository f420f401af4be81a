//! Sites count exactly: per site stack and size class, objects, slot and requested
//! bytes, refills, frees and live objects — across nesting and threads — and the
//! "(no site)" entry makes every class add up to the allocator's own counters.
//!
//! Each test uses size classes nothing else in this binary allocates, so counts are
//! exact even with the test harness running beside them.

use std::sync::mpsc;
use std::thread;

use spanprof::size_class::class_of;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

/// A 32-byte struct, as in Go's seed program.
#[allow(dead_code)]
struct Seed {
    a: i64,
    b: i64,
    c: f64,
    d: f64,
}

#[inline(never)]
#[allow(clippy::vec_box)] // the boxes are the point: one 32 B allocation each
fn seeds(v: &mut Vec<Box<Seed>>, n: usize) {
    let _site = spanprof::enter(spanprof::site!("seeds"));
    for i in 0..n {
        v.push(Box::new(Seed {
            a: i as i64,
            b: 2,
            c: 3.0,
            d: 4.0,
        }));
    }
}

fn class_stat(p: &spanprof::Profile, site: &str, class: usize) -> spanprof::format::SiteStat {
    let id = p
        .sites
        .iter()
        .find(|s| s.name == site)
        .expect("site listed")
        .id;
    p.site_stats
        .iter()
        .filter(|s| s.stack.last() == Some(&id) && s.class == class as u32)
        .fold(spanprof::format::SiteStat::default(), |mut acc, s| {
            acc.allocs += s.allocs;
            acc.slot_bytes += s.slot_bytes;
            acc.requested_bytes += s.requested_bytes;
            acc.refills += s.refills;
            acc.frees += s.frees;
            acc.live_objects += s.live_objects;
            acc
        })
}

#[test]
fn thirty_two_byte_structs_land_in_the_32_byte_class() {
    let v = thread::spawn(|| {
        let mut v = Vec::with_capacity(1000);
        seeds(&mut v, 1000);
        let p = spanprof::profile();
        let s = class_stat(&p, "seeds", class_of(32).unwrap());
        assert_eq!(s.allocs, 1000);
        assert_eq!(s.slot_bytes, 32_000);
        assert_eq!(s.requested_bytes, 32_000, "no rounding waste for 32 B");
        v.len()
    })
    .join()
    .unwrap();
    assert_eq!(v, 1000);
}

#[inline(never)]
fn sized(site: &'static spanprof::Site, size: usize, n: usize) -> Vec<Vec<u8>> {
    let _g = spanprof::enter(site);
    (0..n).map(|_| Vec::with_capacity(size)).collect()
}

#[test]
fn rounding_waste_is_exact() {
    thread::spawn(|| {
        let a = sized(spanprof::site!("sized24"), 24, 500);
        let b = sized(spanprof::site!("sized33"), 33, 700);
        let p = spanprof::profile();
        let s24 = class_stat(&p, "sized24", class_of(24).unwrap());
        assert_eq!(spanprof::size_class::class_size(class_of(24).unwrap()), 24);
        assert_eq!(
            (s24.allocs, s24.slot_bytes, s24.requested_bytes),
            (500, 12_000, 12_000)
        );
        let s33 = class_stat(&p, "sized33", class_of(33).unwrap());
        assert_eq!(spanprof::size_class::class_size(class_of(33).unwrap()), 48);
        assert_eq!(s33.allocs, 700);
        assert_eq!(
            s33.slot_bytes - s33.requested_bytes,
            700 * 15,
            "15 B waste each"
        );
        drop((a, b));
    })
    .join()
    .unwrap();
}

#[test]
fn refills_match_span_capacity() {
    // 3456 B: 7 objects per 3-page span; a fresh thread refills once per 7 objects.
    thread::spawn(|| {
        let class = class_of(3456).unwrap();
        assert_eq!(spanprof::size_class::span_objects(class), 7);
        let v = sized(spanprof::site!("refills"), 3456, 70);
        let s = class_stat(&spanprof::profile(), "refills", class);
        assert_eq!(s.allocs, 70);
        assert_eq!(s.refills, 10, "70 objects / 7 per span");
        drop(v);
    })
    .join()
    .unwrap();
}

#[test]
fn frees_and_live_objects_follow_the_objects_across_threads() {
    let class = class_of(2300).unwrap(); // the 2304 B class
    let v = thread::spawn(|| sized(spanprof::site!("handoff"), 2300, 400))
        .join()
        .unwrap();
    let (first, second): (Vec<_>, Vec<_>) =
        v.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    drop(first); // freed on this thread
    let (tx, rx) = mpsc::channel::<Vec<(usize, Vec<u8>)>>();
    let t = thread::spawn(move || drop(rx.recv().unwrap())); // freed on a third thread
    tx.send(second).unwrap();
    t.join().unwrap();
    let s = class_stat(&spanprof::profile(), "handoff", class);
    assert_eq!((s.allocs, s.frees, s.live_objects), (400, 400, 0));
}

#[test]
fn nested_sites_form_stacks() {
    thread::spawn(|| {
        let outer = spanprof::site!("outer");
        let inner = spanprof::site!("inner");
        let _o = spanprof::enter(outer);
        let a = sized(inner, 5000, 3); // 5376 B class, under outer → inner
        let b: Vec<Vec<u8>> = (0..5).map(|_| Vec::with_capacity(9000)).collect(); // 9472 B, outer
        let p = spanprof::profile();
        let id = |n: &str| p.sites.iter().find(|s| s.name == n).unwrap().id;
        let (o, i) = (id("outer"), id("inner"));
        let nested = p
            .site_stats
            .iter()
            .find(|s| s.stack == [o, i] && s.class == class_of(5000).unwrap() as u32);
        assert_eq!(nested.map(|s| s.allocs), Some(3));
        let alone = p
            .site_stats
            .iter()
            .find(|s| s.stack == [o] && s.class == class_of(9000).unwrap() as u32);
        assert_eq!(alone.map(|s| s.allocs), Some(5));
        drop((a, b));
    })
    .join()
    .unwrap();
}

#[test]
fn four_threads_in_one_site_sum_exactly() {
    let site = spanprof::site!("shared");
    let handles: Vec<_> = (0..4)
        .map(|_| thread::spawn(move || sized(site, 6000, 200).len()))
        .collect();
    let n: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(n, 800);
    let s = class_stat(&spanprof::profile(), "shared", class_of(6000).unwrap());
    assert_eq!(
        (s.allocs, s.frees),
        (800, 800),
        "exited threads' counts are kept"
    );
}

#[test]
fn sites_that_never_ran_are_listed() {
    let _never = spanprof::site!("never_called");
    let p = spanprof::profile();
    let site = p
        .sites
        .iter()
        .find(|s| s.name == "never_called")
        .expect("listed");
    assert!(site.file.ends_with("profile_sites.rs"));
    assert!(site.line > 0 && site.column > 0);
    assert!(!p.site_stats.iter().any(|s| s.stack.contains(&site.id)));
}

#[test]
fn site_stats_by_name() {
    thread::spawn(|| {
        let v = sized(spanprof::site!("by_name"), 4800, 9);
        let s = spanprof::site_stats("by_name").unwrap();
        assert_eq!(s.allocs, 9 + 1, "nine buffers and the Vec holding them");
        assert_eq!(s.class_allocs[class_of(4800).unwrap()], 9);
        assert!(spanprof::site_stats("no such site").is_none());
        drop(v);
    })
    .join()
    .unwrap();
}

#[test]
fn measure_counts_moving_reallocs_of_large_buffers() {
    thread::spawn(|| {
        let (v, m) = spanprof::measure(|| {
            let mut v: Vec<u8> = Vec::with_capacity(40_000);
            v.reserve_exact(100_000); // moves to a bigger page run
            v
        });
        let large = m
            .classes
            .iter()
            .find(|c| c.class == 0)
            .expect("large objects counted");
        assert_eq!((large.allocs, large.frees), (2, 1));
        assert_eq!(m.live_objects, 1);
        drop(v);
    })
    .join()
    .unwrap();
}
