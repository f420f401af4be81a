//! The `#[track_alloc]` attribute of spanprof.
//!
//! Not built yet: the attribute and its escape analysis arrive with the
//! `#[track_alloc]` issue. This crate exists so the workspace has its final shape.
