//! The expansion: which item the attribute is on, and what it becomes.
//!
//! A function keeps its signature and attributes; its body gains, first, a `static`
//! `spanprof::Site` registered in `spanprof::SITES` (with the escape
//! findings), then a guard that makes the site current until the function returns or
//! unwinds. An `async fn` body instead runs inside an `async move` block polled by a
//! `core::future::poll_fn` adapter that enters the site around each `poll`, so the site
//! is current exactly while the function's own code runs, on whichever thread polls it.
//!
//! A `struct`, `enum` or `union` is left as written and followed by an anonymous
//! `const _` holding a `static spanprof::TypeInfo` (name, place, `size_of`,
//! `align_of`) registered in `spanprof::TYPES`: link-time data, no code runs. A type
//! with type or const parameters, or an unsized one, has no single size and is not
//! registered; lifetime parameters are filled with `'static`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use spanprof_escape::{Finding, Kind};
use syn::{Block, Ident, ImplItem, Item, Signature};

use crate::args::{Options, is_track_alloc};
use crate::locate;
use crate::types::Scope;

/// `#[track_alloc(args)] item`.
pub(crate) fn track_alloc(args: TokenStream, item: TokenStream) -> TokenStream {
    let opts = match Options::parse(args) {
        Ok(o) => o,
        Err(e) => return with_item(e, item),
    };
    let parsed = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Verbatim(_)) | Err(_) => return not_an_item(item),
        Ok(i) => i,
    };
    match parsed {
        Item::Fn(mut f) => {
            if let Some(c) = &f.sig.constness {
                return with_item(const_fn_error(c.span), item);
            }
            let name = opts
                .name
                .as_ref()
                .map_or_else(|| f.sig.ident.to_string(), syn::LitStr::value);
            let analysed = f.sig.ident.to_string();
            let scope = Scope::for_fn(&f.sig.generics, &f.sig, &f.block);
            let errors = instrument(&f.sig, &mut f.block, &name, &analysed, &opts, &scope);
            emit(f.into_token_stream(), errors)
        }
        Item::Impl(mut imp) => {
            let errors = instrument_impl(&mut imp, &opts);
            emit(imp.into_token_stream(), errors)
        }
        Item::Struct(_) | Item::Enum(_) | Item::Union(_) => match opts.any {
            Some(span) => with_item(
                syn::Error::new(
                    span,
                    "#[track_alloc] takes no arguments on a type (it only marks the type)",
                ),
                item,
            ),
            // The item is unchanged; a static after it lists the type for the audit.
            None => {
                let registration = type_static(&parsed);
                quote!(#item #registration)
            }
        },
        Item::Trait(t) => with_item(
            syn::Error::new(
                t.ident.span(),
                "#[track_alloc] cannot go on a trait: put it on the impl blocks, or on a \
                 default method",
            ),
            item,
        ),
        other => with_item(
            syn::Error::new_spanned(
                other,
                "#[track_alloc] goes on a function, a method, an impl block, a struct or an enum",
            ),
            item,
        ),
    }
}

/// The item with the errors after it (so the item still exists and nothing cascades).
fn with_item(e: syn::Error, item: TokenStream) -> TokenStream {
    let err = e.into_compile_error();
    quote!(#item #err)
}

fn emit(item: TokenStream, errors: Option<syn::Error>) -> TokenStream {
    match errors {
        Some(e) => with_item(e, item),
        None => item,
    }
}

fn const_fn_error(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "#[track_alloc] cannot track a `const fn`: it may run at compile time, where no \
         site can be made current (remove `const`, or the attribute)",
    )
}

/// Something that is not an item: most likely a method declaration without a body.
fn not_an_item(item: TokenStream) -> TokenStream {
    if let Ok(f) = syn::parse2::<syn::TraitItemFn>(item.clone())
        && f.default.is_none()
    {
        return with_item(
            syn::Error::new_spanned(
                &f.sig,
                format!(
                    "#[track_alloc] needs a function body: `{}` has none (annotate the \
                     methods of the impl blocks instead)",
                    f.sig.ident
                ),
            ),
            item,
        );
    }
    with_item(
        syn::Error::new(
            Span::call_site(),
            "#[track_alloc] goes on a function, a method, an impl block, a struct or an enum",
        ),
        item,
    )
}

