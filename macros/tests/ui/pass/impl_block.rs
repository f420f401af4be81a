// On an impl block every method with a body is a site named `Type::method`; a method
// can also be marked alone. Nothing unsafe is generated.
#![forbid(unsafe_code)]
use spanprof::track_alloc;
use std::fmt;

pub struct Stack<T> {
    items: Vec<T>,
}

#[track_alloc]
impl<T: Clone> Stack<T> {
    /// `const fn`s are left alone.
    pub const fn new() -> Self {
        Stack { items: Vec::new() }
    }

    pub fn boxed(x: T) -> Box<Self> {
        Box::new(Self { items: vec![x] })
    }

    #[track_alloc(name = "Stack::push (hot)")]
    pub fn push(&mut self, x: T) {
        self.items.push(x);
    }
}

pub struct Label(u32);

#[track_alloc]
impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L{}", self.0)
    }
}

impl Label {
    #[track_alloc]
    pub fn render(&self) -> String {
        self.to_string()
    }
}

fn main() {
    let mut s = Stack::boxed(1u8);
    s.push(2);
    assert_eq!(Stack::<u8>::new().items.len() + s.items.len(), 2);
    assert_eq!(Label(3).render(), "L3");

    let names: Vec<&str> = spanprof::SITES.iter().map(|s| s.name).collect();
    for n in ["Stack::boxed", "Stack::push (hot)", "Label::fmt", "render"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(!names.contains(&"Stack::new"));
}
