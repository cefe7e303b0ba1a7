//! The rate limit: pam_faillock's policy in two scopes, with the tally kept
//! in the user file.
//!
//! A failure is *remote* when PAM_RHOST is set (and not empty), else
//! *local*. Each scope keeps its most recent `deny` failure times; it is
//! locked when it holds `deny` failures and the oldest of them is within
//! `fail_interval` of the newest (a sliding window, as pam_faillock counts),
//! until the newest plus `unlock_time` (`unlock_time = 0`: until
//! `backup-codes unlock`). A lock that has run out forgives its failures.
//!
//! A local lock refuses every login; a remote lock refuses only logins that
//! carry a remote host, so a stranger guessing over SSH cannot lock the owner
//! out of the console, su or sudo on a local terminal. Remote guessing stays
//! bounded as NIST SP 800-63B asks: remote failures are also counted in a
//! row, and [`REMOTE_LIMIT`] of them lock remote logins until an
//! administrator unlocks (or a local login succeeds).
//!
//! A success resets both scopes and the count in a row; `deny = 0` disables
//! all of it, locks already recorded included. Locks are computed from the
//! failure times, never stored, so a changed policy applies at once.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// Consecutive remote failures that lock remote logins until an unlock
/// (NIST SP 800-63B: at most 100 consecutive failed attempts).
pub const REMOTE_LIMIT: u32 = 100;
/// The most failure times a scope keeps, and so the largest `deny`.
pub const MAX_DENY: u32 = 1000;

/// The policy, from options and config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lockout {
    /// Failures within `fail_interval` that lock a scope; 0 never locks.
    pub deny: u32,
    /// Seconds within which `deny` failures must fall.
    pub fail_interval: u64,
    /// Seconds a lock lasts after the last failure; 0 until an unlock.
    pub unlock_time: u64,
}

impl Default for Lockout {
    fn default() -> Self {
        Self {
            deny: 5,
            fail_interval: 900,
            unlock_time: 900,
        }
    }
}

/// Where a login comes from, for the lockout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// No remote host: console, su, sudo on a local terminal.
    Local,
    /// PAM_RHOST set: sshd and other network services.
    Remote,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Local => "local",
            Self::Remote => "remote",
        })
    }
}

/// The failure tally persisted in a user file.
///
/// ```toml
/// [tally]
/// local = ["2026-11-24T12:00:00Z"]
/// remote = ["2026-11-24T12:01:00Z", "2026-11-24T12:02:00Z"]
/// remote_in_a_row = 2
/// last_failure = { at = "2026-11-24T12:02:00Z", service = "sshd", rhost = "192.0.2.7" }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tally {
    /// The most recent local failures, oldest first (at most `deny`).
    #[serde(default, with = "times", skip_serializing_if = "Vec::is_empty")]
    pub local: Vec<OffsetDateTime>,
    /// The most recent remote failures, oldest first (at most `deny`).
    #[serde(default, with = "times", skip_serializing_if = "Vec::is_empty")]
    pub remote: Vec<OffsetDateTime>,
    /// Remote failures since the last success or unlock.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub remote_in_a_row: u32,
    /// When and where the last failure happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<LastFailure>,
}

/// When and where the last failure happened (as `faillock` shows it): the
/// same record as a code's use.
pub type LastFailure = crate::record::CodeUse;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Until when logins are locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockedUntil {
    /// Until this instant.
    Time(OffsetDateTime),
    /// Until an administrator runs `backup-codes unlock` (`unlock_time = 0`,
    /// or [`REMOTE_LIMIT`] remote failures in a row).
    AdminUnlock,
}

/// The lock state of both scopes, for `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockState {
    /// Refuses every login.
    pub local: Option<LockedUntil>,
    /// Refuses logins with a remote host.
    pub remote: Option<LockedUntil>,
}

fn seconds(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX))
}

