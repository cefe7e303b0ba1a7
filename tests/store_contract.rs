//! One contract, two stores: every scenario of the table runs through the
//! public `Store` API (login_info, login::attempt, renew, edit, read) on a file
//! store and on a fleet store in a throwaway cluster, and both must give the
//! outcome and the recorded state the table states.
//!
//! Where the two differ by design it is in `Backend::set_policy`: the file
//! store's policy is what the caller passes (pam.d and the config), the
//! fleet's is the database's (`db policy`), and the fleet backend passes a
//! hostile policy (deny = 0, max_age none) to every call to show it is
//! ignored. Time passes by ageing every recorded instant through
//! `Store::edit` (`Step::Age`), the same on both, so no test waits.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::cell::Cell;

use pam_backup_codes::code::{CodeFormat, PlainCode};
use pam_backup_codes::codeset::{CodeSet, Lifetime};
use pam_backup_codes::config::PgSettings;
use pam_backup_codes::kdf::KdfParams;
use pam_backup_codes::lockout::{LockedUntil, Lockout, Scope};
use pam_backup_codes::login;
use pam_backup_codes::renewal::{self, Proof, Renewal};
use pam_backup_codes::store::location::Location;
use pam_backup_codes::store::{Edit, LoginInfo, PolicyChange, Store};
use pam_backup_codes::username::UserName;
use pam_backup_codes::verdict::{Attempt, Origin, Outcome, Policy, Refusal};
use time::{Duration, OffsetDateTime};

use common::or_skip;
use common::postgres::{Fleet, NEEDS};

const USER: &str = "contractuser";

/// One step of a scenario; the runner answers each with a short text.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// The policy from now on: (deny, fail_interval, unlock_time, max_age days).
    Policy(u32, u64, u64, u32),
    /// The code of this index of the current set, from this scope.
    Code(usize, Scope),
    /// A wrong code from this scope.
    Wrong(Scope),
    /// What login_info says before the prompt for this scope.
    Info(Scope),
    /// Every recorded instant moves this many seconds into the past.
    Age(i64),
    /// Code `i` of the current set expires in this many seconds.
    Expires(usize, i64),
    /// `backup-codes revoke`.
    Revoke,
    /// `backup-codes unlock`.
    Unlock,
    /// login_info, then a new set replaces the old one, then code `i` of the
    /// NEW set is tried with the hashing login_info gave (and, if `old`,
    /// code `i` of the OLD set).
    ReplacedMidway(usize, bool),
    /// `backup-codes renew` (`Store::renew`) with code `i` of the current
    /// set, or a wrong code (`None`), typed; renewed, the new set's codes
    /// are the current ones.
    Renew(Option<usize>),
    /// The recorded state: "local=N remote=N row=N used=N".
    State,
}

use Scope::{Local, Remote};
use Step::*;

