//! Size classes: Go's 67 slot sizes from 8 B to 32 KiB, and the O(1) lookup from a
//! request size to its class.
//!
//! This module owns the table (slot size and span length per class) and nothing else.
//! The thread cache uses [`class_for`] on every allocation and free; the central lists
//! and the page heap use [`span_pages`] to cut spans; the profile and the CLI print
//! the table through [`classes`]. Class 0 is not a size class: it means "large", a
//! page-rounded object with a span of its own.
//!
//! The numbers are Go's (`internal/runtime/gc/sizeclasses.go`), copied in so the
//! crate builds without the research folder. The two lookup tables are derived from
//! them at compile time, as Go's generator derives `size_to_class8` and
//! `size_to_class128`.

/// Number of entries in the tables, including the "large" class 0.
pub const NUM_CLASSES: usize = 68;
/// The largest size served from a size class; larger objects are "large".
pub const MAX_SMALL_SIZE: usize = 32 * 1024;
/// The page heap's page: spans and large objects are whole numbers of pages.
pub const PAGE_SHIFT: usize = 13;
/// 8 KiB, Go's runtime page (independent of the OS page).
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;

/// Slot size of each class; index 0 ("large") is 0.
pub const CLASS_SIZE: [u32; NUM_CLASSES] = [
    0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320,
    352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
    2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728,
    10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672,
    32768,
];

/// Pages per span of each class; index 0 ("large") is 0.
pub const CLASS_PAGES: [u8; NUM_CLASSES] = [
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3, 2, 3, 4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8,
    3, 10, 7, 4,
];

/// One row of the size-class table, as the reports and the audit print it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeClass {
    /// Class number, 1 ..= 67.
    pub class: usize,
    /// Slot size in bytes.
    pub size: usize,
    /// Span length in 8 KiB pages.
    pub pages: usize,
    /// Slots per span.
    pub objects: usize,
    /// Bytes left unused at the end of each span.
    pub tail_waste: usize,
    /// Largest power of two dividing the slot size (capped at the page size): the
    /// alignment every slot of the class has, since spans start on a page.
    pub align: usize,
}

/// Every size class, 1 ..= 67, in increasing size.
pub fn classes() -> impl Iterator<Item = SizeClass> {
    (1..NUM_CLASSES).map(class_info)
}

/// The row of class `class` (1 ..= 67). Class 0 yields an all-zero row.
pub const fn class_info(class: usize) -> SizeClass {
    if class == 0 || class >= NUM_CLASSES {
        return SizeClass {
            class: 0,
            size: 0,
            pages: 0,
            objects: 0,
            tail_waste: 0,
            align: 0,
        };
    }
    let size = CLASS_SIZE[class] as usize;
    let pages = CLASS_PAGES[class] as usize;
    let span = pages * PAGE_SIZE;
    let objects = span / size;
    SizeClass {
        class,
        size,
        pages,
        objects,
        tail_waste: span - objects * size,
        align: slot_align(size),
    }
}

const fn slot_align(size: usize) -> usize {
    let a = 1usize << size.trailing_zeros();
    if a > PAGE_SIZE { PAGE_SIZE } else { a }
}

/// Slot size of `class` in bytes (0 for the large class).
#[inline]
pub const fn class_size(class: usize) -> usize {
    CLASS_SIZE[class] as usize
}

/// Span length of `class` in pages.
#[inline]
pub const fn span_pages(class: usize) -> usize {
    CLASS_PAGES[class] as usize
}

/// Slots in one span of `class`.
#[inline]
pub const fn span_objects(class: usize) -> usize {
    span_pages(class) * PAGE_SIZE / class_size(class)
}

const SMALL_SIZE_DIV: usize = 8;
const SMALL_SIZE_MAX: usize = 1024;
const LARGE_SIZE_DIV: usize = 128;

/// `TABLE8[ceil(size / 8)]` for size ≤ 1024.
const TABLE8: [u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1] = build_table8();
/// `TABLE128[ceil((size - 1024) / 128)]` for 1024 < size ≤ 32 KiB.
const TABLE128: [u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1] = build_table128();

const fn smallest_class_at_least(size: usize) -> u8 {
    let mut c = 1;
    while c < NUM_CLASSES {
        if CLASS_SIZE[c] as usize >= size {
            return c as u8;
        }
        c += 1;
    }
    0
}

const fn build_table8() -> [u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1] {
    let mut t = [0u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = smallest_class_at_least(i * SMALL_SIZE_DIV);
        i += 1;
    }
    t
}

