//! The value tracking: walks a function body once (loop bodies until their state settles,
//! so values carried around a loop are seen), following each allocation through bindings, moves,
//! aggregates, branches and closures, and records what happens to it as events on its
//! [`Site`]. Calls, method calls and macros are in `calls.rs`; verdicts in `verdict.rs`.
//!
//! The walk is flow-sensitive for plain reassignment (`x = ..` replaces what `x` holds)
//! and joins branches; everything else only ever adds, so it errs towards "escapes".

use crate::env::{Env, Origin, Val};
use crate::finding::Kind;
use crate::sites::{SiteKind, element_of_type, type_of_value};
use crate::text::{at, pos, start};
use crate::verdict::{Event, Site};
use std::collections::{BTreeSet, HashMap};
use syn::{BinOp, Block, Expr, Local, Pat, Stmt, UnOp};

/// A closure or async block being walked: what it captures and what it returns.
#[derive(Debug, Default)]
pub(crate) struct Frame {
    /// Scope depth when the closure started; bindings below it are captures.
    pub base: usize,
    pub is_move: bool,
    pub captured: Val,
    pub result: Val,
}

/// The walker's state for one function.
#[derive(Debug)]
pub(crate) struct Analyzer<'a> {
    pub sites: Vec<Site>,
    index: HashMap<((u32, u32), String), usize>,
    pub env: Env,
    pub loop_depth: u32,
    pub borrow_depth: u32,
    pub frames: Vec<Frame>,
    pub breaks: Vec<Val>,
    /// What each loop (by its position) carried back to its head in earlier passes, by
    /// binding index: nested loops resume from it instead of being walked to a fixpoint
    /// at each pass of the loops around them (see `in_loop`).
    pub loop_heads: HashMap<(u32, u32), Vec<(usize, Val)>>,
    /// Something that the next pass over a loop would see differently changed in this
    /// pass: a nested loop's head grew, or an allocation took in new contents.
    pub dirty: bool,
    /// A loop did not settle within the passes allowed: no verdict of this function is
    /// trusted to be `does not escape`.
    pub gave_up: bool,
    /// Methods defined in the file that take `&self`/`&mut self`: calling them borrows.
    pub by_ref_methods: &'a BTreeSet<String>,
    /// What the parameters of the closure about to be walked hold, and where they point
    /// (set by an adapter call for its closure argument).
    pub closure_params: Option<(Val, Origin)>,
    /// The function returns a number, `bool`, `char` or `()`: nothing it returns can own
    /// an allocation.
    pub plain_result: bool,
    /// Parameters whose type is a std collection or a reference to one (`out: &mut
    /// Vec<T>`): pushing a stack value into one moves it to the heap.
    pub collection_params: BTreeSet<String>,
}

impl<'a> Analyzer<'a> {
    pub fn new(by_ref_methods: &'a BTreeSet<String>) -> Self {
        Analyzer {
            sites: Vec::new(),
            index: HashMap::new(),
            env: Env::default(),
            loop_depth: 0,
            borrow_depth: 0,
            frames: Vec::new(),
            breaks: Vec::new(),
            loop_heads: HashMap::new(),
            dirty: false,
            gave_up: false,
            by_ref_methods,
            closure_params: None,
            plain_result: false,
            collection_params: BTreeSet::new(),
        }
    }

    /// The site at `p` with text `expr`, created on first sight (loop bodies are walked more than once).
    pub fn site(&mut self, p: (u32, u32), expr: String, kind: SiteKind) -> usize {
        let key = (p, expr.clone());
        if let Some(&id) = self.index.get(&key) {
            return id;
        }
        let id = self.sites.len();
        self.sites
            .push(Site::new(p, expr, kind, self.loop_depth > 0));
        self.index.insert(key, id);
        id
    }

