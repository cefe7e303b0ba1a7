//! One login attempt against the store, free of PAM: hash once, then have the
//! store judge the digest under its lock (match, mark used or count the
//! failure) and durably record the outcome before reporting it.

use std::fmt;

use time::OffsetDateTime;

use crate::codeset::{Age, CodeSet, CodeUse, Hashing, Lifetime, Match, clip_field};
use crate::kdf::{KdfError, KdfParams, Salt};
use crate::lockout::{LockedUntil, Lockout, Scope};
use crate::store::{Attempt, Judgement, Store, StoreError};
use crate::username::UserName;

/// Where a login comes from, recorded with the code it uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The PAM service.
    pub service: String,
    /// The remote host, if known.
    pub rhost: Option<String>,
}

impl Origin {
    /// An origin fit to be logged and recorded. Both names come from the
    /// application, the remote host often from the client: control
    /// characters are escaped (no forged log lines, no escape sequences on
    /// an admin's terminal) and each is cut to what the store file accepts
    /// (a longer one would make the file unreadable after one success).
    pub fn new(service: &str, rhost: Option<&str>) -> Self {
        let clean = |text: &str| clip_field(&escape_deceptive(text));
        Self {
            service: clean(service),
            rhost: rhost.filter(|h| !h.is_empty()).map(clean),
        }
    }

    /// The lockout scope: remote when PAM knew a remote host.
    pub fn scope(&self) -> Scope {
        if self.rhost.is_some() {
            Scope::Remote
        } else {
            Scope::Local
        }
    }

    /// The record of a use or a failure at `at`.
    fn event_at(&self, at: OffsetDateTime) -> CodeUse {
        CodeUse {
            at,
            service: self.service.clone(),
            rhost: self.rhost.clone(),
            host: None,
        }
    }
}

/// `text` with every [`is_deceptive`] character escaped (`\n`, `\u{1b}`,
/// `\u{202e}`, …).
pub fn escape_deceptive(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_deceptive(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that must not reach a log or a terminal as they are: controls
/// (line breaks, escape sequences), line and paragraph separators, and the
/// bidirectional overrides and isolates that make text display in another
/// order than it reads ("Trojan Source").
pub fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{061c}' | '\u{200e}' | '\u{200f}' // bidi marks
            | '\u{202a}'..='\u{202e}' // bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}' // bidi isolates
        )
}

/// The rules a login is judged by, from options and config.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// The rate limit.
    pub lockout: Lockout,
    /// How long codes live.
    pub lifetime: Lifetime,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.lockout;
        write!(
            f,
            "deny {} within {} s, unlock_time {} s",
            l.deny, l.fail_interval, l.unlock_time
        )?;
        if l.deny == 0 {
            f.write_str(" (no lockout)")?;
        } else if l.unlock_time == 0 {
            f.write_str(" (until `backup-codes unlock`)")?;
        }
        match self.lifetime.max_age {
            Some(age) => write!(f, ", max_age {} days", age.whole_days()),
            None => f.write_str(", max_age 0 (no limit)"),
        }
    }
}

/// What became of an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The code was unused and is now durably marked used.
    Accepted {
        /// Codes left that still work (unused and unexpired).
        remaining: usize,
        /// The set is in the last tenth of its maximum age: its regular
        /// codes stop at this instant.
        ageing: Option<OffsetDateTime>,
    },
    /// The code matched, but it expired at this instant. Refused like a
    /// wrong code, but not counted as a guess: whoever typed it held it.
    Expired(OffsetDateTime),
    /// No unused code matched; the failure was counted.
    Refused {
        /// Why.
        refusal: Refusal,
        /// This failure locked the codes.
        locked: bool,
    },
    /// The codes are locked; nothing was hashed or counted.
    Locked(LockedUntil),
}