const fn build_table128() -> [u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1] {
    let mut t = [0u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = smallest_class_at_least(SMALL_SIZE_MAX + i * LARGE_SIZE_DIV);
        i += 1;
    }
    t
}

/// The smallest class whose slots hold `size` bytes, or `None` when the object is
/// large (> 32 KiB). Size 0 is served by class 1, as a 1-byte request would be.
#[inline]
#[allow(clippy::manual_div_ceil)] // size ≤ 1024 cannot overflow; the plain form is shorter
pub const fn class_of(size: usize) -> Option<usize> {
    if size <= SMALL_SIZE_MAX {
        // TABLE8[0] is class 1, so size 0 needs no special case.
        Some(TABLE8[(size + SMALL_SIZE_DIV - 1) / SMALL_SIZE_DIV] as usize)
    } else if size <= MAX_SMALL_SIZE {
        Some(TABLE128[(size - SMALL_SIZE_MAX).div_ceil(LARGE_SIZE_DIV)] as usize)
    } else {
        None
    }
}

/// The class that serves a request of `size` bytes aligned to `align` (a power of
/// two), or 0 for the page heap's large path.
///
/// A class qualifies when its slot size is a multiple of `align`: spans start on a
/// page, so every slot is then aligned. Alignments of 8 or less fit every class.
/// Allocation and free both call this with the same `Layout`, so they agree.
#[inline]
#[allow(clippy::manual_div_ceil)] // as in class_of
pub const fn class_for(size: usize, align: usize) -> usize {
    if align <= SMALL_SIZE_DIV {
        if size <= SMALL_SIZE_MAX {
            return TABLE8[(size + SMALL_SIZE_DIV - 1) / SMALL_SIZE_DIV] as usize;
        }
        return match class_of(size) {
            Some(c) => c,
            None => 0,
        };
    }
    if align > PAGE_SIZE {
        return 0;
    }
    let want = if size > align { size } else { align };
    let mut c = match class_of(want) {
        Some(c) => c,
        None => return 0,
    };
    while c < NUM_CLASSES {
        if CLASS_SIZE[c] as usize & (align - 1) == 0 {
            return c;
        }
        c += 1;
    }
    0
}

/// Per class, `ceil(2^32 / size)`: `(offset * DIV_MAGIC[c]) >> 32 == offset / size` for
/// every offset inside a span (Go's `divMagic`; checked by a test), so a slot index
/// costs a multiply instead of a division.
pub const DIV_MAGIC: [u64; NUM_CLASSES] = {
    let mut m = [0u64; NUM_CLASSES];
    let mut c = 1;
    while c < NUM_CLASSES {
        m[c] = (u32::MAX as u64) / (CLASS_SIZE[c] as u64) + 1;
        c += 1;
    }
    m
};

/// The slot index of byte `offset` of a span of `class`.
#[inline(always)]
pub const fn slot_index(class: usize, offset: usize) -> usize {
    ((offset as u64 * DIV_MAGIC[class]) >> 32) as usize
}

/// Pages needed for a large object of `size` bytes.
#[inline]
pub const fn large_pages(size: usize) -> usize {
    size.div_ceil(PAGE_SIZE)
}

/// Bytes an object of `size` bytes occupies in `class`: the slot size, or for a large
/// object (class 0) its page-rounded size. The one place this is decided; the entry
/// points compute it once per allocation and pass it on.
#[inline]
pub const fn slot_bytes(class: usize, size: usize) -> usize {
    if class == 0 {
        large_pages(if size == 0 { 1 } else { size }) * PAGE_SIZE
    } else {
        class_size(class)
    }
}

