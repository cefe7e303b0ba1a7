//! The fleet store: one PostgreSQL database shared by many hosts, so that a
//! code is consumed once anywhere and the lockout counts across the fleet.
//!
//! A login uses the *login role*, which may execute two SECURITY DEFINER
//! functions and read no table ([`schema`]): `login_info` (KDF parameters,
//! salt, code format, lock state; never a hash) before the prompt, and
//! `judge` after one Argon2id evaluation on this host, in a transaction of
//! its own that takes a row lock on the user's set. Success is reported only
//! after `COMMIT` returned; a `COMMIT` whose answer was lost is refused and
//! reported as [`PgError::Ambiguous`]. A login holds no server session while
//! the person types: `login_info` runs on a short connection closed before
//! the prompt, `judge` on a new one after it, made while the Argon2id runs on
//! a scoped thread (see `session::Sessions::login_step_beside`). With a login
//! hint (`hint`) there is no connection before the prompt at all.
//! `backup-codes renew` on a fleet host uses the login role too: one
//! `CALL backup_codes.renew` spends a code judged as `judge` judges it and
//! replaces the set in the same transaction, or changes nothing else.
//!
//! Every connection makes the server prove itself first ([`transport`]):
//! TLS verified against `ca_file` and SCRAM-SHA-256 over TCP, or a trusted
//! Unix socket directory and SO_PEERCRED. The servers of a multi-host URI
//! are tried in order, each within `connect_timeout`; with
//! `target_session_attrs=read-write` a read-only one (a standby) is skipped.
//!
//! The CLI uses the database owner, reading and writing whole sets under a
//! row lock (`SELECT … FOR UPDATE`, behind a per-user advisory lock so that
//! enrolling a new user is serialised too).
//!
//! Inside the host process: a current-thread tokio runtime (no thread of its
//! own; one scoped thread hashes beside a connection), built per store and dropped with it, so no socket, descriptor or task
//! outlives the PAM call. Every step is bounded by `connect_timeout` on this
//! side (a stopped server still accepts TCP connections) and by the same
//! `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout`
//! on the server's. Host names are resolved with the system resolver, which
//! blocks (use an address, or /etc/hosts, where the resolver is slow); every
//! address is tried in turn, and TLS checks the certificate for the name.
//!
//! The files, each using only those below it: this one (the [`PgStore`]
//! type, `open`, the dispatch to the others); `check` (the check report);
//! `login` (`login_info`, `judge`), `renew` (a renewal through the login
//! role) and `admin` (the owner's reads, edits, `db init`, the policy);
//! `hint` (the login hints); `session` (connections, each await bounded by the
//! step's deadline), `rows` (the row decoders), `schema`, `transport`,
//! `tls`, `settings`; and `error` ([`PgError`]) at the bottom.

mod admin;
mod check;
mod error;
mod hint;
mod login;
mod renew;
mod rows;
mod schema;
mod session;
mod settings;
mod tls;
mod transport;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

pub use admin::PolicyChange;
pub use error::{Cause, PgError};
pub use hint::HintError;
pub use schema::{InitReport, SCHEMA_VERSION};
pub use settings::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_HINT_DIR, MAX_CONNECT_TIMEOUT, PgSettings, PgSettingsError,
};
pub use transport::{Channel, ServerAuth, Transport};

use super::location::{PgHost, PgUri};
use super::{Attempt, CheckReport, Edit, Judgement, LoginInfo};
use crate::codeset::{CodeSet, Hashing};
use crate::kdf::{Hasher, KdfError};
use crate::renewal::Renewal;
use crate::text::clip_field;
use crate::trusted::{self, Rules};
use crate::username::UserName;
use crate::verdict::{Outcome, Policy};
use hint::Hints;
use session::Sessions;

/// The largest password file read.
const MAX_PASSWORD_FILE: u64 = 4096;

