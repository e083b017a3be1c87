//! A progress bar on stderr for long offline reads, only on a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Files smaller than this read too fast to need a bar.
const MIN_BYTES: u64 = 64 << 20;

/// Progress over the bytes of all input files.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar over `total` bytes, or nothing when stderr is not a terminal,
    /// the input is small, or the user said no.
    pub fn new(total: u64, disabled: bool) -> Self {
        if disabled || total < MIN_BYTES || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        Progress { bar: Some(bar) }
    }

    /// Moves the bar to `pos` bytes.
    pub fn set(&self, pos: u64) {
        if let Some(b) = &self.bar {
            b.set_position(pos);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
