//! `backup-codes revoke` and `unlock`: a change to users' sets under the
//! store's lock, one line (or JSON object) per user.
//!
//! Revoking keeps the user enrolled with no valid code: removing the file
//! would let `nullok` stacks in with the password alone, the opposite of
//! what revoking a stolen sheet is for. `--unenroll` removes it.
//! `--created-before` is the answer to a restored backup, which brings spent
//! codes and revoked sets back: every set made before the restore goes.

use std::io::Write;

use clap::CommandFactory;
use serde::Serialize;
use time::OffsetDateTime;

use crate::args::{Cli, Format, RevokeArgs, UnlockArgs};
use crate::authlog;
use crate::resolve::{ACT_ON_TYPED, Unknown, resolve_all};
use crate::{Context, Problems, human_time, json, open_store, rfc3339};
use pam_backup_codes::audit::{Event, Field, Record};
use pam_backup_codes::codeset::CodeSet;
use pam_backup_codes::store::{Edit, Store};
use pam_backup_codes::username::UserName;

/// What was done to one user's set, as printed.
#[derive(Serialize)]
struct Done {
    user: String,
    /// revoked, already_revoked, unenrolled (revoke); unlocked (unlock).
    action: &'static str,
    /// When the set was made (revoke).
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    /// When it was revoked, or null once unenrolled (revoke).
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked: Option<Option<String>>,
    /// Failures on record that were cleared (unlock).
    #[serde(skip_serializing_if = "Option::is_none")]
    failures_cleared: Option<usize>,
    /// The line of the text format, after "USER: ".
    #[serde(skip)]
    text: String,
}

/// `revoke USER... [--unenroll] [--created-before DATE]`.
pub(crate) fn revoke(ctx: &Context, args: &RevokeArgs, problems: &mut Problems) {
    let now = OffsetDateTime::now_utc();
    let before = args.created_before.map(|b| b.0);
    if let Some(before) = before.filter(|&before| before > now) {
        Cli::command()
            .error(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "--created-before {} is in the future: every set would be revoked \
                     (revoke USER... revokes sets whatever their age)",
                    human_time(before)
                ),
            )
            .exit();
    }
    let unknown = Unknown::from_flag(args.allow_unknown, ACT_ON_TYPED);
    let named = resolve_all(&args.users, unknown, problems);
    let Some(store) = open_store(ctx, problems) else {
        return;
    };
    let users = if args.users.is_empty() {
        // Only with --created-before (clap requires one or the other).
        every_user(&store, problems)
    } else {
        named
    };
    let mut kept = 0;
    let done = for_each_locked(&store, &users, args.format, problems, |user, mut set| {
        if args.unenroll {
            return (Edit::Remove, Some(unenrolled(user, &set)));
        }
        if before.is_some_and(|before| set.created >= before) {
            kept += 1;
            if !args.users.is_empty() {
                eprintln!(
                    "backup-codes: {user}: kept, its set was made {}, not before {}",
                    human_time(set.created),
                    before.map(human_time).unwrap_or_default()
                );
            }
            return (Edit::Keep, None);
        }
        if let Some(at) = set.revoked {
            let done = Done {
                user: user.to_string(),
                action: "already_revoked",
                created: Some(rfc3339(set.created)),
                revoked: Some(Some(rfc3339(at))),
                failures_cleared: None,
                text: format!("already revoked at {}", human_time(at)),
            };
            // Quiet in a sweep: only what it revoked is news.
            return (
                Edit::Keep,
                (before.is_none() || !args.users.is_empty()).then_some(done),
            );
        }
        set.revoked = Some(now);
        let mut text = "codes revoked; still enrolled, refused until a new set".to_owned();
        if before.is_some() {
            text += &format!(" (the set was made {})", human_time(set.created));
        }
        let done = Done {
            user: user.to_string(),
            action: "revoked",
            created: Some(rfc3339(set.created)),
            revoked: Some(Some(rfc3339(now))),
            failures_cleared: None,
            text,
        };
        (Edit::Write(set), Some(done))
    });
    if let (Some(before), true) = (before, args.users.is_empty()) {
        let revoked = done.iter().filter(|d| d.action == "revoked").count();
        eprintln!(
            "backup-codes: {revoked} set{} made before {} revoked; {kept} made since kept",
            if revoked == 1 { "" } else { "s" },
            human_time(before)
        );
    }
}

