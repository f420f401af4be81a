// On a type the attribute changes nothing and registers nothing.
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

fn main() {
    let p = Point { x: 1, y: 2 };
    let s = Shape::Line(p.clone(), p);
    assert!(matches!(s, Shape::Line(..)));
    assert!(!matches!(s, Shape::Dot(_)));
    assert_eq!(std::mem::size_of::<Point>(), 8);
    assert!(spanprof::SITES.is_empty());
}
