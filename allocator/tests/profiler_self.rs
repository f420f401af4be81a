//! The profiler never counts itself (issue 9 §2): nothing spanprof allocates to
//! build, symbolize or write a profile, nor the `Profile` it hands back, shows in a
//! profile, a site's counters, `measure` or the program's `stats()` figures — at any
//! moment, on any thread, also when it is freed later somewhere else. It is counted
//! apart, in `stats().profiler`.
//!
//! Every case runs in a child process (this test binary again, with
//! `SPANPROF_SELF_CASE` naming the case), so that nothing else allocates beside it
//! and the program's figures can be compared exactly. Between the snapshots the
//! children compare, they allocate nothing themselves (paths are built first, other
//! threads are driven through atomics).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

/// The program's figures of a snapshot: everything but the heap-wide ones
/// (`spans_in_use`, page-heap figures) and the profiler's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Program {
    /// allocs, frees, refills, remote frees per class.
    classes: [[u64; 4]; spanprof::size_class::NUM_CLASSES],
    large: spanprof::LargeStats,
}

fn program() -> Program {
    let s = spanprof::stats();
    Program {
        classes: core::array::from_fn(|c| {
            let k = &s.classes[c];
            [k.allocs, k.frees, k.refills, k.remote_frees]
        }),
        large: s.large,
    }
}

/// A thread driven through atomics (so driving it allocates nothing).
struct Helper {
    job: &'static AtomicUsize,
    thread: Option<std::thread::JoinHandle<()>>,
}

const QUIT: usize = usize::MAX;

impl Helper {
    /// Starts a thread that runs `work(job)` for every job number given to it.
    fn start(job: &'static AtomicUsize, work: fn(usize)) -> Helper {
        let thread = std::thread::spawn(move || {
            loop {
                match job.load(Ordering::Acquire) {
                    0 => std::thread::sleep(std::time::Duration::from_micros(50)),
                    QUIT => return,
                    n => {
                        work(n);
                        job.store(0, Ordering::Release);
                    }
                }
            }
        });
        // Let the thread start (std allocates for it) before any figure is taken.
        let h = Helper {
            job,
            thread: Some(thread),
        };
        h.run(1);
        h
    }

    /// Runs job `n` on the thread and waits for it.
    fn run(&self, n: usize) {
        self.job.store(n, Ordering::Release);
        while self.job.load(Ordering::Acquire) != 0 {
            std::thread::yield_now();
        }
    }

    fn stop(mut self) {
        self.job.store(QUIT, Ordering::Release);
        self.thread.take().unwrap().join().unwrap();
    }
}

/// Paths the children write, made before any snapshot.
fn out_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// A `Profile` handed to another thread.
static HANDOFF: Mutex<Option<spanprof::Profile>> = Mutex::new(None);
/// The path the helper thread writes to.
static HELPER_PATH: Mutex<Option<PathBuf>> = Mutex::new(None);

fn helper_work(n: usize) {
    match n {
        1 => {}
        // Writes a profile.
        2 => {
            let guard = HELPER_PATH.lock().unwrap();
            spanprof::write_profile(guard.as_ref().unwrap()).unwrap();
        }
        // Drops the profile handed over.
        3 => drop(HANDOFF.lock().unwrap().take()),
        _ => unreachable!(),
    }
}

/// Rate 1, a thousand boxes kept, then profiles written back to back: two from
/// this thread, one from another, one from this thread again.
fn case_back_to_back(dir: &Path) {
    spanprof::set_sample_rate(1);
    let paths: Vec<PathBuf> = ["a.json", "b.json", "c.json", "d.json"]
        .iter()
        .map(|n| out_path(dir, n))
        .collect();
    static JOB: AtomicUsize = AtomicUsize::new(0);
    *HELPER_PATH.lock().unwrap() = Some(paths[2].clone());
    let helper = Helper::start(&JOB, helper_work);
    let live = |p: &Program| (p.classes.iter().map(|c| c[0] - c[1]).sum::<u64>(), p.large);
    let without_boxes = live(&program()).0;
    let boxes: Vec<Box<[u8; 100]>> = (0..1000).map(|i| Box::new([i as u8; 100])).collect();
    let before = program();
    let live_objects = live(&before).0;
    assert_eq!(
        live_objects - without_boxes,
        1001,
        "the boxes and their Vec"
    );
    let profiler_before = spanprof::stats().profiler;
    spanprof::write_profile(&paths[0]).unwrap();
    assert_eq!(program(), before, "the first write");
    spanprof::write_profile(&paths[1]).unwrap();
    assert_eq!(program(), before, "the second write");
    helper.run(2);
    assert_eq!(program(), before, "a write on another thread");
    spanprof::write_profile(&paths[3]).unwrap();
    assert_eq!(program(), before, "the fourth write");
    let own = spanprof::stats().profiler;
    assert!(own.allocs > profiler_before.allocs && own.frees > profiler_before.frees);
    helper.stop();
    // For the parent: what the program held while the profiles were written.
    std::fs::write(dir.join("live.txt"), live_objects.to_string()).unwrap();
    drop(boxes);
}

