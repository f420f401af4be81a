//! Each subcommand on a real profile (made by `spanprof demo`), checked for content.

mod common;

use common::*;
use predicates::prelude::*;

fn total_slot_bytes(v: &serde_json::Value) -> u64 {
    let small: u64 = v["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bytes_allocated"].as_u64().unwrap())
        .sum();
    small + v["large"]["bytes_allocated"].as_u64().unwrap()
}

fn stdout_of(args: &[&str]) -> String {
    let out = spanprof()
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn help_and_version() {
    spanprof()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("flamegraph"));
    for sub in [
        "report",
        "flamegraph",
        "folded",
        "pprof",
        "diff",
        "escape",
        "audit",
        "demo",
        "classes",
    ] {
        spanprof()
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Usage"));
    }
    spanprof()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
    spanprof().arg("frobnicate").assert().code(2);
    spanprof().assert().code(2);
}

#[test]
fn classes_table() {
    spanprof()
        .arg("classes")
        .assert()
        .success()
        .stdout(predicate::str::contains("32768"));
}

#[test]
fn report_text_and_json() {
    let p = demo_profile();
    let p = p.to_str().unwrap();
    let text = stdout_of(&["report", p, "--top", "50"]);
    for want in [
        "Totals",
        "parse_batch > new_order",
        "(no site)",
        "Size classes",
        "Large allocations",
        "Heap events",
        "arena_mapped",
        "Top sampled stacks",
        "new_point",
    ] {
        assert!(text.contains(want), "report lacks {want:?}:\n{text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&stdout_of(&["report", p, "--format", "json", "--top", "3"])).unwrap();
    let v = profile_value();
    assert_eq!(
        json["totals"]["bytes"].as_u64().unwrap(),
        total_slot_bytes(&v)
    );
    assert_eq!(json["sites"].as_array().unwrap().len(), 3);
    assert_eq!(json["sites"][0]["stack"], "parse_batch > new_order");
    let c5 = json["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["size"] == 48)
        .unwrap();
    assert!(c5["waste_pct"].as_f64().unwrap() > 10.0);
}

#[test]
fn folded_sums_match_the_profile() {
    let p = demo_profile();
    let p = p.to_str().unwrap();
    let v = profile_value();
    let sites = stdout_of(&["folded", p, "--stacks", "sites"]);
    assert_eq!(folded_sum(&sites), total_slot_bytes(&v));
    assert!(sites.contains("parse_batch;new_order "));
    let refills: u64 = v["site_stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["refills"].as_u64().unwrap())
        .sum();
    assert_eq!(
        folded_sum(&stdout_of(&[
            "folded", p, "--stacks", "sites", "--weight", "refills"
        ])),
        refills
    );
    let native = stdout_of(&["folded", p]);
    let est: f64 = v["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["alloc_bytes_est"].as_f64().unwrap())
        .sum();
    let n = native.lines().count() as f64;
    assert!(
        (folded_sum(&native) as f64 - est).abs() <= n,
        "{} vs {est}",
        folded_sum(&native)
    );
    assert!(native.contains("new_order"));
    assert!(
        native
            .lines()
            .all(|l| l.starts_with("main;") || !l.contains(";main;"))
    );
    let c48 = stdout_of(&[
        "folded",
        p,
        "--stacks",
        "sites",
        "--size-class",
        "48B",
        "--class-frames",
    ]);
    assert!(c48.lines().all(|l| l.contains(";[48 B] ")), "{c48}");
    assert_eq!(
        c48,
        stdout_of(&[
            "folded",
            p,
            "--stacks",
            "sites",
            "--size-class",
            "5",
            "--class-frames"
        ])
    );
}

#[test]
fn flamegraph_svgs() {
    let dir = tempfile::tempdir().unwrap();
    let p = demo_profile();
    let out = dir.path().join("heap.svg");
    spanprof()
        .arg("flamegraph")
        .arg(&p)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let svg = std::fs::read(&out).unwrap();
    assert!(check_xml(&svg) > 20);
    let s = String::from_utf8_lossy(&svg);
    assert!(
        s.contains("new_order") && s.contains("bytes"),
        "frames missing"
    );
    // Default output name in the working directory, sites, class frames, icicle, title.
    spanprof()
        .current_dir(dir.path())
        .arg("flamegraph")
        .arg(&p)
        .args([
            "--stacks",
            "sites",
            "--class-frames",
            "--icicle",
            "--title",
            "My heap",
            "--weight",
            "alloc-objects",
        ])
        .assert()
        .success();
    let svg = std::fs::read(dir.path().join("heap.svg")).unwrap();
    check_xml(&svg);
    let s = String::from_utf8_lossy(&svg);
    assert!(
        s.contains("My heap")
            && s.contains("[48 B]")
            && s.contains("(no site)")
            && s.contains("objects")
    );
    let stdout = spanprof()
        .arg("flamegraph")
        .arg(&p)
        .args(["--stacks", "sites", "--weight", "refills", "-o", "-"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    check_xml(&stdout);
    assert!(String::from_utf8_lossy(&stdout).contains("refills"));
}

#[test]
fn pprof_decodes_with_go_heap_types() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("heap.pb.gz");
    spanprof()
        .arg("pprof")
        .arg(demo_profile())
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let p = decode_pprof(&std::fs::read(&out).unwrap());
    assert_eq!(p.strings[0], "");
    let s = |i: u64| p.strings[i as usize].as_str();
    let types: Vec<(&str, &str)> = p.sample_types.iter().map(|&(t, u)| (s(t), s(u))).collect();
    assert_eq!(
        types,
        [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes")
        ]
    );
    assert_eq!((s(p.period_type.0), s(p.period_type.1)), ("space", "bytes"));
    // The demo frees everything: the default is what it allocated (pprof.rs).
    assert_eq!(s(p.default_sample_type), "alloc_space");
    let v = profile_value();
    assert_eq!(p.period, 4096);
    assert_eq!(v["sample_rate"], 4096);
    let samples = v["samples"].as_array().unwrap();
    assert_eq!(p.samples.len(), samples.len());
    for (i, key) in [
        "alloc_objects_est",
        "alloc_bytes_est",
        "inuse_objects_est",
        "inuse_bytes_est",
    ]
    .iter()
    .enumerate()
    {
        let want: u64 = samples
            .iter()
            .map(|x| x[key].as_f64().unwrap().round() as u64)
            .sum();
        let got: u64 = p.samples.iter().map(|x| x.1[i]).sum();
        assert_eq!(got, want, "{key}");
    }
    // Every location id a sample names exists; every line names a function.
    let loc_ids: std::collections::HashSet<u64> = p.locations.iter().map(|l| l.0).collect();
    let fn_ids: std::collections::HashSet<u64> = p.functions.iter().map(|f| f.0).collect();
    assert!(
        p.samples
            .iter()
            .all(|x| !x.0.is_empty() && x.0.iter().all(|id| loc_ids.contains(id)))
    );
    assert!(
        p.locations
            .iter()
            .all(|l| !l.1.is_empty() && l.1.iter().all(|(f, _)| fn_ids.contains(f)))
    );
    assert!(
        p.functions
            .iter()
            .any(|f| s(f.1).ends_with("new_order") && s(f.2).ends_with("workload.rs"))
    );
    match std::process::Command::new("go")
        .args([
            "tool",
            "pprof",
            "-sample_index=alloc_space",
            "-top",
            "-cum",
            "-nodecount=500",
        ])
        .arg(&out)
        .output()
    {
        Err(_) => eprintln!("skipping the go tool pprof check: `go` is not on PATH"),
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "go tool pprof failed: {stderr}");
            assert!(!stderr.to_lowercase().contains("warning"), "{stderr}");
            assert!(!stderr.contains("not available"), "{stderr}");
            assert!(String::from_utf8_lossy(&o.stdout).contains("new_order"));
        }
    }
}

#[test]
fn diff_against_itself_shows_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let p = demo_profile();
    let out = dir.path().join("diff.svg");
    let text = spanprof()
        .arg("diff")
        .arg(&p)
        .arg(&p)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    assert_eq!(text.matches("no change").count(), 2, "{text}");
    let svg = std::fs::read(&out).unwrap();
    check_xml(&svg);
    assert!(String::from_utf8_lossy(&svg).contains("new_order"));
}

#[test]
fn diff_shows_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = profile_value();
    for s in v["site_stats"].as_array_mut().unwrap() {
        if s["class"] == 5 {
            let b = s["slot_bytes"].as_u64().unwrap();
            s["slot_bytes"] = (b * 2).into();
        }
    }
    let after = dir.path().join("after.json");
    std::fs::write(&after, serde_json::to_vec(&v).unwrap()).unwrap();
    let out = dir.path().join("d.svg");
    spanprof()
        .arg("diff")
        .arg(demo_profile())
        .arg(&after)
        .args(["--stacks", "sites"])
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("parse_batch > new_order")
                .and(predicate::str::contains("+4.6 MiB")),
        );
    check_xml(&std::fs::read(&out).unwrap());
}

#[test]
fn escape_report() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("lib.rs"), "pub struct S { a: u64 }\npub fn make() -> Box<S> {\n    Box::new(S { a: 1 })\n}\npub fn tmp(n: usize) -> usize {\n    let v: Vec<u8> = Vec::with_capacity(n);\n    v.len()\n}\n").unwrap();
    spanprof()
        .current_dir(dir.path())
        .arg("escape")
        .assert()
        .success()
        .stdout(
            predicate::str::contains(
                "src/lib.rs:3:5: Box::new(S { .. }) escapes to heap: returned",
            )
            .and(predicate::str::contains("does not escape")),
        );
    spanprof()
        .current_dir(dir.path())
        .args(["escape", "--only", "does-not-escape"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("does not escape")
                .and(predicate::str::contains("escapes to heap").not()),
        );
    spanprof()
        .current_dir(dir.path())
        .args(["escape", "-v", "src"])
        .assert()
        .success()
        .stdout(predicate::str::contains("type S"));
    let json = spanprof()
        .current_dir(dir.path())
        .args(["escape", "--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json[0]["kind"], "escapes");
    spanprof()
        .current_dir(dir.path())
        .args(["escape", "nope"])
        .assert()
        .code(1)
        .stderr("spanprof: nope: no such file or directory\n");
}

#[test]
fn audit_finds_the_wasteful_type() {
    let p = demo_profile();
    let text = stdout_of(&["audit", p.to_str().unwrap()]);
    let first = text.lines().nth(1).unwrap();
    assert!(
        first.starts_with("Order")
            && first.contains("8 bytes smaller would move it to the 32 B class and save 33 %"),
        "{text}"
    );
    assert!(text.contains("Point") && text.contains("fits its slot exactly"));
    let json: serde_json::Value = serde_json::from_str(&stdout_of(&[
        "audit",
        p.to_str().unwrap(),
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(json[0]["type"], "Order");
    assert_eq!(
        (
            json[0]["size"].as_u64(),
            json[0]["slot_size"].as_u64(),
            json[0]["waste_bytes"].as_u64()
        ),
        (Some(40), Some(48), Some(8))
    );
    assert_eq!(json[0]["site_allocs_in_class"], 100000);
}

#[test]
fn audit_lists_registered_types_once() {
    // The demo profile plus the `types` a binary with marked types would carry: a
    // type only marked, and one a finding also names (its counts are kept).
    let mut v = profile_value();
    let row = |name: &str, size: u64, class: u64, slot: u64| {
        serde_json::json!({
            "name": name, "module": "shop", "file": "src/shop.rs", "line": 3,
            "size": size, "align": 8, "size_class": class, "slot_size": slot,
            "waste": slot - size,
        })
    };
    v["types"] = serde_json::json!([
        row("Ticket", 40, 5, 48),
        row("Order", 40, 5, 48),
        row("Ticket", 40, 5, 48),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("typed.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let text = stdout_of(&["audit", p.to_str().unwrap()]);
    let tickets: Vec<&str> = text.lines().filter(|l| l.starts_with("Ticket ")).collect();
    assert_eq!(tickets.len(), 1, "{text}");
    assert!(
        tickets[0].contains("(registered)")
            && tickets[0].contains("8 bytes smaller would move it to the 32 B class and save 33 %"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout_of(&[
        "audit",
        p.to_str().unwrap(),
        "--format",
        "json",
    ]))
    .unwrap();
    let rows = json.as_array().unwrap();
    let orders: Vec<_> = rows.iter().filter(|r| r["type"] == "Order").collect();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["source"], "finding");
    assert_eq!(orders[0]["site_allocs_in_class"], 100000);
    let ticket = rows.iter().find(|r| r["type"] == "Ticket").unwrap();
    assert_eq!(ticket["source"], "registered");
    assert_eq!(
        (
            ticket["size"].as_u64(),
            ticket["size_class"].as_u64(),
            ticket["slot_size"].as_u64(),
            ticket["waste_bytes"].as_u64(),
            ticket["site_allocs_in_class"].as_u64()
        ),
        (Some(40), Some(5), Some(48), Some(8), Some(0))
    );
}

#[test]
fn demo_writes_every_file() {
    let dir = demo_dir();
    for f in [
        "profile.json",
        "heap.svg",
        "refills.svg",
        "classes.svg",
        "heap.pb.gz",
        "audit.txt",
        "escape.txt",
        "report.html",
    ] {
        let len = std::fs::metadata(dir.join(f)).unwrap().len();
        assert!(len > 100, "{f} is {len} bytes");
    }
    for f in ["heap.svg", "refills.svg", "classes.svg"] {
        check_xml(&std::fs::read(dir.join(f)).unwrap());
    }
    let escape = std::fs::read_to_string(dir.join("escape.txt")).unwrap();
    assert!(escape.contains("Box::new(Order { .. }) escapes to heap: returned"));
    assert!(
        std::fs::read_to_string(dir.join("classes.svg"))
            .unwrap()
            .contains("[48 B]")
    );
}

#[test]
fn escape_check_gates_no_escape_functions() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("hot.rs");
    std::fs::write(
        &src,
        "#[track_alloc(no_escape)]\nfn hot(n: usize) -> Vec<u8> { Vec::with_capacity(n) }\n\
         #[track_alloc(no_escape)]\nfn fine(n: usize) -> usize { let v: Vec<u8> = Vec::with_capacity(n); v.len() }\n",
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("spanprof")
        .unwrap()
        .args(["escape", "--check", src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("hot.rs:2:31: Vec::with_capacity(n) escapes to heap: returned (`hot` is #[track_alloc(no_escape)])"), "{stderr}");
    assert!(!stderr.contains("`fine`"), "{stderr}");
    // Without --check the same report succeeds.
    assert_cmd::Command::cargo_bin("spanprof")
        .unwrap()
        .args(["escape", src.to_str().unwrap()])
        .assert()
        .success();
}

#[test]
fn escape_check_fails_a_detached_thread_that_prints_inline() {
    // Issue 11: a `move` closure that only names `line` inside the format string still
    // captures it, and the thread outlives the function.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("log.rs");
    std::fs::write(
        &src,
        "#[track_alloc(no_escape)]\nfn log_async(line: &str) {\n    let line = line.to_string();\n    std::thread::spawn(move || eprintln!(\"{line}\"));\n}\n",
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("spanprof")
        .unwrap()
        .args(["escape", "--check", src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "log.rs:3:21: line.to_string() escapes to heap: captured by a spawned thread"
        ),
        "{stderr}"
    );
}
