//! The abstract state the flow walks with: which allocation sites a value may hold
//! ([`Val`]), and which sites each binding in scope may hold ([`Env`]).
//!
//! Branches run on copies of the environment that are merged afterwards, so a
//! reassignment in one `if` arm does not make the analysis forget the other arm.

use std::collections::BTreeSet;

/// The sites a value may hold. `captured` are sites a closure or async block captured:
/// they escape with a different reason ("captured by a closure that is returned").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Val {
    /// Sites held directly (or returned by a closure when called).
    pub sites: BTreeSet<usize>,
    /// Sites captured by a closure or async block this value is.
    pub captured: BTreeSet<usize>,
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
        self.sites.is_empty() && self.captured.is_empty()
    }

    /// Adds everything `other` holds.
    pub fn union(&mut self, other: &Val) {
        self.sites.extend(other.sites.iter().copied());
        self.captured.extend(other.captured.iter().copied());
    }

    /// Every site, captured or not.
    pub fn all(&self) -> BTreeSet<usize> {
        self.sites.union(&self.captured).copied().collect()
    }

    /// The same sites, all held directly (calling a closure, awaiting a future).
    pub fn flattened(&self) -> Val {
        Val {
            sites: self.all(),
            captured: BTreeSet::new(),
        }
    }
}

/// Where a binding's memory lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A local of this function (including parameters taken by value).
    Local,
    /// A reference to memory the caller owns (`&mut self`, `out: &mut Vec<T>`, or a local
    /// borrowed from one); storing through it stores outside. Holds the place's text.
    Outside(String),
}

/// One name in scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binding {
    pub name: String,
    pub val: Val,
    pub origin: Origin,
}

/// Nested scopes of bindings; later bindings shadow earlier ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
