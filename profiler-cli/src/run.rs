//! `spanprof run [--rate N] [-o profile.json] [--svg heap.svg] [--html report.html]
//! [--open] -- PROGRAM ARGS…`: runs a program built with spanprof as its global
//! allocator with `SPANPROF_OUT` (and `SPANPROF_RATE`) set (any other program with
//! `libspanprof.so` preloaded, see `preload.rs`), waits for it, then prints
//! the report, draws the flamegraph and writes the HTML report of the profile it wrote
//! (and, with `--open`, starts a browser on the page). The program writes into a private temporary folder; once
//! it is done the profile is written to `-o` by the rule of every output
//! (`output::write_output`: atomically over a regular file, in place to a device or
//! FIFO, through symlinks), so a run that writes nothing leaves an earlier profile
//! alone. On-demand profiles (`SPANPROF_SIGNAL`, `SPANPROF_INTERVAL`) are written
//! beside the output under their own names.
//!
//! While the program runs, `spanprof run` stays alive to render its profile: SIGINT,
//! SIGTERM and SIGHUP sent to `spanprof run` are passed on to the program (which
//! writes its profile and dies by the signal; see the allocator's `capture.rs`), and
//! `spanprof run` then exits with the program's status (128 + the signal). Ctrl-C in a
//! terminal already reaches the whole foreground process group, program included, so
//! what the kernel sends (a terminal's Ctrl-C or hang-up) is not sent a second time.

use crate::folded::{StackOpts, Stacks, Weight, fold};
use crate::forward;
use crate::output::{CliError, Result, write_output};
use crate::{flame, load, report};
use clap::Args;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// The arguments of `spanprof run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Mean bytes between sampled stacks (`1` = every allocation, `0` = no stacks);
    /// default: the program's (SPANPROF_RATE, else 524288).
    #[arg(long, value_name = "BYTES")]
    pub rate: Option<u64>,
    /// Where the profile goes.
    #[arg(short, long, default_value = "profile.json")]
    pub output: PathBuf,
    /// Where the flamegraph goes (native stacks when sampled, else site stacks).
    #[arg(long, default_value = "heap.svg")]
    pub svg: PathBuf,
    /// Do not draw the flamegraph.
    #[arg(long, conflicts_with = "svg")]
    pub no_svg: bool,
    /// Where the HTML report goes (`spanprof html`: one self-contained page).
    #[arg(long, value_name = "FILE", default_value = "report.html")]
    pub html: PathBuf,
    /// Do not write the HTML report.
    #[arg(long, conflicts_with = "html")]
    pub no_html: bool,
    /// Open the HTML report when done ($BROWSER, else xdg-open; open on macOS).
    #[arg(long, conflicts_with = "no_html")]
    pub open: bool,
    /// How many sites and stacks the report lists.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    #[command(flatten)]
    pub frames: crate::trim::FrameOpts,
    /// Run the program with libspanprof.so preloaded even if it was built with spanprof
    /// (by default only programs built without it are, which profiles their C allocator).
    #[arg(long, conflicts_with = "no_preload")]
    pub preload: bool,
    /// Never preload libspanprof.so.
    #[arg(long)]
    pub no_preload: bool,
    /// The program and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM"
    )]
    pub command: Vec<OsString>,
}

/// What a finished run amounts to: the exit code `spanprof` should end with.
fn exit_code(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        // Codes are 0..=255 on Unix; elsewhere clamp into a failing byte.
        return u8::try_from(code).unwrap_or(1).max(u8::from(code != 0));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return u8::try_from(128 + sig).unwrap_or(255);
        }
    }
    1
}

fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return match forward::name(sig) {
                Some(name) => format!("was killed by signal {sig} ({name})"),
                None => format!("was killed by signal {sig}"),
            };
        }
    }
    format!("ended abnormally ({status})")
}

/// Absolute form of `p` (the program may change directory).
/// A private folder for the program's profile, removed when dropped.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("spanprof-run-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).map_err(|e| {
            CliError::new(
                dir.display(),
                format!("cannot make a folder for the profile: {e}"),
            )
        })?;
        Ok(Scratch { dir })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes the on-demand profiles the program left in `dir` (all but `main`) beside
