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
use crate::verdict::Event;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprCall, ExprMethodCall, Macro, Token};

impl Analyzer<'_> {
    /// `f(args)`.
    pub fn call(&mut self, c: &ExprCall) -> Val {
        let Expr::Path(fp) = &*c.func else {
            // `(|| b)()`, `(self.f)(x)`: a closure called where it is written gives what
            // it returns.
            let f = self.borrowed(&c.func);
            let callee = short(&c.func);
            // The position walks down to the callee's start: only when an argument may
            // need it, or `f()()()..` costs the square of its length.
            let p = if c.args.is_empty() {
                (0, 0)
            } else {
                call_start(c)
            };
            self.unknown_args(c.args.iter(), &callee, p);
            return Val {
                sites: f.sites,
                ..Val::default()
            };
        };
        let p = call_start(c);
        let callee = path(&fp.path);
        // Calling a local closure gives what the closure returns.
        if let Some(id) = fp.path.get_ident()
            && let Some((_, b)) = self.env.lookup(&id.to_string())
        {
            // Not the callee itself: a named stack value (a `f: F` parameter) is not what
            // calling it returns.
            let sites = b
                .val
                .sites
                .iter()
                .copied()
                .filter(|&s| self.sites.get(s).is_some_and(|x| x.kind != SiteKind::Stack))
                .collect();
            let result = Val {
                sites,
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
            CallClass::Constructor => {
                let v = self.all_args(c.args.iter());
                if fp.path.segments.last().is_some_and(|s| s.ident == "Err") {
                    self.mark_error(&v);
                }
                v.as_parts()
            }
            CallClass::Downgrade => {
                // The `Weak` may outlive the function and keep the allocation (the count
                // and the slot, not the value, which dies with the last `Rc`).
                let v = c
                    .args
                    .first()
                    .map(|a| self.through_ref(a))
                    .unwrap_or_default();
                let shared = self.shared_only(&v);
                let step = format!("from {callee}(..) (weak handle) at {}", at(p));
                for s in shared.sites {
                    if let Some(site) = self.sites.get_mut(s) {
                        site.event(Event {
                            kind: Kind::MayEscape,
                            reason: "a Weak to it may keep the allocation".into(),
                            step: step.clone(),
                            direct_return: false,
                            allocation_only: true,
                        });
                    }
                }
                Val::default()
            }
            CallClass::Swap => {
                // `mem::swap(&mut a, &mut b)`: each value is stored where the other was.
                let mut vals = Vec::new();
                for a in &c.args {
                    vals.push(self.through_ref(a));
                }
                if let (Some(a), Some(b), Some(va), Some(vb)) =
                    (c.args.first(), c.args.get(1), vals.first(), vals.get(1))
                {
                    let step = format!("from {callee}(..) at {}", at(p));
                    let (pa, pb) = (self.place_of(a), self.place_of(b));
                    self.store(&pb, va, &step, &callee);
                    self.store(&pa, vb, &step, &callee);
                }
                Val::default()
            }
            CallClass::Replace => {
                // `mem::replace(&mut dst, src)`: `src` is stored in `dst`; the old value
                // is returned.
                let old = c
                    .args
                    .first()
                    .map(|a| self.through_ref(a))
                    .unwrap_or_default();
                let new = self.all_args(c.args.iter().skip(1));
                if let Some(dst) = c.args.first() {
                    let place = self.place_of(dst);
                    let step = format!("from {callee}(..) at {}", at(p));
                    self.store(&place, &new, &step, &callee);
                }
                old
            }
            CallClass::Unknown => {
                // What goes into a call the analysis cannot see through may come back in
                // its result (`Key::new(s)`, `Error::custom(msg)`): besides `may escape`,
                // it escapes when the result does. Go sends such arguments to the heap
                // outright (cmd/compile/internal/escape, call.go).
                self.unknown_args(c.args.iter(), &callee, p).as_parts()
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

    /// Arguments of a call the analysis cannot see through: a value passed by value may
    /// escape. Returns them all, for callers that keep them in the call's result.
    fn unknown_args<'e>(
        &mut self,
        args: impl Iterator<Item = &'e Expr>,
        callee: &str,
        p: (u32, u32),
    ) -> Val {
        let mut all = Val::default();
        for a in args {
            let v = self.expr(a);
            all.union(&v);
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
        all
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
        let std_borrow = class == MethodClass::Borrow;
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
                if name != "collect" {
                    return self.alloc(p, text(), SiteKind::Collection, ty, &recv);
                }
                // `v.into_iter().map(f).collect()`: the new collection holds the items;
                // the consumed vector's buffer is not one of them, but std may reuse it
                // for the result (in-place iteration, alloc/src/vec/in_place_collect.rs).
                let (items, buffers) = self.collected(&recv);
                let v = self.alloc(p, text(), SiteKind::Collection, ty, &items);
                if let Some(&id) = v.sites.iter().next() {
                    let step = format!("from {} (buffer reused) at {}", short(&m.receiver), at(p));
                    for b in buffers {
                        if let Some(site) = self.sites.get_mut(id) {
                            let edge = (b, step.clone());
                            if !site.reused.contains(&edge) {
                                site.reused.push(edge);
                            }
                        }
                    }
                }
                v
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
                let recv = self.borrowed(&m.receiver);
                let items = self.elements(&recv);
                let place = self.place_of(&m.receiver);
                let mut v = self.closure_args(m, &items);
                let std_collection = recv.held().iter().any(|&s| {
                    self.sites
                        .get(s)
                        .is_some_and(|x| x.kind == SiteKind::Collection)
                });
                if matches!(name.as_str(), "append" | "swap_with_slice") {
                    // `v.append(&mut other)` moves every element of `other` into `v`
                    // (`other` keeps its buffer).
                    for a in &m.args {
                        if let Expr::Reference(r) = a
                            && r.mutability.is_some()
                        {
                            let moved = self.expr(&r.expr);
                            v.union(&self.elements(&moved));
                        }
                    }
                }
                if name == "extend" && std_collection {
                    // `Vec::extend(iter)` (the receiver is a collection built here) consumes
                    // its argument as an iterator: the items are stored, a consumed
                    // vector's buffer is freed (std copies the elements out of a
                    // `vec::IntoIter`). An `extend` of an unknown type may keep anything.
                    v = self.elements(&v);
                }
                // A struct literal stored straight into a collection (`out.push(Point {
                // .. })`) is a stack value moved into heap memory: Go's `moved to heap`.
                for a in m.args.iter().filter(|_| grows(&name)) {
                    if let Expr::Struct(lit) = a {
                        let id = self.site(pos(a), short(a), SiteKind::Stack);
                        if let Some(site) = self.sites.get_mut(id) {
                            site.into_collection = true;
                            if site.ty.is_none() {
                                site.ty = type_of_value(&Expr::Struct(lit.clone()));
                            }
                        }
                        v.sites.insert(id);
                    }
                }
                if grows(&name) {
                    // So is a named stack value pushed whole (`out.push(p)`; not a field
                    // of it, nor what a call made from it) into what is known to be a std
                    // collection: a parameter typed so, or a local holding one built here
                    // (a method of another type named `insert` may just copy bits).
                    let into_collection = match &*m.receiver {
                        Expr::Path(rp) => rp.path.get_ident().is_some_and(|id| {
                            let id = id.to_string();
                            self.collection_params.contains(&id) || std_collection
                        }),
                        _ => false,
                    };
                    for a in m.args.iter().filter(|_| into_collection) {
                        let Expr::Path(ap) = a else { continue };
                        let Some(id) = ap.path.get_ident() else {
                            continue;
                        };
                        let Some((_, b)) = self.env.lookup(&id.to_string()) else {
                            continue;
                        };
                        for s in b.val.held() {
                            if let Some(site) = self.sites.get_mut(s)
                                && site.kind == SiteKind::Stack
                            {
                                site.into_collection = true;
                            }
                        }
                    }
                    self.grow(&m.receiver, p.0);
                }
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
                let recv = self.expr(&m.receiver);
                let items = self.elements(&recv);
                let args = self.closure_args(m, &items);
                if is_error_arg(&name) {
                    self.mark_error(&args);
                }
                if name == "into_iter" || name == "into_values" || name == "into_keys" {
                    return self.consumed_items(&recv);
                }
                if maps_items(&name) {
                    // The closure's results replace the items it was given (which it
                    // consumed: they are its parameter).
                    let mut out = Val {
                        sites: recv.sites.clone(),
                        captured: recv.captured.clone(),
                        ..Val::default()
                    };
                    out.captured.extend(args.captured.iter().copied());
                    out.parts.extend(args.held());
                    // `Result::map`/`and_then` pass an `Err` through untouched.
                    let errors: Vec<usize> = recv
                        .parts
                        .iter()
                        .copied()
                        .filter(|&s| self.sites.get(s).is_some_and(|x| x.error))
                        .collect();
                    out.parts.extend(errors);
                    if !m.args.iter().all(is_closure) {
                        // `.map(Cow::Owned)`: a function given by path may hand its
                        // argument back (a constructor does), so the items flow on.
                        out.parts.extend(recv.parts.iter().copied());
                    }
                    return out;
                }
                let mut v = recv;
                if matches!(name.as_str(), "chain" | "zip") {
                    // The argument is consumed as an iterator too.
                    v.union(&self.consumed_items(&args));
                } else {
                    v.union(&args.flattened());
                }
                v
            }
            MethodClass::Element => {
                let recv = self.borrowed(&m.receiver);
                let mut v = self.elements(&recv);
                let items = v.clone();
                v.union(&self.closure_args(m, &items).flattened());
                v
            }
            MethodClass::Clone => {
                let recv = self.borrowed(&m.receiver);
                self.shared_only(&recv)
            }
            MethodClass::Borrow => {
                let recv = self.borrowed(&m.receiver);
                if std_borrow && (eager(&name) || name == "with") {
                    // A std method that only borrows runs its closure before it returns
                    // (`any`, `for_each`, `retain`, `LocalKey::with`): the closure dies
                    // there. (Other names, `b.iter(|| ..)` of a bencher, may keep it.)
                    let items = self.elements(&recv);
                    let closures: Vec<&Expr> = m.args.iter().filter(|a| is_closure(a)).collect();
                    let mut results = Val::default();
                    for c in closures {
                        let origin = crate::places::place_origin(self.place_of(&m.receiver));
                        self.closure_params = Some((items.clone(), origin));
                        results.union(&self.expr(c));
                    }
                    let rest: Vec<&Expr> = m.args.iter().filter(|a| !is_closure(a)).collect();
                    self.unknown_args(rest.into_iter(), &callee(), p);
                    if !eager(&name) {
                        // `KEY.with(|k| ..)` hands back what its closure returns.
                        return Val {
                            sites: results.sites,
                            ..Val::default()
                        };
                    }
                } else {
                    self.unknown_args(m.args.iter(), &callee(), p);
                }
                Val::default()
            }
            MethodClass::Unknown => {
                // A builder (`candidate.id(Some(s))`) returns its receiver with its
                // arguments in it: see `CallClass::Unknown`.
                let mut all: Vec<&Expr> = vec![&m.receiver];
                all.extend(m.args.iter());
                self.unknown_args(all.into_iter(), &callee(), p).as_parts()
            }
        }
    }

    /// The arguments of a method call; a closure among them gets `items` (the receiver's
    /// elements or items) as its parameters, which point where the receiver points.
    fn closure_args(&mut self, m: &ExprMethodCall, items: &Val) -> Val {
        let mut v = Val::default();
        let origin = crate::places::place_origin(self.place_of(&m.receiver));
        // `fold(init, |acc, x| ..)`: the accumulator starts as `init`.
        let mut given = items.clone();
        for a in m.args.iter().filter(|a| !is_closure(a)) {
            let x = self.expr(a);
            given.union(&x);
            v.union(&x);
        }
        for a in m.args.iter().filter(|a| is_closure(a)) {
            self.closure_params = Some((given.clone(), origin.clone()));
            v.union(&self.expr(a));
            self.closure_params = None;
        }
        v
    }

    /// An iterator consuming `v`: it owns the collection's buffer and yields its elements.
    fn consumed_items(&self, v: &Val) -> Val {
        Val {
            sites: v.sites.union(&v.captured).copied().collect(),
            parts: self.elements(v).held(),
            ..Val::default()
        }
    }

    /// Splits what `collect` consumes into the items it stores and the vectors whose
    /// buffers it may reuse (the consumed collections themselves).
    fn collected(&self, recv: &Val) -> (Val, Vec<usize>) {
        let mut items = Val {
            captured: recv.captured.clone(),
            parts: recv.parts.clone(),
            ..Val::default()
        };
        let mut buffers = Vec::new();
        for &s in &recv.sites {
            match self.sites.get(s) {
                // A collection an iterator consumed (`into_iter`, `chain(v)`): its
                // elements are the iterator's items (in `parts`); a vector's buffer may be
                // taken over, a map's or set's table dies.
                Some(site) if site.kind == SiteKind::Collection && vec_like(site) => {
                    buffers.push(s);
                }
                Some(site) if site.kind == SiteKind::Collection => {}
                Some(_) => {
                    items.sites.insert(s);
                }
                None => {}
            }
        }
        (items, buffers)
    }

    /// Sites built as the error of a `Result` (or the `None` alternative): a `?` returns them.
    pub(crate) fn mark_error(&mut self, v: &Val) {
        for s in v.held() {
            if let Some(site) = self.sites.get_mut(s) {
                site.error = true;
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
                    self.borrowed(dst);
                    self.grow(dst, p.0);
                    for a in args.iter().skip(1) {
                        self.borrowed(a);
                    }
                }
                self.inline_args(mac.tokens.clone());
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

    /// Arguments of `format!`-like macros are borrowed; `name = expr` names one; so are
    /// the names used inline in the format string (`"{name}"`, `"{x:?}"`): a closure
    /// that only prints a value still captures it. Arguments that do not parse as
    /// expressions (`info!(target: "t", ?x)`) are borrowed name by name.
    fn format_args(&mut self, mac: &Macro) {
        match macro_args(mac) {
            Some(args) => {
                for a in args {
                    match &a {
                        Expr::Assign(named) => self.borrowed(&named.right),
                        other => self.borrowed(other),
                    };
                }
            }
            None => {
                let mut idents = Vec::new();
                collect_idents(mac.tokens.clone(), &mut idents);
                for id in idents {
                    self.borrowed_name(&id);
                }
            }
        }
        self.inline_args(mac.tokens.clone());
    }

    /// Reads `name` as a borrow (a `move` closure still captures it).
    fn borrowed_name(&mut self, name: &str) -> Val {
        if self.env.lookup(name).is_none() {
            return Val::default();
        }
        match syn::parse_str::<Expr>(name) {
            Ok(e) => self.borrowed(&e),
            Err(_) => Val::default(),
        }
    }

    /// The names used inline in the string literals of a macro call (`"{name}"`).
    fn inline_args(&mut self, ts: proc_macro2::TokenStream) {
        for tt in ts {
            match tt {
                proc_macro2::TokenTree::Group(g) => self.inline_args(g.stream()),
                proc_macro2::TokenTree::Literal(l) => {
                    let Ok(lit) = syn::parse_str::<syn::LitStr>(&l.to_string()) else {
                        continue;
                    };
                    for name in inline_names(&lit.value()) {
                        self.borrowed_name(&name);
                    }
                }
                _ => {}
            }
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
    /// Tokens the analysis cannot read (`Expr::Verbatim`): every local they name may
    /// escape.
    pub(crate) fn unknown_tokens(&mut self, ts: proc_macro2::TokenStream, p: (u32, u32)) {
        let mut idents = Vec::new();
        collect_idents(ts, &mut idents);
        for id in idents {
            if self.env.lookup(&id).is_none() {
                continue;
            }
            let v = self.read_name(&id);
            let step = format!("from unparsed syntax at {}", at(p));
            self.sink(
                &v,
                Kind::MayEscape,
                "used by syntax not analysed",
                &step,
                false,
            );
        }
    }

    fn unknown_macro(&mut self, mac: &Macro, p: (u32, u32)) {
        let name = format!("{}!", path(&mac.path));
        // A macro of this file that only borrows its arguments (see
        // `walk::borrowing_macros`), and names written `&x` or inline in a format string,
        // are borrows; any other name may be moved by the expansion.
        let borrows_all = self.by_ref_methods.contains(&name);
        let mut uses = Vec::new();
        macro_uses(mac.tokens.clone(), &mut uses);
        self.inline_args(mac.tokens.clone());
        for (id, borrowed) in uses {
            if borrowed || borrows_all {
                self.borrowed_name(&id);
                continue;
            }
            if self.env.lookup(&id).is_none() {
                continue;
            }
            let v = self.read_name(&id);
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

/// Names used inline in a format string: `name` in `"{name}"`, `"{name:?}"`,
/// `"{name:>width$}"` (and `width`).
pub(crate) fn inline_names(fmt: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = fmt;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(after) = rest.strip_prefix('{') {
            rest = after;
            continue;
        }
        let Some(close) = rest.find('}') else { break };
        let spec = &rest[..close];
        rest = &rest[close + 1..];
        let (arg, format) = spec.split_once(':').unwrap_or((spec, ""));
        let mut names = vec![arg.trim()];
        names.extend(
            format
                .split('$')
                .filter_map(|w| w.rsplit(|c: char| !c.is_alphanumeric() && c != '_').next())
                .take(format.matches('$').count()),
        );
        for n in names {
            let ident = n
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && n.chars().all(|c| c.is_alphanumeric() || c == '_');
            if ident && !out.iter().any(|o| o == n) {
                out.push(n.to_string());
            }
        }
    }
    out
}

/// The names in a macro's tokens, each with whether it is only borrowed (`&x`, `&mut x`).
fn macro_uses(ts: proc_macro2::TokenStream, out: &mut Vec<(String, bool)>) {
    let mut after_amp = false;
    let mut after_dot = false;
    for tt in ts {
        match tt {
            proc_macro2::TokenTree::Ident(i) => {
                let name = i.to_string();
                if name == "mut" && after_amp {
                    continue;
                }
                if !after_dot {
                    out.push((name, after_amp));
                }
                after_amp = false;
                after_dot = false;
            }
            proc_macro2::TokenTree::Group(g) => {
                macro_uses(g.stream(), out);
                after_amp = false;
                after_dot = false;
            }
            proc_macro2::TokenTree::Punct(p) => {
                after_amp = p.as_char() == '&';
                after_dot = p.as_char() == '.';
            }
            proc_macro2::TokenTree::Literal(_) => {
                after_amp = false;
                after_dot = false;
            }
        }
    }
}

fn is_closure(e: &Expr) -> bool {
    match e {
        Expr::Closure(_) => true,
        Expr::Paren(p) => is_closure(&p.expr),
        _ => false,
    }
}

/// By-reference methods that run their closure to a yes/no or an ordering, and return
/// nothing it built.
fn eager(name: &str) -> bool {
    matches!(
        name,
        "for_each"
            | "any"
            | "all"
            | "position"
            | "rposition"
            | "retain"
            | "retain_mut"
            | "sort_by"
            | "sort_by_key"
            | "sort_unstable_by"
            | "sort_unstable_by_key"
            | "dedup_by"
            | "dedup_by_key"
            | "binary_search_by"
            | "binary_search_by_key"
            | "partition_point"
            | "is_some_and"
            | "is_ok_and"
            | "is_none_or"
            | "is_err_and"
            | "count"
            | "sum"
            | "product"
    )
}

/// Adapters whose closure maps each item to a new one (`map`, `filter_map`, `and_then`).
fn maps_items(name: &str) -> bool {
    matches!(
        name,
        "map" | "filter_map" | "flat_map" | "map_while" | "and_then" | "then" | "scan"
    )
}

/// Methods whose arguments build the error (or `None` alternative) of a `Result`/`Option`.
fn is_error_arg(name: &str) -> bool {
    matches!(name, "map_err" | "ok_or" | "ok_or_else" | "or_else" | "or")
}

/// A site whose buffer `collect` may take over: a `Vec` (or `BinaryHeap`), or something
/// that may be one.
fn vec_like(site: &crate::verdict::Site) -> bool {
    let e = &site.expr;
    e.starts_with("vec!")
        || e.contains("Vec::")
        || e.contains("BinaryHeap::")
        || e.ends_with("to_vec()")
        || e.contains("collect")
        || e.contains("into_vec")
        || e.contains("into_sorted_vec")
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
