//! The `spanprof` command.
//!
//! Only `spanprof classes` exists so far (it prints the size-class table); reports,
//! flamegraphs, audits and pprof arrive with the CLI issue.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("classes") => {
            print!("{}", spanprof::size_class::render_table());
            ExitCode::SUCCESS
        }
        Some("--version") | Some("-V") => {
            println!("spanprof {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("spanprof: unknown command '{other}' (available: classes)");
            ExitCode::from(2)
        }
        None => {
            eprintln!("usage: spanprof classes");
            ExitCode::from(2)
        }
    }
}