/// No sampling, no site yet (so no object was tagged before the profiler's own):
/// snapshots of every kind leave the program's figures as they were, and so does
/// dropping a `Profile` later, on another thread.
fn case_snapshots(dir: &Path) {
    spanprof::set_sample_rate(0);
    let path = out_path(dir, "snap.json");
    let guard_path = out_path(dir, "guard.json");
    let guard_str = guard_path.to_str().unwrap().to_owned();
    static JOB: AtomicUsize = AtomicUsize::new(0);
    let helper = Helper::start(&JOB, helper_work);
    let before = program();
    let (_, m) = spanprof::measure(|| spanprof::write_profile(&path).unwrap());
    assert_eq!((m.allocs, m.frees, m.bytes_allocated), (0, 0, 0), "{m:?}");
    assert_eq!(program(), before, "write_profile");
    let held_before = spanprof::stats().profiler;
    let (p, m) = spanprof::measure(spanprof::profile);
    assert_eq!((m.allocs, m.frees), (0, 0), "{m:?}");
    let holding = spanprof::stats().profiler;
    assert!(
        holding.live_objects > held_before.live_objects,
        "the Profile is the profiler's"
    );
    assert_eq!(program(), before, "profile() held");
    *HANDOFF.lock().unwrap() = Some(p);
    helper.run(3);
    assert_eq!(program(), before, "the Profile dropped on another thread");
    let dropped = spanprof::stats().profiler;
    assert_eq!(
        holding.live_objects - dropped.live_objects,
        holding.live_objects - held_before.live_objects,
        "its frees are the profiler's"
    );
    let (s, m) = spanprof::measure(|| spanprof::site_stats("self_site"));
    assert!(s.is_none());
    assert_eq!((m.allocs, m.frees), (0, 0));
    let (_, m) = spanprof::measure(|| spanprof::measure(|| 1));
    assert_eq!((m.allocs, m.frees), (0, 0), "measure allocates nothing");
    let (_, m) = spanprof::measure(|| drop(spanprof::ProfileGuard::new(&guard_str)));
    assert_eq!((m.allocs, m.frees), (0, 0));
    assert!(guard_path.is_file());
    assert_eq!(program(), before, "site_stats, measure, ProfileGuard");

    // Under a site: the site's counters do not move either.
    let site = spanprof::site!("self_site");
    let g = spanprof::enter(site);
    let v: Vec<Box<[u8; 200]>> = (0..10).map(|_| Box::new([1; 200])).collect();
    let at_site = spanprof::site_stats("self_site").unwrap();
    let before = program();
    spanprof::write_profile(&path).unwrap();
    let p = spanprof::profile();
    assert_eq!(spanprof::site_stats("self_site").unwrap(), at_site);
    drop(p);
    assert!(spanprof::site_stats("self_site").is_some());
    assert_eq!(spanprof::site_stats("self_site").unwrap(), at_site);
    assert_eq!(program(), before, "under a site");
    drop(g);

    // The program's own frees are still counted once frees take the hooked path.
    let class = spanprof::size_class::class_of(200).unwrap();
    let before = program();
    drop(v);
    let after = program();
    assert_eq!(after.classes[class][1] - before.classes[class][1], 10);
    helper.stop();
}

