//! Flamegraph and diff SVGs read right: any name renders as well-formed XML and is
//! recoverable from its title, labels elide generic arguments before cutting, and a
//! diff shows what shrank (blue, at its before width) beside what grew (red).

mod common;

use common::{profile_value, scratch_dir, spanprof};
use quick_xml::events::Event;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A profile whose site stacks are `stacks` (site ids into `names`, weight in slot
/// bytes of class 1), on the demo profile's other tables.
fn site_profile(path: &Path, names: &[String], stacks: &[(Vec<u32>, u64)]) -> PathBuf {
    let mut v = profile_value();
    let template = v["sites"][0].clone();
    v["sites"] = Value::Array(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut s = template.clone();
                s["id"] = json!(i);
                s["name"] = json!(n);
                s
            })
            .collect(),
    );
    v["site_stats"] = Value::Array(
        stacks
            .iter()
            .map(|(stack, bytes)| {
                json!({"stack": stack, "class": 1, "allocs": bytes / 8, "slot_bytes": bytes,
                       "requested_bytes": bytes, "refills": 0, "frees": bytes / 8,
                       "live_objects": 0, "live_bytes": 0})
            })
            .collect(),
    );
    std::fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
    path.to_path_buf()
}

/// XML 1.0's `Char` production.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// A frame as the SVG shows it.
#[derive(Debug, Default)]
struct Frame {
    title: String,
    label: String,
    fill: String,
    elided: Option<String>,
}

/// Parses `svg` strictly (quick-xml events, end names, every character and reference
/// a legal XML character) and returns its frames. Panics on any error.
fn parse(svg: &[u8]) -> Vec<Frame> {
    let text = std::str::from_utf8(svg).expect("SVG is UTF-8");
    if let Some(c) = text.chars().find(|c| !xml_char(*c)) {
        panic!("SVG holds {c:?}, which XML cannot");
    }
    let mut reader = quick_xml::Reader::from_str(text);
    let mut frames = Vec::new();
    let mut in_frames = false;
    let mut current: Option<Frame> = None;
    let mut field: Option<&str> = None;
    let mut stack: Vec<String> = Vec::new();
    loop {
        let ev = reader
            .read_event()
            .unwrap_or_else(|e| panic!("SVG is not well-formed XML: {e}"));
        let checked_attrs = |e: &quick_xml::events::BytesStart<'_>| {
            let mut out = Vec::new();
            for a in e.attributes() {
                let a = a.unwrap_or_else(|e| panic!("bad attribute: {e}"));
                let v = a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .expect("attribute value unescapes");
                assert!(v.chars().all(xml_char), "attribute value {v:?}");
                out.push((
                    String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                    v.into_owned(),
                ));
            }
            out
        };
        match ev {
            Event::Eof => break,
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let attrs = checked_attrs(&e);
                if name == "svg" && attrs.iter().any(|(k, v)| k == "id" && v == "frames") {
                    in_frames = true;
                }
                if in_frames && name == "g" {
                    current = Some(Frame {
                        elided: attrs
                            .iter()
                            .find(|(k, _)| k == "fg:elided")
                            .map(|a| a.1.clone()),
                        ..Frame::default()
                    });
                }
                if name == "title" || name == "text" {
                    field = Some(if name == "title" { "title" } else { "text" });
                }
                stack.push(name);
            }
            Event::Empty(e) => {
                let attrs = checked_attrs(&e);
                if let (Some(f), true) = (current.as_mut(), e.name().as_ref() == b"rect") {
                    f.fill = attrs
                        .iter()
                        .find(|(k, _)| k == "fill")
                        .map(|a| a.1.clone())
                        .unwrap();
                }
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                assert_eq!(stack.pop().as_deref(), Some(name.as_str()));
                field = None;
                if name == "g"
                    && let Some(f) = current.take()
                {
                    frames.push(f);
                }
                if name == "svg" {
                    in_frames = false;
                }
            }
            Event::Text(t) => {
                let s = t.decode().unwrap();
                if let (Some(f), Some(which)) = (current.as_mut(), field) {
                    if which == "title" {
                        &mut f.title
                    } else {
                        &mut f.label
                    }
                    .push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().expect("a valid character reference") {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r.decode().unwrap())
                        .expect("only XML's predefined entities")
                        .to_string(),
                };
                assert!(c.chars().all(xml_char), "reference to {c:?}");
                if let (Some(f), Some(which)) = (current.as_mut(), field) {
                    if which == "title" {
                        &mut f.title
                    } else {
                        &mut f.label
                    }
                    .push_str(&c);
                }
            }
            Event::CData(c) => assert!(std::str::from_utf8(&c).is_ok()),
            _ => {}
        }
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
    assert!(!frames.is_empty(), "no frames");
    frames
}

