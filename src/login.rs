//! One login attempt against the store, free of PAM: hash once, then have the
//! store judge the digest under its lock (match, mark used or count the
//! failure) and durably record the outcome before reporting it.

use std::fmt;

use time::OffsetDateTime;

use crate::code::{CodeFormat, MAX_INPUT_LEN};
use crate::codeset::{CodeSet, Hashing};
use crate::config::CodeSettings;
use crate::kdf::{self, KdfError, KdfParams, Salt};
use crate::store::{Judgement, Store, StoreError};
use crate::username::UserName;
use crate::verdict::{Attempt, Origin, Outcome, Policy, Refusal};

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
/// The time of the attempt is the store's, taken once its lock is held, so
/// that the times recorded by concurrent attempts follow the order in which
/// they were judged: a time taken before the hash (or the prompt) can be
/// older than a failure another attempt has just recorded, and the lockout
/// would take it for a clock that went backwards and reset the window,
/// losing failures.
///
/// `hashing` may also come from a login hint (see `store::postgres::hint`)
/// rather than from the store: nothing in it decides anything; a stale salt
/// is answered by the store with the set's own (nothing counted), and hashed
/// again. `None` when the store says the user has no set (unenrolled since,
/// or a hint outlived the set), which the caller answers as it answers a
/// user without a set.
pub fn attempt(
    store: &Store,
    user: &UserName,
    hashing: &Hashing,
    input: &[u8],
    policy: &Policy,
    origin: &Origin,
) -> Result<Option<Outcome>, LoginError> {
    if hashing.is_typo(input) {
        return Ok(Some(Outcome::Typo));
    }
    let mut hashing = hashing.clone();
    // A new set replacing the old one while we hashed (rare) costs a second
    // hash; a second replacement during one login is refused.
    for _ in 0..2 {
        let attempt = Attempt {
            user,
            hashing: &hashing,
            digest: None,
            policy,
            origin,
        };
        match store.judge_while_hashing(&attempt, || hashing.digest(input))? {
            Ok(Judgement::Judged(outcome)) => return Ok(Some(outcome)),
            Ok(Judgement::Rehash(new)) => hashing = new,
            Ok(Judgement::Absent) => return Ok(None),
            Err(e) => return Err(LoginError::Kdf(e)),
        }
    }
    Ok(Some(Outcome::Refused {
        refusal: Refusal::Wrong,
        locked: false,
    }))
}

/// A login with nothing to judge (no set, or no such account) costs what a
/// judged one costs: one Argon2id evaluation of `input` at the configured
/// parameters, and on the file store a durable write of a stand-in set of the
/// configured shape under the store's lock ([`Store::write_stand_in`]). It
/// fails where a judgement would fail. Nothing is matched or recorded.
pub fn without_set(
    store: Option<&Store>,
    codes: &CodeSettings,
    input: &[u8],
    now: OffsetDateTime,
) -> Result<(), LoginError> {
    hash_in_vain(&codes.kdf(), input)?;
    if let Some(store) = store {
        let format = codes.format().unwrap_or(CodeFormat::DEFAULT);
        store.write_stand_in(&CodeSet::stand_in(format, codes.count, codes.kdf(), now))?;
    }
    Ok(())
}

