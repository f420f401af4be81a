//! Bad input never panics; unparseable files are one error naming the file; unknown
//! macros are skipped; JSON has exactly the documented keys.

use spanprof_escape::{Kind, analyze_file, analyze_path, render_json, render_text};

#[test]
fn unparseable_source_is_one_error_naming_the_file() {
    let err = analyze_file("fn broken( { let x = ; }", "src/broken.rs").unwrap_err();
    assert_eq!(err.file, "src/broken.rs");
    assert!(err.line >= 1, "{err}");
    let text = err.to_string();
    assert!(text.starts_with("src/broken.rs:1:"), "{text}");
    assert!(text.contains("cannot parse"), "{text}");
}

#[test]
fn odd_inputs_never_panic() {
    let inputs = [
        "",
        "\u{0}",
        "fn",
        "fn f() {",
        "}}}}",
        "fn f() -> { }",
        "impl { fn }",
        "fn f() { let = 1; }",
        "fn f() { unknown_macro!(@@@ ;;; [[ ]] ); weird!{ } }",
        "fn f() { vec![;]; format!(); println!(,); write!(); dbg!(); }",
        "fn f() { let x = || || || || 1; x()()()() }",
        "fn f() { loop { loop { loop { break 'a; } } } }",
        "#![allow(x)] mod m { mod n { fn g<'a>(x: &'a &'a &'a str) -> &'a str { x } } }",
        "fn f(self) {}",
        "fn f() { static X: i32 = 1; X = Box::new(1); }",
        "fn f() { let (a, b) = Box::new((1, 2)); *a = 3; b.0.1.2 = vec![]; }",
        "extern \"C\" { fn g(); }",
        "fn f() -> impl Iterator<Item = Box<u8>> { (0..3).map(|i| Box::new(i)) }",
    ];
    for src in inputs {
        // Either findings or an error; what matters is that it returns.
        match analyze_file(src, "odd.rs") {
            Ok(f) => {
                render_text(&f, true);
                render_json(&f);
            }
            Err(e) => assert_eq!(e.file, "odd.rs"),
        }
    }
}

#[test]
fn unknown_macros_are_skipped() {
    let src = "fn f() -> Vec<u8> { my_macro!(Box::new(1), 2 3 4); let w = vec![3u8]; w }";
    let found = analyze_file(src, "m.rs").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].expr, "vec![..]");
    assert_eq!(found[0].kind, Kind::Escapes);
}

#[test]
fn json_has_exactly_the_listed_keys() {
    let src = "fn small_allocation() -> Box<SmallStruct> {\n    Box::new(SmallStruct { a: 1, b: 2, c: 3.0, d: 4.0 })\n}\n";
    let found = analyze_file(src, "src/main.rs").unwrap();
    let json: serde_json::Value = serde_json::from_str(&render_json(&found)).unwrap();
    let arr = json.as_array().unwrap();
    assert_eq!(arr.len(), 1);
    let obj = arr[0].as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "column", "expr", "file", "flow", "function", "in_loop", "kind", "line", "reason",
            "type"
        ]
    );
    assert_eq!(obj["kind"], "escapes");
    assert_eq!(obj["reason"], "returned");
    assert_eq!(obj["type"], "SmallStruct");
    assert_eq!(obj["line"], 2);
    assert_eq!(obj["column"], 5);
    assert_eq!(obj["function"], "small_allocation");
    assert_eq!(obj["in_loop"], false);
    assert_eq!(obj["flow"], serde_json::json!(["from return at 2:5"]));
    // And it reads back.
    let back: Vec<spanprof_escape::Finding> = serde_json::from_value(json).unwrap();
    assert_eq!(back, found);
}

#[test]
fn kinds_serialise_in_snake_case() {
    let src = "fn f() -> &'static [u8] { let v = vec![1u8]; let w = Vec::with_capacity(2); consume(w); v.leak() }\nfn g(p: &str) -> &str { p }";
    let json = render_json(&analyze_file(src, "k.rs").unwrap());
    for kind in ["\"leaks\"", "\"may_escape\"", "\"leaking_param\""] {
        assert!(json.contains(kind), "{kind} missing in {json}");
    }
    assert!(json.contains("\"type\": null"), "{json}");
}

