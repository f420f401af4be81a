//! Places: where an assignment or a storing method call puts a value. A place rooted in
//! a local keeps the value in the function; one rooted in `self`, a reference parameter or
//! a static puts it where the caller (or everyone) can reach it.

use crate::env::{Origin, Val};
use crate::finding::Kind;
use crate::flow::Analyzer;
use crate::sites::SiteKind;
use crate::text::{at, short, start};
use syn::{Expr, UnOp};

/// Where a place expression (`self.items`, `*out`, `v[0]`, `GLOBAL`) lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// Inside a local binding of this function.
    Local(String),
    /// Inside the local `target`, reached through the binding `name` that borrows it
    /// (`let r = &mut v; r.push(x)`).
    Alias { target: String, name: String },
    /// Behind a reference the caller owns; holds the place's text.
    Outside(String),
    /// A static.
    Static(String),
    /// Memory the function may not own (see [`Origin::Unknown`]): the place's text and
    /// the binding it is reached through, if any.
    Unknown(String, Option<String>),
    /// A temporary or something unknown.
    Temp(String),
}

/// Methods that hand out (a reference into) their receiver's memory, or the receiver
/// itself: storing into what they return stores into the receiver.
fn accessor(method: &str) -> bool {
    use crate::sites::{MethodClass, classify_method};
    matches!(
        classify_method(method),
        MethodClass::Borrow
            | MethodClass::Element
            | MethodClass::Flow
            | MethodClass::Clone
            | MethodClass::Store
    ) || matches!(
        method,
        "or_default"
            | "or_insert_with_key"
            | "and_modify"
            | "get_or_insert_default"
            | "get_unchecked_mut"
            | "get_unchecked"
            | "back_mut"
            | "front_mut"
            | "back"
            | "front"
            | "peek"
            | "peek_mut"
            | "values_mut"
            | "try_borrow_mut"
            | "try_borrow"
            | "try_write"
            | "try_read"
            | "get_mut_unchecked"
            | "as_mut_ptr"
            | "index_mut"
            | "downcast_mut"
            | "downcast_ref"
            | "chunks_mut"
            | "split_first_mut"
            | "split_last_mut"
    )
}

/// Interior mutability: storing through these writes into memory a shared handle (an
/// `Rc<RefCell<_>>`, an `Arc<Mutex<_>>`) points to, which other owners can reach.
fn interior(method: &str) -> bool {
    matches!(
        method,
        "borrow_mut" | "try_borrow_mut" | "lock" | "try_lock" | "write" | "try_write"
    )
}

