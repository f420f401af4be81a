//! spanprof in a brand-new crate outside this workspace, as a user meets it: adding it
//! changes nothing about how the user's code compiles, its dependency tree is the
//! small one README lists, and frame-pointer stacks asked for in a build without
//! frame pointers fall back to the DWARF unwinder with a warning the CLI prints.

mod common;

use common::fresh::FreshCrate;
use common::spanprof;
use predicates::prelude::*;
use std::collections::BTreeSet;

/// Code whose type inference breaks when a dependency adds blanket impls such as
/// serde_json's `impl PartialEq<Value> for u8` (E0282/E0283), inside and outside a
/// `#[track_alloc]` function.
const INFERENCE: &str = r#"
#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

#[spanprof::track_alloc]
fn copy_bytes(s: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(s.iter());
    assert_eq!(&s[..], &v[..]);
    v
}

fn main() {
    let s = b"abc";
    let mut v = Vec::new();
    v.extend(s.iter());
    assert_eq!(&s[..], &v[..]);
    let mut n = Vec::new();
    n.push(1);
    assert!(n[0] == 1u16);
    let mut t = String::new();
    t.push('x');
    assert!(t == "x");
    println!("inference ok: {}", copy_bytes(s).len());
}
"#;

#[test]
fn adding_spanprof_does_not_change_how_user_code_compiles() {
    let krate = FreshCrate::new("sp-fresh-inference")
        .main_rs(INFERENCE)
        .create();
    let out = krate.cargo(["run", "--quiet"]).output().unwrap();
    assert!(
        out.status.success(),
        "a crate that compiles without spanprof must compile with it:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "inference ok: 3\n");

    // What the user's build links: exactly the runtime's small tree (README lists it).
    // A new dependency here must be a deliberate change, reviewed for blanket impls.
    let tree = krate
        .cargo([
            "tree",
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .unwrap();
    assert!(
        tree.status.success(),
        "{}",
        String::from_utf8_lossy(&tree.stderr)
    );
    let names: BTreeSet<String> = String::from_utf8_lossy(&tree.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .filter(|n| n != "sp-fresh-inference")
        .collect();
    let allowed: BTreeSet<String> = [
        // the runtime
        "spanprof",
        "libc",
        "linkme",
        "backtrace",
        "addr2line",
        "gimli",
        "object",
        "memchr",
        "miniz_oxide",
        "adler2",
        "rustc-demangle",
        "cfg-if",
        // compile time only: #[track_alloc] and linkme's attribute
        "spanprof-macros",
        "spanprof-escape",
        "linkme-impl",
        "proc-macro2",
        "quote",
        "syn",
        "unicode-ident",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let extra: Vec<&String> = names.difference(&allowed).collect();
    assert!(
        extra.is_empty(),
        "new dependencies in users' builds: {extra:?}"
    );
    assert!(
        names.contains("spanprof") && names.contains("backtrace"),
        "{names:?}"
    );
}

const FP_PROGRAM: &str = r#"
#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

#[inline(never)]
fn make_fresh_buffers(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![i as u8; 1000]).collect()
}

fn main() {
    let v = make_fresh_buffers(100);
    println!("{}", v.len());
}
"#;

#[test]
fn frame_pointer_stacks_without_frame_pointers_fall_back_with_a_warning() {
    let krate = FreshCrate::new("sp-fresh-nofp")
        .main_rs(FP_PROGRAM)
        .create();
    // A plain `cargo build`: no frame pointers outside this workspace.
    let build = krate.cargo(["build", "--quiet"]).output().unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let exe = common::fresh::target_dir()
        .join("debug")
        .join("sp-fresh-nofp");
    let profile = krate.dir().join("p.json");
    let run = krate
        .command(&exe)
        .env("SPANPROF_OUT", &profile)
        .env("SPANPROF_RATE", "1")
        .env("SPANPROF_UNWIND", "fp")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let p: spanprof::Profile = serde_json::from_slice(&std::fs::read(&profile).unwrap()).unwrap();
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(
        p.warnings[0].contains("without frame pointers"),
        "{:?}",
        p.warnings
    );
    // The DWARF unwinder took over: stacks reach the program's own function.
    assert!(
        p.samples.iter().any(|s| p
            .frames(s.stack)
            .any(|f| f.function.contains("make_fresh_buffers"))),
        "no stack names make_fresh_buffers"
    );
    // Every command that reads the profile says so, on stderr.
    spanprof()
        .arg("report")
        .arg(&profile)
        .assert()
        .success()
        .stderr(
            predicate::str::contains("warning").and(predicate::str::contains("frame pointers")),
        );
    spanprof()
        .current_dir(krate.dir())
        .args(["flamegraph", "p.json", "-o", "h.svg"])
        .assert()
        .success()
        .stderr(predicate::str::contains("without frame pointers"));
}
