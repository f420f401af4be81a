//! Building the profile and writing it: on demand, and at exit when `SPANPROF_OUT`
//! asks for it.
//!
//! `init_from_env` runs once, when the first thread cache is made: it reads
//! `SPANPROF_OUT`, `SPANPROF_RATE`, `SPANPROF_SITE_FREES` and `SPANPROF_UNWIND` with `getenv` (no
//! allocation) and, when a path is set, registers an `atexit` hook (the main
//! thread's TLS destructors never run) and arms `capture.rs` (termination signals,
//! `SPANPROF_SIGNAL`, `SPANPROF_INTERVAL`), which writes through `write_next`.
//! Building a profile gathers the counters
//! (allocator, per context, samples), symbolizes the sampled stacks once
//! (`symbolize.rs`), and serializes the format of `format.rs`; all of it runs with
//! the hooks suspended.
//!
//! Where a profile goes (`write_atomic`, the rule the CLI's `-o` follows too): a
//! symlink is followed through its whole chain and the link stays a link (a dangling
//! one creates its target, as a shell redirection does); a regular file, or a path
//! that does not exist yet, is written to a temporary file in the target's own folder
//! (one filesystem), flushed and renamed over the target, so a reader never sees half
//! a profile and a failed write leaves the previous one intact (a replaced file keeps
//! its permission bits); a character device (`/dev/null`) or a FIFO is opened and
//! written in place, never replaced (a FIFO with no reader holds the write, and so the
//! exit, until one opens it, as a shell redirection would); a directory, a socket or a
//! block device is refused with an error line and nothing is written.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::heap::Heap;
use crate::lock::SpinLock;
use crate::profile::context;
use crate::profile::counters::{self, Totals};
use crate::profile::format::*;
use crate::profile::hooks;
use crate::profile::sample::{self, RATE};
use crate::profile::site::{SITES, Site, TYPES, TypeInfo};
use crate::profile::symbolize;
use crate::size_class::{
    NUM_CLASSES, PAGE_SIZE, class_for, class_of, class_size, classes, large_pages,
};
use crate::stats::Stats;

/// Default sampling rate when a profile is asked for: Go's 512 KiB.
pub const DEFAULT_RATE: u64 = 512 * 1024;

static INIT: AtomicBool = AtomicBool::new(false);
static START_UNIX_MS: AtomicU64 = AtomicU64::new(0);
static START_NS: AtomicU64 = AtomicU64::new(0);
/// `SPANPROF_QUIET` was set: no line on stderr when the exit profile is written.
static QUIET: AtomicBool = AtomicBool::new(false);
/// `SPANPROF_OUT`, copied at start-up (NUL-terminated; empty = not set).
static OUT: SpinLock<[u8; 4096]> = SpinLock::new([0; 4096]);

pub(crate) fn getenv(name: &[u8]) -> Option<&'static [u8]> {
    // SAFETY: name is NUL-terminated; getenv returns a pointer into the environment
    // block or null, and we only read up to the NUL.
    unsafe {
        let p = libc::getenv(name.as_ptr().cast());
        if p.is_null() {
            return None;
        }
        Some(core::slice::from_raw_parts(p.cast::<u8>(), libc::strlen(p)))
    }
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// The heap the profiles of `SPANPROF_OUT` describe (handed over by [`init_from_env`]).
static HEAP: core::sync::atomic::AtomicPtr<Heap> =
    core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());

/// The heap handed to [`init_from_env`]; the series writes (signal, interval, exit)
/// run only after it.
fn series_heap() -> Option<&'static Heap> {
    // SAFETY: non-null only as stored from a `&'static Heap`.
    unsafe { HEAP.load(Ordering::Acquire).as_ref() }
}

