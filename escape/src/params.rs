//! Parameters: how they enter the flow (references to the caller's memory are "outside",
//! values are locals), and which ones the result borrows from, following Rust's lifetime
//! elision rules and named lifetimes (Go's `leaking param: p to result ~r0 level=0`).

use crate::env::{Origin, Val};
use crate::finding::{Finding, Kind};
use crate::flow::Analyzer;
use crate::sites::SiteKind;
use crate::text::{at, pos, tokens};
use syn::visit::Visit;
use syn::{FnArg, Pat, ReceiverKind, ReturnType, Signature, Type};

/// Binds the parameters of `sig` in the analyzer's top scope.
pub(crate) fn bind_params(a: &mut Analyzer<'_>, sig: &Signature) {
    let generics: Vec<String> = sig
        .generics
        .type_params()
        .map(|t| t.ident.to_string())
        .collect();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                let origin = match &r.kind {
                    ReceiverKind::Reference(..) => Origin::Outside("self".into()),
                    ReceiverKind::Typed(_, ty) => match param_memory(ty, &generics) {
                        Memory::Owned => Origin::Local,
                        Memory::Caller => Origin::Outside("self".into()),
                        Memory::Unknown => Origin::Unknown("self".into()),
                    },
                    _ => Origin::Local,
                };
                a.env.bind("self".into(), Val::default(), origin);
            }
            FnArg::Typed(pt) => {
                if let Pat::Ident(id) = &*pt.pat
                    && is_collection(&pt.ty)
                {
                    a.collection_params.insert(id.ident.to_string());
                }
                let origin = match param_memory(&pt.ty, &generics) {
                    Memory::Owned => Origin::Local,
                    Memory::Caller => {
                        bind_names(a, &pt.pat, Origin::Outside(tokens(&*pt.pat)));
                        continue;
                    }
                    Memory::Unknown => Origin::Unknown(tokens(&*pt.pat)),
                };
                let mut v = Val::default();
                if let Pat::Ident(id) = &*pt.pat
                    && !is_heap_type(&pt.ty)
                {
                    let s = a.site(pos(&id.ident), id.ident.to_string(), SiteKind::Stack);
                    if let Some(site) = a.sites.get_mut(s) {
                        site.ty = Some(tokens(&*pt.ty))
                            .filter(|t| !t.contains("impl") && !t.contains("dyn"));
                    }
                    v = Val::one(s);
                }
                a.bind_pat(&pt.pat, &v, origin);
            }
        }
    }
}

fn bind_names(a: &mut Analyzer<'_>, pat: &Pat, origin: Origin) {
    // A pattern like `out` or `mut out`; anything fancier gets the same origin per name.
    let text = match pat {
        Pat::Ident(i) => i.ident.to_string(),
        other => tokens(other),
    };
    let origin = match origin {
        Origin::Outside(_) => Origin::Outside(text),
        Origin::Unknown(_) => Origin::Unknown(text),
        o => o,
    };
    a.bind_pat(pat, &Val::default(), origin);
}

/// `Vec<T>`, `&mut VecDeque<T>`, `&mut HashMap<K, V>`..: a std collection, or a reference
/// to one.
fn is_collection(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => is_collection(&r.elem),
        Type::Paren(p) => is_collection(&p.elem),
        Type::Path(p) => p.path.segments.last().is_some_and(|s| {
            matches!(
                s.ident.to_string().as_str(),
                "Vec"
                    | "VecDeque"
                    | "HashMap"
                    | "HashSet"
                    | "BTreeMap"
                    | "BTreeSet"
                    | "BinaryHeap"
                    | "LinkedList"
            )
        }),
        _ => false,
    }
}

/// Whose memory a parameter taken by value is.
enum Memory {
    /// The function's own: storing into it stores into a local.
    Owned,
    /// The caller's: a reference or raw pointer anywhere in the type (`&mut Vec<T>`,
    /// `Option<&mut T>`, `*mut c_void` user data, `Pin<&mut Self>`), or a shared handle
    /// (`Rc<RefCell<_>>`, `Arc<Mutex<_>>`) whose other owners see what is stored.
    Caller,
    /// Not known from the syntax: a generic or `impl Trait` type (a `W: Write` may be a
    /// `&mut Vec<u8>`), a trait object, a function pointer.
    Unknown,
}

fn param_memory(ty: &Type, generics: &[String]) -> Memory {
    struct Scan<'g> {
        caller: bool,
        unknown: bool,
        generics: &'g [String],
    }
    impl<'ast> Visit<'ast> for Scan<'_> {
        fn visit_type(&mut self, t: &'ast Type) {
            match t {
                Type::Reference(_) | Type::Ptr(_) => self.caller = true,
                Type::ImplTrait(_) | Type::TraitObject(_) | Type::FnPtr(_) => self.unknown = true,
                Type::Path(p) => {
                    if let Some(last) = p.path.segments.last() {
                        let name = last.ident.to_string();
                        if matches!(name.as_str(), "Rc" | "Arc" | "Weak" | "NonNull") {
                            self.caller = true;
                        }
                        if p.qself.is_some()
                            || (p.path.segments.len() == 1 && self.generics.contains(&name))
                        {
                            self.unknown = true;
                        }
                    }
                }
                _ => {}
            }
            syn::visit::visit_type(self, t);
        }
        fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
            if l.ident != "static" {
                self.caller = true;
            }
        }
    }
    let mut scan = Scan {
        caller: false,
        unknown: false,
        generics,
    };
    scan.visit_type(ty);
    if scan.caller {
        Memory::Caller
    } else if scan.unknown {
        Memory::Unknown
    } else {
        Memory::Owned
    }
}

