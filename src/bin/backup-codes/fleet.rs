//! The fleet store's own commands: `db init` and `migrate --from DIR`.

use std::path::Path;

use super::{Context, Problems, open_store, with_root_hint};
use pam_backup_codes::store::{DirStore, Edit};

/// `db init --login-role ROLE`: creates or upgrades the schema.
pub(super) fn db_init(ctx: &Context, login_role: &str, problems: &mut Problems) {
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
        Ok(report) => match report.found {
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
        },
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