/// Every method with a body in `imp`, named `Type::method`. A method's own
/// `#[track_alloc(..)]` adds to (or renames) the block's options.
fn instrument_impl(imp: &mut syn::ItemImpl, opts: &Options) -> Option<syn::Error> {
    let ty = self_type_name(&imp.self_ty);
    let prefix = opts
        .name
        .as_ref()
        .map_or_else(|| ty.clone(), syn::LitStr::value);
    let mut errors: Option<syn::Error> = None;
    let mut add = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    // Scopes are computed on the impl as written, before any body changes.
    let snapshot = imp.clone();
    for (i, it) in imp.items.iter_mut().enumerate() {
        let ImplItem::Fn(f) = it else { continue };
        let mut method_opts = Options::default().over(opts);
        let mut kept = Vec::new();
        let mut own_name = None;
        let mut marked = false;
        for attr in f.attrs.drain(..) {
            if is_track_alloc(&attr) {
                marked = true;
                match Options::from_attr(&attr) {
                    Ok(o) => {
                        own_name = o.name.clone();
                        method_opts = o.over(&method_opts);
                    }
                    Err(e) => add(e),
                }
            } else {
                kept.push(attr);
            }
        }
        f.attrs = kept;
        if let Some(c) = &f.sig.constness {
            // A const fn cannot make a site current: the block's attribute skips it,
            // its own attribute is an error.
            if marked {
                add(const_fn_error(c.span));
            }
            continue;
        }
        let ImplItem::Fn(orig) = &snapshot.items[i] else {
            continue;
        };
        let analysed = format!("{ty}::{}", f.sig.ident);
        let name = own_name.map_or_else(|| format!("{prefix}::{}", f.sig.ident), |n| n.value());
        let scope = Scope::for_method(&snapshot, &orig.sig, &orig.block);
        if let Some(e) = instrument(&f.sig, &mut f.block, &name, &analysed, &method_opts, &scope) {
            add(e);
        }
    }
    errors
}

/// The type's last path segment, as the escape analysis names methods: `Parser` for
/// `impl<'a> crate::Parser<'a>`.
fn self_type_name(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(tp) => tp
            .path
            .segments
            .last()
            .map_or_else(|| "Self".into(), |s| s.ident.to_string()),
        syn::Type::Reference(r) => self_type_name(&r.elem),
        other => other.to_token_stream().to_string().replace(' ', ""),
    }
}

/// Adds the site static and the guard (or the poll adapter) to one function body;
/// returns the `no_escape` errors.
fn instrument(
    sig: &Signature,
    block: &mut Block,
    name: &str,
    analysed: &str,
    opts: &Options,
    scope: &Scope,
) -> Option<syn::Error> {
    let file = Span::call_site().file();
    let findings: Vec<Finding> = spanprof_escape::analyze_body(sig, block, &file, analysed)
        .into_iter()
        .filter(|f| f.function == analysed)
        .collect();

    let mut errors: Option<syn::Error> = None;
    if opts.no_escape {
        for f in &findings {
            if matches!(f.kind, Kind::Escapes | Kind::Leaks | Kind::MayEscape) {
                let at = locate::tokens_at(block, f.line, f.column);
                let e = syn::Error::new_spanned(
                    at,
                    format!("{} (#[track_alloc(no_escape)] on `{name}`)", f.message()),
                );
                match &mut errors {
                    Some(all) => all.combine(e),
                    None => errors = Some(e),
                }
            }
        }
    }

    let site = site_static(sig, name, &findings, scope);
    let warnings = if opts.warn {
        warnings(block, &findings)
    } else {
        TokenStream::new()
    };
    let guard = Ident::new("__spanprof_guard", Span::mixed_site());
    let new_stmts: Block = if sig.asyncness.is_some() {
        let fut = Ident::new("__spanprof_future", Span::mixed_site());
        let cx = Ident::new("__spanprof_cx", Span::mixed_site());
        let body = Block {
            brace_token: block.brace_token,
            stmts: std::mem::take(&mut block.stmts),
        };
        syn::parse_quote! {{
            #site
            #warnings
            let mut #fut = ::core::pin::pin!(async move #body);
            ::core::future::poll_fn(move |#cx| {
                let #guard = ::spanprof::enter(__SPANPROF_SITE);
                ::core::future::Future::poll(#fut.as_mut(), #cx)
            })
            .await
        }}
    } else {
        syn::parse_quote! {{
            #site
            #warnings
            let #guard = ::spanprof::enter(__SPANPROF_SITE);
        }}
    };
    let rest = std::mem::take(&mut block.stmts);
    block.stmts = new_stmts.stmts;
    block.stmts.extend(rest);
    errors
}

fn kind_str(k: Kind) -> &'static str {
    match k {
        Kind::Escapes => "escapes",
        Kind::Leaks => "leaks",
        Kind::MayEscape => "may_escape",
        Kind::DoesNotEscape => "does_not_escape",
        Kind::MovedToHeap => "moved_to_heap",
        Kind::LeakingParam => "leaking_param",
    }
}