/// Reads the environment once (first thread of `heap`). Allocates nothing. Returns
/// whether `SPANPROF_OUT` asks for profiles: the caller then arms the exit hook and
/// capture (`profile::init`).
pub fn init_from_env(heap: &'static Heap) -> bool {
    if INIT.swap(true, Ordering::AcqRel) {
        return false;
    }
    HEAP.store(core::ptr::from_ref(heap).cast_mut(), Ordering::Release);
    START_NS.store(crate::os::now_ns(), Ordering::Relaxed);
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    START_UNIX_MS.store(unix_ms, Ordering::Relaxed);
    let mut out = getenv(b"SPANPROF_OUT\0").filter(|s| !s.is_empty());
    if out.is_some_and(|p| p.len() >= OUT.lock().len()) {
        // Never a truncated path: that would write somewhere nobody asked for.
        crate::os::write_stderr(&[
            b"spanprof: SPANPROF_OUT is longer than 4095 bytes (the path limit); no profile will be written\n",
        ]);
        out = None;
    }
    let rate = match getenv(b"SPANPROF_RATE\0") {
        Some(s) => match parse_u64(s) {
            Some(r) => Some(r),
            None => {
                crate::os::write_stderr(&[
                    b"spanprof: SPANPROF_RATE is not a number of bytes; using 524288\n",
                ]);
                Some(DEFAULT_RATE)
            }
        },
        None => None,
    };
    QUIET.store(
        getenv(b"SPANPROF_QUIET\0").is_some_and(|q| !q.is_empty() && q != b"0"),
        Ordering::Relaxed,
    );
    match getenv(b"SPANPROF_SITE_FREES\0") {
        None | Some(b"" | b"1") => {}
        Some(b"0") => crate::profile::tags::set_site_frees(false),
        Some(_) => crate::os::write_stderr(&[
            b"spanprof: SPANPROF_SITE_FREES is neither 0 nor 1; site frees stay exact\n",
        ]),
    }
    if let Some(u) = getenv(b"SPANPROF_UNWIND\0") {
        if !matches!(u, b"fp" | b"dwarf" | b"") {
            crate::os::write_stderr(&[
                b"spanprof: SPANPROF_UNWIND is neither fp nor dwarf; using the DWARF unwinder\n",
            ]);
        }
        sample::use_frame_pointers(u == b"fp");
    }
    match (out, rate) {
        (Some(_), None) => RATE.store(DEFAULT_RATE, Ordering::Relaxed),
        (_, Some(r)) => RATE.store(r, Ordering::Relaxed),
        (None, None) => {}
    }
    if let Some(path) = out {
        crate::profile::peak::enable();
        remember_start_dir();
        let mut buf = OUT.lock();
        let n = path.len().min(buf.len() - 1);
        buf[..n].copy_from_slice(&path[..n]);
        return true;
    } else if getenv(b"SPANPROF_SIGNAL\0").is_some() || getenv(b"SPANPROF_INTERVAL\0").is_some() {
        crate::os::write_stderr(&[
            b"spanprof: SPANPROF_SIGNAL and SPANPROF_INTERVAL need SPANPROF_OUT; no profiles will be written\n",
        ]);
    }
    false
}

/// Forgets `SPANPROF_OUT`: no profile is written at exit. For programs that install
/// spanprof but must not write over a profile they were asked to read.
pub fn cancel_exit_profile() {
    OUT.lock()[0] = 0;
}

/// How many profiles of `SPANPROF_OUT`'s series were written (`%n`).
static SERIES: AtomicU64 = AtomicU64::new(0);

/// Writes the next profile of `SPANPROF_OUT`'s series (for `capture`): a numbered
/// one (on demand, interval), or with `last` the final one (exit, termination
/// signal). `announce`: the `wrote` line unless `SPANPROF_QUIET`; `report_error`:
/// the error line. Returns false when the write failed; with no path (never set,
/// or cancelled) nothing is written.
pub(crate) fn write_next(last: bool, announce: bool, report_error: bool) -> bool {
    // All of it, paths and lines too, is the profiler's own allocation.
    hooks::suspended(|| write_next_inner(last, announce, report_error))
}

