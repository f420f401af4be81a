//! Finding the functions to analyse: free functions, methods in `impl` and `trait`
//! blocks, inline modules, functions nested inside function bodies; and the files of a
//! source tree. Each function body is analysed on its own.

use crate::finding::{FileError, Finding};
use crate::flow::Analyzer;
use crate::params::{bind_params, leaking_params};
use crate::sites::SiteKind;
use crate::text::{pos, tokens};
use crate::verdict::{ReturnHint, findings};
use std::collections::BTreeSet;
use std::path::Path;
use syn::visit::Visit;
use syn::{
    Block, FnArg, ImplItem, Item, ReceiverKind, ReturnType, Signature, Stmt, TraitItem, Type,
};

/// Analyses one function body. `function` is the path printed in findings.
pub(crate) fn body(
    sig: &Signature,
    block: &Block,
    file: &str,
    function: &str,
    methods: &BTreeSet<String>,
) -> Vec<Finding> {
    let mut a = Analyzer::new(methods);
    a.plain_result = plain(&sig.output);
    a.env.push();
    bind_params(&mut a, sig);
    let tail = a.block(block);
    if let Some(Stmt::Expr(e, None)) = block.stmts.last() {
        a.returned(&tail, pos(e));
    }
    let mut out = findings(&a.sites, file, function, &return_hint(&sig.output));
    out.extend(leaking_params(sig, file, function));
    for item in nested_items(block) {
        out.extend(item_findings(item, file, &format!("{function}::"), methods));
    }
    out.sort_by_key(|f| (f.line, f.column));
    out
}

/// A return type that cannot own an allocation: a number, `bool`, `char`, `()` or `!`.
fn plain(output: &ReturnType) -> bool {
    let ReturnType::Type(_, ty) = output else {
        return true;
    };
    match &**ty {
        Type::Never(_) => true,
        Type::Tuple(t) => t.elems.is_empty(),
        Type::Path(p) if p.qself.is_none() => p.path.get_ident().is_some_and(|id| {
            matches!(
                id.to_string().as_str(),
                "u8" | "u16"
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
            )
        }),
        _ => false,
    }
}

/// What the return type says about a value returned as is: `Box<T>` → a box of `T`.
fn return_hint(output: &ReturnType) -> ReturnHint {
    let ReturnType::Type(_, ty) = output else {
        return ReturnHint::default();
    };
    let mut cur: &Type = ty;
    loop {
        let Type::Path(tp) = cur else {
            return ReturnHint::default();
        };
        let Some(last) = tp.path.segments.last() else {
            return ReturnHint::default();
        };
        let kind = match last.ident.to_string().as_str() {
            "Option" | "Result" | "Pin" => match &last.arguments {
                syn::PathArguments::AngleBracketed(a) => match a.args.first() {
                    Some(syn::GenericArgument::Type(t)) => {
                        cur = t;
                        continue;
                    }
                    _ => return ReturnHint::default(),
                },
                _ => return ReturnHint::default(),
            },
            "Box" => SiteKind::Boxed,
            "Rc" | "Arc" => SiteKind::Shared,
            "Vec" | "String" | "VecDeque" | "HashMap" | "HashSet" | "BTreeMap" | "BTreeSet"
            | "BinaryHeap" => SiteKind::Collection,
            _ => return ReturnHint::default(),
        };
        return ReturnHint {
            kind: Some(kind),
            ty: crate::sites::element_of_type(cur),
        };
    }
}

/// Items declared inside a function body (not inside nested items: they are theirs).
fn nested_items(block: &Block) -> Vec<&Item> {
    struct Collect<'ast>(Vec<&'ast Item>);
    impl<'ast> Visit<'ast> for Collect<'ast> {
        fn visit_item(&mut self, i: &'ast Item) {
            self.0.push(i);
        }
    }
    let mut c = Collect(Vec::new());
    c.visit_block(block);
    c.0
}

