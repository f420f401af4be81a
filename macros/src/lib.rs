//! The `#[track_alloc]` attribute of spanprof (use it as `spanprof::track_alloc`).
//!
//! Put it on a function, a method or an `impl` block. Each marked function becomes a
//! *site*: a `static` `spanprof::Site` in the binary (name, module, file, line, and
//! what the escape analysis of `spanprof-escape` found in its body, with the `size_of`
//! of the allocated types it can name), listed in `spanprof::SITES`; and while the
//! function runs the site is current on the thread, so every allocation it makes
//! (directly or in what it calls) is counted for it, per size class.
//!
//! ```
//! use spanprof::track_alloc;
//!
//! #[global_allocator]
//! static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();
//!
//! struct SmallStruct { a: i64, b: i64, c: f64, d: f64 }
//!
//! #[track_alloc]
//! fn small_allocation() -> Box<SmallStruct> {
//!     Box::new(SmallStruct { a: 1, b: 2, c: 3.0, d: 4.0 })
//! }
//!
//! let boxed = small_allocation();
//! let stats = spanprof::site_stats("small_allocation").unwrap();
//! assert_eq!(stats.allocs, 1); // one 32-byte object, in the 32 B size class
//!
//! let site = spanprof::SITES.iter().find(|s| s.name == "small_allocation").unwrap();
//! let f = &site.findings[0];
//! assert_eq!((f.kind, f.reason), ("escapes", "returned")); // Go: "escapes to heap"
//! assert_eq!((f.type_name, f.size), (Some("SmallStruct"), Some(32)));
//! # drop(boxed);
//! ```
//!
//! # Where it goes
//!
//! | position | what happens |
//! |---|---|
//! | `fn`, `pub(crate) fn`, `unsafe fn`, `extern "C" fn`, generic `fn` | signature, generics, attributes and docs kept as written; a guard made first thing in the body keeps the site current until the function returns, returns early (`return`, `?`) or unwinds |
//! | `async fn` | the body runs in an `async move` block polled through `core::future::poll_fn`, which makes the site current around each `poll`: never across an `.await`, never on a thread that is not running the body |
//! | a method (`fn` in an `impl`) marked by itself | as a function; the site is named after the method alone (use `name = "Type::method"` to say more) |
//! | an `impl` block | every method with a body becomes a site named `Type::method` (`const fn`s are skipped); a method's own `#[track_alloc(..)]` adds options to the block's |
//! | `struct`, `enum`, `union` | left as it is and listed in `spanprof::TYPES` (name, place, `size_of`, `align_of`) for `spanprof audit`, at no run-time cost; not listed when it has type or const parameters or an unsized last field (no arguments) |
//!
//! # Options
//!
//! - `name = "…"`: the site's display name (what `spanprof::site_stats` and the
//!   reports use). On an `impl` block it replaces the type in `Type::method`.
//! - `no_escape`: every allocation the analysis says escapes, leaks or may escape is a
//!   compile error at the allocation, with the analysis' message. The gate for hot
//!   paths: allocations that die in the function (`does not escape`) are allowed.
//! - `warn`: every finding is printed as a compiler warning at its allocation
//!   (`use of deprecated constant …: escape analysis: Box::new(T { .. }) escapes to
//!   heap: returned`; stable Rust has no other way for a macro to warn). An
//!   `#[allow(deprecated)]` silences them, `#![deny(warnings)]` makes them errors.
//!
//! ```compile_fail
//! #[spanprof::track_alloc(no_escape)]
//! fn hot(n: usize) -> Vec<u64> {
//!     Vec::with_capacity(n) // error: Vec::with_capacity(n) escapes to heap: returned
//! }
//! ```
//!
//! # Sizes
//!
//! A finding's `size`/`align` are `Some` only when the type can be named from a
//! `static` in the function body without any risk of breaking the build: a primitive, a
//! type written out in the function's signature, annotations or turbofish (a type
//! written in type position is complete), or a non-generic type declared at the top of
//! the body; never a generic parameter, `Self` outside a plain annotated `impl`, a
//! non-`'static` lifetime, or a name guessed from a call like `Cell::new(1)` (which may be
//! a generic type). Otherwise they are `None`; the runtime counters always have the
//! real sizes of what was allocated.
//!
//! The generated code refers to the crate as `::spanprof`: depend on it under that
//! name.
#![warn(missing_docs)]

mod args;
mod expand;
mod locate;
mod types;

use proc_macro::TokenStream;

/// Marks a function, a method or every method of an `impl` block as an allocation
/// site for spanprof; see the [crate documentation](crate) for positions and options
/// (`name = "…"`, `no_escape`, `warn`).
#[proc_macro_attribute]
pub fn track_alloc(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::track_alloc(args.into(), item.into()).into()
}
