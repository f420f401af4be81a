//! The visible label of a flamegraph frame: a Rust name shortened in steps until it
//! fits the frame, so the function stays readable where inferno would cut it.
//!
//! 1. The name as written.
//! 2. Generic arguments elided: the contents of each `<…>` that follows a name
//!    (`Vec<u8>`, `collect::<Vec<_>>`) become `…`: `alloc::vec::Vec<…>::push`. A
//!    qualified path `<T as Trait>` (or `<impl …>`, `<[T]>`) is kept and elided
//!    inside: `<alloc::vec::Vec<…> as core::clone::Clone>::clone`.
//! 3. Also the paths shortened: each path inside such a `<…>` to its last segment,
//!    the name itself to its last two: `<Vec<…> as Clone>::clone`, `Vec<…>::push`,
//!    `Iterator::collect`.
//! 4. The last segment alone, the function: `push`, `clone`, `make_rcs` (so a narrow
//!    frame of `app::make_rcs` reads `make_rcs`, not `app::m..`).
//!
//! The longest step that fits is shown; when none fits, the last one is cut on the
//! right and ends with `..` (inferno's mark). Steps 2 to 4, when they differ from
//! the step before, are written into the SVG (`fg:elided`, `fg:short`, `fg:leaf` on
//! the frame's `<g>`) so the script that refits labels on zoom ([`SCRIPT`]) shows the
//! same steps.

/// Where each `<` at the top level of `s` closes (index of its `>`), skipping the `>`
/// of `->`; `None` when it never closes.
fn closing(s: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &c) in s.iter().enumerate().skip(open) {
        match c {
            '<' => depth += 1,
            '>' if i > 0 && s[i - 1] == '-' => {}
            '>' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether the `<…>` group `inner` (its contents) is a qualified path rather than
/// generic arguments: `<T as Trait>`, `<impl Trait for T>`, or a group that opens a
/// path segment (`<[u8]>::to_vec`).
fn qualified(s: &[char], open: usize, inner: &[char]) -> bool {
    let text: String = inner.iter().collect();
    let opens_segment =
        // `}` ends a name too: `{closure#0}<u64, …>` has generic arguments.
        open == 0 || !matches!(s[open - 1], c if c.is_alphanumeric() || c == '_' || c == ':' || c == '}');
    opens_segment || text.starts_with("impl ") || top_level_as(inner)
}

/// Whether ` as ` occurs outside any nested `<…>` of `inner`.
fn top_level_as(inner: &[char]) -> bool {
    let mut depth = 0i32;
    for (i, &c) in inner.iter().enumerate() {
        match c {
            '<' => depth += 1,
            '>' if i > 0 && inner[i - 1] == '-' => {}
            '>' => depth -= 1,
            ' ' if depth == 0 && inner[i..].starts_with(&[' ', 'a', 's', ' ']) => return true,
            _ => {}
        }
    }
    false
}

/// Step 2 (and 3 with `short_paths`) of the module docs.
fn elide(s: &[char], short_paths: bool, inside_qualified: bool) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == '<' && !(i > 0 && s[i - 1] == '-') {
            let Some(close) = closing(s, i) else {
                // Unbalanced: keep the rest as written.
                out.extend(&s[i..]);
                break;
            };
            let inner = &s[i + 1..close];
            if qualified(s, i, inner) {
                out.push('<');
                out.push_str(&elide(inner, short_paths, true));
                out.push('>');
            } else {
                out.push_str("<…>");
            }
            i = close + 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    if short_paths && inside_qualified {
        shorten_paths(&out)
    } else {
        out
    }
}

/// `alloc::vec::Vec<…> as core::clone::Clone` → `Vec<…> as Clone`: each path at the
/// top level loses its leading `module::` segments.
fn shorten_paths(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut depth = 0i32;
    // Start of the current path token in `out`.
    let mut token_start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '<' => depth += 1,
            '>' if i > 0 && chars[i - 1] == '-' => {}
            '>' => depth -= 1,
            _ => {}
        }
        if depth == 0 && c == ':' && chars.get(i + 1) == Some(&':') {
            out.truncate(token_start);
            i += 2;
            continue;
        }
        out.push(c);
        if depth == 0 && matches!(c, ' ' | '&' | '*' | '(' | '[' | ',' | ';') {
            token_start = out.len();
        }
        i += 1;
    }
    out
}

