//! The output layer of `check`: every finding goes through [`Findings`],
//! which prints it as text as it is found, or collects it for one JSON
//! object at the end (`--format json`). The analysis never prints.

use serde::Serialize;

use crate::args::Format;
use crate::{Problems, json};

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    /// Verified and fine.
    Ok,
    /// Worth knowing; nothing to fix.
    Note,
    /// Weaker than it should be; not a failure.
    Warning,
    /// The module would refuse logins: exit status 1.
    Problem,
}

/// One finding, as `--format json` prints it.
#[derive(Debug, Serialize)]
struct Finding {
    level: Level,
    message: String,
}

/// Where `check`'s findings go.
pub(crate) struct Findings<'a> {
    format: Format,
    problems: &'a mut Problems,
    found: Vec<Finding>,
}

impl<'a> Findings<'a> {
    /// Findings printed in `format`; problems are also counted (and, as for
    /// every command, told on stderr) in `problems`.
    pub(crate) fn new(format: Format, problems: &'a mut Problems) -> Self {
        Self {
            format,
            problems,
            found: Vec::new(),
        }
    }

    /// Records a finding.
    pub(crate) fn add(&mut self, level: Level, message: impl std::fmt::Display) {
        let message = message.to_string();
        match (level, self.format) {
            (Level::Problem, _) => self.problems.report(&message),
            (Level::Ok, Format::Text) => println!("ok: {message}"),
            (Level::Note, Format::Text) => println!("note: {message}"),
            (Level::Warning, Format::Text) => eprintln!("backup-codes: warning: {message}"),
            (_, Format::Json) => {}
        }
        self.found.push(Finding { level, message });
    }

    /// Prints the JSON object, if that is the format: `findings` (level:
    /// ok, note, warning or problem; message) and `problems` (their count).
    pub(crate) fn finish(self) {
        if self.format != Format::Json {
            return;
        }
        #[derive(Serialize)]
        struct Report<'a> {
            findings: &'a [Finding],
            problems: usize,
        }
        let problems = self.found.iter().filter(|f| f.level == Level::Problem).count();
        if let Err(e) = json::print_line(&Report {
            findings: &self.found,
            problems,
        }) {
            self.problems
                .report(format_args!("printing the findings failed: {e}"));
        }
    }
}