/// Why an attempt was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Nothing matched (or the user was removed meanwhile).
    Wrong,
    /// The code was valid once and was used then.
    Reused(CodeUse),
    /// The set is revoked; `matched` if the input was one of its codes
    /// (someone holds the revoked sheet).
    Revoked {
        /// The input matched a code of the revoked set.
        matched: bool,
    },
}

/// The store or the KDF failed; the attempt must be refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoginError {
    /// The store could not be read or written.
    Store(StoreError),
    /// Hashing failed.
    Kdf(KdfError),
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => e.fmt(f),
            Self::Kdf(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LoginError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Store(e) => Some(e),
            Self::Kdf(e) => Some(e),
        }
    }
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<KdfError> for LoginError {
    fn from(e: KdfError) -> Self {
        Self::Kdf(e)
    }
}

/// Tries `input` against `user`'s set. `hashing` is what the store said
/// before prompting ([`Store::login_info`]); the one Argon2id evaluation is
/// done with it, on this host and outside any lock, and the store then judges
/// the digest under its lock ([`Store::judge`]). The caller checks the lock
/// state before prompting (no prompt while locked); the check that counts is
/// the store's, under the lock.
///
/// `clock` is read again once the store lock is held, so that the times
/// recorded by concurrent attempts follow the order in which they were
/// judged: a time taken before the hash (or the prompt) can be older than a
/// failure another attempt has just recorded, and the lockout would take it
/// for a clock that went backwards and reset the window, losing failures.
pub fn attempt(
    store: &Store,
    user: &UserName,
    hashing: &Hashing,
    input: &[u8],
    policy: &Policy,
    origin: &Origin,
    clock: impl Fn() -> OffsetDateTime,
) -> Result<Outcome, LoginError> {
    let mut hashing = hashing.clone();
    // A new set replacing the old one while we hashed (rare) costs a second
    // hash; a second replacement during one login is refused.
    for _ in 0..2 {
        let digest = hashing.digest(input)?;
        let attempt = Attempt {
            user,
            hashing: &hashing,
            digest: digest.as_deref(),
            policy,
            origin,
        };
        match store.judge(&attempt, &clock)? {
            Judgement::Judged(outcome) => return Ok(outcome),
            Judgement::Rehash(new) => hashing = new,
        }
    }
    Ok(Outcome::Refused {
        refusal: Refusal::Wrong,
        locked: false,
    })
}

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
            return Outcome::Expired(at);
        }
    }
    let refusal = match found {
        _ if set.revoked.is_some() => Refusal::Revoked {
            matched: found != Match::None,
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
            set.tally.reset();
            return Outcome::Accepted {
                remaining: set.usable(policy.lifetime, now),
                ageing: match set.age(policy.lifetime, now) {
                    Age::Ageing(end) => Some(end),
                    Age::Fresh | Age::Expired(_) => None,
                },
            };
        }
        Match::Used(i) => set
            .codes
            .get(i)
            .and_then(|c| c.used.clone())
            .map_or(Refusal::Wrong, Refusal::Reused),
        Match::None => Refusal::Wrong,
    };
    let locked = lockout.record_failure(&mut set.tally, now, scope, origin.event_at(now));
    Outcome::Refused { refusal, locked }
}

