//! Types, function paths, loop flags, flows, and the entry point the macro uses.

use spanprof_escape::{Finding, Kind, analyze_file, analyze_fn};

fn find(src: &str) -> Vec<Finding> {
    analyze_file(src, "d.rs").unwrap_or_else(|e| panic!("{e}"))
}

fn types(src: &str) -> Vec<Option<String>> {
    find(src).into_iter().map(|f| f.ty).collect()
}

#[test]
fn seed_program_names_its_type() {
    let f = find(
        "fn small_allocation() -> Box<SmallStruct> { Box::new(SmallStruct { a: 1, b: 2, c: 3.0, d: 4.0 }) }",
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, Kind::Escapes);
    assert_eq!(f[0].reason, "returned");
    assert_eq!(f[0].ty.as_deref(), Some("SmallStruct"));
    assert_eq!(f[0].function, "small_allocation");
}

#[test]
fn types_from_syntax() {
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        types("fn f() -> usize { let b = Box::new(Point::new(1)); b.len() }"),
        [s("Point")]
    );
    assert_eq!(
        types("fn f() -> Box<Config> { Box::new(load()) }"),
        [s("Config")]
    );
    assert_eq!(
        types("fn f<T: Default>() -> Box<T> { Box::<T>::new(T::default()) }"),
        [s("T")]
    );
    assert_eq!(
        types("fn f(v: &[u32]) -> usize { v.iter().copied().collect::<Vec<u32>>().len() }"),
        [s("u32")]
    );
    assert_eq!(
        types("fn f() { let v: Vec<Item> = Vec::with_capacity(4); drop(v); }"),
        [s("Item")]
    );
    assert_eq!(types("fn f() -> String { format!(\"{}\", 1) }"), [s("u8")]);
    assert_eq!(types("fn f() -> Vec<u8> { vec![0u8; 4] }"), [s("u8")]);
    assert_eq!(
        types("fn f() -> Vec<Pixel> { vec![Pixel { r: 0 }; 4] }"),
        [s("Pixel")]
    );
    assert_eq!(types("fn f() -> Box<dyn Fn()> { Box::new(|| {}) }"), [None]);
    assert_eq!(types("fn f() -> Rc<Node> { Rc::new(make()) }"), [s("Node")]);
    assert_eq!(types("fn f() -> Vec<_> { Vec::with_capacity(3) }"), [None]);
}

#[test]
fn function_paths() {
    let src = "impl Cache { fn put(&mut self) { self.v = Box::new(1); } }\n\
               mod m { pub fn g() -> String { String::from(\"x\") } }\n\
               fn outer() { fn inner() -> Vec<u8> { vec![1] } }\n\
               trait T { fn d(&self) -> Box<u8> { Box::new(1) } }";
    let paths: Vec<String> = find(src).into_iter().map(|f| f.function).collect();
    assert_eq!(paths, ["Cache::put", "m::g", "outer::inner", "T::d"]);
}

#[test]
fn loop_flag_on_every_kind() {
    let src = "fn f(out: &mut Vec<Box<u8>>) { for i in 0..3 { out.push(Box::new(i)); let t = vec![i]; t.len(); } }";
    let f = find(src);
    assert_eq!(f.len(), 2);
    assert!(f.iter().all(|x| x.in_loop));
    assert_eq!(f[0].kind, Kind::Escapes);
    assert_eq!(f[1].kind, Kind::DoesNotEscape);
    assert_eq!(f[1].reason, "allocated in a loop");
}

#[test]
fn moved_to_heap_names_the_value_and_its_type() {
    let f = find("fn f() -> Box<Point> {\n    let p = Point { x: 1 };\n    Box::new(p)\n}");
    assert_eq!(f[0].kind, Kind::MovedToHeap);
    assert_eq!((f[0].line, f[0].column), (2, 9));
    assert_eq!(f[0].expr, "p");
    assert_eq!(f[0].ty.as_deref(), Some("Point"));
    assert_eq!(
        f[0].reason,
        "moved into an allocation that escapes to heap: returned"
    );
    assert_eq!(
        f[0].flow,
        [
            "from p (assigned) at 2:9",
            "from Box::new(p) (moved into) at 3:5",
            "contained in Box::new(p) at 3:5",
            "from return at 3:5",
        ]
    );
}

#[test]
fn flows_follow_the_value() {
    let src = "fn f(out: &mut Vec<String>) {\n    let s = format!(\"x\");\n    let t = s;\n    out.push(t);\n}";
    let f = find(src);
    assert_eq!(f[0].reason, "stored in out");
    assert_eq!(
        f[0].flow,
        [
            "from s (assigned) at 2:9",
            "from t (assigned) at 3:9",
            "from out.push(..) (element) at 4:9"
        ]
    );
}

