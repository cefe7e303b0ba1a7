//! How long codes live: a code's own `expires`, or the set's maximum age.

use time::{Duration, OffsetDateTime};

use super::{CodeEntry, CodeSet};

/// How long the codes of a set live: a code's own `expires` if it has one,
/// else `max_age` after the set was created (none: for ever).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// The configured maximum age of a set (`max_age`, in days; 0 is off).
    pub max_age: Option<Duration>,
}

impl Lifetime {
    /// The lifetime for `max_age` days, 0 meaning no limit.
    pub fn from_days(days: u32) -> Self {
        Self {
            max_age: (days > 0).then(|| Duration::days(i64::from(days))),
        }
    }
}

/// What the age of a set means at one instant, for warnings and `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Age {
    /// No maximum age, or well within it.
    Fresh,
    /// In the last tenth of its life: the regular codes stop at this instant.
    Ageing(OffsetDateTime),
    /// Past its maximum age since this instant: the regular codes no longer work.
    Expired(OffsetDateTime),
}

impl CodeSet {
    /// When `entry` stops working under `lifetime`, if ever.
    pub fn expiry(&self, entry: &CodeEntry, lifetime: Lifetime) -> Option<OffsetDateTime> {
        entry
            .expires
            .or_else(|| lifetime.max_age.map(|age| self.created.saturating_add(age)))
    }

    /// Whether `entry` no longer works at `now` because it expired.
    pub fn is_expired(&self, entry: &CodeEntry, lifetime: Lifetime, now: OffsetDateTime) -> bool {
        self.expiry(entry, lifetime).is_some_and(|at| now >= at)
    }

    /// Codes that would still let their user in at `now`: unused, unexpired,
    /// and none once the set is revoked.
    pub fn usable(&self, lifetime: Lifetime, now: OffsetDateTime) -> usize {
        if self.revoked.is_some() {
            return 0;
        }
        self.codes
            .iter()
            .filter(|c| c.used.is_none() && !self.is_expired(c, lifetime, now))
            .count()
    }

    /// The age of the set at `now` against `lifetime`'s maximum age. A set
    /// warns for the last tenth of its life, then its regular codes (those
    /// without an `expires` of their own) stop working.
    pub fn age(&self, lifetime: Lifetime, now: OffsetDateTime) -> Age {
        let Some(max_age) = lifetime.max_age else {
            return Age::Fresh;
        };
        let end = self.created.saturating_add(max_age);
        if now >= end {
            Age::Expired(end)
        } else if now >= end.saturating_sub(max_age / 10) {
            Age::Ageing(end)
        } else {
            Age::Fresh
        }
    }
}
