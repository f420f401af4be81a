//! Compile-time behaviour of `#[track_alloc]`: every accepted position builds (and
//! runs), and misuse fails with the messages snapshotted in `ui/fail/*.stderr`
//! (regenerate with `TRYBUILD=overwrite cargo test -p spanprof-macros --test ui`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
