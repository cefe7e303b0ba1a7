//! `backup-codes status`: what is left, where each code went, how old the
//! set is, failures and locks in both scopes, and the last failure;
//! `--below N` lists only the users who need attention, for cron and
//! monitoring.

mod group;
pub(crate) mod list;

use std::process::ExitCode;

use serde::Serialize;
use time::OffsetDateTime;

use super::args::{Format, StatusArgs};
use super::json;
use super::resolve::{ACT_ON_TYPED, Unknown, resolve_all};
use super::{Context, Problems, human_time, open_store, rfc3339};
use pam_backup_codes::codeset::{Age, CodeNumber, CodeSet, Lifetime};
use pam_backup_codes::lockout::{LastFailure, LockState, LockedUntil, Lockout};
use pam_backup_codes::store::{Store, StoreError};
use pam_backup_codes::username::UserName;
use pam_backup_codes::verdict::Policy;

/// What `status` judges sets by: the store's rules (the config's on the
/// file store, the database's on the fleet store) and the time.
struct Judge {
    lockout: Lockout,
    lifetime: Lifetime,
    /// Where the rules come from: "config" or "database".
    source: &'static str,
    now: OffsetDateTime,
}

impl Judge {
    /// The rules `store` judges by, now: `local` (the config's) on the file
    /// store, the database's on the fleet store.
    fn of(store: &Store, local: Policy) -> Result<Self, StoreError> {
        let policy = store.policy(local)?;
        Ok(Self {
            lockout: policy.lockout,
            lifetime: policy.lifetime,
            source: if store.is_fleet() { "database" } else { "config" },
            now: OffsetDateTime::now_utc(),
        })
    }

