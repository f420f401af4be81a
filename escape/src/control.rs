//! Control flow: conditions, `if`, `match`, loops and closures. Branches run on copies of
//! the environment that are joined afterwards; loop bodies are walked twice so a value
//! carried from one iteration to the next is seen.

use crate::env::{Origin, Val};
use crate::flow::{Analyzer, Frame};
use crate::sites::SiteKind;
use crate::text::at;
use std::collections::BTreeSet;
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
        let start = self.env.clone();
        self.env.push();
        self.cond(&i.cond);
        let mut v = self.block(&i.then_branch);
        self.env.pop();
        let after_then = std::mem::replace(&mut self.env, start);
        if let Some((_, els)) = &i.else_branch {
            v.union(&self.expr(els));
        }
        self.env.merge(&after_then);
        v
    }

    pub(crate) fn match_expr(&mut self, m: &syn::ExprMatch) -> Val {
        let scrutinee = self.expr(&m.expr);
        let origin = self.origin_of(&m.expr);
        let start = self.env.clone();
        let mut joined = self.env.clone();
        let mut v = Val::default();
        for arm in &m.arms {
            self.env = start.clone();
            self.env.push();
            self.bind_pat(&arm.pat, &scrutinee, origin.clone());
            if let Pat::Guard(g) = &arm.pat {
                self.borrowed(&g.guard);
            }
            v.union(&self.expr(&arm.body));
            self.env.pop();
            joined.merge(&self.env);
        }
        self.env = joined;
        v
    }

    /// Walks a loop body twice (values carried from one iteration to the next are then
    /// seen), joining the state with the state before the loop. The value is what
    /// `break` hands out.
    pub(crate) fn in_loop(&mut self, mut body: impl FnMut(&mut Self)) -> Val {
        self.loop_depth += 1;
        self.breaks.push(Val::default());
        for _ in 0..2 {
            let before = self.env.clone();
            body(self);
            self.env.merge(&before);
        }
        self.loop_depth -= 1;
        self.breaks.pop().unwrap_or_default()
    }

    pub(crate) fn for_loop(&mut self, f: &syn::ExprForLoop) -> Val {
        let iterable = self.expr(&f.expr);
        let items = self.elements(&iterable);
        let origin = self.origin_of(&f.expr);
        self.in_loop(|a| {
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
        self.step(
            &Val {
                sites: BTreeSet::new(),
                captured: v.captured.clone(),
                ..Val::default()
            },
            &format!("from closure (captured) at {}", at(p)),
        );
        v
    }
}