impl Done {
    /// The audit event of a change (none for a set left as it was).
    fn record(&self) -> Option<Record> {
        let event = match self.action {
            "revoked" => Event::SetRevoked,
            "unenrolled" => Event::UserUnenrolled,
            "unlocked" => Event::LockCleared,
            _ => return None,
        };
        Some(
            Record::new(event)
                .with(Field::User, &self.user)
                .with_some(Field::Created, self.created.as_ref())
                .with(Field::Reason, &self.text),
        )
    }
}

fn unenrolled(user: &UserName, set: &CodeSet) -> Done {
    Done {
        user: user.to_string(),
        action: "unenrolled",
        created: Some(rfc3339(set.created)),
        revoked: Some(None),
        failures_cleared: None,
        text: "unenrolled (the set was removed)".to_owned(),
    }
}

/// `unlock USER...`.
pub(crate) fn unlock(ctx: &Context, args: &UnlockArgs, problems: &mut Problems) {
    let unknown = Unknown::from_flag(args.allow_unknown, ACT_ON_TYPED);
    let users = resolve_all(&args.users, unknown, problems);
    let Some(store) = open_store(ctx, problems) else {
        return;
    };
    for_each_locked(&store, &users, args.format, problems, |user, mut set| {
        let failures = set.tally.failures();
        set.tally.clear();
        let done = Done {
            user: user.to_string(),
            action: "unlocked",
            created: None,
            revoked: None,
            failures_cleared: Some(failures),
            text: format!("unlocked ({failures} failures cleared)"),
        };
        (Edit::Write(set), Some(done))
    });
}

/// Every user in the store; entries that are no user's file are reported.
fn every_user(store: &Store, problems: &mut Problems) -> Vec<UserName> {
    match store.entries() {
        Ok((users, others)) => {
            for path in others {
                problems.report(format_args!(
                    "{}: not a user's file (its name is no valid user name); left as it is",
                    path.display()
                ));
            }
            users
        }
        Err(e) => {
            problems.report(e);
            Vec::new()
        }
    }
}

/// Runs `change` on each user's set under the store's lock (see
/// [`Store::edit`]) and prints what it did, as it goes (a run cut short has
/// printed every change it made); "has no backup codes" and store errors are
/// reported. Returns what was printed.
fn for_each_locked(
    store: &Store,
    users: &[UserName],
    format: Format,
    problems: &mut Problems,
    mut change: impl FnMut(&UserName, CodeSet) -> (Edit, Option<Done>),
) -> Vec<Done> {
    let mut printed = Vec::new();
    for user in users {
        let edited = store.edit(user, |set| match set {
            Some(set) => {
                let (edit, done) = change(user, set);
                (edit, Some(done))
            }
            None => (Edit::Keep, None),
        });
        match edited {
            Ok(Some(Some(done))) => {
                if let Some(record) = done.record() {
                    authlog::event(record);
                }
                let shown = match format {
                    Format::Text => writeln!(std::io::stdout().lock(), "{}: {}", done.user, done.text),
                    Format::Json => json::print_line(&done),
                };
                if let Err(e) = shown {
                    problems.report(format_args!("{user}: done, but printing it failed: {e}"));
                }
                printed.push(done);
            }
            Ok(Some(None)) => {}
            Ok(None) => problems.report(format_args!("{user}: has no backup codes")),
            Err(e) => problems.report(e),
        }
    }
    printed
}
