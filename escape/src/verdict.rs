//! Turning what the flow recorded into verdicts: each site's own events (returned,
//! stored, passed, leaked) plus those of the allocations that contain it, strongest first:
//! leaks, escapes, may escape; a site with none does not escape.

use crate::finding::{Finding, Kind};
use crate::sites::SiteKind;
use crate::text::at;

/// Something that happened to a site's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// `Escapes`, `Leaks` or `MayEscape`.
    pub kind: Kind,
    pub reason: String,
    /// The flow step that caused it (`from return at 3:5`).
    pub step: String,
    /// The value was returned as is (not inside another allocation): the return type
    /// then names the site's type.
    pub direct_return: bool,
    /// Only the allocation may live on, not the value in it (a `Weak` to an `Rc`): what it
    /// contains does not inherit this.
    pub allocation_only: bool,
}

/// An allocation site (or a named stack value) found in the function.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub pos: (u32, u32),
    pub expr: String,
    pub kind: SiteKind,
    pub ty: Option<String>,
    pub in_loop: bool,
    /// An empty collection not (yet) grown: not an allocation unless grown.
    pub pending: bool,
    /// Line of the first growth of an empty collection.
    pub grown: Option<u32>,
    /// Where the value went, in order (`from v (assigned) at 2:9`).
    pub steps: Vec<String>,
    pub events: Vec<Event>,
    /// Sites moved into this one, with the step that moved them.
    pub contents: Vec<(usize, String)>,
    /// Consumed vectors whose buffer this one (a `collect`) may have taken over.
    pub reused: Vec<(usize, String)>,
    /// Built as the error of a `Result`: a `?` returns it.
    pub error: bool,
    /// A stack value (a struct literal or a named one) stored straight into a collection
    /// (`out.push(Point { .. })`, see `MethodClass::Store`).
    pub into_collection: bool,
}

impl Site {
    pub fn new(pos: (u32, u32), expr: String, kind: SiteKind, in_loop: bool) -> Site {
        Site {
            pos,
            expr,
            kind,
            ty: None,
            in_loop,
            pending: false,
            grown: None,
            steps: Vec::new(),
            events: Vec::new(),
            contents: Vec::new(),
            reused: Vec::new(),
            error: false,
            into_collection: false,
        }
    }

    pub fn step(&mut self, s: String) {
        if !self.steps.contains(&s) {
            self.steps.push(s);
        }
    }

    pub fn event(&mut self, e: Event) {
        if !self.events.contains(&e) {
            self.events.push(e);
        }
    }
}

/// The decided verdict of one site, with the flow that led to it.
#[derive(Debug, Clone)]
struct Decision {
    kind: Kind,
    reason: String,
    flow: Vec<String>,
    direct_return: bool,
    via_container: bool,
    /// Decided by a `collect` that may reuse this vector's buffer: the buffer's fate only,
    /// not that of the elements it held (they were moved out as items).
    reuse: bool,
}

fn rank(k: Kind) -> u8 {
    match k {
        Kind::Leaks => 0,
        Kind::Escapes => 1,
        _ => 2,
    }
}

/// Decides every site: its own events and those inherited from containers.
fn decide_all(sites: &[Site]) -> Vec<Option<Decision>> {
    let mut memo: Vec<Option<Option<Decision>>> = vec![None; sites.len()];
    let mut containers: Vec<Vec<(usize, String, bool)>> = vec![Vec::new(); sites.len()];
    for (i, s) in sites.iter().enumerate() {
        for (child, step) in &s.contents {
            if let Some(list) = containers.get_mut(*child) {
                list.push((i, step.clone(), false));
            }
        }
        for (child, step) in &s.reused {
            if let Some(list) = containers.get_mut(*child) {
                list.push((i, step.clone(), true));
            }
        }
    }
    let mut visiting = vec![false; sites.len()];
    (0..sites.len())
        .map(|i| decide(i, sites, &containers, &mut memo, &mut visiting))
        .collect()
}

