//! Capture of a running program: the signals and the interval that write profiles
//! while a program runs, and the termination signals that write the final profile
//! before the program dies.
//!
//! `profile::init` reads the environment at start-up (through `writer.rs`) and, when
//! `SPANPROF_OUT` is set, calls [`arm`], still inside the allocator's first allocation: nothing here uses the
//! Rust heap or an allocator lock until the writer thread wakes up. `arm` starts one
//! writer thread with a raw `pthread_create` (glibc maps its stack) that blocks in
//! `poll` on a pipe and on the next `SPANPROF_INTERVAL` deadline or timeline point
//! (`timeline.rs`, taken here: this thread never allocates on the program's books), then installs one
//! handler for SIGINT, SIGTERM and SIGHUP, where their disposition is still the
//! default (an ignored signal stays ignored; a handler already there stays), and for
//! the `SPANPROF_SIGNAL` signal. The handler does only async-signal-safe things: it
//! notes the request in an atomic and writes a byte to the pipe. The writer thread
//! does the work: it asks `writer.rs` for the next numbered profile (on demand,
//! interval) or the final one (termination), with the hooks suspended so none of it
//! is counted, and after the final one restores the default disposition and raises
//! the signal again, so the process ends as it would have without spanprof (killed by
//! that signal, the status its parent sees).
//!
//! Programs that handle the signal themselves keep their handler: spanprof stands
//! aside. A handler installed later replaces ours, and the program ends as it
//! chooses, through the exit path, which writes the profile. A handler that chains to
//! the previous one (signal-hook, so tokio) calls ours after its own: ours sees that
//! the disposition is not its own any more and does nothing. Every profile written
//! from the environment passes here, the exit one too (the `atexit` hook [`arm`]
//! registers calls [`at_exit`]), so writes never overlap and the final profile is written once:
//! a signal arriving during the exit write waits for it and then ends the process, a
//! second termination signal during the write is absorbed (`kill -9` stops a write
//! at once; the target stays whole, see `writer::write_atomic`). In a `fork` child the
//! parent's writer thread does not exist: the child closes the inherited pipe and
//! starts its own writer, with the numbering restarted.

use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicU64, Ordering};

use crate::os::write_stderr;
use crate::profile::{timeline, writer};