/// `output`, under their own names; when `output` is not a file (a device, a FIFO)
/// there is no folder to put them in, and they are dropped with a note.
fn place_dumps(dir: &Path, main: &Path, output: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let dumps: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p != main)
        .collect();
    if dumps.is_empty() {
        return;
    }
    let is_file = std::fs::metadata(output).is_ok_and(|m| m.is_file());
    if !is_file {
        eprintln!(
            "spanprof: {}: not a file; {} on-demand profile(s) dropped",
            output.display(),
            dumps.len()
        );
        return;
    }
    let folder = output.parent().unwrap_or(Path::new(""));
    for dump in dumps {
        let (Some(name), Ok(bytes)) = (dump.file_name(), std::fs::read(&dump)) else {
            continue;
        };
        if let Err(e) = write_output(&folder.join(name), &bytes) {
            eprintln!("{e}");
        }
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| CliError::new(p.display(), format!("bad path: {e}")))
}

/// Runs the program and renders its profile; returns the exit code: the program's when
/// it failed, else 0.
pub fn run(args: RunArgs, paint: report::Paint) -> Result<u8> {
    let (program, rest) = match args.command.split_first() {
        Some(split) => split,
        None => {
            return Err(CliError::usage(
                "run",
                "no program given (spanprof run -- PROGRAM ARGS…)",
            ));
        }
    };
    let shown = Path::new(program).display().to_string();
    // stdout carries the program's output and the report: no file goes there too.
    for (flag, path) in [
        ("-o", &args.output),
        ("--svg", &args.svg),
        ("--html", &args.html),
    ] {
        if path.as_os_str() == "-" {
            return Err(CliError::usage(
                flag,
                "spanprof run prints the program's output and the report on stdout; give a file",
            ));
        }
    }
    let output = absolute(&args.output)?;
    if output.is_dir() {
        return Err(CliError::usage(
            output.display(),
            "is a folder, not a profile file",
        ));
    }
    if !args.no_svg && absolute(&args.svg)? == output {
        return Err(CliError::usage(
            args.svg.display(),
            "the flamegraph would overwrite the profile",
        ));
    }
    if !args.no_html && absolute(&args.html)? == output {
        return Err(CliError::usage(
            args.html.display(),
            "the HTML report would overwrite the profile",
        ));
    }
    let name = output
        .file_name()
        .map_or_else(|| "profile.json".into(), |n| n.to_os_string());
    let scratch = Scratch::new()?;
    let temp = scratch.dir.join(&name);

    let mode = if args.preload {
        crate::preload::Mode::Force
    } else if args.no_preload {
        crate::preload::Mode::Never
    } else {
        crate::preload::Mode::Auto
    };
    let preload = crate::preload::plan(Path::new(program), mode)?;
    let mut cmd = Command::new(program);
    if let Some(value) = &preload {
        cmd.env("LD_PRELOAD", value);
    }
    // The program would name the temporary file in its "wrote" line; run names the
    // real one when it is done.
    cmd.args(rest)
        .env("SPANPROF_OUT", &temp)
        .env("SPANPROF_QUIET", "1");
    if let Some(rate) = args.rate {
        cmd.env("SPANPROF_RATE", rate.to_string());
    }
    #[cfg(unix)]
    let forwarding = forward::start();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(CliError::new(&shown, "program not found"));
        }
        Err(e) => return Err(CliError::new(&shown, format!("cannot run: {e}"))),
    };
    #[cfg(unix)]
    forwarding.child(child.id());
    let status = child
        .wait()
        .map_err(|e| CliError::new(&shown, format!("cannot wait for it: {e}")))?;
    #[cfg(unix)]
    drop(forwarding);
    let code = if status.success() {
        0
    } else {
        exit_code(status)
    };

    if !temp.exists() {
        let why = if status.success() {
            format!(
                "no profile was written to {} ({})",
                args.output.display(),
                if preload.is_some() {
                    "it ran with libspanprof.so preloaded: a statically linked program, or one with an allocator of its own, does not use the C library's malloc"
                } else {
                    "was it built with spanprof::SpanAlloc as its #[global_allocator]? --preload profiles its C allocator instead"
                }
            )
        } else {
            format!("{} and wrote no profile", describe(status))
        };
        let mut e = CliError::new(&shown, why);
        if code != 0 {
            e.code = code;
        }
        return Err(e);
    }
    let file = args.output.display().to_string();
    // Parsed from the private copy: `-o` may be a FIFO or /dev/null, not to be read back.
    let mut profile = load::load_named(&temp, &file)?;
    let bytes = std::fs::read(&temp)
        .map_err(|e| CliError::new(&file, format!("cannot read the profile: {e}")))?;
    write_output(&args.output, &bytes)?;
    place_dumps(&scratch.dir, &temp, &args.output);
    if !status.success() {
        eprintln!(
            "spanprof: {shown}: {} (rendering the profile it wrote)",
            describe(status)
        );
    }

    crate::trim::apply(&mut profile, args.frames);
    let mut text = report::render(&report::build(&profile, args.top), paint);
    text.push_str(&format!("\nWrote:\n  {file} (profile)\n"));
    if !args.no_svg {
        // Sampled native stacks when there are any; the exact site stacks otherwise.
        let stacks = if profile.samples.is_empty() {
            Stacks::Sites
        } else {
            Stacks::Native
        };
        let opts = StackOpts {
            weight: Weight::AllocBytes,
            stacks,
            size_class: None,
            class_frames: false,
        };
        let lines: Vec<String> = fold(&profile, &file, &opts)?
            .iter()
            .map(|(s, w)| format!("{s} {w}"))
            .collect();
        if lines.is_empty() {
            text.push_str("  (no flamegraph: nothing was allocated under a site or sampled)\n");
        } else {
            let look = flame::Look {
                title: None,
                icicle: false,
            };
            write_output(&args.svg, &flame::svg(&file, &lines, &opts, &look)?)?;
            let kind = match stacks {
                Stacks::Native => "sampled native stacks",
                Stacks::Sites => "site stacks: no stacks were sampled",
            };
            text.push_str(&format!("  {} (flamegraph, {kind})\n", args.svg.display()));
        }
    }
    if !args.no_html {
        let page = crate::html::page(&profile, &file)?;
        write_output(&args.html, page.as_bytes())?;
        text.push_str(&format!("  {} (HTML report)\n", args.html.display()));
    }
    write_output(Path::new("-"), text.as_bytes())?;
    if args.open
        && !args.no_html
        && let Err(e) = open_page(&args.html)
    {
        eprintln!("spanprof: warning: {e}");
    }
    Ok(code)
}