fn decide(
    i: usize,
    sites: &[Site],
    containers: &[Vec<(usize, String, bool)>],
    memo: &mut Vec<Option<Option<Decision>>>,
    visiting: &mut Vec<bool>,
) -> Option<Decision> {
    if let Some(Some(done)) = memo.get(i) {
        return done.clone();
    }
    // A cycle of containers (possible with `Rc`) adds nothing new: stop there.
    if visiting.get(i).copied().unwrap_or(true) {
        return None;
    }
    visiting[i] = true;
    let site = &sites[i];
    let mut best: Option<Decision> = None;
    for e in &site.events {
        let mut flow = site.steps.clone();
        if !flow.contains(&e.step) {
            flow.push(e.step.clone());
        }
        let d = Decision {
            kind: e.kind,
            reason: e.reason.clone(),
            flow,
            direct_return: e.direct_return,
            via_container: false,
            reuse: e.allocation_only,
        };
        best = stronger(best, d);
    }
    for (parent, step, reused) in &containers[i] {
        if let Some(mut pd) = decide(*parent, sites, containers, memo, visiting) {
            if pd.reuse && !*reused {
                continue;
            }
            if *reused {
                // Only the buffer may live on, inside the collection that took it over.
                let verdict = match pd.kind {
                    Kind::Leaks => "leaks",
                    Kind::Escapes => "escapes",
                    _ => "may escape",
                };
                pd.reason = format!(
                    "buffer may be reused by the collect at {} (in place), which {verdict}",
                    at(sites[*parent].pos)
                );
                pd.kind = Kind::MayEscape;
            }
            let mut flow = site.steps.clone();
            flow.push(step.clone());
            flow.push(format!(
                "contained in {} at {}",
                sites[*parent].expr,
                at(sites[*parent].pos)
            ));
            flow.extend(pd.flow);
            let d = Decision {
                flow,
                direct_return: false,
                via_container: true,
                reuse: *reused,
                ..pd
            };
            best = stronger(best, d);
        }
    }
    visiting[i] = false;
    memo[i] = Some(best.clone());
    best
}

fn stronger(a: Option<Decision>, b: Decision) -> Option<Decision> {
    match a {
        Some(a) if rank(a.kind) <= rank(b.kind) => Some(a),
        _ => Some(b),
    }
}

/// What the function's return type says about a directly returned site.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReturnHint {
    pub kind: Option<SiteKind>,
    pub ty: Option<String>,
}

/// The findings for every real site of one function.
pub(crate) fn findings(
    sites: &[Site],
    file: &str,
    function: &str,
    ret: &ReturnHint,
) -> Vec<Finding> {
    let decisions = decide_all(sites);
    let mut out = Vec::new();
    for (site, decision) in sites.iter().zip(decisions) {
        if site.pending {
            continue;
        }
        if let Some(f) = finding(site, decision, file, function, ret) {
            out.push(f);
        }
    }
    out
}

fn finding(
    site: &Site,
    decision: Option<Decision>,
    file: &str,
    function: &str,
    ret: &ReturnHint,
) -> Option<Finding> {
    let mut expr = site.expr.clone();
    if let Some(line) = site.grown {
        expr = format!("{expr} (grown at line {line})");
    }
    let (kind, reason, flow, mut ty) = match decision {
        // A stack value only matters when an escaping allocation took it in.
        Some(d) if site.kind == SiteKind::Stack => {
            // A stack value stored straight into the caller's collection is moved to the
            // heap (its buffer); otherwise only through an escaping allocation of here.
            let direct = site.into_collection && d.kind != Kind::MayEscape;
            if !((d.via_container || direct) && d.kind != Kind::MayEscape) {
                return None;
            }
            let verdict = if d.kind == Kind::Leaks {
                "leaks"
            } else {
                "escapes to heap"
            };
            let reason = if d.via_container {
                format!("moved into an allocation that {verdict}: {}", d.reason)
            } else {
                format!("stored in heap memory: {}", d.reason)
            };
            (Kind::MovedToHeap, reason, d.flow, site.ty.clone())
        }
        None if site.kind == SiteKind::Stack => return None,
        Some(d) => {
            let ty = match (&site.ty, d.direct_return) {
                (None, true) if ret.kind == Some(site.kind) => ret.ty.clone(),
                _ => site.ty.clone(),
            };
            (d.kind, d.reason, d.flow, ty)
        }
        None => {
            let reason = if site.in_loop {
                "allocated in a loop".to_string()
            } else {
                String::new()
            };
            (
                Kind::DoesNotEscape,
                reason,
                site.steps.clone(),
                site.ty.clone(),
            )
        }
    };
    if ty.as_deref() == Some("") {
        ty = None;
    }
    Some(Finding {
        file: file.to_string(),
        line: site.pos.0,
        column: site.pos.1,
        function: function.to_string(),
        expr,
        kind,
        reason,
        ty,
        in_loop: site.in_loop,
        flow,
        gated: false,
    })
}
