//! Recognising allocation sites and the calls that matter to the flow: which paths,
//! methods and macros allocate, leak, spawn, store, or just pass a value through.
//!
//! Recognition is by name, because a syntax tree has no types: `Box::new` is matched on
//! its last two path segments so `std::boxed::Box::new` and `Box::<T>::new` are found too.

use crate::text::{segments, tokens};
use syn::{Expr, GenericArgument, Lit, Path, PathArguments, Type};

/// What kind of heap object a site allocates. Decides how moving out of it behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SiteKind {
    /// `Box`: one object; `*b` or `b.field` moves its content out.
    Boxed,
    /// `Rc`/`Arc`: shared; `clone` hands out the same allocation.
    Shared,
    /// `Vec`, `String`, maps, `collect`: elements come out with `pop`, `remove`, `for x in v`.
    Collection,
    /// A named stack value (`let p = Point { .. }`); reported only if moved into an
    /// allocation that escapes.
    Stack,
}

/// How a call through a path (`f(..)`, `Type::f(..)`) is treated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallClass {
    /// Allocates a new object holding its arguments.
    Alloc(SiteKind),
    /// An empty collection (`Vec::new()`); it allocates only when grown.
    Empty,
    /// `drop(x)`: the value dies here.
    Drop,
    /// The argument is never freed; the text names how.
    Leak(&'static str),
    /// The argument (a closure or async block) runs on another thread or task.
    Spawn(&'static str),
    /// `thread::scope(|s| ..)`: runs the closure before returning.
    Scope,
    /// The value passes through (`mem::take`, `From::from`, `identity`).
    Flow,
    /// `Rc::clone(&x)`: the same shared allocation.
    SharedClone,
    /// A tuple struct or enum variant (`Some`, `Ok`, `Wrapper`): holds its arguments.
    Constructor,
    /// `Rc::downgrade(&rc)`: a `Weak` keeps the allocation (not the value) alive.
    Downgrade,
    /// `mem::swap(&mut a, &mut b)`.
    Swap,
    /// `mem::replace(&mut dst, src)`.
    Replace,
    /// A function the analysis cannot see through.
    Unknown,
}

const COLLECTIONS: &[&str] = &[
    "Vec",
    "String",
    "HashMap",
    "HashSet",
    "BTreeMap",
    "BTreeSet",
    "VecDeque",
    "BinaryHeap",
    "LinkedList",
];

/// Classifies a call by its path.
pub(crate) fn classify_call(p: &Path) -> CallClass {
    let segs = segments(p);
    let last = segs.last().map(String::as_str).unwrap_or("");
    let ty = if segs.len() >= 2 {
        segs[segs.len() - 2].as_str()
    } else {
        ""
    };
    match (ty, last) {
        ("Box", "new" | "pin" | "from" | "new_uninit") => CallClass::Alloc(SiteKind::Boxed),
        ("Rc" | "Arc", "new" | "from" | "pin" | "new_cyclic") => CallClass::Alloc(SiteKind::Shared),
        ("Rc" | "Arc", "clone") => CallClass::SharedClone,
        ("Rc" | "Arc", "downgrade") => CallClass::Downgrade,
        ("Box" | "Rc" | "Arc", "leak") => CallClass::Leak("Box::leak"),
        ("Box" | "Rc" | "Arc" | "CString", "into_raw" | "into_non_null") => {
            CallClass::Leak("into_raw")
        }
        ("mem", "forget") | ("", "forget") => CallClass::Leak("mem::forget"),
        ("mem", "drop") | ("", "drop") => CallClass::Drop,
        ("mem", "swap") => CallClass::Swap,
        ("mem", "replace") => CallClass::Replace,
        ("mem", "take") | ("From", "from") | ("Into", "into") => CallClass::Flow,
        // Wrappers hold their argument as an aggregate does.
        (
            "RefCell" | "Cell" | "Mutex" | "RwLock" | "UnsafeCell" | "OnceCell" | "Pin" | "Reverse"
            | "Wrapping" | "AssertUnwindSafe" | "SyncUnsafeCell",
            "new",
        ) => CallClass::Constructor,
        ("convert", "identity") | ("", "identity") => CallClass::Flow,
        ("thread", "scope") => CallClass::Scope,
        (_, "spawn" | "spawn_blocking" | "spawn_local") if segs.iter().any(|s| s == "thread") => {
            CallClass::Spawn("thread")
        }
        (_, "spawn" | "spawn_blocking" | "spawn_local") => CallClass::Spawn("task"),
        (t, "with_capacity" | "with_capacity_and_hasher" | "from" | "from_iter")
            if COLLECTIONS.contains(&t) =>
        {
            CallClass::Alloc(SiteKind::Collection)
        }
        (t, "new" | "default") if COLLECTIONS.contains(&t) => CallClass::Empty,
        _ if is_camel(last) => CallClass::Constructor,
        _ => CallClass::Unknown,
    }
}

/// `Some`, `Wrapper`, `Shape::Circle`: an upper-case last segment names a constructor.
pub(crate) fn is_camel(name: &str) -> bool {
    name.chars().next().is_some_and(char::is_uppercase)
        && !name
            .chars()
            .all(|c| c.is_uppercase() || c == '_' || c.is_ascii_digit())
}

/// How a method call `recv.m(..)` is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MethodClass {
    /// Allocates from a borrowed receiver (`to_string`, `to_vec`).
    AllocFromRef,
    /// Allocates from a consumed receiver (`collect`, `into_boxed_slice`).
    AllocFromValue,
    /// Never freed (`leak`, `into_raw`).
    Leak,
    /// Runs a closure on another thread (`scope.spawn(..)`, `Builder::spawn`).
    Spawn,
    /// Stores its arguments into the receiver (`push`, `insert`); grows an empty one.
    Store,
    /// Hands the argument to another thread (`tx.send(v)`).
    Send,
    /// Grows the receiver without storing a tracked value (`reserve`, `push_str`).
    Grow,
    /// Returns the receiver's value (`into`, `unwrap`, `into_iter`, `map`).
    Flow,
    /// Returns an element of the receiver (`pop`, `remove`, `take`, `next`).
    Element,
    /// `clone`: shares an `Rc`/`Arc`, copies anything else.
    Clone,
    /// Borrows the receiver and returns nothing tracked (`len`, `iter`, `get`).
    Borrow,
    /// Not known here.
    Unknown,
}