/// The commands that may show a page: each of `$BROWSER` (a `:`-separated list, as
/// `xdg-open` and `man` read it; `%s` stands for the file, else it is appended), then
/// the desktop's opener.
fn openers() -> Vec<String> {
    let mut list: Vec<String> = std::env::var("BROWSER")
        .unwrap_or_default()
        .split(':')
        .filter(|c| !c.trim().is_empty())
        .map(str::to_string)
        .collect();
    list.push(
        if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        }
        .into(),
    );
    list
}

/// Starts a viewer on `page` without waiting for it; an error (one line) when no
/// opener could be started.
pub fn open_page(page: &Path) -> std::result::Result<(), String> {
    let mut tried = Vec::new();
    for opener in openers() {
        let mut words: Vec<String> = opener.split_whitespace().map(str::to_string).collect();
        let file = page.display().to_string();
        if words.iter().any(|w| w.contains("%s")) {
            for w in &mut words {
                *w = w.replace("%s", &file);
            }
        } else {
            words.push(file);
        }
        let started = Command::new(&words[0])
            .args(&words[1..])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map(drop);
        match started {
            Ok(()) => return Ok(()),
            Err(e) => tried.push(format!("{}: {e}", words[0])),
        }
    }
    Err(format!(
        "cannot open {}: no browser could be started ({}); set BROWSER or open it yourself",
        page.display(),
        tried.join("; ")
    ))
}
