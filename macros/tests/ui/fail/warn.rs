// `warn` prints every finding as a (deprecation) warning at its allocation; denied
// here so the snapshot shows them.
#![deny(deprecated)]

#[spanprof::track_alloc(warn)]
fn report(n: usize) -> Box<[u64]> {
    let tmp = vec![1u64; n];
    tmp.iter().map(|x| x * 2).collect()
}

fn main() {
    report(1);
}
