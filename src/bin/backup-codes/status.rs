//! `backup-codes status`: what is left, where each code went, how old the
//! set is, failures and locks in both scopes, and the last failure;
//! `--below N` lists only the users who need attention, for cron and
//! monitoring.

use std::io::Write;

use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::args::Format;
use super::{Context, Problems, human_time, open_store, parse_users, rfc3339};
use pam_backup_codes::codeset::{Age, CodeSet, Lifetime};
use pam_backup_codes::lockout::{LastFailure, LockState, LockedUntil, Lockout};
use pam_backup_codes::text::is_deceptive;
use pam_backup_codes::username::UserName;

/// What `status` judges sets by: the configured rules and the time.
struct Judge {
    lockout: Lockout,
    lifetime: Lifetime,
    now: OffsetDateTime,
}

impl Judge {
    fn locks(&self, set: &CodeSet) -> LockState {
        self.lockout.state(&set.tally, self.now)
    }

    /// Whether a user needs attention under `--below n`: fewer than `n`
    /// usable codes, a set past its maximum age, revoked or locked codes (in
    /// either scope), or no set at all.
    fn needs_attention(&self, set: Option<&CodeSet>, below: usize) -> bool {
        set.is_none_or(|set| {
            let locks = self.locks(set);
            set.revoked.is_some()
                || locks.local.is_some()
                || locks.remote.is_some()
                || matches!(set.age(self.lifetime, self.now), Age::Expired(_))
                || set.usable(self.lifetime, self.now) < below
        })
    }
}

/// Prints the status; returns true if `--below` listed anyone.
pub(super) fn run(
    ctx: &Context,
    names: &[String],
    format: Format,
    below: Option<usize>,
    problems: &mut Problems,
) -> bool {
    let Some(store) = open_store(ctx, problems) else {
        return false;
    };
    let users = if names.is_empty() {
        match store.users() {
            Ok(users) => users,
            Err(e) => {
                problems.report(e);
                return false;
            }
        }
    } else {
        parse_users(names, problems)
    };
    let judge = Judge {
        lockout: ctx.config.login.lockout(),
        lifetime: ctx.config.login.lifetime(),
        now: OffsetDateTime::now_utc(),
    };
    let mut entries = Vec::new();
    for user in users {
        match store.read(&user) {
            Ok(set) => entries.push((user, set)),
            Err(e) => problems.report(e),
        }
    }
    if let Some(below) = below {
        entries.retain(|(_, set)| judge.needs_attention(set.as_ref(), below));
    }
    match format {
        Format::Json => {
            let list: Vec<JsonEntry<'_>> = entries
                .iter()
                .map(|(user, set)| JsonEntry::new(user, set.as_ref(), &judge))
                .collect();
            let mut out = Zeroizing::new(Vec::new());
            let written = serde_json::to_writer(&mut *out, &list)
                .map_err(std::io::Error::from)
                .and_then(|()| {
                    let mut text = escape_json(&out);
                    text.push('\n');
                    std::io::stdout().lock().write_all(text.as_bytes())
                });
            if let Err(e) = written {
                problems.report(format_args!("printing the status failed: {e}"));
            }
        }
        Format::Text => {
            // Quiet when all is well under --below, as cron likes it.
            if below.is_none() && names.is_empty() && entries.is_empty() && problems.0 == 0 {
                println!("no user has backup codes in {}", store.location());
            }
            for (user, set) in &entries {
                print!("{}", to_text(user, set.as_ref(), &judge));
            }
        }
    }
    below.is_some() && !entries.is_empty()
}

