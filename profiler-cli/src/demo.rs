//! `spanprof demo`: runs the built-in workload in this process under spanprof's
//! allocator and writes everything the CLI makes from it into one folder.

use crate::folded::{StackOpts, Stacks, Weight, fold};
use crate::output::{CliError, Result, write_output};
use crate::{audit, flame, pprof, report};
use std::path::{Path, PathBuf};

/// Runs the workload and writes the files; returns the report and the paths written.
pub fn run(dir: &Path, paint: report::Paint) -> Result<(String, Vec<PathBuf>)> {
    spanprof::set_sample_rate(4096);
    let checksum = crate::workload::run(200);
    let profile = spanprof::profile();
    spanprof::set_sample_rate(0);
    std::hint::black_box(checksum);

    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::new(dir.display(), format!("cannot create the folder: {e}")))?;
    let mut written = Vec::new();
    let mut write = |name: &str, bytes: &[u8]| -> Result<()> {
        let path = dir.join(name);
        write_output(&path, bytes)?;
        written.push(path);
        Ok(())
    };
    let file = "profile.json";
    let json = serde_json::to_vec_pretty(&profile)
        .map_err(|e| CliError::new(file, format!("cannot serialise: {e}")))?;
    write(file, &json)?;
    // The file keeps every frame; what is drawn from it starts at the allocating code.
    let mut profile = profile;
    crate::trim::alloc_frames(&mut profile);

    let look = flame::Look {
        title: None,
        icicle: false,
    };
    let graphs = [
        ("heap.svg", Stacks::Native, Weight::AllocBytes, false),
        ("refills.svg", Stacks::Sites, Weight::Refills, false),
        ("classes.svg", Stacks::Sites, Weight::AllocBytes, true),
    ];
    for (name, stacks, weight, class_frames) in graphs {
        let opts = StackOpts {
            weight,
            stacks,
            size_class: None,
            class_frames,
        };
        let lines: Vec<String> = fold(&profile, file, &opts)?
            .iter()
            .map(|(s, w)| format!("{s} {w}"))
            .collect();
        write(name, &flame::svg(file, &lines, &opts, &look)?)?;
    }
    write("heap.pb.gz", &pprof::gzipped(&profile, file)?)?;
    write(
        "audit.txt",
        audit::render_text(&audit::build(&profile)).as_bytes(),
    )?;
    let src = include_str!("workload.rs");
    let findings = spanprof_escape::analyze_file(src, "src/workload.rs")
        .map_err(|e| CliError::new("src/workload.rs", e.message))?;
    write(
        "escape.txt",
        spanprof_escape::render_text(&findings, false).as_bytes(),
    )?;
    write("report.html", crate::html::page(&profile, file)?.as_bytes())?;
    let text = report::render(&report::build(&profile, 10), paint);
    Ok((text, written))
}
