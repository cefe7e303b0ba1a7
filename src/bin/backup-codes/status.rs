//! `backup-codes status`: what is left, where each code went, and lock state.

use std::io::Write;

use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::args::Format;
use super::{Context, Problems, human_time, open_store, parse_users, rfc3339};
use pam_backup_codes::codeset::CodeSet;
use pam_backup_codes::lockout::{LockedUntil, Lockout};
use pam_backup_codes::username::UserName;

pub(super) fn run(ctx: &Context, names: &[String], format: Format, problems: &mut Problems) {
    let Some(store) = open_store(ctx, problems) else {
        return;
    };
    let users = if names.is_empty() {
        match store.users() {
            Ok(users) => users,
            Err(e) => return problems.report(e),
        }
    } else {
        parse_users(names, problems)
    };
    let policy = ctx.config.login.lockout();
    let now = OffsetDateTime::now_utc();
    let mut entries = Vec::new();
    for user in users {
        match store.read(&user) {
            Ok(set) => entries.push((user, set)),
            Err(e) => problems.report(e),
        }
    }
    match format {
        Format::Json => {
            let list: Vec<JsonEntry<'_>> = entries
                .iter()
                .map(|(user, set)| JsonEntry::new(user, set.as_ref(), &policy, now))
                .collect();
            let mut out = Zeroizing::new(Vec::new());
            let written = serde_json::to_writer(&mut *out, &list)
                .map_err(std::io::Error::from)
                .and_then(|()| {
                    out.push(b'\n');
                    std::io::stdout().lock().write_all(&out)
                });
            if let Err(e) = written {
                problems.report(format_args!("printing the status failed: {e}"));
            }
        }
        Format::Text => {
            if names.is_empty() && entries.is_empty() && problems.0 == 0 {
                println!("no user has backup codes in {}", store.location());
            }
            for (user, set) in &entries {
                print!("{}", to_text(user, set.as_ref(), &policy, now));
            }
        }
    }
}

fn lock_state(set: &CodeSet, policy: &Lockout, now: OffsetDateTime) -> Option<LockedUntil> {
    policy.locked_until(&set.tally, now)
}

fn to_text(user: &UserName, set: Option<&CodeSet>, policy: &Lockout, now: OffsetDateTime) -> String {
    let Some(set) = set else {
        return format!("{user}: no backup codes\n");
    };
    let mut out = format!(
        "{user}: {} of {} codes left ({}, {} symbols), created {}\n",
        set.remaining(),
        set.codes.len(),
        set.alphabet,
        set.length,
        human_time(set.created)
    );
    for used in set.codes.iter().filter_map(|c| c.used.as_ref()) {
        out += &format!(
            "  used {} via {} from {}\n",
            human_time(used.at),
            printable(&used.service),
            used.rhost
                .as_deref()
                .map_or_else(|| "(local)".to_owned(), printable)
        );
    }
    let lock = match lock_state(set, policy, now) {
        None => "not locked".to_owned(),
        Some(LockedUntil::Time(t)) => format!("LOCKED until {}", human_time(t)),
        Some(LockedUntil::AdminUnlock) => "LOCKED until `backup-codes unlock`".to_owned(),
    };
    out += &format!("  failures: {}, {lock}\n", set.tally.failures);
    out
}

/// Service and host names come from the PAM application, often from the
/// client: never let them put control characters on an admin's terminal.
fn printable(text: &str) -> String {
    text.chars().flat_map(char::escape_debug).collect()
}

/// One user in `status --format json`. The keys are in alphabetical order,
/// the order the output has always had.
#[derive(Serialize)]
#[serde(untagged)]
enum JsonEntry<'a> {
    Enrolled {
        alphabet: String,
        created: String,
        enrolled: bool,
        failures: u32,
        length: usize,
        locked: bool,
        /// An RFC 3339 time, `"unlock"` (until `backup-codes unlock`) or null.
        locked_until: Option<String>,
        remaining: usize,
        total: usize,
        user: &'a str,
        uses: Vec<JsonUse<'a>>,
    },
    Missing {
        enrolled: bool,
        user: &'a str,
    },
}

/// One use of a code.
#[derive(Serialize)]
struct JsonUse<'a> {
    at: String,
    rhost: Option<&'a str>,
    service: &'a str,
}

impl<'a> JsonEntry<'a> {
    fn new(user: &'a UserName, set: Option<&'a CodeSet>, policy: &Lockout, now: OffsetDateTime) -> Self {
        let Some(set) = set else {
            return Self::Missing {
                enrolled: false,
                user: user.as_str(),
            };
        };
        let lock = lock_state(set, policy, now);
        Self::Enrolled {
            alphabet: set.alphabet.to_string(),
            created: rfc3339(set.created),
            enrolled: true,
            failures: set.tally.failures,
            length: set.length,
            locked: lock.is_some(),
            locked_until: lock.map(|until| match until {
                LockedUntil::Time(t) => rfc3339(t),
                LockedUntil::AdminUnlock => "unlock".to_owned(),
            }),
            remaining: set.remaining(),
            total: set.codes.len(),
            user: user.as_str(),
            uses: set
                .codes
                .iter()
                .filter_map(|c| c.used.as_ref())
                .map(|u| JsonUse {
                    at: rfc3339(u.at),
                    rhost: u.rhost.as_deref(),
                    service: &u.service,
                })
                .collect(),
        }
    }
}