/// An open PostgreSQL store.
pub struct PgStore {
    /// This host's name as recorded with uses and failures.
    host_name: String,
    /// The login hints (`hint_dir`), if kept.
    hints: Option<Hints>,
    // Last: its runtime is dropped after every connection and task.
    sessions: Sessions,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("uri", &self.sessions.uri)
            .field("timeout", &self.sessions.timeout)
            .field("host_name", &self.host_name)
            .field("password", &self.sessions.has_password().then_some("(set)"))
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Prepares the store: reads the password file and the CA file and
    /// builds the runtime. Connects only when first used.
    pub fn open(uri: &PgUri, settings: &PgSettings) -> Result<Self, PgError> {
        settings
            .validate()
            .map_err(|e| PgError::config_from(e.to_string(), e))?;
        let password = settings.password_file.as_deref().map(read_password).transpose()?;
        let tls = tls::client_config(uri.sslmode, settings.ca_file.as_deref())?.map(Arc::new);
        let tcp = uri.hosts.iter().any(|a| matches!(a.host, PgHost::Tcp(_)));
        if tcp && password.is_none() {
            return Err(PgError::config(
                "over TCP the role signs in with SCRAM-SHA-256, which proves the server too: \
                 set [postgresql] password_file (or use a trusted Unix socket, ?host=/dir)"
                    .into(),
            ));
        }
        let host_name = match &settings.host_name {
            Some(name) => name.clone(),
            None => nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .map_err(|e| {
                    PgError::config_from(format!("cannot read the hostname for host_name: {e}"), e)
                })?,
        };
        let sessions = Sessions::new(uri, Duration::from_secs(settings.connect_timeout), password, tls)?;
        let hints = settings.hints().map(|dir| Hints::new(dir, uri.to_string()));
        Ok(Self {
            host_name: clip_field(&host_name),
            hints,
            sessions,
        })
    }

    /// The URI, for messages.
    pub fn uri(&self) -> &PgUri {
        &self.sessions.uri
    }

    /// This host's name as recorded with uses and failures.
    pub fn host_name(&self) -> &str {
        &self.host_name
    }

    /// How the server of the last connection proved itself.
    pub fn transport(&self) -> Option<Transport> {
        self.sessions.transport()
    }

    /// What a login needs before prompting, locked or not by the fleet's
    /// policy; `None` if the user has no set.
    /// Refreshes `user`'s login hint from the answer: recorded if it
    /// shows a set that is not locked, removed otherwise (so that a locked
    /// user is not prompted on a hint again, see `refresh_hint`).
    pub fn login_info(&self, user: &UserName, remote: bool) -> Result<Option<LoginInfo>, PgError> {
        let info = login::login_info(&self.sessions, user, remote)?;
        if let Some(hints) = &self.hints {
            match &info {
                Some(info) if info.locked.is_none() => hints.write(user, &info.hashing),
                _ => hints.remove(user),
            }
        }
        Ok(info)
    }

    /// The hashing `user`'s login hint holds (see `hint`): what lets a login
    /// prompt without asking the database first. `None` without a hint
    /// (or with hints off); an error for a hint that was not trusted or
    /// not understood (to be logged; the login goes on without it).
    pub fn hint(&self, user: &UserName) -> Result<Option<Hashing>, HintError> {
        match &self.hints {
            Some(hints) => hints.read(user),
            None => Ok(None),
        }
    }

    /// [`judge`](Self::judge), with the attempt hashed by `hash` while the
    /// connection is made; `attempt.digest` is unused. A failed `hash` is
    /// returned as it is, and nothing is sent.
    pub fn judge_while_hashing(
        &self,
        attempt: &Attempt<'_>,
        hash: impl Hasher,
    ) -> Result<Result<Judgement, KdfError>, PgError> {
        let judged = login::judge_while_hashing(&self.sessions, &self.host_name, attempt, hash)?;
        if let Ok(judgement) = &judged {
            self.refresh_hint(attempt.user, judgement);
        }
        Ok(judged)
    }

