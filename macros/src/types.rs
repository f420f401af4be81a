//! Which of the analysis' type names the macro may put in `size_of::<T>()`.
//!
//! The site is a `static` at the top of the function body. A static cannot use the
//! function's (or the impl's) generic parameters, cannot say `Self`, does not see items
//! declared in nested blocks, and a path the analysis only guessed (`Cell` from
//! `Cell::new(1)`) may be a generic type that needs arguments. A wrong path breaks the
//! user's build, so a type gets a size only when all of these hold:
//!
//! - it is a primitive, or it is written out as a type somewhere in the item (its
//!   signature, a `let` annotation, a turbofish, the impl's self type…: a type written
//!   in type position is complete), or it is declared without generics at the top of
//!   the (non-`async`) body;
//! - it mentions no generic parameter, no lifetime but `'static`, no `impl`/`dyn`, no
//!   qualified path, no name declared in a nested block;
//! - `Self` only inside an annotated, non-generic `impl` of a plain type, where it is
//!   replaced by that type.
//!
//! Anything else gets `None`: the size is a hint for reports, the runtime counters
//! always have the real sizes.

use std::collections::BTreeSet;

use quote::ToTokens;
use syn::visit::Visit;
use syn::{
    Block, GenericArgument, GenericParam, Generics, Item, PathArguments, Stmt, Type, UseTree,
};

const PRIMITIVES: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32",
    "f64", "bool", "char",
];

/// What is in scope for the site static of one function.
#[derive(Default)]
pub(crate) struct Scope {
    /// Generic parameter names anywhere in the item (and its impl).
    generics: BTreeSet<String>,
    /// Names declared in the body where the static does not see them (or shadowing).
    hidden: BTreeSet<String>,
    /// Names declared without generics at the top of a non-async body: visible as is.
    local: BTreeSet<String>,
    /// Types written in type position in the item, as token strings.
    written: BTreeSet<String>,
    /// A glob import inside the body: no non-primitive name can be trusted.
    glob: bool,
    /// What `Self` stands for (a non-generic impl of a plain path type).
    self_ty: Option<Type>,
    /// A method annotated on its own (it has a receiver or says `Self`): the impl's
    /// generic parameters are unknown, so no single-name type from outside is trusted.
    method_alone: bool,
}

impl Scope {
    /// The scope of a free function (or a method annotated on its own, where `Self`
    /// is unknown).
    pub(crate) fn for_fn(generics: &Generics, sig: &syn::Signature, block: &Block) -> Scope {
        let mut s = Scope::default();
        s.add_generics(generics);
        s.add_written_sig(sig);
        s.add_block(block, sig.asyncness.is_none());
        s.method_alone = sig.receiver().is_some()
            || says_self(sig.to_token_stream())
            || says_self(block.to_token_stream());
        s
    }

    /// The text of what `Self` stands for, when it is known.
    pub(crate) fn self_name(&self) -> Option<String> {
        self.self_ty
            .as_ref()
            .map(|t| key(t).replace(" :: ", "::").replace(":: ", "::"))
    }

    /// The scope of a method of an annotated impl block.
    pub(crate) fn for_method(imp: &syn::ItemImpl, sig: &syn::Signature, block: &Block) -> Scope {
        let mut s = Scope::default();
        s.add_generics(&imp.generics);
        s.add_generics(&sig.generics);
        // Types written anywhere in the impl (self type, other signatures, bodies).
        let mut w = Written::default();
        w.visit_item_impl(imp);
        s.written.extend(w.types);
        s.generics.extend(w.generic_params);
        // Names declared in the other methods' bodies might shadow: hide them all.
        for it in &imp.items {
            if let syn::ImplItem::Fn(f) = it
                && !std::ptr::eq(&f.block, block)
            {
                let mut d = Declared::default();
                d.visit_block(&f.block);
                s.hidden.extend(d.names);
                s.glob |= d.glob;
            }
        }
        s.add_block(block, sig.asyncness.is_none());
        if imp.generics.params.is_empty()
            && let Type::Path(tp) = &*imp.self_ty
            && tp.qself.is_none()
            && tp
                .path
                .segments
                .iter()
                .all(|seg| matches!(seg.arguments, PathArguments::None))
        {
            let first = tp.path.segments[0].ident.to_string();
            if !s.hidden.contains(&first) && !s.local.contains(&first) && !s.glob {
                s.self_ty = Some((*imp.self_ty).clone());
            }
        }
        s
    }