    /// Records that `v` reached a sink. Captured sites get the closure's version of the reason.
    pub fn sink(&mut self, v: &Val, kind: Kind, reason: &str, step: &str, direct_return: bool) {
        for &s in &v.captured {
            let reason = captured_reason(reason);
            self.event(
                s,
                Event {
                    kind,
                    reason,
                    step: step.into(),
                    direct_return: false,
                    allocation_only: false,
                },
            );
        }
        for &s in v.held().difference(&v.captured) {
            let e = Event {
                kind,
                reason: reason.into(),
                step: step.into(),
                direct_return,
                allocation_only: false,
            };
            self.event(s, e);
        }
    }

    fn event(&mut self, s: usize, e: Event) {
        if let Some(site) = self.sites.get_mut(s) {
            site.event(e);
        }
    }

    /// Appends a flow step to every site `v` holds.
    pub fn step(&mut self, v: &Val, step: &str) {
        for s in v.all() {
            if let Some(site) = self.sites.get_mut(s) {
                site.step(step.to_string());
            }
        }
    }

    /// Records that `inner`'s sites now live inside the allocation `outer`.
    pub fn contain(&mut self, outer: usize, inner: &Val, step: &str) {
        for s in inner.all() {
            if s == outer {
                continue;
            }
            if let Some(site) = self.sites.get_mut(outer) {
                let edge = (s, step.to_string());
                if !site.contents.contains(&edge) {
                    site.contents.push(edge);
                    self.dirty = true;
                }
            }
        }
    }

    /// A value that is returned from the current function or closure.
    pub fn returned(&mut self, v: &Val, p: (u32, u32)) {
        if let Some(frame) = self.frames.last_mut() {
            frame.result.union(v);
            return;
        }
        if self.plain_result {
            return;
        }
        self.sink(
            v,
            Kind::Escapes,
            "returned",
            &format!("from return at {}", at(p)),
            true,
        );
    }

    /// Evaluates `e` where it is only borrowed: sites inside it are still found.
    pub fn borrowed(&mut self, e: &Expr) -> Val {
        self.borrow_depth += 1;
        let v = self.expr(e);
        self.borrow_depth -= 1;
        v
    }