/// The last `keep` segments of the top-level path of `s` (`::` outside `<…>`; a
/// turbofish `::<…>` stays with its segment).
fn last_segments(s: &str, keep: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut depth = 0i32;
    let mut cuts = Vec::new();
    for i in 0..chars.len() {
        match chars[i] {
            '<' => depth += 1,
            '>' if i > 0 && chars[i - 1] == '-' => {}
            '>' => depth -= 1,
            ':' if depth == 0
                && chars.get(i + 1) == Some(&':')
                && chars.get(i + 2) != Some(&'<')
                && (i == 0 || chars[i - 1] != ':') =>
            {
                cuts.push(i + 2)
            }
            _ => {}
        }
    }
    match cuts
        .len()
        .checked_sub(keep - 1)
        .and_then(|n| n.checked_sub(1))
    {
        Some(n) => chars[cuts[n]..].iter().collect(),
        None => s.to_string(),
    }
}

/// The three forms of a name: as written, generic arguments elided, and paths
/// shortened too (the function's last two path segments, and one for each path inside
/// a qualified `<…>`).
pub fn forms(name: &str) -> [String; 4] {
    let chars: Vec<char> = name.chars().collect();
    let elided = elide(&chars, false, false);
    let shortened = elide(&chars, true, false);
    let short = last_segments(&shortened, 2);
    let leaf = match last_segments(&shortened, 1) {
        l if l.is_empty() => short.clone(),
        l => l,
    };
    [name.to_string(), elided, short, leaf]
}

/// The label's steps, longest first, without repeats (see the module docs).
pub fn steps(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(4);
    for f in forms(name) {
        if out.last() != Some(&f) {
            out.push(f);
        }
    }
    out
}

/// The label of a frame `width_px` wide (the frame's share of the frames area less
/// the 3 px the label is indented, as inferno's script measures it) in a font of
/// `char_px` px per character: the first of `steps` that fits, else the last cut
/// on the right with `..`; nothing when not even 3 characters fit (inferno's rule,
/// `src/flamegraph/mod.rs`).
pub fn fit(steps: &[String], width_px: f64, char_px: f64) -> String {
    let room = (width_px / char_px).floor();
    if room.is_nan() || room < 3.0 {
        return String::new();
    }
    let room = room as usize;
    for s in steps {
        if s.chars().count() <= room {
            return s.clone();
        }
    }
    let last = steps.last().map_or("", String::as_str);
    let mut out: String = last.chars().take(room - 2).collect();
    out.push_str("..");
    out
}

