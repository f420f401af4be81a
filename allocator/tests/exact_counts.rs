//! Exact counts, the two cases of issue 9 §5: a `Vec` grown where it is counts the
//! bytes it now asks for, and the site rows of large objects equal the large-object
//! counters. The random sequences are in `exact_counts_model.rs`.
//!
//! The large-object case runs in a child process (this test binary again, with
//! `SPANPROF_EXACT_CASE` set), where every large object is allocated under the site:
//! its row must then be the large-object counters, field for field, with no
//! "(no site)" row beside it.

use std::process::Command;

use spanprof::size_class::{PAGE_SIZE, class_of, class_size, large_pages};

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

#[spanprof::track_alloc]
fn grown_in_place() -> Vec<u8> {
    let mut v: Vec<u8> = Vec::with_capacity(33);
    v.extend_from_slice(&[7; 33]);
    v.reserve_exact(7); // 33 → 40 B: the same 48 B slot, so realloc stays in place
    v
}

#[test]
fn a_vec_grown_in_place_counts_what_it_asks_for_now() {
    std::thread::spawn(|| {
        let v = grown_in_place();
        assert_eq!(v.capacity(), 40);
        let s = spanprof::site_stats("grown_in_place").unwrap();
        let class = class_of(40).unwrap();
        assert_eq!(class_size(class), 48);
        assert_eq!((s.allocs, s.class_allocs[class]), (1, 1));
        assert_eq!((s.slot_bytes, s.requested_bytes), (48, 40));
        assert_eq!((s.live_bytes, s.live_requested_bytes), (48, 40));
        // 8 of 48 bytes: 17 % waste (it read 31 % when requested bytes stayed at 33).
        let waste = (s.slot_bytes - s.requested_bytes) as f64 / s.slot_bytes as f64;
        assert_eq!(format!("{:.0} %", waste * 100.0), "17 %");
        // The profile's row says the same.
        let p = spanprof::profile();
        let id = p
            .sites
            .iter()
            .find(|s| s.name == "grown_in_place")
            .unwrap()
            .id;
        let row = p
            .site_stats
            .iter()
            .find(|r| r.stack == [id] && r.class == class as u32)
            .unwrap();
        assert_eq!(
            (row.allocs, row.slot_bytes, row.requested_bytes),
            (1, 48, 40)
        );
        drop(v);
        let s = spanprof::site_stats("grown_in_place").unwrap();
        assert_eq!((s.frees, s.live_bytes, s.live_requested_bytes), (1, 0, 0));
    })
    .join()
    .unwrap();
}

/// Every kind of large reallocation: grown and shrunk in place, grown and shrunk by
/// moving, shrunk into a small class, and freed.
#[spanprof::track_alloc]
fn large_buffers() -> Vec<Vec<u8>> {
    let mut kept = Vec::with_capacity(3);
    let mut a: Vec<u8> = vec![1; 40_000];
    a.reserve_exact(500); // 40 000 → 40 500 B: 5 pages either way, in place
    a.truncate(33_000);
    a.shrink_to(33_000); // still 5 pages (and still large), in place
    let mut b: Vec<u8> = vec![2; 50_000];
    b.reserve_exact(70_000); // 7 → 15 pages: moves
    b.truncate(100_000);
    b.shrink_to(100_000); // 15 → 13 pages: moves
    let mut c: Vec<u8> = vec![3; 60_000];
    c.truncate(1_000);
    c.shrink_to(1_000); // into the 1024 B class: moves
    let d: Vec<u8> = vec![4; 70_000];
    drop(d);
    kept.push(a);
    kept.push(b);
    kept.push(c);
    kept
}

/// The large objects `large_buffers` makes: (requested bytes, pages, still live).
const LARGE: [(u64, usize, bool); 6] = [
    (33_000, 5, true),    // a, as it ends up after two in-place reallocations
    (50_000, 7, false),   // b before it moved
    (120_000, 15, false), // b grown
    (100_000, 13, true),  // b shrunk
    (60_000, 8, false),   // c before it moved into a small class
    (70_000, 9, false),   // d
];

/// In the child: runs the work, checks the profile in process, writes it for the
/// parent.
#[test]
fn child_entry() {
    let Ok(out) = std::env::var("SPANPROF_EXACT_CASE") else {
        return;
    };
    for &(bytes, pages, _) in &LARGE {
        assert_eq!(large_pages(bytes as usize), pages);
    }
    let kept = large_buffers();
    let p = spanprof::profile();
    let id = p
        .sites
        .iter()
        .find(|s| s.name == "large_buffers")
        .unwrap()
        .id;
    let rows: Vec<_> = p.site_stats.iter().filter(|r| r.class == 0).collect();
    assert_eq!(
        rows.len(),
        1,
        "only the site allocated large objects: {rows:?}"
    );
    assert_eq!(rows[0].stack, [id]);
    let l = &p.large;
    let r = rows[0];
    assert_eq!(
        (
            r.allocs,
            r.frees,
            r.slot_bytes,
            r.live_bytes,
            r.requested_bytes
        ),
        (
            l.allocs,
            l.frees,
            l.bytes_allocated,
            l.bytes_allocated - l.bytes_freed,
            l.requested_bytes
        ),
        "the site's large row is the large-object counters"
    );
    let s = spanprof::site_stats("large_buffers").unwrap();
    assert_eq!(s.class_allocs[0], 6);
    let live_requested: u64 = LARGE.iter().filter(|o| o.2).map(|o| o.0).sum::<u64>()
        + 1_000
        + 3 * size_of::<Vec<u8>>() as u64;
    assert_eq!(s.live_requested_bytes, live_requested);
    spanprof::write_profile(out).unwrap();
    drop(kept);
}

#[test]
fn large_site_rows_equal_the_large_object_counters() {
    let dir = std::env::temp_dir().join(format!("spanprof-exact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("large.json");
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--test-threads=1"])
        .env("SPANPROF_EXACT_CASE", &path)
        .env_remove("SPANPROF_OUT")
        .env_remove("SPANPROF_RATE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let id = p["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "large_buffers")
        .unwrap()["id"]
        .clone();
    let rows: Vec<&serde_json::Value> = p["site_stats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["class"] == 0)
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["stack"], serde_json::json!([id]));
    let n = |v: &serde_json::Value| v.as_u64().unwrap();
    let pages: u64 = LARGE.iter().map(|o| o.1 as u64).sum();
    let live_pages: u64 = LARGE.iter().filter(|o| o.2).map(|o| o.1 as u64).sum();
    let requested: u64 = LARGE.iter().map(|o| o.0).sum();
    let page = PAGE_SIZE as u64;
    let (r, l) = (rows[0], &p["large"]);
    assert_eq!((n(&r["allocs"]), n(&l["allocs"])), (6, 6));
    assert_eq!((n(&r["frees"]), n(&l["frees"])), (4, 4));
    assert_eq!(
        (n(&r["slot_bytes"]), n(&l["bytes_allocated"])),
        (pages * page, pages * page)
    );
    assert_eq!(
        (
            n(&r["live_bytes"]),
            n(&l["bytes_allocated"]) - n(&l["bytes_freed"])
        ),
        (live_pages * page, live_pages * page)
    );
    assert_eq!(
        (n(&r["requested_bytes"]), n(&l["requested_bytes"])),
        (requested, requested),
        "requested bytes follow the in-place reallocations, in the site row and the counter"
    );
}
