//! Renewal: a user's set replaced only together with spending one of its
//! current codes, so that a password alone never mints a sheet.
//!
//! The proof is judged under the store's lock in the same step that writes
//! the new set (`Store::renew`, the layer above): either the code is spent and
//! the new set replaces the old one, or nothing changes but a counted
//! failure. The proof is one of:
//!
//! - a code typed to the renewing command itself, judged exactly as a login
//!   judges it ([`verdict::judge`]: lock state, every hash, the failure counted
//!   towards the lockout);
//! - a code the user's own authentication to the command has just spent:
//!   sudo's PAM stack asked for one (the "sudo" recipe), and the set records
//!   its use by that service a moment ago. Such a use proves possession once
//!   only: the set it is recorded in is the one being replaced.
//!
//! Either way the set must be enrolled, unrevoked and unlocked in both
//! scopes: a renewal is no way around a lock. On the fleet store only a
//! typed code is a proof (the database's `backup_codes.renew` judges it):
//! the database cannot tell which host recorded a use by sudo, since every
//! host shares the login role and names itself.

use time::{Duration, OffsetDateTime};

use crate::codeset::{CodeNumber, CodeSet, Hashing};
use crate::lockout::LockedUntil;
use crate::verdict::{self, Attempt, Outcome, Policy};

/// How long after sudo's authentication spent a code that code still proves
/// possession for a renewal.
pub const SPENT_WITHIN: Duration = Duration::MINUTE;

/// The PAM service renewal's own code is recorded and logged under.
pub const SERVICE: &str = "backup-codes-renew";

/// How the renewing user proves they hold the current sheet.
#[derive(Clone, Copy, Debug)]
pub enum Proof<'a> {
    /// A code typed to the renewing command, hashed with the set's
    /// parameters: judged like a login (and counted if wrong).
    Code(Attempt<'a>),
    /// A code this PAM service (sudo) spent for the user at most `within`
    /// before the judgement, while authenticating the renewing command.
    Spent {
        /// The service that must have recorded the use.
        service: &'a str,
        /// How recent the use must be.
        within: Duration,
        /// The rules: a renewal is refused while either scope is locked.
        policy: &'a Policy,
    },
}

/// What became of a renewal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// The code of this number was spent and the new set replaced the old
    /// one, durably. No number when the fleet's answer was lost and the
    /// renewal is known only from the salt in force.
    Renewed(Option<CodeNumber>),
    /// The user has no set to renew.
    NoSet,
    /// The set is revoked: only an administrator gives a new one.
    Revoked,
    /// The codes are locked in one scope or the other; nothing was judged.
    Locked(LockedUntil),
    /// The typed code was judged and refused (the failure was counted), or
    /// matched a code that expired; the set is unchanged but for the tally.
    Refused(Outcome),
    /// No code of this set was spent by the service recently.
    NotSpent,
    /// The set was replaced since the code was hashed: hash again with the
    /// new parameters and retry. Nothing was counted.
    Rehash(Hashing),
}

/// What a renewal learns before it prompts (`Store::renewal_info`, in the store layer above),
/// to refuse early; advisory: the judgement under the store's lock decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Before {
    /// How to hash the code typed to renew.
    pub hashing: Hashing,
    /// The set is revoked (the fleet store tells only when it judges).
    pub revoked: bool,
    /// A lock in either scope.
    pub locked: Option<LockedUntil>,
    /// The PAM service asked about (sudo) spent one of the set's codes within
    /// [`SPENT_WITHIN`], which proves possession ([`Proof::Spent`]): never
    /// on the fleet store, where it proves nothing.
    pub spent: bool,
    /// Codes still usable, where the store can tell before judging (not the
    /// fleet store: the login role reads no set).
    pub usable: Option<usize>,
}