    fn add_generics(&mut self, g: &Generics) {
        for p in &g.params {
            match p {
                GenericParam::Type(t) => {
                    self.generics.insert(t.ident.to_string());
                }
                GenericParam::Const(c) => {
                    self.generics.insert(c.ident.to_string());
                }
                GenericParam::Lifetime(_) => {}
            }
        }
    }

    fn add_written_sig(&mut self, sig: &syn::Signature) {
        let mut w = Written::default();
        w.visit_signature(sig);
        self.written.extend(w.types);
        self.generics.extend(w.generic_params);
    }

    fn add_block(&mut self, block: &Block, sync: bool) {
        let mut w = Written::default();
        w.visit_block(block);
        self.written.extend(w.types);
        self.generics.extend(w.generic_params);
        // Top-level items of a sync body share the static's block; an async body moves
        // into an `async` block the static does not see.
        for stmt in &block.stmts {
            let Stmt::Item(item) = stmt else { continue };
            let mut d = Declared::default();
            d.visit_item(item);
            match item {
                Item::Struct(s) if sync && s.generics.params.is_empty() => {
                    self.local.insert(s.ident.to_string());
                    d.names.remove(&s.ident.to_string());
                }
                Item::Enum(e) if sync && e.generics.params.is_empty() => {
                    self.local.insert(e.ident.to_string());
                    d.names.remove(&e.ident.to_string());
                }
                Item::Union(u) if sync && u.generics.params.is_empty() => {
                    self.local.insert(u.ident.to_string());
                    d.names.remove(&u.ident.to_string());
                }
                _ => {}
            }
            self.hidden.extend(d.names);
            self.glob |= d.glob;
        }
        // Everything declared deeper down (nested blocks, closures, nested fns).
        // (Items were walked whole above.)
        let mut d = Declared::default();
        for stmt in &block.stmts {
            if !matches!(stmt, Stmt::Item(_)) {
                d.visit_stmt(stmt);
            }
        }
        self.hidden.extend(d.names);
        self.glob |= d.glob;
        for h in &self.hidden {
            self.local.remove(h);
        }
    }

    /// The type to put in `size_of::<T>()` for the analysis' type name `text`, if it is
    /// safe to name at the site static.
    pub(crate) fn nameable(&self, text: &str) -> Option<Type> {
        let ty: Type = syn::parse_str(text).ok()?;
        self.check(&ty)
    }

    fn check(&self, ty: &Type) -> Option<Type> {
        match ty {
            Type::Paren(p) => self.check(&p.elem),
            Type::Tuple(t) => {
                let mut out = t.clone();
                for elem in out.elems.iter_mut() {
                    *elem = self.check(elem)?;
                }
                Some(Type::Tuple(out))
            }
            Type::Array(a) => {
                let syn::Expr::Lit(len) = &a.len else {
                    return None;
                };
                if !matches!(len.lit, syn::Lit::Int(_)) {
                    return None;
                }
                let mut out = a.clone();
                *out.elem = self.check(&a.elem)?;
                Some(Type::Array(out))
            }
            Type::Path(tp) => self.check_path(ty, tp),
            _ => None,
        }
    }

    fn check_path(&self, ty: &Type, tp: &syn::TypePath) -> Option<Type> {
        if tp.qself.is_some() {
            return None;
        }
        let segs = &tp.path.segments;
        let first = segs.first()?.ident.to_string();
        if first == "Self" {
            return if segs.len() == 1 && matches!(segs[0].arguments, PathArguments::None) {
                self.self_ty.clone()
            } else {
                None
            };
        }
        if self.hidden.contains(&first) {
            return None;
        }
        for seg in segs {
            let name = seg.ident.to_string();
            if self.generics.contains(&name) || name == "Self" || name == "_" {
                return None;
            }
            match &seg.arguments {
                PathArguments::None => {}
                PathArguments::AngleBracketed(a) => {
                    for arg in &a.args {
                        match arg {
                            GenericArgument::Type(t) => {
                                self.check(t)?;
                            }
                            GenericArgument::Lifetime(l) if l.ident == "static" => {}
                            GenericArgument::Const(syn::Expr::Lit(_)) => {}
                            _ => return None,
                        }
                    }
                }
                PathArguments::Parenthesized(_) => return None,
            }
        }
        // `Upper::Name` is an associated type of a type parameter (or an enum variant):
        // never a plain type path.
        if segs.iter().take(segs.len() - 1).any(|seg| {
            seg.ident
                .to_string()
                .starts_with(|c: char| c.is_ascii_uppercase())
        }) {
            return None;
        }
        let single = segs.len() == 1 && tp.path.leading_colon.is_none();
        if single && matches!(segs[0].arguments, PathArguments::None) {
            if PRIMITIVES.contains(&first.as_str()) {
                return Some(ty.clone());
            }
            if self.local.contains(&first) && !self.glob {
                return Some(ty.clone());
            }
        }
        if self.glob {
            return None;
        }
        // A one-name type might be a generic parameter of an impl we cannot see.
        if segs.len() == 1
            && tp.path.leading_colon.is_none()
            && (self.method_alone || looks_like_a_parameter(&first))
        {
            return None;
        }
        self.written.contains(&key(ty)).then(|| ty.clone())
    }
}

