//! Progress for the subcommands that can take more than a second: a spinner on
//! stderr with what is being done. indicatif draws nothing when stderr is not a
//! terminal (pipes, CI, tests) or `TERM` is dumb, so output stays clean there.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner saying `what`; finish it with [`done`].
pub fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Clears the spinner.
pub fn done(bar: ProgressBar) {
    bar.finish_and_clear();
}
