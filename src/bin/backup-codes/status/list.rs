//! `backup-codes list`: one line per user in the store, as `passwd -S -a`
//! and `faillock` print them: codes left, age, lock and revocation.

use serde::Serialize;

use super::{Judge, age_days, lock_json};
use crate::args::{Format, ListArgs};
use crate::{Context, Problems, json, open_store, rfc3339};
use pam_backup_codes::codeset::{Age, CodeSet};
use pam_backup_codes::username::UserName;

/// Prints the list; every entry that cannot be read is a problem.
pub(crate) fn run(ctx: &Context, args: &ListArgs, problems: &mut Problems) {
    let Some(store) = open_store(ctx, problems) else {
        return;
    };
    let (users, others) = match store.entries() {
        Ok(entries) => entries,
        Err(e) => return problems.report(e),
    };
    for path in others {
        problems.report(format_args!(
            "{}: not a user's file (its name is no valid user name); not read",
            path.display()
        ));
    }
    // The fleet's policy on a PostgreSQL store, the config's on a directory.
    let judge = match Judge::of(&store, ctx.config.login.policy()) {
        Ok(judge) => judge,
        Err(e) => return problems.report(e),
    };
    let mut rows = Vec::new();
    for user in users {
        match store.read(&user) {
            Ok(Some(set)) => rows.push(Row::new(user, &set, &judge)),
            Ok(None) => {} // removed since the listing
            Err(e) => problems.report(e),
        }
    }
    match args.format {
        Format::Json => {
            if let Err(e) = json::print_line(&rows) {
                problems.report(format_args!("printing the list failed: {e}"));
            }
        }
        Format::Text => print!("{}", to_text(&rows)),
    }
}

/// One user's line, and its JSON object.
#[derive(Serialize)]
struct Row {
    user: String,
    /// Codes that still let the user in.
    usable: usize,
    total: usize,
    created: String,
    age_days: i64,
    /// Past `max_age`.
    expired: bool,
    /// Either scope.
    locked: bool,
    /// The later lock: RFC 3339, `"unlock"`, or null.
    locked_until: Option<String>,
    revoked: Option<String>,
    /// The text column: no, local, remote or both.
    #[serde(skip)]
    locks: &'static str,
    /// The text column: no, or the day of the revocation.
    #[serde(skip)]
    revoked_on: String,
}

impl Row {
    fn new(user: UserName, set: &CodeSet, judge: &Judge) -> Self {
        let state = judge.locks(set);
        let locks = match (state.local.is_some(), state.remote.is_some()) {
            (false, false) => "no",
            (true, false) => "local",
            (false, true) => "remote",
            (true, true) => "both",
        };
        Self {
            usable: set.usable(judge.lifetime, judge.now),
            total: set.codes.len(),
            created: rfc3339(set.created),
            age_days: age_days(set, judge.now),
            expired: matches!(set.age(judge.lifetime, judge.now), Age::Expired(_)),
            locked: locks != "no",
            locked_until: lock_json(state.local.max(state.remote)),
            revoked: set.revoked.map(rfc3339),
            locks,
            revoked_on: set
                .revoked
                .map_or_else(|| "no".to_owned(), |at| at.date().to_string()),
            user: user.to_string(),
        }
    }
}

/// A header and one line per user, in columns as wide as their widest
/// value; each value is one word, for awk.
fn to_text(rows: &[Row]) -> String {
    let lines: Vec<[String; 5]> = rows
        .iter()
        .map(|row| {
            [
                row.user.clone(),
                format!("{}/{}", row.usable, row.total),
                format!("{}d{}", row.age_days, if row.expired { "(expired)" } else { "" }),
                row.locks.to_owned(),
                row.revoked_on.clone(),
            ]
        })
        .collect();
    let header = ["USER", "LEFT", "AGE", "LOCKED", "REVOKED"].map(str::to_owned);
    let mut widths = [0; 5];
    for line in std::iter::once(&header).chain(&lines) {
        for (width, value) in widths.iter_mut().zip(line) {
            *width = (*width).max(value.len());
        }
    }
    let mut out = String::new();
    for line in std::iter::once(&header).chain(&lines) {
        let [user, left, age, locked, revoked] = line;
        let [w_user, w_left, w_age, w_locked, _] = widths;
        out += &format!("{user:<w_user$}  {left:>w_left$}  {age:>w_age$}  {locked:<w_locked$}  {revoked}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_a_header_and_one_aligned_line_per_user() {
        let row = |user: &str, usable, locks, revoked_on: &str, expired| Row {
            user: user.to_owned(),
            usable,
            total: 10,
            created: String::new(),
            age_days: 12,
            expired,
            locked: locks != "no",
            locked_until: None,
            revoked: None,
            locks,
            revoked_on: revoked_on.to_owned(),
        };
        let text = to_text(&[
            row("alice", 7, "no", "no", false),
            row("bartholomew", 0, "remote", "2026-11-25", true),
        ]);
        assert_eq!(
            text,
            "USER         LEFT           AGE  LOCKED  REVOKED\n\
             alice        7/10           12d  no      no\n\
             bartholomew  0/10  12d(expired)  remote  2026-11-25\n"
        );
    }
}
