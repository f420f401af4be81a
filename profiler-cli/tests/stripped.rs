//! Stripped binaries: a profile of a stripped copy of the `strip_me` example keeps
//! its unresolved frames (mapping, offset, no lines) without spanprof's own, and
//! `spanprof symbolize` names them from the unstripped copy (given, or found by
//! build ID in debuginfod's cache), so `parser::build` and `renderer::build` are two
//! functions with file and line. Real child processes, real binaries (binutils'
//! `strip` makes the stripped copy).

mod common;

use common::{decode_pprof, example, spanprof};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn temp_dir(name: &str) -> PathBuf {
    common::scratch_dir(&format!("stripped-{name}"))
}

/// In `dir`: `strip_me.full` (a copy of the example) and `strip_me` (stripped of
/// every symbol and all debug info).
fn binaries(dir: &Path) -> (PathBuf, PathBuf) {
    let full = dir.join("strip_me.full");
    let stripped = dir.join("strip_me");
    std::fs::copy(example("strip_me"), &full).unwrap();
    let status = Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(&stripped)
        .arg(&full)
        .status()
        .expect("binutils' `strip` is needed by this test");
    assert!(status.success());
    // Really stripped: no symbol table, no DWARF.
    let sections = Command::new("objdump").arg("-h").arg(&stripped).output();
    if let Ok(out) = sections {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains(".symtab") && !text.contains(".debug_info"),
            "{text}"
        );
    }
    (full, stripped)
}

