//! The abstract state the flow walks with: which allocation sites a value may hold
//! ([`Val`]), and which sites each binding in scope may hold ([`Env`]).
//!
//! Branches run from the same state and are joined afterwards, so a reassignment in one
//! `if` arm does not make the analysis forget the other arm.

use std::collections::{BTreeSet, HashMap};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binding {
    pub name: String,
    pub val: Val,
    pub origin: Origin,
}

/// Nested scopes of bindings; later bindings shadow earlier ones.
///
/// Bindings sit in one vector (a scope is where it starts) with an index by name, so a
/// lookup does not scan every binding in scope. A branch does not copy the environment:
/// [`Env::checkpoint`] starts recording the old values of the bindings it changes, and
/// [`Env::undo`] puts them back and hands over what the branch left, to be joined. Both
/// cost what the branch changed, not the size of the environment, which made a long
/// function with many branches quadratic.
#[derive(Debug, Clone, Default)]
pub(crate) struct Env {
    bindings: Vec<Binding>,
    /// Where each open scope starts in `bindings`.
    scopes: Vec<usize>,
    /// The bindings of each name in scope, innermost last.
    names: HashMap<String, Vec<usize>>,
    /// Old values of bindings changed since the open checkpoints were taken.
    trail: Vec<(usize, Val)>,
    /// Open checkpoints: the length of `trail` and of `bindings` when each was taken.
    marks: Vec<(usize, usize)>,
}

/// Two environments are equal when they bind the same names to the same values.
impl PartialEq for Env {
    fn eq(&self, other: &Env) -> bool {
        self.bindings == other.bindings && self.scopes == other.scopes
    }
}

impl Eq for Env {}

impl Env {
    /// Number of open scopes; closures remember it to tell captures from their own locals.
    pub fn depth(&self) -> usize {
        self.scopes.len()
    }

    pub fn push(&mut self) {
        self.scopes.push(self.bindings.len());
    }

    pub fn pop(&mut self) {
        let Some(start) = self.scopes.pop() else {
            return;
        };
        for b in self.bindings.drain(start..).rev() {
            if let Some(list) = self.names.get_mut(&b.name) {
                list.pop();
                if list.is_empty() {
                    self.names.remove(&b.name);
                }
            }
        }
    }

    pub fn bind(&mut self, name: String, val: Val, origin: Origin) {
        if self.scopes.is_empty() {
            self.push();
        }
        self.names
            .entry(name.clone())
            .or_default()
            .push(self.bindings.len());
        self.bindings.push(Binding { name, val, origin });
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.get(name).and_then(|list| list.last().copied())
    }

    /// The innermost binding of `name` and the index of its scope.
    pub fn lookup(&self, name: &str) -> Option<(usize, &Binding)> {
        let i = self.index(name)?;
        let depth = self
            .scopes
            .partition_point(|&start| start <= i)
            .saturating_sub(1);
        self.bindings.get(i).map(|b| (depth, b))
    }

    pub fn lookup_mut(&mut self, name: &str) -> Option<&mut Binding> {
        let i = self.index(name)?;
        self.record(i);
        self.bindings.get_mut(i)
    }

    /// Keeps the value of binding `i` for the innermost checkpoint, unless the binding
    /// is younger than it (the branch's own scopes drop it).
    fn record(&mut self, i: usize) {
        if let Some(&(_, len)) = self.marks.last()
            && i < len
            && let Some(b) = self.bindings.get(i)
        {
            self.trail.push((i, b.val.clone()));
        }
    }

    /// Starts a branch: changes to the bindings in scope are recorded until [`Env::undo`].
    pub fn checkpoint(&mut self) {
        self.marks.push((self.trail.len(), self.bindings.len()));
    }

    /// Ends the branch of the last checkpoint: puts back the values the bindings had
    /// then and returns what the branch left in the ones it changed (by index).
    pub fn undo(&mut self) -> Vec<(usize, Val)> {
        let Some((trail_len, len)) = self.marks.pop() else {
            return Vec::new();
        };
        // Branches open and close their own scopes; should one have bound a name in
        // the scope around it, that binding goes with the branch.
        while self.bindings.len() > len {
            if let Some(b) = self.bindings.pop()
                && let Some(list) = self.names.get_mut(&b.name)
            {
                list.pop();
                if list.is_empty() {
                    self.names.remove(&b.name);
                }
            }
        }
        let mut left = Vec::new();
        let mut done = std::collections::HashSet::new();
        for (i, _) in &self.trail[trail_len..] {
            if done.insert(*i)
                && let Some(b) = self.bindings.get(*i)
            {
                left.push((*i, b.val.clone()));
            }
        }
        for (i, old) in self.trail.drain(trail_len..).rev() {
            if let Some(b) = self.bindings.get_mut(i) {
                b.val = old;
            }
        }
        left
    }

    /// Adds `v` to what binding `i` may hold; whether that added anything.
    pub fn union_at(&mut self, i: usize, v: &Val) -> bool {
        let Some(b) = self.bindings.get(i) else {
            return false;
        };
        let grows = !v.sites.is_subset(&b.val.sites) || !v.captured.is_subset(&b.val.captured);
        if grows {
            self.record(i);
            if let Some(b) = self.bindings.get_mut(i) {
                b.val.union(v);
            }
        }
        grows
    }

    /// Replaces what binding `i` holds.
    pub fn set_at(&mut self, i: usize, v: Val) {
        self.record(i);
        if let Some(b) = self.bindings.get_mut(i) {
            b.val = v;
        }
    }
}