/// The signals that end a program by default and write the final profile first.
const TERMINATION: [c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

static ARMED: AtomicBool = AtomicBool::new(false);
/// The wake-up pipe: the handler writes, the writer thread polls (-1 = none).
static WAKE_READ: AtomicI32 = AtomicI32::new(-1);
static WAKE_WRITE: AtomicI32 = AtomicI32::new(-1);
/// `SPANPROF_SIGNAL` (0 = none).
static DUMP_SIGNAL: AtomicI32 = AtomicI32::new(0);
/// `SPANPROF_INTERVAL` in milliseconds (0 = none).
static INTERVAL_MS: AtomicU64 = AtomicU64::new(0);
/// A profile was asked for with `SPANPROF_SIGNAL`.
static DUMP_ASKED: AtomicBool = AtomicBool::new(false);
/// The termination signal the process ends by (0 = none yet); the first one wins.
static TERM_ASKED: AtomicI32 = AtomicI32::new(0);
/// The final profile: not yet, being written, written.
static FINAL: AtomicU8 = AtomicU8::new(NOT_YET);
const NOT_YET: u8 = 0;
const IN_PROGRESS: u8 = 1;
const WRITTEN: u8 = 2;
/// A profile of the environment's series is being written.
static WRITING: AtomicBool = AtomicBool::new(false);

/// The writer thread's stack: symbolization can go deep; the default follows
/// `ulimit -s`, which may be small.
const WRITER_STACK: usize = 8 << 20;

/// Sets up capture: called once, at start-up, when `SPANPROF_OUT` is set, with the
/// raw values of `SPANPROF_SIGNAL` and `SPANPROF_INTERVAL`. Allocates nothing; a bad
/// value costs one line on stderr and leaves the rest working.
pub(crate) fn arm(signal: Option<&[u8]>, interval: Option<&[u8]>) {
    if ARMED.swap(true, Ordering::AcqRel) {
        return;
    }
    extern "C" fn exit_hook() {
        at_exit();
    }
    // SAFETY: registering a plain function; it runs once at exit.
    unsafe { libc::atexit(exit_hook) };
    if let Some(s) = signal.filter(|s| !s.is_empty()) {
        match parse_signal(s) {
            Some(sig) => DUMP_SIGNAL.store(sig, Ordering::Relaxed),
            None => write_stderr(&[
                b"spanprof: SPANPROF_SIGNAL=",
                s,
                b" is not a signal that can be caught (a name such as SIGUSR2 or a number such as 12); no on-demand profiles\n",
            ]),
        }
    }
    if let Some(s) = interval.filter(|s| !s.is_empty()) {
        match parse_interval(s) {
            Some(ms) => INTERVAL_MS.store(ms, Ordering::Relaxed),
            None => write_stderr(&[
                b"spanprof: SPANPROF_INTERVAL=",
                s,
                b" is not a duration (such as 30s, 500ms or 5m); no interval profiles\n",
            ]),
        }
    }
    if !start_writer() {
        write_stderr(&[
            b"spanprof: cannot start the profile writer thread; signals and intervals write no profile\n",
        ]);
        return;
    }
    // SAFETY: registers a plain function that only touches this module's atomics,
    // closes descriptors and starts a thread.
    unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    let dump = DUMP_SIGNAL.load(Ordering::Relaxed);
    if dump != 0 {
        match install(dump, true) {
            Ok(true) => {}
            Ok(false) => write_stderr(&[
                b"spanprof: the SPANPROF_SIGNAL signal already has a handler; no on-demand profiles\n",
            ]),
            Err(()) => write_stderr(&[
                b"spanprof: the SPANPROF_SIGNAL signal cannot be caught; no on-demand profiles\n",
            ]),
        }
    }
    for sig in TERMINATION {
        if sig != dump {
            let _ = install(sig, false);
        }
    }
}

/// A signal name (`SIGUSR2`, `USR2`, any case) or number that a handler can catch
/// and that is not a fault (SIGSEGV and the like belong to the program).
pub(crate) fn parse_signal(s: &[u8]) -> Option<c_int> {
    const NAMES: [(&[u8], c_int); 22] = [
        (b"HUP", libc::SIGHUP),
        (b"INT", libc::SIGINT),
        (b"QUIT", libc::SIGQUIT),
        (b"USR1", libc::SIGUSR1),
        (b"USR2", libc::SIGUSR2),
        (b"PIPE", libc::SIGPIPE),
        (b"ALRM", libc::SIGALRM),
        (b"TERM", libc::SIGTERM),
        (b"CHLD", libc::SIGCHLD),
        (b"CONT", libc::SIGCONT),
        (b"TSTP", libc::SIGTSTP),
        (b"TTIN", libc::SIGTTIN),
        (b"TTOU", libc::SIGTTOU),
        (b"URG", libc::SIGURG),
        (b"XCPU", libc::SIGXCPU),
        (b"XFSZ", libc::SIGXFSZ),
        (b"VTALRM", libc::SIGVTALRM),
        (b"PROF", libc::SIGPROF),
        (b"WINCH", libc::SIGWINCH),
        (b"IO", libc::SIGIO),
        (b"PWR", libc::SIGPWR),
        (b"SYS", libc::SIGSYS),
    ];
    const REFUSED: [c_int; 8] = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
        libc::SIGABRT,
        libc::SIGTRAP,
    ];
    if !s.is_empty() && s.iter().all(u8::is_ascii_digit) {
        let n = s.iter().try_fold(0 as c_int, |acc, &b| {
            acc.checked_mul(10)?.checked_add(c_int::from(b - b'0'))
        })?;
        return ((1..=64).contains(&n) && !REFUSED.contains(&n)).then_some(n);
    }
    let upper = |b: &u8| b.to_ascii_uppercase();
    let name = match s {
        [a, b, c, rest @ ..] if [a, b, c].map(upper) == *b"SIG" => rest,
        _ => s,
    };
    NAMES
        .iter()
        .find(|(n, _)| n.len() == name.len() && n.iter().zip(name).all(|(a, b)| *a == upper(b)))
        .map(|&(_, sig)| sig)
}

