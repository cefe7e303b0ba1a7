//! The store: where users' code sets live, behind one interface.
//!
//! The login (through the PAM glue) and every command of the CLI talk to
//! [`Store`] and never to a backend. A login asks for what it needs to hash
//! ([`Store::login_info`]: the KDF parameters, salt, code format and lock
//! state, never a hash), hashes once on this host, then has the digest judged
//! under the store's lock ([`Store::judge`]): matched against every stored
//! hash, the code marked used or the failure counted, durably, before the
//! answer. Administration reads a whole [`CodeSet`] and writes it back under
//! the same lock ([`Store::edit`]), so a command needs no code of its own per
//! backend. A renewal replaces a set only together with spending one of its
//! codes, judged like a login, in one locked step ([`Store::renew`]).
//!
//! The backend is a directory of TOML files ([`dir`], the embedded default)
//! or a PostgreSQL database shared by a fleet of hosts ([`postgres`]), as
//! the [`location`] says.

pub mod dir;
pub mod location;
pub mod postgres;

use std::fmt;
use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

use crate::codeset::{CodeSet, Hashing, ParseError};
use crate::kdf::{Hasher, KdfError};
use crate::lockout::{LockedUntil, Lockout};
use crate::renewal::{Before, Proof, Renewal};
use crate::username::UserName;
use crate::verdict::{Attempt, Origin, Outcome, Policy};
pub use dir::{DEFAULT_DIR, DirLock, DirStore, MAX_FILE_SIZE};
use location::Location;
pub use postgres::PolicyChange;
use postgres::{PgError, PgSettings, PgStore};

/// A problem with the store, naming the path and what is wrong with it.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The store directory does not exist: nobody has codes there.
    Missing {
        /// The store directory.
        path: PathBuf,
    },
    /// A system call failed.
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What was being done ("open", "write", "rename"…).
        action: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The file or directory fails an ownership, type or mode check.
    Insecure {
        /// The file or directory concerned.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file's content is not a valid code set.
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        reason: ParseError,
    },
    /// A set that would not read back; the file was left as it was.
    Unwritable {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with the set.
        reason: ParseError,
    },
    /// The backend cannot do this.
    Unsupported {
        /// The store, for messages.
        location: String,
        /// What was asked of it.
        operation: &'static str,
    },
    /// The PostgreSQL store failed.
    Database {
        /// The store's URI.
        uri: String,
        /// What went wrong.
        reason: PgError,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { path } => write!(f, "{}: the store directory does not exist", path.display()),
            Self::Io { path, action, source } => {
                write!(f, "{}: cannot {action}: {source}", path.display())
            }
            Self::Insecure { path, reason } => {
                write!(f, "{}: refused, {reason}", path.display())
            }
            Self::Corrupt { path, reason } => write!(f, "{}: corrupt, {reason}", path.display()),
            Self::Unwritable { path, reason } => {
                write!(
                    f,
                    "{}: not rewritten, the new content would be invalid: {reason}",
                    path.display()
                )
            }
            Self::Unsupported { location, operation } => {
                write!(f, "{location}: {operation} is not supported on a fleet store")
            }
            Self::Database { uri, reason } => write!(f, "{uri}: {reason}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Corrupt { reason, .. } | Self::Unwritable { reason, .. } => Some(reason),
            Self::Database { reason, .. } => Some(reason),
            Self::Missing { .. } | Self::Insecure { .. } | Self::Unsupported { .. } => None,
        }
    }
}

impl StoreError {
    pub(crate) fn io(path: PathBuf, action: &'static str, errno: Errno) -> Self {
        Self::Io {
            path,
            action,
            source: io::Error::from(errno),
        }
    }
}

/// An open store, whichever the backend.
#[derive(Debug)]
#[non_exhaustive]
pub enum Store {
    /// A directory of one TOML file per user.
    Dir(DirStore),
    /// A PostgreSQL database (boxed: it holds a runtime).
    Postgres(Box<PgStore>),
}

/// What a login learns before it prompts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginInfo {
    /// How to hash the attempt.
    pub hashing: Hashing,
    /// Whether the codes are locked for this login, and until when. Advisory:
    /// the judgement checks again under the lock.
    pub locked: Option<LockedUntil>,
}