fn write_next_inner(last: bool, announce: bool, report_error: bool) -> bool {
    if OUT.lock()[0] == 0 {
        return true;
    }
    // The counters are read before anything here allocates: at exit the thread's
    // cache is already gone (TLS destructors run before `atexit` hooks), so the hooks
    // cannot be suspended and the path's allocations would be counted as the
    // program's, a few bytes more for a longer path.
    let Some(heap) = series_heap() else {
        return false;
    };
    if last {
        // Writing the exit profile allocates on the program's books (no thread record
        // to suspend, see above): the timeline ends with the counters read here.
        crate::profile::timeline::freeze();
    }
    let profile = build_inner(heap);
    // Bytes, not text: a path need not be UTF-8.
    let pattern = {
        let buf = OUT.lock();
        let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        buf[..n].to_vec()
    };
    if pattern.is_empty() {
        return true;
    }
    let has_n = pattern.windows(2).any(|w| w == b"%n");
    let number = (!last || has_n).then(|| SERIES.fetch_add(1, Ordering::Relaxed));
    let target = series_path_bytes(&pattern, number);
    match write_to(&start_relative(&target), &profile) {
        Ok(summary) => {
            if announce && !QUIET.load(Ordering::Relaxed) {
                eprintln!("{summary}");
            }
            true
        }
        Err(e) => {
            if report_error {
                eprintln!("spanprof: cannot write profile {}: {e}", target.display());
            }
            false
        }
    }
}

/// In a `fork` child: the child's series starts again at 0.
pub(crate) fn restart_series() {
    SERIES.store(0, Ordering::Relaxed);
}

/// The file of profile `number` of the series of `pattern`: `%p` is the pid, `%n`
/// the number; without `%n`, a number goes before the extension (`heap.json` →
/// `heap.3.json`) and no number (the final profile) leaves the name as given.
#[cfg(test)]
pub(crate) fn series_path(pattern: &str, number: Option<u64>) -> PathBuf {
    series_path_bytes(pattern.as_bytes(), number)
}

fn series_path_bytes(pattern: &[u8], number: Option<u64>) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let pid = std::process::id().to_string();
    let expanded = replace(pattern, b"%p", pid.as_bytes());
    let has_n = pattern.windows(2).any(|w| w == b"%n");
    let Some(n) = number else {
        return PathBuf::from(std::ffi::OsStr::from_bytes(&expanded));
    };
    if has_n {
        let numbered = replace(&expanded, b"%n", n.to_string().as_bytes());
        return PathBuf::from(std::ffi::OsStr::from_bytes(&numbered));
    }
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(&expanded));
    let mut name = match path.file_stem() {
        Some(stem) => stem.to_os_string(),
        None => return path,
    };
    name.push(format!(".{n}"));
    if let Some(ext) = path.extension() {
        name.push(".");
        name.push(ext);
    }
    path.with_file_name(name)
}