/// Replaces inferno's `update_text` and `update_text_for_elements`
/// (`src/flamegraph/flamegraph.js`, 0.12.8), which refit labels on load, zoom and
/// resize from the title: the same fitting, trying the steps of [`steps`] before
/// cutting on the right. A later global function declaration wins, and inferno's
/// `init` runs on load, after every script.
pub const SCRIPT: &str = r#"
// spanprof: a label shows the name, else its generic arguments elided (fg:elided),
// else also its paths shortened (fg:short), else the function alone (fg:leaf), else
// that cut on the right.
function spanprof_steps(e) {
    var title = find_child(e, "title").textContent;
    var cut = title.lastIndexOf(" (");
    var steps = [cut < 0 ? title : title.substring(0, cut)];
    var elided = e.getAttribute("fg:elided");
    if (elided) steps.push(elided);
    var short = e.getAttribute("fg:short");
    if (short) steps.push(short);
    var leaf = e.getAttribute("fg:leaf");
    if (leaf) steps.push(leaf);
    return steps;
}
function spanprof_width(t, s) {
    if (known_font_width) return s.length * known_font_width;
    t.textContent = s;
    return t.getComputedTextLength();
}
function update_text(e) {
    var r = find_child(e, "rect");
    var t = find_child(e, "text");
    var w = parseFloat(r.attributes.width.value) * frames.attributes.width.value / 100 - 3;
    t.attributes.x.value = format_percent(parseFloat(r.attributes.x.value) + (100 * 3 / frames.attributes.width.value));
    if (w < 2 * fontsize * fontwidth) {
        t.textContent = "";
        return;
    }
    var steps = spanprof_steps(e);
    for (var i = 0; i < steps.length; i++) {
        if (spanprof_width(t, steps[i]) < w) {
            t.textContent = steps[i];
            return;
        }
    }
    var txt = steps[steps.length - 1];
    for (var x = txt.length - 2; x > 0; x--) {
        // Never split a surrogate pair.
        var code = txt.charCodeAt(x - 1);
        if (code >= 0xd800 && code < 0xdc00) continue;
        var cut = txt.substring(0, x) + "..";
        if (spanprof_width(t, cut) <= w) {
            t.textContent = cut;
            return;
        }
    }
    t.textContent = "";
}
function update_text_for_elements(elements) {
    for (var i = 0; i < elements.length; i++) {
        update_text(elements[i]);
    }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_arguments_go_first_then_paths_in_qualified_names() {
        assert_eq!(
            steps("{closure#0}<u64, alloc::boxed::Box<u8>>"),
            ["{closure#0}<u64, alloc::boxed::Box<u8>>", "{closure#0}<…>"]
        );
        assert_eq!(
            steps("alloc::vec::Vec<T,A>::push"),
            [
                "alloc::vec::Vec<T,A>::push",
                "alloc::vec::Vec<…>::push",
                "Vec<…>::push",
                "push"
            ]
        );
        assert_eq!(
            steps("<alloc::vec::Vec<u8> as core::clone::Clone>::clone"),
            [
                "<alloc::vec::Vec<u8> as core::clone::Clone>::clone",
                "<alloc::vec::Vec<…> as core::clone::Clone>::clone",
                "<Vec<…> as Clone>::clone",
                "clone"
            ]
        );
        assert_eq!(
            steps("spanprof::apply_all<fn(u32) -> alloc::vec::Vec<u8>>"),
            [
                "spanprof::apply_all<fn(u32) -> alloc::vec::Vec<u8>>",
                "spanprof::apply_all<…>",
                "apply_all<…>"
            ]
        );
        assert_eq!(
            steps("std::rt::lang_start::<()>::{closure#0}"),
            [
                "std::rt::lang_start::<()>::{closure#0}",
                "std::rt::lang_start::<…>::{closure#0}",
                "lang_start::<…>::{closure#0}",
                "{closure#0}"
            ]
        );
        assert_eq!(
            steps("<&mut alloc::string::String as core::fmt::Write>::write_str"),
            [
                "<&mut alloc::string::String as core::fmt::Write>::write_str",
                "<&mut String as Write>::write_str",
                "write_str"
            ]
        );
        assert_eq!(
            steps("<impl core::fmt::Debug for spanprof::Order<u8>>::fmt")
                .last()
                .unwrap(),
            "fmt"
        );
        assert!(
            steps("<impl core::fmt::Debug for spanprof::Order<u8>>::fmt")
                .contains(&"<impl Debug for Order<…>>::fmt".to_string())
        );
        assert_eq!(steps("main"), ["main"]);
        assert_eq!(
            steps("core::iter::traits::iterator::Iterator::collect"),
            [
                "core::iter::traits::iterator::Iterator::collect",
                "Iterator::collect",
                "collect"
            ]
        );
        assert_eq!(steps("a::b"), ["a::b", "b"]);
        // A narrow frame of a user function keeps the function, not the crate.
        assert_eq!(steps("app::make_rcs").last().unwrap(), "make_rcs");
        assert_eq!(steps("::"), ["::"]);
        assert_eq!(steps(":::"), [":::", ":"]);
        // Unbalanced or odd names are kept, never a panic.
        assert_eq!(steps("a<b")[0], "a<b");
        assert_eq!(steps("a>b<"), ["a>b<"]);
        assert_eq!(steps("x->y<z>")[1], "x->y<…>");
        steps("<<>>::<<<>");
    }

    #[test]
    fn labels_fit_like_inferno_with_the_steps_first() {
        let s = steps("<alloc::vec::Vec<u8> as core::clone::Clone>::clone");
        let px = |chars: f64| chars * 7.2;
        assert_eq!(fit(&s, px(50.0), 7.2), s[0]);
        assert_eq!(fit(&s, px(49.9), 7.2), s[1]);
        assert_eq!(fit(&s, px(30.0), 7.2), s[2]);
        assert_eq!(fit(&s, px(10.0), 7.2), "clone");
        assert_eq!(fit(&s, px(4.0), 7.2), "cl..");
        assert_eq!(fit(&s, px(2.9), 7.2), "");
    }
}