/// A duration: a whole number with `ms`, `s`, `m` or `h`; more than zero. In ms.
pub(crate) fn parse_interval(s: &[u8]) -> Option<u64> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let n = s[..digits].iter().try_fold(0u64, |acc, &b| {
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })?;
    let unit: u64 = match &s[digits..] {
        b"ms" => 1,
        b"s" => 1000,
        b"m" => 60_000,
        b"h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(unit).filter(|&ms| ms > 0)
}

/// Installs the handler for `sig` when its disposition is the default (or ignored,
/// with `over_ignored`). `Ok(false)`: left alone; `Err`: the signal cannot be caught.
fn install(sig: c_int, over_ignored: bool) -> Result<bool, ()> {
    // SAFETY: sigaction reads and writes only the structures passed; `old` is a
    // valid out-pointer, `act` is fully initialised (zeroed, then its fields set).
    unsafe {
        let mut old: libc::sigaction = core::mem::zeroed();
        if libc::sigaction(sig, ptr::null(), &mut old) != 0 {
            return Err(());
        }
        let free = old.sa_sigaction == libc::SIG_DFL
            || (over_ignored && old.sa_sigaction == libc::SIG_IGN);
        if !free {
            return Ok(false);
        }
        let mut act: libc::sigaction = core::mem::zeroed();
        act.sa_sigaction = handler_address();
        act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
        libc::sigemptyset(&mut act.sa_mask);
        if libc::sigaction(sig, &act, ptr::null_mut()) != 0 {
            return Err(());
        }
    }
    Ok(true)
}

fn handler_address() -> libc::sighandler_t {
    on_signal as extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) as libc::sighandler_t
}

/// The signal handler: async-signal-safe calls only (sigaction, write, raise) and
/// lock-free atomics; errno is left as the interrupted code had it.
extern "C" fn on_signal(sig: c_int, _info: *mut libc::siginfo_t, _ctx: *mut c_void) {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    let errno = unsafe { *libc::__errno_location() };
    if sig == DUMP_SIGNAL.load(Ordering::Relaxed) {
        DUMP_ASKED.store(true, Ordering::Release);
        wake();
    } else if is_ours(sig) {
        let _ = TERM_ASKED.compare_exchange(0, sig, Ordering::AcqRel, Ordering::Acquire);
        if !wake() {
            // No writer in this process: die as if spanprof were not there. The
            // signal is blocked while its handler runs, so it lands on return.
            default_and_raise(sig);
        }
    }
    // else: a handler installed after ours called us (chaining); the program
    // handles this signal now, and its exit path writes the profile.
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Whether `sig`'s disposition is still our handler.
fn is_ours(sig: c_int) -> bool {
    // SAFETY: querying a disposition writes only `cur`.
    unsafe {
        let mut cur: libc::sigaction = core::mem::zeroed();
        libc::sigaction(sig, ptr::null(), &mut cur) == 0 && cur.sa_sigaction == handler_address()
    }
}

/// Wakes the writer thread; false when there is none.
fn wake() -> bool {
    let fd = WAKE_WRITE.load(Ordering::Acquire);
    if fd < 0 {
        return false;
    }
    let byte = 1u8;
    // SAFETY: one readable byte; the descriptor is our non-blocking pipe end.
    let n = unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
    // A full pipe means wake-ups are already pending.
    // SAFETY: __errno_location returns the calling thread's errno slot.
    n == 1 || unsafe { *libc::__errno_location() } == libc::EAGAIN
}

/// Restores the default disposition of `sig` and raises it on the calling thread.
fn default_and_raise(sig: c_int) {
    // SAFETY: sigaction with a zeroed (SIG_DFL, empty mask) action, then raise; all
    // async-signal-safe and touching no memory of ours.
    unsafe {
        let mut act: libc::sigaction = core::mem::zeroed();
        act.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(sig, &act, ptr::null_mut());
        libc::raise(sig);
    }
}

/// Ends the process by `sig`, as the signal would have without spanprof.
fn die(sig: c_int) -> ! {
    // SAFETY: a signal set built on the stack; unblocking it on this thread lets the
    // raised signal (now with its default action) end the process.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, ptr::null_mut());
    }
    default_and_raise(sig);
    // Only reached where the default action does not end the process: the init of a
    // PID namespace (a container's first process) is immune to its own signals. The
    // signal asked for an end and the profile is written: end with the shell's code.
    // SAFETY: _exit ends the process without running anything else.
    unsafe { libc::_exit(128 + sig) }
}