/// Runs `program` sampling every allocation; its profile.
fn profile_of(program: &Path, out: &Path) -> Value {
    let status = Command::new(program)
        .env("SPANPROF_OUT", out)
        .env("SPANPROF_RATE", "1")
        .env_remove("SPANPROF_MAX_FRAMES")
        .env_remove("SPANPROF_UNWIND")
        .status()
        .unwrap();
    assert!(status.success());
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

fn folded(profile: &Path) -> String {
    let out = spanprof().arg("folded").arg(profile).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The program's own mapping (the stripped file's path).
fn program_mapping(p: &Value, path: &Path) -> u64 {
    let path = path.display().to_string();
    p["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["path"] == path.as_str())
        .unwrap_or_else(|| panic!("no mapping for {path}: {}", p["mappings"])) as u64
}

/// Asserts the innermost user frames: a line `strip_me::<module>::build` with its
/// file and line, in some stack of `p`.
fn assert_named(p: &Value, function: &str) {
    let found = p["locations"].as_array().unwrap().iter().any(|l| {
        l["lines"].as_array().unwrap().iter().any(|line| {
            line["function"] == function
                && line["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("strip_me.rs"))
                && line["line"].as_u64().is_some_and(|n| n > 0)
        })
    });
    assert!(found, "no location names {function} with file and line");
}

#[test]
fn a_stripped_binary_keeps_its_frames_and_symbolize_names_them() {
    let dir = temp_dir("names");
    let (full, stripped) = binaries(&dir);
    let raw = dir.join("p.json");
    let p = profile_of(&stripped, &raw);

    // Unresolved frames are kept, as mapping and offset without lines, and every
    // sampled stack still has frames.
    let m = program_mapping(&p, &stripped);
    let mapping = &p["mappings"][m as usize];
    assert_eq!(mapping["build_id"].as_str().unwrap().len(), 40, "{mapping}");
    let locations = p["locations"].as_array().unwrap();
    let unresolved: Vec<&Value> = locations.iter().filter(|l| l["mapping"] == m).collect();
    assert!(unresolved.len() > 5, "{}", p["locations"]);
    for l in &unresolved {
        assert_eq!(l["lines"].as_array().unwrap().len(), 0, "{l}");
        let (address, offset) = (
            l["address"].as_u64().unwrap(),
            l["offset"].as_u64().unwrap(),
        );
        let bias = mapping["load_bias"].as_u64().unwrap();
        assert_eq!(address - bias, offset);
    }
    let stacks = p["stacks"].as_array().unwrap();
    assert!(stacks.len() >= 2, "{}", p["stacks"]);
    for s in p["samples"].as_array().unwrap() {
        let stack = &stacks[s["stack"].as_u64().unwrap() as usize];
        assert!(!stack["locations"].as_array().unwrap().is_empty(), "{s}");
    }
    // None of them is spanprof's own (the sampler, the unwinder, the allocator's slow
    // path): found by address, without names. binutils' addr2line names them here.
    let offsets: Vec<String> = unresolved
        .iter()
        .map(|l| format!("{:#x}", l["offset"].as_u64().unwrap() - 1))
        .collect();
    let named = Command::new("addr2line")
        .args(["-f", "-C", "-e"])
        .arg(&full)
        .args(&offsets)
        .output()
        .expect("binutils' `addr2line` is needed by this test");
    let named = String::from_utf8_lossy(&named.stdout);
    let functions: Vec<&str> = named.lines().step_by(2).collect();
    assert_eq!(functions.len(), offsets.len(), "{named}");
    assert!(
        functions.iter().any(|f| f.ends_with("parser::build")),
        "{named}"
    );
    for f in &functions {
        // The shim stays (`<spanprof::malloc::SpanAlloc as GlobalAlloc>::alloc`);
        // addr2line names a return address by the innermost function inlined there,
        // which in the shim is its fast path `alloc_class` (shared with the C API).
        let shim = f.starts_with("spanprof::malloc::alloc_class");
        assert!(
            shim || (!f.starts_with("spanprof::") && !f.starts_with("backtrace::")),
            "spanprof's frame {f} kept in a stripped binary's stacks"
        );
    }
    // The folded output shows them as module+offset.
    let text = folded(&raw);
    assert!(text.contains("strip_me+0x"), "{text}");

    // Named from the unstripped copy.
    let named = dir.join("named.json");
    let out = spanprof()
        .arg("symbolize")
        .arg(&raw)
        .arg("--binary")
        .arg(&full)
        .arg("-o")
        .arg(&named)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    let n = unresolved.len();
    assert!(
        said.contains(&format!("named {n} of {n} unresolved locations")),
        "{said}"
    );
    let q: Value = serde_json::from_slice(&std::fs::read(&named).unwrap()).unwrap();
    assert_named(&q, "strip_me::parser::build");
    assert_named(&q, "strip_me::renderer::build");
    // The input is left as it was.
    assert_eq!(
        serde_json::from_slice::<Value>(&std::fs::read(&raw).unwrap()).unwrap(),
        p
    );

    // Re-trimmed: no allocator or sampler frame at the top, two distinct `build`s,
    // every stack of the program's functions rooted at its `main`.
    let text = folded(&named);
    assert!(!text.contains("strip_me+0x"), "{text}");
    for own in ["spanprof::", "backtrace::", "__rust_alloc", "__rg_alloc"] {
        assert!(!text.contains(own), "{own} in {text}");
    }
    let parser = text
        .lines()
        .filter(|l| l.starts_with("strip_me::main;strip_me::parser::build;"))
        .count();
    let renderer = text
        .lines()
        .filter(|l| l.starts_with("strip_me::main;strip_me::renderer::build;"))
        .count();
    assert!(parser > 0 && renderer > 0, "{text}");
    // The 500 boxes of 100 bytes parser::build keeps are its, not renderer's.
    let weight = |prefix: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
            .sum()
    };
    assert!(weight("strip_me::main;strip_me::parser::build;") >= 500 * 100);

    // The same stacks as a profile of the unstripped binary has (names aside, the
    // frames are the same code).
    let direct = dir.join("direct.json");
    profile_of(&full, &direct);
    let mut a: Vec<String> = folded(&direct)
        .lines()
        .filter(|l| l.contains("::build"))
        .map(|l| l.rsplit_once(' ').unwrap().1.to_string())
        .collect();
    let mut b: Vec<String> = text
        .lines()
        .filter(|l| l.contains("::build"))
        .map(|l| l.rsplit_once(' ').unwrap().1.to_string())
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "weights of the build stacks differ");
}

#[test]
fn symbolize_finds_the_debug_file_by_build_id_in_debuginfods_cache() {
    let dir = temp_dir("debuginfod");
    let (full, stripped) = binaries(&dir);
    let raw = dir.join("p.json");
    let p = profile_of(&stripped, &raw);
    let m = program_mapping(&p, &stripped);
    let id = p["mappings"][m as usize]["build_id"].as_str().unwrap();
    let cache = dir.join("cache");
    std::fs::create_dir_all(cache.join(id)).unwrap();
    // A separate debug file, as distributions and debuginfod serve them: DWARF and
    // symbols, no code.
    let status = Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(&full)
        .arg(cache.join(id).join("debuginfo"))
        .status()
        .expect("binutils' `objcopy` is needed by this test");
    assert!(status.success());
    let named = dir.join("named.json");
    let out = spanprof()
        .env("DEBUGINFOD_CACHE_PATH", &cache)
        .arg("symbolize")
        .arg(&raw)
        .arg("-o")
        .arg(&named)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let q: Value = serde_json::from_slice(&std::fs::read(&named).unwrap()).unwrap();
    assert_named(&q, "strip_me::parser::build");

    // With no debug file anywhere, nothing is named and nothing is lost.
    let empty = dir.join("empty-cache");
    std::fs::create_dir_all(&empty).unwrap();
    let same = dir.join("same.json");
    let out = spanprof()
        .env("DEBUGINFOD_CACHE_PATH", &empty)
        .arg("symbolize")
        .arg(&raw)
        .arg("-o")
        .arg(&same)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("named 0 of"));
    assert_eq!(folded(&same), folded(&raw));
}