/// Classifies a method by name.
pub(crate) fn classify_method(name: &str) -> MethodClass {
    use MethodClass::*;
    match name {
        "to_string" | "to_owned" | "to_vec" | "into_owned" | "repeat" => AllocFromRef,
        "collect" | "into_boxed_slice" | "into_boxed_str" => AllocFromValue,
        "leak" | "into_raw" => Leak,
        "spawn" | "spawn_scoped" => Spawn,
        "push"
        | "push_back"
        | "push_front"
        | "insert"
        | "extend"
        | "append"
        | "swap_with_slice"
        | "set"
        | "replace"
        | "get_or_insert"
        | "get_or_insert_with"
        | "or_insert"
        | "or_insert_with"
        | "entry"
        | "push_within_capacity"
        | "resize"
        | "store" => Store,
        "send" | "try_send" | "blocking_send" | "send_timeout" => Send,
        "push_str" | "extend_from_slice" | "reserve" | "reserve_exact" | "insert_str"
        | "extend_from_within" | "write_str" | "write_fmt" | "write_all" | "write_char" => Grow,
        "into" | "unwrap" | "expect" | "unwrap_or" | "unwrap_or_else" | "unwrap_or_default"
        | "unwrap_unchecked" | "ok" | "err" | "ok_or" | "ok_or_else" | "into_iter"
        | "into_inner" | "into_values" | "into_keys" | "map" | "and_then" | "or" | "or_else"
        | "filter" | "filter_map" | "flat_map" | "flatten" | "chain" | "rev" | "skip"
        | "take_while" | "skip_while" | "inspect" | "enumerate" | "zip" | "cloned" | "copied"
        | "peekable" | "fuse" | "step_by" | "map_err" | "into_sorted_vec" | "into_string"
        | "into_bytes" | "into_vec" | "into_boxed" | "map_or" | "map_or_else" | "unzip"
        | "partition" | "fold" | "reduce" | "map_while" | "scan" | "then" | "then_some"
        | "cycle" | "by_ref" | "transpose" | "xor" | "and" | "zip_with" | "try_for_each"
        | "try_fold" => Flow,
        "pop" | "pop_back" | "pop_front" | "remove" | "swap_remove" | "take" | "next"
        | "next_back" | "max" | "min" | "max_by" | "min_by" | "max_by_key" | "min_by_key"
        | "last" | "nth" | "find" | "remove_entry" | "split_off" | "drain" | "find_map"
        | "nth_back" | "rfind_map" | "position_max" => Element,
        "clone" => Clone,
        "len"
        | "is_empty"
        | "iter"
        | "iter_mut"
        | "get"
        | "get_mut"
        | "as_str"
        | "as_slice"
        | "as_ref"
        | "as_mut"
        | "as_deref"
        | "as_deref_mut"
        | "as_mut_slice"
        | "contains"
        | "contains_key"
        | "capacity"
        | "clear"
        | "sort"
        | "sort_by"
        | "sort_by_key"
        | "sort_unstable"
        | "sort_unstable_by"
        | "sort_unstable_by_key"
        | "dedup"
        | "truncate"
        | "retain"
        | "first"
        | "first_mut"
        | "last_mut"
        | "chars"
        | "bytes"
        | "lines"
        | "split"
        | "split_whitespace"
        | "starts_with"
        | "ends_with"
        | "trim"
        | "as_bytes"
        | "borrow"
        | "borrow_mut"
        | "lock"
        | "read"
        | "write"
        | "fmt"
        | "hash"
        | "eq"
        | "ne"
        | "cmp"
        | "partial_cmp"
        | "keys"
        | "values"
        | "values_mut"
        | "windows"
        | "chunks"
        | "join"
        | "concat"
        | "sum"
        | "product"
        | "count"
        | "any"
        | "all"
        | "position"
        | "for_each"
        | "is_some"
        | "is_none"
        | "is_ok"
        | "is_err"
        | "len_utf8"
        | "parse"
        | "binary_search"
        | "swap"
        | "reverse"
        | "fill"
        | "shrink_to_fit"
        | "as_ptr"
        | "as_mut_ptr"
        | "deref"
        | "deref_mut"
        | "await"
        | "to_lowercase"
        | "to_uppercase"
        | "display"
        | "try_lock"
        | "copy_from_slice"
        | "clone_from_slice"
        | "with"
        | "split_at"
        | "split_at_mut"
        | "wait"
        | "join_handle"
        | "range"
        | "entry_ref"
        | "unwrap_or_clone"
        | "strong_count"
        // By-reference methods of `str`, slices, paths, `Option`/`Result` and atomics:
        // they read the receiver and return copies or borrows of it.
        | "trim_start"
        | "trim_end"
        | "trim_matches"
        | "trim_start_matches"
        | "trim_end_matches"
        | "strip_prefix"
        | "strip_suffix"
        | "split_once"
        | "rsplit_once"
        | "rsplit"
        | "splitn"
        | "rsplitn"
        | "split_terminator"
        | "split_inclusive"
        | "split_ascii_whitespace"
        | "char_indices"
        | "match_indices"
        | "rfind"
        | "is_char_boundary"
        | "eq_ignore_ascii_case"
        | "is_ascii"
        | "to_str"
        | "to_string_lossy"
        | "as_os_str"
        | "as_path"
        | "file_name"
        | "file_stem"
        | "extension"
        | "parent"
        | "exists"
        | "is_dir"
        | "is_file"
        | "components"
        | "is_some_and"
        | "is_ok_and"
        | "is_none_or"
        | "is_err_and"
        | "get_key_value"
        | "first_key_value"
        | "last_key_value"
        | "range_mut"
        | "binary_search_by"
        | "binary_search_by_key"
        | "partition_point"
        | "rposition"
        | "chunks_exact"
        | "rchunks"
        | "split_first"
        | "split_last"
        | "iter_rev"
        | "is_subset"
        | "is_superset"
        | "is_disjoint"
        | "intersection"
        | "difference"
        | "symmetric_difference"
        | "load"
        | "fetch_add"
        | "fetch_sub"
        | "compare_exchange"
        | "is_poisoned"
        | "get_ref"
        | "as_ptr_range"
        | "to_le_bytes"
        | "to_be_bytes"
        | "to_ne_bytes"
        | "checked_add"
        | "checked_sub"
        | "checked_mul"
        | "saturating_add"
        | "saturating_sub"
        | "wrapping_add"
        | "wrapping_sub"
        | "as_secs"
        | "as_millis"
        | "elapsed"
        | "rev_iter"
        | "max_len"
        | "flush"
        | "read_exact"
        | "read_to_end"
        | "read_to_string"
        | "read_line" => Borrow,
        _ => Unknown,
    }
}

