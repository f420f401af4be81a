//! Go-style escape analysis over Rust syntax trees, for spanprof.
//!
//! Go users run `go build -gcflags=-m` to learn which values escape to the heap. This
//! crate asks Go's question of Rust code: which heap allocations in a function outlive
//! it, which die inside it (and could have been a stack value, a reused buffer or an
//! arena), and which are handed somewhere the analysis cannot see.
//!
//! ```
//! use spanprof_escape::{analyze_file, render_text, Kind};
//!
//! let src = r#"
//! struct SmallStruct { a: i32, b: i32, c: f64, d: f64 }
//!
//! fn small_allocation() -> Box<SmallStruct> {
//!     Box::new(SmallStruct { a: 1, b: 2, c: 3.0, d: 4.0 })
//! }
//!
//! fn scratch(n: usize) -> usize {
//!     let v: Vec<u64> = Vec::with_capacity(n);
//!     v.len()
//! }
//! "#;
//! let findings = analyze_file(src, "src/main.rs").unwrap();
//! assert_eq!(
//!     render_text(&findings, false),
//!     "src/main.rs:5:5: Box::new(SmallStruct { .. }) escapes to heap: returned\n\
//!      src/main.rs:9:23: Vec::with_capacity(n) does not escape\n"
//! );
//! assert_eq!(findings[0].kind, Kind::Escapes);
//! assert_eq!(findings[0].ty.as_deref(), Some("SmallStruct"));
//! assert_eq!(findings[1].ty.as_deref(), Some("u64"));
//! ```
//!
//! # What it reports
//!
//! Allocation sites are recognised by name (`Box::new`, `Rc::new`, `Arc::new`, `vec![..]`,
//! `Vec::with_capacity`, `String::from`, `format!`, `.to_string()`, `.to_owned()`,
//! `.to_vec()`, `.collect()`, `.into_boxed_slice()`, maps and sets with capacity, and an
//! empty collection that is grown). Each value is followed through bindings, moves,
//! aggregates, branches, loops, closures and calls, and gets one [`Kind`]:
//!
//! - `escapes to heap: returned` / `stored in self.x` / `captured by a spawned thread`..;
//! - `leaks` (`Box::leak`, `mem::forget`, `into_raw`);
//! - `may escape: passed to f` when it goes where the analysis cannot follow;
//! - `does not escape` (with `allocated in a loop` when it is);
//! - `moved to heap: x` for a stack value moved into an allocation that escapes;
//! - `leaking param: p to result ~r0 level=0` for results that borrow from a parameter.
//!
//! Borrows (`&v`, `v.len()`, `println!("{v}")`, `for x in &v`) never make a value escape;
//! a `move` closure that names a value, even only inside a format string (`"{v}"`), does
//! capture it.
//!
//! # Where a store goes
//!
//! Every binding knows whose memory it refers to, as Go's analysis knows which locations
//! are reached through pointers (cmd/compile/internal/escape): a local; the caller's
//! memory (a reference or raw-pointer parameter, `Option<&mut T>`, an `Rc`/`Arc` handle,
//! a binding from `if let`/`match` on one, `unsafe { &mut *p }`, a callback's user-data
//! pointer cast back); an alias of a local (`let e = m.entry(k).or_default();`); or memory
//! it may not own (the result of a call it cannot see through, a closure parameter, a
//! generic parameter taken by value). Storing into the caller's memory escapes; storing
//! into memory the function may not own `may escape` (`-v` says why).
//!
//! Iterator adapters carry their items: `iter.map(|s| s.to_string()).next()` is the
//! closure's allocation, and `v.into_iter().map(f).collect()` holds what `f` returns, not
//! `v`, whose buffer `may escape` only because std may reuse it for the result (in-place
//! collect). An error built by `Err(..)`, `map_err` or `ok_or_else` is returned by a
//! later `?`.
//!
//! # Limits
//!
//! It reads syntax, not types: a method it does not know, called on a value that holds an
//! allocation, makes that allocation `may escape` (it might take `self` by value), and
//! destructuring does not tell the parts of a value apart (every part may hold every
//! allocation the whole held). Calls are not followed into other functions, and `&mut x`
//! handed to one is a borrow (only `mem::swap`/`replace`/`take`, `append` and the like,
//! which the analysis knows, move `x`'s contents elsewhere through it). When it
//! cannot prove that a value dies it says `may escape`, never `does not escape`.
#![warn(missing_docs)]

mod calls;
mod control;
mod env;
mod finding;
mod flow;
mod params;
mod places;
mod render;
mod sites;
mod text;
mod verdict;
mod walk;

pub use finding::{FileError, Finding, Kind};
#[cfg(feature = "json")]
pub use render::render_json;
pub use render::render_text;
pub use walk::rust_files;

use std::collections::BTreeSet;
use std::path::Path;

/// Analyses one function, as the `#[track_alloc]` macro sees it. `file` is copied into
/// the findings; lines and columns come from the item's spans.
///
/// Methods called on values are judged without knowing the rest of the file; use
/// [`analyze_file`] when the whole file is at hand.
pub fn analyze_fn(item: &syn::ItemFn, file: &str) -> Vec<Finding> {
    walk::body(
        &item.sig,
        &item.block,
        file,
        &item.sig.ident.to_string(),
        &BTreeSet::new(),
    )
}

/// Analyses a function given by signature and body (a method from an `impl` block, for
/// example), printing `function` as its path (`Type::method`).
pub fn analyze_body(
    sig: &syn::Signature,
    block: &syn::Block,
    file: &str,
    function: &str,
) -> Vec<Finding> {
    walk::body(sig, block, file, function, &BTreeSet::new())
}

/// Parses `src` and analyses every function in it: free functions, methods, default trait
/// methods, functions in inline modules and functions nested in bodies. Findings are
/// sorted by position. A file that does not parse, or nests more than 10,000 levels
/// deep (brackets, blocks and chained operators; 2,500 on 32-bit targets), gives one
/// [`FileError`]. The file is parsed and analysed on a thread of its own with a large
/// stack, so deep input never overflows the caller's.
pub fn analyze_file(src: &str, file: &str) -> Result<Vec<Finding>, FileError> {
    walk::file(src, file)
}

/// Analyses every `.rs` file under `path` (or the file `path`), skipping `target/` and
/// hidden directories and reading each real file once (see [`rust_files`]). Files that
/// cannot be read or parsed, or nest too deeply, are reported as errors and the rest is
/// analysed.
pub fn analyze_path(path: impl AsRef<Path>) -> (Vec<Finding>, Vec<FileError>) {
    let (files, mut errors) = rust_files(&[path.as_ref().to_path_buf()]);
    let mut findings = Vec::new();
    for f in files {
        match read_and_analyze(&f) {
            Ok(found) => findings.extend(found),
            Err(e) => errors.push(e),
        }
    }
    (findings, errors)
}

/// Reads the file at `path` and analyses it as [`analyze_file`] does, naming it as
/// `path` displays.
pub fn read_and_analyze(path: &Path) -> Result<Vec<Finding>, FileError> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(src) => analyze_file(&src, &name),
        Err(e) => Err(FileError {
            file: name,
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        }),
    }
}
