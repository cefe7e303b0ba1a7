//! The fleet store's own commands: `db init`, `db policy` and
//! `migrate --from DIR`.

use std::path::Path;

use serde::Serialize;

use super::args::{Format, PolicyArgs};
use super::{Context, Problems, authlog, json, open_store, with_root_hint};
use pam_backup_codes::audit::{Event, Field, Record};
use pam_backup_codes::config::{Config, Setting, Value};
use pam_backup_codes::store::{DirStore, Edit, PolicyChange};

/// `db init --login-role ROLE [--connection-limit N]`: creates or upgrades
/// the schema.
pub(super) fn db_init(
    ctx: &Context,
    login_role: &str,
    connection_limit: Option<i32>,
    format: Format,
    problems: &mut Problems,
) {
    let Some(store) = open_store(ctx, problems) else {
        return;
    };
    let Some(pg) = store.as_postgres() else {
        return problems.report(format_args!(
            "db init: the store {} is a directory; name a postgresql:// store (--store or the config)",
            store.location()
        ));
    };
    match pg.init(login_role, connection_limit) {
        Ok(report) => {
            let (action, text) = match report.found {
                None => ("created", format!("schema version {} created", report.now)),
                Some(found) if found == report.now => (
                    "renewed",
                    format!("schema version {found} already in place, functions and grants renewed"),
                ),
                Some(found) => (
                    "upgraded",
                    format!("schema upgraded from version {found} to {}", report.now),
                ),
            };
            authlog::event(
                Record::new(Event::SchemaInitialised)
                    .with(Field::Version, report.now)
                    .with(Field::Role, login_role)
                    .with(Field::Reason, format!("{}: {text}", store.location())),
            );
            let done = DbInit {
                store: store.location(),
                action,
                schema_version: report.now,
                previous_version: report.found,
                login_role,
                connection_limit,
            };
            match format {
                Format::Text => {
                    println!(
                        "{}: {text}; {login_role} may execute the login functions only",
                        done.store
                    );
                    match connection_limit {
                        Some(-1) => println!("{}: {login_role} has no connection limit", done.store),
                        Some(limit) => {
                            println!(
                                "{}: {login_role} may hold at most {limit} connections",
                                done.store
                            )
                        }
                        None => {}
                    }
                }
                Format::Json => {
                    if let Err(e) = json::print_line(&done) {
                        problems.report(format_args!("printing failed: {e}"));
                    }
                }
            }
        }
        Err(e) => problems.report(format_args!("{}: {e}", store.location())),
    }
}

/// `db policy [--deny N] [--fail-interval SECS] [--unlock-time SECS]
/// [--max-age DAYS]`: shows the fleet's policy, after changing what the
/// flags say. Each value is checked by the setter the configuration file
/// and pam.d use, so the same values are refused.
pub(super) fn db_policy(ctx: &Context, args: &PolicyArgs, problems: &mut Problems) {
    let format = args.format;
    let mut change = PolicyChange::default();
    let mut scratch = Config::default();
    let flags = [
        (Setting::Deny, &args.deny),
        (Setting::FailInterval, &args.fail_interval),
        (Setting::UnlockTime, &args.unlock_time),
        (Setting::MaxAge, &args.max_age),
    ];
    for (setting, value) in flags {
        let Some(value) = value else { continue };
        if let Err(e) = scratch.set(setting, Value::Arg(value)) {
            return problems.report(format_args!(
                "db policy: --{} {value:?}: {e}",
                setting.name().replace('_', "-")
            ));
        }
        let login = &scratch.login;
        match setting {
            Setting::Deny => change.deny = Some(login.deny),
            Setting::FailInterval => change.fail_interval = Some(login.fail_interval),
            Setting::UnlockTime => change.unlock_time = Some(login.unlock_time),
            _ => change.max_age = Some(login.max_age),
        }
    }
    let Some(store) = open_store(ctx, problems) else {
        return;
    };
    let Some(pg) = store.as_postgres() else {
        return problems.report(format_args!(
            "db policy: the store {} is a directory, whose policy is the [login] section of the \
             config file and the module's pam.d arguments",
            store.location()
        ));
    };
    let changing = change != PolicyChange::default();
    let result = if changing {
        pg.set_policy(&change)
    } else {
        pg.policy()
    };
    if let (true, Ok(policy)) = (changing, &result) {
        authlog::event(
            Record::new(Event::PolicyChanged)
                .with_some(Field::Deny, change.deny)
                .with_some(Field::FailInterval, change.fail_interval)
                .with_some(Field::UnlockTime, change.unlock_time)
                .with_some(Field::MaxAge, change.max_age)
                .with(
                    Field::Reason,
                    format!("{}: fleet policy: {policy}", store.location()),
                ),
        );
    }
    match result {
        Ok(policy) => match format {
            Format::Text => println!("{}: fleet policy: {policy}", store.location()),
            Format::Json => {
                let shown = DbPolicy {
                    store: store.location(),
                    deny: policy.lockout.deny,
                    fail_interval: policy.lockout.fail_interval,
                    unlock_time: policy.lockout.unlock_time,
                    max_age: policy.lifetime.max_age.map_or(0, |age| age.whole_days()),
                };
                if let Err(e) = json::print_line(&shown) {
                    problems.report(format_args!("printing failed: {e}"));
                }
            }
        },
        Err(e) => problems.report(format_args!("{}: {e}", store.location())),
    }
}

