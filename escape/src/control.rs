//! Control flow: conditions, `if`, `match`, loops and closures. Branches run on copies of
//! the environment that are joined afterwards; loop bodies are walked until the state at
//! their head settles, so a value carried from one iteration to the next is seen.

use crate::env::{Origin, Val};
use crate::flow::{Analyzer, Frame};
use crate::sites::SiteKind;
use crate::text::at;
use std::collections::BTreeSet;

/// Passes of an outermost loop after which the walk stops and the function's verdicts
/// are no longer trusted (`gave_up`). Each pass that does not stop adds a site to
/// what some binding may hold, so real loops settle in two or three.
const MAX_LOOP_PASSES: u32 = 64;
use syn::{BinOp, Expr, Pat};

impl Analyzer<'_> {
    /// A condition: `if let` / `while let` bind into the current scope.
    pub(crate) fn cond(&mut self, c: &Expr) {
        match c {
            Expr::Let(l) => {
                let v = self.expr(&l.expr);
                let origin = self.origin_of(&l.expr);
                self.bind_pat(&l.pat, &v, origin);
            }
            Expr::Binary(b) if matches!(b.op, BinOp::And(_)) => {
                self.cond(&b.left);
                self.cond(&b.right);
            }
            other => {
                self.borrowed(other);
            }
        }
    }

    pub(crate) fn if_expr(&mut self, i: &syn::ExprIf) -> Val {
        self.env.checkpoint();
        self.env.push();
        self.cond(&i.cond);
        let mut v = self.block(&i.then_branch);
        self.env.pop();
        let after_then = self.env.undo();
        self.env.checkpoint();
        if let Some((_, els)) = &i.else_branch {
            v.union(&self.expr(els));
        }
        let after_else = self.env.undo();
        // A binding either branch changed holds what either left; one that only one
        // branch changed may also still hold what it held before.
        let by_else: std::collections::HashMap<usize, &Val> =
            after_else.iter().map(|(i, v)| (*i, v)).collect();
        for (i, v) in &after_then {
            if let Some(w) = by_else.get(i) {
                let mut both = v.clone();
                both.union(w);
                self.env.set_at(*i, both);
            }
        }
        self.join(&[after_then, after_else]);
        v
    }

    /// Sets each binding in `branches` (the changes of branches that all started from
    /// the current state) to what it holds now joined with what every branch left.
    fn join(&mut self, branches: &[Vec<(usize, Val)>]) {
        for changes in branches {
            for (i, v) in changes {
                self.env.union_at(*i, v);
            }
        }
    }

    pub(crate) fn match_expr(&mut self, m: &syn::ExprMatch) -> Val {
        let scrutinee = self.expr(&m.expr);
        let origin = self.origin_of(&m.expr);
        let mut v = Val::default();
        let mut arms = Vec::with_capacity(m.arms.len());
        for arm in &m.arms {
            self.env.checkpoint();
            self.env.push();
            self.bind_pat(&arm.pat, &scrutinee, origin.clone());
            if let Pat::Guard(g) = &arm.pat {
                self.borrowed(&g.guard);
            }
            v.union(&self.expr(&arm.body));
            self.env.pop();
            arms.push(self.env.undo());
        }
        self.join(&arms);
        v
    }

    /// Walks a loop body until what the bindings may hold at its head stops growing
    /// (values carried from one iteration to the next are then seen), joined with the
    /// state before the loop. The value is what `break` hands out.
    ///
    /// Only the outermost loop repeats. A nested loop is walked once per pass of the
    /// loop around it, from its head as the previous pass left it (kept by position in
    /// `loop_heads`), and marks the pass `dirty` when its head grew; the outermost loop
    /// stops after a pass in which nothing grew, when every head holds what its body
    /// hands back. Walking each loop twice per walk of the loop around it, as before,
    /// doubled the cost with every level of nesting.
    pub(crate) fn in_loop(&mut self, key: (u32, u32), mut body: impl FnMut(&mut Self)) -> Val {
        self.loop_depth += 1;
        self.breaks.push(Val::default());
        // What earlier passes carried back to this head (bindings are at the same
        // indices each time the walk reaches the loop).
        if let Some(carried) = self.loop_heads.get(&key).cloned() {
            for (i, v) in &carried {
                self.env.union_at(*i, v);
            }
        }
        if self.loop_depth == 1 {
            let mut passes = 0;
            loop {
                self.dirty = false;
                self.loop_pass(key, &mut body);
                passes += 1;
                if !self.dirty {
                    break;
                }
                if passes == MAX_LOOP_PASSES {
                    self.gave_up = true;
                    break;
                }
            }
        } else {
            self.loop_pass(key, &mut body);
        }
        self.loop_depth -= 1;
        self.breaks.pop().unwrap_or_default()
    }

    /// One walk of a loop body from the state at its head, which then takes in the state
    /// at the end of the body; marks the pass dirty if that added anything.
    fn loop_pass(&mut self, key: (u32, u32), body: &mut impl FnMut(&mut Self)) {
        self.env.checkpoint();
        body(self);
        let end = self.env.undo();
        for (i, v) in end {
            if self.env.union_at(i, &v) {
                self.dirty = true;
                let carried = self.loop_heads.entry(key).or_default();
                match carried.iter_mut().find(|(j, _)| *j == i) {
                    Some((_, held)) => held.union(&v),
                    None => carried.push((i, v)),
                }
            }
        }
    }

    pub(crate) fn for_loop(&mut self, f: &syn::ExprForLoop, key: (u32, u32)) -> Val {
        let iterable = self.expr(&f.expr);
        let items = self.elements(&iterable);
        let origin = self.origin_of(&f.expr);
        self.in_loop(key, |a| {
            a.env.push();
            a.bind_pat(&f.pat, &items, origin.clone());
            a.block(&f.body);
            a.env.pop();
        })
    }

    /// What taking elements out of `v` yields: a collection's contents, otherwise the
    /// value; the parts of an aggregate or the items of an iterator as they are (they are
    /// the elements, not containers of them).
    pub fn elements(&self, v: &Val) -> Val {
        let mut out = Val::default();
        for &s in v.sites.union(&v.captured) {
            match self.sites.get(s) {
                Some(site) if site.kind == SiteKind::Collection => {
                    out.sites.extend(site.contents.iter().map(|(c, _)| *c));
                }
                Some(_) => {
                    out.sites.insert(s);
                }
                None => {}
            }
        }
        out.sites.extend(v.parts.iter().copied());
        out.parts.extend(v.parts.iter().copied());
        out
    }

    /// A closure or async block: walked in place (its effects happen where it is
    /// written, the conservative choice); its value holds its captures and results.
    pub(crate) fn closure(
        &mut self,
        is_move: bool,
        inputs: &[&Pat],
        body: impl FnOnce(&mut Self) -> Val,
        p: (u32, u32),
    ) -> Val {
        let base = self.env.depth();
        self.frames.push(Frame {
            base,
            is_move,
            ..Frame::default()
        });
        self.env.push();
        // A parameter holds what the caller hands in: the receiver's items for a closure
        // given to an adapter (`iter.map(|s| ..)`), otherwise nothing tracked; either way
        // it may be a reference to memory the closure does not own.
        let (param_val, param_origin) = self
            .closure_params
            .take()
            .unwrap_or_else(|| (Val::default(), Origin::Unknown("closure parameter".into())));
        for input in inputs {
            self.bind_pat(input, &param_val, param_origin.clone());
        }
        let saved = std::mem::replace(&mut self.borrow_depth, 0);
        let tail = body(self);
        self.borrow_depth = saved;
        self.env.pop();
        let frame = self.frames.pop().unwrap_or_default();
        let mut result = frame.result;
        result.union(&tail);
        let v = Val {
            sites: result.all(),
            captured: frame.captured.all(),
            ..Val::default()
        };
        // Steps are formatted only for values that hold something (most hold nothing).
        if !v.captured.is_empty() {
            self.step(
                &Val {
                    sites: BTreeSet::new(),
                    captured: v.captured.clone(),
                    ..Val::default()
                },
                &format!("from closure (captured) at {}", at(p)),
            );
        }
        v
    }
}
