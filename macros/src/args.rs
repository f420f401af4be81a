//! The attribute's arguments: `name = "…"`, `no_escape`, `warn`.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::{Attribute, LitStr, Meta};

/// What `#[track_alloc(..)]` was asked to do.
#[derive(Default)]
pub(crate) struct Options {
    /// `name = "…"`: the site's display name (on an `impl` block: the prefix before
    /// `::method`).
    pub(crate) name: Option<LitStr>,
    /// `no_escape`: allocations that escape, leak or may escape are compile errors.
    pub(crate) no_escape: bool,
    /// `warn`: every finding is printed as a compiler warning.
    pub(crate) warn: bool,
    /// Whether any argument was given (types take none).
    pub(crate) any: Option<proc_macro2::Span>,
}

const EXPECTED: &str = "expected `name = \"…\"`, `no_escape` or `warn`";

impl Options {
    /// Parses the tokens between the attribute's parentheses.
    pub(crate) fn parse(args: TokenStream) -> syn::Result<Self> {
        let mut opts = Options::default();
        let parser = syn::meta::parser(|meta| {
            opts.any.get_or_insert(meta.path.segments[0].ident.span());
            if meta.path.is_ident("name") {
                if opts.name.is_some() {
                    return Err(meta.error("`name` is given twice"));
                }
                if !meta.input.peek(syn::Token![=]) {
                    return Err(meta.error("expected a string: `name = \"…\"`"));
                }
                let value = meta.value()?;
                match value.parse::<syn::Lit>() {
                    Ok(syn::Lit::Str(s)) if !s.value().is_empty() => opts.name = Some(s),
                    Ok(syn::Lit::Str(s)) => {
                        return Err(syn::Error::new(s.span(), "the site name cannot be empty"));
                    }
                    Ok(other) => {
                        return Err(syn::Error::new(
                            other.span(),
                            "expected a string: `name = \"…\"`",
                        ));
                    }
                    Err(e) => {
                        return Err(syn::Error::new(
                            e.span(),
                            "expected a string: `name = \"…\"`",
                        ));
                    }
                }
                Ok(())
            } else if meta.path.is_ident("no_escape") {
                flag(&mut opts.no_escape, &meta, "no_escape")
            } else if meta.path.is_ident("warn") {
                flag(&mut opts.warn, &meta, "warn")
            } else {
                let shown = quote::ToTokens::to_token_stream(&meta.path).to_string();
                Err(meta.error(format_args!(
                    "unknown argument `{}` of #[track_alloc]: {EXPECTED}",
                    shown.replace(' ', "")
                )))
            }
        });
        parser.parse2(args)?;
        Ok(opts)
    }

    /// The options of an inner `#[track_alloc(..)]` on a method of an annotated impl block
    /// (`#[track_alloc]` alone gives the defaults).
    pub(crate) fn from_attr(attr: &Attribute) -> syn::Result<Self> {
        match &attr.meta {
            Meta::Path(_) => Ok(Options::default()),
            Meta::List(list) => Options::parse(list.tokens.clone()),
            Meta::NameValue(nv) => Err(syn::Error::new_spanned(
                nv,
                format!("expected #[track_alloc] or #[track_alloc(..)]: {EXPECTED}"),
            )),
        }
    }

    /// These options on top of `outer` (an impl block's): flags add up, a name replaces.
    pub(crate) fn over(self, outer: &Options) -> Options {
        Options {
            name: self.name,
            no_escape: self.no_escape || outer.no_escape,
            warn: self.warn || outer.warn,
            any: self.any.or(outer.any),
        }
    }
}

fn flag(slot: &mut bool, meta: &syn::meta::ParseNestedMeta<'_>, name: &str) -> syn::Result<()> {
    if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
        return Err(meta.error(format_args!("`{name}` takes no value")));
    }
    if *slot {
        return Err(meta.error(format_args!("`{name}` is given twice")));
    }
    *slot = true;
    Ok(())
}

/// Whether `attr` is a `#[track_alloc]` (any path ending in `track_alloc`).
pub(crate) fn is_track_alloc(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "track_alloc")
}
