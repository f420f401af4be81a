//! How frame names are written where they cannot go raw: in folded stacks (the
//! `root;…;leaf count` lines of `spanprof folded` and the input handed to inferno) and
//! in SVG text (titles and labels of flamegraphs, the graph's title).
//!
//! Both use one escape, `\u{…}` (Rust's notation: the character's code point in
//! lowercase hex) and `\\` for a backslash, so a name is recoverable from either form
//! with [`unescape`].
//!
//! Folded stacks ([`folded_frame`]) escape what inferno's folded parser
//! (`src/flamegraph/merge.rs` and `from_lines` in `src/flamegraph/mod.rs`, 0.12.8) and
//! Brendan Gregg's `flamegraph.pl` would misread:
//! - `;`, which separates frames;
//! - control characters (C0, DEL, C1: line breaks end a line, others are not XML)
//!   and U+FFFE/U+FFFF (not XML characters);
//! - white space at either end of a frame (lines are trimmed with `str::trim`);
//! - the space of a trailing ` <digits or dots>` (`size class 42`): the text after a
//!   line's last space is its count, and once more its "before" count
//!   (`rfind_samples`);
//! - a `#` starting `# ` (a line starting with `# ` is a comment);
//! - the `_` of a trailing `_[k]`, `_[w]`, `_[i]` or `_[j]` (an annotation inferno
//!   strips from titles and labels: `deannotate`).
//!
//! SVG text ([`shown`]) shows the name as written, except control characters and
//! U+FFFE/U+FFFF, which XML 1.0 cannot carry (its `Char` production) or which would be
//! invisible, and the backslash that makes the escape unambiguous.

use std::fmt::Write;

/// `\u{…}` of one character.
fn push_escape(out: &mut String, c: char) {
    let _ = write!(out, "\\u{{{:x}}}", c as u32);
}

/// A character no XML 1.0 document can hold (`Char` production: U+FFFE, U+FFFF and
/// C0 controls other than tab and line breaks), or a control character that would
/// not show: all are written as `\u{…}`.
fn hidden(c: char) -> bool {
    c.is_control() || c == '\u{fffe}' || c == '\u{ffff}'
}

