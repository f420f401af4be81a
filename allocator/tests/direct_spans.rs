//! A mapping of its own (an alignment above an arena, or a huge object shrunk in
//! place) with only a few pages is unmapped when freed, never kept in the page heap's
//! span cache: a small class whose spans have as many pages would otherwise get a
//! record whose pages the page map does not know, and their frees would be fatal.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

/// Fills 5-page spans of a class (6784 B slots, 5 pages per span in Go's table) and
/// frees every object from another thread, so each free finds its span by address.
fn churn_five_page_class() {
    let boxes: Vec<Box<[u8; 6700]>> = (0..400).map(|i| Box::new([i as u8; 6700])).collect();
    std::thread::spawn(move || {
        for (i, b) in boxes.iter().enumerate() {
            assert_eq!(b[6699], i as u8);
        }
        drop(black_box(boxes));
    })
    .join()
    .unwrap();
}

#[test]
fn a_small_direct_mapping_is_not_reused_as_a_span() {
    for shift in [27, 28] {
        let layout = Layout::from_size_align(40_000, 1 << shift).unwrap();
        // SAFETY: a valid non-zero layout; freed with the same layout.
        unsafe {
            let p = GLOBAL.alloc(layout);
            assert!(!p.is_null());
            assert_eq!(p as usize % (1 << shift), 0);
            p.write_bytes(7, 40_000);
            GLOBAL.dealloc(p, layout);
        }
        churn_five_page_class();
    }
}

#[test]
fn a_huge_object_shrunk_in_place_is_freed_whole() {
    let mut v: Vec<u8> = vec![1; 80 << 20];
    v.truncate(40_000);
    v.shrink_to_fit();
    assert!(v.iter().all(|&b| b == 1));
    drop(v);
    churn_five_page_class();
    let stats = spanprof::stats();
    assert!(
        stats.heap.bytes_mapped < 64 << 20 << 4,
        "mapped {}",
        stats.heap.bytes_mapped
    );
}