impl Analyzer<'_> {
    /// Where the memory a new binding refers to lives, from its initializer: a fresh
    /// value is local; a borrow of the caller's memory stays "outside" (`let items = &mut
    /// self.items;`, `let v = unsafe { &mut *p };`); a borrow of a local is an alias of
    /// it (`let e = m.entry(k).or_default();`); the result of a call the analysis cannot
    /// see through is unknown.
    pub fn origin_of(&self, init: &Expr) -> Origin {
        match init {
            Expr::Paren(p) => self.origin_of(&p.expr),
            Expr::Group(g) => self.origin_of(&g.expr),
            Expr::Try(t) => self.origin_of(&t.expr),
            Expr::Unsafe(u) => self.origin_of_block(&u.block),
            Expr::Block(b) => self.origin_of_block(&b.block),
            Expr::If(i) => {
                let then = self.origin_of_block(&i.then_branch);
                match &i.else_branch {
                    Some((_, e)) => then.join(self.origin_of(e)),
                    None => then,
                }
            }
            Expr::Match(m) => m
                .arms
                .iter()
                .fold(Origin::Local, |o, arm| o.join(self.origin_of(&arm.body))),
            Expr::Path(p) => {
                if let Some(id) = p.path.get_ident()
                    && self.env.lookup(&id.to_string()).is_none()
                    && !is_static_name(&id.to_string())
                {
                    // A unit struct or variant is a fresh value; a lower-case name not in
                    // scope here (a binding of a `match` arm, a `let` inside a block) may
                    // be a reference to anything.
                    return if crate::sites::is_camel(&id.to_string()) {
                        Origin::Local
                    } else {
                        Origin::Unknown(id.to_string())
                    };
                }
                place_origin(self.place_of(init))
            }
            Expr::Reference(_)
            | Expr::RawAddr(_)
            | Expr::Field(_)
            | Expr::Index(_)
            | Expr::Cast(_)
            | Expr::Unary(syn::ExprUnary {
                op: UnOp::Deref(_), ..
            }) => place_origin(self.place_of(init)),
            Expr::MethodCall(m) => {
                use crate::sites::{MethodClass, classify_method};
                match classify_method(&m.method.to_string()) {
                    MethodClass::AllocFromRef | MethodClass::AllocFromValue => Origin::Local,
                    // `self.map.clone()` is a fresh copy, or a shared handle whose memory
                    // is only reached through `borrow_mut()`/`lock()` (see `place_of`).
                    MethodClass::Clone => Origin::Local,
                    _ => place_origin(self.place_of(init)),
                }
            }
            Expr::Call(c) => self.origin_of_call(c),
            Expr::Struct(s) => s
                .fields
                .iter()
                .map(|f| &f.expr)
                .chain(s.rest.as_deref())
                .fold(Origin::Local, |o, e| o.join(self.origin_of_part(e))),
            Expr::Tuple(t) => t
                .elems
                .iter()
                .fold(Origin::Local, |o, e| o.join(self.origin_of_part(e))),
            Expr::Array(a) => a
                .elems
                .iter()
                .fold(Origin::Local, |o, e| o.join(self.origin_of_part(e))),
            Expr::Await(_) | Expr::Macro(_) => match init {
                Expr::Macro(m)
                    if matches!(
                        crate::sites::classify_macro(&m.mac.path),
                        crate::sites::MacroClass::Vec | crate::sites::MacroClass::Format
                    ) =>
                {
                    Origin::Local
                }
                _ => Origin::Unknown(short(init)),
            },
            _ => Origin::Local,
        }
    }

    fn origin_of_block(&self, b: &syn::Block) -> Origin {
        match b.stmts.last() {
            Some(syn::Stmt::Expr(e, None)) => self.origin_of(e),
            _ => Origin::Local,
        }
    }

    /// A part of an aggregate: only a reference (or a binding that is one) makes the
    /// aggregate refer to memory elsewhere.
    fn origin_of_part(&self, e: &Expr) -> Origin {
        match e {
            Expr::Reference(_) | Expr::Path(_) | Expr::Paren(_) | Expr::Call(_) => {
                self.origin_of(e)
            }
            Expr::MethodCall(m) if accessor(&m.method.to_string()) => self.origin_of(e),
            _ => Origin::Local,
        }
    }

    /// `Type::new(..)`, `Some(..)`, `vec.into()`.. : a constructor of a type is a fresh value
    /// unless an argument lends it memory from elsewhere (`Writer::new(&mut self.buf)`);
    /// any other function may return anything.
    fn origin_of_call(&self, c: &syn::ExprCall) -> Origin {
        use crate::sites::{CallClass, classify_call, is_camel};
        let Expr::Path(fp) = &*c.func else {
            return Origin::Unknown(short(&c.func));
        };
        let args = || {
            c.args
                .iter()
                .fold(Origin::Local, |o, a| o.join(self.origin_of_part(a)))
        };
        if fp
            .path
            .get_ident()
            .is_some_and(|id| self.env.lookup(&id.to_string()).is_some())
        {
            // A local closure: it may return what it captured.
            return Origin::Unknown(short(&c.func));
        }
        match classify_call(&fp.path) {
            CallClass::Alloc(_) | CallClass::Empty => Origin::Local,
            CallClass::Constructor => args(),
            CallClass::Flow => {
                let last = fp.path.segments.last().map(|s| s.ident.to_string());
                if matches!(last.as_deref(), Some("take" | "replace")) {
                    Origin::Local
                } else {
                    args()
                }
            }
            _ => {
                let n = fp.path.segments.len();
                let type_fn = n >= 2 && is_camel(&fp.path.segments[n - 2].ident.to_string())
                    || fp.path.segments.first().is_some_and(|s| s.ident == "Self");
                if type_fn {
                    args()
                } else {
                    Origin::Unknown(short(&c.func))
                }
            }
        }
    }

    pub(crate) fn assign(&mut self, left: &Expr, right: &Expr) {
        let v = self.expr(right);
        let p = start(left);
        if let Expr::Path(path) = left
            && let Some(id) = path.path.get_ident()
        {
            let name = id.to_string();
            if !v.is_empty() {
                self.step(&v, &format!("from {name} (assigned) at {}", at(p)));
            }
            // `r = &mut self.items;` makes `r` point outside from here on; the binding
            // keeps the stronger of its origins (the walk does not track where in the
            // body each one holds).
            let origin = self.origin_of(right);
            if let Some(b) = self.env.lookup_mut(&name) {
                b.val = v;
                b.origin = b.origin.clone().join(origin);
                return;
            }
        }
        if matches!(left, Expr::Infer(_)) {
            return;
        }
        let text = short(left);
        self.store(
            &self.place_of(left),
            &v,
            &format!("from {text} (stored) at {}", at(p)),
            &text,
        );
    }

    /// Stores `v` into `place`: inside a local it lives as long as the local; anywhere
    /// else it escapes (or may, when the place is unknown).
    pub fn store(&mut self, place: &Place, v: &Val, step: &str, callee: &str) {
        if v.is_empty() {
            return;
        }
        match place {
            Place::Local(name) => self.add_into_local(name, v, step),
            Place::Alias { target, name } => {
                self.add_into_local(target, v, step);
                self.add_into_local(name, v, step);
            }
            Place::Outside(t) | Place::Static(t) => {
                self.sink(v, Kind::Escapes, &format!("stored in {t}"), step, false)
            }
            Place::Unknown(t, root) => {
                if let Some(name) = root {
                    self.add_into_local(name, v, step);
                }
                self.sink(
                    v,
                    Kind::MayEscape,
                    &format!("stored in {t}"),
                    &format!("{step} (memory this function may not own)"),
                    false,
                );
            }
            Place::Temp(_) => self.sink(
                v,
                Kind::MayEscape,
                &format!("passed to {callee}"),
                step,
                false,
            ),
        }
    }

    pub(crate) fn add_into_local(&mut self, name: &str, v: &Val, step: &str) {
        let Some((_, b)) = self.env.lookup(name) else {
            return;
        };
        let heap: Vec<usize> = b
            .val
            .held()
            .into_iter()
            .filter(|&s| self.sites.get(s).is_some_and(|x| x.kind != SiteKind::Stack))
            .collect();
        if heap.is_empty() {
            if let Some(b) = self.env.lookup_mut(name) {
                b.val.union(v);
            }
        } else {
            for h in heap {
                self.contain(h, v, step);
            }
        }
    }

    /// Marks the empty collections `e` holds as grown (they are allocations from here on).
    pub fn grow(&mut self, e: &Expr, line: u32) {
        let names = match self.place_of(e) {
            Place::Local(name) => vec![name],
            Place::Alias { target, name } => vec![target, name],
            Place::Unknown(_, Some(name)) => vec![name],
            _ => return,
        };
        for name in names {
            let Some((_, b)) = self.env.lookup(&name) else {
                continue;
            };
            for s in b.val.held() {
                if let Some(site) = self.sites.get_mut(s)
                    && (site.pending || site.grown.is_some())
                {
                    self.dirty |= site.pending;
                    site.pending = false;
                    site.grown.get_or_insert(line);
                }
            }
        }
    }

    /// Where a place expression lives, found from its root name. Accessor calls on the
    /// way (`.last_mut().unwrap()`, `.entry(k).or_default()`) keep the root's memory; a
    /// method the analysis does not know may return anything, and `borrow_mut()`/`lock()`
    /// on a value holding no allocation of this function reach memory shared with others.
    pub fn place_of(&self, e: &Expr) -> Place {
        let text = place_text(e);
        let mut cur = e;
        let mut unknown_method = false;
        let mut through_cell = false;
        let root = loop {
            cur = match cur {
                Expr::Field(f) => &f.base,
                Expr::Index(i) => &i.expr,
                Expr::Paren(p) => &p.expr,
                Expr::Group(g) => &g.expr,
                Expr::Cast(c) => &c.expr,
                Expr::Try(t) => &t.expr,
                Expr::Unary(u) if matches!(u.op, UnOp::Deref(_)) => &u.expr,
                Expr::MethodCall(m) => {
                    let name = m.method.to_string();
                    through_cell |= interior(&name);
                    unknown_method |= !accessor(&name) && !self.by_ref_methods.contains(&name);
                    &m.receiver
                }
                Expr::Reference(r) => &r.expr,
                Expr::RawAddr(r) => &r.expr,
                Expr::Unsafe(u) => match u.block.stmts.last() {
                    Some(syn::Stmt::Expr(e, None)) => e,
                    _ => break Place::Temp(text.clone()),
                },
                Expr::Block(b) => match b.block.stmts.last() {
                    Some(syn::Stmt::Expr(e, None)) => e,
                    _ => break Place::Temp(text.clone()),
                },
                Expr::Path(p) => break self.place_of_path(&p.path, text.clone()),
                _ => break Place::Temp(text.clone()),
            };
        };
        let holds_site = |name: &str| {
            self.env
                .lookup(name)
                .is_some_and(|(_, b)| !b.val.held().is_empty())
        };
        match root {
            Place::Local(name) | Place::Alias { name, .. }
                if unknown_method || (through_cell && !holds_site(&name)) =>
            {
                Place::Unknown(text, Some(name))
            }
            other => other,
        }
    }

    pub(crate) fn place_of_path(&self, path: &syn::Path, text: String) -> Place {
        let last = path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        if path.segments.len() == 1
            && let Some((_, b)) = self.env.lookup(&last)
        {
            return match &b.origin {
                Origin::Local => Place::Local(last),
                Origin::Alias(target) => Place::Alias {
                    target: target.clone(),
                    name: last,
                },
                Origin::Outside(alias) if text == last || text.contains("..") => {
                    Place::Outside(alias.clone())
                }
                Origin::Outside(_) => Place::Outside(text),
                Origin::Unknown(_) => Place::Unknown(text, Some(last)),
            };
        }
        if is_static_name(&last) {
            Place::Static(text)
        } else {
            Place::Temp(text)
        }
    }
}