/// `text` with every `from` replaced by `to`.
fn replace(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

/// The folder the program started in (NUL-terminated; empty = unknown): a relative
/// `SPANPROF_OUT` names a file there even when the program changes folder later.
static START_DIR: SpinLock<[u8; 4096]> = SpinLock::new([0; 4096]);

/// Records the start folder (at start-up, with `getcwd`: no allocation).
fn remember_start_dir() {
    let mut buf = START_DIR.lock();
    // SAFETY: getcwd writes at most buf.len() bytes including the NUL into buf, or
    // fails and returns null (the buffer then stays empty).
    let ok = unsafe { !libc::getcwd(buf.as_mut_ptr().cast(), buf.len()).is_null() };
    if !ok {
        buf[0] = 0;
    }
}

/// `path` as the program would have named it at start: relative paths are joined to
/// the start folder when the program has moved since (the `wrote` line then names
/// the absolute path); unchanged otherwise.
fn start_relative(path: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let start = {
        let buf = START_DIR.lock();
        let n = buf.iter().position(|&b| b == 0).unwrap_or(0);
        PathBuf::from(std::ffi::OsStr::from_bytes(&buf[..n]))
    };
    if start.as_os_str().is_empty() || std::env::current_dir().is_ok_and(|d| d == start) {
        return path.to_path_buf();
    }
    start.join(path)
}

/// The line a program prints when it wrote its exit profile, as dhat does: the file,
/// what it holds, and the command that shows it (`in_place`: written to a FIFO or a
/// device, where there is no file left to show).
fn summary(path: &Path, profile: &Profile, in_place: bool) -> String {
    let sampled = profile
        .samples
        .iter()
        .map(|s| s.alloc_objects)
        .fold(0, u64::saturating_add);
    let sites_used = profile
        .site_stats
        .iter()
        .filter_map(|s| s.stack.last())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let allocs = profile
        .classes
        .iter()
        .map(|c| c.allocs)
        .fold(profile.large.allocs, u64::saturating_add);
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let dropped = match profile.dropped_samples {
        0 => String::new(),
        n => format!(" ({n} more dropped: the stack table was full)"),
    };
    let see = if in_place {
        String::new()
    } else {
        format!(
            "; see `spanprof report {}`",
            shell_word(&path.display().to_string())
        )
    };
    format!(
        "spanprof: wrote {}: {}, {} sampled{dropped} in {}, {} with allocations{see}",
        path.display(),
        plural(allocs, "allocation", "allocations"),
        sampled,
        plural(profile.stacks.len() as u64, "stack", "stacks"),
        plural(sites_used as u64, "site", "sites"),
    )
}

/// `word` as a shell reads it back: as it is when it is plain, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+%,:=@".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

fn write_built(heap: &Heap, path: &Path) -> io::Result<String> {
    write_to(path, &build(heap))
}

/// Writes `profile` to `path`; returns the `wrote` line.
fn write_to(path: &Path, profile: &Profile) -> io::Result<String> {
    let in_place = write_atomic(path, &profile.to_json())? == Written::InPlace;
    Ok(summary(path, profile, in_place))
}

/// `%p` in `pattern` becomes the process id, so many processes can write side by side.
pub fn expand_path(pattern: &str) -> PathBuf {
    PathBuf::from(pattern.replace("%p", &std::process::id().to_string()))
}

/// Builds the profile and writes it to `path` by the rule of [`write_atomic`]: atomically
/// (temporary file in the target's folder, then rename) over a regular file or a new
/// path, through symlinks; in place to a character device or a FIFO. The previous file
/// at `path`, if any, stays intact on error.
pub fn write_profile(heap: &Heap, path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    hooks::suspended(|| write_built(heap, path).map(drop))
}

/// Writes `bytes` to `path` by the kind of file it names (see the module doc):
/// through a temporary file and a rename over a regular file or a new path (after
/// following symlinks; first removing the temporary files that killed writers left
/// for the same target), in place to a character device or a FIFO; a directory or
/// another kind is an error. Allocates (paths): its callers suspend the hooks.
/// Never panics.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<Written> {
    match target(path)? {
        Target::Replace { file, mode } => {
            replace_file(&file, bytes, mode).map(|()| Written::Replaced)
        }
        Target::InPlace => in_place(path, bytes).map(|()| Written::InPlace),
    }
}

/// How [`write_atomic`] wrote.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// A file was replaced or created, atomically.
    Replaced,
    /// A character device or a FIFO was written in place.
    InPlace,
}

/// How a profile reaches the file a path names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// Write a temporary file beside `file` and rename it over `file`: the regular
    /// file (or new path) at the end of the path's symlinks. `mode`: the permission
    /// bits of the file replaced, kept.
    Replace { file: PathBuf, mode: Option<u32> },
    /// Open the path for writing and write (a character device or a FIFO).
    InPlace,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

/// Decides how to write to `path`, or why not.
fn target(path: &Path) -> io::Result<Target> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    // `metadata` follows every link of a chain.
    match fs::metadata(path) {
        Ok(m) => {
            let t = m.file_type();
            if t.is_file() {
                let is_link = fs::symlink_metadata(path).is_ok_and(|l| l.file_type().is_symlink());
                let file = if is_link {
                    fs::canonicalize(path)?
                } else {
                    path.to_path_buf()
                };
                let mode = Some(m.permissions().mode() & 0o7777);
                Ok(Target::Replace { file, mode })
            } else if t.is_char_device() || t.is_fifo() {
                Ok(Target::InPlace)
            } else if t.is_dir() {
                Err(invalid("is a folder, not a file"))
            } else if t.is_socket() {
                Err(invalid(
                    "is a socket; profiles go to regular files (or new paths), character devices and FIFOs",
                ))
            } else if t.is_block_device() {
                Err(invalid(
                    "is a block device; profiles go to regular files (or new paths), character devices and FIFOs",
                ))
            } else {
                Err(invalid(
                    "is neither a file, a character device nor a FIFO; profiles go to those",
                ))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Target::Replace {
            file: dangling_end(path)?,
            mode: None,
        }),
        Err(e) => Err(e),
    }
}

/// The path at the end of `path`'s chain of symlinks, when that end does not exist
/// (a dangling link, or no link at all: `path` itself). Relative link targets are
/// taken from the link's folder, as the kernel does.
fn dangling_end(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    // Linux's own limit on links followed in one lookup.
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP))
}

