//! What the `backup-codes` CLI answered, in one shape for every test:
//! [`CliRun`] (exit status, stdout, stderr), made by [`RunCli::run_cli`].

use std::process::{Command, Output};

#[allow(dead_code)] // not every test crate uses it
/// One run of the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliRun {
    /// The exit status (`None`: killed by a signal).
    pub status: Option<i32>,
    /// Standard output, as text.
    pub stdout: String,
    /// Standard error, as text.
    pub stderr: String,
}

#[allow(dead_code)] // not every test crate uses it
impl CliRun {
    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// The codes of a text sheet on its standard output (the default format
    /// with its check symbol, `XXXXX-XXXXX-C`).
    pub fn sheet_codes(&self) -> Vec<String> {
        self.stdout
            .split_whitespace()
            .filter(|w| w.len() == 13 && w.as_bytes()[5] == b'-' && w.as_bytes()[11] == b'-')
            .map(str::to_owned)
            .collect()
    }

    /// Its standard output parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

impl From<Output> for CliRun {
    fn from(out: Output) -> Self {
        Self {
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[allow(dead_code)] // not every test crate uses it
/// Runs a prepared CLI command to its end.
pub trait RunCli {
    /// Runs it and collects its answer.
    fn run_cli(&mut self) -> CliRun;
}

impl RunCli for Command {
    fn run_cli(&mut self) -> CliRun {
        self.output()
            .unwrap_or_else(|e| panic!("cannot run {self:?}: {e}"))
            .into()
    }
}

#[allow(dead_code)] // not every test crate uses it
/// The codes of a `generate` or `add --format json` answer, as printed
/// (`XXXXX-XXXXX`).
pub fn codes(value: &serde_json::Value) -> Vec<String> {
    value["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[allow(dead_code)] // not every test crate uses it
/// The users a `status --format json` answer lists, in its order.
pub fn users(status: &serde_json::Value) -> Vec<&str> {
    status
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"].as_str().unwrap())
        .collect()
}
