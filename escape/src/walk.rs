//! Finding the functions to analyse: free functions, methods in `impl` and `trait`
//! blocks, inline modules, functions nested inside function bodies; and the files of a
//! source tree. Each function body is analysed on its own.

use crate::finding::{FileError, Finding, Kind};
use crate::flow::Analyzer;
use crate::params::{bind_params, leaking_params};
use crate::sites::SiteKind;
use crate::text::{start, tokens};
use crate::verdict::{ReturnHint, findings};
use std::collections::{BTreeSet, HashSet, VecDeque};
use std::path::{Path, PathBuf};
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
        a.returned(&tail, start(e));
    }
    let mut out = findings(&a.sites, file, function, &return_hint(&sig.output));
    if a.gave_up {
        // Never `does not escape` on a flow that was not followed to the end.
        for f in out.iter_mut().filter(|f| f.kind == Kind::DoesNotEscape) {
            f.kind = Kind::MayEscape;
            f.reason = "a loop too involved to follow to the end".into();
        }
    }
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

/// Stack of the thread each file is parsed and analysed on. syn's parser, the drop of
/// its tree and this analysis recurse once per level of nesting, up to about 60 KiB a
/// level in a debug build (10 KiB in release), so [`MAX_DEPTH`] levels fit with room
/// to spare. It is only reserved: pages are used as deep as the file goes.
const STACK: usize = if cfg!(target_pointer_width = "64") {
    1 << 30
} else {
    // Address space is short: a smaller stack, and a lower `MAX_DEPTH` to fit it.
    256 << 20
};

/// The most levels of nesting (see [`depth_over`]) a file may have: deeper files get a
/// per-file error instead of overflowing the stack, which would abort the whole run.
/// Real code stays far below: at most 200 to 300 over the 7,600 files of a cargo
/// registry.
pub(crate) const MAX_DEPTH: usize = if cfg!(target_pointer_width = "64") {
    10_000
} else {
    2_500
};

/// Parses and analyses one file's source, on a thread of its own with a large stack:
/// deep input is refused before parsing (see [`depth_over`]) and whatever else goes
/// wrong in the file stays an error about that file.
pub(crate) fn file(src: &str, name: &str) -> Result<Vec<Finding>, FileError> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("spanprof-escape".into())
            .stack_size(STACK)
            .spawn_scoped(scope, || file_here(src, name))
            .map_err(|e| {
                file_error(
                    name,
                    0,
                    0,
                    format!("cannot start a thread to analyse it: {e}"),
                )
            })?;
        worker.join().unwrap_or_else(|_| {
            Err(file_error(
                name,
                0,
                0,
                "the analysis failed (a bug in spanprof; please report it)".into(),
            ))
        })
    })
}

fn file_error(name: &str, line: u32, column: u32, message: String) -> FileError {
    FileError {
        file: name.to_string(),
        line,
        column,
        message,
    }
}

fn span_error(name: &str, span: proc_macro2::Span, message: String) -> FileError {
    let start = span.start();
    file_error(
        name,
        u32::try_from(start.line).unwrap_or(0),
        u32::try_from(start.column).map(|c| c + 1).unwrap_or(0),
        message,
    )
}

/// [`file`] on the current thread. Lexes once: the tokens are measured, then parsed.
fn file_here(src: &str, name: &str) -> Result<Vec<Finding>, FileError> {
    let tokens: proc_macro2::TokenStream =
        without_shebang(src)
            .parse()
            .map_err(|e: proc_macro2::LexError| {
                span_error(name, e.span(), "cannot parse: lex error".into())
            })?;
    if let Some(span) = depth_over(tokens.clone(), MAX_DEPTH) {
        return Err(span_error(
            name,
            span,
            format!(
                "nested too deeply to analyse (more than {MAX_DEPTH} levels of brackets, blocks and chained operators)"
            ),
        ));
    }
    let parsed: syn::File = syn::parse2(tokens)
        .map_err(|e| span_error(name, e.span(), format!("cannot parse: {e}")))?;
    let mut methods = by_ref_methods(&parsed.items);
    methods.extend(borrowing_macros(&parsed.items));
    let mut out = Vec::new();
    for item in &parsed.items {
        out.extend(item_findings(item, name, "", &methods));
    }
    out.sort_by_key(|f| (f.line, f.column));
    Ok(out)
}

/// `src` without a byte order mark and a `#!` first line (not `#![attr]`), which
/// `syn::parse_file` drops too; the line break stays so positions do not move.
fn without_shebang(src: &str) -> &str {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    match src.strip_prefix("#!") {
        Some(rest) if !rest.trim_start().starts_with('[') => {
            src.find('\n').map_or("", |i| &src[i..])
        }
        _ => src,
    }
}

