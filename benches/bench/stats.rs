//! The statistics and the table of `make bench`: medians of interleaved
//! rounds, units, targets and the Markdown rows.

use std::fmt::Write as _;
use std::time::Instant;

/// Median, min and max of a set of samples, in seconds.
#[derive(Clone, Copy)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(samples: &[f64]) -> Self {
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Self {
            median,
            min: s[0],
            max: s[n - 1],
        }
    }
}

/// Times every job once per round, for `runs` rounds after a warm-up round,
/// so that a change of load on the machine hits every job alike. Returns the
/// samples of each job, in seconds.
pub fn rounds(runs: usize, jobs: &mut [&mut dyn FnMut()]) -> Vec<Vec<f64>> {
    let mut samples = vec![Vec::with_capacity(runs); jobs.len()];
    let n = jobs.len();
    for round in 0..=runs {
        // A different job goes first each round: the first after a pause
        // (a fork, a sleep) tends to be the slowest.
        for k in 0..n {
            let i = (round + k) % n;
            let start = Instant::now();
            jobs[i]();
            if round > 0 {
                samples[i].push(start.elapsed().as_secs_f64());
            }
        }
    }
    samples
}

/// How a figure is shown.
pub enum Unit {
    Seconds,
    KiB,
    Ratio,
    PerSecond,
    /// A plain count (sessions, rows).
    Count,
}

pub fn show(value: f64, unit: &Unit) -> String {
    match unit {
        Unit::Seconds if value >= 1.0 => format!("{value:.2} s"),
        Unit::Seconds if value.abs() >= 1e-3 => format!("{:.1} ms", value * 1e3),
        Unit::Seconds => format!("{:.0} µs", value * 1e6),
        Unit::KiB => format!("{:.1} MiB", value / 1024.0),
        Unit::Ratio => format!("{value:.2}x"),
        Unit::PerSecond => format!("{value:.1}/s"),
        Unit::Count => format!("{value:.0}"),
    }
}

/// A target: the ratio of the median to a reference, and the bound it should meet.
pub enum Target {
    /// Reported for comparison only.
    None { ratio: Option<f64> },
    /// Every sample equal to `value` (a count that must be exact): no ratio.
    Exactly { value: f64, text: String },
    /// median / reference <= bound.
    AtMost {
        bound: f64,
        reference: f64,
        text: String,
    },
    /// median / reference >= bound.
    AtLeast {
        bound: f64,
        reference: f64,
        text: String,
    },
}

/// The Markdown table, row by row.
pub struct Table {
    pub text: String,
}

impl Table {
    pub fn new() -> Self {
        let mut text = String::new();
        text += "| measurement | median | min | max | target | ratio | met |\n";
        text += "| --- | ---: | ---: | ---: | --- | ---: | --- |\n";
        Self { text }
    }

    pub fn row(&mut self, what: &str, stats: Stats, unit: Unit, target: Target) {
        let (target_text, ratio, met) = match target {
            Target::None { ratio } => ("-".to_owned(), ratio, "-"),
            Target::Exactly { value, text } => {
                let exact = stats.min == value && stats.max == value;
                (text, None, if exact { "met" } else { "NOT met" })
            }
            Target::AtMost {
                bound,
                reference,
                text,
            } => {
                let ratio = stats.median / reference;
                (text, Some(ratio), if ratio <= bound { "met" } else { "NOT met" })
            }
            Target::AtLeast {
                bound,
                reference,
                text,
            } => {
                let ratio = stats.median / reference;
                (text, Some(ratio), if ratio >= bound { "met" } else { "NOT met" })
            }
        };
        let ratio = ratio.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
        let _ = writeln!(
            self.text,
            "| {what} | {} | {} | {} | {target_text} | {ratio} | {met} |",
            show(stats.median, &unit),
            show(stats.min, &unit),
            show(stats.max, &unit),
        );
        // Rows appear as they are measured; the whole table is printed at the end.
        eprintln!("bench: {what}: median {}", show(stats.median, &unit));
    }
}

/// A positive count from the environment, else `default`.
pub fn env_runs(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}