/// The table: each scenario's steps and what each answers, on both stores.
fn scenarios() -> Vec<(&'static str, Vec<(Step, &'static str)>)> {
    vec![
        (
            "sliding window",
            vec![
                (Policy(3, 60, 60, 0), "ok"),
                (Wrong(Remote), "wrong"),
                (Wrong(Remote), "wrong"),
                (Age(61), "ok"),
                (Wrong(Remote), "wrong"),
                // The oldest of the newest three is 61 s older: no lock.
                (Wrong(Remote), "wrong"),
                (Wrong(Remote), "wrong, now locked"),
                (Info(Remote), "locked until a time"),
                (Code(0, Remote), "locked until a time"),
                (State, "local=0 remote=3 row=5 used=0"),
                // The lock runs out, and forgives its failures.
                (Age(61), "ok"),
                (Info(Remote), "open"),
                (Wrong(Remote), "wrong"),
                (State, "local=0 remote=1 row=6 used=0"),
                (
                    Code(0, Remote),
                    "accepted code 1, 9 left, first use, 6 failures since",
                ),
                (State, "local=0 remote=0 row=0 used=1"),
            ],
        ),
        (
            "both scopes",
            vec![
                (Policy(3, 900, 900, 0), "ok"),
                (Wrong(Remote), "wrong"),
                (Wrong(Remote), "wrong"),
                (Wrong(Remote), "wrong, now locked"),
                (Info(Remote), "locked until a time"),
                // A remote lock leaves the console open.
                (Info(Local), "open"),
                (Wrong(Local), "wrong"),
                (State, "local=1 remote=3 row=3 used=0"),
                (
                    Code(1, Local),
                    "accepted code 2, 9 left, first use, 4 failures since",
                ),
                (State, "local=0 remote=0 row=0 used=1"),
                (Wrong(Local), "wrong"),
                (Wrong(Local), "wrong"),
                (Wrong(Local), "wrong, now locked"),
                // A local lock refuses every login.
                (Info(Remote), "locked until a time"),
                (Info(Local), "locked until a time"),
            ],
        ),
        (
            "100 remote failures in a row",
            [(Policy(1000, 1, 900, 0), "ok")]
                .into_iter()
                .chain((0..99).map(|_| (Wrong(Remote), "wrong")))
                .chain([
                    (Wrong(Remote), "wrong, now locked"),
                    (Info(Remote), "locked until unlock"),
                    (Info(Local), "open"),
                    (State, "local=0 remote=100 row=100 used=0"),
                    (Unlock, "ok"),
                    (Info(Remote), "open"),
                    (State, "local=0 remote=0 row=0 used=0"),
                ])
                .collect(),
        ),
        (
            "policy changes",
            vec![
                (Policy(3, 900, 900, 0), "ok"),
                (Wrong(Remote), "wrong"),
                (Wrong(Remote), "wrong"),
                (Wrong(Remote), "wrong, now locked"),
                (Policy(5, 900, 900, 0), "ok"),
                (Info(Remote), "open"),
                (Wrong(Remote), "wrong"),
                (Wrong(Remote), "wrong, now locked"),
                (State, "local=0 remote=5 row=5 used=0"),
                (Policy(5, 900, 0, 0), "ok"),
                (Info(Remote), "locked until unlock"),
                // deny = 0 switches the lockout off, recorded locks included.
                (Policy(0, 900, 900, 0), "ok"),
                (Info(Remote), "open"),
                (
                    Code(0, Remote),
                    "accepted code 1, 9 left, first use, 5 failures since",
                ),
            ],
        ),
        (
            "expiry and max_age",
            vec![
                (Policy(5, 900, 900, 0), "ok"),
                (Expires(0, 60), "ok"),
                (Age(61), "ok"),
                (Code(0, Remote), "expired code 1"),
                (
                    Code(1, Remote),
                    "accepted code 2, 8 left, first use, 0 failures since",
                ),
                (Policy(5, 900, 900, 1), "ok"),
                (Age(86_400), "ok"),
                (Code(2, Remote), "expired code 3"),
                // An expired code is no guess.
                (State, "local=0 remote=0 row=0 used=1"),
                (Policy(5, 900, 900, 0), "ok"),
                (
                    Code(2, Remote),
                    "accepted code 3, 7 left, after sshd from 192.0.2.7, 0 failures since",
                ),
            ],
        ),
        (
            "re-use and revoked",
            vec![
                (Policy(5, 900, 900, 0), "ok"),
                (
                    Code(0, Remote),
                    "accepted code 1, 9 left, first use, 0 failures since",
                ),
                (Code(0, Remote), "reused code 1"),
                (State, "local=0 remote=1 row=1 used=1"),
                (Revoke, "ok"),
                (Code(1, Remote), "revoked, matched code 2"),
                (Wrong(Local), "revoked"),
                (State, "local=1 remote=2 row=2 used=1"),
            ],
        ),
        (
            "renewal: a right code replaces the set, a wrong one counts, never while locked or revoked",
            vec![
                (Policy(3, 900, 900, 0), "ok"),
                (Renew(None), "wrong"),
                (State, "local=1 remote=0 row=0 used=0"),
                (Renew(Some(4)), "renewed, code 5 spent"),
                // A new set: no use, no failure on record, and its codes work.
                (State, "local=0 remote=0 row=0 used=0"),
                (
                    Code(1, Remote),
                    "accepted code 2, 9 left, first use, 0 failures since",
                ),
                (Renew(None), "wrong"),
                (Renew(None), "wrong"),
                (Renew(None), "wrong, now locked"),
                (Renew(Some(2)), "locked until a time"),
                (Unlock, "ok"),
                (Revoke, "ok"),
                // Refused before judging: nothing counted, nothing replaced.
                (Renew(Some(2)), "revoked"),
                (State, "local=0 remote=0 row=0 used=1"),
            ],
        ),
        (
            "a set replaced between login_info and the judgement",
            vec![
                (Policy(5, 900, 900, 0), "ok"),
                (
                    ReplacedMidway(0, false),
                    "accepted code 1, 9 left, first use, 0 failures since",
                ),
                (State, "local=0 remote=0 row=0 used=1"),
                (ReplacedMidway(0, true), "wrong"),
                (State, "local=0 remote=1 row=1 used=0"),
            ],
        ),
    ]
}

/// A store as the contract sees it: logins through `login`, administration
/// through `admin` (the same store on files; the login role and the owner on
/// the fleet).
struct Backend {
    name: &'static str,
    login: Store,
    admin: Store,
    /// The policy passed to every call.
    policy: Cell<Policy>,
    fleet: bool,
    _keep: Box<dyn std::any::Any>,
}