/// Writes `bytes` to `.NAME.PID.tmp` beside `file`, flushes it to disk and renames it
/// over `file` (keeping `mode`); the temporary file is removed on error.
fn replace_file(file: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let name = file
        .file_name()
        .ok_or_else(|| invalid("the path names no file"))?;
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = name.to_string_lossy();
    let stem = temp_stem(&name);
    let tmp = dir.join(format!(".{stem}.{}.tmp", std::process::id()));
    remove_stale_temps(&dir, stem);
    let create = || {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true) // never through a symlink or into someone else's file
            .mode(0o666)
            .open(&tmp)
    };
    let mut f = match create() {
        // Our own leftover (an earlier process with the same pid): ours to remove.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(&tmp)?;
            create()?
        }
        other => other?,
    };
    let result = f
        .write_all(bytes)
        .and_then(|()| match mode {
            Some(m) => f.set_permissions(fs::Permissions::from_mode(m)),
            None => Ok(()),
        })
        .and_then(|()| f.sync_all())
        .and_then(|()| fs::rename(&tmp, file));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Opens `path` (a character device or a FIFO) for writing and writes `bytes` to it:
/// no temporary file, no rename, no truncation, no fsync (a FIFO has none).
fn in_place(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOCTTY) // a terminal named here never becomes ours
        .open(path)?
        .write_all(bytes)
}

/// The part of a temporary file's name that comes from the target's name: all of it,
/// or its first 200 bytes when `.NAME.PID.tmp` would pass the 255-byte limit of a
/// file name.
fn temp_stem(name: &str) -> &str {
    let mut end = name.len().min(200);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Removes the temporary files (`.NAME.PID.tmp`) of writers to `dir/name` that were
/// killed mid-write: those whose PID is not a live process. Temporary files of live
/// processes, ours included, are left alone.
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|f| f.strip_suffix(".tmp"))
        else {
            continue;
        };
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(pid) = pid.parse::<libc::pid_t>() else {
            continue;
        };
        if pid <= 0 || pid as u32 == std::process::id() {
            continue;
        }
        // SAFETY: signal 0 only checks that the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The profile of `heap` as it stands now (allocates; runs with the hooks suspended).
pub fn build(heap: &Heap) -> Profile {
    hooks::suspended(|| build_inner(heap))
}

fn build_inner(heap: &Heap) -> Profile {
    let stats = heap.stats();
    // The timeline's last point, with the counters, before anything here allocates
    // (at exit that would be on the program's books).
    crate::profile::timeline::tick(true);
    let rate = RATE.load(Ordering::Relaxed);
    let sites: Vec<&'static Site> = SITES.iter().copied().collect();
    let site_id = |key: usize| sites.iter().position(|s| s.key() == key).map(|i| i as u32);
    let mut profile = Profile {
        version: FORMAT_VERSION,
        spanprof_version: env!("CARGO_PKG_VERSION").to_string(),
        // `args()` panics on an argument that is not UTF-8, and this may run in the
        // atexit hook, where a panic aborts the program.
        program: std::env::args_os()
            .next()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default(),
        args: std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        pid: std::process::id(),
        start_unix_ms: START_UNIX_MS.load(Ordering::Relaxed),
        end_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        sample_rate: rate,
        warnings: warnings(),
        size_classes: classes()
            .map(|c| SizeClassRow {
                class: c.class as u32,
                size: c.size as u64,
                pages: c.pages as u32,
                objects: c.objects as u32,
                tail_waste: c.tail_waste as u64,
            })
            .collect(),
        ..Profile::default()
    };
    profile.classes = stats
        .size_classes()
        .iter()
        .map(|c| ClassCounters {
            class: c.class as u32,
            size: c.size as u64,
            allocs: c.allocs,
            frees: c.frees,
            bytes_allocated: c.bytes_allocated,
            live_objects: c.live_objects,
            live_bytes: c.live_bytes,
            refills: c.refills,
            remote_frees: c.remote_frees,
            spans_in_use: c.spans_in_use,
        })
        .collect();
    let l = stats.large;
    profile.large = LargeCounters {
        allocs: l.allocs,
        frees: l.frees,
        bytes_allocated: l.bytes_allocated,
        bytes_freed: l.bytes_freed,
        requested_bytes: l.requested_bytes,
    };
    let h = stats.heap;
    profile.heap = HeapFigures {
        arenas_mapped: h.arenas_mapped,
        bytes_mapped: h.bytes_mapped,
        bytes_in_use: h.bytes_in_use,
        bytes_scavenged: h.bytes_scavenged,
        metadata_bytes: h.metadata_bytes,
    };
    let start = START_NS.load(Ordering::Relaxed);
    let (events, n) = heap.events();
    profile.events = events[..n]
        .iter()
        .map(|e| HeapEvent {
            at_ms: e.at_ns.saturating_sub(start) / 1_000_000,
            kind: ["arena_mapped", "huge_mapped", "scavenged"][e.kind.min(2) as usize].to_string(),
            bytes: e.bytes,
        })
        .collect();
    profile.sites = sites
        .iter()
        .enumerate()
        .map(|(i, s)| site_info(i as u32, s))
        .collect();
    profile.site_stats = site_stats(&stats, &site_id);
    let snap = sample::snapshot();
    let sampled = symbolize::symbolize(&snap);
    profile.mappings = sampled.mappings;
    profile.locations = sampled.locations;
    profile.stacks = sampled.stacks;
    profile.samples = sampled.samples;
    profile.peak = peak(start, &site_id, &sampled.record_samples, &profile.samples);
    profile.dropped_samples = snap.dropped;
    profile.max_frames = snap.max_frames as u32;
    profile.site_counts_only = !crate::profile::tags::site_frees_exact();
    profile.temporary_total = hooks::temporary_total();
    profile.timeline = timeline(start);
    profile.types = TYPES.iter().copied().map(type_row).collect();
    profile
}

