// On a type the attribute leaves the item as written and lists it in
// `spanprof::TYPES` (no site: nothing runs). Generic types are not listed.
use spanprof::track_alloc;

#[track_alloc]
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}

#[track_alloc]
#[derive(Debug)]
pub enum Shape {
    Dot(Point),
    Line(Point, Point),
}

#[track_alloc]
pub union Bits {
    pub int: u64,
    pub float: f64,
}

#[track_alloc]
pub struct Borrowed<'a> {
    pub text: &'a str,
}

#[track_alloc]
pub struct Wrapper<T>(pub T);

#[track_alloc]
pub struct Buffer<const N: usize>([u8; N]);

#[track_alloc]
pub struct Unsized {
    pub len: usize,
    pub data: [u8],
}

#[cfg(any())]
#[track_alloc]
pub struct Gone(u8);

fn main() {
    let p = Point { x: 1, y: 2 };
    let s = Shape::Line(p.clone(), p);
    assert!(matches!(s, Shape::Line(..)));
    assert!(!matches!(s, Shape::Dot(_)));
    assert_eq!(std::mem::size_of::<Point>(), 8);
    assert!(spanprof::SITES.is_empty());
    let b = Bits { int: 1 };
    // SAFETY: both fields are plain 8-byte values.
    assert_eq!(unsafe { b.int }, 1);
    assert_eq!(Borrowed { text: "x" }.text, "x");
    assert_eq!(Wrapper(3).0, 3);
    assert_eq!(Buffer([0; 4]).0.len(), 4);
    let mut names: Vec<_> = spanprof::TYPES.iter().map(|t| (t.name, t.size, t.align)).collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("Bits", 8, 8),
            ("Borrowed", 16, 8),
            ("Point", 8, 4),
            ("Shape", size_of::<Shape>(), align_of::<Shape>()),
        ]
    );
}
