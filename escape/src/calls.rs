//! Calls, method calls and macros: where most values are created, stored, handed to
//! other threads, leaked, or passed where the analysis cannot follow.

use crate::env::Val;
use crate::finding::Kind;
use crate::flow::Analyzer;
use crate::sites::{
    CallClass, MacroClass, MethodClass, SiteKind, classify_call, classify_macro, classify_method,
    grows, type_of_collect, type_of_turbofish, type_of_value,
};
use crate::text::{at, call_start, path, pos, short, short_call, short_method_call, start};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprCall, ExprMethodCall, Macro, Token};

impl Analyzer<'_> {
    /// `f(args)`.
    pub fn call(&mut self, c: &ExprCall) -> Val {
        let Expr::Path(fp) = &*c.func else {
            self.borrowed(&c.func);
            let callee = short(&c.func);
            // The position walks down to the callee's start: only when an argument may
            // need it, or `f()()()..` costs the square of its length.
            let p = if c.args.is_empty() {
                (0, 0)
            } else {
                call_start(c)
            };
            self.unknown_args(c.args.iter(), &callee, p);
            return Val::default();
        };
        let p = call_start(c);
        let callee = path(&fp.path);
        // Calling a local closure gives what the closure returns.
        if let Some(id) = fp.path.get_ident()
            && let Some((_, b)) = self.env.lookup(&id.to_string())
        {
            let result = Val {
                sites: b.val.sites.clone(),
                ..Val::default()
            };
            self.unknown_args(c.args.iter(), &callee, p);
            return result;
        }
        match classify_call(&fp.path) {
            CallClass::Alloc(kind) => {
                let contents = self.all_args(c.args.iter());
                let ty = type_of_turbofish(&fp.path)
                    .or_else(|| c.args.first().and_then(element_type_hint))
                    .or_else(|| {
                        (fp.path
                            .segments
                            .first()
                            .is_some_and(|s| s.ident == "String"))
                        .then(|| "u8".into())
                    });
                self.alloc(p, short_call(c), kind, ty, &contents)
            }
            CallClass::Empty => {
                let text = short_call(c);
                let is_string = text.starts_with("String");
                let id = self.site(p, text, SiteKind::Collection);
                if let Some(site) = self.sites.get_mut(id)
                    && site.grown.is_none()
                {
                    site.pending = true;
                    if site.ty.is_none() {
                        site.ty =
                            type_of_turbofish(&fp.path).or_else(|| is_string.then(|| "u8".into()));
                    }
                }
                Val::one(id)
            }
            CallClass::Drop => {
                self.all_args(c.args.iter());
                Val::default()
            }
            CallClass::Leak(how) => {
                let v = self.all_args(c.args.iter());
                self.sink(
                    &v,
                    Kind::Leaks,
                    how,
                    &format!("from {callee}(..) at {}", at(p)),
                    false,
                );
                v
            }
            CallClass::Spawn(what) => {
                let v = self.all_args(c.args.iter()).flattened();
                let step = format!("from {callee}(..) (spawned) at {}", at(p));
                self.sink(
                    &v,
                    Kind::Escapes,
                    &format!("captured by a spawned {what}"),
                    &step,
                    false,
                );
                Val::default()
            }
            CallClass::Scope => {
                let v = self.all_args(c.args.iter());
                Val {
                    sites: v.sites,
                    ..Val::default()
                }
            }
            CallClass::Flow => {
                let mut v = Val::default();
                for a in &c.args {
                    v.union(&self.through_ref(a));
                }
                v
            }
            CallClass::SharedClone => {
                let v = c
                    .args
                    .first()
                    .map(|a| self.through_ref(a))
                    .unwrap_or_default();
                self.shared_only(&v)
            }
            CallClass::Constructor => self.all_args(c.args.iter()),
            CallClass::Unknown => {
                self.unknown_args(c.args.iter(), &callee, p);
                Val::default()
            }
        }
    }

    fn all_args<'e>(&mut self, args: impl Iterator<Item = &'e Expr>) -> Val {
        let mut v = Val::default();
        for a in args {
            v.union(&self.expr(a));
        }
        v
    }

    /// Arguments of a call the analysis cannot see through: a value passed by value may escape.
    fn unknown_args<'e>(
        &mut self,
        args: impl Iterator<Item = &'e Expr>,
        callee: &str,
        p: (u32, u32),
    ) {
        for a in args {
            let v = self.expr(a);
            if !v.is_empty() {
                let step = format!("from {callee}(..) (call parameter) at {}", at(p));
                self.sink(
                    &v,
                    Kind::MayEscape,
                    &format!("passed to {callee}"),
                    &step,
                    false,
                );
            }
        }
    }

    /// The value behind `&mut x` for calls that move out of it (`mem::take(&mut x)`).
    fn through_ref(&mut self, a: &Expr) -> Val {
        match a {
            Expr::Reference(r) => self.expr(&r.expr),
            other => self.expr(other),
        }
    }

    fn shared_only(&self, v: &Val) -> Val {
        let mut out = Val::default();
        for s in v.all() {
            if self
                .sites
                .get(s)
                .is_some_and(|x| x.kind == SiteKind::Shared)
            {
                out.sites.insert(s);
            }
        }
        out
    }

    /// A new allocation holding `contents`.
    fn alloc(
        &mut self,
        p: (u32, u32),
        text: String,
        kind: SiteKind,
        ty: Option<String>,
        contents: &Val,
    ) -> Val {
        let step = format!("from {text} (moved into) at {}", at(p));
        let id = self.site(p, text, kind);
        if let Some(site) = self.sites.get_mut(id)
            && site.ty.is_none()
        {
            site.ty = ty;
        }
        self.contain(id, contents, &step);
        Val::one(id)
    }

    /// `recv.m(args)`.
    pub fn method_call(&mut self, m: &ExprMethodCall) -> Val {
        let name = m.method.to_string();
        let p = pos(&m.method);
        // Texts are built only where a site or an event needs them: most calls need none.
        let text = || short_method_call(m);
        let mut class = classify_method(&name);
        if class == MethodClass::Unknown && self.by_ref_methods.contains(&name) {
            class = MethodClass::Borrow;
        }
        let callee = || format!("{}.{name}", short(&m.receiver));
        match class {
            MethodClass::AllocFromRef => {
                self.borrowed(&m.receiver);
                self.borrowed_args(m);
                let ty = (name == "to_string").then(|| "u8".to_string());
                self.alloc(p, text(), SiteKind::Collection, ty, &Val::default())
            }
            MethodClass::AllocFromValue => {
                let recv = self.expr(&m.receiver);
                self.borrowed_args(m);
                let ty = m.turbofish.as_ref().and_then(type_of_collect);
                self.alloc(p, text(), SiteKind::Collection, ty, &recv)
            }
            MethodClass::Leak => {
                let v = self.expr(&m.receiver);
                self.borrowed_args(m);
                self.sink(
                    &v,
                    Kind::Leaks,
                    &format!(".{name}()"),
                    &format!("from {} at {}", text(), at(p)),
                    false,
                );
                v
            }
            MethodClass::Spawn => {
                self.borrowed(&m.receiver);
                for a in &m.args {
                    let what = if matches!(a, Expr::Async(_)) {
                        "task"
                    } else {
                        "thread"
                    };
                    let v = self.expr(a).flattened();
                    let step = format!("from {}(..) (spawned) at {}", callee(), at(p));
                    self.sink(
                        &v,
                        Kind::Escapes,
                        &format!("captured by a spawned {what}"),
                        &step,
                        false,
                    );
                }
                Val::default()
            }
            MethodClass::Store => {
                self.borrowed(&m.receiver);
                let v = self.all_args(m.args.iter());
                if grows(&name) {
                    self.grow(&m.receiver, p.0);
                }
                let place = self.place_of(&m.receiver);
                self.store(
                    &place,
                    &v,
                    &format!("from {} (element) at {}", text(), at(p)),
                    &callee(),
                );
                Val::default()
            }
            MethodClass::Send => {
                self.borrowed(&m.receiver);
                let v = self.all_args(m.args.iter());
                let step = format!("from {} (send) at {}", text(), at(p));
                let reason = format!("sent on channel {}", short(&m.receiver));
                self.sink(&v, Kind::Escapes, &reason, &step, false);
                Val::default()
            }
            MethodClass::Grow => {
                self.borrowed(&m.receiver);
                self.grow(&m.receiver, p.0);
                self.borrowed_args(m);
                Val::default()
            }
            MethodClass::Flow => {
                let mut v = self.expr(&m.receiver);
                v.union(&self.all_args(m.args.iter()).flattened());
                v
            }
            MethodClass::Element => {
                let recv = self.borrowed(&m.receiver);
                let mut v = self.elements(&recv);
                v.union(&self.all_args(m.args.iter()).flattened());
                v
            }
            MethodClass::Clone => {
                let recv = self.borrowed(&m.receiver);
                self.shared_only(&recv)
            }
            MethodClass::Borrow => {
                self.borrowed(&m.receiver);
                self.unknown_args(m.args.iter(), &callee(), p);
                Val::default()
            }
            MethodClass::Unknown => {
                let mut all: Vec<&Expr> = vec![&m.receiver];
                all.extend(m.args.iter());
                self.unknown_args(all.into_iter(), &callee(), p);
                Val::default()
            }
        }
    }

    fn borrowed_args(&mut self, m: &ExprMethodCall) {
        for a in &m.args {
            self.borrowed(a);
        }
    }

    /// A macro in expression position.
    pub fn mac(&mut self, mac: &Macro, e: &Expr) -> Val {
        self.macro_at(mac, start(e), short(e))
    }

    /// A macro in statement position.
    pub fn mac_stmt(&mut self, mac: &Macro) -> Val {
        let text = format!("{}!(..)", path(&mac.path)).replace("vec!(..)", "vec![..]");
        self.macro_at(mac, pos(&mac.path), text)
    }

    fn macro_at(&mut self, mac: &Macro, p: (u32, u32), text: String) -> Val {
        match classify_macro(&mac.path) {
            MacroClass::Vec => self.vec_macro(mac, p, text),
            MacroClass::Format => {
                self.format_args(mac);
                self.alloc(
                    p,
                    text,
                    SiteKind::Collection,
                    Some("u8".into()),
                    &Val::default(),
                )
            }
            MacroClass::Borrowing => {
                self.format_args(mac);
                Val::default()
            }
            MacroClass::Write => {
                if let Some(args) = macro_args(mac)
                    && let Some(dst) = args.first()
                {
                    self.grow(dst, p.0);
                    for a in args.iter().skip(1) {
                        self.borrowed(a);
                    }
                }
                Val::default()
            }
            MacroClass::PassThrough => match macro_args(mac) {
                Some(args) => self.all_args(args.iter()),
                None => Val::default(),
            },
            MacroClass::Unknown => {
                self.unknown_macro(mac, p);
                Val::default()
            }
        }
    }

    /// Arguments of `format!`-like macros are borrowed; `name = expr` names one.
    fn format_args(&mut self, mac: &Macro) {
        for a in macro_args(mac).unwrap_or_default() {
            match &a {
                Expr::Assign(named) => self.borrowed(&named.right),
                other => self.borrowed(other),
            };
        }
    }

    fn vec_macro(&mut self, mac: &Macro, p: (u32, u32), text: String) -> Val {
        // `vec![elem; n]` first, then `vec![a, b, ..]`.
        let repeat = mac.parse_body_with(|input: syn::parse::ParseStream| {
            let elem: Expr = input.parse()?;
            input.parse::<Token![;]>()?;
            let n: Expr = input.parse()?;
            Ok((elem, n))
        });
        let (elems, n) = match repeat {
            Ok((elem, n)) => (vec![elem], Some(n)),
            Err(_) => (macro_args(mac).unwrap_or_default(), None),
        };
        if let Some(n) = &n {
            self.borrowed(n);
        }
        if elems.is_empty() {
            let id = self.site(p, text, SiteKind::Collection);
            if let Some(site) = self.sites.get_mut(id)
                && site.grown.is_none()
            {
                site.pending = true;
            }
            return Val::one(id);
        }
        let contents = self.all_args(elems.iter());
        let ty = elems.first().and_then(element_type_hint);
        self.alloc(p, text, SiteKind::Collection, ty, &contents)
    }

    /// A macro the analysis does not know: its tokens are not analysed, but any local
    /// holding an allocation that it names may be moved by it.
    fn unknown_macro(&mut self, mac: &Macro, p: (u32, u32)) {
        let name = format!("{}!", path(&mac.path));
        let mut idents = Vec::new();
        collect_idents(mac.tokens.clone(), &mut idents);
        for id in idents {
            let Some((_, b)) = self.env.lookup(&id) else {
                continue;
            };
            let v = b.val.clone();
            if !v.is_empty() {
                let step = format!("from {name}(..) (macro argument) at {}", at(p));
                self.sink(
                    &v,
                    Kind::MayEscape,
                    &format!("passed to {name}"),
                    &step,
                    false,
                );
            }
        }
    }
}

/// The element type named by an argument: `T { .. }`, `[T { .. }, ..]`, `T::new()`.
fn element_type_hint(e: &Expr) -> Option<String> {
    match e {
        Expr::Array(a) => a.elems.first().and_then(type_of_value),
        Expr::Reference(r) => element_type_hint(&r.expr),
        other => type_of_value(other),
    }
}

/// Comma-separated expression arguments of a macro, if they parse as such.
fn macro_args(mac: &Macro) -> Option<Vec<Expr>> {
    mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
        .ok()
        .map(|p| p.into_iter().collect())
}

fn collect_idents(ts: proc_macro2::TokenStream, out: &mut Vec<String>) {
    for tt in ts {
        match tt {
            proc_macro2::TokenTree::Ident(i) => out.push(i.to_string()),
            proc_macro2::TokenTree::Group(g) => collect_idents(g.stream(), out),
            _ => {}
        }
    }
}