/// What the reader of this profile must know about how it was taken.
fn warnings() -> Vec<String> {
    let mut out = Vec::new();
    if sample::FRAME_POINTERS_MISSING.load(Ordering::Relaxed) {
        out.push(
            "frame-pointer stacks were asked for (SPANPROF_UNWIND=fp) but the program was \
             built without frame pointers, so stacks were taken with the slower DWARF \
             unwinder; build with RUSTFLAGS=\"-C force-frame-pointers=yes\" (cargo spanprof \
             run does)"
                .to_string(),
        );
    }
    out
}

/// A registered type and the slot a boxed value of it takes: the class the allocator
/// picks for its size and alignment, or whole pages when it is large.
fn type_row(t: &TypeInfo) -> TypeRow {
    let class = class_for(t.size, t.align);
    let slot = if class == 0 {
        large_pages(t.size) * PAGE_SIZE
    } else {
        class_size(class)
    };
    TypeRow {
        name: t.name.to_string(),
        module: t.module.to_string(),
        file: t.file.to_string(),
        line: t.line,
        size: t.size as u64,
        align: t.align as u64,
        size_class: class as u32,
        slot_size: slot as u64,
        waste: slot.saturating_sub(t.size) as u64,
    }
}

fn site_info(id: u32, s: &Site) -> SiteInfo {
    SiteInfo {
        id,
        name: s.name.to_string(),
        module: s.module.to_string(),
        file: s.file.to_string(),
        line: s.line,
        column: s.column,
        findings: s
            .findings
            .iter()
            .map(|f| FindingInfo {
                line: f.line,
                column: f.column,
                expr: f.expr.to_string(),
                kind: f.kind.to_string(),
                reason: f.reason.to_string(),
                type_name: f.type_name.map(str::to_string),
                size: f.size.map(|s| s as u64),
                align: f.align.map(|a| a as u64),
                size_class: f.size.map(|s| class_of(s).unwrap_or(0) as u32),
            })
            .collect(),
    }
}

/// Per-context totals summed over live and exited threads: `[ctx][class]`.
pub fn context_totals() -> Vec<[Totals; NUM_CLASSES]> {
    let n = context::count();
    let mut totals = vec![[Totals::default(); NUM_CLASSES]; n];
    hooks::with_thread_tables(|tables| counters::sum_into(tables, &mut totals));
    totals
}