/// The name a title shows (`NAME (details)`), with `\u{…}` and `\\` undone.
fn recovered(title: &str) -> String {
    let shown = &title[..title.rfind(" (").expect("a title ends with ` (…)`")];
    let mut out = String::new();
    let mut rest = shown;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("\\\\") {
            out.push('\\');
            rest = after;
        } else {
            let t = tail
                .strip_prefix("\\u{")
                .expect("only \\\\ and \\u{…} escapes");
            let end = t.find('}').unwrap();
            out.push(char::from_u32(u32::from_str_radix(&t[..end], 16).unwrap()).unwrap());
            rest = &t[end + 1..];
        }
    }
    out.push_str(rest);
    out
}

fn rgb(fill: &str) -> (u32, u32, u32) {
    let v: Vec<u32> = fill
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .map(|n| n.trim().parse().unwrap())
        .collect();
    (v[0], v[1], v[2])
}

fn svg_of(args: &[&str]) -> Vec<u8> {
    spanprof()
        .args(args)
        .args(["-o", "-"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone()
}

fn flamegraph(profile: &Path, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["flamegraph", profile.to_str().unwrap(), "--stacks", "sites"];
    args.extend_from_slice(extra);
    svg_of(&args)
}

fn diff(before: &Path, after: &Path) -> Vec<u8> {
    svg_of(&[
        "diff",
        before.to_str().unwrap(),
        after.to_str().unwrap(),
        "--stacks",
        "sites",
    ])
}

fn tricky() -> Vec<String> {
    [
        "escape\u{1b}[31mred",
        "nul\0byte",
        "bell\u{7}tab\tline\nbreak\r",
        "non\u{fffe}char\u{ffff}",
        "a;b;c",
        "<T as Trait>::f & \"q\" 'a'",
        "ends with number 42",
        "back\\slash \\u{41}",
        "version 1.5",
        "read_[k]",
        "# comment-like",
        "  padded  ",
        "]]>--",
    ]
    .map(String::from)
    .to_vec()
}

/// A deterministic random generator (xorshift64*): the same names on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A non-empty name from the characters that break folded stacks and XML, and
    /// random Unicode scalar values.
    fn name(&mut self) -> String {
        const PIECES: &[&str] = &[
            ";",
            "\\",
            "<",
            ">",
            "&",
            "\"",
            "'",
            " ",
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
            " 42",
            " 7.5",
            "# ",
            "_[k]",
            " (",
            ")",
            "\\u{41}",
            "::",
            "<T>",
            "-",
            "]]>",
            "é",
            "🦀",
        ];
        let mut s = String::new();
        for _ in 0..1 + self.below(5) {
            if self.below(2) == 0 {
                s.push_str(PIECES[self.below(PIECES.len() as u64) as usize]);
            } else {
                let top = [0x80, 0x800, 0x1_0000, 0x11_0000][self.below(4) as usize];
                if let Some(c) = char::from_u32(self.below(top) as u32) {
                    s.push(c);
                }
            }
        }
        if s.is_empty() { "x".into() } else { s }
    }
}

fn assert_recoverable(frames: &[Frame], names: &[String], what: &str) {
    let shown: std::collections::BTreeSet<String> =
        frames.iter().map(|f| recovered(&f.title)).collect();
    for n in names {
        assert!(
            shown.contains(n),
            "{what}: {n:?} is not in any title: {shown:?}"
        );
    }
}

#[test]
fn any_name_renders_as_well_formed_svg_and_is_recoverable() {
    let dir = scratch_dir("any_name_renders");
    let names = tricky();
    let stacks: Vec<(Vec<u32>, u64)> = (0..names.len() as u32)
        .map(|i| (vec![i], 10_000 + u64::from(i) * 100))
        .chain([(vec![0, 4, 6], 5_000), (vec![6, 4], 7_000)])
        .collect();
    let p = site_profile(&dir.join("p.json"), &names, &stacks);
    let title = "My \u{1b}[1mheap\u{7} <&> \\ 42"; // (an argument cannot hold NUL)
    let svg = flamegraph(&p, &["--title", title]);
    let frames = parse(&svg);
    assert_recoverable(&frames, &names, "flamegraph");
    // The graph's title, escaped as the frames are.
    assert!(
        String::from_utf8_lossy(&svg).contains("My \\u{1b}[1mheap\\u{7} &lt;&amp;&gt; \\\\ 42"),
        "title not shown as written"
    );
    // Icicle too.
    assert_recoverable(&parse(&flamegraph(&p, &["--icicle"])), &names, "icicle");

    // A diff of it against a changed copy.
    let changed: Vec<(Vec<u32>, u64)> =
        stacks.iter().map(|(s, w)| (s.clone(), w * 3 / 2)).collect();
    let q = site_profile(&dir.join("q.json"), &names, &changed);
    assert_recoverable(&parse(&diff(&p, &q)), &names, "diff");
}

#[test]
fn a_trailing_number_is_part_of_the_name_not_a_count() {
    let dir = scratch_dir("trailing_number");
    let names = vec!["ends with number 42".to_string(), "other 7".to_string()];
    let p = site_profile(
        &dir.join("p.json"),
        &names,
        &[(vec![0], 80_000), (vec![1], 40_000)],
    );
    let frames = parse(&flamegraph(&p, &[]));
    let f = frames
        .iter()
        .find(|f| f.title.starts_with("ends with number 42 ("))
        .expect("the name with its number");
    assert!(f.label.contains("ends with number 42"), "{f:?}");
    assert!(f.title.contains("80,000 bytes"), "{f:?}");
    // Not a differential graph: inferno's delta suffix is `%; +x.xx%)`.
    for f in &frames {
        assert!(!f.title.contains("%; "), "differential title {f:?}");
    }
    // The folded output escapes the space, so flamegraph tools read the count right.
    let out = spanprof()
        .args(["folded", p.to_str().unwrap(), "--stacks", "sites"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "ends with number\\u{20}42 80000\nother\\u{20}7 40000\n"
    );
}

#[test]
fn folded_output_escapes_what_the_format_cannot_carry() {
    let dir = scratch_dir("folded_escapes");
    let names = tricky();
    let stacks: Vec<(Vec<u32>, u64)> = (0..names.len() as u32)
        .map(|i| (vec![i, (i + 1) % names.len() as u32], 1_000 + u64::from(i)))
        .collect();
    let p = site_profile(&dir.join("p.json"), &names, &stacks);
    let out = spanprof()
        .args(["folded", p.to_str().unwrap(), "--stacks", "sites"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), stacks.len(), "{text}");
    let mut seen = Vec::new();
    for line in text.lines() {
        assert_eq!(line, line.trim(), "{line:?}");
        assert!(!line.starts_with("# "), "{line:?}");
        let (stack, count) = line.rsplit_once(' ').unwrap();
        count.parse::<u64>().unwrap();
        // No second count for a flamegraph tool to find.
        assert!(
            stack
                .rsplit_once(' ')
                .is_none_or(|(_, t)| !t.chars().all(|c| c.is_ascii_digit() || c == '.')),
            "{line:?}"
        );
        let frames: Vec<String> = stack
            .split(';')
            .map(|f| recovered(&format!("{f} ()")))
            .collect();
        assert_eq!(frames.len(), 2, "{line:?}");
        seen.push(frames);
    }
    for (i, n) in names.iter().enumerate() {
        let next = &names[(i + 1) % names.len()];
        assert!(
            seen.contains(&vec![n.clone(), next.clone()]),
            "{n:?};{next:?} not in {text}"
        );
    }
}

#[test]
fn random_unicode_names_render_and_are_recoverable() {
    let dir = scratch_dir("random_names");
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for round in 0..6 {
        let names: Vec<String> = (0..24).map(|_| rng.name()).collect();
        let n = names.len() as u64;
        let mut stacks: Vec<(Vec<u32>, u64)> = Vec::new();
        for i in 0..names.len() as u32 {
            stacks.push((vec![i], 20_000 + rng.below(20_000)));
        }
        for _ in 0..12 {
            let depth = 2 + rng.below(3);
            let s = (0..depth).map(|_| rng.below(n) as u32).collect();
            stacks.push((s, 5_000 + rng.below(5_000)));
        }
        let before = site_profile(&dir.join(format!("b{round}.json")), &names, &stacks);
        let mut changed = Vec::new();
        for (s, w) in &stacks {
            // A fifth are gone, the others shrink, stay or grow.
            if rng.below(5) != 0 {
                changed.push((s.clone(), w * (1 + rng.below(3)) / 2));
            }
        }
        let after = site_profile(&dir.join(format!("a{round}.json")), &names, &changed);
        let frames = parse(&flamegraph(&before, &[]));
        assert_recoverable(&frames, &names, &format!("round {round} flamegraph"));
        let frames = parse(&diff(&before, &after));
        assert_recoverable(&frames, &names, &format!("round {round} diff"));
    }
}

#[test]
fn labels_elide_generic_arguments_before_cutting() {
    let dir = scratch_dir("labels_elide");
    let long = "<alloc::vec::Vec<spanprof::workload::Order> as core::clone::Clone>::clone";
    let names = vec![long.to_string(), "main".to_string()];
    // 1/6 of 1180 px: room for about 28 characters of 7 px.
    let p = site_profile(
        &dir.join("p.json"),
        &names,
        &[(vec![0], 200_000), (vec![1], 1_000_000)],
    );
    let svg = flamegraph(&p, &[]);
    let frames = parse(&svg);
    let f = frames.iter().find(|f| f.title.starts_with(long)).unwrap();
    assert_eq!(f.label, "<Vec<…> as Clone>::clone", "{f:?}");
    assert_eq!(
        f.elided.as_deref(),
        Some("<alloc::vec::Vec<…> as core::clone::Clone>::clone")
    );
    // The script that refits labels in a browser parses.
    let text = String::from_utf8(svg).unwrap();
    let scripts: Vec<&str> = text
        .split("<![CDATA[")
        .skip(1)
        .map(|s| &s[..s.find("]]>").unwrap()])
        .collect();
    assert_eq!(
        scripts.len(),
        3,
        "inferno's settings, inferno's script, spanprof's"
    );
    assert!(scripts[2].contains("function update_text("));
    let js = dir.join("flamegraph.js");
    std::fs::write(&js, scripts.concat()).unwrap();
    match std::process::Command::new("node")
        .arg("--check")
        .arg(&js)
        .output()
    {
        Ok(o) => assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => eprintln!("skipping the JavaScript syntax check: `node` is not on PATH"),
    }
}

#[test]
fn a_diff_shows_what_shrank_in_blue_and_what_grew_in_red() {
    let dir = scratch_dir("diff_shrank");
    let names = vec!["summarize".to_string(), "sample_log".to_string()];
    let before = site_profile(
        &dir.join("naive.json"),
        &names,
        &[(vec![0], 150 << 20), (vec![1], 12 << 20)],
    );
    let after = site_profile(&dir.join("fixed.json"), &names, &[(vec![1], 20 << 20)]);
    let frames = parse(&diff(&before, &after));
    let shrank = frames
        .iter()
        .find(|f| f.title.starts_with("summarize ("))
        .expect("the stack that is gone is drawn");
    assert_eq!(
        shrank.title,
        "summarize (150.0 MiB → 0 B, -150.0 MiB, -100.0%)"
    );
    let (r, _, b) = rgb(&shrank.fill);
    assert!(b > r, "shrank, not blue: {shrank:?}");
    let grew = frames
        .iter()
        .find(|f| f.title.starts_with("sample_log ("))
        .unwrap();
    assert_eq!(
        grew.title,
        "sample_log (12.0 MiB → 20.0 MiB, +8.0 MiB, +66.7%)"
    );
    let (r, _, b) = rgb(&grew.fill);
    assert!(r > b, "grew, not red: {grew:?}");
    let all = frames
        .iter()
        .find(|f| f.title.starts_with("all ("))
        .unwrap();
    assert_eq!(all.title, "all (162.0 MiB → 20.0 MiB, -142.0 MiB, -87.7%)");
}

#[test]
fn a_small_change_beside_a_large_one_is_still_coloured() {
    let dir = scratch_dir("diff_small");
    let names = vec!["huge".to_string(), "tiny".to_string(), "same".to_string()];
    let before = site_profile(
        &dir.join("b.json"),
        &names,
        &[(vec![0], 400 << 20), (vec![2], 1 << 20)],
    );
    let after = site_profile(
        &dir.join("a.json"),
        &names,
        &[(vec![1], 2 << 20), (vec![2], 1 << 20)],
    );
    let frames = parse(&diff(&before, &after));
    let find = |n: &str| {
        frames
            .iter()
            .find(|f| f.title.starts_with(&format!("{n} (")))
            .unwrap()
    };
    // A new stack of 2 MiB beside a 400 MiB shrink: visibly red, not white.
    let (r, g, b) = rgb(&find("tiny").fill);
    assert!(r == 255 && g <= 215 && b <= 215, "{:?}", find("tiny"));
    let (r, g, b) = rgb(&find("huge").fill);
    assert!(b == 255 && r <= 215 && g <= 215, "{:?}", find("huge"));
    // No change stays as inferno draws it (near white).
    let (r, g, b) = rgb(&find("same").fill);
    assert!(r > 215 && g > 215 && b > 215, "{:?}", find("same"));
}

/// The first headless-capable browser on PATH, if any.
fn browser() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn in_a_browser_the_script_refits_labels_with_the_same_steps() {
    let Some(browser) = browser() else {
        eprintln!("skipping the browser check: no chromium on PATH");
        return;
    };
    let dir = scratch_dir("browser_labels");
    let long = "<alloc::vec::Vec<spanprof::workload::Order> as core::clone::Clone>::clone";
    let names = vec![long.to_string(), "main".to_string()];
    let p = site_profile(
        &dir.join("p.json"),
        &names,
        &[(vec![0], 1_000), (vec![1], 1_000)],
    );
    let svg = dir.join("long.svg");
    std::fs::write(&svg, flamegraph(&p, &[])).unwrap();
    // Drawn for 1200 px, half the graph holds the whole name.
    let drawn = parse(&std::fs::read(&svg).unwrap());
    assert_eq!(
        drawn
            .iter()
            .find(|f| f.title.starts_with(long))
            .unwrap()
            .label,
        long
    );
    // In a 600 px window the script refits it: 287 px hold the short step (24
    // characters), not the elided one (49).
    let out = assert_cmd::Command::new(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=5000",
            "--window-size=600,300",
            "--dump-dom",
        ])
        .arg(format!("file://{}", svg.display()))
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = parse(&out.stdout);
    let f = dom.iter().find(|f| f.title.starts_with(long)).unwrap();
    assert_eq!(f.label, "<Vec<…> as Clone>::clone", "{f:?}");
}
