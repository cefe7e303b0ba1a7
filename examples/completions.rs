//! Writes the shell completions of `backup-codes` from its clap definition,
//! so they offer exactly the commands and options the binary accepts: bash
//! (`backup-codes.bash`), zsh (`_backup-codes`) and fish
//! (`backup-codes.fish`). The Debian package runs it at build time and
//! installs them where each shell looks for a package's completions:
//!
//! ```text
//! cargo run --release --example completions -- OUT_DIR
//! ```
#![allow(missing_docs)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::{Shell, generate_to};

// The command line itself, shared with the binary (as examples/mangen.rs does).
#[path = "../src/bin/backup-codes/args.rs"]
#[allow(dead_code)]
mod args;
use args::Cli;

/// The binary's name, which the completions register for.
const BIN: &str = "backup-codes";

fn run(dir: &Path) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let mut cmd = Cli::command();
    [Shell::Bash, Shell::Zsh, Shell::Fish]
        .into_iter()
        .map(|shell| generate_to(shell, &mut cmd, BIN, dir))
        .collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir] = args.as_slice() else {
        eprintln!("usage: completions OUT_DIR");
        return ExitCode::from(2);
    };
    match run(Path::new(dir)) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("completions: {dir}: {e}");
            ExitCode::FAILURE
        }
    }
}
