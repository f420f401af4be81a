//! Generated sources for the robustness tests and the bench (profiler-cli/examples/escape_bench.rs):
//! the shapes that once made the analysis exponential, quadratic or overflow its stack.
#![allow(dead_code)]

use std::fmt::Write as _;

/// `n` nested `for` loops, each allocating.
pub fn nested_loops(n: usize) -> String {
    let mut s = String::from("fn f(n: usize) -> usize {\n    let mut total = 0;\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "for i{i} in 0..n {{ let v{i} = vec![i{i}]; total += v{i}.len();"
        );
    }
    s.push_str(&"}".repeat(n));
    s.push_str("\n    total\n}\n");
    s
}

/// One expression of `n` chained method calls.
pub fn method_chain(n: usize) -> String {
    let mut s = String::from("fn f(v: &[u32]) -> Vec<String> {\n    v.iter()\n");
    for i in 0..n {
        let _ = writeln!(s, "        .map(|x| x + {i})");
    }
    s.push_str("        .map(|x| x.to_string())\n        .collect()\n}\n");
    s
}

/// A block nested `n` deep around an allocation.
pub fn nested_blocks(n: usize) -> String {
    format!(
        "fn f() -> Vec<u8> {{\n{} vec![1u8] {}\n}}\n",
        "{".repeat(n),
        "}".repeat(n)
    )
}

/// An expression in `n` nested parentheses.
pub fn nested_parens(n: usize) -> String {
    format!(
        "fn f() -> u32 {{\n{}1{}\n}}\n",
        "(".repeat(n),
        ")".repeat(n)
    )
}

/// About `size` bytes of ordinary functions (loops, matches, closures, allocations).
pub fn big_file(size: usize) -> String {
    let mut s = String::with_capacity(size + 2048);
    let mut i = 0;
    while s.len() < size {
        let _ = write!(
            s,
            r#"
pub fn work_{i}(items: &[String], out: &mut Vec<String>, n: usize) -> Result<Vec<u8>, String> {{
    let mut buf = Vec::with_capacity(n);
    let mut names: Vec<String> = Vec::new();
    for (k, item) in items.iter().enumerate() {{
        if item.is_empty() {{
            continue;
        }}
        let upper = item.to_uppercase();
        let label = format!("{{}}-{{}}", k, upper);
        match label.len() {{
            0 => return Err("empty".to_string()),
            1..=3 => names.push(label.clone()),
            _ => out.push(label),
        }}
        while buf.len() < k {{
            buf.push(k as u8);
        }}
    }}
    let joined: Vec<String> = names.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    let boxed = Box::new(joined.len());
    if *boxed > {i} {{
        out.extend(joined);
    }}
    let cb = move || buf.len() + n;
    let total = cb();
    Ok(vec![total as u8; 4])
}}
"#
        );
        i += 1;
    }
    s
}

/// One function of `n` groups of statements: many bindings and many branches in one
/// body (the environment is as large as the function).
pub fn one_function(n: usize) -> String {
    let mut s = String::from("fn huge(out: &mut Vec<Vec<u32>>) {\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "    let v{i} = vec![{i}u32];\n    if v{i}.len() > {i} {{ out.push(v{i}.clone()); }}\n    let s{i} = format!(\"{{}}\", v{i}.len());"
        );
    }
    s.push_str("}\n");
    s
}