#[test]
fn analyze_path_reports_bad_files_and_analyses_the_rest() {
    let dir = std::env::temp_dir().join(format!("spanprof-escape-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join("target/debug")).unwrap();
    std::fs::write(
        dir.join("src/good.rs"),
        "fn f() -> Box<u8> { Box::new(1u8) }\n",
    )
    .unwrap();
    std::fs::write(dir.join("src/bad.rs"), "fn f( {\n").unwrap();
    std::fs::write(dir.join("target/debug/gen.rs"), "fn g( {\n").unwrap();
    let (found, errors) = analyze_path(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 1);
    assert!(found[0].file.ends_with("good.rs"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].file.ends_with("bad.rs"));
}

#[test]
fn verbose_text_shows_the_flow() {
    let src = "fn f() -> Vec<u8> {\n    let v = vec![1u8];\n    let w = v;\n    w\n}\n";
    let text = render_text(&analyze_file(src, "v.rs").unwrap(), true);
    assert_eq!(
        text,
        "v.rs:2:13: vec![..] escapes to heap: returned\n\
         v.rs:2:13:   type u8\n\
         v.rs:2:13:   from v (assigned) at 2:9\n\
         v.rs:2:13:   from w (assigned) at 3:9\n\
         v.rs:2:13:   from return at 4:5\n"
    );
}

#[path = "common/gen.rs"]
mod generated;

/// A fresh folder for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("spanprof-escape-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn deep_nesting_is_a_per_file_error_and_the_other_files_still_report() {
    let dir = scratch("deep");
    std::fs::write(dir.join("good.rs"), "fn f() -> Box<u8> { Box::new(1u8) }\n").unwrap();
    std::fs::write(dir.join("parens.rs"), generated::nested_parens(100_000)).unwrap();
    std::fs::write(dir.join("blocks.rs"), generated::nested_blocks(50_000)).unwrap();
    std::fs::write(dir.join("chain.rs"), generated::method_chain(30_000)).unwrap();
    let sum = format!("fn f() -> u32 {{ 1{} }}\n", " + 1".repeat(50_000));
    std::fs::write(dir.join("sum.rs"), sum).unwrap();
    // No bracket nests here, but the tree is 200,000 deep.
    let index = format!("fn f() {{ x{}; }}\n", "[0]".repeat(200_000));
    std::fs::write(dir.join("index.rs"), index).unwrap();
    let (found, errors) = analyze_path(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].file.ends_with("good.rs"));
    let mut failed: Vec<&str> = errors
        .iter()
        .map(|e| e.file.rsplit('/').next().unwrap())
        .collect();
    failed.sort_unstable();
    assert_eq!(
        failed,
        ["blocks.rs", "chain.rs", "index.rs", "parens.rs", "sum.rs"],
        "{errors:?}"
    );
    for e in &errors {
        assert!(e.message.contains("nested too deeply"), "{e}");
        assert!(e.line >= 1, "{e}");
    }
}

#[test]
fn nesting_as_deep_as_once_crashed_is_analysed() {
    // About 1,500 nested blocks or 2,000 nested parentheses used to overflow the stack.
    let blocks = analyze_file(&generated::nested_blocks(1_500), "blocks.rs").unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].kind, Kind::Escapes);
    analyze_file(&generated::nested_parens(2_000), "parens.rs").unwrap();
}

#[test]
fn sixty_nested_loops_and_a_2000_call_chain_finish() {
    // Once 2^levels walks (60 levels never finished) and quadratic in the chain.
    let loops = analyze_file(&generated::nested_loops(60), "loops.rs").unwrap();
    assert_eq!(loops.len(), 60);
    assert!(
        loops
            .iter()
            .all(|f| f.kind == Kind::DoesNotEscape && f.in_loop)
    );
    let chain = analyze_file(&generated::method_chain(2_000), "chain.rs").unwrap();
    assert!(
        chain
            .iter()
            .any(|f| f.expr.ends_with(".collect()") && f.kind == Kind::Escapes),
        "{chain:?}"
    );
}

#[test]
fn a_value_carried_through_three_loop_iterations_escapes() {
    // Walking a loop body twice saw `a` reach `b` but not `c`: the loop runs until the
    // state at its head settles.
    let src = "fn f(n: usize) -> Vec<u8> {\n    let mut a = Vec::new();\n    let mut b = Vec::new();\n    let mut c = Vec::new();\n    for _ in 0..n {\n        c = b;\n        b = a;\n        a = vec![1u8];\n    }\n    c\n}\n";
    let found = analyze_file(src, "carry.rs").unwrap();
    let v = found.iter().find(|f| f.expr == "vec![..]").unwrap();
    assert_eq!(v.kind, Kind::Escapes, "{found:?}");
}

#[cfg(unix)]
#[test]
fn a_directory_symlink_to_itself_reads_each_file_once() {
    let dir = scratch("selflink");
    std::fs::create_dir_all(dir.join("src/inner")).unwrap();
    std::fs::write(
        dir.join("src/a.rs"),
        "fn a() -> Box<u8> { Box::new(1u8) }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("src/inner/b.rs"),
        "fn b() -> Box<u8> { Box::new(2u8) }\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(".", dir.join("src/again")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("src/inner/up")).unwrap();
    let (found, errors) = analyze_path(dir.join("src"));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let mut files: Vec<&str> = found.iter().map(|f| f.file.as_str()).collect();
    files.sort_unstable();
    let base = dir.join("src").display().to_string();
    assert_eq!(
        files,
        [format!("{base}/a.rs"), format!("{base}/inner/b.rs")]
    );
}

#[cfg(unix)]
#[test]
fn two_directory_symlinks_in_a_cycle_end_and_read_each_file_once() {
    let dir = scratch("twolinks");
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::create_dir_all(dir.join("b")).unwrap();
    std::fs::write(dir.join("a/x.rs"), "fn x() {}\n").unwrap();
    std::fs::write(dir.join("b/y.rs"), "fn y() {}\n").unwrap();
    std::os::unix::fs::symlink("../b", dir.join("a/to_b")).unwrap();
    std::os::unix::fs::symlink("../a", dir.join("b/to_a")).unwrap();
    // And a link to a folder outside the tree, which is read (once) through the link.
    let outside = scratch("twolinks-outside");
    std::fs::write(outside.join("z.rs"), "fn z() {}\n").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("a/ext")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("b/ext")).unwrap();
    let (files, errors) = spanprof_escape::rust_files(std::slice::from_ref(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&outside).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let rel: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    assert_eq!(rel, ["a/ext/z.rs", "a/x.rs", "b/y.rs"]);
}