#[test]
fn symbolize_refuses_bad_input_in_one_line() {
    let dir = temp_dir("errors");
    let (_full, stripped) = binaries(&dir);
    let raw = dir.join("p.json");
    profile_of(&stripped, &raw);
    let before = std::fs::read(&raw).unwrap();
    let not_elf = dir.join("not-elf");
    std::fs::write(&not_elf, b"hello, not a binary").unwrap();
    let os = |s: &str| std::ffi::OsString::from(s);
    let cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        (
            vec![os("--binary"), not_elf.clone().into()],
            "not an ELF file",
        ),
        (
            vec![os("--binary"), dir.join("missing").into()],
            "no such file",
        ),
        // A binary of another build: its build ID matches no module.
        (
            vec![os("--binary"), std::env::current_exe().unwrap().into()],
            "matches no module",
        ),
        (vec![os("-o"), raw.clone().into()], "is the input profile"),
    ];
    for (args, problem) in cases {
        let out = spanprof()
            .arg("symbolize")
            .arg(&raw)
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("spanprof: ") && err.contains(problem),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(
        std::fs::read(&raw).unwrap(),
        before,
        "the input is untouched"
    );
    // A profile that is not one.
    let out = spanprof()
        .arg("symbolize")
        .arg(&not_elf)
        .arg("-o")
        .arg(dir.join("x.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    assert!(!dir.join("x.json").exists());
}

#[test]
fn pprof_of_a_stripped_binary_has_its_mapping_and_build_id_for_later_symbolization() {
    let dir = temp_dir("pprof");
    let (_full, stripped) = binaries(&dir);
    let raw = dir.join("p.json");
    let p = profile_of(&stripped, &raw);
    let m = program_mapping(&p, &stripped);
    let mapping = &p["mappings"][m as usize];
    let pb = dir.join("heap.pb.gz");
    spanprof()
        .arg("pprof")
        .arg(&raw)
        .arg("-o")
        .arg(&pb)
        .assert()
        .success();
    let g = decode_pprof(&std::fs::read(&pb).unwrap());
    let pm = g
        .mappings
        .iter()
        .find(|pm| g.strings[pm.filename as usize] == stripped.display().to_string())
        .expect("the program's mapping");
    assert_eq!(
        g.strings[pm.build_id as usize],
        mapping["build_id"].as_str().unwrap()
    );
    assert_eq!(pm.start, mapping["start"].as_u64().unwrap());
    assert_eq!(pm.limit, mapping["end"].as_u64().unwrap());
    assert_eq!(pm.file_offset, mapping["file_offset"].as_u64().unwrap());
    // Not symbolized: pprof looks for the binary.
    assert!(!pm.has_functions);
    // Its locations are addresses in that mapping, with no lines.
    let in_it: Vec<_> = g
        .location_addresses
        .iter()
        .filter(|(_, mid, _)| *mid == pm.id)
        .collect();
    assert!(!in_it.is_empty());
    for (_, _, address) in in_it {
        assert!(pm.start <= *address && *address <= pm.limit);
    }
}