/// The `static __SPANPROF_SITE` item, registered in `spanprof::SITES`.
fn site_static(sig: &Signature, name: &str, findings: &[Finding], scope: &Scope) -> TokenStream {
    let entries = findings.iter().map(|f| {
        let line = f.line;
        let column = f.column;
        let expr = &f.expr;
        let kind = kind_str(f.kind);
        let reason = &f.reason;
        let none = quote!(::core::option::Option::None);
        let ty = f.ty.as_deref();
        // `Self` is shown as the type it stands for, when that is known.
        let shown = match (ty, scope.self_name()) {
            (Some("Self"), Some(name)) => Some(name),
            (t, _) => t.map(str::to_owned),
        };
        let type_name = shown.map_or_else(
            || none.clone(),
            |t| quote!(::core::option::Option::Some(#t)),
        );
        let (size, align) = match ty.and_then(|t| scope.nameable(t)) {
            Some(t) => (
                quote!(::core::option::Option::Some(::core::mem::size_of::<#t>())),
                quote!(::core::option::Option::Some(::core::mem::align_of::<#t>())),
            ),
            None => (none.clone(), none),
        };
        quote! {
            ::spanprof::Finding {
                line: #line,
                column: #column,
                expr: #expr,
                kind: #kind,
                reason: #reason,
                type_name: #type_name,
                size: #size,
                align: #align,
            }
        }
    });
    let at = sig.ident.span();
    let line = quote_spanned!(at=> ::core::line!());
    let column = quote_spanned!(at=> ::core::column!());
    let file = quote_spanned!(at=> ::core::file!());
    quote! {
        #[::spanprof::__private::linkme::distributed_slice(::spanprof::SITES)]
        #[linkme(crate = ::spanprof::__private::linkme)]
        static __SPANPROF_SITE: &'static ::spanprof::Site = &::spanprof::Site {
            name: #name,
            module: ::core::module_path!(),
            file: #file,
            line: #line,
            column: #column,
            findings: &[#(#entries),*],
        };
    }
}

/// The registration of a `struct`/`enum`/`union` in `spanprof::TYPES`, or nothing when
/// the type has no single size (type or const parameters, an unsized last field).
fn type_static(item: &Item) -> TokenStream {
    let (attrs, ident, generics, last_field) = match item {
        Item::Struct(s) => (&s.attrs, &s.ident, &s.generics, s.fields.iter().last()),
        Item::Enum(e) => (&e.attrs, &e.ident, &e.generics, None),
        Item::Union(u) => (&u.attrs, &u.ident, &u.generics, None),
        _ => return TokenStream::new(),
    };
    if generics.type_params().next().is_some() || generics.const_params().next().is_some() {
        return TokenStream::new();
    }
    if last_field.is_some_and(|f| is_unsized(&f.ty)) {
        return TokenStream::new();
    }
    let lifetimes: Vec<_> = generics.lifetimes().map(|_| quote!('static)).collect();
    let ty = if lifetimes.is_empty() {
        quote!(#ident)
    } else {
        quote!(#ident<#(#lifetimes),*>)
    };
    // The registration exists exactly when the type does.
    let cfgs = attrs.iter().filter(|a| a.path().is_ident("cfg"));
    let name = ident.to_string();
    let at = ident.span();
    let line = quote_spanned!(at=> ::core::line!());
    let file = quote_spanned!(at=> ::core::file!());
    quote! {
        #(#cfgs)*
        const _: () = {
            #[::spanprof::__private::linkme::distributed_slice(::spanprof::TYPES)]
            #[linkme(crate = ::spanprof::__private::linkme)]
            static __SPANPROF_TYPE: &'static ::spanprof::TypeInfo = &::spanprof::TypeInfo {
                name: #name,
                module: ::core::module_path!(),
                file: #file,
                line: #line,
                size: ::core::mem::size_of::<#ty>(),
                align: ::core::mem::align_of::<#ty>(),
            };
        };
    }
}

/// A field type that makes its struct unsized, as far as the syntax tells: `[T]`,
/// `str`, `dyn Trait`.
fn is_unsized(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Slice(_) | syn::Type::TraitObject(_) => true,
        syn::Type::Path(p) => p.qself.is_none() && p.path.is_ident("str"),
        syn::Type::Paren(p) => is_unsized(&p.elem),
        syn::Type::Group(g) => is_unsized(&g.elem),
        _ => false,
    }
}

/// One deprecation warning per finding, pointing at the allocation (the stable way to
/// warn from a proc macro: a use of a `#[deprecated]` constant, spanned there).
fn warnings(block: &Block, findings: &[Finding]) -> TokenStream {
    let mut out = TokenStream::new();
    for (n, f) in findings.iter().enumerate() {
        let span = locate::span_at(block, f.line, f.column);
        let item = format_ident!("__spanprof_warning_{}", n);
        let note = format!("escape analysis: {}", f.message());
        let konst = Ident::new("track_alloc", span);
        out.extend(quote_spanned! {span=>
            #[allow(dead_code, non_snake_case, clippy::all)]
            fn #item() {
                #[deprecated(note = #note)]
                #[allow(non_upper_case_globals)]
                const #konst: () = ();
                let _ = #konst;
            }
        });
    }
    out
}