/// Methods that grow an empty local collection (`Vec::new()` then one of these).
pub(crate) fn grows(name: &str) -> bool {
    matches!(
        classify_method(name),
        MethodClass::Store | MethodClass::Grow
    ) && !matches!(
        name,
        "set" | "replace" | "store" | "get_or_insert" | "get_or_insert_with" | "swap_with_slice"
    )
}

/// How a macro is treated. Unknown macros are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MacroClass {
    /// `vec![..]`: allocates (non-empty) a collection holding the elements.
    Vec,
    /// `format!`: allocates a `String`; its arguments are borrowed.
    Format,
    /// `println!`, `assert!`, `panic!`..: arguments are only borrowed.
    Borrowing,
    /// `write!(dst, ..)`: grows `dst`, borrows the rest.
    Write,
    /// `dbg!(x)`: returns its argument.
    PassThrough,
    /// Anything else.
    Unknown,
}

/// Classifies a macro by the last segment of its path.
pub(crate) fn classify_macro(p: &Path) -> MacroClass {
    let segs = segments(p);
    match segs.last().map(String::as_str).unwrap_or("") {
        "vec" => MacroClass::Vec,
        "format" => MacroClass::Format,
        "println" | "print" | "eprintln" | "eprint" | "assert" | "assert_eq" | "assert_ne"
        | "debug_assert" | "debug_assert_eq" | "debug_assert_ne" | "panic" | "format_args"
        | "todo" | "unimplemented" | "unreachable" | "matches" | "trace" | "debug" | "info"
        | "warn" | "error" | "log" => MacroClass::Borrowing,
        "write" | "writeln" => MacroClass::Write,
        "dbg" => MacroClass::PassThrough,
        _ => MacroClass::Unknown,
    }
}

