//! `backup-codes`: the administration command of pam-backup-codes.
//!
//! Exit status: 0 success, 1 failure (one line per problem on stderr),
//! 2 usage error.

mod add;
mod args;
mod authlog;
mod check;
mod fleet;
mod generate;
mod renew;
mod sheet;
mod status;

use std::process::ExitCode;

use clap::Parser;
use time::OffsetDateTime;

use args::{Cli, Command, DbCommand};
use pam_backup_codes::codeset::CodeSet;
use pam_backup_codes::config::Config;
use pam_backup_codes::store::location::Location;
use pam_backup_codes::store::{Edit, Store};
use pam_backup_codes::username::UserName;

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
    if let Command::Check = cli.command {
        // check reports a bad configuration file among the other problems.
        check::run(cli.store.as_ref(), cli.config.as_deref(), &mut problems);
        return problems.exit_code();
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("backup-codes: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ctx = Context {
        store: cli.store.clone().unwrap_or_else(|| config.store.clone()),
        config,
    };
    match cli.command {
        Command::Generate(args) => generate::run(&ctx, args, &mut problems),
        Command::Status { users, format, below } => {
            if status::run(&ctx, &users, format, below, &mut problems) {
                return ExitCode::FAILURE;
            }
        }
        Command::Add(args) => add::run(&ctx, &args, &mut problems),
        // Handled above, before the configuration was read.
        Command::Renew(_) => return ExitCode::FAILURE,
        Command::Revoke { users, unenroll } => revoke(&ctx, &users, unenroll, &mut problems),
        Command::Unlock { users } => unlock(&ctx, &users, &mut problems),
        Command::Check => {} // run above, before the configuration is loaded
        Command::Db {
            command: DbCommand::Init { login_role },
        } => fleet::db_init(&ctx, &login_role, &mut problems),
        Command::Migrate { from, replace } => fleet::migrate(&ctx, &from, replace, &mut problems),
    }
    problems.exit_code()
}

/// Parses user names, reporting the invalid ones.
fn parse_users(names: &[String], problems: &mut Problems) -> Vec<UserName> {
    names
        .iter()
        .filter_map(|name| match name.parse() {
            Ok(user) => Some(user),
            Err(e) => {
                problems.report(format_args!("{name:?}: {e}; skipped"));
                None
            }
        })
        .collect()
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

/// Runs `change` on each valid user's set under the store's lock (see
/// [`Store::edit`]); "has no backup codes" (`None`) and store errors are
/// reported, the message of a change printed.
fn for_each_locked(
    ctx: &Context,
    names: &[String],
    problems: &mut Problems,
    change: impl Fn(CodeSet) -> (Edit, String),
) {
    let users = parse_users(names, problems);
    let Some(store) = open_store(ctx, problems) else {
        return;
    };
    for user in users {
        let edited = store.edit(&user, |set| match set {
            Some(set) => {
                let (edit, done) = change(set);
                (edit, Some(done))
            }
            None => (Edit::Keep, None),
        });
        match edited {
            Ok(Some(done)) => println!("{user}: {done}"),
            Ok(None) => problems.report(format_args!("{user}: has no backup codes")),
            Err(e) => problems.report(e),
        }
    }
}

/// Revoking keeps the user enrolled with no valid code: removing the file
/// would let `nullok` stacks in with the password alone, the opposite of
/// what revoking a stolen sheet is for. `--unenroll` removes it.
fn revoke(ctx: &Context, names: &[String], unenroll: bool, problems: &mut Problems) {
    for_each_locked(ctx, names, problems, |mut set| {
        if unenroll {
            return (Edit::Remove, "unenrolled (the set was removed)".to_owned());
        }
        if let Some(at) = set.revoked {
            return (Edit::Keep, format!("already revoked at {}", human_time(at)));
        }
        set.revoked = Some(OffsetDateTime::now_utc());
        (
            Edit::Write(set),
            "codes revoked; still enrolled, refused until a new set".to_owned(),
        )
    });
}

fn unlock(ctx: &Context, names: &[String], problems: &mut Problems) {
    for_each_locked(ctx, names, problems, |mut set| {
        let failures = set.tally.failures();
        set.tally.clear();
        (
            Edit::Write(set),
            format!("unlocked ({failures} failures cleared)"),
        )
    });
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