#[test]
fn unknown_call_flow_names_the_callee() {
    let f = find("fn f() {\n    let b = Box::new(1);\n    sink(b);\n}");
    assert_eq!(f[0].kind, Kind::MayEscape);
    assert_eq!(f[0].reason, "passed to sink");
    assert_eq!(
        f[0].flow.last().map(String::as_str),
        Some("from sink(..) (call parameter) at 3:5")
    );
}

#[test]
fn analyze_fn_works_on_a_parsed_item() {
    let item: syn::ItemFn =
        syn::parse_str("fn hot(n: usize) -> usize {\n    let v = vec![0u8; n];\n    v.len()\n}")
            .unwrap();
    let f = analyze_fn(&item, "src/hot.rs");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].file, "src/hot.rs");
    assert_eq!(f[0].function, "hot");
    assert_eq!((f[0].line, f[0].column), (2, 13));
    assert_eq!(f[0].kind, Kind::DoesNotEscape);
}

#[test]
fn analyze_fn_without_file_context_says_may_escape_for_unknown_methods() {
    // Without the file, `describe` could take `self` by value; with it, it borrows.
    let src = "struct S; impl S { fn describe(&self) -> usize { 1 } }\n\
               fn f() -> usize { let b = Box::new(S); b.describe() }";
    let file = find(src);
    assert_eq!(file[0].kind, Kind::DoesNotEscape);
    let item: syn::ItemFn =
        syn::parse_str("fn f() -> usize { let b = Box::new(S); b.describe() }").unwrap();
    assert_eq!(analyze_fn(&item, "x.rs")[0].kind, Kind::MayEscape);
}

#[test]
fn never_does_not_escape_when_returned_stored_or_sent() {
    let srcs = [
        "fn f() -> Vec<u8> { let v = vec![1]; let w = (v, 1); w.0 }",
        "fn f(o: &mut Vec<Vec<u8>>) { let v = vec![1]; let r = &mut *o; r.push(v); }",
        "fn f() -> Box<u8> { let b = Box::new(1); let c = Some(b); c.unwrap() }",
        "fn f() -> Vec<u8> { let mut v = None; v = Some(vec![1]); v.unwrap() }",
        "fn f(tx: Sender<String>) { let s = String::from(\"a\"); let t = s; tx.send(t).ok(); }",
    ];
    for src in srcs {
        for finding in find(src) {
            assert_ne!(finding.kind, Kind::DoesNotEscape, "{src}: {finding:?}");
        }
    }
}

#[test]
fn no_escape_marks_gated_functions_only() {
    let src = r#"
#[track_alloc(no_escape)]
fn hot(n: usize) -> Vec<u8> { Vec::with_capacity(n) }
fn cold(n: usize) -> Vec<u8> { Vec::with_capacity(n) }
struct S;
#[spanprof::track_alloc(name = "S", no_escape)]
impl S {
    fn make(&self) -> Box<u8> { Box::new(1) }
}
#[cfg_attr(feature = "heap-profile", spanprof::track_alloc(no_escape))]
fn featured(n: usize) -> Vec<u8> { Vec::with_capacity(n) }
#[cfg_attr(all(unix, feature = "p"), inline, cfg_attr(test, track_alloc(warn, no_escape)))]
fn nested(n: usize) -> Vec<u8> { Vec::with_capacity(n) }
#[cfg_attr(feature = "heap-profile", spanprof::track_alloc)]
fn featured_plain(n: usize) -> Vec<u8> { Vec::with_capacity(n) }
#[cfg_attr(no_escape, inline)]
fn predicate_only(n: usize) -> Vec<u8> { Vec::with_capacity(n) }
trait T {
    #[spanprof::track_alloc(no_escape)]
    fn provided(&self) -> Vec<u8> { vec![2] }
    fn plain(&self) -> Vec<u8> { vec![3] }
}
"#;
    let findings = spanprof_escape::analyze_file(src, "gate.rs").unwrap();
    let gated: Vec<_> = findings
        .iter()
        .filter(|f| f.gated)
        .map(|f| f.function.as_str())
        .collect();
    assert_eq!(
        gated,
        ["hot", "S::make", "featured", "nested", "T::provided"]
    );
    // The gate is not part of the JSON form.
    assert!(!spanprof_escape::render_json(&findings).contains("gated"));
}

#[test]
fn a_finding_is_one_line_whatever_the_expression_holds() {
    let src = "fn f() -> Vec<String> {\n    vec![format!(\"a long message that goes \\\n        on over two lines {}\", 1), String::from(\"second\nline\")]\n}\nfn g() -> String {\n    String::from(\"a\\\n  b\")\n}\n";
    let findings = spanprof_escape::analyze_file(src, "lines.rs").unwrap();
    assert!(!findings.is_empty());
    let text = spanprof_escape::render_text(&findings, false);
    for line in text.lines() {
        assert!(line.starts_with("lines.rs:"), "{line:?} in\n{text}");
    }
    assert_eq!(text.lines().count(), findings.len(), "{text}");
}
