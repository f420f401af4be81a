//! Heap misuse is caught, not absorbed: a double free and a free of a pointer
//! spanprof never handed out abort the process with a message naming the address.
//! (With debug assertions, as here, or the `hardened` feature.) Each case runs in a
//! child process: this test binary re-executed with `SPANPROF_ABORT_CASE` set.

use std::alloc::{GlobalAlloc, Layout};
use std::process::Command;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

/// Runs the misuse named by the environment, if any. Never returns when it ran.
fn child_case() {
    let Ok(case) = std::env::var("SPANPROF_ABORT_CASE") else {
        return;
    };
    let layout = Layout::from_size_align(48, 8).unwrap();
    // SAFETY: deliberately wrong, in a child process that is expected to abort.
    unsafe {
        match case.as_str() {
            "double_free" => {
                let keep = GLOBAL.alloc(layout); // keeps the span current
                let p = GLOBAL.alloc(layout);
                eprintln!("case-addr {:#x}", p as usize);
                GLOBAL.dealloc(p, layout);
                GLOBAL.dealloc(p, layout);
                let _ = keep;
            }
            "foreign_pointer" => {
                let mut on_stack = [0u64; 8];
                let p = on_stack.as_mut_ptr().cast::<u8>();
                eprintln!("case-addr {:#x}", p as usize);
                GLOBAL.dealloc(p, Layout::from_size_align(100_000, 8).unwrap());
            }
            "interior_pointer" => {
                let p = GLOBAL.alloc(layout);
                let q = p.add(8);
                eprintln!("case-addr {:#x}", q as usize);
                GLOBAL.dealloc(q, layout);
            }
            _ => return,
        }
    }
    std::process::exit(0); // not reached when the misuse is caught
}

fn run_case(test: &str, case: &str) -> (Option<i32>, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("SPANPROF_ABORT_CASE", case)
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    (
        out.status.signal(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_aborts_naming_address(test: &str, case: &str, what: &str) {
    child_case();
    let (signal, stderr) = run_case(test, case);
    assert_eq!(
        signal,
        Some(libc::SIGABRT),
        "child should abort; stderr:\n{stderr}"
    );
    let addr = stderr
        .lines()
        .find_map(|l| l.strip_prefix("case-addr "))
        .expect("child printed the address");
    let msg = stderr
        .lines()
        .find(|l| l.starts_with("spanprof: fatal:"))
        .expect("one fatal line");
    assert!(msg.contains(what), "message {msg:?} should say {what:?}");
    assert!(msg.ends_with(addr), "message {msg:?} should name {addr}");
}

#[test]
fn double_free_aborts() {
    assert_aborts_naming_address("double_free_aborts", "double_free", "double free");
}

#[test]
fn foreign_pointer_aborts() {
    assert_aborts_naming_address(
        "foreign_pointer_aborts",
        "foreign_pointer",
        "never handed out",
    );
}

#[test]
fn interior_pointer_aborts() {
    assert_aborts_naming_address(
        "interior_pointer_aborts",
        "interior_pointer",
        "never handed out",
    );
}