/// The store's answer to an [`Attempt`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// Judged, and the result is durable.
    Judged(Outcome),
    /// The set was replaced since the attempt was hashed: hash again with this
    /// and retry. Nothing was counted.
    Rehash(Hashing),
    /// The user has no set (the fleet store; unenrolled since the login
    /// looked, or a login hint outlived its set). Nothing was counted.
    Absent,
}

/// What [`Store::edit`] does with a user's set.
#[derive(Clone, Debug, PartialEq, Eq)]
// One short-lived value per edit, moved once: boxing the set would only add
// an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Edit {
    /// Leave it as it is.
    Keep,
    /// Replace it (or enrol the user) with this set.
    Write(CodeSet),
    /// Delete it: the user is no longer enrolled.
    Remove,
}

/// What `backup-codes check` found in the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// One line per problem.
    pub problems: Vec<String>,
    /// What was verified, for when there is no problem.
    pub summary: String,
    /// Risks that are not errors (a database without a synchronous standby).
    pub warnings: Vec<String>,
    /// How the database server proved itself (PostgreSQL only).
    pub transport: Option<postgres::Transport>,
}

impl Store {
    /// Opens an existing store and checks that it is trusted. A PostgreSQL
    /// store is connected to when first used. [`StoreError::Missing`] if a
    /// store directory does not exist.
    pub fn open(location: &Location, settings: &PgSettings) -> Result<Self, StoreError> {
        match location {
            Location::Dir(path) => DirStore::open(path).map(Self::Dir),
            Location::Postgres(uri) => PgStore::open(uri, settings)
                .map(|store| Self::Postgres(Box::new(store)))
                .map_err(|reason| StoreError::Database {
                    uri: uri.to_string(),
                    reason,
                }),
        }
    }

    /// Opens the store, creating a missing store directory (root, 0700).
    pub fn open_or_create(location: &Location, settings: &PgSettings) -> Result<Self, StoreError> {
        match location {
            Location::Dir(path) => DirStore::open_or_create(path).map(Self::Dir),
            Location::Postgres(_) => Self::open(location, settings),
        }
    }

    /// Where the store is, for messages.
    pub fn location(&self) -> String {
        match self {
            Self::Dir(store) => store.path().display().to_string(),
            Self::Postgres(store) => store.uri().to_string(),
        }
    }

    /// The PostgreSQL store, if that is the backend (`db init`).
    pub fn as_postgres(&self) -> Option<&PgStore> {
        match self {
            Self::Postgres(store) => Some(store),
            Self::Dir(_) => None,
        }
    }

    fn db_error(&self, reason: PgError) -> StoreError {
        StoreError::Database {
            uri: self.location(),
            reason,
        }
    }

    /// What a login needs before prompting; `None` if the user has no set.
    /// `policy` is the file store's (from pam.d and the config file); the
    /// fleet store judges by the database's and takes none from a host.
    /// Each store tells the lock state by its own clock (the file store the
    /// system's, the fleet store the database's).
    pub fn login_info(
        &self,
        user: &UserName,
        policy: &Lockout,
        origin: &Origin,
    ) -> Result<Option<LoginInfo>, StoreError> {
        match self {
            Self::Dir(store) => store.login_info(user, policy, origin.scope()),
            Self::Postgres(store) => store
                .login_info(user, origin.rhost.is_some())
                .map_err(|e| self.db_error(e)),
        }
    }

    /// The hashing of `user`'s login hint, which lets a login prompt before
    /// asking the store (see `postgres::hint`): only the fleet store keeps
    /// hints. An error names a hint that was not trusted or not understood
    /// (to be logged; the login goes on without it).
    pub fn hint(&self, user: &UserName) -> Result<Option<Hashing>, postgres::HintError> {
        match self {
            Self::Dir(_) => Ok(None),
            Self::Postgres(store) => store.hint(user),
        }
    }

    /// Judges a hashed attempt under the store's lock and records the result
    /// durably before returning it. The time of the attempt is the store's,
    /// taken once the lock is held (see `login::attempt`, the layer above):
    /// the file store reads the system clock, the PostgreSQL store uses the
    /// database's, one for the whole fleet.
    pub fn judge(&self, attempt: &Attempt<'_>) -> Result<Judgement, StoreError> {
        match self {
            Self::Dir(store) => store.judge(attempt),
            Self::Postgres(store) => store.judge(attempt).map_err(|e| self.db_error(e)),
        }
    }