/// The size-class table as aligned text, one class per line.
pub fn render_table() -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>5} {:>9} {:>10} {:>5} {:>7} {:>10} {:>6}",
        "class", "bytes/obj", "bytes/span", "pages", "objects", "tail waste", "align"
    );
    for c in classes() {
        let _ = writeln!(
            out,
            "{:>5} {:>9} {:>10} {:>5} {:>7} {:>10} {:>6}",
            c.class,
            c.size,
            c.pages * PAGE_SIZE,
            c.pages,
            c.objects,
            c.tail_waste,
            c.align
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's table as published in `go-size-classes.csv`:
    /// class, bytes/obj, bytes/span, pages/span, objects/span, tail waste.
    const GO_TABLE: &str = "\
1,8,8192,1,1024,0
2,16,8192,1,512,0
3,24,8192,1,341,8
4,32,8192,1,256,0
5,48,8192,1,170,32
6,64,8192,1,128,0
7,80,8192,1,102,32
8,96,8192,1,85,32
9,112,8192,1,73,16
10,128,8192,1,64,0
11,144,8192,1,56,128
12,160,8192,1,51,32
13,176,8192,1,46,96
14,192,8192,1,42,128
15,208,8192,1,39,80
16,224,8192,1,36,128
17,240,8192,1,34,32
18,256,8192,1,32,0
19,288,8192,1,28,128
20,320,8192,1,25,192
21,352,8192,1,23,96
22,384,8192,1,21,128
23,416,8192,1,19,288
24,448,8192,1,18,128
25,480,8192,1,17,32
26,512,8192,1,16,0
27,576,8192,1,14,128
28,640,8192,1,12,512
29,704,8192,1,11,448
30,768,8192,1,10,512
31,896,8192,1,9,128
32,1024,8192,1,8,0
33,1152,8192,1,7,128
34,1280,8192,1,6,512
35,1408,16384,2,11,896
36,1536,8192,1,5,512
37,1792,16384,2,9,256
38,2048,8192,1,4,0
39,2304,16384,2,7,256
40,2688,8192,1,3,128
41,3072,24576,3,8,0
42,3200,16384,2,5,384
43,3456,24576,3,7,384
44,4096,8192,1,2,0
45,4864,24576,3,5,256
46,5376,16384,2,3,256
47,6144,24576,3,4,0
48,6528,32768,4,5,128
49,6784,40960,5,6,256
50,6912,49152,6,7,768
51,8192,8192,1,1,0
52,9472,57344,7,6,512
53,9728,49152,6,5,512
54,10240,40960,5,4,0
55,10880,32768,4,3,128
56,12288,24576,3,2,0
57,13568,40960,5,3,256
58,14336,57344,7,4,0
59,16384,16384,2,1,0
60,18432,73728,9,4,0
61,19072,57344,7,3,128
62,20480,40960,5,2,0
63,21760,65536,8,3,256
64,24576,24576,3,1,0
65,27264,81920,10,3,128
66,28672,57344,7,2,0
67,32768,32768,4,1,0
";

    #[test]
    fn table_matches_go_row_by_row() {
        let rows: Vec<Vec<usize>> = GO_TABLE
            .lines()
            .map(|l| l.split(',').map(|f| f.parse().unwrap()).collect())
            .collect();
        assert_eq!(rows.len(), 67);
        for (row, c) in rows.iter().zip(classes()) {
            assert_eq!(row[0], c.class);
            assert_eq!(row[1], c.size, "class {}", c.class);
            assert_eq!(row[2], c.pages * PAGE_SIZE, "class {}", c.class);
            assert_eq!(row[3], c.pages, "class {}", c.class);
            assert_eq!(row[4], c.objects, "class {}", c.class);
            assert_eq!(row[5], c.tail_waste, "class {}", c.class);
        }
    }

    #[test]
    fn lookup_is_the_smallest_class_that_fits_for_every_size() {
        for size in 1..=MAX_SMALL_SIZE {
            let c = class_of(size).unwrap();
            assert!(class_size(c) >= size, "size {size} in class {c}");
            assert!(
                class_size(c - 1) < size || c == 1,
                "size {size}: class {c} not smallest"
            );
        }
        assert_eq!(class_of(MAX_SMALL_SIZE + 1), None);
        assert_eq!(class_of(0), Some(1));
    }

    #[test]
    fn aligned_lookup_returns_aligned_slots() {
        for shift in 0..=13 {
            let align = 1usize << shift;
            for size in (1..=MAX_SMALL_SIZE).step_by(7) {
                let c = class_for(size, align);
                if c == 0 {
                    continue;
                }
                assert!(class_size(c) >= size);
                assert_eq!(
                    class_size(c) % align,
                    0,
                    "size {size} align {align} class {c}"
                );
            }
        }
        assert_eq!(class_for(24, 16), class_of(32).unwrap());
        assert_eq!(class_for(65, 64), class_of(128).unwrap());
        assert_eq!(class_for(8, 16384), 0);
        assert_eq!(class_for(40_000, 8), 0);
    }

    #[test]
    fn slot_index_by_multiplication_is_exact() {
        for c in classes() {
            for off in 0..c.pages * PAGE_SIZE {
                assert_eq!(
                    slot_index(c.class, off),
                    off / c.size,
                    "class {} offset {off}",
                    c.class
                );
            }
        }
    }

    #[test]
    fn render_table_has_one_line_per_class() {
        let t = render_table();
        assert_eq!(t.lines().count(), 68);
        assert!(t.lines().nth(4).unwrap().contains("32"));
    }
}
