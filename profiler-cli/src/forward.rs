//! Passing the stop signals on to the program while it runs, for `spanprof run` and
//! `cargo spanprof run`: both stay alive while their program runs (to render its
//! profile), so SIGINT, SIGTERM and SIGHUP sent to them go on to the program, which
//! writes its profile and dies by the signal (the allocator's `capture.rs`). A
//! terminal's Ctrl-C or hang-up already reaches the whole process group, so those
//! (sent by the kernel) are not sent twice. The handler is not SIG_IGN: a program
//! started after it must not inherit an ignored signal (exec resets handlers, not
//! ignored dispositions).
#![cfg(unix)]
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicI32, Ordering};

/// The signals a terminal, a shell or a supervisor stops a program with.
const SIGNALS: [c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The program's pid (0 = not started yet).
static CHILD: AtomicI32 = AtomicI32::new(0);
/// A signal that came before the program started.
static PENDING: AtomicI32 = AtomicI32::new(0);

/// The usual name of a signal that ends programs.
pub fn name(sig: c_int) -> Option<&'static str> {
    Some(match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => return None,
    })
}

/// Async-signal-safe: reads atomics, calls `kill`, keeps errno.
extern "C" fn on_signal(sig: c_int, info: *mut libc::siginfo_t, _: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    if !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL {
        // A terminal's Ctrl-C or hang-up: the program got it too.
        return;
    }
    // SAFETY: __errno_location returns the calling thread's errno slot.
    let errno = unsafe { *libc::__errno_location() };
    let child = CHILD.load(Ordering::Acquire);
    if child > 0 {
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(child, sig) };
    } else {
        PENDING.store(sig, Ordering::Release);
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Forwarding in force; dropping it restores the previous dispositions.
pub struct Forwarding {
    previous: Vec<(c_int, libc::sigaction)>,
}

impl std::fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarding").finish_non_exhaustive()
    }
}

/// Starts catching the stop signals (a handler, not SIG_IGN: the program, whose
/// exec resets handlers, must not inherit an ignored signal).
pub fn start() -> Forwarding {
    CHILD.store(0, Ordering::Release);
    PENDING.store(0, Ordering::Release);
    let mut previous = Vec::new();
    for sig in SIGNALS {
        // SAFETY: act is fully initialised; old is a valid out-pointer.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void)
                as libc::sighandler_t;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, &act, &mut old) == 0 {
                previous.push((sig, old));
            }
        }
    }
    Forwarding { previous }
}

impl Forwarding {
    /// The program started: signals go to `pid` from now on, and one that came
    /// before goes now.
    pub fn child(&self, pid: u32) {
        let pid = pid as i32;
        CHILD.store(pid, Ordering::Release);
        let early = PENDING.swap(0, Ordering::AcqRel);
        if early != 0 {
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(pid, early) };
        }
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        CHILD.store(0, Ordering::Release);
        for (sig, old) in &self.previous {
            // SAFETY: restores a disposition sigaction gave us.
            unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
        }
    }
}
