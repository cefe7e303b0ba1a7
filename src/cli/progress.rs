//! A one-line progress bar on stderr, drawn only when stderr is a terminal.
//!
//! Hand-written rather than a dependency: one line, redrawn at most ten times
//! a second, cleared before any other message so the two never mix.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

/// Redraw no more often than this.
const INTERVAL: Duration = Duration::from_millis(100);
/// Characters of the bar itself.
const WIDTH: usize = 30;

/// Progress through `total` items of work.
pub(super) struct Progress {
    what: &'static str,
    total: usize,
    done: usize,
    start: Instant,
    last_draw: Option<Instant>,
    /// False when stderr is not a terminal: then nothing is ever written.
    enabled: bool,
}

impl Progress {
    /// A bar for `total` items named `what` ("users"); silent unless stderr
    /// is a terminal and there is more than one item.
    pub(super) fn new(what: &'static str, total: usize) -> Self {
        Self {
            what,
            total,
            done: 0,
            start: Instant::now(),
            last_draw: None,
            enabled: total > 1 && io::stderr().is_terminal(),
        }
    }

    /// One more item done.
    pub(super) fn tick(&mut self) {
        self.done += 1;
        let now = Instant::now();
        if self.done == self.total || self.last_draw.is_none_or(|t| now - t >= INTERVAL) {
            self.draw(now);
        }
    }

    /// Erases the bar, so that a message can be printed; the next tick redraws it.
    pub(super) fn clear(&mut self) {
        if self.enabled && self.last_draw.is_some() {
            let _ = write!(io::stderr().lock(), "\r\x1b[2K");
            self.last_draw = None;
        }
    }

    /// Erases the bar for good.
    pub(super) fn finish(&mut self) {
        self.clear();
        self.enabled = false;
    }

    fn draw(&mut self, now: Instant) {
        if !self.enabled {
            return;
        }
        self.last_draw = Some(now);
        let line = render(self.what, self.done, self.total, now - self.start);
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }
}

/// The bar's text, e.g. `[#####-----] 120/1000 users, 5.2/s, 2m49s left`.
fn render(what: &str, done: usize, total: usize, elapsed: Duration) -> String {
    let total = total.max(1);
    let filled = WIDTH * done.min(total) / total;
    let bar: String = "#".repeat(filled) + &"-".repeat(WIDTH - filled);
    let secs = elapsed.as_secs_f64();
    let mut line = format!("[{bar}] {done}/{total} {what}");
    if done > 0 && secs > 0.0 {
        let rate = done as f64 / secs;
        let left = (total - done.min(total)) as f64 / rate;
        line += &format!(", {rate:.1}/s, {} left", short_duration(left));
    }
    line
}

fn short_duration(secs: f64) -> String {
    let secs = secs.round() as u64;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_count_rate_and_time_left() {
        let line = render("users", 50, 200, Duration::from_secs(10));
        assert_eq!(
            line,
            format!(
                "[{}{}] 50/200 users, 5.0/s, 30s left",
                "#".repeat(7),
                "-".repeat(23)
            )
        );
        let start = render("users", 0, 200, Duration::ZERO);
        assert_eq!(start, format!("[{}] 0/200 users", "-".repeat(WIDTH)));
        let end = render("users", 3600, 3600, Duration::from_secs(7300));
        assert!(
            end.starts_with(&format!("[{}] 3600/3600", "#".repeat(WIDTH))),
            "{end}"
        );
        assert!(end.ends_with("0s left"), "{end}");
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(59.4), "59s");
        assert_eq!(short_duration(169.0), "2m49s");
        assert_eq!(short_duration(7500.0), "2h05m");
    }

    #[test]
    fn one_item_shows_no_bar() {
        let mut progress = Progress::new("users", 1);
        assert!(!progress.enabled);
        progress.tick();
        assert!(progress.last_draw.is_none(), "nothing was drawn");
    }
}