    /// [`judge`](Self::judge), with the attempt hashed by `hash` (whose
    /// digest replaces `attempt.digest`): the file store hashes, then
    /// judges under its lock; the fleet store makes its connection while
    /// the hash runs on a second thread. Nothing is sent or written before
    /// the digest is complete; a failed `hash` is returned as it is.
    pub fn judge_while_hashing(
        &self,
        attempt: &Attempt<'_>,
        hash: impl Hasher,
    ) -> Result<Result<Judgement, KdfError>, StoreError> {
        match self {
            Self::Dir(store) => match hash() {
                Ok(digest) => store
                    .judge(&Attempt {
                        digest: digest.as_deref(),
                        ..*attempt
                    })
                    .map(Ok),
                Err(e) => Ok(Err(e)),
            },
            Self::Postgres(store) => store
                .judge_while_hashing(attempt, hash)
                .map_err(|e| self.db_error(e)),
        }
    }

    /// For a login with nothing to judge (no set, or no such account): on
    /// the file store, costs what [`judge`](Self::judge) costs, the store's
    /// lock and a durable write of `stand_in` (a set shaped like the real
    /// ones, [`CodeSet::stand_in`]), and fails where a judgement would (a
    /// read-only or full store), so that neither the time nor the result
    /// tells such a login from a real one. No user's set is read or changed.
    /// On PostgreSQL the lookup before the prompt is the round trip such a
    /// login makes; nothing more is sent.
    pub fn write_stand_in(&self, stand_in: &CodeSet) -> Result<(), StoreError> {
        match self {
            Self::Dir(store) => store.write_stand_in(stand_in),
            Self::Postgres(_) => Ok(()),
        }
    }

    /// The same store, its file store reading the time from `clock` (the
    /// crate's tests); a fleet store keeps the database's.
    #[cfg(test)]
    pub(crate) fn with_clock(self, clock: impl Fn() -> time::OffsetDateTime + Send + Sync + 'static) -> Self {
        match self {
            Self::Dir(store) => Self::Dir(store.with_clock(clock)),
            Self::Postgres(_) => self,
        }
    }