/// Findings for every function in `item`, with `prefix` (`module::`) before their names.
pub(crate) fn item_findings(
    item: &Item,
    file: &str,
    prefix: &str,
    methods: &BTreeSet<String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    match item {
        Item::Fn(f) => {
            let name = format!("{prefix}{}", f.sig.ident);
            let found = body(&f.sig, &f.block, file, &name, methods);
            out.extend(gate(found, &name, no_escape(&f.attrs)));
        }
        Item::Impl(i) => {
            let ty = self_type_name(&i.self_ty);
            let whole = no_escape(&i.attrs);
            for it in &i.items {
                if let ImplItem::Fn(f) = it {
                    let name = format!("{prefix}{ty}::{}", f.sig.ident);
                    let found = body(&f.sig, &f.block, file, &name, methods);
                    out.extend(gate(found, &name, whole || no_escape(&f.attrs)));
                }
            }
        }
        Item::Trait(t) => {
            for it in &t.items {
                if let TraitItem::Fn(f) = it
                    && let Some(block) = &f.default
                {
                    let name = format!("{prefix}{}::{}", t.ident, f.sig.ident);
                    let found = body(&f.sig, block, file, &name, methods);
                    out.extend(gate(found, &name, no_escape(&f.attrs)));
                }
            }
        }
        Item::Mod(m) => {
            if let Some((_, items)) = &m.content {
                let inner = format!("{prefix}{}::", m.ident);
                for it in items {
                    out.extend(item_findings(it, file, &inner, methods));
                }
            }
        }
        _ => {}
    }
    out
}

/// Whether `attrs` hold `#[track_alloc(.., no_escape, ..)]` (any path ending in
/// `track_alloc`), directly or under `#[cfg_attr(PRED, ..)]` (the feature-gated form,
/// `cfg_attr(feature = "heap-profile", spanprof::track_alloc(no_escape))`): a static
/// check cannot know which features a build turns on, so the gate holds either way.
fn no_escape(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| meta_no_escape(&a.meta))
}

fn meta_no_escape(meta: &syn::Meta) -> bool {
    let syn::Meta::List(l) = meta else {
        return false;
    };
    let last = l.path.segments.last().map(|s| s.ident.to_string());
    match last.as_deref() {
        Some("track_alloc") => l
            .tokens
            .to_string()
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|w| w == "no_escape"),
        Some("cfg_attr") if l.path.segments.len() == 1 => {
            use syn::punctuated::Punctuated;
            l.parse_args_with(Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated)
                .is_ok_and(|metas| metas.iter().skip(1).any(meta_no_escape))
        }
        _ => false,
    }
}

/// Marks the function's own findings (not those of nested items) as gated.
fn gate(mut found: Vec<Finding>, function: &str, gated: bool) -> Vec<Finding> {
    if gated {
        for f in found.iter_mut().filter(|f| f.function == function) {
            f.gated = true;
        }
    }
    found
}

/// `Stack` for `impl<T> Stack<T>`, `Vec` for `impl Trait for Vec<u8>`.
fn self_type_name(ty: &Type) -> String {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default(),
        other => tokens(other),
    }
}

/// Names of the methods a file defines that take `self` by reference (and never by
/// value): calling one of them only borrows the receiver.
pub(crate) fn by_ref_methods(items: &[Item]) -> BTreeSet<String> {
    struct Collect {
        by_ref: BTreeSet<String>,
        by_value: BTreeSet<String>,
    }
    impl<'ast> Visit<'ast> for Collect {
        fn visit_signature(&mut self, sig: &'ast Signature) {
            if let Some(FnArg::Receiver(r)) = sig.inputs.first() {
                let by_ref = matches!(r.kind, ReceiverKind::Reference(..))
                    || matches!(&r.kind, ReceiverKind::Typed(_, t) if matches!(**t, Type::Reference(_)));
                let set = if by_ref {
                    &mut self.by_ref
                } else {
                    &mut self.by_value
                };
                set.insert(sig.ident.to_string());
            }
        }
    }
    let mut c = Collect {
        by_ref: BTreeSet::new(),
        by_value: BTreeSet::new(),
    };
    for item in items {
        c.visit_item(item);
    }
    c.by_ref.difference(&c.by_value).cloned().collect()
}