/// A thread writes profiles (rate 1: it symbolizes) while this one takes snapshots
/// as fast as it can: every one of them has the same program figures.
fn case_concurrent(dir: &Path) {
    spanprof::set_sample_rate(1);
    static JOB: AtomicUsize = AtomicUsize::new(0);
    static WRITING: AtomicBool = AtomicBool::new(false);
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    fn work(n: usize) {
        if n == 2 {
            let guard = HELPER_PATH.lock().unwrap();
            for _ in 0..5 {
                spanprof::write_profile(guard.as_ref().unwrap()).unwrap();
                WRITES.fetch_add(1, Ordering::Relaxed);
            }
            WRITING.store(false, Ordering::Release);
        }
    }
    *HELPER_PATH.lock().unwrap() = Some(out_path(dir, "concurrent.json"));
    let helper = Helper::start(&JOB, work);
    let kept: Vec<Box<[u8; 64]>> = (0..500).map(|_| Box::new([0; 64])).collect();
    let before = program();
    WRITING.store(true, Ordering::Release);
    JOB.store(2, Ordering::Release);
    let mut snapshots = 0u64;
    let mut differing = 0u64;
    while WRITING.load(Ordering::Acquire) {
        if program() != before {
            differing += 1;
        }
        snapshots += 1;
    }
    while JOB.load(Ordering::Acquire) != 0 {
        std::thread::yield_now();
    }
    assert_eq!(WRITES.load(Ordering::Relaxed), 5);
    assert!(snapshots > 0);
    assert_eq!(
        differing, 0,
        "{differing} of {snapshots} snapshots saw the profiler's objects"
    );
    assert_eq!(program(), before);
    helper.stop();
    drop(kept);
}

/// Waits until the test harness' main thread sleeps on the channel the test thread
/// reports to: right after starting the test it registers there, allocating (a
/// `Context` and a waker entry), which would land between a case's snapshots.
fn wait_for_the_harness() {
    #[cfg(target_arch = "x86_64")]
    const FUTEX: &str = "202 ";
    #[cfg(target_arch = "aarch64")]
    const FUTEX: &str = "98 ";
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const FUTEX: &str = "";
    let main = format!("/proc/self/task/{}/syscall", std::process::id());
    for _ in 0..10_000 {
        match std::fs::read_to_string(&main) {
            Ok(s) if !FUTEX.is_empty() && !s.starts_with(FUTEX) => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            _ => return,
        }
    }
}

/// `SPANPROF_INTERVAL` writes a profile every 100 ms from spanprof's writer thread
/// while this program idles, holding a thousand boxes: the program's figures never
/// move, and the profiles written meanwhile agree (the parent compares them).
fn case_interval(dir: &Path) {
    let paths: Vec<PathBuf> = (0..10_000)
        .map(|n| dir.join(format!("iv-{n}.json")))
        .collect();
    let boxes: Vec<Box<[u8; 100]>> = (0..1000).map(|i| Box::new([i as u8; 100])).collect();
    // The first profile that may have begun before the snapshot; the three after it
    // are compared.
    let first = paths.iter().position(|p| !p.exists()).unwrap();
    let before = program();
    // Probing a short path allocates nothing (std builds its C string on the stack).
    while !paths[first + 3].exists() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(program(), before, "while the writer thread wrote profiles");
    std::fs::write(dir.join("compare.txt"), (first + 1).to_string()).unwrap();
    drop(boxes);
}

#[test]
fn child_entry() {
    let Ok(case) = std::env::var("SPANPROF_SELF_CASE") else {
        return;
    };
    let dir = PathBuf::from(std::env::var("SPANPROF_SELF_DIR").unwrap());
    wait_for_the_harness();
    match case.as_str() {
        "back_to_back" => case_back_to_back(&dir),
        "snapshots" => case_snapshots(&dir),
        "concurrent" => case_concurrent(&dir),
        "interval" => case_interval(&dir),
        other => panic!("unknown case {other}"),
    }
}

/// Runs `case` in a child; returns its scratch folder.
fn run_child(case: &str) -> PathBuf {
    run_child_with(case, |_| Vec::new())
}