/// Starts the writer thread with a fresh pipe; false when either cannot be had.
fn start_writer() -> bool {
    let mut fds = [-1 as c_int; 2];
    // SAFETY: fds is a valid array of two descriptors to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return false;
    }
    // The handler must never block: its end is non-blocking.
    // SAFETY: fcntl on the descriptor just made.
    unsafe { libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK) };
    WAKE_READ.store(fds[0], Ordering::Release);
    WAKE_WRITE.store(fds[1], Ordering::Release);
    // Process signals go to the program's threads, not to it (all blocked there).
    let started = crate::os::spawn_detached(writer_main, WRITER_STACK);
    if !started {
        close_pipe();
    }
    started
}

fn close_pipe() {
    for fd in [
        WAKE_WRITE.swap(-1, Ordering::AcqRel),
        WAKE_READ.swap(-1, Ordering::AcqRel),
    ] {
        if fd >= 0 {
            // SAFETY: a descriptor this module opened and nothing else uses.
            unsafe { libc::close(fd) };
        }
    }
}

fn now_ms() -> u64 {
    crate::os::now_ns() / 1_000_000
}

/// The writer thread: waits for a signal's byte or the next interval, then writes.
extern "C" fn writer_main(_: *mut c_void) -> *mut c_void {
    // SAFETY: names the calling thread (15 bytes and the NUL, the kernel's limit).
    unsafe { libc::pthread_setname_np(libc::pthread_self(), c"spanprof-writer".as_ptr()) };
    let mut fd = WAKE_READ.load(Ordering::Acquire);
    let every = INTERVAL_MS.load(Ordering::Relaxed);
    let mut next = (every != 0).then(|| now_ms() + every);
    // Interval errors are said once, until a write succeeds again.
    let mut interval_failing = false;
    loop {
        // The next interval profile or timeline point, whichever is first.
        let due = match (next, timeline::next_deadline_ms()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout = due.map_or(-1, |t| poll_timeout(t, crate::os::now_ns()));
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd (a negative fd is ignored by poll).
        let n = unsafe { libc::poll(&mut pfd, 1, timeout) };
        if n > 0 {
            if pfd.revents & libc::POLLIN != 0 {
                let mut buf = [0u8; 64];
                // SAFETY: reads into a buffer of 64 bytes.
                unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            } else {
                // The pipe broke (never expected): keep the interval going.
                fd = -1;
            }
        }
        timeline::tick(false);
        let sig = TERM_ASKED.load(Ordering::Acquire);
        if sig != 0 {
            final_profile();
            die(sig);
        }
        if DUMP_ASKED.swap(false, Ordering::AcqRel) {
            series_profile(true, true);
        }
        if let Some(t) = next {
            let now = now_ms();
            if now >= t {
                let ok = series_profile(false, !interval_failing);
                interval_failing = !ok;
                // Missed ticks (a write longer than the interval) are skipped.
                next = Some(t + every * ((now - t) / every + 1));
            }
        }
    }
}

/// `poll`'s timeout (ms) to wake at or after the monotonic time `due_ms`, at
/// `now_ns`: rounded up, so the thread does not wake a fraction of a millisecond
/// early, find nothing due, and poll again for the rest.
fn poll_timeout(due_ms: u64, now_ns: u64) -> c_int {
    let wait_ns = due_ms.saturating_mul(1_000_000).saturating_sub(now_ns);
    wait_ns.div_ceil(1_000_000).min(i32::MAX as u64) as c_int
}

/// Serialises the writes of the environment's series.
struct WriteLock;

impl WriteLock {
    fn take() -> WriteLock {
        while WRITING
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        WriteLock
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        WRITING.store(false, Ordering::Release);
    }
}

/// Writes the next numbered profile, unless the final one has begun.
fn series_profile(announce: bool, report_error: bool) -> bool {
    if FINAL.load(Ordering::Acquire) != NOT_YET {
        return true;
    }
    let _w = WriteLock::take();
    if FINAL.load(Ordering::Acquire) != NOT_YET {
        return true;
    }
    writer::write_next(false, announce, report_error)
}

/// Writes the final profile once; a second caller waits until it is written.
fn final_profile() {
    match FINAL.compare_exchange(NOT_YET, IN_PROGRESS, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            let w = WriteLock::take();
            writer::write_next(true, true, true);
            drop(w);
            FINAL.store(WRITTEN, Ordering::Release);
        }
        Err(_) => {
            while FINAL.load(Ordering::Acquire) != WRITTEN {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
}

/// The exit path (`atexit`): writes the final profile, unless a termination signal's
/// write has it; a termination signal that came in meanwhile then ends the process.
pub(crate) fn at_exit() {
    final_profile();
    let sig = TERM_ASKED.load(Ordering::Acquire);
    if sig != 0 {
        die(sig);
    }
}

/// In a `fork` child: the parent's writer thread is not here and its pipe is the
/// parent's; start our own, numbering from 0. A write under way in the parent is
/// the parent's.
extern "C" fn after_fork_in_child() {
    close_pipe();
    DUMP_ASKED.store(false, Ordering::Relaxed);
    TERM_ASKED.store(0, Ordering::Relaxed);
    WRITING.store(false, Ordering::Relaxed);
    let _ = FINAL.compare_exchange(IN_PROGRESS, NOT_YET, Ordering::AcqRel, Ordering::Relaxed);
    writer::restart_series();
    // Without a writer the handlers fall back to ending the process by the signal.
    start_writer();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_ends_at_the_deadline_not_before() {
        // 0.4 ms before a deadline: wait 1 ms, not 0 (which would wake early).
        assert_eq!(poll_timeout(20, 19_600_000), 1);
        assert_eq!(poll_timeout(20, 12_900_000), 8);
        assert_eq!(poll_timeout(20, 10_000_000), 10);
        // At or past it: no wait.
        assert_eq!(poll_timeout(20, 20_000_000), 0);
        assert_eq!(poll_timeout(20, 25_000_000), 0);
        // The wake-up (now + timeout) is never before the deadline.
        for now_ns in (0..30_000_000).step_by(77_777) {
            let wake_ns = now_ns + poll_timeout(20, now_ns) as u64 * 1_000_000;
            assert!(wake_ns >= 20_000_000 || now_ns >= 20_000_000, "{now_ns}");
        }
        assert_eq!(poll_timeout(u64::MAX, 0), i32::MAX);
    }

    #[test]
    fn signals_by_name_or_number() {
        for s in ["SIGUSR2", "USR2", "sigusr2", "usr2", "12"] {
            assert_eq!(parse_signal(s.as_bytes()), Some(libc::SIGUSR2), "{s}");
        }
        assert_eq!(parse_signal(b"SIGHUP"), Some(libc::SIGHUP));
        assert_eq!(parse_signal(b"WINCH"), Some(libc::SIGWINCH));
        assert_eq!(parse_signal(b"40"), Some(40));
        for bad in [
            "",
            "SIG",
            "USR3",
            "SIGKILL",
            "9",
            "SIGSEGV",
            "11",
            "19",
            "0",
            "65",
            "-1",
            "12x",
            "99999999999",
        ] {
            assert_eq!(parse_signal(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn numbered_paths() {
        use std::path::PathBuf;
        let pid = std::process::id();
        let path = |p: &str, n| writer::series_path(p, n);
        assert_eq!(path("heap.json", Some(3)), PathBuf::from("heap.3.json"));
        assert_eq!(path("heap.json", None), PathBuf::from("heap.json"));
        assert_eq!(path("out.d/heap", Some(0)), PathBuf::from("out.d/heap.0"));
        assert_eq!(
            path("/tmp/h-%p-%n.json", Some(7)),
            PathBuf::from(format!("/tmp/h-{pid}-7.json"))
        );
        assert_eq!(
            path("h-%p.json", Some(1)),
            PathBuf::from(format!("h-{pid}.1.json"))
        );
    }

    #[test]
    fn intervals_in_ms_s_m_h() {
        assert_eq!(parse_interval(b"30s"), Some(30_000));
        assert_eq!(parse_interval(b"200ms"), Some(200));
        assert_eq!(parse_interval(b"5m"), Some(300_000));
        assert_eq!(parse_interval(b"1h"), Some(3_600_000));
        for bad in [
            "",
            "30",
            "0s",
            "s",
            "1.5s",
            "30 s",
            "30sec",
            "-1s",
            "99999999999999999999s",
        ] {
            assert_eq!(parse_interval(bad.as_bytes()), None, "{bad}");
        }
    }
}
