//! The layering of `allocator/src`, checked on the source text (docs/architecture.md
//! describes it):
//!
//! * the allocator core never names the profiler (`crate::profile`, `profile::`) or
//!   the entry points (`crate::malloc`), as Go's `mcache.go`, `mcentral.go` and
//!   `mheap.go` never call `mprof.go`;
//! * the profiler never calls up into the entry points or the crate root;
//! * the graph of `crate::…` references between files has no cycle;
//! * no function of the core is longer than 60 lines.
//!
//! References are read from code only: comments are dropped, and so is a trailing
//! `#[cfg(test)] mod tests` (unit tests may reach anywhere). `$crate::` in macros is
//! the user's path to the crate, not a reference.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The core, bottom up; a file may use files listed before it, never after.
const CORE: &[&str] = &[
    "lock.rs",
    "os.rs",
    "size_class.rs",
    "fixalloc.rs",
    "stats.rs",
    "region.rs",
    "span.rs",
    "scavenger.rs",
    "pageheap.rs",
    "central.rs",
    "cache.rs",
    "heap.rs",
];

/// The longest function the core may have, in lines (signature to closing brace).
const MAX_FN_LINES: usize = 60;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src`, by its path relative to `src`.
fn files() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let rel = path
                    .strip_prefix(src())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

/// The code of a file: no comments, no trailing unit-test module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("//") {
                ""
            } else {
                // A trailing comment (no code here puts `//` inside a string).
                l.split(" // ").next().unwrap_or("")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The files `code` (of a file in `dir`, "" or "profile") refers to.
fn references(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while let Some(i) = code[at..].find("crate::") {
        let start = at + i;
        at = start + "crate::".len();
        if start > 0 && (bytes[start - 1] == b'$' || bytes[start - 1].is_ascii_alphanumeric()) {
            continue;
        }
        let path: String = code[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':' || *c == '{')
            .collect();
        let mut parts = path.split("::");
        let first = parts.next().unwrap_or("").trim_end_matches('{');
        if first == "profile" {
            let second = parts.next().unwrap_or("").trim_end_matches('{');
            let sub = format!("profile/{second}.rs");
            out.insert(if modules.contains(&sub) {
                sub
            } else {
                "profile/mod.rs".into()
            });
        } else if modules.contains(&format!("{first}.rs")) {
            out.insert(format!("{first}.rs"));
        } else {
            // A crate-root item (`crate::stats()`, a re-export such as `crate::Heap`).
            out.insert("lib.rs".into());
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = files();
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    files
        .iter()
        .map(|(name, text)| {
            let mut refs = references(&code(text), &modules);
            // Inside profile/, `super::x` is a sibling.
            if name.starts_with("profile/") {
                for m in &modules {
                    if let Some(sib) = m.strip_prefix("profile/") {
                        let stem = sib.trim_end_matches(".rs");
                        if code(text).contains(&format!("super::{stem}::")) {
                            refs.insert(m.clone());
                        }
                    }
                }
            }
            refs.remove(name);
            (name.clone(), refs)
        })
        .collect()
}

#[test]
fn the_core_never_names_the_profiler_or_the_entry_points() {
    let files = files();
    let mut bad = Vec::new();
    for name in CORE {
        let text = files.get(*name).unwrap_or_else(|| panic!("no src/{name}"));
        for (n, line) in code(text).lines().enumerate() {
            for word in ["crate::profile", "profile::", "crate::malloc", "malloc::"] {
                if line.contains(word) {
                    bad.push(format!("src/{name}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "the core names the layers above it:\n{}",
        bad.join("\n")
    );
}

#[test]
fn each_core_file_uses_only_the_core_files_below_it() {
    let g = graph();
    let mut bad = Vec::new();
    for (i, name) in CORE.iter().enumerate() {
        for r in &g[*name] {
            if !CORE[..i].contains(&r.as_str()) {
                bad.push(format!("src/{name} uses src/{r}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "back arrows in the core:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_profiler_never_calls_up_into_the_entry_points_or_the_crate_root() {
    let g = graph();
    let bad: Vec<String> = g
        .iter()
        .filter(|(name, _)| name.starts_with("profile/"))
        .flat_map(|(name, refs)| {
            refs.iter()
                .filter(|r| *r == "malloc.rs" || *r == "lib.rs")
                .map(move |r| format!("src/{name} uses src/{r}"))
        })
        .collect();
    assert!(
        bad.is_empty(),
        "the profiler reaches up:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_file_graph_has_no_cycle() {
    let g = graph();
    // Depth-first search with colours; report the first cycle found.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n).copied().unwrap_or(0) {
            1 => {
                let from = path.iter().position(|p| p == n).unwrap();
                let mut cycle = path[from..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            2 => return None,
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if let Some(cycle) = visit(n, &g, &mut state, &mut Vec::new()) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

/// (name, first line, length) of each function in `code`, by brace matching.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let Some(at) = t.find("fn ") else { continue };
        let before = &t[..at];
        let is_fn = before.is_empty()
            || before.split_whitespace().all(|w| {
                matches!(
                    w,
                    "pub" | "pub(crate)" | "const" | "unsafe" | "extern" | "\"C\""
                ) || w.starts_with("pub(")
            });
        if !is_fn {
            continue;
        }
        let name: String = t[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // From the first `{` after the signature to its match.
        let mut depth = 0i32;
        let mut opened = false;
        let mut end = None;
        'scan: for (j, l2) in lines.iter().enumerate().skip(i) {
            for c in l2.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    ';' if !opened => break 'scan,
                    _ => {}
                }
                if opened && depth == 0 {
                    end = Some(j);
                    break 'scan;
                }
            }
        }
        if let Some(e) = end {
            out.push((name, i + 1, e - i + 1));
        }
    }
    out
}

#[test]
fn no_core_function_is_longer_than_sixty_lines() {
    let files = files();
    let mut long = Vec::new();
    for name in CORE {
        for (f, line, len) in functions(&code(&files[*name])) {
            if len > MAX_FN_LINES {
                long.push(format!("src/{name}:{line}: fn {f} is {len} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "core functions over {MAX_FN_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_look_for() {
    // The reference reader finds the kinds of path the checks rely on.
    let modules: BTreeSet<String> = ["heap.rs", "profile/tags.rs", "profile/mod.rs"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let refs = references(
        "use crate::heap::Heap;\nlet t = crate::profile::tags::take(s);\ncrate::stats();\n$crate::Site",
        &modules,
    );
    let want: BTreeSet<String> = ["heap.rs", "profile/tags.rs", "lib.rs"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(refs, want);
    assert!(code("a // crate::profile\n// crate::x\n").trim() == "a");
    let f = functions(
        "fn a() {\n    x;\n}\npub(crate) unsafe fn b(\n    p: u8,\n) -> u8 {\n    p\n}\n",
    );
    assert_eq!(f, vec![("a".into(), 1, 3), ("b".into(), 4, 5)]);
}