    /// Whether the store is a fleet's database (whose lockout policy is the
    /// database's own, `db policy`).
    pub fn is_fleet(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The policy logins are judged by: `local` (from pam.d and the config
    /// file) on the file store, the database's on the fleet store.
    pub fn policy(&self, local: Policy) -> Result<Policy, StoreError> {
        match self {
            Self::Dir(_) => Ok(local),
            Self::Postgres(store) => store.policy().map_err(|e| self.db_error(e)),
        }
    }

    /// The users that have a set, sorted.
    pub fn users(&self) -> Result<Vec<UserName>, StoreError> {
        match self {
            Self::Dir(store) => store.list().map(|(users, _)| users),
            Self::Postgres(store) => store.users().map_err(|e| self.db_error(e)),
        }
    }

    /// The users that have a set, sorted, and the paths of the store's
    /// other entries (a file store's files that name no valid user, stale
    /// temporary files excepted; none on PostgreSQL), so that a command
    /// listing the store can report what it could not read.
    pub fn entries(&self) -> Result<(Vec<UserName>, Vec<PathBuf>), StoreError> {
        match self {
            Self::Dir(store) => store.entries(),
            Self::Postgres(store) => store
                .users()
                .map(|users| (users, Vec::new()))
                .map_err(|e| self.db_error(e)),
        }
    }

    /// A user's whole set (administration), `None` if the user has none.
    pub fn read(&self, user: &UserName) -> Result<Option<CodeSet>, StoreError> {
        match self {
            Self::Dir(store) => store.read(user),
            Self::Postgres(store) => store.read(user).map_err(|e| self.db_error(e)),
        }
    }

    /// Reads a user's set under the store's lock, lets `change` decide what to
    /// do with it, and does it before the lock is released. Returns what
    /// `change` returned.
    pub fn edit<T>(
        &self,
        user: &UserName,
        change: impl FnOnce(Option<CodeSet>) -> (Edit, T),
    ) -> Result<T, StoreError> {
        match self {
            Self::Dir(store) => store.edit(user, change),
            Self::Postgres(store) => store.edit(user, change).map_err(|e| self.db_error(e)),
        }
    }

    /// What a renewal learns before it prompts (see [`Before`]);
    /// `None` if the user has no set. `policy` is the file store's; the
    /// fleet store's lock state is by the database's policy, and it tells
    /// no more than a login learns (the login role reads no set).
    pub fn renewal_info(
        &self,
        user: &UserName,
        policy: &Policy,
        spent_by: &str,
    ) -> Result<Option<Before>, StoreError> {
        match self {
            Self::Dir(store) => store.renewal_info(user, policy, spent_by),
            // Remote: the lock of either scope, as a renewal is judged.
            Self::Postgres(store) => {
                Ok(store
                    .login_info(user, true)
                    .map_err(|e| self.db_error(e))?
                    .map(|info| Before {
                        hashing: info.hashing,
                        revoked: false,
                        locked: info.locked,
                        spent: false,
                        usable: None,
                    }))
            }
        }
    }

    /// Replaces `user`'s set with `new` only together with spending one of
    /// its current codes, as `proof` says (see [`crate::renewal`]): judged,
    /// written and made durable under the store's lock in one step, so that
    /// either the code is spent and `new` is the set, or the old set stays
    /// (with a wrong code counted). The time is the store's, taken once the
    /// lock is held (the fleet store uses the database's clock, and its
    /// policy). The fleet store takes a typed code only: a code sudo spent
    /// proves nothing there ([`StoreError::Unsupported`]), since the
    /// database cannot tell which host recorded it.
    pub fn renew(&self, user: &UserName, proof: &Proof<'_>, new: &CodeSet) -> Result<Renewal, StoreError> {
        match (self, proof) {
            (Self::Dir(store), _) => store.renew(user, proof, new),
            (Self::Postgres(store), Proof::Code(attempt)) => {
                store.renew(user, attempt, new).map_err(|e| self.db_error(e))
            }
            (Self::Postgres(_), Proof::Spent { .. }) => Err(StoreError::Unsupported {
                location: self.location(),
                operation: "renewing on a code sudo spent",
            }),
        }
    }

    /// Replaces (or creates) a user's set.
    pub fn put(&self, user: &UserName, set: CodeSet) -> Result<(), StoreError> {
        self.edit(user, |_| (Edit::Write(set), ()))
    }

    /// Checks the store as `backup-codes check` reports it: the backend's own
    /// trust checks, and that every set reads.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        match self {
            Self::Dir(store) => store.check(),
            Self::Postgres(store) => store.check().map_err(|e| self.db_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codeset::{CodeNumber, CodeUse};
    use crate::renewal::tests::{set, spent};
    use time::OffsetDateTime;

    /// A typed code is judged alike by both stores (tests/store_contract.rs);
    /// the code sudo just spent is a proof only where the store itself
    /// recorded which host spent it, on the file store.
    #[test]
    fn only_the_file_store_takes_the_code_sudo_spent_as_proof() {
        let tmp = tempfile::tempdir().unwrap();
        let store =
            Store::open_or_create(&Location::Dir(tmp.path().join("store")), &PgSettings::default()).unwrap();
        let user: UserName = "alice".parse().unwrap();
        let now = OffsetDateTime::now_utc();
        let (mut old, _) = set(now);
        store.put(&user, old.clone()).unwrap();
        let (new, _) = set(now);
        let policy = Policy::default();
        let spent = spent(&policy);
        // Sudo spent nothing: no proof, nothing replaced.
        assert_eq!(store.renew(&user, &spent, &new).unwrap(), Renewal::NotSpent);
        assert_eq!(store.read(&user).unwrap().unwrap(), old);
        // Sudo spent the second code a moment ago: the new set is the user's, whole.
        old.codes[1].used = Some(CodeUse {
            at: now,
            service: "sudo".into(),
            rhost: None,
            host: None,
        });
        store.put(&user, old).unwrap();
        assert_eq!(
            store.renew(&user, &spent, &new).unwrap(),
            Renewal::Renewed(Some(CodeNumber::of_index(1)))
        );
        assert_eq!(store.read(&user).unwrap().unwrap(), new);

        // The fleet store takes no code sudo spent, before anything is sent
        // (opening connects to nothing: the socket directory is never reached).
        let fleet = Store::open(
            &"postgresql://pam@/codes?host=/nonexistent/pbc"
                .parse::<Location>()
                .unwrap(),
            &PgSettings::default(),
        )
        .unwrap();
        let e = fleet.renew(&user, &spent, &new).unwrap_err();
        assert!(matches!(e, StoreError::Unsupported { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("renewing on a code sudo spent is not supported on a fleet store"),
            "{e}"
        );
    }
}
