//! The abstract state the flow walks with: which allocation sites a value may hold
//! ([`Val`]), and which sites each binding in scope may hold ([`Env`]).
//!
//! Branches run on copies of the environment that are merged afterwards, so a
//! reassignment in one `if` arm does not make the analysis forget the other arm.

use std::collections::BTreeSet;

/// The sites a value may hold. `captured` are sites a closure or async block captured:
/// they escape with a different reason ("captured by a closure that is returned").
///
/// `parts` are sites the value holds inline, with no allocation of its own in between: the
/// fields of a tuple, array, struct literal or `Some(..)`, and the items an iterator
/// adapter yields (`iter.map(|s| s.to_string())`). Taking a part out (`t.0`, `for x in
/// [a, b]`, `.next()`) gives the site itself, where taking an element out of a site in
/// `sites` (a `Vec`, a `Box`) gives what that allocation contains. Keeping the two apart
/// is what lets `[s1, s2].into_iter().next()` be `s1` rather than the (empty) contents of
/// the `String` `s1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Val {
    /// Sites held directly (or returned by a closure when called).
    pub sites: BTreeSet<usize>,
    /// Sites captured by a closure or async block this value is.
    pub captured: BTreeSet<usize>,
    /// Sites held inline (aggregate fields, iterator items).
    pub parts: BTreeSet<usize>,
}

impl Val {
    /// A value holding one site.
    pub fn one(site: usize) -> Val {
        let mut v = Val::default();
        v.sites.insert(site);
        v
    }

    /// Holds nothing tracked.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty() && self.captured.is_empty() && self.parts.is_empty()
    }

    /// Adds everything `other` holds.
    pub fn union(&mut self, other: &Val) {
        self.sites.extend(other.sites.iter().copied());
        self.captured.extend(other.captured.iter().copied());
        self.parts.extend(other.parts.iter().copied());
    }

    /// Every site, captured, held or inline.
    pub fn all(&self) -> BTreeSet<usize> {
        let mut all: BTreeSet<usize> = self.sites.union(&self.captured).copied().collect();
        all.extend(self.parts.iter().copied());
        all
    }

    /// Sites held or inline, not captured: what the value is made of.
    pub fn held(&self) -> BTreeSet<usize> {
        self.sites.union(&self.parts).copied().collect()
    }

    /// The same sites, all held directly (calling a closure, awaiting a future).
    pub fn flattened(&self) -> Val {
        Val {
            sites: self.sites.union(&self.captured).copied().collect(),
            parts: self.parts.clone(),
            ..Val::default()
        }
    }

    /// A value holding everything `self` holds inline: a tuple, array, struct literal or
    /// enum variant built from it.
    pub fn as_parts(&self) -> Val {
        Val {
            parts: self.held(),
            captured: self.captured.clone(),
            ..Val::default()
        }
    }
}

/// Where a binding's memory lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A local of this function (including parameters taken by value).
    Local,
    /// A reference to memory the caller owns (`&mut self`, `out: &mut Vec<T>`, a raw
    /// pointer parameter, or a local borrowed from one); storing through it stores
    /// outside. Holds the place's text.
    Outside(String),
    /// A reference into the local named (`let r = &mut v;`, `let e =
    /// m.entry(k).or_default();`): storing through it stores into that local too.
    Alias(String),
    /// Memory the function may not own: the result of a call it cannot see through, a
    /// closure parameter, a generic parameter taken by value. Storing through it may
    /// escape (Go's analysis sends stores through unknown pointers to the heap,
    /// cmd/compile/internal/escape). Holds the place's text.
    Unknown(String),
}

impl Origin {
    /// The stronger of two origins, for a binding that may be either (branches, aggregates):
    /// outside beats unknown beats an alias beats local; two different aliases are unknown.
    pub fn join(self, other: Origin) -> Origin {
        use Origin::*;
        match (self, other) {
            (Outside(t), _) | (_, Outside(t)) => Outside(t),
            (Unknown(t), _) | (_, Unknown(t)) => Unknown(t),
            (Alias(a), Alias(b)) if a == b => Alias(a),
            (Alias(a), Alias(_)) => Unknown(a),
            (Alias(a), Local) | (Local, Alias(a)) => Alias(a),
            (Local, Local) => Local,
        }
    }
}

/// One name in scope.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub name: String,
    pub val: Val,
    pub origin: Origin,
}

/// Nested scopes of bindings; later bindings shadow earlier ones.
#[derive(Debug, Clone, Default)]
pub(crate) struct Env {
    scopes: Vec<Vec<Binding>>,
}

impl Env {
    /// Number of open scopes; closures remember it to tell captures from their own locals.
    pub fn depth(&self) -> usize {
        self.scopes.len()
    }

    pub fn push(&mut self) {
        self.scopes.push(Vec::new());
    }

    pub fn pop(&mut self) {
        self.scopes.pop();
    }

    pub fn bind(&mut self, name: String, val: Val, origin: Origin) {
        if self.scopes.is_empty() {
            self.push();
        }
        if let Some(scope) = self.scopes.last_mut() {
            scope.push(Binding { name, val, origin });
        }
    }

    /// The innermost binding of `name` and the index of its scope.
    pub fn lookup(&self, name: &str) -> Option<(usize, &Binding)> {
        self.scopes
            .iter()
            .enumerate()
            .rev()
            .find_map(|(depth, scope)| {
                scope
                    .iter()
                    .rev()
                    .find(|b| b.name == name)
                    .map(|b| (depth, b))
            })
    }

    pub fn lookup_mut(&mut self, name: &str) -> Option<&mut Binding> {
        self.scopes
            .iter_mut()
            .rev()
            .find_map(|scope| scope.iter_mut().rev().find(|b| b.name == name))
    }

    /// Joins the state after another branch into this one (union of what each binding may hold).
    pub fn merge(&mut self, other: &Env) {
        for (mine, theirs) in self.scopes.iter_mut().zip(&other.scopes) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                if a.name == b.name {
                    a.val.union(&b.val);
                }
            }
        }
    }
}