/// Runs `case` in a child with more environment (made from its scratch folder).
fn run_child_with(case: &str, env: impl Fn(&Path) -> Vec<(String, String)>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spanprof-self-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--test-threads=1", "--nocapture"])
        .env("SPANPROF_SELF_CASE", case)
        .env("SPANPROF_SELF_DIR", &dir)
        .env_remove("SPANPROF_OUT")
        .env_remove("SPANPROF_RATE")
        .env_remove("SPANPROF_INTERVAL")
        .env_remove("SPANPROF_SIGNAL")
        .envs(env(&dir))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "case {case} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The program's figures of a profile: class and large counters (without the
/// heap-wide `spans_in_use`), site rows, and the sampled counts (stack-independent,
/// so this holds for any stack encoding).
fn figures(p: &Value) -> (Vec<Value>, Value, Value, Vec<[u64; 5]>, Value) {
    let classes = p["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.as_object_mut().unwrap().remove("spans_in_use");
            c
        })
        .collect();
    let n = |v: &Value| v.as_u64().unwrap();
    let mut samples: Vec<[u64; 5]> = p["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            [
                n(&s["size"]),
                n(&s["alloc_objects"]),
                n(&s["alloc_bytes"]),
                n(&s["free_objects"]),
                n(&s["free_bytes"]),
            ]
        })
        .collect();
    samples.sort_unstable();
    (
        classes,
        p["large"].clone(),
        p["site_stats"].clone(),
        samples,
        p["dropped_samples"].clone(),
    )
}

#[test]
fn profiles_written_back_to_back_agree() {
    let dir = run_child("back_to_back");
    let all: Vec<Value> = ["a.json", "b.json", "c.json", "d.json"]
        .iter()
        .map(|n| read(&dir.join(n)))
        .collect();
    let first = figures(&all[0]);
    for (p, name) in all.iter().zip(["a", "b", "c", "d"]).skip(1) {
        assert_eq!(figures(p), first, "profile {name} differs from the first");
    }
    // What the program held (its `stats()` while writing), exactly: the thousand
    // 100 B boxes (112 B slots) and whatever the test harness holds, none of the
    // profiler's objects (the second profile once held the first's symbol tables).
    let held: u64 = std::fs::read_to_string(dir.join("live.txt"))
        .unwrap()
        .parse()
        .unwrap();
    for p in &all {
        let live_objects: u64 = (p["classes"].as_array().unwrap().iter())
            .map(|c| c["live_objects"].as_u64().unwrap())
            .sum::<u64>()
            + p["large"]["allocs"].as_u64().unwrap()
            - p["large"]["frees"].as_u64().unwrap();
        assert_eq!(live_objects, held);
    }
    let class = spanprof::size_class::class_of(100).unwrap() as u64;
    let boxes = all[1]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == class)
        .unwrap();
    assert!(boxes["live_objects"].as_u64().unwrap() >= 1000);
    // Every sampled allocation is the program's: the samples add up to its objects.
    let sampled: u64 = first.3.iter().map(|s| s[1]).sum();
    let allocs: u64 = first
        .0
        .iter()
        .map(|c| c["allocs"].as_u64().unwrap())
        .sum::<u64>()
        + all[0]["large"]["allocs"].as_u64().unwrap();
    assert!(
        sampled <= allocs,
        "{sampled} sampled of {allocs} allocations"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn snapshots_and_dropped_profiles_change_no_program_figure() {
    let dir = run_child("snapshots");
    let p = read(&dir.join("snap.json"));
    assert!(p["classes"].is_array());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_write_on_another_thread_is_invisible_to_concurrent_snapshots() {
    let dir = run_child("concurrent");
    assert!(dir.join("concurrent.json").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn interval_profiles_of_an_idle_program_agree() {
    let dir = run_child_with("interval", |dir| {
        vec![
            (
                "SPANPROF_OUT".into(),
                dir.join("iv-%n.json").to_str().unwrap().into(),
            ),
            ("SPANPROF_INTERVAL".into(), "100ms".into()),
            ("SPANPROF_RATE".into(), "1".into()),
            ("SPANPROF_QUIET".into(), "1".into()),
        ]
    });
    let first: usize = std::fs::read_to_string(dir.join("compare.txt"))
        .unwrap()
        .parse()
        .unwrap();
    let all: Vec<Value> = (first..first + 3)
        .map(|n| read(&dir.join(format!("iv-{n}.json"))))
        .collect();
    for p in &all[1..] {
        assert_eq!(figures(p), figures(&all[0]));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
