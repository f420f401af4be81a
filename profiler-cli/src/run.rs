//! `spanprof run [--rate N] [-o profile.json] [--svg heap.svg] -- PROGRAM ARGS…`: runs a
//! program built with spanprof as its global allocator with `SPANPROF_OUT` (and
//! `SPANPROF_RATE`) set, waits for it, then prints the report and draws the flamegraph
//! of the profile it wrote. The program writes into a temporary file next to the
//! output, renamed over it once the program is done, so a run that writes nothing
//! leaves an earlier profile alone.
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
    /// How many sites and stacks the report lists.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    #[command(flatten)]
    pub frames: crate::trim::FrameOpts,
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
    let dir = output.parent().unwrap_or(Path::new("."));
    let name = output.file_name().map_or_else(
        || "profile.json".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let temp = dir.join(format!(".{name}.run-{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);

    let mut cmd = Command::new(program);
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
                "no profile was written to {} (was it built with spanprof::SpanAlloc as its #[global_allocator]?)",
                args.output.display()
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
    std::fs::rename(&temp, &output).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        CliError::new(
            output.display(),
            format!("cannot move the profile into place: {e}"),
        )
    })?;
    if !status.success() {
        eprintln!(
            "spanprof: {shown}: {} (rendering the profile it wrote)",
            describe(status)
        );
    }

    let file = args.output.display().to_string();
    let mut profile = load::load(&args.output)?;
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
    write_output(Path::new("-"), text.as_bytes())?;
    Ok(code)
}