/// `T`, `K`, `V2`: how generic parameters are usually named, and types rarely are.
fn looks_like_a_parameter(name: &str) -> bool {
    name.len() <= 2
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Whether the tokens say `Self` anywhere.
fn says_self(ts: proc_macro2::TokenStream) -> bool {
    ts.into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(i) => i == "Self",
        proc_macro2::TokenTree::Group(g) => says_self(g.stream()),
        _ => false,
    })
}

/// A type's identity for comparison: its tokens as a string.
fn key(ty: &Type) -> String {
    ty.to_token_stream().to_string()
}

/// Every type written in type position, and every generic parameter declared.
#[derive(Default)]
struct Written {
    types: BTreeSet<String>,
    generic_params: BTreeSet<String>,
}

impl<'ast> Visit<'ast> for Written {
    fn visit_type(&mut self, t: &'ast Type) {
        self.types.insert(key(t));
        syn::visit::visit_type(self, t);
    }
    fn visit_generic_param(&mut self, p: &'ast GenericParam) {
        match p {
            GenericParam::Type(t) => {
                self.generic_params.insert(t.ident.to_string());
            }
            GenericParam::Const(c) => {
                self.generic_params.insert(c.ident.to_string());
            }
            GenericParam::Lifetime(_) => {}
        }
        syn::visit::visit_generic_param(self, p);
    }
}

/// Names that items and imports declare.
#[derive(Default)]
struct Declared {
    names: BTreeSet<String>,
    glob: bool,
}

impl Declared {
    fn use_tree(&mut self, t: &UseTree) {
        match t {
            UseTree::Path(p) => self.use_tree(&p.tree),
            UseTree::Name(n) => {
                self.names.insert(n.ident.to_string());
            }
            UseTree::Rename(r) => {
                self.names.insert(r.rename.to_string());
            }
            UseTree::Glob(_) => self.glob = true,
            UseTree::Group(g) => g.items.iter().for_each(|t| self.use_tree(t)),
        }
    }
}