/// `COUNTER`, `CACHE_2`: an all-upper-case name is a static (or a constant).
fn is_static_name(name: &str) -> bool {
    name.chars().any(char::is_uppercase)
        && name
            .chars()
            .all(|c| c.is_uppercase() || c == '_' || c.is_ascii_digit())
}

/// The origin of a binding that borrows (or copies out of) `place`.
pub(crate) fn place_origin(place: Place) -> Origin {
    match place {
        Place::Local(name) => Origin::Alias(name),
        Place::Alias { target, .. } => Origin::Alias(target),
        Place::Outside(t) | Place::Static(t) => Origin::Outside(t),
        Place::Unknown(t, _) | Place::Temp(t) => Origin::Unknown(t),
    }
}

/// The text of a place without the accessor calls after it: `self.cache` for
/// `self.cache.lock().unwrap()`.
fn place_text(e: &Expr) -> String {
    let mut cur = e;
    loop {
        cur = match cur {
            Expr::MethodCall(m) => &m.receiver,
            Expr::Reference(r) => &r.expr,
            Expr::Paren(p) => &p.expr,
            Expr::Unsafe(u) => match u.block.stmts.last() {
                Some(syn::Stmt::Expr(e, None)) => e,
                _ => break,
            },
            _ => break,
        };
    }
    short(cur)
}