/// Where `tokens` first nest deeper than `limit`, measured without recursion.
///
/// Each bracket, brace or parenthesis is a level, and so is each operator, `<`, `if`,
/// `else`, `return`, `move`.. since the last `;`, `,` or `=>` at the same level: a chain
/// `a.b().c()..`, a sum `1 + 1 + ..`, `!!!x`, `Box<Box<..>>`, `|| || ..` or an `else if`
/// chain nests the parser's recursion or the syntax tree (and so the analysis and the
/// drop) one level per operator although no bracket opens. A `,` keeps the `<`s still
/// open (`HashMap<K, HashMap<K, ..>>`); a block followed by a new statement or item
/// ends the count; a bracket counts once more for what follows it (`x[0][0]..`);
/// attributes do not count. It over-counts (`a < b` is no nesting),
/// which only matters near the limit.
pub(crate) fn depth_over(
    tokens: proc_macro2::TokenStream,
    limit: usize,
) -> Option<proc_macro2::Span> {
    use proc_macro2::{Delimiter, Spacing, TokenTree};
    struct Level {
        tokens: proc_macro2::token_stream::IntoIter,
        base: usize,
        chain: usize,
        angles: usize,
        after_block: bool,
        after_joint_eq: bool,
        after_pound: bool,
    }
    let level = |tokens: proc_macro2::TokenStream, base| Level {
        tokens: tokens.into_iter(),
        base,
        chain: 0,
        angles: 0,
        after_block: false,
        after_joint_eq: false,
        after_pound: false,
    };
    let mut stack = vec![level(tokens, 0)];
    while let Some(top) = stack.last_mut() {
        let Some(tt) = top.tokens.next() else {
            stack.pop();
            continue;
        };
        let after_block = std::mem::take(&mut top.after_block);
        let after_joint_eq = std::mem::take(&mut top.after_joint_eq);
        let after_pound = std::mem::take(&mut top.after_pound);
        let span = tt.span();
        match tt {
            TokenTree::Group(g) => {
                let depth = top.base + top.chain + 1;
                if depth > limit {
                    return Some(span);
                }
                top.after_block = g.delimiter() == Delimiter::Brace;
                // A group after another (`f()()`, `x[0][0]`) nests the tree as an
                // operator does; an attribute's brackets do not.
                if !after_pound {
                    top.chain += 1;
                }
                stack.push(level(g.stream(), depth));
                continue;
            }
            TokenTree::Punct(p) => match p.as_char() {
                // `#[attr]` (and doc comments, which are attributes) do not nest, and a
                // block followed by one has ended a statement or an item.
                '#' => {
                    if after_block {
                        top.chain = top.angles;
                    }
                    top.after_pound = true;
                }
                '!' if after_pound => top.after_pound = true,
                '\'' if after_block => {
                    top.chain = top.angles + 1;
                }
                ';' => {
                    top.chain = 0;
                    top.angles = 0;
                }
                ',' => top.chain = top.angles,
                '>' if after_joint_eq => {
                    top.chain = 0;
                    top.angles = 0;
                }
                c => {
                    if c == '<' {
                        top.angles += 1;
                    } else if c == '>' {
                        top.angles = top.angles.saturating_sub(1);
                    }
                    top.after_joint_eq = c == '=' && p.spacing() == Spacing::Joint;
                    top.chain += 1;
                }
            },
            TokenTree::Ident(i) => {
                if after_block && i != "else" && i != "as" {
                    top.chain = top.angles;
                }
                if NESTING_WORDS.iter().any(|w| i == w) {
                    top.chain += 1;
                }
            }
            TokenTree::Literal(_) => {}
        }
        if top.base + top.chain > limit {
            return Some(span);
        }
    }
    None
}

/// Keywords that nest what follows them one level in syn's parser.
const NESTING_WORDS: [&str; 17] = [
    "if", "else", "match", "while", "for", "loop", "return", "break", "yield", "move", "async",
    "static", "let", "box", "dyn", "impl", "as",
];

/// Every `.rs` file under `roots` (a root that is a file is taken whatever its name),
/// skipping `target/` and hidden directories, each real file once: root by root in the
/// order given, sorted by path within each.
///
/// Symbolic links are followed, but each real directory and file is read once, known by
/// its canonical path: a link to a directory already read, or to one of its own parents
/// (a cycle), adds nothing, and roots that overlap are read once. Directories reached
/// without a link are read first, so a file reached both ways is shown under its real
/// path. (walkdir's loop check would stop cycles but not two links to one directory,
/// so this keeps its own set; it needs no crate, which keeps `#[track_alloc]`'s build
/// small.)
pub fn rust_files(roots: &[PathBuf]) -> (Vec<PathBuf>, Vec<FileError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    // (root, path as shown, canonical path): the roots, then the links found on the way.
    let mut queue: VecDeque<(usize, PathBuf, PathBuf)> = VecDeque::new();
    for (n, root) in roots.iter().enumerate() {
        match std::fs::canonicalize(root) {
            Ok(real) => queue.push_back((n, root.clone(), real)),
            Err(e) => errors.push(path_error(root, format!("cannot read: {e}"))),
        }
    }
    while let Some((root, shown, real)) = queue.pop_front() {
        if !seen.insert(real.clone()) {
            continue;
        }
        if !real.is_dir() {
            files.push((root, shown));
            continue;
        }
        // The real directories below, depth first; links wait at the back of the queue.
        let mut dirs = vec![(shown, real)];
        while let Some((dir, real_dir)) = dirs.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) => {
                    errors.push(path_error(&dir, format!("cannot read directory: {e}")));
                    continue;
                }
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name();
                let text = name.to_string_lossy();
                let skipped = text == "target" || text.starts_with('.');
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_symlink() {
                    match std::fs::canonicalize(&path) {
                        Ok(target) if target.is_dir() && !skipped => {
                            queue.push_back((root, path, target));
                        }
                        Ok(target) if !target.is_dir() && text.ends_with(".rs") => {
                            queue.push_back((root, path, target));
                        }
                        Ok(_) => {}
                        // A dangling link: only worth a word if it names a source file.
                        Err(e) if text.ends_with(".rs") => {
                            errors.push(path_error(&path, format!("cannot read: {e}")));
                        }
                        Err(_) => {}
                    }
                } else if kind.is_dir() {
                    let real = real_dir.join(&name);
                    if !skipped && seen.insert(real.clone()) {
                        dirs.push((path, real));
                    }
                } else if text.ends_with(".rs") && seen.insert(real_dir.join(&name)) {
                    files.push((root, path));
                }
            }
        }
    }
    files.sort();
    (files.into_iter().map(|(_, f)| f).collect(), errors)
}

fn path_error(path: &Path, message: String) -> FileError {
    file_error(&path.display().to_string(), 0, 0, message)
}
