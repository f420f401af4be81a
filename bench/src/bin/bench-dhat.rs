//! The benchmark workloads under dhat-rs heap profiling (`dhat::Alloc` over the system
//! allocator, a heap `dhat::Profiler` held for the run), to compare with spanprof's
//! full tracing. The profile goes to a per-process file in the temp dir, which is
//! checked and removed at the end; dhat's summary lines on stderr are silenced.
//! Usage: `bench-dhat <workload> [ops]`.

use std::path::PathBuf;

#[global_allocator]
static GLOBAL: dhat::Alloc = dhat::Alloc;

const NAME: &str = "dhat";

/// Runs `f` with stderr (fd 2) pointed at /dev/null, then restores it.
fn without_stderr(f: impl FnOnce()) {
    // SAFETY: dup of fd 2 has no memory-safety preconditions; a failure returns -1.
    let saved = unsafe { libc::dup(2) };
    // SAFETY: opening /dev/null with a NUL-terminated path.
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if saved < 0 || null < 0 {
        f();
        return;
    }
    // SAFETY: both are open descriptors of this process.
    unsafe {
        libc::dup2(null, 2);
        libc::close(null);
    }
    f();
    // SAFETY: `saved` is the open duplicate of the original stderr.
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
}

fn main() {
    let path: PathBuf =
        std::env::temp_dir().join(format!("spanprof-bench-dhat-{}.json", std::process::id()));
    let profiler = dhat::Profiler::builder().file_name(&path).build();
    let run = spanprof_bench::run_cli(NAME);
    let stats = dhat::HeapStats::get();
    // Writes the profile (and prints dhat's summary, which would flood the driver).
    without_stderr(|| drop(profiler));
    let written = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&path);
    let want = if run.workload.allocates() { run.ops } else { 0 };
    if stats.total_blocks < want {
        spanprof_bench::fail(
            NAME,
            &format!(
                "dhat counted {} blocks in {} ops of {} (expected >= {want})",
                stats.total_blocks, run.ops, run.workload.name
            ),
        );
    }
    if written == 0 {
        spanprof_bench::fail(
            NAME,
            &format!("dhat wrote no profile to {}", path.display()),
        );
    }
}