fn policy(deny: u32, fail_interval: u64, unlock_time: u64, max_age: u32) -> Policy {
    Policy {
        lockout: Lockout {
            deny,
            fail_interval,
            unlock_time,
        },
        lifetime: Lifetime::from_days(max_age),
    }
}

impl Backend {
    fn files() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let location = Location::Dir(tmp.path().join("store"));
        let open = || Store::open_or_create(&location, &PgSettings::default()).unwrap();
        Self {
            name: "files",
            login: open(),
            admin: open(),
            policy: Cell::new(Policy::default()),
            fleet: false,
            _keep: Box::new(tmp),
        }
    }

    fn fleet(fleet: Fleet) -> Self {
        let settings = fleet.pg_settings(Some("contract"));
        let open = |uri: String| Store::open(&uri.parse().unwrap(), &settings).unwrap();
        Self {
            name: "fleet",
            login: open(fleet.login_uri()),
            admin: open(fleet.cluster.tcp_uri(&fleet.owner, &fleet.db)),
            // What a hostile host would pass: no lockout, no max_age.
            policy: Cell::new(policy(0, 1, 0, 0)),
            fleet: true,
            _keep: Box::new(fleet),
        }
    }

    /// THE difference: the file store takes the caller's policy, the fleet
    /// store's is set in its database.
    fn set_policy(&self, wanted: Policy) {
        if !self.fleet {
            self.policy.set(wanted);
            return;
        }
        let l = wanted.lockout;
        let change = PolicyChange {
            deny: Some(l.deny),
            fail_interval: Some(l.fail_interval),
            unlock_time: Some(l.unlock_time),
            max_age: Some(wanted.lifetime.max_age.map_or(0, |d| d.whole_days() as u32)),
        };
        let set = self.admin.as_postgres().unwrap().set_policy(&change).unwrap();
        assert_eq!(set, wanted);
        // The store answers with the database's, whatever the caller has.
        assert_eq!(self.login.policy(self.policy.get()).unwrap(), wanted);
    }

    fn user() -> UserName {
        USER.parse().unwrap()
    }

    fn new_set(&self) -> Vec<PlainCode> {
        let (set, plain) = CodeSet::generate(
            CodeFormat::DEFAULT,
            10,
            KdfParams::default(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        self.admin.put(&Self::user(), set).unwrap();
        plain
    }

    fn edit(&self, change: impl FnOnce(&mut CodeSet)) {
        self.admin
            .edit(&Self::user(), |set| {
                let mut set = set.unwrap();
                change(&mut set);
                (Edit::Write(set), ())
            })
            .unwrap();
    }

    fn info(&self, origin: &Origin) -> Option<LoginInfo> {
        self.login
            .login_info(&Self::user(), &self.policy.get().lockout, origin)
            .unwrap()
    }

    fn attempt(
        &self,
        hashing: &pam_backup_codes::codeset::Hashing,
        input: &[u8],
        origin: &Origin,
    ) -> Outcome {
        let policy = self.policy.get();
        login::attempt(&self.login, &Self::user(), hashing, input, &policy, origin)
            .unwrap()
            .expect("a set")
    }

    /// Runs one step; `codes` is the current set's.
    fn step(&self, step: Step, codes: &mut Vec<PlainCode>) -> String {
        let origin = |scope| match scope {
            Local => Origin::new("login", None),
            Remote => Origin::new("sshd", Some("192.0.2.7")),
        };
        let ok = "ok".to_owned();
        match step {
            Policy(d, f, u, m) => {
                self.set_policy(policy(d, f, u, m));
                ok
            }
            Code(i, scope) => {
                let origin = origin(scope);
                let info = self.info(&origin).unwrap();
                outcome(&self.attempt(&info.hashing, codes[i].as_bytes(), &origin))
            }
            Wrong(scope) => {
                let origin = origin(scope);
                let info = self.info(&origin).unwrap();
                outcome(&self.attempt(&info.hashing, b"AAAAA-AAAAA", &origin))
            }
            Info(scope) => match self.info(&origin(scope)).unwrap().locked {
                None => "open".into(),
                Some(until) => locked(until),
            },
            Age(secs) => {
                let d = Duration::seconds(secs);
                self.edit(|set| {
                    set.created -= d;
                    let t = &mut set.tally;
                    t.local
                        .iter_mut()
                        .chain(t.remote.iter_mut())
                        .for_each(|at| *at -= d);
                    if let Some(last) = &mut t.last_failure {
                        last.at -= d;
                    }
                    for code in &mut set.codes {
                        if let Some(used) = &mut code.used {
                            used.at -= d;
                        }
                        if let Some(expires) = &mut code.expires {
                            *expires -= d;
                        }
                    }
                });
                ok
            }
            Expires(i, secs) => {
                self.edit(|set| {
                    set.codes[i].expires = Some(OffsetDateTime::now_utc() + Duration::seconds(secs))
                });
                ok
            }
            Revoke => {
                self.edit(|set| set.revoked = Some(OffsetDateTime::now_utc()));
                ok
            }
            Unlock => {
                self.edit(|set| set.tally.clear());
                ok
            }
            ReplacedMidway(i, old) => {
                let origin = origin(Remote);
                let stale = self.info(&origin).unwrap().hashing;
                let previous = std::mem::replace(codes, self.new_set());
                let input = if old { &previous[i] } else { &codes[i] };
                outcome(&self.attempt(&stale, input.as_bytes(), &origin))
            }
            Renew(code) => {
                let user = Self::user();
                let hashing = self.admin.read(&user).unwrap().unwrap().hashing();
                let input = code.map_or(&b"AAAAA-AAAAA"[..], |i| codes[i].as_bytes());
                let digest = hashing.digest(input).unwrap();
                let policy = self.policy.get();
                let origin = Origin::new(renewal::SERVICE, None);
                let proof = Proof::Code(Attempt {
                    user: &user,
                    hashing: &hashing,
                    digest: digest.as_deref(),
                    policy: &policy,
                    origin: &origin,
                });
                let (new, plain) = CodeSet::generate(
                    CodeFormat::DEFAULT,
                    10,
                    KdfParams::default(),
                    OffsetDateTime::now_utc(),
                )
                .unwrap();
                match self.login.renew(&user, &proof, &new).unwrap() {
                    Renewal::Renewed(spent) => {
                        *codes = plain;
                        match spent {
                            Some(n) => format!("renewed, code {n} spent"),
                            None => "renewed, the spent code unknown".into(),
                        }
                    }
                    Renewal::NoSet => "no set".into(),
                    Renewal::Revoked => "revoked".into(),
                    Renewal::Locked(until) => locked(until),
                    Renewal::Refused(refused) => outcome(&refused),
                    Renewal::NotSpent => "not spent".into(),
                    Renewal::Rehash(_) => "rehash".into(),
                }
            }
            State => {
                let set = self.admin.read(&Self::user()).unwrap().unwrap();
                let used = set.codes.iter().filter(|c| c.used.is_some()).count();
                let t = &set.tally;
                format!(
                    "local={} remote={} row={} used={used}",
                    t.local.len(),
                    t.remote.len(),
                    t.remote_in_a_row
                )
            }
        }
    }
}

fn locked(until: LockedUntil) -> String {
    match until {
        LockedUntil::Time(_) => "locked until a time".into(),
        LockedUntil::AdminUnlock => "locked until unlock".into(),
    }
}

/// An outcome without what differs by nature (instants, host names).
fn outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Accepted {
            code,
            remaining,
            previous,
            ..
        } => {
            let before = previous.used.as_ref().map_or("first use".to_owned(), |u| {
                format!("after {} from {}", u.service, u.rhost.as_deref().unwrap_or("-"))
            });
            format!(
                "accepted code {code}, {remaining} left, {before}, {} failures since",
                previous.failures
            )
        }
        Outcome::Expired { code, .. } => format!("expired code {code}"),
        Outcome::Typo => "typo".into(),
        Outcome::Locked(until) => locked(*until),
        Outcome::Refused { refusal, locked } => {
            // The code's number as the sheet numbers it, the same on both stores.
            let what = match refusal {
                Refusal::Wrong => "wrong".to_owned(),
                Refusal::Reused { code, .. } => format!("reused code {code}"),
                Refusal::Revoked { matched: Some(code) } => format!("revoked, matched code {code}"),
                Refusal::Revoked { matched: None } => "revoked".to_owned(),
            };
            if *locked {
                format!("{what}, now locked")
            } else {
                what
            }
        }
    }
}

/// Every scenario of the table on `backend`, each on a new set with the
/// default policy.
fn run_table(backend: &Backend) {
    for (name, steps) in scenarios() {
        backend.set_policy(Policy::default());
        let mut codes = backend.new_set();
        for (n, (step, want)) in steps.iter().enumerate() {
            let got = backend.step(*step, &mut codes);
            assert_eq!(got, *want, "{}: {name}, step {n} {step:?}", backend.name);
        }
    }
}

#[test]
fn the_file_store_keeps_the_contract() {
    let backend = Backend::files();
    run_table(&backend);
}

#[test]
fn the_fleet_store_keeps_the_contract() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let backend = Backend::fleet(fleet);
    run_table(&backend);
}