impl Before {
    /// What `set` (the file store's, read at `now`) tells under `policy`,
    /// with `spent_by` the service whose recent use is a proof.
    pub fn of(set: &CodeSet, policy: &Policy, spent_by: &str, now: OffsetDateTime) -> Self {
        let locks = policy.lockout.state(&set.tally, now);
        Self {
            hashing: set.hashing(),
            revoked: set.revoked.is_some(),
            locked: locks.local.max(locks.remote),
            spent: spent_recently(set, spent_by, SPENT_WITHIN, now),
            usable: Some(set.usable(policy.lifetime, now)),
        }
    }
}

/// What the store does with the set it read under its lock.
#[derive(Debug)]
pub enum Decision {
    /// Nothing changes.
    Keep,
    /// Write this set back: the failure was counted in it.
    Count(Box<CodeSet>),
    /// Write the new set in place of the old one.
    Replace,
}

/// Judges `proof` against `old`, the set as read under the store's lock at
/// `now`; the store then does what the [`Decision`] says before answering.
pub fn judge(old: Option<CodeSet>, proof: &Proof<'_>, now: OffsetDateTime) -> (Decision, Renewal) {
    let Some(mut set) = old else {
        return (Decision::Keep, Renewal::NoSet);
    };
    if set.revoked.is_some() {
        return (Decision::Keep, Renewal::Revoked);
    }
    let policy = match proof {
        Proof::Code(attempt) => attempt.policy,
        Proof::Spent { policy, .. } => *policy,
    };
    let locks = policy.lockout.state(&set.tally, now);
    if let Some(until) = locks.local.max(locks.remote) {
        return (Decision::Keep, Renewal::Locked(until));
    }
    match proof {
        Proof::Code(attempt) => {
            let hashing = set.hashing();
            if hashing != *attempt.hashing {
                return (Decision::Keep, Renewal::Rehash(hashing));
            }
            match verdict::judge(&mut set, attempt, now) {
                Outcome::Accepted { code, .. } => (Decision::Replace, Renewal::Renewed(Some(code))),
                // Nothing changed in the set: nothing to write.
                outcome @ (Outcome::Locked(_) | Outcome::Expired { .. } | Outcome::Typo) => {
                    (Decision::Keep, Renewal::Refused(outcome))
                }
                outcome @ Outcome::Refused { .. } => {
                    (Decision::Count(Box::new(set)), Renewal::Refused(outcome))
                }
            }
        }
        Proof::Spent { service, within, .. } => match recently_spent(&set, service, *within, now) {
            Some(code) => (Decision::Replace, Renewal::Renewed(Some(code))),
            None => (Decision::Keep, Renewal::NotSpent),
        },
    }
}

/// Whether `service` spent one of `set`'s codes in the `within` before `now`
/// (a use dated a little after `now`, a clock step, counts too: at most
/// `within` either way).
pub fn spent_recently(set: &CodeSet, service: &str, within: Duration, now: OffsetDateTime) -> bool {
    recently_spent(set, service, within, now).is_some()
}