    /// What `e` evaluates to, walking everything inside it.
    pub fn expr(&mut self, e: &Expr) -> Val {
        match e {
            Expr::Path(p) => match p.path.get_ident() {
                Some(id) => self.read(&id.to_string()),
                None if p.path.is_ident("self") => self.read("self"),
                None => Val::default(),
            },
            Expr::Lit(_) | Expr::Continue(_) | Expr::Infer(_) => Val::default(),
            // Syntax `syn` keeps as tokens: any local it names may be moved by it.
            Expr::Verbatim(ts) => {
                self.unknown_tokens(ts.clone(), pos(e));
                Val::default()
            }
            Expr::Reference(r) => {
                self.borrowed(&r.expr);
                Val::default()
            }
            Expr::RawAddr(r) => {
                self.borrowed(&r.expr);
                Val::default()
            }
            Expr::Unary(u) => self.unary(u.op, &u.expr),
            Expr::Binary(b) => self.binary(b),
            Expr::Paren(p) => self.expr(&p.expr),
            Expr::Group(g) => self.expr(&g.expr),
            Expr::Block(b) if b.label.is_some() => {
                // `'a: { .. break 'a v; .. }`: the block's value is its tail or a break's.
                self.breaks.push(Val::default());
                let mut v = self.block(&b.block);
                v.union(&self.breaks.pop().unwrap_or_default());
                v
            }
            Expr::Block(b) => self.block(&b.block),
            Expr::Unsafe(u) => self.block(&u.block),
            Expr::Const(c) => self.block(&c.block),
            Expr::TryBlock(t) => self.block(&t.block),
            Expr::Tuple(t) => self.all(t.elems.iter()).as_parts(),
            Expr::Array(a) => self.all(a.elems.iter()).as_parts(),
            Expr::Repeat(r) => {
                self.borrowed(&r.len);
                self.expr(&r.expr).as_parts()
            }
            Expr::Struct(s) => {
                let mut v = self.all(s.fields.iter().map(|f| &f.expr));
                if let Some(rest) = &s.rest {
                    v.union(&self.expr(rest));
                }
                v.as_parts()
            }
            Expr::Field(f) => {
                let base = self.expr(&f.base);
                self.moved_out_of(&base)
            }
            Expr::Index(i) => {
                self.borrowed(&i.expr);
                self.borrowed(&i.index);
                Val::default()
            }
            // `Box::new(e) as Box<dyn Error>` moves the box (an unsizing cast); a numeric
            // or pointer cast of a borrow holds nothing tracked anyway.
            Expr::Cast(c) => self.expr(&c.expr),
            Expr::Range(r) => {
                for e in r.start.iter().chain(r.end.iter()) {
                    self.borrowed(e);
                }
                Val::default()
            }
            Expr::Call(c) => self.call(c),
            Expr::MethodCall(m) => self.method_call(m),
            Expr::Macro(m) => self.mac(&m.mac, e),
            Expr::Closure(c) => {
                let inputs: Vec<&Pat> = c.inputs.iter().collect();
                self.closure(c.capture.is_some(), &inputs, |a| a.expr(&c.body), start(e))
            }
            Expr::Async(a) => {
                self.closure(a.capture.is_some(), &[], |s| s.block(&a.block), start(e))
            }
            Expr::Await(a) => self.expr(&a.base).flattened(),
            Expr::If(i) => self.if_expr(i),
            Expr::Match(m) => self.match_expr(m),
            Expr::Loop(l) => self.in_loop(start(e), |a| {
                a.block(&l.body);
            }),
            Expr::While(w) => self.in_loop(start(e), |a| {
                a.env.push();
                a.cond(&w.cond);
                a.block(&w.body);
                a.env.pop();
            }),
            Expr::ForLoop(f) => self.for_loop(f, start(e)),
            Expr::Let(l) => {
                let v = self.expr(&l.expr);
                self.bind_pat(&l.pat, &v, Origin::Local);
                Val::default()
            }
            Expr::Assign(a) => {
                self.assign(&a.left, &a.right);
                Val::default()
            }
            Expr::Return(r) => {
                if let Some(x) = &r.expr {
                    let v = self.expr(x);
                    self.returned(&v, start(e));
                }
                Val::default()
            }
            Expr::Break(b) => {
                if let Some(x) = &b.expr {
                    // The value leaves the loop or labelled block the break names; every
                    // enclosing one gets it (`break 'outer v` from an inner loop, a labelled
                    // block inside a loop), which is never less than the right one.
                    let v = self.expr(x);
                    for frame in &mut self.breaks {
                        frame.union(&v);
                    }
                }
                Val::default()
            }
            Expr::Try(t) => self.try_expr(&t.expr, start(e)),
            // A coroutine hands a yielded value to its caller, as a return does.
            Expr::Yield(y) => {
                if let Some(x) = &y.expr {
                    let v = self.expr(x);
                    self.returned(&v, start(e));
                }
                Val::default()
            }
            _ => Val::default(),
        }
    }