fn site_stats(stats: &Stats, site_id: &dyn Fn(usize) -> Option<u32>) -> Vec<SiteStat> {
    let totals = context_totals();
    let mut out = Vec::new();
    let mut attributed = [Totals::default(); NUM_CLASSES];
    for (ctx, row) in totals.iter().enumerate().skip(1) {
        let stack: Vec<u32> = context::stack(ctx as u32)
            .iter()
            .filter_map(|s| site_id(s.key()))
            .collect();
        for (class, t) in row.iter().enumerate() {
            if t.allocs == 0 && t.frees == 0 {
                continue;
            }
            attributed[class].add(t);
            out.push(stat(stack.clone(), class, t));
        }
    }
    // "(no site)": what the allocator counted minus what sites account for.
    for (class, a) in attributed.iter().enumerate() {
        let (allocs, frees, bytes, freed, req) = if class == 0 {
            let l = &stats.large;
            (
                l.allocs,
                l.frees,
                l.bytes_allocated,
                l.bytes_freed,
                l.requested_bytes,
            )
        } else {
            let c = &stats.classes[class];
            (
                c.allocs,
                c.frees,
                c.bytes_allocated,
                c.bytes_freed,
                c.bytes_allocated,
            )
        };
        let rest = Totals {
            allocs: allocs.saturating_sub(a.allocs),
            slot_bytes: bytes.saturating_sub(a.slot_bytes),
            requested_bytes: if class == 0 {
                req.saturating_sub(a.requested_bytes)
            } else {
                bytes.saturating_sub(a.slot_bytes)
            },
            refills: if class == 0 {
                0
            } else {
                stats.classes[class].refills.saturating_sub(a.refills)
            },
            frees: frees.saturating_sub(a.frees),
            freed_bytes: freed.saturating_sub(a.freed_bytes),
            freed_requested: 0,
            temporary: 0,
        };
        if rest.allocs != 0 || rest.frees != 0 {
            out.push(stat(Vec::new(), class, &rest));
        }
    }
    out
}

/// The timeline so far (its last point taken when the build began).
fn timeline(start_ns: u64) -> Timeline {
    let (interval_ms, points) = crate::profile::timeline::snapshot();
    Timeline {
        interval_ms,
        points: points
            .iter()
            .map(|p| TimelinePoint {
                t_ms: p.at_ns.saturating_sub(start_ns) / 1_000_000,
                live_bytes: p.live_bytes,
                heap_in_use_bytes: p.heap_in_use_bytes,
                mapped_bytes: p.mapped_bytes,
                rss_bytes: p.rss_bytes,
                allocs: p.allocs,
                refills: p.refills,
                scavenged_bytes: p.scavenged_bytes,
            })
            .collect(),
    }
}

/// The recorded peak in the format: per site stack and class what was live (exact),
/// per sample what was in use (raw, and estimated as the samples are).
fn peak(
    start_ns: u64,
    site_id: &dyn Fn(usize) -> Option<u32>,
    record_samples: &[Option<u32>],
    samples: &[Sample],
) -> Peak {
    let Some(snap) = crate::profile::peak::snapshot() else {
        return Peak::default();
    };
    let mut out = Peak {
        t_ms: snap.at_ns.saturating_sub(start_ns) / 1_000_000,
        live_bytes: snap.live_bytes,
        mapped_bytes: snap.mapped_bytes,
        ..Peak::default()
    };
    if crate::profile::tags::site_frees_exact() {
        for (ctx, row) in snap.sites.iter().enumerate().skip(1) {
            let stack: Vec<u32> = context::stack(ctx as u32)
                .iter()
                .filter_map(|s| site_id(s.key()))
                .collect();
            for (class, t) in row.iter().enumerate() {
                let live = t.allocs.saturating_sub(t.frees);
                if live == 0 {
                    continue;
                }
                out.site_stats.push(PeakSiteStat {
                    stack: stack.clone(),
                    class: class as u32,
                    live_objects: live,
                    live_bytes: t.slot_bytes.saturating_sub(t.freed_bytes),
                });
            }
        }
        out.site_stats
            .sort_by_key(|s| core::cmp::Reverse(s.live_bytes));
    }
    let mut inuse = vec![0u64; samples.len()];
    for (r, &n) in snap.records.iter().enumerate() {
        if let Some(Some(i)) = record_samples.get(r) {
            inuse[*i as usize] += n;
        }
    }
    for (i, s) in samples.iter().enumerate() {
        if inuse[i] == 0 {
            continue;
        }
        let scale = symbolize::unbias(s.size, s.rate);
        out.samples.push(PeakSample {
            stack: s.stack,
            size: s.size,
            rate: s.rate,
            inuse_objects: inuse[i],
            inuse_objects_est: inuse[i] as f64 * scale,
            inuse_bytes_est: (inuse[i] * s.size) as f64 * scale,
        });
    }
    out.samples
        .sort_by(|a, b| b.inuse_bytes_est.total_cmp(&a.inuse_bytes_est));
    out
}

