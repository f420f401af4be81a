//! Runnable examples for spanprof: `cargo run --release -p spanprof-examples --example NAME`.
