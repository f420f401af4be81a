//! Go-style escape analysis over Rust syntax trees, for spanprof.
//!
//! Not built yet: the analysis arrives with the `#[track_alloc]` issue. This crate
//! exists so the workspace has its final shape.
