//! The rate limit: pam_faillock's policy, with the tally kept in the user file.
//!
//! After `deny` consecutive failures, the first of which is at most
//! `fail_interval` seconds old, the codes are locked for `unlock_time` seconds
//! (0: until `backup-codes unlock`). A success resets the tally; `deny = 0`
//! disables locking. The lock is stored as the instant it began, so a changed
//! `unlock_time` applies to locks already in place, as in pam_faillock.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// The policy, from options and config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lockout {
    /// Consecutive failures that lock; 0 never locks.
    pub deny: u32,
    /// Seconds within which the failures must fall.
    pub fail_interval: u64,
    /// Seconds a lock lasts; 0 until an administrator unlocks.
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

/// The failure tally persisted in a user file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tally {
    /// Consecutive failures in the current window.
    pub failures: u32,
    /// When the current window of failures began.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_failure: Option<OffsetDateTime>,
    /// When the codes were locked, if they are.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub locked_at: Option<OffsetDateTime>,
}

/// Until when codes are locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockedUntil {
    /// Until this instant.
    Time(OffsetDateTime),
    /// Until an administrator runs `backup-codes unlock` (`unlock_time = 0`).
    AdminUnlock,
}

fn seconds(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX))
}

impl Lockout {
    /// Whether the tally locks the codes at `now`, and until when.
    /// `deny = 0` disables the lockout, a lock already recorded included (as
    /// pam_faillock does).
    pub fn locked_until(&self, tally: &Tally, now: OffsetDateTime) -> Option<LockedUntil> {
        if self.deny == 0 {
            return None;
        }
        let locked_at = tally.locked_at?;
        if self.unlock_time == 0 {
            return Some(LockedUntil::AdminUnlock);
        }
        let until = locked_at.saturating_add(seconds(self.unlock_time));
        (now < until).then_some(LockedUntil::Time(until))
    }

    /// Counts a failure at `now`; returns true if it locked the codes.
    pub fn record_failure(&self, tally: &mut Tally, now: OffsetDateTime) -> bool {
        let lock_expired = tally.locked_at.is_some() && self.locked_until(tally, now).is_none();
        let window_over = tally
            .first_failure
            .is_none_or(|first| now - first > seconds(self.fail_interval) || now < first);
        if lock_expired || window_over {
            *tally = Tally {
                failures: 0,
                first_failure: Some(now),
                locked_at: None,
            };
        }
        tally.failures = tally.failures.saturating_add(1);
        if self.deny > 0 && tally.failures >= self.deny && tally.locked_at.is_none() {
            tally.locked_at = Some(now);
            return true;
        }
        false
    }
}

impl Tally {
    /// Clears failures and any lock (a success, or `backup-codes unlock`).
    pub fn reset(&mut self) {
        *self = Self::default();
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

    #[test]
    fn locks_after_deny_failures_within_the_interval() {
        let policy = Lockout::default();
        let mut tally = Tally::default();
        for i in 0..4 {
            assert!(!policy.record_failure(&mut tally, at(i * 10)));
            assert_eq!(policy.locked_until(&tally, at(i * 10)), None);
        }
        assert!(policy.record_failure(&mut tally, at(40)));
        assert_eq!(tally.failures, 5);
        assert_eq!(
            policy.locked_until(&tally, at(41)),
            Some(LockedUntil::Time(at(40 + 900)))
        );
        assert_eq!(policy.locked_until(&tally, at(40 + 900)), None);
    }

    #[test]
    fn failures_spread_wider_than_the_interval_do_not_lock() {
        let policy = Lockout::default();
        let mut tally = Tally::default();
        for i in 0..10 {
            assert!(!policy.record_failure(&mut tally, at(i * 300)));
        }
        assert!(tally.failures < 5);
    }

    #[test]
    fn an_expired_lock_starts_a_new_window() {
        let policy = Lockout {
            deny: 2,
            fail_interval: 900,
            unlock_time: 60,
        };
        let mut tally = Tally::default();
        policy.record_failure(&mut tally, at(0));
        assert!(policy.record_failure(&mut tally, at(1)));
        assert!(policy.locked_until(&tally, at(30)).is_some());
        assert!(!policy.record_failure(&mut tally, at(100)));
        assert_eq!(tally.failures, 1);
        assert_eq!(tally.locked_at, None);
    }

    #[test]
    fn unlock_time_zero_locks_until_reset() {
        let policy = Lockout {
            deny: 1,
            fail_interval: 900,
            unlock_time: 0,
        };
        let mut tally = Tally::default();
        assert!(policy.record_failure(&mut tally, at(0)));
        assert_eq!(
            policy.locked_until(&tally, at(1_000_000)),
            Some(LockedUntil::AdminUnlock)
        );
        tally.reset();
        assert_eq!(policy.locked_until(&tally, at(1_000_000)), None);
    }

    #[test]
    fn deny_zero_never_locks() {
        let policy = Lockout {
            deny: 0,
            ..Lockout::default()
        };
        let mut tally = Tally::default();
        for i in 0..100 {
            assert!(!policy.record_failure(&mut tally, at(i)));
        }
        assert_eq!(policy.locked_until(&tally, at(100)), None);
        assert_eq!(tally.failures, 100);
        // A lock recorded under an earlier policy is not enforced either.
        tally.locked_at = Some(at(99));
        assert_eq!(policy.locked_until(&tally, at(100)), None);
    }
}
