//! Progress bars for work over large files, on stderr (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// Below this a bar would only flicker: small files take well under a second.
const MIN_BYTES_FOR_A_BAR: u64 = 64 << 20;

/// A byte-counting bar for `total` bytes of `what`, or a hidden one for small totals.
pub fn bytes_bar(total: u64, what: &str) -> ProgressBar {
    if total < MIN_BYTES_FOR_A_BAR {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
    )
    .map(|style| style.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::new(total).with_style(style);
    bar.set_message(what.to_string());
    bar
}
