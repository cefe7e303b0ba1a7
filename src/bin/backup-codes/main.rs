//! `backup-codes`: the administration command of pam-backup-codes.
//!
//! Exit status: 0 success, 1 failure (one line per problem on stderr),
//! 2 usage error; `status --below` also 1 for "users listed" and 2 for
//! "could not read everything".

mod add;
mod args;
mod authlog;
mod check;
mod encrypt;
mod fleet;
mod generate;
mod json;
mod private_stdout;
mod renew;
mod resolve;
mod revoke;
mod sheet;
mod status;

use std::process::ExitCode;

use clap::Parser;
use time::OffsetDateTime;

use args::{Cli, Command, DbCommand};
use pam_backup_codes::config::Config;
use pam_backup_codes::store::Store;
use pam_backup_codes::store::location::Location;

/// Everything a command needs: the configuration and the chosen store.
struct Context {
    config: Config,
    store: Location,
}

/// A problem reported to the administrator; collected so that one bad user
/// does not stop the others.
#[derive(Default)]
struct Problems(usize);

impl Problems {
    fn report(&mut self, message: impl std::fmt::Display) {
        eprintln!("backup-codes: {message}");
        self.0 += 1;
    }

    fn exit_code(&self) -> ExitCode {
        if self.0 == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    // Plain codes pass through this process's memory (generate): no core
    // dump may carry them, and no process of the invoking user may ptrace
    // or read its memory. Best effort: a kernel that refuses changes nothing.
    let _ = nix::sys::prctl::set_dumpable(false);
    let cli = Cli::parse();
    if let Command::Renew(args) = &cli.command {
        // Self-service: its own rules, before any option is acted on.
        return renew::run(&cli, args);
    }
    let mut problems = Problems::default();
    if let Command::Check(args) = &cli.command {
        // check reports a bad configuration file among the other problems.
        check::run(
            cli.store.as_ref(),
            cli.config.as_deref(),
            args.format,
            &mut problems,
        );
        return problems.exit_code();
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("backup-codes: {e}");
            // For status --below, "could not tell" (see status::run).
            if let Command::Status(args::StatusArgs { below: Some(_), .. }) = cli.command {
                return ExitCode::from(2);
            }
            return ExitCode::FAILURE;
        }
    };
    let ctx = Context {
        store: cli.store.clone().unwrap_or_else(|| config.store.clone()),
        config,
    };
    match cli.command {
        Command::Generate(args) => generate::run(&ctx, args, &mut problems),
        Command::Status(args) => return status::run(&ctx, &args, &mut problems),
        Command::List(args) => status::list::run(&ctx, &args, &mut problems),
        Command::Add(args) => add::run(&ctx, &args, &mut problems),
        // Handled above, before the configuration was read.
        Command::Renew(_) => return ExitCode::FAILURE,
        Command::Revoke(args) => revoke::revoke(&ctx, &args, &mut problems),
        Command::Unlock(args) => revoke::unlock(&ctx, &args, &mut problems),
        Command::Check(_) => {} // run above, before the configuration is loaded
        Command::Db {
            command:
                DbCommand::Init {
                    login_role,
                    connection_limit,
                    format,
                },
        } => fleet::db_init(&ctx, &login_role, connection_limit, format, &mut problems),
        Command::Db {
            command: DbCommand::Policy(args),
        } => fleet::db_policy(&ctx, &args, &mut problems),
        Command::Migrate {
            from,
            replace,
            format,
        } => fleet::migrate(&ctx, &from, replace, format, &mut problems),
    }
    problems.exit_code()
}

fn open_store(ctx: &Context, problems: &mut Problems) -> Option<Store> {
    Store::open(&ctx.store, &ctx.config.postgresql)
        .map_err(|e| problems.report(with_root_hint(e)))
        .ok()
}

/// Permission errors on the real store mostly mean "not root".
fn with_root_hint(e: impl std::fmt::Display) -> String {
    let text = e.to_string();
    if text.contains("Permission denied") && !nix::unistd::geteuid().is_root() {
        format!("{text} (run as root)")
    } else {
        text
    }
}

/// Human form of a timestamp.
fn human_time(t: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| t.to_string())
}

/// The machine-readable form of a timestamp (RFC 3339).
fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}