    /// Refreshes `user`'s hint from a judgement: other hashing is recorded;
    /// a set that is gone, or locked, removes it (the next login asks the
    /// database first, and a locked user is refused without a prompt).
    fn refresh_hint(&self, user: &UserName, judgement: &Judgement) {
        if let Some(hints) = &self.hints {
            match judgement {
                Judgement::Rehash(hashing) => hints.write(user, hashing),
                Judgement::Absent
                | Judgement::Judged(Outcome::Locked(_) | Outcome::Refused { locked: true, .. }) => {
                    hints.remove(user);
                }
                Judgement::Judged(_) => {}
            }
        }
    }

    /// Judges a hashed attempt by the fleet's policy (`attempt.policy`, the
    /// file store's, is not used): one `CALL backup_codes.judge`, which
    /// commits before it answers, so the outcome is returned only once the
    /// commit is made. A CALL whose answer is lost is
    /// [`PgError::Ambiguous`].
    pub fn judge(&self, attempt: &Attempt<'_>) -> Result<Judgement, PgError> {
        let judgement = login::judge(&self.sessions, &self.host_name, attempt)?;
        self.refresh_hint(attempt.user, &judgement);
        Ok(judgement)
    }

    /// Replaces `user`'s set with `new` only together with spending the
    /// code `attempt` carries (one `CALL backup_codes.renew`, committed
    /// before it answers), by the fleet's policy; see [`crate::renewal`].
    pub fn renew(&self, user: &UserName, attempt: &Attempt<'_>, new: &CodeSet) -> Result<Renewal, PgError> {
        renew::renew(&self.sessions, &self.host_name, user, attempt, new)
    }

    /// The fleet's policy, from the database (the owner's and the login
    /// role's alike).
    pub fn policy(&self) -> Result<Policy, PgError> {
        admin::policy(&self.sessions)
    }

    /// Sets what `change` changes in the fleet's policy (`backup-codes db
    /// policy`, the owner) and returns the policy now in force.
    pub fn set_policy(&self, change: &PolicyChange) -> Result<Policy, PgError> {
        admin::set_policy(&self.sessions, change)
    }

    /// Creates or upgrades the schema and grants `login_role` what a login
    /// needs (`backup-codes db init`).
    /// `connection_limit` is the login role's `CONNECTION LIMIT`, if given.
    pub fn init(&self, login_role: &str, connection_limit: Option<i32>) -> Result<InitReport, PgError> {
        admin::init(&self.sessions, login_role, connection_limit)
    }

    /// The users that have a set, sorted.
    pub fn users(&self) -> Result<Vec<UserName>, PgError> {
        admin::users(&self.sessions)
    }

    /// A user's whole set, `None` if the user has none.
    pub fn read(&self, user: &UserName) -> Result<Option<CodeSet>, PgError> {
        admin::read(&self.sessions, user)
    }

    /// Reads a user's set under a row lock, lets `change` decide, writes
    /// what it decided and commits.
    pub fn edit<T>(
        &self,
        user: &UserName,
        change: impl FnOnce(Option<CodeSet>) -> (Edit, T),
    ) -> Result<T, PgError> {
        admin::edit(&self.sessions, user, change)
    }

    /// What `backup-codes check` reports: the connection, the schema
    /// version, what every login role can read, and every set.
    pub fn check(&self) -> Result<CheckReport, PgError> {
        check::check(&self.sessions)
    }
}

/// The password file: root's, private, a regular file; its first line is the
/// password.
fn read_password(path: &Path) -> Result<Zeroizing<Vec<u8>>, PgError> {
    let fail = |reason: String| PgError::config(format!("password_file {}: {reason}", path.display()));
    let rules = Rules {
        private: true,
        max_size: MAX_PASSWORD_FILE,
    };
    let text =
        trusted::read(path, &rules).map_err(|e| PgError::config_from(format!("password_file {e}"), e))?;
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(fail("holds no password".into()));
    }
    Ok(Zeroizing::new(line.to_vec()))
}
