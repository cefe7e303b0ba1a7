//! The judgement over a set read under the store's lock.

use time::OffsetDateTime;

use super::{Attempt, Outcome, Previous, Refusal};
use crate::codeset::{Age, CodeNumber, CodeSet, Match};
use crate::record::CodeUse;

/// The judgement itself, on a set read under the store's lock: the lock
/// state for the login's scope, then the digest against every hash; the
/// code is marked used (and the tally reset) or the failure counted in
/// `set`, which the store then writes back unless the outcome is
/// [`Outcome::Locked`] or [`Outcome::Expired`] (nothing changed). Every code
/// of a revoked set is refused; an expired one is refused uncounted.
pub fn judge(set: &mut CodeSet, attempt: &Attempt<'_>, now: OffsetDateTime) -> Outcome {
    let (policy, origin) = (attempt.policy, attempt.origin);
    let lockout = &policy.lockout;
    let scope = origin.scope();
    if let Some(until) = lockout.locked_until(&set.tally, now, scope) {
        return Outcome::Locked(until);
    }
    let found = attempt.digest.map_or(Match::None, |d| set.find(d));
    if let (Match::Unused(i), None) = (found, set.revoked) {
        let expired = set.codes.get(i).and_then(|entry| {
            let at = set.expiry(entry, policy.lifetime)?;
            (now >= at).then_some(at)
        });
        if let Some(at) = expired {
            return Outcome::Expired {
                at,
                code: CodeNumber::of_index(i),
            };
        }
    }
    let refusal = match found {
        _ if set.revoked.is_some() => Refusal::Revoked {
            matched: match found {
                Match::Unused(i) | Match::Used(i) => Some(CodeNumber::of_index(i)),
                Match::None => None,
            },
        },
        Match::Unused(i) => {
            let Some(entry) = set.codes.get_mut(i) else {
                // `find` only returns indices into `set.codes`; were that
                // ever wrong, refuse rather than accept an unmarked code.
                return Outcome::Refused {
                    refusal: Refusal::Wrong,
                    locked: false,
                };
            };
            entry.used = Some(origin.event_at(now));
            // Read before the reset forgets the failures: the latest other
            // use, and the failures on record since.
            let previous = Previous {
                used: latest_use(set, i),
                failures: set.tally.failures(),
            };
            set.tally.reset();
            return Outcome::Accepted {
                code: CodeNumber::of_index(i),
                remaining: set.usable(policy.lifetime, now),
                ageing: match set.age(policy.lifetime, now) {
                    Age::Ageing(end) => Some(end),
                    Age::Fresh | Age::Expired(_) => None,
                },
                previous,
            };
        }
        Match::Used(i) => set
            .codes
            .get(i)
            .and_then(|c| c.used.clone())
            .map_or(Refusal::Wrong, |used| Refusal::Reused {
                used,
                code: CodeNumber::of_index(i),
            }),
        Match::None => Refusal::Wrong,
    };
    let locked = lockout.record_failure(&mut set.tally, now, scope, origin.event_at(now));
    Outcome::Refused { refusal, locked }
}

/// The latest recorded use of a code of `set` other than the one at `this`.
fn latest_use(set: &CodeSet, this: usize) -> Option<CodeUse> {
    set.codes
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != this)
        .filter_map(|(_, entry)| entry.used.as_ref())
        .max_by_key(|used| used.at)
        .cloned()
}