/// `name` for SVG text: `\` → `\\`, control characters and U+FFFE/U+FFFF → `\u{…}`,
/// everything else as written (XML escaping of `<`, `&`, … is the writer's job).
pub fn shown(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if hidden(c) => push_escape(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// One frame name for a folded line (see the module docs for what is escaped and
/// why). An empty name becomes `[unknown]`, as inferno's collapsers name a frame
/// with no symbol.
pub fn folded_frame(name: &str) -> String {
    if name.is_empty() {
        return "[unknown]".into();
    }
    let chars: Vec<char> = name.chars().collect();
    let n = chars.len();
    // Leading and trailing white space: the escape stops at the first other character.
    let lead = chars.iter().take_while(|c| c.is_whitespace()).count();
    let trail = if lead == n {
        0
    } else {
        chars.iter().rev().take_while(|c| c.is_whitespace()).count()
    };
    // ` 42`, ` 1.5`: the space before a trailing run of digits and dots.
    let digits = chars[lead..n - trail]
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_digit() || **c == '.')
        .count();
    let count_space = (trail == 0 && digits > 0 && n - digits > 0 && chars[n - digits - 1] == ' ')
        .then(|| n - digits - 1);
    let comment_hash = name.starts_with("# ").then_some(0);
    let annotation = (n >= 4
        && chars[n - 4] == '_'
        && chars[n - 3] == '['
        && "kwij".contains(chars[n - 2])
        && chars[n - 1] == ']')
        .then(|| n - 4);
    let mut out = String::with_capacity(name.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let escape = hidden(c)
            || c == ';'
            || i < lead
            || i >= n - trail
            || Some(i) == count_space
            || Some(i) == comment_hash
            || Some(i) == annotation;
        if c == '\\' {
            out.push_str("\\\\");
        } else if escape {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// The name written by [`shown`] or [`folded_frame`]: `\\` → `\`, `\u{…}` → the
/// character. Anything else after a backslash is kept as it is.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("\\\\") {
            out.push('\\');
            rest = after;
            continue;
        }
        let decoded = tail.strip_prefix("\\u{").and_then(|t| {
            let end = t.find('}')?;
            let c = char::from_u32(u32::from_str_radix(&t[..end], 16).ok()?)?;
            Some((c, &t[end + 1..]))
        });
        match decoded {
            Some((c, after)) => {
                out.push(c);
                rest = after;
            }
            None => {
                out.push('\\');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*) for the property tests: no
    /// dependency, the same names on every run.
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Rng {
            Rng(seed.max(1))
        }

        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        pub fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }

        /// A non-empty name mixing the characters that break folded stacks and XML
        /// with random Unicode.
        pub fn name(&mut self) -> String {
            const TRICKY: &[&str] = &[
                ";",
                "\\",
                "<",
                ">",
                "&",
                "\"",
                "'",
                " ",
                "  ",
                "\u{1b}[31m",
                "\0",
                "\t",
                "\n",
                "\r",
                "\u{7f}",
                "\u{85}",
                "\u{fffe}",
                "\u{ffff}",
                "\u{a0}",
                "\u{3000}",
                " 42",
                " 1.5",
                "# ",
                "_[k]",
                "(",
                ")",
                " (",
                "\\u{41}",
                "::",
                "<T>",
                "-",
                "é",
                "🦀",
                "]]>",
                "--",
                "\u{200b}",
                "\u{1fffe}",
            ];
            let len = 1 + self.below(6);
            let mut s = String::new();
            for _ in 0..len {
                match self.below(3) {
                    0 => s.push_str(TRICKY[self.below(TRICKY.len() as u64) as usize]),
                    1 => s.push_str(["alloc", "Vec", "x", "42", "a b"][self.below(5) as usize]),
                    _ => {
                        let c = loop {
                            let range = [0x80, 0x800, 0x1_0000, 0x11_0000][self.below(4) as usize];
                            if let Some(c) = char::from_u32(self.below(range) as u32) {
                                break c;
                            }
                        };
                        s.push(c);
                    }
                }
            }
            s
        }
    }

    /// What inferno's folded parser makes of one line: the frames and the count
    /// (trim, count after the last space, an optional second count, split on `;`).
    fn inferno_parse(line: &str) -> (Vec<String>, Vec<String>) {
        let mut line = line.trim();
        let mut counts = Vec::new();
        for _ in 0..2 {
            let Some(i) = line.rfind(' ') else { break };
            let tail = &line[i + 1..];
            let ok = !tail.is_empty()
                && tail.chars().all(|c| c.is_ascii_digit() || c == '.')
                && tail.matches('.').count() <= 1
                && !tail.starts_with('.');
            if !ok {
                break;
            }
            counts.push(tail.to_string());
            line = line[..i].trim_end();
        }
        (line.split(';').map(String::from).collect(), counts)
    }

    #[test]
    fn names_survive_the_folded_format_as_inferno_reads_it() {
        let mut rng = Rng::new(7);
        for _ in 0..3000 {
            let a = rng.name();
            let b = rng.name();
            let line = format!("{};{} 17", folded_frame(&a), folded_frame(&b));
            assert!(!line.contains(['\n', '\r']), "{line:?}");
            assert!(!line.starts_with("# "), "{line:?}");
            let (frames, counts) = inferno_parse(&line);
            assert_eq!(counts, ["17"], "{line:?}");
            assert_eq!(frames.len(), 2, "{line:?}");
            assert!(!frames[1].ends_with("_[k]") && !frames[1].ends_with("_[j]"));
            assert_eq!(unescape(&frames[0]), a, "{line:?}");
            assert_eq!(unescape(&frames[1]), b, "{line:?}");
            assert_eq!(unescape(&shown(&a)), a);
            assert!(!shown(&a).chars().any(hidden));
        }
    }

    #[test]
    fn the_escape_is_readable() {
        assert_eq!(
            folded_frame("Vec<[u8; 32]>::push"),
            "Vec<[u8\\u{3b} 32]>::push"
        );
        assert_eq!(
            folded_frame("ends with number 42"),
            "ends with number\\u{20}42"
        );
        assert_eq!(folded_frame("version 1.5"), "version\\u{20}1.5");
        assert_eq!(folded_frame("foo2"), "foo2");
        assert_eq!(folded_frame("escape\u{1b}[31mred"), "escape\\u{1b}[31mred");
        assert_eq!(folded_frame(" pad "), "\\u{20}pad\\u{20}");
        assert_eq!(folded_frame("# note"), "\\u{23} note");
        assert_eq!(folded_frame("read_[k]"), "read\\u{5f}[k]");
        assert_eq!(folded_frame("a\\b"), "a\\\\b");
        assert_eq!(folded_frame(""), "[unknown]");
        assert_eq!(shown("a\\u{1b}\u{1b}<&>;"), "a\\\\u{1b}\\u{1b}<&>;");
        assert_eq!(
            unescape("a\\x\\u{zz}\\u{110000}\\"),
            "a\\x\\u{zz}\\u{110000}\\"
        );
    }
}
