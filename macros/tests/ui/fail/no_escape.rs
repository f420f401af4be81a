// `no_escape`: what escapes, leaks or may escape is an error at the allocation;
// what dies in the function is fine.
use spanprof::track_alloc;

fn consume(_: String) {}

#[track_alloc(no_escape)]
fn hot(n: usize) -> Vec<u64> {
    let scratch = vec![0u8; n];
    let s = format!("{}", scratch.len());
    consume(s);
    Box::leak(Box::new(5u8));
    Vec::with_capacity(n)
}

#[track_alloc(no_escape)]
fn fine(words: &[&str]) -> usize {
    let v: Vec<String> = words.iter().map(|w| w.to_uppercase()).collect();
    v.len()
}

fn main() {
    hot(1);
    fine(&[]);
}
