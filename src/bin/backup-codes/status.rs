//! `backup-codes status`: what is left, where each code went, and lock state.

use serde_json::{Value, json};
use time::OffsetDateTime;

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
            let list: Vec<Value> = entries
                .iter()
                .map(|(user, set)| to_json(user, set.as_ref(), &policy, now))
                .collect();
            println!("{}", Value::Array(list));
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

fn to_json(user: &UserName, set: Option<&CodeSet>, policy: &Lockout, now: OffsetDateTime) -> Value {
    let Some(set) = set else {
        return json!({ "user": user.as_str(), "enrolled": false });
    };
    let uses: Vec<Value> = set
        .codes
        .iter()
        .filter_map(|c| c.used.as_ref())
        .map(|u| json!({ "at": rfc3339(u.at), "service": u.service, "rhost": u.rhost }))
        .collect();
    let lock = lock_state(set, policy, now);
    json!({
        "user": user.as_str(),
        "enrolled": true,
        "created": rfc3339(set.created),
        "alphabet": set.alphabet.to_string(),
        "length": set.length,
        "total": set.codes.len(),
        "remaining": set.remaining(),
        "uses": uses,
        "failures": set.tally.failures,
        "locked": lock.is_some(),
        "locked_until": match lock {
            Some(LockedUntil::Time(t)) => Value::from(rfc3339(t)),
            Some(LockedUntil::AdminUnlock) => Value::from("unlock"),
            None => Value::Null,
        },
    })
}
