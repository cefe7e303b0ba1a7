//! The fleet store's own commands: `db init`, `db policy` and
//! `migrate --from DIR`.

use std::path::Path;

use super::args::PolicyArgs;
use super::{Context, Problems, open_store, with_root_hint};
use pam_backup_codes::config::{Config, Setting, Value};
use pam_backup_codes::store::{DirStore, Edit, PolicyChange};

/// `db init --login-role ROLE [--connection-limit N]`: creates or upgrades
/// the schema.
pub(super) fn db_init(
    ctx: &Context,
    login_role: &str,
    connection_limit: Option<i32>,
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
    let report = match pg.init(login_role, connection_limit) {
        Ok(report) => report,
        Err(e) => return problems.report(format_args!("{}: {e}", store.location())),
    };
    match report.found {
        None => println!(
            "{}: schema version {} created; {login_role} may execute the login functions only",
            store.location(),
            report.now
        ),
        Some(found) if found == report.now => println!(
            "{}: schema version {found} already in place, functions and grants renewed; \
                 {login_role} may execute the login functions only",
            store.location()
        ),
        Some(found) => println!(
            "{}: schema upgraded from version {found} to {}; {login_role} may execute the login functions only",
            store.location(),
            report.now
        ),
    }
    match connection_limit {
        Some(-1) => println!("{}: {login_role} has no connection limit", store.location()),
        Some(limit) => println!(
            "{}: {login_role} may hold at most {limit} connections",
            store.location()
        ),
        None => {}
    }
}

/// `db policy [--deny N] [--fail-interval SECS] [--unlock-time SECS]
/// [--max-age DAYS]`: shows the fleet's policy, after changing what the
/// flags say. Each value is checked by the setter the configuration file
/// and pam.d use, so the same values are refused.
pub(super) fn db_policy(ctx: &Context, args: &PolicyArgs, problems: &mut Problems) {
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
    let result = if change == PolicyChange::default() {
        pg.policy()
    } else {
        pg.set_policy(&change)
    };
    match result {
        Ok(policy) => println!("{}: fleet policy: {policy}", store.location()),
        Err(e) => problems.report(format_args!("{}: {e}", store.location())),
    }
}

/// `migrate --from DIR [--replace]`: every user of a file store into the
/// PostgreSQL store, each under the target's lock, one line per user.
pub(super) fn migrate(ctx: &Context, from: &Path, replace: bool, problems: &mut Problems) {
    let source = match DirStore::open(from) {
        Ok(source) => source,
        Err(e) => return problems.report(with_root_hint(e)),
    };
    let Some(target) = open_store(ctx, problems) else {
        return;
    };
    if target.as_postgres().is_none() {
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
        let summary = format!(
            "{} of {} codes left, {} failures on record{}",
            set.remaining(),
            set.codes.len(),
            set.tally.failures(),
            if set.revoked.is_some() { ", revoked" } else { "" }
        );
        let done = target.edit(&user, |existing| match existing {
            Some(_) if !replace => (Edit::Keep, None),
            Some(_) => (Edit::Write(set), Some(format!("replaced ({summary})"))),
            None => (Edit::Write(set), Some(format!("imported ({summary})"))),
        });
        match done {
            Ok(Some(done)) => println!("{user}: {done}"),
            Ok(None) => println!(
                "{user}: skipped, already in {} (--replace overwrites)",
                target.location()
            ),
            Err(e) => problems.report(format_args!("{user}: not imported: {e}")),
        }
    }
}
