//! `spanprof html`: the self-contained page, read as text and in a real browser
//! (headless Chromium driven by WebDriver): it loads with no console errors, every
//! section is there, and the flamegraphs' search and zoom work inside the page.

mod common;

use common::webdriver::{Session, tools};
use common::*;
use predicates::prelude::*;
use serde_json::json;
use std::path::{Path, PathBuf};

const SECTIONS: [&str; 9] = [
    "summary",
    "timeline",
    "peak",
    "leaks",
    "temporary",
    "flamegraphs",
    "sites",
    "classes",
    "audit",
];

fn html(profile: &Path, out: &Path) -> String {
    spanprof()
        .arg("html")
        .arg(profile)
        .arg("-o")
        .arg(out)
        .assert()
        .success();
    std::fs::read_to_string(out).unwrap()
}

fn page_with_everything(name: &str) -> (PathBuf, String) {
    let dir = scratch_dir(name);
    let out = dir.join("report.html");
    let text = html(&issue14_profile(&dir), &out);
    (out, text)
}

#[test]
fn the_page_is_self_contained_and_has_every_section() {
    let (_, page) = page_with_everything("html_text");
    for id in SECTIONS {
        assert!(page.contains(&format!("<section id=\"{id}\">")), "{id}");
    }
    // Nothing is fetched: no external script, style sheet, image or frame source.
    for needle in [
        "src=\"http",
        "href=\"http",
        "<link",
        "<script src",
        "url(http",
    ] {
        assert!(!page.contains(needle), "{needle}");
    }
    // The timeline chart inline, the peak and temporary figures of the profile.
    assert!(page.contains("Heap levels") && page.contains("live bytes"));
    assert!(page.contains("The heap was largest at <b>200 ms</b>: <b>2.0 MiB</b> live"));
    assert!(page.contains("parse_batch &gt; new_order"));
    assert!(page.contains("of all allocations"));
    assert!(!page.contains("not recorded"));
    // The flamegraphs, each a document of its own (the demo frees nearly everything:
    // no in-use graph, a note instead).
    for id in [
        "flame-heap-frame",
        "flame-sites-frame",
        "flame-refills-frame",
    ] {
        assert!(
            page.contains(&format!("<iframe class=\"flame\" id=\"{id}\"")),
            "{id}"
        );
    }
    assert!(page.contains("nothing to draw: no allocation has this weight"));
}

#[test]
fn sections_without_data_say_not_recorded() {
    let dir = scratch_dir("html_old");
    let page = html(&demo_profile(), &dir.join("r.html"));
    // The demo profiles itself in process, without `SPANPROF_OUT`: no timeline and no
    // peak were recorded; its temporary allocations were.
    let section = |id: &str| {
        let start = page.find(&format!("<section id=\"{id}\">")).expect(id);
        let end = start + page[start..].find("</section>").expect("section end");
        &page[start..end]
    };
    for id in ["timeline", "peak"] {
        assert!(
            section(id).contains("class=\"missing\">not recorded"),
            "{id}"
        );
    }
    assert!(!section("temporary").contains("not recorded"));
    assert_eq!(page.matches("class=\"missing\">not recorded").count(), 2);
    assert!(page.contains("SPANPROF_TIMELINE_MS"));
    // The rest is there.
    assert!(page.contains("<section id=\"leaks\">") && page.contains("new_point"));
}

#[test]
fn never_overwrites_its_input() {
    let dir = scratch_dir("html_input");
    let p = issue14_profile(&dir);
    spanprof()
        .arg("html")
        .arg(&p)
        .arg("-o")
        .arg(&p)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is the input profile"));
}

#[test]
fn in_a_browser_it_loads_cleanly_and_the_flamegraph_search_finds_a_frame() {
    let Some((browser, driver)) = tools() else {
        return;
    };
    let (page, _) = page_with_everything("html_browser");
    let s = Session::start(&browser, &driver);

    // The console check can fail: an error on a page is seen.
    s.goto("data:text/html,<script>console.error('spanprof-canary')</script>");
    assert!(
        s.console()
            .iter()
            .any(|(level, m)| level == "SEVERE" && m.contains("spanprof-canary")),
        "the browser console is not read"
    );

    s.goto(&format!("file://{}", page.display()));
    let found = s.run(
        "return arguments[0].map(id => { const s = document.getElementById(id); \
         return s && s.querySelector('h2') ? s.querySelector('h2').textContent : null; });",
        json!([SECTIONS]),
    );
    for (id, heading) in SECTIONS.iter().zip(found.as_array().unwrap()) {
        assert!(heading.is_string(), "section {id} missing: {found}");
    }
    // The timeline chart is drawn in the page.
    let chart = s.run(
        "const svg = document.querySelector('#timeline svg'); \
         return svg ? svg.getBoundingClientRect().width : 0;",
        json!([]),
    );
    assert!(chart.as_f64().unwrap() > 500.0, "{chart}");

    // Inside the heap flamegraph: inferno's script ran (init fitted the graph)...
    let frame = s.find("#flame-heap-frame");
    s.frame(Some(&frame));
    s.wait_for(
        "return typeof searchbtn !== 'undefined' && !!searchbtn && \
         !document.querySelector('svg').hasAttribute('width');",
        "inferno's init ran",
    );
    // ...the search asks with prompt() and highlights the frames that match...
    s.click(&s.find("#search"));
    s.answer_prompt("new_point");
    let search = s.run(
        "const hits = [...document.querySelectorAll('#frames > g')] \
           .filter(g => g.querySelector('rect').getAttribute('fill') === 'rgb(230,0,230)') \
           .map(g => g.querySelector('title').textContent); \
         return { hits: hits, matched: document.getElementById('matched').textContent };",
        json!([]),
    );
    let hits = search["hits"].as_array().unwrap();
    assert!(!hits.is_empty(), "{search}");
    assert!(
        hits.iter()
            .all(|t| t.as_str().unwrap().contains("new_point")),
        "{search}"
    );
    assert!(
        search["matched"].as_str().unwrap().starts_with("Matched: "),
        "{search}"
    );
    // ...and a click on a frame zooms into it.
    let target = s.run(
        "const g = [...document.querySelectorAll('#frames > g')] \
           .find(g => g.querySelector('title').textContent.startsWith('spanprof::workload::run')); \
         return g ? true : false;",
        json!([]),
    );
    assert_eq!(target, json!(true));
    s.run(
        "[...document.querySelectorAll('#frames > g')] \
           .find(g => g.querySelector('title').textContent.startsWith('spanprof::workload::run')) \
           .dispatchEvent(new MouseEvent('click', { bubbles: true }));",
        json!([]),
    );
    let zoomed = s.run(
        "return document.querySelectorAll('#frames > g.parent').length > 0 && \
         !document.getElementById('unzoom').classList.contains('hide');",
        json!([]),
    );
    assert_eq!(zoomed, json!(true));
    s.frame(None);

    // No error on the page or in any graph, from loading to searching and zooming.
    let severe: Vec<_> = s
        .console()
        .into_iter()
        .filter(|(level, _)| level == "SEVERE")
        .collect();
    assert!(severe.is_empty(), "console errors: {severe:?}");
}
