//! Progress bars (indicatif) for work that takes a while: unpacking a large
//! package, deleting one, changing a view over many packages. A bar is drawn
//! only on a terminal (stderr), never with `-q`, and only for work large
//! enough to be worth watching; everywhere else it is a no-op.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Files above which an unpack or delete shows a bar.
pub const MANY_FILES: u64 = 2_000;
/// Bytes above which an unpack shows a bar.
pub const MANY_BYTES: u64 = 20 << 20;

/// No bars from now on (`-q`).
pub fn quiet() {
    QUIET.store(true, Ordering::Relaxed);
}

/// A bar over files (with the bytes done in its message), or nothing.
pub struct Progress {
    bar: Option<ProgressBar>,
    bytes: AtomicU64,
}

impl Progress {
    /// A bar for `what` over `files` files of `bytes` bytes in all, when that
    /// is large and stderr is a terminal (`DEPOT_PROGRESS=always` draws it
    /// whatever the size, `never` never).
    pub fn new(what: &str, files: u64, bytes: u64) -> Progress {
        let forced = std::env::var("DEPOT_PROGRESS").ok();
        let wanted = match forced.as_deref() {
            Some("never") => false,
            Some("always") => true,
            _ => files > MANY_FILES || bytes > MANY_BYTES,
        };
        let target = ProgressDrawTarget::stderr();
        if !wanted || QUIET.load(Ordering::Relaxed) || target.is_hidden() {
            return Progress {
                bar: None,
                bytes: AtomicU64::new(0),
            };
        }
        let bar = ProgressBar::with_draw_target(Some(files), target);
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} files, {msg} ({elapsed})",
        )
        .map_or_else(
            |_| ProgressStyle::default_bar(),
            |s| s.progress_chars("=> "),
        );
        bar.set_style(style);
        bar.set_prefix(what.to_owned());
        Progress {
            bar: Some(bar),
            bytes: AtomicU64::new(0),
        }
    }

    /// One more file of `bytes` bytes done (from any thread).
    pub fn file(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            let done = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
            bar.inc(1);
            if bar.position() % 64 == 0 {
                bar.set_message(indicatif::HumanBytes(done).to_string());
            }
        }
    }

    /// `n` more files done, their sizes not counted (from any thread).
    pub fn files(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Done: the bar is cleared.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