/// Parameters not worth a `moved to heap` line: heap handles (moving one moves no stack
/// value), primitives and `Option`/`Result` (copies and wrappers, not named stack objects).
fn is_heap_type(ty: &Type) -> bool {
    let Type::Path(tp) = ty else { return true };
    let Some(last) = tp.path.segments.last() else {
        return true;
    };
    matches!(
        last.ident.to_string().as_str(),
        "Box"
            | "Rc"
            | "Arc"
            | "Vec"
            | "String"
            | "HashMap"
            | "HashSet"
            | "BTreeMap"
            | "BTreeSet"
            | "VecDeque"
            | "BinaryHeap"
            | "PathBuf"
            | "OsString"
            | "Option"
            | "Result"
            | "u8"
            | "u16"
            | "u32"
            | "u64"
            | "u128"
            | "usize"
            | "i8"
            | "i16"
            | "i32"
            | "i64"
            | "i128"
            | "isize"
            | "f32"
            | "f64"
            | "bool"
            | "char"
            | "CString"
    )
}

/// Lifetimes mentioned in a type: elided references (`&T`, `'_`) and named ones.
#[derive(Default)]
struct Lifetimes {
    elided: usize,
    named: Vec<String>,
    /// Inside `Fn(&T) -> U` or `fn(&T) -> U`: an elided lifetime there is the closure's
    /// or pointer's own (higher-ranked, `for<'x> Fn(&'x T)`), not one of the function's
    /// parameters, so `-> impl Fn(&T) -> U` does not borrow them.
    higher_ranked: usize,
}

impl<'ast> Visit<'ast> for Lifetimes {
    fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
        if r.lifetime.is_none() && self.higher_ranked == 0 {
            self.elided += 1;
        }
        syn::visit::visit_type_reference(self, r);
    }

    fn visit_parenthesized_generic_arguments(
        &mut self,
        p: &'ast syn::ParenthesizedGenericArguments,
    ) {
        self.higher_ranked += 1;
        syn::visit::visit_parenthesized_generic_arguments(self, p);
        self.higher_ranked -= 1;
    }

    fn visit_type_fn_ptr(&mut self, f: &'ast syn::TypeFnPtr) {
        self.higher_ranked += 1;
        syn::visit::visit_type_fn_ptr(self, f);
        self.higher_ranked -= 1;
    }

    fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
        match l.ident.to_string().as_str() {
            "_" if self.higher_ranked == 0 => self.elided += 1,
            "_" | "static" => {}
            name => self.named.push(name.to_string()),
        }
    }
}

fn lifetimes_of(ty: &Type) -> Lifetimes {
    let mut l = Lifetimes::default();
    l.visit_type(ty);
    l
}

/// One parameter as the elision rules see it.
struct Param {
    name: String,
    pos: (u32, u32),
    lifetimes: Lifetimes,
    is_self: bool,
}

fn params(sig: &Signature) -> Vec<Param> {
    let mut out = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                let mut lifetimes = Lifetimes::default();
                match &r.kind {
                    ReceiverKind::Reference(_, Some(lt), _) => lifetimes.visit_lifetime(lt),
                    ReceiverKind::Reference(_, None, _) => lifetimes.elided += 1,
                    ReceiverKind::Typed(_, ty) => lifetimes = lifetimes_of(ty),
                    _ => {}
                }
                out.push(Param {
                    name: "self".into(),
                    pos: pos(&r.self_token),
                    lifetimes,
                    is_self: true,
                });
            }
            FnArg::Typed(pt) => {
                let name = match &*pt.pat {
                    Pat::Ident(i) => i.ident.to_string(),
                    other => tokens(other),
                };
                out.push(Param {
                    name,
                    pos: pos(&*pt.pat),
                    lifetimes: lifetimes_of(&pt.ty),
                    is_self: false,
                });
            }
        }
    }
    out
}

/// `leaking param: p to result ~r0 level=0` for each parameter the result borrows from.
pub(crate) fn leaking_params(sig: &Signature, file: &str, function: &str) -> Vec<Finding> {
    let ReturnType::Type(_, ret) = &sig.output else {
        return Vec::new();
    };
    let result = lifetimes_of(ret);
    let ps = params(sig);
    let mut leaking: Vec<&Param> = Vec::new();
    if result.elided > 0 {
        // Elision: `&self` wins; otherwise exactly one input lifetime.
        let self_ref = ps
            .iter()
            .find(|p| p.is_self && p.lifetimes.elided + p.lifetimes.named.len() > 0);
        let with_lifetimes: Vec<&Param> = ps
            .iter()
            .filter(|p| p.lifetimes.elided + p.lifetimes.named.len() > 0)
            .collect();
        if let Some(s) = self_ref {
            leaking.push(s);
        } else if with_lifetimes.len() == 1 {
            leaking.extend(with_lifetimes);
        }
    }
    for name in &result.named {
        for p in ps.iter().filter(|p| p.lifetimes.named.contains(name)) {
            if !leaking.iter().any(|q| q.name == p.name) {
                leaking.push(p);
            }
        }
    }
    let ret_text = tokens(&**ret);
    leaking
        .into_iter()
        .map(|p| Finding {
            file: file.to_string(),
            line: p.pos.0,
            column: p.pos.1,
            function: function.to_string(),
            expr: p.name.clone(),
            kind: Kind::LeakingParam,
            reason: "to result ~r0 level=0".into(),
            ty: None,
            in_loop: false,
            flow: vec![format!(
                "from result type {ret_text} at {}",
                at(pos(&**ret))
            )],
            gated: false,
        })
        .collect()
}
