//! Short texts for the report: positions, abbreviated expressions (`Box::new(T { .. })`)
//! and compact type names. Go prints the expression it talks about; long Rust
//! expressions are abbreviated with `..` so one finding stays one line.

use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{Expr, Path};

/// 1-based (line, column) of the first token of `node`.
pub(crate) fn pos<T: Spanned>(node: &T) -> (u32, u32) {
    let start = node.span().start();
    (to_u32(start.line), to_u32(start.column) + 1)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `line:col` as used in flow steps.
pub(crate) fn at(p: (u32, u32)) -> String {
    format!("{}:{}", p.0, p.1)
}

/// Tokens printed without the spaces `TokenStream::to_string` puts everywhere.
pub(crate) fn tokens<T: ToTokens>(node: &T) -> String {
    tidy(&node.to_token_stream().to_string())
}

fn tidy(s: &str) -> String {
    let mut out = s.to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" ::", "::"),
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
        ("' ", "'"),
        (" (", "("),
        ("( ", "("),
        (" )", ")"),
        (" [", "["),
        ("[ ", "["),
        (" ]", "]"),
        (" ;", ";"),
        (" .", "."),
        (". ", "."),
        (" !", "!"),
        (" ?", "?"),
    ] {
        out = out.replace(from, to);
    }
    out
}

/// A path as written: `std::boxed::Box::new`, generic arguments kept (`Vec::<u8>::new`).
pub(crate) fn path(p: &Path) -> String {
    tokens(p)
}

/// The path's last segment names, without generics: `["Box", "new"]` for `std::boxed::Box::<T>::new`.
pub(crate) fn segments(p: &Path) -> Vec<String> {
    p.segments.iter().map(|s| s.ident.to_string()).collect()
}

/// The expression abbreviated for a report line: always one line, so every finding
/// stays one `file:line:col: message` line for grep and `--check`.
pub(crate) fn short(e: &Expr) -> String {
    let s = short_depth(e, 0);
    if s.contains(['\n', '\r']) {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        s
    }
}

/// A literal as written, or `".."` for a long or multi-line string literal.
fn literal(l: &syn::ExprLit) -> String {
    let t = tokens(l);
    if matches!(l.lit, syn::Lit::Str(_) | syn::Lit::ByteStr(_))
        && (t.len() > 32 || t.contains('\n'))
    {
        let prefix = if t.starts_with('b') { "b" } else { "" };
        format!("{prefix}\"..\"")
    } else {
        t
    }
}

fn short_depth(e: &Expr, depth: usize) -> String {
    if depth > 4 {
        return "..".into();
    }
    match e {
        Expr::Path(p) => path(&p.path),
        Expr::Lit(l) => literal(l),
        Expr::Field(f) => format!("{}.{}", short_depth(&f.base, depth + 1), tokens(&f.member)),
        Expr::Paren(p) => format!("({})", short_depth(&p.expr, depth + 1)),
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => {
            format!("*{}", short_depth(&u.expr, depth + 1))
        }
        Expr::Reference(r) => {
            let m = if r.mutability.is_some() { "&mut " } else { "&" };
            format!("{m}{}", short_depth(&r.expr, depth + 1))
        }
        Expr::Struct(s) => format!("{} {{ .. }}", path(&s.path)),
        Expr::Call(c) => format!(
            "{}({})",
            short_depth(&c.func, depth + 1),
            args(c.args.iter(), depth)
        ),
        Expr::MethodCall(m) => {
            let turbofish = m.turbofish.as_ref().map(tokens).unwrap_or_default();
            let recv = short_depth(&m.receiver, depth + 1);
            let a = if m.args.is_empty() { "" } else { ".." };
            format!("{recv}.{}{turbofish}({a})", m.method)
        }
        Expr::Macro(m) => format!("{}!(..)", path(&m.mac.path)).replace("vec!(..)", "vec![..]"),
        Expr::Closure(_) => "|..| ..".into(),
        Expr::Async(_) => "async { .. }".into(),
        Expr::Tuple(t) if t.elems.is_empty() => "()".into(),
        Expr::Array(_) => "[..]".into(),
        Expr::Tuple(_) => "(..)".into(),
        _ => "..".into(),
    }
}

fn args<'a>(items: impl Iterator<Item = &'a Expr>, depth: usize) -> String {
    let parts: Vec<String> = items
        .map(|a| match a {
            Expr::Path(_) | Expr::Lit(_) | Expr::Struct(_) => short_depth(a, depth + 1),
            Expr::Reference(r) if matches!(&*r.expr, Expr::Path(_) | Expr::Lit(_)) => {
                short_depth(a, depth + 1)
            }
            _ => "..".into(),
        })
        .collect();
    let joined = parts.join(", ");
    if joined.len() > 40 {
        "..".into()
    } else {
        joined
    }
}
