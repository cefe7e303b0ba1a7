//! The fleet store's own commands: `db init` and `migrate --from DIR`.

use std::path::Path;

use serde::Serialize;

use super::args::Format;
use super::{Context, Problems, json, open_store, with_root_hint};
use pam_backup_codes::store::{DirStore, Edit};

/// `db init --login-role ROLE`: creates or upgrades the schema.
pub(super) fn db_init(ctx: &Context, login_role: &str, format: Format, problems: &mut Problems) {
    let Some(store) = open_store(ctx, problems) else {
        return;
    };
    let Some(pg) = store.as_postgres() else {
        return problems.report(format_args!(
            "db init: the store {} is a directory; name a postgresql:// store (--store or the config)",
            store.location()
        ));
    };
    match pg.init(login_role) {
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
            let done = DbInit {
                store: store.location(),
                action,
                schema_version: report.now,
                previous_version: report.found,
                login_role,
            };
            match format {
                Format::Text => println!(
                    "{}: {text}; {login_role} may execute the login functions only",
                    done.store
                ),
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

/// What `db init --format json` prints.
#[derive(Serialize)]
struct DbInit<'a> {
    store: String,
    /// created, renewed or upgraded.
    action: &'static str,
    schema_version: i32,
    previous_version: Option<i32>,
    login_role: &'a str,
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