fn to_text(user: &UserName, set: Option<&CodeSet>, judge: &Judge) -> String {
    let Some(set) = set else {
        return format!("{user}: no backup codes\n");
    };
    let now = judge.now;
    let mut out = match set.revoked {
        Some(at) => format!(
            "{user}: revoked {}: no valid code, refused until a new set ({} codes, {}, {} symbols, created {})\n",
            human_time(at),
            set.codes.len(),
            set.alphabet,
            set.length,
            human_time(set.created)
        ),
        None => format!(
            "{user}: {} of {} codes left ({}, {} symbols), created {}\n",
            set.usable(judge.lifetime, now),
            set.codes.len(),
            set.alphabet,
            set.length,
            human_time(set.created)
        ),
    };
    out += &format!("  age: {}\n", age_text(set, judge));
    for entry in &set.codes {
        if let Some(used) = &entry.used {
            out += &format!(
                "  used {}{} via {} from {}\n",
                human_time(used.at),
                on_host(used.host.as_deref()),
                printable(&used.service),
                used.rhost
                    .as_deref()
                    .map_or_else(|| "(local)".to_owned(), printable)
            );
        } else if let Some(expires) = entry.expires {
            let verb = if now >= expires { "expired" } else { "expires" };
            out += &format!("  temporary code, {verb} {}\n", human_time(expires));
        }
    }
    let lock = |until: Option<LockedUntil>| match until {
        None => "not locked".to_owned(),
        Some(LockedUntil::Time(t)) => format!("LOCKED until {}", human_time(t)),
        Some(LockedUntil::AdminUnlock) => "LOCKED until `backup-codes unlock`".to_owned(),
    };
    let state = judge.locks(set);
    let tally = &set.tally;
    out += &format!("  local failures: {}, {}\n", tally.local.len(), lock(state.local));
    out += &format!(
        "  remote failures: {} ({} in a row), {}\n",
        tally.remote.len(),
        tally.remote_in_a_row,
        lock(state.remote)
    );
    if let Some(last) = &tally.last_failure {
        out += &format!(
            "  last failure {}{} via {} from {}\n",
            human_time(last.at),
            on_host(last.host.as_deref()),
            printable(&last.service),
            last.rhost
                .as_deref()
                .map_or_else(|| "(local)".to_owned(), printable)
        );
    }
    out
}

/// "12 days" and what `max_age` makes of it.
fn age_text(set: &CodeSet, judge: &Judge) -> String {
    let days = age_days(set, judge.now);
    let age = format!("{days} day{}", if days == 1 { "" } else { "s" });
    match set.age(judge.lifetime, judge.now) {
        Age::Fresh => match judge.lifetime.max_age {
            Some(max) => format!("{age} (max_age {} days)", max.whole_days()),
            None => age,
        },
        Age::Ageing(end) => format!("{age}, EXPIRING: its codes stop at {}", human_time(end)),
        Age::Expired(end) => format!("{age}, EXPIRED at {} (max_age)", human_time(end)),
    }
}

/// Whole days since the set was made.
fn age_days(set: &CodeSet, now: OffsetDateTime) -> i64 {
    (now - set.created).whole_days().max(0)
}

/// " on HOST" for an event of the fleet store, which records the host.
fn on_host(host: Option<&str>) -> String {
    host.map(|h| format!(" on {}", printable(h))).unwrap_or_default()
}

/// Service and host names come from the PAM application, often from the
/// client: never let them put control, line-separator or bidi characters
/// on an admin's terminal.
fn printable(text: &str) -> String {
    text.chars().flat_map(char::escape_debug).collect()
}

