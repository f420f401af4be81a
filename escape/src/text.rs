//! Short texts for the report: positions, abbreviated expressions (`Box::new(T { .. })`)
//! and compact type names. Go prints the expression it talks about; long Rust
//! expressions are abbreviated with `..` so one finding stays one line.

use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{AttrStyle, Attribute, Expr, ExprCall, ExprClosure, ExprMethodCall, Label, Path};

/// 1-based (line, column) of the first token of `node`.
pub(crate) fn pos<T: Spanned>(node: &T) -> (u32, u32) {
    let start = node.span().start();
    (to_u32(start.line), to_u32(start.column) + 1)
}

/// `pos(e)` found without printing `e`: `pos` prints a node to tokens to find its
/// first one, which costs the whole node (a closure's body, the chain before a call),
/// so calling it at each level of a deep expression is quadratic. This walks down the
/// leftmost part instead (outer attributes come first, as the printer puts them).
pub(crate) fn start(e: &Expr) -> (u32, u32) {
    let mut cur = e;
    loop {
        let (attrs, next): (&[Attribute], Result<&Expr, (u32, u32)>) = match cur {
            Expr::MethodCall(m) => (&m.attrs, Ok(&m.receiver)),
            Expr::Call(c) => (&c.attrs, Ok(&c.func)),
            Expr::Binary(b) => (&b.attrs, Ok(&b.left)),
            Expr::Field(f) => (&f.attrs, Ok(&f.base)),
            Expr::Index(i) => (&i.attrs, Ok(&i.expr)),
            Expr::Try(t) => (&t.attrs, Ok(&t.expr)),
            Expr::Await(a) => (&a.attrs, Ok(&a.base)),
            Expr::Cast(c) => (&c.attrs, Ok(&c.expr)),
            Expr::Assign(a) => (&a.attrs, Ok(&a.left)),
            Expr::Closure(c) => (&c.attrs, Err(closure_start(c))),
            Expr::Async(a) => (&a.attrs, Err(pos(&a.async_token))),
            Expr::Return(r) => (&r.attrs, Err(pos(&r.return_token))),
            Expr::Macro(m) => (&m.attrs, Err(pos(&m.mac.path))),
            Expr::If(i) => (&i.attrs, Err(pos(&i.if_token))),
            Expr::Match(m) => (&m.attrs, Err(pos(&m.match_token))),
            Expr::Unsafe(u) => (&u.attrs, Err(pos(&u.unsafe_token))),
            Expr::Loop(l) => (&l.attrs, Err(label_or(&l.label, pos(&l.loop_token)))),
            Expr::While(w) => (&w.attrs, Err(label_or(&w.label, pos(&w.while_token)))),
            Expr::ForLoop(f) => (&f.attrs, Err(label_or(&f.label, pos(&f.for_token)))),
            Expr::Block(b) => (
                &b.attrs,
                Err(label_or(
                    &b.label,
                    pos_of_span(b.block.brace_token.span.open()),
                )),
            ),
            other => return pos(other),
        };
        if let Some(a) = attrs.iter().find(|a| matches!(a.style, AttrStyle::Outer)) {
            return pos(&a.pound_token);
        }
        match next {
            Ok(e) => cur = e,
            Err(p) => return p,
        }
    }
}

/// `start` of a call.
pub(crate) fn call_start(c: &ExprCall) -> (u32, u32) {
    match c.attrs.iter().find(|a| matches!(a.style, AttrStyle::Outer)) {
        Some(a) => pos(&a.pound_token),
        None => start(&c.func),
    }
}

/// The first token of a closure after its attributes, in the printer's order.
fn closure_start(c: &ExprClosure) -> (u32, u32) {
    if let Some(l) = &c.lifetimes {
        pos(&l.for_token)
    } else if let Some(t) = &c.constness {
        pos(t)
    } else if let Some(t) = &c.asyncness {
        pos(t)
    } else if let Some(t) = &c.capture {
        pos(t)
    } else {
        pos(&c.inputs_begin)
    }
}

fn label_or(label: &Option<Label>, p: (u32, u32)) -> (u32, u32) {
    label.as_ref().map_or(p, |l| pos(&l.name))
}

fn pos_of_span(span: proc_macro2::Span) -> (u32, u32) {
    let start = span.start();
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
    // One pass (this runs for every expression a report line may name, so its cost
    // matters). The printer puts one space between tokens, so each space is judged by
    // its neighbours alone: it goes after `::`, `<`, `&`, `'`, `(`, `[`, `.` and before
    // `::`, `<`, `>`, `,`, `(`, `)`, `[`, `]`, `;`, `.`, `!`, `?`.
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut kept = 0;
    for i in 0..b.len() {
        if b[i] != b' ' {
            continue;
        }
        let before = &b[..i];
        let after = &b[i + 1..];
        let drop = before.ends_with(b"::")
            || matches!(
                before.last(),
                Some(b'<' | b'&' | b'\'' | b'(' | b'[' | b'.')
            )
            || after.starts_with(b"::")
            || matches!(
                after.first(),
                Some(b'<' | b'>' | b',' | b'(' | b')' | b'[' | b']' | b';' | b'.' | b'!' | b'?')
            );
        if drop {
            out.push_str(&s[kept..i]);
            kept = i + 1;
        }
    }
    out.push_str(&s[kept..]);
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
    one_line(short_depth(e, 0))
}

/// `short` of the call `c`, without building an `Expr` around it (cloning the call
/// would copy all of it, its closures' bodies and the chain before it, at every call).
pub(crate) fn short_call(c: &ExprCall) -> String {
    one_line(call_text(c, 0))
}

/// `short` of the method call `m`, without cloning it into an `Expr`.
pub(crate) fn short_method_call(m: &ExprMethodCall) -> String {
    one_line(method_call_text(m, 0))
}

fn one_line(s: String) -> String {
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
        Expr::Call(c) => call_text(c, depth),
        Expr::MethodCall(m) => method_call_text(m, depth),
        Expr::Macro(m) => format!("{}!(..)", path(&m.mac.path)).replace("vec!(..)", "vec![..]"),
        Expr::Closure(_) => "|..| ..".into(),
        Expr::Async(_) => "async { .. }".into(),
        Expr::Tuple(t) if t.elems.is_empty() => "()".into(),
        Expr::Array(_) => "[..]".into(),
        Expr::Tuple(_) => "(..)".into(),
        _ => "..".into(),
    }
}

fn call_text(c: &ExprCall, depth: usize) -> String {
    format!(
        "{}({})",
        short_depth(&c.func, depth + 1),
        args(c.args.iter(), depth)
    )
}

fn method_call_text(m: &ExprMethodCall, depth: usize) -> String {
    let turbofish = m.turbofish.as_ref().map(tokens).unwrap_or_default();
    let recv = short_depth(&m.receiver, depth + 1);
    let a = if m.args.is_empty() { "" } else { ".." };
    format!("{recv}.{}{turbofish}({a})", m.method)
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