/// The file's `macro_rules!` macros that only borrow their arguments, as `name!`: every
/// fragment of every rule is used inside a format-like macro (`println!`, `format!`,
/// `write!`, `log::debug!`..) or behind `&`. Calling one names locals without moving them.
/// They go into the same set as the by-reference methods (the `!` keeps them apart).
pub(crate) fn borrowing_macros(items: &[Item]) -> BTreeSet<String> {
    struct Collect(BTreeSet<String>);
    impl<'ast> Visit<'ast> for Collect {
        fn visit_item_macro(&mut self, m: &'ast syn::ItemMacro) {
            if m.mac.path.is_ident("macro_rules")
                && let Some(name) = &m.ident
                && rules_only_borrow(m.mac.tokens.clone())
            {
                self.0.insert(format!("{name}!"));
            }
        }
    }
    let mut c = Collect(BTreeSet::new());
    for item in items {
        c.visit_item(item);
    }
    c.0
}

fn rules_only_borrow(body: proc_macro2::TokenStream) -> bool {
    use proc_macro2::TokenTree;
    let tokens: Vec<TokenTree> = body.into_iter().collect();
    let mut any = false;
    for (i, tt) in tokens.iter().enumerate() {
        // A transcriber is the group after `=>`.
        let after_arrow = i >= 2
            && matches!(&tokens[i - 1], TokenTree::Punct(p) if p.as_char() == '>')
            && matches!(&tokens[i - 2], TokenTree::Punct(p) if p.as_char() == '=');
        if let TokenTree::Group(g) = tt
            && after_arrow
        {
            any = true;
            if !fragments_borrowed(g.stream()) {
                return false;
            }
        }
    }
    any
}

fn fragments_borrowed(ts: proc_macro2::TokenStream) -> bool {
    use crate::sites::{MacroClass, classify_macro};
    use proc_macro2::TokenTree;
    let tokens: Vec<TokenTree> = ts.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            TokenTree::Ident(name)
                if matches!(tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!')
                    && matches!(tokens.get(i + 2), Some(TokenTree::Group(_))) =>
            {
                let path = syn::Path::from(name.clone());
                let borrowing = matches!(
                    classify_macro(&path),
                    MacroClass::Borrowing | MacroClass::Format | MacroClass::Write
                );
                if let Some(TokenTree::Group(g)) = tokens.get(i + 2)
                    && !borrowing
                    && !fragments_borrowed(g.stream())
                {
                    return false;
                }
                i += 3;
                continue;
            }
            TokenTree::Punct(p) if p.as_char() == '$' => match tokens.get(i + 1) {
                Some(TokenTree::Ident(id)) if id == "crate" => {}
                Some(TokenTree::Ident(_)) => {
                    let behind_amp = i > 0
                        && matches!(&tokens[i - 1], TokenTree::Punct(a) if a.as_char() == '&');
                    if !behind_amp {
                        return false;
                    }
                }
                Some(TokenTree::Group(g)) if !fragments_borrowed(g.stream()) => return false,
                _ => {}
            },
            TokenTree::Group(g) if !fragments_borrowed(g.stream()) => return false,
            _ => {}
        }
        i += 1;
    }
    true
}

/// Parses and analyses one file's source.
pub(crate) fn file(src: &str, name: &str) -> Result<Vec<Finding>, FileError> {
    let parsed = syn::parse_file(src).map_err(|e| {
        let start = e.span().start();
        FileError {
            file: name.to_string(),
            line: u32::try_from(start.line).unwrap_or(0),
            column: u32::try_from(start.column).map(|c| c + 1).unwrap_or(0),
            message: format!("cannot parse: {e}"),
        }
    })?;
    let mut methods = by_ref_methods(&parsed.items);
    methods.extend(borrowing_macros(&parsed.items));
    let mut out = Vec::new();
    for item in &parsed.items {
        out.extend(item_findings(item, name, "", &methods));
    }
    out.sort_by_key(|f| (f.line, f.column));
    Ok(out)
}

/// Every `.rs` file under `root` (or `root` itself), skipping `target/` and hidden directories.
pub(crate) fn rust_files(root: &Path) -> (Vec<std::path::PathBuf>, Vec<FileError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir.is_file() {
            files.push(dir);
            continue;
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(FileError {
                    file: dir.display().to_string(),
                    line: 0,
                    column: 0,
                    message: format!("cannot read directory: {e}"),
                });
                continue;
            }
        };
        for entry in entries.flatten() {
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if p.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    stack.push(p);
                }
            } else if name.ends_with(".rs") {
                files.push(p);
            }
        }
    }
    files.sort();
    (files, errors)
}
