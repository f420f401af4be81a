//! Sites: the functions `#[track_alloc]` marks, as static data the binary carries.
//!
//! A [`Site`] is a `static` the attribute emits for each marked function: where it
//! is, what the escape analysis found in it, and the type sizes it could name. Every
//! site is placed in a link-time list ([`SITES`], a `linkme` distributed slice), so
//! the profile lists all of them even when some never ran, with no allocation and
//! no code before `main`. At run time `hooks::enter` makes a site current on the
//! calling thread; nested calls form a site stack, interned as a context id by
//! `context.rs`, and the allocation hooks in `hooks.rs` count per (context, size
//! class). This file is data only: it imports nothing of the profiler.
//!
//! A [`TypeInfo`] is the static `#[track_alloc]` emits for a non-generic `struct`,
//! `enum` or `union`: its name, where it is, `size_of` and `align_of`, listed in
//! [`TYPES`] for the audit. Nothing about it runs: it is data in the binary.

use linkme::distributed_slice;

/// Every site in the binary (filled at link time by `#[track_alloc]` and [`crate::site!`]).
#[distributed_slice]
pub static SITES: [&'static Site];

/// Every type marked with `#[track_alloc]` in the binary (filled at link time).
///
/// Only types without type or const parameters are listed: a generic type has no
/// size until it is instantiated. Lifetime parameters are fine.
#[distributed_slice]
pub static TYPES: [&'static TypeInfo];

/// A type marked with `#[track_alloc]`, as static data for the audit.
#[derive(Debug)]
pub struct TypeInfo {
    /// The type's name as declared (`Order`).
    pub name: &'static str,
    /// `module_path!()` of the declaration.
    pub module: &'static str,
    /// Source file.
    pub file: &'static str,
    /// Line of the type's name (1-based).
    pub line: u32,
    /// `size_of` the type.
    pub size: usize,
    /// `align_of` the type.
    pub align: usize,
}

/// A function marked for attribution.
#[derive(Debug)]
pub struct Site {
    /// Display name (the function's path inside its module, e.g. `Parser::parse`).
    pub name: &'static str,
    /// `module_path!()` of the function.
    pub module: &'static str,
    /// Source file.
    pub file: &'static str,
    /// Line of the function (1-based).
    pub line: u32,
    /// Column of the function (1-based).
    pub column: u32,
    /// What the escape analysis found in the function body.
    pub findings: &'static [Finding],
}

/// One escape-analysis finding, as static data.
#[derive(Debug)]
pub struct Finding {
    /// Line of the allocation (1-based).
    pub line: u32,
    /// Column of the allocation (1-based).
    pub column: u32,
    /// Short expression text (`Box::new(Seed { .. })`).
    pub expr: &'static str,
    /// `escapes`, `leaks`, `may_escape`, `does_not_escape`, `moved_to_heap` or `leaking_param`.
    pub kind: &'static str,
    /// Go-style reason (`returned`, `stored in self.items`, …).
    pub reason: &'static str,
    /// The allocated type, when the syntax names it.
    pub type_name: Option<&'static str>,
    /// `size_of` of that type, when known.
    pub size: Option<usize>,
    /// `align_of` of that type, when known.
    pub align: Option<usize>,
}

impl Site {
    /// The site's identity (its address: one static per site).
    pub fn key(&'static self) -> usize {
        self as *const Site as usize
    }
}

/// Defines a static [`Site`] for the enclosing function, registers it in [`SITES`] and
/// evaluates to `&'static Site`. `#[track_alloc]` does this (with escape findings) for
/// you; the macro serves code that sets sites by hand.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();
///
/// fn parse(input: &str) -> Vec<String> {
///     let _site = spanprof::enter(spanprof::site!("parse"));
///     input.split(',').map(str::to_owned).collect()
/// }
///
/// let fields = parse("a,b,c");
/// let site = spanprof::site_stats("parse").unwrap();
/// assert!(site.allocs >= 4);
/// # drop(fields);
/// ```
#[macro_export]
macro_rules! site {
    ($name:expr) => {{
        #[$crate::__private::linkme::distributed_slice($crate::SITES)]
        #[linkme(crate = $crate::__private::linkme)]
        static SITE: &'static $crate::Site = &$crate::Site {
            name: $name,
            module: ::core::module_path!(),
            file: ::core::file!(),
            line: ::core::line!(),
            column: ::core::column!(),
            findings: &[],
        };
        SITE
    }};
}
