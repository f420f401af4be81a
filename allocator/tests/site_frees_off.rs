//! `spanprof::set_site_frees(false)`: sites count what they allocate, exactly, and
//! tag nothing, so their frees are not tracked. Its own process: the switch is global.

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

#[inline(never)]
#[allow(clippy::vec_box)] // one allocation per element is the point
fn build(n: usize) -> Vec<Box<[u8; 40]>> {
    let _site = spanprof::enter(spanprof::site!("counts_only"));
    (0..n).map(|i| Box::new([i as u8; 40])).collect()
}

#[test]
fn sites_count_allocations_but_not_frees() {
    spanprof::set_site_frees(false);
    let boxes = build(100);
    drop(boxes);
    let s = spanprof::site_stats("counts_only").unwrap();
    // The 100 boxes (48 B class, 40 B asked) and the Vec holding them.
    assert_eq!(
        s.class_allocs[spanprof::size_class::class_of(48).unwrap()],
        100
    );
    assert_eq!(s.allocs, 101);
    assert_eq!(s.requested_bytes, 100 * 40 + 100 * 8);
    assert_eq!((s.frees, s.live_objects), (0, 101), "frees are not tracked");
    // The program's own figures still see every free.
    let (_, m) = spanprof::measure(|| drop(build(10)));
    assert_eq!((m.allocs, m.frees), (11, 11));
}