/// The allocated type named by an argument: `T { .. }`, `T(..)`, `T::new(..)`, `1u64`.
pub(crate) fn type_of_value(e: &Expr) -> Option<String> {
    match e {
        Expr::Struct(s) => named_type(&s.path, false),
        Expr::Call(c) => match &*c.func {
            Expr::Path(p) => named_type(&p.path, true),
            _ => None,
        },
        Expr::Lit(l) => match &l.lit {
            Lit::Int(i) if !i.suffix().is_empty() => Some(i.suffix().to_string()),
            Lit::Float(f) if !f.suffix().is_empty() => Some(f.suffix().to_string()),
            Lit::Bool(_) => Some("bool".into()),
            Lit::Char(_) => Some("char".into()),
            _ => None,
        },
        Expr::Paren(p) => type_of_value(&p.expr),
        _ => None,
    }
}

/// `T` from `T { .. }` or `T(..)`; from `T::new(..)` when `call` (a hint: `new` usually
/// returns `Self`).
fn named_type(p: &Path, call: bool) -> Option<String> {
    let segs = segments(p);
    let last = segs.last()?;
    let name = if is_camel(last) && !matches!(last.as_str(), "Some" | "Ok" | "Err") {
        // A struct literal or tuple struct; an enum variant `E::V(..)` names `E::V`,
        // which is not a type, so keep only single-segment or type-like paths.
        if segs.len() >= 2 && is_camel(&segs[segs.len() - 2]) {
            return Some(segs[..segs.len() - 1].join("::"));
        }
        segs.join("::")
    } else if call && segs.len() >= 2 && is_camel(&segs[segs.len() - 2]) {
        segs[..segs.len() - 1].join("::")
    } else {
        return None;
    };
    let first = name.rsplit("::").next().unwrap_or("");
    if COLLECTIONS.contains(&first) || matches!(first, "Box" | "Rc" | "Arc") {
        return None;
    }
    Some(name)
}

/// The element type a heap type holds: `Box<T>` → `T`, `Vec<T>` → `T`, `String` → `u8`,
/// `HashMap<K, V>` → `(K, V)`; looks through `Option`/`Result`.
pub(crate) fn element_of_type(ty: &Type) -> Option<String> {
    let Type::Path(tp) = ty else { return None };
    let seg = tp.path.segments.last()?;
    let name = seg.ident.to_string();
    let args: Vec<&Type> = match &seg.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|g| match g {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    match name.as_str() {
        "String" => Some("u8".into()),
        "Option" | "Result" | "Pin" => args.first().and_then(|t| element_of_type(t)),
        "HashMap" | "BTreeMap" if args.len() >= 2 => named(args[0])
            .zip(named(args[1]))
            .map(|(k, v)| format!("({k}, {v})")),
        "Box" | "Rc" | "Arc" | "Vec" | "VecDeque" | "HashSet" | "BTreeSet" | "BinaryHeap"
        | "LinkedList" => args.first().and_then(|t| match t {
            Type::Slice(s) => named(&s.elem),
            Type::Path(p) if p.path.is_ident("str") => Some("u8".into()),
            t => named(t),
        }),
        _ => None,
    }
}

/// A type's text if it is a concrete, sized, nameable type (no `_`, no `dyn`, no `impl`).
fn named(t: &Type) -> Option<String> {
    let text = tokens(t);
    let bad = text.contains('_')
        && text
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|w| w == "_");
    if bad
        || matches!(
            t,
            Type::TraitObject(_) | Type::ImplTrait(_) | Type::Slice(_) | Type::Infer(_)
        )
    {
        return None;
    }
    if text == "str" { None } else { Some(text) }
}

/// The element type named by a turbofish: `Box::<T>::new`, `collect::<Vec<T>>()`.
pub(crate) fn type_of_turbofish(p: &Path) -> Option<String> {
    p.segments.iter().find_map(|s| match &s.arguments {
        PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
            GenericArgument::Type(t) => named(t),
            _ => None,
        }),
        _ => None,
    })
}

/// The element type of a `collect::<X>()` turbofish.
pub(crate) fn type_of_collect(args: &syn::AngleBracketedGenericArguments) -> Option<String> {
    args.args.iter().find_map(|g| match g {
        GenericArgument::Type(t) => element_of_type(t),
        _ => None,
    })
}
