//! Profiles of long-running programs, in real child processes: SIGINT, SIGTERM and
//! SIGHUP write the profile and the program still dies by that signal; a program's
//! own handler keeps the signal (stand aside, chained or not); an ignored signal stays
//! ignored; `SPANPROF_SIGNAL` and `SPANPROF_INTERVAL` write numbered profiles of a
//! running program; a forked child has its own writer; `kill -9` during a write
//! leaves the target whole and the next write removes the dead writer's temporary
//! file; a too-long `SPANPROF_OUT` is one error line.
//!
//! Child cases re-run this test binary with `SPANPROF_SIGNALS_CASE` set; a child
//! says it is ready (allocated, armed) by creating a marker file. Every wait polls
//! with a deadline of a minute, so a loaded machine is slow, never wrong.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

const CASE: &str = "SPANPROF_SIGNALS_CASE";
const MARKERS: &str = "SPANPROF_SIGNALS_MARKERS";
const PATIENCE: Duration = Duration::from_secs(60);

#[inline(never)]
fn work() -> Vec<Vec<u8>> {
    let _s = spanprof::enter(spanprof::site!("signals_site"));
    (0..5_000).map(|i| vec![i as u8; 64 + i % 700]).collect()
}

fn marker(name: &str) -> PathBuf {
    PathBuf::from(std::env::var(MARKERS).unwrap()).join(name)
}