impl Lockout {
    /// Whether a login from `scope` is refused at `now`, and until when.
    pub fn locked_until(&self, tally: &Tally, now: OffsetDateTime, scope: Scope) -> Option<LockedUntil> {
        let state = self.state(tally, now);
        match scope {
            Scope::Local => state.local,
            Scope::Remote => state.local.max(state.remote),
        }
    }

    /// The lock of each scope at `now`.
    pub fn state(&self, tally: &Tally, now: OffsetDateTime) -> LockState {
        let in_a_row =
            (self.deny > 0 && tally.remote_in_a_row >= REMOTE_LIMIT).then_some(LockedUntil::AdminUnlock);
        LockState {
            local: self.scope_lock(&tally.local, now),
            remote: self.scope_lock(&tally.remote, now).max(in_a_row),
        }
    }

    /// The lock one scope's failure times impose at `now`.
    fn scope_lock(&self, times: &[OffsetDateTime], now: OffsetDateTime) -> Option<LockedUntil> {
        self.lock_of(times).filter(|until| match until {
            LockedUntil::Time(t) => now < *t,
            LockedUntil::AdminUnlock => true,
        })
    }

    /// The lock these failure times impose, whether or not it has run out:
    /// `deny` of them within `fail_interval` of the newest.
    fn lock_of(&self, times: &[OffsetDateTime]) -> Option<LockedUntil> {
        let deny = usize::try_from(self.deny).ok().filter(|&d| d > 0)?;
        let recent = times.get(times.len().checked_sub(deny)?..)?;
        let (oldest, newest) = (recent.first()?, recent.last()?);
        if *newest - *oldest > seconds(self.fail_interval) {
            return None;
        }
        if self.unlock_time == 0 {
            return Some(LockedUntil::AdminUnlock);
        }
        Some(LockedUntil::Time(
            newest.saturating_add(seconds(self.unlock_time)),
        ))
    }

    /// Counts a failure from `scope` at `now`; returns true if it locked
    /// (its scope, or remote logins after [`REMOTE_LIMIT`] in a row).
    pub fn record_failure(
        &self,
        tally: &mut Tally,
        now: OffsetDateTime,
        scope: Scope,
        last: LastFailure,
    ) -> bool {
        let deny = usize::try_from(self.deny.min(MAX_DENY)).unwrap_or(0);
        let was = self.state(tally, now);
        let times = match scope {
            Scope::Local => &mut tally.local,
            Scope::Remote => &mut tally.remote,
        };
        // A lock that ran out forgives its failures (as in pam_faillock):
        // one more failure starts a new count rather than locking again.
        if self.lock_of(times).is_some() && self.scope_lock(times, now).is_none() {
            times.clear();
        }
        times.push(now);
        // Oldest first, also if the clock went back; keep the newest `deny`.
        times.sort_unstable();
        let excess = times.len().saturating_sub(deny);
        times.drain(..excess);
        if scope == Scope::Remote {
            tally.remote_in_a_row = tally.remote_in_a_row.saturating_add(1);
        }
        tally.last_failure = Some(last);
        let is = self.state(tally, now);
        match scope {
            Scope::Local => was.local.is_none() && is.local.is_some(),
            Scope::Remote => was.remote.is_none() && is.remote.is_some(),
        }
    }
}

impl Tally {
    /// A success: both scopes and the count in a row start again. The last
    /// failure stays on record for `status`.
    pub fn reset(&mut self) {
        self.local.clear();
        self.remote.clear();
        self.remote_in_a_row = 0;
    }

    /// `backup-codes unlock`: everything is cleared.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Failures on record: both scopes, where the remote ones count as many
    /// as came in a row (the window keeps at most `deny` of them, the count
    /// in a row all since the last success or unlock).
    pub fn failures(&self) -> usize {
        let in_a_row = usize::try_from(self.remote_in_a_row).unwrap_or(usize::MAX);
        self.local.len().saturating_add(self.remote.len().max(in_a_row))
    }
}