/// Burns one Argon2id evaluation at `params` with a random salt, so that a
/// user without codes costs as much time as one with codes.
pub fn decoy(params: &KdfParams, input: &[u8]) -> Result<(), KdfError> {
    let salt: Salt = crate::kdf::new_salt()?;
    let input = input.get(..crate::code::MAX_INPUT_LEN).unwrap_or(input);
    params.hash(&salt, input).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::{CodeFormat, PlainCode};
    use time::Duration;

    fn setup() -> (tempfile::TempDir, Store, UserName, Vec<PlainCode>) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open_or_create(
            &crate::store::location::Location::Dir(tmp.path().join("store")),
            &crate::config::PgSettings::default(),
        )
        .unwrap();
        let user: UserName = "alice".parse().unwrap();
        let (set, plain) = CodeSet::generate(
            CodeFormat::DEFAULT,
            3,
            KdfParams::default(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        store.put(&user, set).unwrap();
        (tmp, store, user, plain)
    }

    fn origin() -> Origin {
        Origin {
            service: "sshd".into(),
            rhost: Some("192.0.2.7".into()),
        }
    }

    fn try_code(
        store: &Store,
        user: &UserName,
        input: &[u8],
        policy: &Policy,
        now: OffsetDateTime,
    ) -> Outcome {
        let hashing = store.read(user).unwrap().unwrap().hashing();
        attempt(store, user, &hashing, input, policy, &origin(), || now).unwrap()
    }

    #[test]
    fn a_code_works_once_and_its_use_is_recorded() {
        let (_tmp, store, alice, plain) = setup();
        let now = OffsetDateTime::now_utc();
        let policy = Policy::default();
        let code = plain[1].display();
        assert_eq!(
            try_code(&store, &alice, code.as_bytes(), &policy, now),
            Outcome::Accepted {
                remaining: 2,
                ageing: None
            }
        );
        let again = try_code(&store, &alice, code.as_bytes(), &policy, now);
        let Outcome::Refused {
            refusal: Refusal::Reused(used),
            locked: false,
        } = again
        else {
            panic!("{again:?}");
        };
        assert_eq!(used.service, "sshd");
        assert_eq!(used.rhost.as_deref(), Some("192.0.2.7"));
        let set = store.read(&alice).unwrap().unwrap();
        assert_eq!(set.remaining(), 2);
        assert_eq!(set.tally.remote.len(), 1);
        assert_eq!(set.tally.remote_in_a_row, 1);
        let last = set.tally.last_failure.unwrap();
        assert_eq!((last.at, last.service.as_str()), (now, "sshd"));
    }

    #[test]
    fn failures_lock_and_a_success_resets() {
        let (_tmp, store, alice, plain) = setup();
        let now = OffsetDateTime::now_utc();
        let policy = Policy {
            lockout: Lockout {
                deny: 2,
                fail_interval: 900,
                unlock_time: 60,
            },
            ..Policy::default()
        };
        assert_eq!(
            try_code(&store, &alice, b"x", &policy, now),
            Outcome::Refused {
                refusal: Refusal::Wrong,
                locked: false
            }
        );
        assert_eq!(
            try_code(&store, &alice, b"y", &policy, now),
            Outcome::Refused {
                refusal: Refusal::Wrong,
                locked: true
            }
        );
        // While locked even a good code is not looked at.
        assert!(matches!(
            try_code(&store, &alice, plain[0].as_bytes(), &policy, now),
            Outcome::Locked(_)
        ));
        let later = now + Duration::seconds(61);
        assert_eq!(
            try_code(&store, &alice, plain[0].as_bytes(), &policy, later),
            Outcome::Accepted {
                remaining: 2,
                ageing: None
            }
        );
        let tally = store.read(&alice).unwrap().unwrap().tally;
        assert_eq!((tally.failures(), tally.remote_in_a_row), (0, 0));
        assert!(tally.last_failure.is_some(), "kept for status");
    }

    #[test]
    fn a_set_replaced_after_the_snapshot_is_matched_against_the_new_one() {
        let (_tmp, store, alice, old_plain) = setup();
        let snapshot = store.read(&alice).unwrap().unwrap().hashing();
        let (new_set, new_plain) = CodeSet::generate(
            CodeFormat::DEFAULT,
            3,
            KdfParams::default(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        store.put(&alice, new_set).unwrap();
        let now = OffsetDateTime::now_utc();
        let policy = Policy::default();
        let old = attempt(
            &store,
            &alice,
            &snapshot,
            old_plain[0].as_bytes(),
            &policy,
            &origin(),
            || now,
        )
        .unwrap();
        assert_eq!(
            old,
            Outcome::Refused {
                refusal: Refusal::Wrong,
                locked: false
            }
        );
        let new = attempt(
            &store,
            &alice,
            &snapshot,
            new_plain[0].as_bytes(),
            &policy,
            &origin(),
            || now,
        )
        .unwrap();
        assert_eq!(
            new,
            Outcome::Accepted {
                remaining: 2,
                ageing: None
            }
        );
    }

    #[test]
    fn the_time_of_an_attempt_is_taken_under_the_store_lock() {
        // Concurrent attempts must record times in the order they are judged
        // (see `attempt`): the clock is read again once the lock is held.
        let (_tmp, store, alice, _plain) = setup();
        let snapshot = store.read(&alice).unwrap().unwrap().hashing();
        let held = std::cell::RefCell::new(Vec::new());
        let clock = || {
            let probe = std::fs::File::open(store.location()).unwrap();
            held.borrow_mut().push(probe.try_lock().is_err());
            OffsetDateTime::now_utc()
        };
        attempt(
            &store,
            &alice,
            &snapshot,
            b"wrong",
            &Policy::default(),
            &origin(),
            clock,
        )
        .unwrap();
        // Read once, and under the lock.
        assert_eq!(*held.borrow(), [true]);
    }

    #[test]
    fn an_origin_is_escaped_and_fits_the_store() {
        let origin = Origin::new("sshd", Some("evil\nhost\u{1b}[2J"));
        assert_eq!(origin.rhost.as_deref(), Some("evil\\nhost\\u{1b}[2J"));
        let origin = Origin::new("sshd", Some("a\u{202e}b\u{2028}c\u{2067}d\u{85}é"));
        assert_eq!(
            origin.rhost.as_deref(),
            Some("a\\u{202e}b\\u{2028}c\\u{2067}d\\u{85}é")
        );
        assert_eq!(Origin::new("sudo", Some("")).rhost, None);
        let long = Origin::new(&"é".repeat(200), Some(&"\u{7}".repeat(100)));
        assert!(long.service.len() <= crate::codeset::MAX_FIELD_LEN);
        assert!(
            long.rhost
                .is_some_and(|h| h.len() <= crate::codeset::MAX_FIELD_LEN)
        );
    }

    #[test]
    fn a_revoked_set_refuses_its_codes_and_counts_the_attempt() {
        let (_tmp, store, alice, plain) = setup();
        let now = OffsetDateTime::now_utc();
        store
            .edit(&alice, |set| {
                let mut set = set.unwrap();
                set.revoked = Some(now);
                (crate::store::Edit::Write(set), ())
            })
            .unwrap();
        let policy = Policy::default();
        assert_eq!(
            try_code(&store, &alice, plain[0].as_bytes(), &policy, now),
            Outcome::Refused {
                refusal: Refusal::Revoked { matched: true },
                locked: false
            }
        );
        assert_eq!(
            try_code(&store, &alice, b"00000-00000", &policy, now),
            Outcome::Refused {
                refusal: Refusal::Revoked { matched: false },
                locked: false
            }
        );
        let set = store.read(&alice).unwrap().unwrap();
        assert_eq!((set.remaining(), set.tally.remote.len()), (0, 2));
        assert!(set.codes.iter().all(|c| c.used.is_none()));
    }

    #[test]
    fn a_remote_lock_leaves_local_logins_open() {
        let (_tmp, store, alice, plain) = setup();
        let now = OffsetDateTime::now_utc();
        let policy = Policy {
            lockout: Lockout {
                deny: 2,
                ..Lockout::default()
            },
            ..Policy::default()
        };
        try_code(&store, &alice, b"x", &policy, now);
        try_code(&store, &alice, b"y", &policy, now);
        assert!(matches!(
            try_code(&store, &alice, plain[0].as_bytes(), &policy, now),
            Outcome::Locked(_)
        ));
        let snapshot = store.read(&alice).unwrap().unwrap().hashing();
        let console = Origin::new("login", None);
        let local = attempt(
            &store,
            &alice,
            &snapshot,
            plain[0].as_bytes(),
            &policy,
            &console,
            || now,
        )
        .unwrap();
        assert_eq!(
            local,
            Outcome::Accepted {
                remaining: 2,
                ageing: None
            }
        );
        // The success reset both scopes: remote logins are open again.
        assert_eq!(
            try_code(&store, &alice, plain[1].as_bytes(), &policy, now),
            Outcome::Accepted {
                remaining: 1,
                ageing: None
            }
        );
    }

    #[test]
    fn an_unenrolled_user_is_refused() {
        let (_tmp, store, alice, plain) = setup();
        let snapshot = store.read(&alice).unwrap().unwrap().hashing();
        store.edit(&alice, |_| (crate::store::Edit::Remove, ())).unwrap();
        let out = attempt(
            &store,
            &alice,
            &snapshot,
            plain[0].as_bytes(),
            &Policy::default(),
            &origin(),
            OffsetDateTime::now_utc,
        )
        .unwrap();
        assert_eq!(
            out,
            Outcome::Refused {
                refusal: Refusal::Wrong,
                locked: false
            }
        );
        assert!(store.read(&alice).unwrap().is_none());
    }

    #[test]
    fn an_expired_code_is_refused_and_not_counted() {
        // The clock is passed in: no waiting for a real expiry.
        let (_tmp, store, alice, _plain) = setup();
        let t0 = OffsetDateTime::now_utc();
        let expires = t0 + Duration::hours(1);
        let mut set = store.read(&alice).unwrap().unwrap();
        let temporary = set.add_temporary(1, expires).unwrap();
        store.put(&alice, set).unwrap();
        let policy = Policy::default();
        let code = temporary[0].as_bytes();

        let before = store.read(&alice).unwrap().unwrap();
        let late = expires + Duration::SECOND;
        assert_eq!(
            try_code(&store, &alice, code, &policy, late),
            Outcome::Expired(expires)
        );
        // Neither used nor counted: the file did not change.
        assert_eq!(store.read(&alice).unwrap().unwrap(), before);

        let just_in_time = expires - Duration::SECOND;
        assert_eq!(
            try_code(&store, &alice, code, &policy, just_in_time),
            Outcome::Accepted {
                remaining: 3,
                ageing: None
            }
        );
        // Used now: that is a re-use, counted, expired or not.
        assert!(matches!(
            try_code(&store, &alice, code, &policy, late),
            Outcome::Refused {
                refusal: Refusal::Reused(_),
                ..
            }
        ));
    }

    #[test]
    fn an_old_set_warns_then_stops_working() {
        let (_tmp, store, alice, plain) = setup();
        let created = store.read(&alice).unwrap().unwrap().created;
        let policy = Policy {
            lifetime: Lifetime::from_days(100),
            ..Policy::default()
        };
        let end = created + Duration::days(100);
        assert_eq!(
            try_code(
                &store,
                &alice,
                plain[0].as_bytes(),
                &policy,
                created + Duration::days(89)
            ),
            Outcome::Accepted {
                remaining: 2,
                ageing: None
            }
        );
        assert_eq!(
            try_code(
                &store,
                &alice,
                plain[1].as_bytes(),
                &policy,
                created + Duration::days(95)
            ),
            Outcome::Accepted {
                remaining: 1,
                ageing: Some(end)
            }
        );
        assert_eq!(
            try_code(&store, &alice, plain[2].as_bytes(), &policy, end),
            Outcome::Expired(end)
        );
        let set = store.read(&alice).unwrap().unwrap();
        assert_eq!((set.remaining(), set.tally.failures()), (1, 0));
        // Without the limit, the same code works.
        assert!(matches!(
            try_code(&store, &alice, plain[2].as_bytes(), &Policy::default(), end),
            Outcome::Accepted { remaining: 0, .. }
        ));
    }
}