impl<'ast> Visit<'ast> for Declared {
    fn visit_item(&mut self, item: &'ast Item) {
        let name = match item {
            Item::Struct(i) => Some(&i.ident),
            Item::Enum(i) => Some(&i.ident),
            Item::Union(i) => Some(&i.ident),
            Item::Type(i) => Some(&i.ident),
            Item::Trait(i) => Some(&i.ident),
            Item::Mod(i) => Some(&i.ident),
            Item::Const(i) => Some(&i.ident),
            Item::Static(i) => Some(&i.ident),
            Item::ExternCrate(i) => Some(i.rename.as_ref().map_or(&i.ident, |r| &r.1)),
            Item::Macro(i) => {
                // A macro can declare anything.
                self.glob = true;
                i.ident.as_ref()
            }
            Item::Use(u) => {
                self.use_tree(&u.tree);
                None
            }
            _ => None,
        };
        if let Some(n) = name {
            self.names.insert(n.to_string());
        }
        syn::visit::visit_item(self, item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope_of(src: &str) -> Scope {
        let f: syn::ItemFn = syn::parse_str(src).unwrap();
        Scope::for_fn(&f.sig.generics, &f.sig, &f.block)
    }

    fn named(s: &Scope, t: &str) -> Option<String> {
        s.nameable(t).map(|t| key(&t).replace(' ', ""))
    }

    #[test]
    fn written_types_and_primitives_are_named() {
        let s =
            scope_of("fn f(x: (u8, Point)) -> Box<SmallStruct> { Box::new(SmallStruct { a: 1 }) }");
        assert_eq!(named(&s, "SmallStruct").as_deref(), Some("SmallStruct"));
        assert_eq!(named(&s, "u64").as_deref(), Some("u64"));
        assert_eq!(named(&s, "(u8, Point)").as_deref(), Some("(u8,Point)"));
        assert_eq!(named(&s, "[u8; 4]").as_deref(), Some("[u8;4]"));
        // Guessed from a call: may be generic (`Cell::new(1)`), so no.
        assert_eq!(named(&s, "Cell"), None);
    }

    #[test]
    fn generics_self_lifetimes_and_impl_trait_are_not() {
        let s = scope_of(
            "fn f<T, const N: usize>(x: T, y: Wrapper<'static, u8>, z: Foo<'a>) -> Box<[T; N]> { todo!() }",
        );
        assert_eq!(named(&s, "T"), None);
        assert_eq!(named(&s, "Vec<T>"), None);
        assert_eq!(named(&s, "[u8; N]"), None);
        assert_eq!(named(&s, "Self"), None);
        assert_eq!(named(&s, "Foo<'a>"), None);
        assert_eq!(named(&s, "impl Fn()"), None);
        assert_eq!(named(&s, "<u8 as Tr>::X"), None);
        assert_eq!(
            named(&s, "Wrapper<'static, u8>").as_deref(),
            Some("Wrapper<'static,u8>")
        );
    }

    #[test]
    fn body_items_shadow_or_hide() {
        let s = scope_of(
            "fn f() -> Box<Outer> {
                struct Local { a: u8 }
                struct Gen<T>(T);
                { struct Hidden; let _: Box<Hidden> = Box::new(Hidden); }
                Box::new(Outer)
            }",
        );
        assert_eq!(named(&s, "Local").as_deref(), Some("Local"));
        assert_eq!(named(&s, "Gen"), None);
        assert_eq!(named(&s, "Hidden"), None);
        assert_eq!(named(&s, "Outer").as_deref(), Some("Outer"));

        let a = scope_of("async fn f() -> Box<u8> { struct Local; Box::new(1u8) }");
        assert_eq!(named(&a, "Local"), None);

        let g = scope_of("fn f(x: Point) { { use m::*; } }");
        assert_eq!(named(&g, "Point"), None);
        assert_eq!(named(&g, "u8").as_deref(), Some("u8"));
    }

    #[test]
    fn a_method_alone_trusts_no_outside_name() {
        // `#[track_alloc]` on a method of `impl<T> Stack<T>`: `T` is not visible here.
        let s = scope_of("fn push(&mut self, x: T) -> Box<Point> { Box::new(Point::from(x)) }");
        assert_eq!(named(&s, "T"), None);
        assert_eq!(named(&s, "Point"), None);
        assert_eq!(named(&s, "u32").as_deref(), Some("u32"));
        let s = scope_of("fn of(x: Item) -> Box<Item> { Box::new(x) }");
        assert_eq!(named(&s, "Item").as_deref(), Some("Item"));
        let s = scope_of("fn of(x: K) -> Box<K> { Box::new(x) }");
        assert_eq!(named(&s, "K"), None);
        let s = scope_of("fn of(x: T::Out, y: m::Out) -> Box<T::Out> { Box::new(x) }");
        assert_eq!(named(&s, "T::Out"), None);
        assert_eq!(named(&s, "m::Out").as_deref(), Some("m::Out"));
    }

    #[test]
    fn self_in_a_plain_impl() {
        let imp: syn::ItemImpl =
            syn::parse_str("impl Parser { fn new() -> Box<Self> { Box::new(Self {}) } }").unwrap();
        let syn::ImplItem::Fn(f) = &imp.items[0] else {
            panic!()
        };
        let s = Scope::for_method(&imp, &f.sig, &f.block);
        assert_eq!(named(&s, "Self").as_deref(), Some("Parser"));

        let imp: syn::ItemImpl =
            syn::parse_str("impl<T> Stack<T> { fn new() -> Box<Self> { Box::new(Self {}) } }")
                .unwrap();
        let syn::ImplItem::Fn(f) = &imp.items[0] else {
            panic!()
        };
        let s = Scope::for_method(&imp, &f.sig, &f.block);
        assert_eq!(named(&s, "Self"), None);
        assert_eq!(named(&s, "Stack<T>"), None);
    }
}
