// Free functions in every form keep their signatures and become sites.
use spanprof::track_alloc;

pub struct SmallStruct {
    pub a: i64,
    pub b: i64,
    pub c: f64,
    pub d: f64,
}

/// Docs and other attributes stay on the function.
#[track_alloc]
#[inline]
#[must_use]
pub(crate) fn small_allocation() -> Box<SmallStruct> {
    Box::new(SmallStruct { a: 1, b: 2, c: 3.0, d: 4.0 })
}

#[track_alloc(name = "parse fields")]
pub fn parse(input: &str) -> Result<Vec<u32>, std::num::ParseIntError> {
    let mut out = Vec::new();
    for field in input.split(',') {
        if field.is_empty() {
            return Ok(out);
        }
        out.push(field.parse()?);
    }
    Ok(out)
}

#[track_alloc]
fn generic<T: Clone, const N: usize>(x: T) -> Box<[T; N]>
where
    T: Default,
{
    Box::new(std::array::from_fn(|_| x.clone()))
}

/// # Safety
/// `p` must come from `make_raw`.
#[track_alloc]
unsafe fn free_raw(p: *mut u64) {
    // SAFETY: the caller passes a pointer from `Box::into_raw`.
    drop(unsafe { Box::from_raw(p) });
}

#[track_alloc]
extern "C" fn make_raw() -> *mut u64 {
    Box::into_raw(Box::new(7))
}

fn main() {
    let s = small_allocation();
    assert_eq!(s.a + s.b, 3);
    assert_eq!(parse("1,2,,3").unwrap(), [1, 2]);
    assert!(parse("x").is_err());
    assert_eq!(*generic::<u8, 3>(5), [5, 5, 5]);
    // SAFETY: from make_raw.
    unsafe { free_raw(make_raw()) };

    let names: Vec<&str> = spanprof::SITES.iter().map(|s| s.name).collect();
    for n in ["small_allocation", "parse fields", "generic", "free_raw", "make_raw"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
}
