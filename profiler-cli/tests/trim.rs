//! Every output starts stacks at the code that allocated: the allocation machinery
//! (std's `alloc`, `Global::allocate`, `RawVec` growth, `Box`'s allocation, the
//! global-allocator shims) is trimmed from the demo's sampled stacks in folded,
//! flamegraph, diff, pprof and report output, and `--keep-alloc-frames` brings it back.

mod common;

use common::{decode_pprof, demo_profile, spanprof};

/// Function names only the allocation machinery has, as the demo's stacks carry
/// them (inlined frames of a line-tables build have short names).
const MACHINERY: [&str; 6] = [
    "alloc_impl_runtime",
    "alloc_impl",
    "box_new_uninit",
    "grow_impl",
    "try_allocate_in",
    "finish_grow",
];

fn has_machinery(text: &str) -> bool {
    MACHINERY.iter().any(|m| text.contains(m))
}

fn output(args: &[&str]) -> String {
    let out = spanprof().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn folded_flamegraph_and_diff_start_at_the_allocating_code() {
    let p: &'static str = demo_profile().to_str().unwrap().to_owned().leak();
    for keep in [false, true] {
        let flag: &[&'static str] = if keep { &["--keep-alloc-frames"] } else { &[] };
        let with = |args: &[&'static str]| -> Vec<&str> { [args, flag].concat() };
        let folded = output(&with(&["folded", p]));
        let svg = output(&with(&["flamegraph", p, "-o", "-"]));
        let diff = output(&with(&["diff", p, p, "-o", "-"]));
        for (what, text) in [("folded", &folded), ("flamegraph", &svg), ("diff", &diff)] {
            assert_eq!(has_machinery(text), keep, "{what} keep={keep}");
        }
        // The leaves: the demo's own functions (`new_order`, `new_point`, …) or the
        // std call they made (`Vec::with_capacity`), never `alloc`.
        if !keep {
            for line in folded.lines() {
                let (stack, _) = line.rsplit_once(' ').unwrap();
                let leaf = stack.rsplit(';').next().unwrap();
                assert!(
                    !["alloc", "realloc", "allocate", "grow"].contains(&leaf)
                        && !leaf.starts_with("__rust"),
                    "{line}"
                );
            }
        }
    }
}

#[test]
fn pprof_leaves_are_the_allocating_code() {
    let dir = common::scratch_dir("trim-pprof");
    for keep in [false, true] {
        let out = dir.join(format!("heap-{keep}.pb.gz"));
        let mut cmd = spanprof();
        cmd.arg("pprof").arg(demo_profile()).arg("-o").arg(&out);
        if keep {
            cmd.arg("--keep-alloc-frames");
        }
        cmd.assert().success();
        let pb = decode_pprof(&std::fs::read(&out).unwrap());
        // The innermost function of every sample.
        let leaves: Vec<&str> = pb
            .samples
            .iter()
            .map(|(locs, _)| {
                let loc = pb.locations.iter().find(|l| l.0 == locs[0]).unwrap();
                let func = pb.functions.iter().find(|f| f.0 == loc.1[0].0).unwrap();
                pb.strings[func.1 as usize].as_str()
            })
            .collect();
        assert!(!leaves.is_empty());
        let alloc_leaves = leaves
            .iter()
            .filter(|l| **l == "alloc" || l.starts_with("alloc::alloc::"))
            .count();
        if keep {
            assert!(alloc_leaves > 0, "{leaves:?}");
        } else {
            assert_eq!(alloc_leaves, 0, "{leaves:?}");
            assert!(!leaves.iter().any(|l| has_machinery(l)), "{leaves:?}");
        }
    }
}

#[test]
fn the_report_never_names_the_machinery_as_the_users_frame() {
    let p = demo_profile();
    let p = p.to_str().unwrap();
    for args in [vec!["report", p], vec!["report", p, "--keep-alloc-frames"]] {
        let report = output(&args);
        let stacks = report
            .split("Top sampled stacks")
            .nth(1)
            .expect("a stacks section");
        assert!(stacks.contains("new_order"), "{stacks}");
        for line in stacks.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let frame = line.split_whitespace().nth(2).unwrap_or("");
            assert!(
                !frame.starts_with("alloc::alloc") && frame != "alloc" && !has_machinery(frame),
                "{line}"
            );
        }
    }
}
