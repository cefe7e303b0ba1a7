//! The output layer of `check`: every finding goes through [`Findings`],
//! which prints it as text as it is found, or collects it for one JSON
//! object at the end (`--format json`). The analysis never prints.

use std::process::ExitCode;

use serde::Serialize;

use crate::args::Format;
use crate::json;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    /// Verified and fine.
    Ok,
    /// Worth knowing; nothing to fix.
    Note,
    /// Weaker than it should be; not a failure.
    Warning,
    /// Something could not be checked (unreadable, a tool that failed, not
    /// root): exit status 2 unless a problem was found.
    Unchecked,
    /// The module would refuse logins, or someone gets around the code:
    /// exit status 1.
    Problem,
}

/// Which part of `check` made a finding: a stable name for `--format json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Check {
    /// The configuration file.
    Config,
    /// One pam.d line that loads the module (its arguments).
    Line,
    /// A pam.d service's auth stack as libpam runs it.
    Stack,
    /// A store.
    Store,
    /// sshd's effective settings for the members of a code group.
    Sshd,
    /// A group a stack names (`pam_succeed_if ... ingroup G`).
    Group,
    /// sudo's choice of PAM service.
    Sudo,
    /// Whether `check` could read everything (root).
    Access,
}

/// One finding, as `--format json` prints it.
#[derive(Debug, Serialize)]
struct Finding {
    level: Level,
    check: Check,
    /// What it is about: a file (and line), a service, a user, a group.
    subject: String,
    message: String,
}

/// Where `check`'s findings go.
pub(crate) struct Findings {
    format: Format,
    quiet: bool,
    found: Vec<Finding>,
}

impl Findings {
    /// Findings printed in `format`; `quiet` leaves out all but problems and
    /// what could not be checked.
    pub(crate) fn new(format: Format, quiet: bool) -> Self {
        Self {
            format,
            quiet,
            found: Vec::new(),
        }
    }

    /// Records a finding about `subject`; the text form is
    /// `LEVEL: SUBJECT: MESSAGE`.
    pub(crate) fn add(&mut self, level: Level, check: Check, subject: &str, message: impl std::fmt::Display) {
        let message = message.to_string();
        let shown = !self.quiet || level >= Level::Unchecked;
        // Most messages (a store's, a group's) name their subject already.
        let text = if subject.is_empty() || message.contains(subject) {
            message.clone()
        } else {
            format!("{subject}: {message}")
        };
        // Problems and what could not be checked go to stderr in JSON too,
        // as every command tells its failures.
        match (level, self.format) {
            (Level::Unchecked, _) => eprintln!("backup-codes: could not check: {text}"),
            (Level::Problem, _) => eprintln!("backup-codes: {text}"),
            (_, Format::Json) => {}
            _ if !shown => {}
            (Level::Ok, _) => println!("ok: {text}"),
            (Level::Note, _) => println!("note: {text}"),
            (Level::Warning, _) => eprintln!("backup-codes: warning: {text}"),
        }
        if shown {
            self.found.push(Finding {
                level,
                check,
                subject: subject.to_owned(),
                message,
            });
        }
    }

    /// How many findings of `level` were recorded.
    fn count(&self, level: Level) -> usize {
        self.found.iter().filter(|f| f.level == level).count()
    }

    /// Prints the JSON object, if that is the format: `findings` (level:
    /// ok, note, warning, unchecked or problem; check; subject; message),
    /// `problems` and `unchecked` (their counts); returns the exit status:
    /// 1 if a problem was found, else 2 if something could not be checked.
    pub(crate) fn finish(self) -> ExitCode {
        let problems = self.count(Level::Problem);
        let unchecked = self.count(Level::Unchecked);
        if self.format == Format::Json {
            #[derive(Serialize)]
            struct Report<'a> {
                findings: &'a [Finding],
                problems: usize,
                unchecked: usize,
            }
            if let Err(e) = json::print_line(&Report {
                findings: &self.found,
                problems,
                unchecked,
            }) {
                eprintln!("backup-codes: printing the findings failed: {e}");
                return ExitCode::from(2);
            }
        }
        match (problems, unchecked) {
            (0, 0) => ExitCode::SUCCESS,
            (0, _) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}