/// The number of the code [`spent_recently`] finds (the latest one, if
/// several were).
pub fn recently_spent(
    set: &CodeSet,
    service: &str,
    within: Duration,
    now: OffsetDateTime,
) -> Option<CodeNumber> {
    if set.revoked.is_some() {
        return None;
    }
    set.codes
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i, c.used.as_ref()?)))
        .filter(|(_, used)| used.service == service && (used.at - now).abs() <= within)
        .max_by_key(|(_, used)| used.at)
        .map(|(i, _)| CodeNumber::of_index(i))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::code::CodeFormat;
    use crate::codeset::CodeUse;
    use crate::kdf::KdfParams;
    use crate::lockout::{Lockout, Scope};
    use crate::username::UserName;
    use crate::verdict::{Origin, Refusal};

    /// A fresh set of three codes, and its codes.
    pub(crate) fn set(now: OffsetDateTime) -> (CodeSet, Vec<crate::code::PlainCode>) {
        CodeSet::generate(CodeFormat::DEFAULT, 3, KdfParams::default(), now).unwrap()
    }

    /// The proof "sudo just spent one of the codes".
    pub(crate) fn spent(policy: &Policy) -> Proof<'_> {
        Proof::Spent {
            service: "sudo",
            within: SPENT_WITHIN,
            policy,
        }
    }

    #[test]
    fn a_code_spent_by_sudo_a_moment_ago_proves_possession_once() {
        let now = OffsetDateTime::now_utc();
        let policy = Policy::default();
        let (mut old, _) = set(now);
        assert!(matches!(
            judge(Some(old.clone()), &spent(&policy), now),
            (Decision::Keep, Renewal::NotSpent)
        ));
        let used = |service: &str, at| CodeUse {
            at,
            service: service.to_owned(),
            rhost: None,
            host: None,
        };
        // Another service, or sudo too long ago: no proof.
        old.codes[0].used = Some(used("sshd", now - Duration::seconds(5)));
        old.codes[1].used = Some(used("sudo", now - Duration::seconds(61)));
        assert!(matches!(
            judge(Some(old.clone()), &spent(&policy), now),
            (Decision::Keep, Renewal::NotSpent)
        ));
        old.codes[2].used = Some(used("sudo", now - Duration::seconds(10)));
        assert!(matches!(
            judge(Some(old.clone()), &spent(&policy), now),
            (Decision::Replace, Renewal::Renewed(Some(n))) if n == CodeNumber::of_index(2)
        ));
        // Revoked since, or locked: refused all the same.
        let mut revoked = old.clone();
        revoked.revoked = Some(now);
        assert!(matches!(
            judge(Some(revoked), &spent(&policy), now),
            (Decision::Keep, Renewal::Revoked)
        ));
        let strict = Policy {
            lockout: Lockout {
                deny: 1,
                ..Lockout::default()
            },
            ..Policy::default()
        };
        let mut locked = old;
        strict
            .lockout
            .record_failure(&mut locked.tally, now, Scope::Remote, used("sshd", now));
        assert!(matches!(
            judge(Some(locked), &spent(&strict), now),
            (Decision::Keep, Renewal::Locked(_))
        ));
        assert!(matches!(
            judge(None, &spent(&policy), now),
            (Decision::Keep, Renewal::NoSet)
        ));
    }

    #[test]
    fn a_typed_code_is_judged_like_a_login() {
        let now = OffsetDateTime::now_utc();
        let (old, plain) = set(now);
        let user: UserName = "alice".parse().unwrap();
        let policy = Policy::default();
        let origin = Origin::new(SERVICE, None);
        let hashing = old.hashing();
        let proof = |digest| {
            Proof::Code(Attempt {
                user: &user,
                hashing: &hashing,
                digest,
                policy: &policy,
                origin: &origin,
            })
        };
        let right = hashing.digest(plain[1].as_bytes()).unwrap();
        let (decision, renewal) = judge(Some(old.clone()), &proof(right.as_deref()), now);
        assert!(matches!(decision, Decision::Replace), "{decision:?}");
        assert_eq!(renewal, Renewal::Renewed(Some(CodeNumber::of_index(1))));

        let wrong = hashing.digest(b"00000-00000").unwrap();
        let (decision, renewal) = judge(Some(old.clone()), &proof(wrong.as_deref()), now);
        assert_eq!(
            renewal,
            Renewal::Refused(Outcome::Refused {
                refusal: Refusal::Wrong,
                locked: false
            })
        );
        let Decision::Count(counted) = decision else {
            panic!("{decision:?}")
        };
        assert_eq!(counted.tally.local.len(), 1, "counted as a local failure");
        assert_eq!(counted.remaining(), 3);

        // Parameters changed meanwhile: hash again, nothing counted.
        let (newer, _) = set(now);
        let (decision, renewal) = judge(Some(newer.clone()), &proof(right.as_deref()), now);
        assert!(matches!(decision, Decision::Keep));
        assert_eq!(renewal, Renewal::Rehash(newer.hashing()));
    }
}