fn stat(stack: Vec<u32>, class: usize, t: &Totals) -> SiteStat {
    SiteStat {
        stack,
        class: class as u32,
        allocs: t.allocs,
        slot_bytes: t.slot_bytes,
        requested_bytes: t.requested_bytes,
        refills: t.refills,
        frees: t.frees,
        live_objects: t.allocs.saturating_sub(t.frees),
        live_bytes: t.slot_bytes.saturating_sub(t.freed_bytes),
        temporary: t.temporary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};

    /// A fresh folder for one test (no tempfile: the runtime crate has no such dependency).
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("spanprof-writer-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn mkfifo(path: &Path) {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: c is a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn writer_targets_by_kind_of_file() {
        let dir = scratch("kinds");
        assert_eq!(target(Path::new("/dev/null")).unwrap(), Target::InPlace);
        mkfifo(&dir.join("fifo"));
        assert_eq!(target(&dir.join("fifo")).unwrap(), Target::InPlace);
        let e = target(&dir).unwrap_err();
        assert!(e.to_string().contains("is a folder, not a file"), "{e}");
        // A new path, a regular file (its mode kept), a link to one (its end).
        assert_eq!(
            target(&dir.join("new.json")).unwrap(),
            Target::Replace {
                file: dir.join("new.json"),
                mode: None
            }
        );
        fs::write(dir.join("old.json"), "x").unwrap();
        fs::set_permissions(dir.join("old.json"), fs::Permissions::from_mode(0o640)).unwrap();
        symlink("old.json", dir.join("link")).unwrap();
        let real = fs::canonicalize(dir.join("old.json")).unwrap();
        assert_eq!(
            target(&dir.join("link")).unwrap(),
            Target::Replace {
                file: real,
                mode: Some(0o640)
            }
        );
        // A dangling link, through a chain with a relative target: its end is created.
        fs::create_dir(dir.join("sub")).unwrap();
        symlink("sub/made.json", dir.join("dangling")).unwrap();
        symlink("dangling", dir.join("chain")).unwrap();
        assert_eq!(
            target(&dir.join("chain")).unwrap(),
            Target::Replace {
                file: dir.join("sub/made.json"),
                mode: None
            }
        );
        // A loop of links is an error, not a hang.
        symlink("loop2", dir.join("loop1")).unwrap();
        symlink("loop1", dir.join("loop2")).unwrap();
        assert_eq!(
            target(&dir.join("loop1")).unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn writer_goes_through_links_and_leaves_devices_in_place() {
        let dir = scratch("write");
        fs::write(dir.join("old.json"), "previous").unwrap();
        fs::set_permissions(dir.join("old.json"), fs::Permissions::from_mode(0o640)).unwrap();
        symlink("old.json", dir.join("link")).unwrap();
        assert_eq!(
            write_atomic(&dir.join("link"), b"new").unwrap(),
            Written::Replaced
        );
        assert!(
            fs::symlink_metadata(dir.join("link"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(dir.join("old.json")).unwrap(), b"new");
        let mode = fs::metadata(dir.join("old.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        symlink("made.json", dir.join("dangling")).unwrap();
        write_atomic(&dir.join("dangling"), b"made").unwrap();
        assert!(
            fs::symlink_metadata(dir.join("dangling"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(dir.join("made.json")).unwrap(), b"made");
        assert_eq!(
            write_atomic(Path::new("/dev/null"), b"gone").unwrap(),
            Written::InPlace
        );
        assert!(
            fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
        // No temporary file is left anywhere.
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["dangling", "link", "made.json", "old.json"]);
        let _ = fs::remove_dir_all(&dir);
    }
}
