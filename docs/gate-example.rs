// The `no_escape` gate of README ("The CI gate"): `spanprof escape --check` on this
// file exits 1 for `tokens` and passes `checksum`. Not compiled: with spanprof as a
// dependency, `tokens` would be a compile error at its `collect()`.

#[spanprof::track_alloc(no_escape)]
fn checksum(lines: &[&str]) -> usize {
    let mut scratch = Vec::with_capacity(64); // dies here: allowed
    for l in lines {
        scratch.extend_from_slice(l.as_bytes());
    }
    scratch.len()
}

#[spanprof::track_alloc(no_escape)]
fn tokens(line: &str) -> Vec<String> {
    line.split(' ').map(str::to_string).collect() // returned: the gate fails
}