/// JSON text with every deceptive character escaped as `\uXXXX`: serde_json
/// leaves U+2028 or U+202E as they are, and a terminal shows them raw. They
/// can only stand inside JSON strings, where the escape means the same.
fn escape_json(json: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(json.len()));
    for c in String::from_utf8_lossy(json).chars() {
        if is_deceptive(c) && !c.is_ascii() {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// A lock as JSON: an RFC 3339 time, `"unlock"` (until `backup-codes
/// unlock`) or null.
fn lock_json(until: Option<LockedUntil>) -> Option<String> {
    until.map(|until| match until {
        LockedUntil::Time(t) => rfc3339(t),
        LockedUntil::AdminUnlock => "unlock".to_owned(),
    })
}

/// One user in `status --format json`. The keys are in alphabetical order,
/// the order the output has always had.
#[derive(Serialize)]
#[serde(untagged)]
// Made and serialised once per user: boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
enum JsonEntry<'a> {
    Enrolled {
        /// Whole days since the set was created.
        age_days: i64,
        alphabet: String,
        created: String,
        enrolled: bool,
        /// Past `max_age`: the regular codes no longer work.
        expired: bool,
        /// When the regular codes stop (`max_age`), or null.
        expires: Option<String>,
        /// In the last tenth of `max_age`.
        expiring: bool,
        /// Failures on record in both scopes.
        failures: usize,
        last_failure: Option<JsonEvent<'a>>,
        length: usize,
        local: JsonScope,
        /// Either scope.
        locked: bool,
        /// The later of the two scopes' locks.
        locked_until: Option<String>,
        /// Codes not used yet, expired ones included (0 once revoked).
        remaining: usize,
        remote: JsonScope,
        /// When the set was revoked, or null.
        revoked: Option<String>,
        /// The unused temporary codes (`backup-codes add`).
        temporary: Vec<JsonTemporary>,
        total: usize,
        /// Codes that still let the user in: unused and unexpired (0 once revoked).
        usable: usize,
        user: &'a str,
        uses: Vec<JsonEvent<'a>>,
    },
    Missing {
        enrolled: bool,
        user: &'a str,
    },
}

/// An unused temporary code.
#[derive(Serialize)]
struct JsonTemporary {
    expired: bool,
    expires: String,
}

/// One scope of the lockout.
#[derive(Serialize)]
struct JsonScope {
    failures: usize,
    /// Remote only: failures since the last success or unlock.
    #[serde(skip_serializing_if = "Option::is_none")]
    in_a_row: Option<u32>,
    locked: bool,
    locked_until: Option<String>,
}

/// A use of a code, or a failure: when and where.
#[derive(Serialize)]
struct JsonEvent<'a> {
    at: String,
    /// The fleet store's host name; absent on the file store.
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    rhost: Option<&'a str>,
    service: &'a str,
}

impl<'a> JsonEntry<'a> {
    fn new(user: &'a UserName, set: Option<&'a CodeSet>, judge: &Judge) -> Self {
        let Some(set) = set else {
            return Self::Missing {
                enrolled: false,
                user: user.as_str(),
            };
        };
        let now = judge.now;
        let state = judge.locks(set);
        let tally = &set.tally;
        let age = set.age(judge.lifetime, now);
        Self::Enrolled {
            age_days: age_days(set, now),
            alphabet: set.alphabet.to_string(),
            created: rfc3339(set.created),
            enrolled: true,
            expired: matches!(age, Age::Expired(_)),
            expires: judge
                .lifetime
                .max_age
                .map(|max| rfc3339(set.created.saturating_add(max))),
            expiring: matches!(age, Age::Ageing(_)),
            failures: tally.failures(),
            last_failure: tally.last_failure.as_ref().map(|f: &'a LastFailure| JsonEvent {
                at: rfc3339(f.at),
                host: f.host.as_deref(),
                rhost: f.rhost.as_deref(),
                service: &f.service,
            }),
            length: set.length,
            local: JsonScope {
                failures: tally.local.len(),
                in_a_row: None,
                locked: state.local.is_some(),
                locked_until: lock_json(state.local),
            },
            locked: state.local.is_some() || state.remote.is_some(),
            locked_until: lock_json(state.local.max(state.remote)),
            remaining: set.remaining(),
            remote: JsonScope {
                failures: tally.remote.len(),
                in_a_row: Some(tally.remote_in_a_row),
                locked: state.remote.is_some(),
                locked_until: lock_json(state.remote),
            },
            revoked: set.revoked.map(rfc3339),
            temporary: set
                .codes
                .iter()
                .filter(|c| c.used.is_none())
                .filter_map(|c| c.expires)
                .map(|at| JsonTemporary {
                    expired: now >= at,
                    expires: rfc3339(at),
                })
                .collect(),
            total: set.codes.len(),
            usable: set.usable(judge.lifetime, now),
            user: user.as_str(),
            uses: set
                .codes
                .iter()
                .filter_map(|c| c.used.as_ref())
                .map(|u| JsonEvent {
                    at: rfc3339(u.at),
                    host: u.host.as_deref(),
                    rhost: u.rhost.as_deref(),
                    service: &u.service,
                })
                .collect(),
        }
    }
}