/// Burns one Argon2id evaluation at `params` with a random salt, so that a
/// user without codes costs as much time as one with codes.
fn hash_in_vain(params: &KdfParams, input: &[u8]) -> Result<(), KdfError> {
    let salt: Salt = kdf::new_salt()?;
    let input = input.get(..MAX_INPUT_LEN).unwrap_or(input);
    params.hash(&salt, input).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::{CodeFormat, PlainCode};
    use crate::codeset::{CodeNumber, Lifetime};
    use crate::lockout::Lockout;
    use time::Duration;

    /// The default policy, but locking after `deny` failures (within the
    /// default 900 s) for `unlock_time` seconds.
    fn denying(deny: u32, unlock_time: u64) -> Policy {
        Policy {
            lockout: Lockout {
                deny,
                unlock_time,
                ..Lockout::default()
            },
            ..Policy::default()
        }
    }

    /// A fresh set of three codes in the default format, and its codes.
    fn three_codes() -> (CodeSet, Vec<PlainCode>) {
        CodeSet::generate(
            CodeFormat::DEFAULT,
            3,
            KdfParams::default(),
            OffsetDateTime::now_utc(),
        )
        .unwrap()
    }

    fn setup() -> (tempfile::TempDir, Store, UserName, Vec<PlainCode>) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open_or_create(
            &crate::store::location::Location::Dir(tmp.path().join("store")),
            &crate::store::postgres::PgSettings::default(),
        )
        .unwrap();
        let user: UserName = "alice".parse().unwrap();
        let (set, plain) = three_codes();
        store.put(&user, set).unwrap();
        (tmp, store, user, plain)
    }

    /// Codes left and the ageing warning of an accepted outcome.
    fn accepted(outcome: Outcome) -> (usize, Option<OffsetDateTime>) {
        match outcome {
            Outcome::Accepted {
                remaining, ageing, ..
            } => (remaining, ageing),
            other => panic!("not accepted: {other:?}"),
        }
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
        attempt(&at(store, now), user, &hashing, input, policy, &origin())
            .unwrap()
            .expect("a set")
    }

    /// `store` judging at `now`: the same directory, its clock fixed.
    fn at(store: &Store, now: OffsetDateTime) -> Store {
        Store::open(
            &crate::store::location::Location::Dir(store.location().into()),
            &crate::store::postgres::PgSettings::default(),
        )
        .unwrap()
        .with_clock(move || now)
    }

    #[test]
    fn a_code_works_once_and_its_use_is_recorded() {
        let (_tmp, store, alice, plain) = setup();
        let now = OffsetDateTime::now_utc();
        let policy = Policy::default();
        let code = plain[1].display();
        assert_eq!(
            accepted(try_code(&store, &alice, code.as_bytes(), &policy, now)),
            (2, None)
        );
        let again = try_code(&store, &alice, code.as_bytes(), &policy, now);
        let Outcome::Refused {
            refusal: Refusal::Reused { used, code },
            locked: false,
        } = again
        else {
            panic!("{again:?}");
        };
        // The second code of the sheet, numbered as the sheet numbers it.
        assert_eq!(code.get(), 2);
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
        let policy = denying(2, 60);
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
            accepted(try_code(&store, &alice, plain[0].as_bytes(), &policy, later)),
            (2, None)
        );
        let tally = store.read(&alice).unwrap().unwrap().tally;
        assert_eq!((tally.failures(), tally.remote_in_a_row), (0, 0));
        assert!(tally.last_failure.is_some(), "kept for status");
    }

    #[test]
    fn a_set_replaced_after_the_snapshot_is_matched_against_the_new_one() {
        let (_tmp, store, alice, old_plain) = setup();
        let snapshot = store.read(&alice).unwrap().unwrap().hashing();
        let (new_set, new_plain) = three_codes();
        store.put(&alice, new_set).unwrap();
        let store = at(&store, OffsetDateTime::now_utc());
        let policy = Policy::default();
        let judge = |input: &[u8]| {
            attempt(&store, &alice, &snapshot, input, &policy, &origin())
                .unwrap()
                .expect("a set")
        };
        assert_eq!(
            judge(old_plain[0].as_bytes()),
            Outcome::Refused {
                refusal: Refusal::Wrong,
                locked: false
            }
        );
        let new = judge(new_plain[0].as_bytes());
        assert_eq!(accepted(new), (2, None));
    }

    #[test]
    fn the_time_of_an_attempt_is_taken_under_the_store_lock() {
        // Concurrent attempts must record times in the order they are judged
        // (see `attempt`): the clock is read again once the lock is held.
        let (_tmp, store, alice, _plain) = setup();
        let snapshot = store.read(&alice).unwrap().unwrap().hashing();
        let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (dir, probes) = (store.location(), std::sync::Arc::clone(&held));
        let store = store.with_clock(move || {
            let probe = std::fs::File::open(&dir).unwrap();
            probes.lock().unwrap().push(probe.try_lock().is_err());
            OffsetDateTime::now_utc()
        });
        attempt(&store, &alice, &snapshot, b"wrong", &Policy::default(), &origin())
            .unwrap()
            .expect("a set");
        // Read once, and under the lock.
        assert_eq!(*held.lock().unwrap(), [true]);
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
        assert!(long.service.len() <= crate::text::MAX_FIELD_LEN);
        assert!(long.rhost.is_some_and(|h| h.len() <= crate::text::MAX_FIELD_LEN));
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
                refusal: Refusal::Revoked {
                    matched: Some(CodeNumber::of_index(0))
                },
                locked: false
            }
        );
        assert_eq!(
            try_code(&store, &alice, b"00000-00000", &policy, now),
            Outcome::Refused {
                refusal: Refusal::Revoked { matched: None },
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
        let policy = denying(2, Lockout::default().unlock_time);
        try_code(&store, &alice, b"x", &policy, now);
        try_code(&store, &alice, b"y", &policy, now);
        assert!(matches!(
            try_code(&store, &alice, plain[0].as_bytes(), &policy, now),
            Outcome::Locked(_)
        ));
        let snapshot = store.read(&alice).unwrap().unwrap().hashing();
        let console = Origin::new("login", None);
        let local = attempt(
            &at(&store, now),
            &alice,
            &snapshot,
            plain[0].as_bytes(),
            &policy,
            &console,
        )
        .unwrap()
        .expect("a set");
        assert_eq!(accepted(local), (2, None));
        // The success reset both scopes: remote logins are open again.
        assert_eq!(
            accepted(try_code(&store, &alice, plain[1].as_bytes(), &policy, now)),
            (1, None)
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
        )
        .unwrap()
        .expect("a set");
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
            // Added after the set's three: the fourth code.
            Outcome::Expired {
                at: expires,
                code: CodeNumber::of_index(3)
            }
        );
        // Neither used nor counted: the file did not change.
        assert_eq!(store.read(&alice).unwrap().unwrap(), before);

        let just_in_time = expires - Duration::SECOND;
        assert_eq!(
            accepted(try_code(&store, &alice, code, &policy, just_in_time)),
            (3, None)
        );
        // Used now: that is a re-use, counted, expired or not.
        assert!(matches!(
            try_code(&store, &alice, code, &policy, late),
            Outcome::Refused {
                refusal: Refusal::Reused { .. },
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
            accepted(try_code(
                &store,
                &alice,
                plain[0].as_bytes(),
                &policy,
                created + Duration::days(89)
            )),
            (2, None)
        );
        assert_eq!(
            accepted(try_code(
                &store,
                &alice,
                plain[1].as_bytes(),
                &policy,
                created + Duration::days(95)
            )),
            (1, Some(end))
        );
        assert_eq!(
            try_code(&store, &alice, plain[2].as_bytes(), &policy, end),
            Outcome::Expired {
                at: end,
                code: CodeNumber::of_index(2)
            }
        );
        let set = store.read(&alice).unwrap().unwrap();
        assert_eq!((set.remaining(), set.tally.failures()), (1, 0));
        // Without the limit, the same code works.
        assert!(matches!(
            try_code(&store, &alice, plain[2].as_bytes(), &Policy::default(), end),
            Outcome::Accepted { remaining: 0, .. }
        ));
    }

    #[test]
    fn a_typo_is_told_apart_and_counts_nothing() {
        let (_tmp, store, alice, plain) = setup();
        let now = OffsetDateTime::now_utc();
        let policy = Policy::default();
        let code = plain[0].display().to_string();
        // One symbol of the code changed: the check symbol no longer matches.
        let mut typo = code.clone().into_bytes();
        typo[2] = if typo[2] == b'7' { b'8' } else { b'7' };
        assert_eq!(try_code(&store, &alice, &typo, &policy, now), Outcome::Typo);
        let set = store.read(&alice).unwrap().unwrap();
        assert_eq!((set.remaining(), set.tally.failures()), (3, 0));
        assert_eq!(set.tally.last_failure, None);
        // The same code typed right logs in.
        assert_eq!(
            accepted(try_code(&store, &alice, code.as_bytes(), &policy, now)),
            (2, None)
        );
    }

    #[test]
    fn a_success_tells_the_previous_use_and_the_failures_since() {
        let (_tmp, store, alice, plain) = setup();
        let now = OffsetDateTime::now_utc();
        let policy = Policy::default();
        let Outcome::Accepted { previous, .. } = try_code(&store, &alice, plain[0].as_bytes(), &policy, now)
        else {
            panic!("not accepted");
        };
        assert_eq!(previous, crate::verdict::Previous::default());
        let wrong = b"00000-00000-0";
        for _ in 0..2 {
            assert!(matches!(
                try_code(&store, &alice, wrong, &policy, now),
                Outcome::Refused { .. }
            ));
        }
        let later = now + Duration::minutes(5);
        let Outcome::Accepted { previous, .. } =
            try_code(&store, &alice, plain[1].as_bytes(), &policy, later)
        else {
            panic!("not accepted");
        };
        let used = previous.used.unwrap();
        assert_eq!((used.at, used.service.as_str()), (now, "sshd"));
        assert_eq!(used.rhost.as_deref(), Some("192.0.2.7"));
        assert_eq!(previous.failures, 2);
    }

    #[test]
    fn a_set_without_check_symbols_keeps_working() {
        let (_tmp, store, alice, _) = setup();
        let old = CodeFormat::new(crate::code::Alphabet::Crockford, 10).unwrap();
        let (set, plain) =
            CodeSet::generate(old, 2, KdfParams::default(), OffsetDateTime::now_utc()).unwrap();
        let text = set.to_toml().unwrap();
        assert!(!text.contains("check_symbol"), "{text}");
        assert_eq!(plain[0].display().len(), 11);
        store.put(&alice, CodeSet::parse(&text).unwrap()).unwrap();
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            accepted(try_code(
                &store,
                &alice,
                plain[0].display().as_bytes(),
                &Policy::default(),
                now
            )),
            (1, None)
        );
        let (new, _) = CodeSet::generate(CodeFormat::DEFAULT, 2, KdfParams::default(), now).unwrap();
        assert!(new.to_toml().unwrap().contains("check_symbol = true"));
    }
}