/// What `db init --format json` prints.
#[derive(Serialize)]
struct DbInit<'a> {
    store: String,
    /// created, renewed or upgraded.
    action: &'static str,
    schema_version: i32,
    previous_version: Option<i32>,
    login_role: &'a str,
    /// The login role's CONNECTION LIMIT, when this run set it (-1: none).
    connection_limit: Option<i32>,
}

/// What `db policy --format json` prints: the policy in force.
#[derive(Serialize)]
struct DbPolicy {
    store: String,
    deny: u32,
    fail_interval: u64,
    unlock_time: u64,
    /// Days, 0 for no limit.
    max_age: i64,
}

/// One user of `migrate --format json`.
#[derive(Serialize)]
struct Migrated {
    user: String,
    /// imported, replaced or skipped.
    action: &'static str,
    remaining: usize,
    total: usize,
    failures: usize,
    revoked: bool,
}

/// `migrate --from DIR [--replace]`: every user of a file store into the
/// PostgreSQL store, each under the target's lock, one line per user.
pub(super) fn migrate(ctx: &Context, from: &Path, replace: bool, format: Format, problems: &mut Problems) {
    let source = match DirStore::open(from) {
        Ok(source) => source,
        Err(e) => return problems.report(with_root_hint(e)),
    };
    let Some(target) = open_store(ctx, problems) else {
        return;
    };
    if !target.is_fleet() {
        return problems.report(format_args!(
            "migrate: the store {} is a directory; name the postgresql:// store to import into",
            target.location()
        ));
    }
    let (users, others) = match source.list() {
        Ok(listing) => listing,
        Err(e) => return problems.report(e),
    };
    for name in others {
        problems.report(format_args!(
            "{}: not a user file, not imported",
            from.join(name).display()
        ));
    }
    for user in users {
        let set = match source.read(&user) {
            Ok(Some(set)) => set,
            Ok(None) => continue, // removed meanwhile
            Err(e) => {
                problems.report(format_args!("{user}: not imported: {e}"));
                continue;
            }
        };
        let mut migrated = Migrated {
            user: user.to_string(),
            action: "skipped",
            remaining: set.remaining(),
            total: set.codes.len(),
            failures: set.tally.failures(),
            revoked: set.revoked.is_some(),
        };
        let done = target.edit(&user, |existing| match existing {
            Some(_) if !replace => (Edit::Keep, "skipped"),
            Some(_) => (Edit::Write(set), "replaced"),
            None => (Edit::Write(set), "imported"),
        });
        match done {
            Ok(action) => {
                migrated.action = action;
                if action != "skipped" {
                    authlog::event(
                        Record::new(Event::SetMigrated)
                            .with(Field::User, &user)
                            .with(Field::From, from.display())
                            .with(Field::Replaced, if action == "replaced" { "yes" } else { "no" })
                            .with(Field::Reason, format!("{action} into {}", target.location())),
                    );
                }
                let printed = match format {
                    Format::Json => json::print_line(&migrated),
                    Format::Text if action == "skipped" => {
                        println!(
                            "{user}: skipped, already in {} (--replace overwrites)",
                            target.location()
                        );
                        Ok(())
                    }
                    Format::Text => {
                        println!(
                            "{user}: {action} ({} of {} codes left, {} failures on record{})",
                            migrated.remaining,
                            migrated.total,
                            migrated.failures,
                            if migrated.revoked { ", revoked" } else { "" }
                        );
                        Ok(())
                    }
                };
                if let Err(e) = printed {
                    problems.report(format_args!("printing failed: {e}"));
                }
            }
            Err(e) => problems.report(format_args!("{user}: not imported: {e}")),
        }
    }
}