    /// The rules, as a login is judged by them.
    fn policy(&self) -> Policy {
        Policy {
            lockout: self.lockout,
            lifetime: self.lifetime,
        }
    }

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

/// Prints the status. The exit status: 0, or 1 if a problem was reported;
/// with `--below`, 1 if anyone is listed and 2 if not everything could be
/// read (a problem reported), so that monitoring tells the two apart.
pub(super) fn run(ctx: &Context, args: &StatusArgs, problems: &mut Problems) -> ExitCode {
    let listed = show(ctx, args, problems);
    match args.below {
        Some(_) if problems.0 > 0 => ExitCode::from(2),
        Some(_) if listed => ExitCode::FAILURE,
        _ => problems.exit_code(),
    }
}

/// Prints the status; returns whether anyone was listed.
fn show(ctx: &Context, args: &StatusArgs, problems: &mut Problems) -> bool {
    let Some(store) = open_store(ctx, problems) else {
        return false;
    };
    let everyone = args.users.is_empty() && args.group.is_none();
    let users = if everyone {
        match store.entries() {
            Ok((users, others)) => {
                for path in others {
                    problems.report(format_args!(
                        "{}: not a user's file (its name is no valid user name); not read",
                        path.display()
                    ));
                }
                users
            }
            Err(e) => {
                problems.report(e);
                return false;
            }
        }
    } else {
        let unknown = Unknown::from_flag(args.allow_unknown, ACT_ON_TYPED);
        let mut users = resolve_all(&args.users, unknown, problems);
        if let Some(group) = &args.group {
            for member in group::members(group, problems) {
                if !users.contains(&member) {
                    users.push(member);
                }
            }
        }
        users
    };
    let judge = match Judge::of(&store, ctx.config.login.policy()) {
        Ok(judge) => judge,
        Err(e) => {
            problems.report(e);
            return false;
        }
    };
    let mut entries = Vec::new();
    for user in users {
        match store.read(&user) {
            Ok(set) => entries.push((user, set)),
            Err(e) => problems.report(e),
        }
    }
    if let Some(below) = args.below {
        entries.retain(|(_, set)| judge.needs_attention(set.as_ref(), below));
    }
    match args.format {
        Format::Json => {
            let list: Vec<JsonEntry<'_>> = entries
                .iter()
                .map(|(user, set)| JsonEntry::new(user, set.as_ref(), &judge))
                .collect();
            if let Err(e) = json::print_line(&list) {
                problems.report(format_args!("printing the status failed: {e}"));
            }
        }
        Format::Text => {
            if store.is_fleet() && args.below.is_none() {
                println!("fleet policy ({}): {}", store.location(), judge.policy());
            }
            // Quiet when all is well under --below, as cron likes it.
            if args.below.is_none() && everyone && entries.is_empty() && problems.0 == 0 {
                println!("no user has backup codes in {}", store.location());
            }
            for (user, set) in &entries {
                print!("{}", to_text(user, set.as_ref(), &judge));
            }
        }
    }
    !entries.is_empty()
}

fn to_text(user: &UserName, set: Option<&CodeSet>, judge: &Judge) -> String {
    let Some(set) = set else {
        return format!("{user}: no backup codes\n");
    };
    let now = judge.now;
    let mut out = match set.revoked {
        Some(at) => format!(
            "{user}: revoked {}: no valid code, refused until a new set ({} codes, {}, {} symbols{}, created {})\n",
            human_time(at),
            set.codes.len(),
            set.alphabet,
            set.length,
            check_text(set),
            human_time(set.created)
        ),
        None => format!(
            "{user}: {} of {} codes left ({}, {} symbols{}), created {}\n",
            set.usable(judge.lifetime, now),
            set.codes.len(),
            set.alphabet,
            set.length,
            check_text(set),
            human_time(set.created)
        ),
    };
    out += &format!("  age: {}\n", age_text(set, judge));
    for (i, entry) in set.codes.iter().enumerate() {
        if let Some(used) = &entry.used {
            out += &format!(
                "  code {} used {}{} via {} from {}\n",
                CodeNumber::of_index(i),
                human_time(used.at),
                on_host(used.host.as_deref()),
                printable(&used.service),
                used.rhost
                    .as_deref()
                    .map_or_else(|| "(local)".to_owned(), printable)
            );
        } else if let Some(expires) = entry.expires {
            let verb = if now >= expires { "expired" } else { "expires" };
            out += &format!(
                "  temporary code {}, {verb} {}\n",
                CodeNumber::of_index(i),
                human_time(expires)
            );
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
/// How `status` names a set's check symbol: shown after the symbol count.
fn check_text(set: &CodeSet) -> &'static str {
    if set.check_symbol { " + a check symbol" } else { "" }
}

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
        /// Each code ends with a Crockford check symbol.
        check_symbol: bool,
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
        /// The policy the set is judged by, and where it comes from.
        policy: JsonPolicy,
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

/// The lockout and lifetime policy: the config's on the file store, the
/// database's (`db policy`) on the fleet store.
#[derive(Serialize)]
struct JsonPolicy {
    deny: u32,
    fail_interval: u64,
    /// Days, 0 for no limit.
    max_age: i64,
    /// "config" or "database".
    source: &'static str,
    unlock_time: u64,
}

impl JsonPolicy {
    fn of(judge: &Judge) -> Self {
        Self {
            deny: judge.lockout.deny,
            fail_interval: judge.lockout.fail_interval,
            max_age: judge.lifetime.max_age.map_or(0, |age| age.whole_days()),
            source: judge.source,
            unlock_time: judge.lockout.unlock_time,
        }
    }
}

/// An unused temporary code.
#[derive(Serialize)]
struct JsonTemporary {
    /// The code's number on the sheet `add` printed.
    code_number: usize,
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
    /// For a use: the code's number on the sheet, as the log's
    /// `code_number` names it; absent for a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    code_number: Option<usize>,
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
            check_symbol: set.check_symbol,
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
                code_number: None,
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
            policy: JsonPolicy::of(judge),
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
                .enumerate()
                .filter(|(_, c)| c.used.is_none())
                .filter_map(|(i, c)| Some((CodeNumber::of_index(i), c.expires?)))
                .map(|(number, at)| JsonTemporary {
                    code_number: number.get(),
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
                .enumerate()
                .filter_map(|(i, c)| Some((CodeNumber::of_index(i), c.used.as_ref()?)))
                .map(|(number, u)| JsonEvent {
                    at: rfc3339(u.at),
                    code_number: Some(number.get()),
                    host: u.host.as_deref(),
                    rhost: u.rhost.as_deref(),
                    service: &u.service,
                })
                .collect(),
        }
    }
}
