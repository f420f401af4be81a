//! From a finding's line and column back to the tokens of its expression, so errors
//! and warnings point at the allocation itself.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Block, ExprCall, ExprMethodCall, Macro};

/// The tokens to span a diagnostic over for the allocation at 1-based `line:column`:
/// the call (`Box::new(..)`), the method and its arguments (`to_vec()`), or the macro
/// (`vec![..]`); the single token there when none of those starts there.
pub(crate) fn tokens_at(block: &Block, line: u32, column: u32) -> TokenStream {
    let want = (line as usize, column.saturating_sub(1) as usize);
    let mut l = Locate { want, found: None };
    l.visit_block(block);
    if let Some(ts) = l.found {
        return ts;
    }
    token_at(block.to_token_stream(), want)
        .map(|t| t.into_token_stream())
        .unwrap_or_else(|| quote::quote!(()))
}

/// The first token of the allocation at `line:column` (for warnings: one span only).
pub(crate) fn span_at(block: &Block, line: u32, column: u32) -> Span {
    tokens_at(block, line, column)
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

fn start(span: Span) -> (usize, usize) {
    let s = span.start();
    (s.line, s.column)
}

struct Locate {
    want: (usize, usize),
    found: Option<TokenStream>,
}

impl<'ast> Visit<'ast> for Locate {
    fn visit_expr_call(&mut self, c: &'ast ExprCall) {
        if start(c.span()) == self.want {
            self.found = Some(c.to_token_stream());
        }
        syn::visit::visit_expr_call(self, c);
    }

    fn visit_expr_method_call(&mut self, m: &'ast ExprMethodCall) {
        if start(m.method.span()) == self.want {
            let mut ts = m.method.to_token_stream();
            m.turbofish.to_tokens(&mut ts);
            m.paren_token.surround(&mut ts, |t| m.args.to_tokens(t));
            self.found = Some(ts);
        }
        syn::visit::visit_expr_method_call(self, m);
    }

    fn visit_macro(&mut self, m: &'ast Macro) {
        if start(m.path.span()) == self.want {
            self.found = Some(m.to_token_stream());
        }
        syn::visit::visit_macro(self, m);
    }
}

fn token_at(ts: TokenStream, want: (usize, usize)) -> Option<TokenTree> {
    for tt in ts {
        if start(tt.span()) == want {
            return Some(tt);
        }
        if let TokenTree::Group(g) = &tt
            && let Some(found) = token_at(g.stream(), want)
        {
            return Some(found);
        }
    }
    None
}