/// Serde for a list of RFC 3339 times.
mod times {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use time::OffsetDateTime;

    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    struct Time(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

    pub fn serialize<S: Serializer>(times: &[OffsetDateTime], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(times.iter().map(|&t| Time(t)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<OffsetDateTime>, D::Error> {
        Ok(Vec::<Time>::deserialize(deserializer)?
            .into_iter()
            .map(|t| t.0)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-24 12:00 UTC);

    fn at(secs: i64) -> OffsetDateTime {
        T0 + Duration::seconds(secs)
    }

    fn from(secs: i64, rhost: Option<&str>) -> LastFailure {
        LastFailure {
            at: at(secs),
            service: "sshd".into(),
            rhost: rhost.map(str::to_owned),
            host: None,
        }
    }

    fn fail(policy: &Lockout, tally: &mut Tally, secs: i64, scope: Scope) -> bool {
        let rhost = (scope == Scope::Remote).then_some("192.0.2.7");
        policy.record_failure(tally, at(secs), scope, from(secs, rhost))
    }

    #[test]
    fn locks_after_deny_failures_within_the_interval() {
        let policy = Lockout::default();
        let mut tally = Tally::default();
        for i in 0..4 {
            assert!(!fail(&policy, &mut tally, i * 10, Scope::Local));
            assert_eq!(policy.locked_until(&tally, at(i * 10), Scope::Local), None);
        }
        assert!(fail(&policy, &mut tally, 40, Scope::Local));
        assert_eq!(tally.local.len(), 5);
        let until = Some(LockedUntil::Time(at(40 + 900)));
        assert_eq!(policy.locked_until(&tally, at(41), Scope::Local), until);
        assert_eq!(policy.locked_until(&tally, at(41), Scope::Remote), until);
        assert_eq!(policy.locked_until(&tally, at(40 + 900), Scope::Local), None);
    }

    #[test]
    fn the_window_slides_so_no_burst_around_its_edge_gets_through() {
        // A fixed window that began at the first failure would let 4 + 4
        // guesses through around its end; a sliding one locks at the 5th
        // failure within any 900 s.
        let policy = Lockout::default();
        let mut tally = Tally::default();
        assert!(!fail(&policy, &mut tally, 0, Scope::Remote));
        for i in 0..3 {
            assert!(!fail(&policy, &mut tally, 890 + i, Scope::Remote));
        }
        assert!(fail(&policy, &mut tally, 895, Scope::Remote), "5 within 900 s");
        let mut tally = Tally::default();
        for t in [0, 890, 891, 892] {
            fail(&policy, &mut tally, t, Scope::Remote);
        }
        // 905 - 0 > 900: the oldest of the last five fell out of the window.
        assert!(!fail(&policy, &mut tally, 905, Scope::Remote));
        assert!(fail(&policy, &mut tally, 906, Scope::Remote));
        assert_eq!(tally.remote.len(), 5, "only deny times are kept");
    }

    #[test]
    fn failures_spread_wider_than_the_interval_never_lock() {
        let policy = Lockout::default();
        let mut tally = Tally::default();
        for i in 0..50 {
            assert!(!fail(&policy, &mut tally, i * 230, Scope::Local));
        }
        assert_eq!(tally.local.len(), 5);
    }

    #[test]
    fn a_remote_lock_leaves_local_logins_open() {
        let policy = Lockout::default();
        let mut tally = Tally::default();
        for i in 0..5 {
            fail(&policy, &mut tally, i, Scope::Remote);
        }
        assert!(policy.locked_until(&tally, at(10), Scope::Remote).is_some());
        assert_eq!(policy.locked_until(&tally, at(10), Scope::Local), None);
        let state = policy.state(&tally, at(10));
        assert_eq!((state.local, state.remote.is_some()), (None, true));
        assert_eq!(tally.last_failure, Some(from(4, Some("192.0.2.7"))));
    }

    #[test]
    fn remote_failures_in_a_row_lock_remote_logins_until_an_unlock() {
        let policy = Lockout {
            deny: 5,
            fail_interval: 60,
            unlock_time: 60,
        };
        let mut tally = Tally::default();
        // Four guesses every two minutes never trip the window...
        let mut locked_at = None;
        for i in 0..REMOTE_LIMIT {
            let t = i64::from(i / 4) * 120 + i64::from(i % 4);
            if fail(&policy, &mut tally, t, Scope::Remote) {
                locked_at = Some(i + 1);
            }
        }
        // ...but the hundredth in a row locks remote logins for good.
        assert_eq!(locked_at, Some(REMOTE_LIMIT));
        let later = at(365 * 24 * 3600);
        assert_eq!(
            policy.locked_until(&tally, later, Scope::Remote),
            Some(LockedUntil::AdminUnlock)
        );
        assert_eq!(policy.locked_until(&tally, later, Scope::Local), None);
        // A success (from a local login) resets it; an unlock clears all.
        let mut after_success = tally.clone();
        after_success.reset();
        assert_eq!(policy.locked_until(&after_success, later, Scope::Remote), None);
        assert!(after_success.last_failure.is_some());
        tally.clear();
        assert_eq!(tally, Tally::default());
    }

    #[test]
    fn an_expired_lock_forgives_its_failures() {
        let policy = Lockout {
            deny: 2,
            fail_interval: 900,
            unlock_time: 60,
        };
        let mut tally = Tally::default();
        fail(&policy, &mut tally, 0, Scope::Local);
        assert!(fail(&policy, &mut tally, 1, Scope::Local));
        assert!(policy.locked_until(&tally, at(30), Scope::Local).is_some());
        assert!(!fail(&policy, &mut tally, 100, Scope::Local));
        assert_eq!(tally.local, [at(100)]);
        assert!(fail(&policy, &mut tally, 101, Scope::Local));
    }

    #[test]
    fn unlock_time_zero_locks_until_cleared() {
        let policy = Lockout {
            deny: 1,
            fail_interval: 900,
            unlock_time: 0,
        };
        let mut tally = Tally::default();
        assert!(fail(&policy, &mut tally, 0, Scope::Local));
        assert_eq!(
            policy.locked_until(&tally, at(1_000_000), Scope::Local),
            Some(LockedUntil::AdminUnlock)
        );
        tally.clear();
        assert_eq!(policy.locked_until(&tally, at(1_000_000), Scope::Local), None);
    }

    #[test]
    fn deny_zero_never_locks() {
        let policy = Lockout {
            deny: 0,
            ..Lockout::default()
        };
        let mut tally = Tally::default();
        for i in 0..200 {
            assert!(!fail(&policy, &mut tally, i, Scope::Remote));
        }
        assert_eq!(policy.locked_until(&tally, at(200), Scope::Remote), None);
        assert_eq!(tally.remote_in_a_row, 200);
        assert!(tally.remote.is_empty());
        // Failures recorded under an earlier policy do not lock either.
        let earlier = Lockout::default();
        for i in 0..5 {
            fail(&earlier, &mut tally, 300 + i, Scope::Local);
        }
        assert!(earlier.locked_until(&tally, at(310), Scope::Local).is_some());
        assert_eq!(policy.locked_until(&tally, at(310), Scope::Local), None);
    }

    #[test]
    fn a_tally_round_trips_through_toml() {
        let policy = Lockout::default();
        let mut tally = Tally::default();
        fail(&policy, &mut tally, 0, Scope::Local);
        fail(&policy, &mut tally, 5, Scope::Remote);
        let text = toml::to_string(&tally).unwrap();
        assert_eq!(toml::from_str::<Tally>(&text).unwrap(), tally);
        assert!(text.contains("remote_in_a_row = 1"), "{text}");
        assert_eq!(toml::to_string(&Tally::default()).unwrap(), "");
    }
}
