//! The `spanprof` command: reports, flamegraphs, pprof, diffs, escape analysis and
//! audits from spanprof profiles. This file is the command line and the dispatch;
//! each subcommand lives in its own module.

mod audit;
mod demo;
mod diff;
mod escape;
mod flame;
mod folded;
mod forward;
mod grown;
mod html;
mod label;
mod load;
mod names;
mod output;
mod pprof;
mod preload;
mod progress;
mod report;
mod run;
mod svg;
mod symbolize;
mod timeline;
mod trim;
mod views;
mod workload;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use output::{CliError, Result, check_not_input, write_output};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

// The CLI is a Rust program too: `spanprof demo` profiles its own workload. With no
// SPANPROF_RATE the sampler is off and the other subcommands pay next to nothing.
#[global_allocator]
static GLOBAL: spanprof::SpanAlloc = spanprof::SpanAlloc::new();

#[derive(Parser, Debug)]
#[command(
    name = "spanprof",
    version,
    about = "Heap profiles of Rust programs, the Go way"
)]
struct Cli {
    /// When to colour report and audit text: auto = on a terminal, unless NO_COLOR
    /// is set.
    #[arg(long, global = true, value_enum, default_value_t, value_name = "WHEN")]
    color: report::ColorWhen,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print Go's size-class table.
    Classes,
    /// Totals, top sites, size classes, large objects, heap events and top stacks.
    Report {
        /// The profile (JSON, written with SPANPROF_OUT).
        profile: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// How many sites and stacks to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Only the Leaks section: what was still live when the profile was written,
        /// per site stack (exact) and sampled stack (estimated), largest first.
        #[arg(long)]
        leaks: bool,
        #[command(flatten)]
        frames: trim::FrameOpts,
    },
    /// CI gates on one profile: exit 1 with a one-line reason when it breaks a limit.
    Check {
        /// The profile (JSON, written with SPANPROF_OUT).
        profile: PathBuf,
        /// The most bytes that may still be live when the profile was written (slot
        /// or page-rounded bytes: `4096`, `64KiB`, `1MiB`). Objects reachable from
        /// statics count as leaked.
        #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
        max_leaked_bytes: Option<u64>,
    },
    /// Draw a flamegraph SVG of the heap.
    Flamegraph {
        profile: PathBuf,
        /// Output file (`-` = stdout).
        #[arg(short, long, default_value = "heap.svg")]
        output: PathBuf,
        #[command(flatten)]
        stacks: folded::StackOpts,
        #[command(flatten)]
        frames: trim::FrameOpts,
        /// Draw top-down (icicle graph).
        #[arg(long)]
        icicle: bool,
        /// Title of the graph.
        #[arg(long)]
        title: Option<String>,
    },
    /// Draw the heap over time as an SVG chart: levels, rates, heap events and the peak.
    Timeline {
        profile: PathBuf,
        /// Output file (`-` = stdout).
        #[arg(short, long, default_value = "timeline.svg")]
        output: PathBuf,
    },
    /// One self-contained HTML page: summary, timeline, peak, leaks, flamegraphs, audit.
    ///
    /// Sections: the summary, the heap over time, Peak, Leaks and Temporary
    /// allocations tables, the flamegraphs (interactive: zoom and search), the sites,
    /// the size classes and the audit; a section whose data the profile lacks says
    /// "not recorded". Everything is inline: the page needs no network.
    Html {
        profile: PathBuf,
        /// Output file (`-` = stdout).
        #[arg(short, long, default_value = "report.html")]
        output: PathBuf,
        #[command(flatten)]
        frames: trim::FrameOpts,
    },
    /// Print folded stacks (`root;…;leaf weight`), as flamegraph tools read them.
    #[command(after_long_help = "\
Frame names are escaped where the folded format cannot carry them: `;` (the frame
separator), control characters (line breaks, ESC, NUL, ...) and U+FFFE/U+FFFF, white
space at either end of a name, the space before a trailing number (`size 42` would be
read as a count), the `#` of a leading `# ` (a comment line) and the `_` of a trailing
`_[k]`, `_[w]`, `_[i]` or `_[j]` are written \\u{...} (the code point in hex), and a
backslash is written \\\\. Undo those two escapes to get the name back.")]
    Folded {
        profile: PathBuf,
        /// Output file (`-` = stdout).
        #[arg(short, long, default_value = "-")]
        output: PathBuf,
        #[command(flatten)]
        stacks: folded::StackOpts,
        #[command(flatten)]
        frames: trim::FrameOpts,
    },
    /// Write a gzipped pprof protobuf (Go's heap sample types) for `go tool pprof`.
    Pprof {
        profile: PathBuf,
        /// Output file (`-` = stdout).
        #[arg(short, long, default_value = "heap.pb.gz")]
        output: PathBuf,
        /// The sample type `go tool pprof` shows by default (default: inuse_space
        /// when at least a tenth of the sampled bytes were still in use when the
        /// profile was written, else alloc_space).
        #[arg(long, value_enum, value_name = "TYPE")]
        sample_index: Option<pprof::SampleIndex>,
        #[command(flatten)]
        frames: trim::FrameOpts,
    },
    /// Name a stripped binary's unresolved frames from an unstripped copy or debug files
    ///
    /// Fills in the functions, files and lines of the addresses a profile could not
    /// resolve when it was written (a stripped binary, a library without symbols),
    /// then trims its stacks again as the runtime does with names.
    #[command(after_long_help = "\
Each module of the profile is matched by its GNU build ID to a --binary file or to a
debug file in /usr/lib/debug/.build-id/xx/yyyy.debug or debuginfod's cache
($DEBUGINFOD_CACHE_PATH, else ~/.cache/debuginfod_client: <build-id>/debuginfo).")]
    Symbolize {
        /// The profile (JSON), taken from the stripped binary.
        profile: PathBuf,
        /// An unstripped copy of the program (or of a library) the profile was taken
        /// from, or its separate debug file (repeatable).
        #[arg(long)]
        binary: Vec<PathBuf>,
        /// Output file (`-` = stdout; default: PROFILE with `.symbolized` before its
        /// extension). Never the input.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Differential flamegraph of two profiles and a table of what changed most.
    Diff {
        before: PathBuf,
        after: PathBuf,
        /// Output file (`-` = stdout; the table then goes to stderr).
        #[arg(short, long, default_value = "diff.svg")]
        output: PathBuf,
        #[command(flatten)]
        stacks: folded::StackOpts,
        #[command(flatten)]
        frames: trim::FrameOpts,
        #[arg(long)]
        icicle: bool,
        #[arg(long)]
        title: Option<String>,
        /// Rows in the change table.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Exit 1 when the total or any stack (as drawn: same --stacks, --weight and
        /// --size-class) grew by more than this: bytes (`4096`, `64KiB`, `1MiB`, `1MB`)
        /// or a percentage of its value before (`10%`; a new stack always counts).
        /// Site stacks (`--stacks sites`) are exact; sampled stacks are estimates.
        #[arg(long, value_name = "BYTES|PCT")]
        fail_if_grown: Option<grown::Limit>,
    },
    /// Static escape analysis of Rust sources, in Go's `-gcflags=-m` format.
    ///
    /// Folders are read recursively, following symbolic links but reading each real
    /// folder and file once; target/ and hidden folders are skipped. A file that cannot
    /// be read or parsed, or nests too deeply (more than 10,000 levels), is skipped with
    /// one warning line on stderr (`spanprof: warning: FILE:LINE:COL: PROBLEM`) and the
    /// rest is analysed.
    ///
    /// Exit status: 0 when the report was written, even if some files were skipped; 1
    /// when no file at all could be analysed, or when --check finds an escaping
    /// allocation in a no_escape function; 2 for a usage error.
    Escape {
        /// Files or folders (default: the sources of the cargo package or workspace here).
        ///
        /// With no PATH, the Cargo.toml here or in the nearest folder above (as cargo
        /// finds it) says what to read, without running cargo: the src/ and examples/
        /// folders of the package, or of the root package and of every workspace member
        /// (`members` globs expanded, `exclude` honoured). tests/ and benches/ are left
        /// out, as `go build -gcflags=-m` leaves out _test.go files: name them to read
        /// them too.
        paths: Vec<PathBuf>,
        /// Show why: the flow that led to each verdict.
        #[arg(short, long)]
        verbose: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Keep only these verdicts (repeatable).
        #[arg(long, value_enum)]
        only: Vec<escape::OnlyKind>,
        /// Exit 1 when a function marked `#[track_alloc(no_escape)]` has an allocation
        /// that escapes, leaks or may escape (each reported on stderr): the CI gate.
        #[arg(long)]
        check: bool,
    },
    /// Types named by escape findings: size class, slot, waste and how to save.
    Audit {
        profile: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Run a program built with spanprof, then print its report and draw its flamegraph.
    Run(run::RunArgs),
    /// Run a built-in workload under spanprof and write every output into DIR.
    Demo {
        #[arg(default_value = "spanprof-demo")]
        dir: PathBuf,
    },
    /// Print the shell completion script for `spanprof` to stdout.
    #[command(after_long_help = "\
Install (then start a new shell):
  bash  spanprof completions bash > ~/.local/share/bash-completion/completions/spanprof
  zsh   spanprof completions zsh > ~/.zfunc/_spanprof
        (and in ~/.zshrc: `fpath=(~/.zfunc $fpath); autoload -Uz compinit; compinit`)
  fish  spanprof completions fish > ~/.config/fish/completions/spanprof.fish")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn parse_bytes(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|e| format!("{e}"));
    }
    load::parse_size(t).ok_or_else(|| "not a size (give bytes like 4096, 64KiB or 1MiB)".into())
}

fn json<T: serde::Serialize>(value: &T) -> String {
    // Plain data with string keys: serialising cannot fail.
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

fn stdout(text: &str) -> Result<()> {
    write_output(Path::new("-"), text.as_bytes())
}

/// Loads a profile for display: its stacks trimmed of the allocation machinery
/// unless `frames` keeps it.
fn load_shown(profile: &Path, frames: trim::FrameOpts) -> Result<spanprof::Profile> {
    let mut p = load::load(profile)?;
    trim::apply(&mut p, frames);
    Ok(p)
}

fn folded_lines(
    profile: &Path,
    opts: &folded::StackOpts,
    frames: trim::FrameOpts,
) -> Result<Vec<String>> {
    let p = load_shown(profile, frames)?;
    let f = folded::fold(&p, &profile.display().to_string(), opts)?;
    Ok(f.iter().map(|(s, w)| format!("{s} {w}")).collect())
}

fn run(cli: Cli) -> Result<()> {
    // How report and audit text is styled on stdout (--color, NO_COLOR, a terminal).
    let paint = report::Paint::for_stdout(cli.color);
    match cli.command {
        Command::Classes => stdout(&spanprof::size_class::render_table()),
        Command::Report {
            profile,
            format,
            top,
            leaks,
            frames,
        } => {
            let r = report::build(&load_shown(&profile, frames)?, top);
            match (format, leaks) {
                (Format::Text, false) => stdout(&report::render(&r, paint)),
                (Format::Json, false) => stdout(&json(&r)),
                (Format::Text, true) => {
                    let mut o = String::new();
                    views::render_leaks(&mut o, &r.leaks, paint);
                    stdout(o.trim_start())
                }
                (Format::Json, true) => stdout(&json(&r.leaks)),
            }
        }
        Command::Check {
            profile,
            max_leaked_bytes,
        } => {
            let Some(max) = max_leaked_bytes else {
                return Err(CliError::usage(
                    "check",
                    "nothing to check: give a limit (--max-leaked-bytes BYTES)",
                ));
            };
            let p = load::load(&profile)?;
            let name = profile.display().to_string();
            views::check_leaks(&p, max).map_err(|e| CliError::new(&name, e))
        }
        Command::Flamegraph {
            profile,
            output,
            stacks,
            frames,
            icicle,
            title,
        } => {
            check_not_input(&output, &[&profile])?;
            let lines = folded_lines(&profile, &stacks, frames)?;
            let look = flame::Look { title, icicle };
            let svg = flame::svg(&profile.display().to_string(), &lines, &stacks, &look)?;
            write_output(&output, &svg)
        }
        Command::Timeline { profile, output } => {
            check_not_input(&output, &[&profile])?;
            let p = load::load(&profile)?;
            write_output(&output, &timeline::svg(&p, &profile.display().to_string())?)
        }
        Command::Html {
            profile,
            output,
            frames,
        } => {
            check_not_input(&output, &[&profile])?;
            let p = load_shown(&profile, frames)?;
            write_output(
                &output,
                html::page(&p, &profile.display().to_string())?.as_bytes(),
            )
        }
        Command::Folded {
            profile,
            output,
            stacks,
            frames,
        } => {
            check_not_input(&output, &[&profile])?;
            let p = load_shown(&profile, frames)?;
            let f = folded::fold(&p, &profile.display().to_string(), &stacks)?;
            write_output(&output, folded::render(&f).as_bytes())
        }
        Command::Pprof {
            profile,
            output,
            frames,
            sample_index,
        } => {
            check_not_input(&output, &[&profile])?;
            let p = load_shown(&profile, frames)?;
            write_output(
                &output,
                &pprof::gzipped_as(&p, &profile.display().to_string(), sample_index)?,
            )
        }
        Command::Symbolize {
            profile,
            binary,
            output,
        } => {
            let output = output.unwrap_or_else(|| symbolize::default_output(&profile));
            check_not_input(&output, &[&profile])?;
            let name = profile.display().to_string();
            let mut p = load::load(&profile)?;
            let summary = symbolize::symbolize(&mut p, &name, &binary)?;
            let mut text = serde_json::to_vec(&p)
                .map_err(|e| CliError::new(&name, format!("cannot write JSON: {e}")))?;
            text.push(b'\n');
            write_output(&output, &text)?;
            eprintln!("{}", symbolize::summary_line(&summary, &output));
            Ok(())
        }
        Command::Diff {
            before,
            after,
            output,
            stacks,
            frames,
            icicle,
            title,
            top,
            fail_if_grown,
        } => {
            check_not_input(&output, &[&before, &after])?;
            let fail_if_grown = fail_if_grown
                .map(|l| l.fits(stacks.weight))
                .transpose()
                .map_err(|e| CliError::usage("diff", e))?;
            let (b, a) = (load_shown(&before, frames)?, load_shown(&after, frames)?);
            let (bn, an) = (before.display().to_string(), after.display().to_string());
            let (bf, af) = diff::fold_both((&b, &bn), (&a, &an), &stacks)?;
            let look = flame::Look {
                title: title.or_else(|| Some(format!("{} (diff)", flame::default_title(&stacks)))),
                icicle,
            };
            let lines = diff::lines(&bf, &af);
            if lines.is_empty() && fail_if_grown.is_some() {
                // Nothing grew where there is nothing: the gate passes (an in-use gate
                // on two profiles that free everything), with no graph to draw.
                eprintln!(
                    "spanprof: {an}: nothing to draw: no allocations match these options in either profile"
                );
            } else {
                write_output(&output, &flame::diff_svg(&an, &lines, &stacks, &look)?)?;
            }
            let table = diff::table((&b, &a), (&bf, &af), &stacks, top);
            if output.as_os_str() == "-" {
                eprint!("{table}");
            } else {
                stdout(&table)?;
            }
            // Last, so a failing CI run still has the graph and the table to look at.
            match fail_if_grown.and_then(|limit| grown::check(&bf, &af, stacks.weight, limit)) {
                Some(breach) => Err(CliError::new(&an, breach)),
                None => Ok(()),
            }
        }
        Command::Escape {
            paths,
            verbose,
            format,
            only,
            check,
        } => {
            let paths = escape::default_paths(paths)?;
            let bar = progress::spinner("analysing sources");
            let analysis = escape::analyze(&paths, &only);
            progress::done(bar);
            stdout(&escape::render(
                &analysis.findings,
                format == Format::Json,
                verbose,
            ))?;
            escape::check_analysed(&analysis, &paths)?;
            if check {
                escape::check_gates(&analysis.findings)?;
            }
            Ok(())
        }
        Command::Audit { profile, format } => {
            let rows = audit::build(&load::load(&profile)?);
            match format {
                Format::Text => stdout(&audit::render(&rows, paint)),
                Format::Json => stdout(&json(&rows)),
            }
        }
        Command::Demo { dir } => {
            let bar = progress::spinner("running the demo workload and writing its outputs");
            let result = demo::run(&dir, paint);
            progress::done(bar);
            let (text, written) = result?;
            let mut out = text;
            out.push_str("\nWrote:\n");
            for p in written {
                out.push_str(&format!("  {}\n", p.display()));
            }
            stdout(&out)
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "spanprof", &mut script);
            write_output(Path::new("-"), &script)
        }
        // Handled in `main`: it ends with the program's exit status.
        Command::Run(_) => Ok(()),
    }
}

fn main() -> ExitCode {
    // This binary runs on spanprof (for `demo`); a SPANPROF_OUT or SPANPROF_RATE meant
    // for the program being profiled must not make the CLI sample itself or write its
    // own profile over the one it is reading.
    spanprof::cancel_exit_profile();
    spanprof::set_sample_rate(0);
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args, report::Paint::for_stdout(cli.color)),
        command => run(Cli {
            command,
            color: cli.color,
        })
        .map(|()| 0),
    };
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.code)
        }
    }
}