fn touch(name: &str, text: &str) {
    let tmp = marker(&format!("{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, marker(name)).unwrap();
}

/// Sleeps until a signal ends the process (or a minute passes: a broken case).
fn wait_forever() -> ! {
    let start = Instant::now();
    while start.elapsed() < 2 * PATIENCE {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::process::exit(99)
}

static GOT: AtomicBool = AtomicBool::new(false);

extern "C" fn own_handler(_: libc::c_int) {
    GOT.store(true, Ordering::SeqCst);
}

/// The disposition before `chaining_handler` was installed (signal-hook keeps it so):
/// its handler and whether it takes `siginfo`.
static PREVIOUS: AtomicUsize = AtomicUsize::new(libc::SIG_DFL);
static PREVIOUS_SIGINFO: AtomicBool = AtomicBool::new(false);

extern "C" fn chaining_handler(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    GOT.store(true, Ordering::SeqCst);
    let f = PREVIOUS.load(Ordering::SeqCst);
    if f == libc::SIG_DFL || f == libc::SIG_IGN {
        return;
    }
    if PREVIOUS_SIGINFO.load(Ordering::SeqCst) {
        // SAFETY: a handler installed with SA_SIGINFO has this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(f) };
        f(sig, info, ctx);
    } else {
        // SAFETY: a plain handler has this signature.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(f) };
        f(sig);
    }
}

fn install(sig: libc::c_int, handler: libc::sighandler_t, siginfo: bool) {
    // SAFETY: act and old are initialised structures on this stack.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = handler;
        act.sa_flags = if siginfo { libc::SA_SIGINFO } else { 0 };
        libc::sigemptyset(&mut act.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(sig, std::ptr::null(), &mut old), 0);
        PREVIOUS.store(old.sa_sigaction, Ordering::SeqCst);
        PREVIOUS_SIGINFO.store(old.sa_flags & libc::SA_SIGINFO != 0, Ordering::SeqCst);
        assert_eq!(libc::sigaction(sig, &act, std::ptr::null_mut()), 0);
    }
}

fn wait_for_got() {
    let start = Instant::now();
    while !GOT.load(Ordering::SeqCst) {
        assert!(start.elapsed() < 2 * PATIENCE, "no signal came");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// In a child: the case's behaviour.
#[test]
fn child_entry() {
    let Ok(case) = std::env::var(CASE) else {
        return;
    };
    let kept = work();
    match case.as_str() {
        "wait" => {
            touch("ready", "");
            wait_forever();
        }
        "own-handler" => {
            install(
                libc::SIGTERM,
                own_handler as extern "C" fn(libc::c_int) as libc::sighandler_t,
                false,
            );
            touch("ready", "");
            wait_for_got();
        }
        "chaining-handler" => {
            install(
                libc::SIGTERM,
                chaining_handler
                    as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
                    as libc::sighandler_t,
                true,
            );
            touch("ready", "");
            wait_for_got();
        }
        "fork" => {
            // SAFETY: the child only allocates (spanprof is fork-safe), writes files
            // and sleeps until a signal ends it.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0);
            if pid == 0 {
                let more = work();
                touch("grandchild", &std::process::id().to_string());
                drop(more);
                wait_forever();
            }
            let mut status = 0;
            // SAFETY: waits for our own child.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            let how = if libc::WIFSIGNALED(status) {
                format!("signal {}", libc::WTERMSIG(status))
            } else {
                format!("exit {}", libc::WEXITSTATUS(status))
            };
            touch("grandchild-status", &how);
        }
        "write-loop" => {
            // Writes to the same target over and over, so a kill lands mid-write.
            let big: Vec<Vec<u8>> = (0..20).flat_map(|_| work()).collect();
            loop {
                spanprof::write_profile("k.json").unwrap();
                if !marker("ready").exists() {
                    touch("ready", "");
                }
                std::hint::black_box(&big);
            }
        }
        "exit" => {}
        "exit-big" => {
            // A large exit profile, so its write takes a while.
            let big: Vec<Vec<u8>> = (0..20).flat_map(|_| work()).collect();
            touch("ready", "");
            std::hint::black_box(&big);
            std::mem::forget(big);
        }
        other => panic!("unknown case {other}"),
    }
    drop(kept);
}

struct Run {
    child: Child,
    /// Where the child writes its profiles (its current folder).
    out: PathBuf,
    markers: PathBuf,
    stderr: PathBuf,
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("spanprof-sig-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("out")).unwrap();
    std::fs::create_dir_all(d.join("markers")).unwrap();
    d
}

fn spawn(dir: &Path, case: &str, out: Option<&str>, env: &[(&str, &str)]) -> Run {
    spawn_with(dir, case, out, env, |_| {})
}

fn spawn_with(
    dir: &Path,
    case: &str,
    out: Option<&str>,
    env: &[(&str, &str)],
    tweak: impl FnOnce(&mut Command),
) -> Run {
    let stderr = dir.join(format!("stderr-{case}-{}.txt", rand_suffix()));
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_entry", "--test-threads=1"])
        .current_dir(dir.join("out"))
        .env(CASE, case)
        .env(MARKERS, dir.join("markers"))
        .env_remove("SPANPROF_RATE")
        .env_remove("SPANPROF_QUIET")
        .env_remove("SPANPROF_SIGNAL")
        .env_remove("SPANPROF_INTERVAL")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap());
    match out {
        Some(o) => cmd.env("SPANPROF_OUT", o),
        None => cmd.env_remove("SPANPROF_OUT"),
    };
    // The child starts with the termination signals at their defaults, whatever the
    // test runner inherited (under `nohup` SIGHUP is ignored, and an ignored signal
    // stays ignored: spanprof would rightly not catch it). A `tweak` runs after this.
    // SAFETY: runs in the child between fork and exec and only calls signal(2),
    // which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    tweak(&mut cmd);
    Run {
        child: cmd.spawn().unwrap(),
        out: dir.join("out"),
        markers: dir.join("markers"),
        stderr,
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < PATIENCE,
            "{} did not appear",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Run {
    fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    fn ready(&self) {
        wait_for(&self.markers.join("ready"));
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: signals our own child, which we have not reaped yet.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
    }

    fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("the child did not end; stderr:\n{}", self.stderr_text());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until a SIGSTOP sent to the child has taken effect.
    fn stopped(&self) {
        let mut status = 0;
        // SAFETY: waits for a state change of our own child; WUNTRACED reports the
        // stop without reaping it.
        let r = unsafe { libc::waitpid(self.pid(), &mut status, libc::WUNTRACED) };
        assert!(r == self.pid() && libc::WIFSTOPPED(status), "{status:#x}");
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The `spanprof: wrote …` lines.
    fn wrote_lines(&self) -> Vec<String> {
        self.stderr_text()
            .lines()
            .filter(|l| l.starts_with("spanprof: wrote "))
            .map(str::to_string)
            .collect()
    }

    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// A whole profile (it parses) written by process `pid`.
fn check_profile(path: &Path, pid: u32) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a whole profile: {e}", path.display()));
    assert_eq!(
        v["pid"].as_u64(),
        Some(u64::from(pid)),
        "{}",
        path.display()
    );
}

#[test]
fn sigint_sigterm_and_sighup_write_the_profile_then_end_the_program_by_that_signal() {
    for (sig, name) in [
        (libc::SIGINT, "int"),
        (libc::SIGTERM, "term"),
        (libc::SIGHUP, "hup"),
    ] {
        let dir = scratch(&format!("end-{name}"));
        let mut run = spawn(&dir, "wait", Some("p-%p.json"), &[]);
        run.ready();
        run.signal(sig);
        let status = run.wait();
        assert_eq!(
            status.signal(),
            Some(sig),
            "{status:?}: {}",
            run.stderr_text()
        );
        let pid = run.child.id();
        check_profile(&run.out.join(format!("p-{pid}.json")), pid);
        assert_eq!(run.files(), [format!("p-{pid}.json")]);
        let wrote = run.wrote_lines();
        assert_eq!(wrote.len(), 1, "{}", run.stderr_text());
        assert!(wrote[0].contains(&format!("p-{pid}.json")), "{}", wrote[0]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn more_termination_signals_during_the_write_write_it_once_and_the_first_one_ends_it() {
    let dir = scratch("twice");
    let mut run = spawn(&dir, "wait", Some("p.json"), &[]);
    run.ready();
    run.signal(libc::SIGTERM);
    run.signal(libc::SIGTERM);
    run.signal(libc::SIGINT);
    let status = run.wait();
    // The first signal delivered ends it. Sent back to back, SIGTERM and SIGINT may
    // both be pending before the child runs, and Linux delivers the lower-numbered
    // standard signal first: SIGINT then comes first.
    assert!(
        matches!(status.signal(), Some(libc::SIGTERM | libc::SIGINT)),
        "{status:?}"
    );
    check_profile(&run.out.join("p.json"), run.child.id());
    assert_eq!(run.wrote_lines().len(), 1, "{}", run.stderr_text());
    assert_eq!(run.files(), ["p.json"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_program_that_installs_its_own_handler_keeps_the_signal_and_its_exit_writes_the_profile() {
    // Replacing the handler (ctrlc's way) and chaining to the previous one
    // (signal-hook's, so tokio's): either way the program decides, and exits 0.
    for case in ["own-handler", "chaining-handler"] {
        let dir = scratch(case);
        let mut run = spawn(&dir, case, Some("p.json"), &[]);
        run.ready();
        run.signal(libc::SIGTERM);
        let status = run.wait();
        assert!(
            status.success(),
            "{case}: {status:?}: {}",
            run.stderr_text()
        );
        check_profile(&run.out.join("p.json"), run.child.id());
        assert_eq!(run.wrote_lines().len(), 1, "{case}: {}", run.stderr_text());
        assert_eq!(run.files(), ["p.json"], "{case}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_signal_ignored_at_start_stays_ignored() {
    let dir = scratch("nohup");
    let mut run = spawn_with(&dir, "wait", Some("p.json"), &[], |cmd| {
        use std::os::unix::process::CommandExt;
        // SAFETY: signal() is async-signal-safe; as `nohup` does.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGHUP, libc::SIG_IGN);
                Ok(())
            })
        };
    });
    run.ready();
    // Were SIGHUP ours, it would end the program first (the first signal wins).
    run.signal(libc::SIGHUP);
    run.signal(libc::SIGTERM);
    let status = run.wait();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    check_profile(&run.out.join("p.json"), run.child.id());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_dump_signal_writes_numbered_profiles_while_the_program_keeps_running() {
    let dir = scratch("usr2");
    let mut run = spawn(
        &dir,
        "wait",
        Some("heap.json"),
        &[("SPANPROF_SIGNAL", "SIGUSR2")],
    );
    run.ready();
    let pid = run.child.id();
    for n in 0..2 {
        run.signal(libc::SIGUSR2);
        let numbered = run.out.join(format!("heap.{n}.json"));
        wait_for(&numbered);
        check_profile(&numbered, pid);
        assert!(run.running(), "a dump does not stop the program");
    }
    run.signal(libc::SIGTERM);
    let status = run.wait();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    // The final profile takes the path as given.
    check_profile(&run.out.join("heap.json"), pid);
    assert_eq!(run.files(), ["heap.0.json", "heap.1.json", "heap.json"]);
    assert_eq!(run.wrote_lines().len(), 3, "{}", run.stderr_text());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_interval_writes_numbered_profiles_and_the_last_one_follows() {
    let dir = scratch("interval");
    let mut run = spawn(
        &dir,
        "wait",
        Some("iv-%p-%n.json"),
        &[("SPANPROF_INTERVAL", "200ms")],
    );
    run.ready();
    let pid = run.child.id();
    wait_for(&run.out.join(format!("iv-{pid}-2.json")));
    assert!(run.running());
    run.signal(libc::SIGTERM);
    let status = run.wait();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    let files = run.files();
    assert!(files.len() >= 4, "{files:?}");
    // Numbered 0, 1, 2 … without a gap, each a whole profile; interval profiles
    // print no line, the final one does.
    for n in 0..files.len() {
        check_profile(&run.out.join(format!("iv-{pid}-{n}.json")), pid);
    }
    let wrote = run.wrote_lines();
    assert_eq!(wrote.len(), 1, "{}", run.stderr_text());
    assert!(
        wrote[0].contains(&format!("iv-{pid}-{}.json", files.len() - 1)),
        "{}",
        wrote[0]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_forked_child_writes_its_own_profile_when_signalled() {
    let dir = scratch("fork");
    let mut run = spawn(&dir, "fork", Some("f-%p.json"), &[]);
    let gc = run.markers.join("grandchild");
    wait_for(&gc);
    let gpid: u32 = std::fs::read_to_string(&gc).unwrap().parse().unwrap();
    // SAFETY: signals the forked child (alive: its parent waits for it).
    assert_eq!(unsafe { libc::kill(gpid as libc::pid_t, libc::SIGTERM) }, 0);
    let status = run.wait();
    assert!(status.success(), "{status:?}: {}", run.stderr_text());
    assert_eq!(
        std::fs::read_to_string(run.markers.join("grandchild-status")).unwrap(),
        format!("signal {}", libc::SIGTERM)
    );
    let pid = run.child.id();
    // The forked child's profile by its writer; the parent's at its exit, no more.
    check_profile(&run.out.join(format!("f-{gpid}.json")), gpid);
    check_profile(&run.out.join(format!("f-{pid}.json")), pid);
    let mut want = vec![format!("f-{gpid}.json"), format!("f-{pid}.json")];
    want.sort();
    assert_eq!(run.files(), want);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A `.NAME.PID.tmp` file of `target`'s writers, as (file name, pid).
fn temps(out: &Path, target: &str) -> Vec<(String, u32)> {
    std::fs::read_dir(out)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix(&format!(".{target}."))?
                .strip_suffix(".tmp")?
                .parse()
                .ok()?;
            Some((name, pid))
        })
        .collect()
}

#[test]
fn kill_9_during_a_write_leaves_the_target_whole_and_the_next_write_removes_the_temp() {
    let dir = scratch("kill9");
    let mut run = spawn(&dir, "write-loop", None, &[("SPANPROF_RATE", "1")]);
    run.ready();
    let pid = run.child.id();
    // Freeze the writer while its temporary file is there, then kill it.
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < PATIENCE,
            "never caught a write in progress"
        );
        if temps(&run.out, "k.json").is_empty() {
            std::thread::yield_now();
            continue;
        }
        run.signal(libc::SIGSTOP);
        run.stopped();
        if temps(&run.out, "k.json").is_empty() {
            run.signal(libc::SIGCONT);
            continue;
        }
        // Mid-write: the target is the previous whole profile.
        check_profile(&run.out.join("k.json"), pid);
        run.signal(libc::SIGKILL);
        break;
    }
    let status = run.wait();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_eq!(
        temps(&run.out, "k.json"),
        [(format!(".k.json.{pid}.tmp"), pid)],
        "the killed writer's temporary file"
    );
    check_profile(&run.out.join("k.json"), pid);

    // A live writer's temporary file (ours, here) is never taken for a stale one.
    let live = run.out.join(format!(".k.json.{}.tmp", std::process::id()));
    std::fs::write(&live, "in progress").unwrap();
    let mut next = spawn(&dir, "exit", Some("k.json"), &[]);
    assert!(next.wait().success(), "{}", next.stderr_text());
    check_profile(&run.out.join("k.json"), next.child.id());
    assert_eq!(
        temps(&run.out, "k.json"),
        [(
            format!(".k.json.{}.tmp", std::process::id()),
            std::process::id()
        )]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_termination_signal_during_the_exit_write_waits_for_it_and_nothing_is_written_twice() {
    let dir = scratch("during-exit");
    // Freeze the program while its exit write has the temporary file open; on a
    // loaded machine the write may slip by unseen, then a new program tries again.
    let start = Instant::now();
    let mut run = loop {
        assert!(
            start.elapsed() < 3 * PATIENCE,
            "never caught the exit write"
        );
        let _ = std::fs::remove_file(dir.join("markers").join("ready"));
        let _ = std::fs::remove_file(dir.join("out").join("p.json"));
        let mut run = spawn(&dir, "exit-big", Some("p.json"), &[("SPANPROF_RATE", "1")]);
        run.ready();
        let caught = loop {
            if temps(&run.out, "p.json").is_empty() {
                if !run.running() {
                    break false;
                }
                std::thread::yield_now();
                continue;
            }
            run.signal(libc::SIGSTOP);
            run.stopped();
            if !temps(&run.out, "p.json").is_empty() {
                break true;
            }
            run.signal(libc::SIGCONT);
        };
        if caught {
            break run;
        }
        run.wait();
    };
    let pid = run.child.id();
    run.signal(libc::SIGTERM);
    run.signal(libc::SIGCONT);
    let status = run.wait();
    // The exit was under way: it ends by the signal, or exits 0 if the signal came
    // after the exit path looked; either way the profile is written once, whole.
    assert!(
        status.success() || status.signal() == Some(libc::SIGTERM),
        "{status:?}: {}",
        run.stderr_text()
    );
    check_profile(&run.out.join("p.json"), pid);
    assert_eq!(run.wrote_lines().len(), 1, "{}", run.stderr_text());
    assert_eq!(run.files(), ["p.json"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_spanprof_out_longer_than_the_path_limit_is_one_error_line_and_no_file() {
    let dir = scratch("long");
    let long = format!("{}/{}.json", "d".repeat(200), "p".repeat(5000));
    let mut run = spawn(&dir, "exit", Some(&long), &[]);
    let status = run.wait();
    assert!(status.success(), "{status:?}");
    let text = run.stderr_text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("spanprof:"))
        .collect();
    assert_eq!(
        lines,
        [
            "spanprof: SPANPROF_OUT is longer than 4095 bytes (the path limit); no profile will be written"
        ],
        "{text}"
    );
    assert!(run.files().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_capture_settings_are_one_line_each_and_the_exit_profile_still_comes() {
    let dir = scratch("bad");
    let mut run = spawn(
        &dir,
        "exit",
        Some("p.json"),
        &[("SPANPROF_SIGNAL", "SIGKILL"), ("SPANPROF_INTERVAL", "30")],
    );
    assert!(run.wait().success(), "{}", run.stderr_text());
    let text = run.stderr_text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("spanprof:"))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0]
            .starts_with("spanprof: SPANPROF_SIGNAL=SIGKILL is not a signal that can be caught")
    );
    assert!(lines[1].starts_with("spanprof: SPANPROF_INTERVAL=30 is not a duration"));
    assert!(lines[2].starts_with("spanprof: wrote "));
    check_profile(&run.out.join("p.json"), run.child.id());

    // Without SPANPROF_OUT they have nothing to write.
    let mut run = spawn(&dir, "exit", None, &[("SPANPROF_INTERVAL", "1s")]);
    assert!(run.wait().success());
    assert_eq!(
        run.stderr_text()
            .lines()
            .filter(|l| l.starts_with("spanprof:"))
            .collect::<Vec<_>>(),
        [
            "spanprof: SPANPROF_SIGNAL and SPANPROF_INTERVAL need SPANPROF_OUT; no profiles will be written"
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
