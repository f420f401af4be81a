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
    /// Behind a reference the caller owns; holds the place's text.
    Outside(String),
    /// A static.
    Static(String),
    /// A temporary or something unknown.
    Temp(String),
}

impl Analyzer<'_> {
    /// A binding made from a borrow of the caller's memory stays "outside":
    /// `let items = &mut self.items;`, `let slot = out.last_mut().unwrap();`.
    pub fn origin_of(&self, init: &Expr) -> Origin {
        let place = match init {
            Expr::Reference(r) => self.place_of(&r.expr),
            Expr::MethodCall(_) => self.place_of(init),
            _ => return Origin::Local,
        };
        match place {
            Place::Outside(t) | Place::Static(t) => Origin::Outside(t),
            _ => Origin::Local,
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
            if let Some(b) = self.env.lookup_mut(&name) {
                b.val = v;
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
            Place::Outside(t) | Place::Static(t) => {
                self.sink(v, Kind::Escapes, &format!("stored in {t}"), step, false)
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
            .sites
            .iter()
            .copied()
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
        let Place::Local(name) = self.place_of(e) else {
            return;
        };
        let Some((_, b)) = self.env.lookup(&name) else {
            return;
        };
        for s in b.val.sites.clone() {
            if let Some(site) = self.sites.get_mut(s)
                && (site.pending || site.grown.is_some())
            {
                self.dirty |= site.pending;
                site.pending = false;
                site.grown.get_or_insert(line);
            }
        }
    }

    /// Where a place expression lives, found from its root name.
    pub fn place_of(&self, e: &Expr) -> Place {
        let text = place_text(e);
        let mut cur = e;
        loop {
            cur = match cur {
                Expr::Field(f) => &f.base,
                Expr::Index(i) => &i.expr,
                Expr::Paren(p) => &p.expr,
                Expr::Group(g) => &g.expr,
                Expr::Unary(u) if matches!(u.op, UnOp::Deref(_)) => &u.expr,
                Expr::MethodCall(m) => &m.receiver,
                Expr::Reference(r) => &r.expr,
                Expr::Path(p) => return self.place_of_path(&p.path, text),
                _ => return Place::Temp(text),
            };
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
                Origin::Outside(alias) if text == last => Place::Outside(alias.clone()),
                Origin::Outside(_) => Place::Outside(text),
            };
        }
        let is_static = last.chars().any(char::is_uppercase)
            && last
                .chars()
                .all(|c| c.is_uppercase() || c == '_' || c.is_ascii_digit());
        if is_static {
            Place::Static(text)
        } else {
            Place::Temp(text)
        }
    }
}

/// The text of a place without the accessor calls after it: `self.cache` for
/// `self.cache.lock().unwrap()`.
fn place_text(e: &Expr) -> String {
    let mut cur = e;
    while let Expr::MethodCall(m) = cur {
        cur = &m.receiver;
    }
    short(cur)
}