    fn all<'e>(&mut self, items: impl Iterator<Item = &'e Expr>) -> Val {
        let mut v = Val::default();
        for x in items {
            v.union(&self.expr(x));
        }
        v
    }

    /// Reads a binding by value (see [`Analyzer::read`]).
    pub(crate) fn read_name(&mut self, name: &str) -> Val {
        let saved = std::mem::replace(&mut self.borrow_depth, 0);
        let v = self.read(name);
        self.borrow_depth = saved;
        v
    }

    /// Reads a binding. A read by value inside a closure captures it; inside a `move`
    /// closure any mention does.
    fn read(&mut self, name: &str) -> Val {
        let Some((depth, b)) = self.env.lookup(name) else {
            return Val::default();
        };
        let val = b.val.clone();
        let by_value = self.borrow_depth == 0;
        for f in self.frames.iter_mut() {
            if depth < f.base && (by_value || f.is_move) {
                f.captured.union(&val);
            }
        }
        val
    }

    /// Moving a field (or `*b`) out of `base`: a box gives up its content, an aggregate
    /// the parts it holds. A part comes out as is, and may itself still be an aggregate
    /// (`t.0` of `((a, b), c)`), so it stays a part too.
    pub fn moved_out_of(&self, base: &Val) -> Val {
        let mut out = Val::default();
        for &s in base.sites.union(&base.captured) {
            match self.sites.get(s) {
                Some(site) if site.kind == SiteKind::Boxed => {
                    out.sites.extend(site.contents.iter().map(|(c, _)| *c));
                }
                Some(_) => {
                    out.sites.insert(s);
                }
                None => {}
            }
        }
        out.sites.extend(base.parts.iter().copied());
        out.parts.extend(base.parts.iter().copied());
        out
    }

    fn unary(&mut self, op: UnOp, operand: &Expr) -> Val {
        match op {
            UnOp::Deref(_) => {
                // `*b` moves out of the box itself: a box held inline (`Cell::new(b)`
                // then `into_inner()`, which the walk does not unwrap) gives its content
                // too, since an aggregate cannot be dereferenced to move a part out.
                let v = self.expr(operand);
                let unwrapped = Val {
                    sites: v.held(),
                    captured: v.captured.clone(),
                    ..Val::default()
                };
                self.moved_out_of(&unwrapped)
            }
            _ => {
                self.borrowed(operand);
                Val::default()
            }
        }
    }

    fn binary(&mut self, b: &syn::ExprBinary) -> Val {
        match b.op {
            // `s + "x"` consumes and returns the left `String`.
            BinOp::Add(_) => {
                let v = self.expr(&b.left);
                self.borrowed(&b.right);
                v
            }
            BinOp::AddAssign(_) => {
                // The place is used (`*x.lock().unwrap() += 1` in a `move` closure
                // captures `x`), and a `String` on the left grows.
                self.borrowed(&b.left);
                self.grow(&b.left, start(&b.left).0);
                self.borrowed(&b.right);
                Val::default()
            }
            _ => {
                self.borrowed(&b.left);
                self.borrowed(&b.right);
                Val::default()
            }
        }
    }

    /// `e?`: the `Ok`/`Some` part flows on; an explicit `Err(x)?` returns `x`, and so
    /// does any error built before (`Err(x)`, `map_err(|e| ..)`, `ok_or_else(|| ..)`):
    /// those sites are marked as errors where they are built.
    fn try_expr(&mut self, inner: &Expr, p: (u32, u32)) -> Val {
        if let Expr::Call(c) = inner
            && let Expr::Path(f) = &*c.func
            && f.path.is_ident("Err")
        {
            let v = self.all(c.args.iter());
            self.returned(&v, p);
            return Val::default();
        }
        let v = self.expr(inner);
        let mut errors = Val::default();
        for s in v.all() {
            if self.sites.get(s).is_some_and(|site| site.error) {
                errors.sites.insert(s);
            }
        }
        if !errors.is_empty() {
            self.step(&errors, &format!("from ? (error) at {}", at(p)));
            self.returned(&errors, p);
        }
        v
    }

    /// A block's value (its tail expression), in its own scope.
    pub fn block(&mut self, b: &Block) -> Val {
        self.env.push();
        let mut last = Val::default();
        let n = b.stmts.len();
        for (i, stmt) in b.stmts.iter().enumerate() {
            let tail = i + 1 == n;
            last = match stmt {
                Stmt::Local(l) => {
                    self.local(l);
                    Val::default()
                }
                Stmt::Item(_) => Val::default(),
                Stmt::Expr(e, semi) => {
                    let v = self.expr(e);
                    if tail && semi.is_none() {
                        v
                    } else {
                        Val::default()
                    }
                }
                Stmt::Macro(m) => {
                    let v = self.mac_stmt(&m.mac);
                    if tail && m.semi_token.is_none() {
                        v
                    } else {
                        Val::default()
                    }
                }
            };
        }
        self.env.pop();
        last
    }

    fn local(&mut self, l: &Local) {
        let hint = match &l.pat {
            Pat::Type(pt) => element_of_type(&pt.ty),
            _ => None,
        };
        let Some(init) = &l.init else {
            self.bind_pat(&l.pat, &Val::default(), Origin::Local);
            return;
        };
        let before = self.sites.len();
        let mut v = self.expr(&init.expr);
        for &s in &v.sites {
            if let Some(site) = self.sites.get_mut(s)
                && s >= before
                && site.ty.is_none()
            {
                site.ty.clone_from(&hint);
            }
        }
        if let Some((_, diverge)) = &init.diverge {
            self.expr(diverge);
        }
        if let Some(stack) = self.stack_value(&l.pat, &init.expr) {
            v.sites.insert(stack);
        }
        let origin = self.origin_of(&init.expr);
        self.bind_pat(&l.pat, &v, origin);
    }

    /// A named stack value (`let p = Point { .. }`, a tuple, an array, a number): it is
    /// reported only if it is later moved into an allocation that escapes.
    fn stack_value(&mut self, pat: &Pat, init: &Expr) -> Option<usize> {
        let (ident, annotated) = match pat {
            Pat::Ident(i) => (i, None),
            Pat::Type(t) => match &*t.pat {
                Pat::Ident(i) => (i, Some(&*t.ty)),
                _ => return None,
            },
            _ => return None,
        };
        let is_stack = match init {
            // Literals are plain copies of primitives: not worth a `moved to heap` line.
            Expr::Struct(_) | Expr::Tuple(_) | Expr::Array(_) | Expr::Repeat(_) => true,
            _ => false,
        };
        if !is_stack || ident.by_ref.is_some() {
            return None;
        }
        let ty = type_of_value(init).or_else(|| annotated.map(crate::text::tokens));
        let id = self.site(pos(&ident.ident), ident.ident.to_string(), SiteKind::Stack);
        if let Some(site) = self.sites.get_mut(id) {
            site.ty = ty;
        }
        Some(id)
    }

    /// Binds every name in `pat` to `v` (destructuring is not split: each part may hold
    /// any of the sites).
    pub fn bind_pat(&mut self, pat: &Pat, v: &Val, origin: Origin) {
        match pat {
            Pat::Ident(i) => {
                let name = i.ident.to_string();
                let val = if i.by_ref.is_some() {
                    Val::default()
                } else {
                    v.clone()
                };
                if !val.is_empty() {
                    self.step(
                        &val,
                        &format!("from {name} (assigned) at {}", at(pos(&i.ident))),
                    );
                }
                self.env.bind(name, val, origin.clone());
                if let Some((_, sub)) = &i.subpat {
                    self.bind_pat(sub, v, origin);
                }
            }
            Pat::Type(t) => self.bind_pat(&t.pat, v, origin),
            Pat::Paren(p) => self.bind_pat(&p.pat, v, origin),
            Pat::Guard(g) => self.bind_pat(&g.pat, v, origin),
            Pat::Reference(r) => self.bind_pat(&r.pat, &Val::default(), origin),
            Pat::Or(o) => {
                if let Some(first) = o.cases.first() {
                    self.bind_pat(first, v, origin);
                }
            }
            Pat::Tuple(t) => t
                .elems
                .iter()
                .for_each(|p| self.bind_pat(p, v, origin.clone())),
            Pat::TupleStruct(t) => t
                .elems
                .iter()
                .for_each(|p| self.bind_pat(p, v, origin.clone())),
            Pat::Slice(s) => s
                .elems
                .iter()
                .for_each(|p| self.bind_pat(p, v, origin.clone())),
            Pat::Struct(s) => s
                .fields
                .iter()
                .for_each(|f| self.bind_pat(&f.pat, v, origin.clone())),
            _ => {}
        }
    }
}

/// The reason a captured site gets when the closure holding it reaches a sink.
fn captured_reason(reason: &str) -> String {
    if reason == "returned" {
        "captured by a closure that is returned".into()
    } else if reason.starts_with("captured") {
        reason.into()
    } else if let Some(rest) = reason.strip_prefix("stored in ") {
        format!("captured by a closure stored in {rest}")
    } else if let Some(rest) = reason.strip_prefix("passed to ") {
        format!("captured by a closure passed to {rest}")
    } else {
        reason.into()
    }
}
