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
//! the prompt, `judge` on a new one after it (see [`PgStore::login_step`]).
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
//! own), built per store and dropped with it, so no socket, descriptor or task
//! outlives the PAM call. Every step is bounded by `connect_timeout` on this
//! side (a stopped server still accepts TCP connections) and by the same
//! `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout`
//! on the server's. Host names are resolved with the system resolver, which
//! blocks (use an address, or /etc/hosts, where the resolver is slow); every
//! address is tried in turn, and TLS checks the certificate for the name.

mod schema;
mod settings;
mod tls;
mod transport;

use std::cell::RefCell;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use time::OffsetDateTime;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};
use zeroize::Zeroizing;

pub use schema::{InitReport, SCHEMA_VERSION};
pub use settings::{DEFAULT_CONNECT_TIMEOUT, MAX_CONNECT_TIMEOUT, PgSettings, PgSettingsError};
pub use transport::{Channel, ServerAuth, Transport};

use super::location::{PgHost, PgUri};
use super::{Attempt, CheckReport, Edit, Judgement, LoginInfo};
use crate::code::Alphabet;
use crate::codeset::Lifetime;
use crate::codeset::{self, CodeEntry, CodeSet, CodeUse, Hashing, Kdf};
use crate::kdf::{KdfParams, Salt};
use crate::lockout::{LastFailure, LockedUntil, Lockout, Tally};
use crate::text::{clip_field, escape_deceptive};
use crate::trusted::{self, Rules};
use crate::username::UserName;
use crate::verdict::{Outcome, Policy, Refusal};

/// The largest password file read.
const MAX_PASSWORD_FILE: u64 = 4096;
/// Serialises edits of one user's set, also before the set exists.
const EDIT_LOCK_SEED: i64 = 0x6263_6564_6974;

/// A problem with the PostgreSQL store.
#[derive(Debug)]
#[non_exhaustive]
pub enum PgError {
    /// The `[postgresql]` settings or a file they name.
    Config(String),
    /// The runtime could not be built (out of descriptors, say).
    Runtime(std::io::Error),
    /// The server could not be reached, or refused the role.
    Connect(String),
    /// No answer within `connect_timeout`.
    Timeout {
        /// What was being done.
        what: &'static str,
        /// The timeout, seconds.
        secs: u64,
    },
    /// A statement failed.
    Query {
        /// What was being done.
        what: &'static str,
        /// The server's or the client's message.
        reason: String,
    },
    /// The schema is missing, of another version, or not ours.
    Schema(String),
    /// `COMMIT` was sent and its answer lost: the attempt may or may not have
    /// been recorded. It is refused.
    Ambiguous(String),
    /// The server did not prove itself: an untrusted socket directory, a
    /// peer that does not own the socket, an authentication that proves
    /// nothing (none, cleartext, md5). Its answers would not count.
    Unproven {
        /// The socket or address.
        server: String,
        /// What it failed.
        reason: String,
    },
    /// `target_session_attrs=read-write` and the server takes no writes (a
    /// standby).
    ReadOnly {
        /// The server, as connected.
        server: String,
    },
    /// A stored set is not a valid set.
    Data {
        /// Whose.
        user: String,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(reason) => write!(f, "configuration: {reason}"),
            Self::Runtime(e) => write!(f, "cannot start the database client: {e}"),
            Self::Connect(reason) => write!(f, "cannot connect: {reason}"),
            Self::Timeout { what, secs } => {
                write!(f, "no answer within {secs} s (connect_timeout) to: {what}")
            }
            Self::Query { what, reason } => write!(f, "cannot {what}: {reason}"),
            Self::Schema(reason) => write!(f, "schema: {reason}"),
            Self::Unproven { server, reason } => {
                write!(f, "{server}: refused, the server did not prove itself: {reason}")
            }
            Self::ReadOnly { server } => write!(f, "{server}: read-only (a standby), skipped"),
            Self::Ambiguous(reason) => write!(
                f,
                "AMBIGUOUS: the commit was sent but its answer was lost ({reason}); the attempt \
                 was refused, and the code may or may not have been marked used"
            ),
            Self::Data { user, reason } => write!(f, "the set of {user} is invalid: {reason}"),
        }
    }
}

impl std::error::Error for PgError {}

/// A database error as one line: the server's message (and detail) when it
/// sent one, else the client's.
pub(super) fn query_error(what: &'static str, e: &tokio_postgres::Error) -> PgError {
    PgError::Query {
        what,
        reason: describe(e),
    }
}

fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            text = format!("{text} ({detail})");
        }
        if db.code() == &tokio_postgres::error::SqlState::UNDEFINED_FUNCTION
            || db.code() == &tokio_postgres::error::SqlState::INVALID_SCHEMA_NAME
            || db.code() == &tokio_postgres::error::SqlState::UNDEFINED_TABLE
        {
            text += "; has `backup-codes db init` been run?";
        }
        return text.replace('\n', " ");
    }
    // The client's message and its causes ("error connecting to server:
    // Connection refused"), each said once.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

/// An open PostgreSQL store.
pub struct PgStore {
    uri: PgUri,
    timeout: Duration,
    host_name: String,
    password: Option<Zeroizing<Vec<u8>>>,
    tls: Option<Arc<ClientConfig>>,
    /// How the server of the last connection proved itself.
    transport: RefCell<Option<Transport>>,
    /// The CLI's connection, kept between commands on several users.
    admin: RefCell<Option<Session>>,
    // Last: dropped after every connection and task above.
    runtime: Runtime,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("uri", &self.uri)
            .field("timeout", &self.timeout)
            .field("host_name", &self.host_name)
            .field("password", &self.password.as_ref().map(|_| "(set)"))
            .finish_non_exhaustive()
    }
}

/// One connection and the task that drives it.
struct Session {
    client: Client,
    task: JoinHandle<()>,
}

impl PgStore {
    /// Prepares the store: reads the password file and the CA file and
    /// builds the runtime. Connects only when first used.
    pub fn open(uri: &PgUri, settings: &PgSettings) -> Result<Self, PgError> {
        settings.validate().map_err(|e| PgError::Config(e.to_string()))?;
        let password = settings.password_file.as_deref().map(read_password).transpose()?;
        let tls = tls::client_config(uri.sslmode, settings.ca_file.as_deref())?.map(Arc::new);
        let tcp = uri.hosts.iter().any(|a| matches!(a.host, PgHost::Tcp(_)));
        if tcp && password.is_none() {
            return Err(PgError::Config(
                "over TCP the role signs in with SCRAM-SHA-256, which proves the server too: \
                 set [postgresql] password_file (or use a trusted Unix socket, ?host=/dir)"
                    .into(),
            ));
        }
        let host_name = match &settings.host_name {
            Some(name) => name.clone(),
            None => nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .map_err(|e| PgError::Config(format!("cannot read the hostname for host_name: {e}")))?,
        };
        // Blocking on a runtime inside another one panics; such a host (an
        // application that authenticates from async code) is refused instead.
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(PgError::Config(
                "the calling thread runs a tokio runtime; the fleet store cannot block in it".into(),
            ));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(PgError::Runtime)?;
        Ok(Self {
            uri: uri.clone(),
            timeout: Duration::from_secs(settings.connect_timeout),
            host_name: clip_field(&host_name),
            password,
            tls,
            transport: RefCell::new(None),
            admin: RefCell::new(None),
            runtime,
        })
    }

    /// The URI, for messages.
    pub fn uri(&self) -> &PgUri {
        &self.uri
    }

    /// This host's name as recorded with uses and failures.
    pub fn host_name(&self) -> &str {
        &self.host_name
    }

    fn timeout_secs(&self) -> u64 {
        self.timeout.as_secs()
    }

    /// How the server of the last connection proved itself.
    pub fn transport(&self) -> Option<Transport> {
        self.transport.borrow().clone()
    }

    /// Runs `step` on a connection of its own, made for it (each server
    /// within `connect_timeout`) and closed after it: a login holds no
    /// server session between steps, so none while the person types.
    /// `step` runs within `connect_timeout` of the connection being made.
    fn login_step<T>(
        &self,
        step: impl AsyncFnOnce(&Client, Instant) -> Result<T, PgError>,
    ) -> Result<T, PgError> {
        self.runtime.block_on(async {
            let session = self.connect().await?;
            let deadline = Instant::now() + self.timeout;
            let result = step(&session.client, deadline).await;
            close(session, deadline).await;
            result
        })
    }

    /// A new connection to the first server of the URI that proves itself
    /// (and takes writes, if the URI asks), within `connect_timeout` each.
    async fn connect(&self) -> Result<Session, PgError> {
        let mut config = tokio_postgres::Config::new();
        let ms = self.timeout.as_millis();
        config
            .user(&self.uri.user)
            .dbname(&self.uri.dbname)
            .application_name("pam_backup_codes")
            // The server gives up as soon as we do, and frees the row lock of
            // a login that stopped in the middle of its transaction.
            .options(format!(
                "-c statement_timeout={ms} -c lock_timeout={ms} \
                 -c idle_in_transaction_session_timeout={ms} -c client_connection_check_interval=1000"
            ));
        if let Some(password) = &self.password {
            config.password(password.as_slice());
        }
        let connector = transport::Connector {
            config: &config,
            password: self.password.is_some(),
            tls: self.tls.as_ref(),
            sslmode: self.uri.sslmode,
            target: self.uri.target,
            timeout: self.timeout,
        };
        let connected = connector.connect(&self.uri.hosts).await?;
        *self.transport.borrow_mut() = Some(connected.transport);
        Ok(Session {
            client: connected.client,
            task: connected.task,
        })
    }

    /// What a login needs before prompting, locked or not by the fleet's
    /// policy; `None` if the user has no set.
    pub fn login_info(&self, user: &UserName, remote: bool) -> Result<Option<LoginInfo>, PgError> {
        let secs = self.timeout_secs();
        self.login_step(async |client, deadline| {
            let rows = bounded(
                deadline,
                secs,
                "fetch the login parameters",
                client.query_typed(
                    "SELECT alphabet, length, m_cost, t_cost, p_cost, salt, locked, locked_until, \
                     check_symbol FROM backup_codes.login_info($1, $2)",
                    &[(&user.as_str(), Type::TEXT), (&remote, Type::BOOL)],
                ),
            )
            .await?;
            let Some(row) = rows.first() else {
                return Ok(None);
            };
            let hashing = hashing_of(user, row, 0, 8)?;
            let locked: bool = get(row, 6, "fetch the login parameters")?;
            let until: Option<OffsetDateTime> = get(row, 7, "fetch the login parameters")?;
            Ok(Some(LoginInfo {
                hashing,
                locked: locked.then_some(until.map_or(LockedUntil::AdminUnlock, LockedUntil::Time)),
            }))
        })
    }

    /// Judges a hashed attempt by the fleet's policy (`attempt.policy`, the
    /// file store's, is not used): one `CALL backup_codes.judge`, which
    /// commits before it answers, so the outcome is returned only once the
    /// commit is made. A CALL whose answer is lost is
    /// [`PgError::Ambiguous`].
    pub fn judge(&self, attempt: &Attempt<'_>) -> Result<Judgement, PgError> {
        let secs = self.timeout_secs();
        let user = attempt.user.as_str();
        let salt: &[u8] = &attempt.hashing.kdf.salt;
        let digest: Option<&[u8]> = attempt.digest.map(|d| &d[..]);
        let origin = attempt.origin;
        let host = self.host_name.as_str();
        // A new short connection (none was kept over the prompt), and one
        // statement: the CALL commits itself before it answers.
        self.login_step(async |client, deadline| {
            let params: [(&(dyn ToSql + Sync), Type); 6] = [
                (&user, Type::TEXT),
                (&salt, Type::BYTEA),
                (&digest, Type::BYTEA),
                (&origin.service, Type::TEXT),
                (&origin.rhost, Type::TEXT),
                (&host, Type::TEXT),
            ];
            // The procedure commits before it answers: an ERROR means it was
            // rolled back (nothing recorded), any other failure that the
            // answer was lost after the commit may have been made.
            let row =
                match tokio::time::timeout_at(deadline, client.query_typed_one(schema::JUDGE_CALL, &params))
                    .await
                {
                    Ok(Ok(row)) => row,
                    Ok(Err(e)) if is_error(&e) => return Err(query_error("judge the attempt", &e)),
                    Ok(Err(e)) => return Err(PgError::Ambiguous(describe(&e))),
                    Err(_) => return Err(PgError::Ambiguous(format!("no answer within {secs} s"))),
                };
            judgement_of(attempt.user, &row)
        })
    }

    /// The fleet's policy, from the database (the owner's and the login
    /// role's alike).
    pub fn policy(&self) -> Result<Policy, PgError> {
        let secs = self.timeout_secs();
        self.admin(async |client, deadline| fleet_policy(client, deadline, secs).await)
    }

    /// Sets what `change` changes in the fleet's policy (`backup-codes db
    /// policy`, the owner) and returns the policy now in force.
    pub fn set_policy(&self, change: &PolicyChange) -> Result<Policy, PgError> {
        let secs = self.timeout_secs();
        let int = |name: &str, v: u64| {
            i32::try_from(v)
                .map_err(|_| PgError::Config(format!("{name} = {v} is too large (at most {})", i32::MAX)))
        };
        let deny = change.deny.map(|v| int("deny", u64::from(v))).transpose()?;
        let fail_interval = change
            .fail_interval
            .map(|v| int("fail_interval", v))
            .transpose()?;
        let unlock_time = change.unlock_time.map(|v| int("unlock_time", v)).transpose()?;
        let max_age = change.max_age.map(|v| int("max_age", u64::from(v))).transpose()?;
        self.admin(async |client, deadline| {
            bounded(
                deadline,
                secs,
                "set the policy",
                client.query_typed(
                    "UPDATE backup_codes.policy SET deny = coalesce($1, deny), \
                     fail_interval = coalesce($2, fail_interval), \
                     unlock_time = coalesce($3, unlock_time), max_age = coalesce($4, max_age)",
                    &[
                        (&deny, Type::INT4),
                        (&fail_interval, Type::INT4),
                        (&unlock_time, Type::INT4),
                        (&max_age, Type::INT4),
                    ],
                ),
            )
            .await?;
            fleet_policy(client, deadline, secs).await
        })
    }

    // ----- administration (the owner role) -----

    /// Runs `op` on the kept admin connection (made on first use), within
    /// `connect_timeout` per call of `op`.
    fn admin<T>(
        &self,
        op: impl AsyncFnOnce(&mut Client, Instant) -> Result<T, PgError>,
    ) -> Result<T, PgError> {
        let kept = self.admin.borrow_mut().take();
        self.runtime.block_on(async {
            let mut session = match kept {
                Some(session) if !session.client.is_closed() => session,
                _ => self.connect().await?,
            };
            let deadline = Instant::now() + self.timeout;
            let result = op(&mut session.client, deadline).await;
            // After an error a transaction may still be open: the connection
            // is dropped (and the transaction rolled back) rather than kept.
            if result.is_ok() && !session.client.is_closed() {
                *self.admin.borrow_mut() = Some(session);
            }
            result
        })
    }

    /// Creates or upgrades the schema and grants `login_role` what a login
    /// needs (`backup-codes db init`).
    /// `connection_limit` is the login role's `CONNECTION LIMIT`, if given.
    pub fn init(&self, login_role: &str, connection_limit: Option<i32>) -> Result<InitReport, PgError> {
        let secs = self.timeout_secs();
        let lock_timeout = self.timeout.as_millis();
        self.admin(async |client, deadline| {
            // Creating the schema may take longer than a statement of a login.
            let deadline = deadline + Duration::from_secs(60);
            bounded_pg(
                deadline,
                secs,
                "db init",
                schema::init(client, login_role, connection_limit, lock_timeout),
            )
            .await
        })
    }

    /// The users that have a set, sorted.
    pub fn users(&self) -> Result<Vec<UserName>, PgError> {
        let secs = self.timeout_secs();
        self.admin(async |client, deadline| {
            let rows = bounded(
                deadline,
                secs,
                "list the users",
                client.query_typed("SELECT user_name FROM backup_codes.sets ORDER BY user_name", &[]),
            )
            .await?;
            let mut users = rows
                .iter()
                .map(|row| {
                    let name: String = get(row, 0, "list the users")?;
                    name.parse().map_err(|e| PgError::Data {
                        user: format!("{name:?}"),
                        reason: format!("not a valid user name: {e}"),
                    })
                })
                .collect::<Result<Vec<UserName>, _>>()?;
            users.sort();
            Ok(users)
        })
    }

    /// A user's whole set, `None` if the user has none.
    pub fn read(&self, user: &UserName) -> Result<Option<CodeSet>, PgError> {
        let secs = self.timeout_secs();
        self.admin(async |client, deadline| read_set(client, user, deadline, secs, false).await)
    }

    /// Reads a user's set under a row lock, lets `change` decide, writes
    /// what it decided and commits.
    pub fn edit<T>(
        &self,
        user: &UserName,
        change: impl FnOnce(Option<CodeSet>) -> (Edit, T),
    ) -> Result<T, PgError> {
        let secs = self.timeout_secs();
        self.admin(async |client, deadline| {
            bounded(deadline, secs, "begin", client.batch_execute("BEGIN")).await?;
            let name = user.as_str();
            bounded(
                deadline,
                secs,
                "lock the user's set",
                client.query_typed(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, $2))",
                    &[(&name, Type::TEXT), (&EDIT_LOCK_SEED, Type::INT8)],
                ),
            )
            .await?;
            let current = read_set(client, user, deadline, secs, true).await?;
            let (edit, result) = change(current);
            match edit {
                Edit::Keep => {}
                Edit::Remove => {
                    bounded(
                        deadline,
                        secs,
                        "remove the set",
                        client.query_typed(
                            "DELETE FROM backup_codes.sets WHERE user_name = $1",
                            &[(&name, Type::TEXT)],
                        ),
                    )
                    .await?;
                }
                Edit::Write(set) => write_set(client, user, &set, deadline, secs).await?,
            }
            commit(client, deadline, secs).await?;
            Ok(result)
        })
    }

    /// What `backup-codes check` reports: the connection, the schema
    /// version, what every login role can read, and every set.
    pub fn check(&self) -> Result<CheckReport, PgError> {
        let secs = self.timeout_secs();
        let uri = self.uri.to_string();
        let report = self.admin(async |client, deadline| {
            let mut problems = Vec::new();
            let row = bounded(
                deadline,
                secs,
                "ask who we are",
                client.query_typed_one(
                    "SELECT current_user::text, current_setting('server_version'), \
                     EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = 'backup_codes' \
                             AND n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user))",
                    &[],
                ),
            )
            .await?;
            let me: String = get(&row, 0, "ask who we are")?;
            let server: String = get(&row, 1, "ask who we are")?;
            let owner: bool = get(&row, 2, "ask who we are")?;
            let mut summary = format!("{uri}: connected as {me} to PostgreSQL {server}");
            match bounded_pg(deadline, secs, "read the schema version", schema::version(client)).await? {
                None => problems.push(format!("{uri}: no schema: run `backup-codes db init --login-role ROLE`")),
                Some(v) if v != SCHEMA_VERSION => problems.push(format!(
                    "{uri}: schema version {v}, this build uses {SCHEMA_VERSION}: run `backup-codes db init`"
                )),
                Some(v) => summary += &format!(", schema version {v}"),
            }
            // Who can log in through the functions, and what else they can do.
            let rows = bounded(
                deadline,
                secs,
                "check the login roles",
                client.query_typed(
                    "SELECT r.rolname::text, r.rolsuper, r.rolconnlimit, \
                        ARRAY(SELECT c.relname::text FROM pg_class c \
                              JOIN pg_namespace n ON n.oid = c.relnamespace \
                              WHERE n.nspname = 'backup_codes' AND c.relkind IN ('r', 'v', 'm', 'p') \
                              AND has_table_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE') \
                              ORDER BY 1), \
                        ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p \
                              JOIN pg_namespace n ON n.oid = p.pronamespace \
                              WHERE n.nspname = 'backup_codes' AND has_function_privilege(r.oid, p.oid, 'EXECUTE') \
                              AND p.oid <> ALL (ARRAY(SELECT to_regprocedure(f)::oid \
                                                      FROM unnest($1::text[]) AS f)) ORDER BY 1) \
                     FROM pg_roles r \
                     WHERE to_regprocedure($2) IS NOT NULL \
                       AND has_function_privilege(r.oid, to_regprocedure($2), 'EXECUTE') \
                       AND r.oid <> (SELECT nspowner FROM pg_namespace WHERE nspname = 'backup_codes') \
                       AND (NOT r.rolsuper OR r.rolname = current_user) \
                     ORDER BY 1",
                    &[
                        (&schema::LOGIN_FUNCTIONS.to_vec(), Type::TEXT_ARRAY),
                        (&schema::LOGIN_FUNCTIONS[1], Type::TEXT),
                    ],
                ),
            )
            .await?;
            let mut roles = Vec::new();
            for row in &rows {
                let role: String = get(row, 0, "check the login roles")?;
                let superuser: bool = get(row, 1, "check the login roles")?;
                let limit: i32 = get(row, 2, "check the login roles")?;
                let tables: Vec<String> = get(row, 3, "check the login roles")?;
                let functions: Vec<String> = get(row, 4, "check the login roles")?;
                if superuser {
                    problems.push(format!("{uri}: login role {role} is a superuser: it can read every hash"));
                }
                if !tables.is_empty() {
                    problems.push(format!(
                        "{uri}: login role {role} can read or change tables ({}): it must only execute the login functions",
                        tables.join(", ")
                    ));
                }
                if !functions.is_empty() {
                    problems.push(format!(
                        "{uri}: login role {role} can execute {}: only the login functions are for it",
                        functions.join(", ")
                    ));
                }
                let limit = if limit < 0 { "no connection limit".to_owned() } else { format!("connection limit {limit}") };
                roles.push(format!("{role} ({limit})"));
            }
            if roles.is_empty() {
                summary += ", no login role";
            } else {
                summary += &format!(", login role{} {} can read no table", if roles.len() == 1 { "" } else { "s" }, roles.join(", "));
            }
            // The policy every host is judged by (a schema without it was
            // reported above).
            if let Ok(policy) = fleet_policy(client, deadline, secs).await {
                summary += &format!(", fleet policy: {policy}");
            }
            let warnings = replication_warnings(client, deadline, secs, &uri).await?;
            Ok((problems, summary, owner, warnings))
        })?;
        let (mut problems, mut summary, owner, warnings) = report;
        if owner && problems.is_empty() {
            let users = self.users()?;
            let mut good = 0;
            for user in &users {
                match self.read(user) {
                    Ok(_) => good += 1,
                    Err(e) => problems.push(format!("{uri}: {e}")),
                }
            }
            summary += &format!(", {good} set{} valid", if good == 1 { "" } else { "s" });
        } else if !owner {
            summary += " (not the owner: the sets were not read)";
        }
        Ok(CheckReport {
            problems,
            summary,
            warnings,
            transport: self.transport(),
        })
    }
}

/// Warnings about a server a failover could make forget a spent code: a
/// standby, or a primary whose commits do not wait for a synchronous
/// standby (an asynchronous one promoted may lack the last uses).
async fn replication_warnings(
    client: &Client,
    deadline: Instant,
    secs: u64,
    uri: &str,
) -> Result<Vec<String>, PgError> {
    let what = "check the replication";
    let row = bounded(
        deadline,
        secs,
        what,
        client.query_typed_one(
            "SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names'), \
                    current_setting('synchronous_commit'), \
                    (SELECT count(*) FROM pg_stat_replication), \
                    (SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')), \
                    (SELECT count(*) FROM pg_stat_replication WHERE sync_state IS NULL)",
            &[],
        ),
    )
    .await?;
    let standby: bool = get(&row, 0, what)?;
    let names: String = get(&row, 1, what)?;
    let commit: String = get(&row, 2, what)?;
    let (standbys, sync, hidden): (i64, i64, i64) =
        (get(&row, 3, what)?, get(&row, 4, what)?, get(&row, 5, what)?);
    let risk = "a failover to an asynchronous standby can bring spent codes back";
    if standby {
        return Ok(vec![format!(
            "{uri}: connected to a standby (read-only): logins need the primary; \
             add target_session_attrs=read-write to a multi-host URI"
        )]);
    }
    let mut warnings = Vec::new();
    if names.trim().is_empty() {
        warnings.push(format!(
            "{uri}: the primary has no synchronous standby (synchronous_standby_names is empty): {risk}"
        ));
    } else if matches!(commit.as_str(), "off" | "local") {
        warnings.push(format!(
            "{uri}: synchronous_commit = {commit}: commits do not wait for the synchronous standby: {risk}"
        ));
    } else if standbys == 0 || (hidden == 0 && sync == 0) {
        warnings.push(format!(
            "{uri}: no synchronous standby is connected (pg_stat_replication): commits wait for one, \
             so logins time out until it is back"
        ));
    }
    Ok(warnings)
}

/// Closes a connection: dropping the client ends the connection's task,
/// which closes the socket; should that not happen by the deadline, the
/// task and its socket go with the runtime, when the store is dropped.
async fn close(session: Session, deadline: Instant) {
    let Session { client, task } = session;
    drop(client);
    let _ = tokio::time::timeout_at(deadline, task).await;
}

/// Whether the server answered with an ERROR (the statement's transaction
/// was rolled back), rather than the connection failing or a FATAL.
fn is_error(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| db.parsed_severity() == Some(tokio_postgres::error::Severity::Error))
}

/// What `backup-codes db policy` changes; `None` leaves a value as it is.
/// Each value is checked as the configuration's is, by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyChange {
    /// Failures within `fail_interval` that lock; 0 never locks.
    pub deny: Option<u32>,
    /// Seconds within which `deny` failures lock.
    pub fail_interval: Option<u64>,
    /// Seconds a lock lasts; 0 until `backup-codes unlock`.
    pub unlock_time: Option<u64>,
    /// Days a set works; 0 for no limit.
    pub max_age: Option<u32>,
}

/// Reads the fleet's policy through `backup_codes.fleet_policy()`.
async fn fleet_policy(client: &Client, deadline: Instant, secs: u64) -> Result<Policy, PgError> {
    let what = "read the fleet's policy";
    let row = bounded(
        deadline,
        secs,
        what,
        client.query_typed_one(
            "SELECT deny, fail_interval, unlock_time, max_age FROM backup_codes.fleet_policy()",
            &[],
        ),
    )
    .await?;
    let value = |i: usize| -> Result<u32, PgError> {
        let v: i32 = get(&row, i, what)?;
        u32::try_from(v).map_err(|_| PgError::Schema(format!("the policy holds a negative value {v}")))
    };
    Ok(Policy {
        lockout: Lockout {
            deny: value(0)?,
            fail_interval: u64::from(value(1)?),
            unlock_time: u64::from(value(2)?),
        },
        lifetime: Lifetime::from_days(value(3)?),
    })
}

/// A recorded service, remote host or host name as it is shown and
/// rewritten: one stored before the database clipped them (or by an owner
/// who wrote it by hand) is clipped here, so that it cannot make the set
/// unreadable.
fn tolerant(text: String) -> String {
    clip_field(&escape_deceptive(&text))
}

fn tolerant_opt(text: Option<String>) -> Option<String> {
    text.map(tolerant)
}

/// Awaits a statement until the step's deadline.
async fn bounded<T>(
    deadline: Instant,
    secs: u64,
    what: &'static str,
    future: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, PgError> {
    match tokio::time::timeout_at(deadline, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(query_error(what, &e)),
        Err(_) => Err(PgError::Timeout { what, secs }),
    }
}

/// Awaits several statements until the step's deadline.
async fn bounded_pg<T>(
    deadline: Instant,
    secs: u64,
    what: &'static str,
    future: impl Future<Output = Result<T, PgError>>,
) -> Result<T, PgError> {
    tokio::time::timeout_at(deadline, future)
        .await
        .unwrap_or(Err(PgError::Timeout { what, secs }))
}

/// `COMMIT`, telling a refusal (nothing was written) from a lost answer
/// (perhaps it was).
async fn commit(client: &Client, deadline: Instant, secs: u64) -> Result<(), PgError> {
    match tokio::time::timeout_at(deadline, client.batch_execute("COMMIT")).await {
        Ok(Ok(())) => Ok(()),
        // An ERROR from the server: the transaction was rolled back. (A
        // FATAL, the session ending, may come before or after the commit.)
        Ok(Err(e)) if is_error(&e) => Err(query_error("commit", &e)),
        Ok(Err(e)) => Err(PgError::Ambiguous(describe(&e))),
        Err(_) => Err(PgError::Ambiguous(format!("no answer within {secs} s"))),
    }
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    i: usize,
    what: &'static str,
) -> Result<T, PgError> {
    row.try_get(i).map_err(|e| query_error(what, &e))
}

/// The hashing parameters in columns `at..at + 6` (alphabet, length, m, t,
/// p, salt) and `check_at` (the check symbol), checked as a store file's
/// are: a database that asked for gigabytes of Argon2 memory must not get them.
fn hashing_of(user: &UserName, row: &Row, at: usize, check_at: usize) -> Result<Hashing, PgError> {
    let what = "read the hashing parameters";
    let invalid = |reason: String| PgError::Data {
        user: user.to_string(),
        reason,
    };
    let alphabet: String = get(row, at, what)?;
    let alphabet: Alphabet = alphabet
        .parse()
        .map_err(|_| invalid(format!("unknown alphabet {alphabet:?}")))?;
    let length: i32 = get(row, at + 1, what)?;
    let cost = |i: usize| -> Result<u32, PgError> {
        let v: i32 = get(row, at + i, what)?;
        u32::try_from(v).map_err(|_| invalid(format!("negative Argon2 cost {v}")))
    };
    let params = KdfParams {
        m_cost: cost(2)?,
        t_cost: cost(3)?,
        p_cost: cost(4)?,
    };
    params.validate().map_err(|e| invalid(e.to_string()))?;
    let salt: Vec<u8> = get(row, at + 5, what)?;
    let salt: Salt = salt
        .try_into()
        .map_err(|s: Vec<u8>| invalid(format!("a salt of {} bytes", s.len())))?;
    let hashing = Hashing {
        alphabet,
        length: usize::try_from(length).map_err(|_| invalid(format!("code length {length}")))?,
        check_symbol: get(row, check_at, what)?,
        kdf: Kdf::argon2id(params, salt),
    };
    hashing.format().map_err(|e| invalid(e.to_string()))?;
    Ok(hashing)
}

/// The previous use and the failures since, of an `accepted` row: the
/// `used_*` columns and `failures`.
fn previous_of(row: &Row) -> Result<crate::verdict::Previous, PgError> {
    let what = "read the previous use";
    let at: Option<OffsetDateTime> = get(row, 4, what)?;
    let used = match at {
        Some(at) => Some(CodeUse {
            at,
            service: tolerant(get::<Option<String>>(row, 5, what)?.unwrap_or_default()),
            rhost: tolerant_opt(get(row, 6, what)?),
            host: tolerant_opt(get(row, 7, what)?),
        }),
        None => None,
    };
    let failures: Option<i32> = get(row, 17, what)?;
    Ok(crate::verdict::Previous {
        used,
        failures: failures.and_then(|n| usize::try_from(n).ok()).unwrap_or(0),
    })
}

/// The `judge` function's row as a [`Judgement`].
fn judgement_of(user: &UserName, row: &Row) -> Result<Judgement, PgError> {
    let what = "read the judgement";
    let verdict: String = get(row, 0, what)?;
    let locked: bool = get(row, 2, what)?;
    let outcome = match verdict.as_str() {
        "accepted" => {
            let remaining: i32 = get(row, 1, what)?;
            Outcome::Accepted {
                remaining: usize::try_from(remaining).unwrap_or(0),
                ageing: get(row, 15, what)?,
                previous: previous_of(row)?,
            }
        }
        "expired" => {
            let at: Option<OffsetDateTime> = get(row, 14, what)?;
            let at = at.ok_or_else(|| PgError::Schema("judge answered expired without a time".into()))?;
            Outcome::Expired(at)
        }
        "locked" => {
            let until: Option<OffsetDateTime> = get(row, 3, what)?;
            Outcome::Locked(until.map_or(LockedUntil::AdminUnlock, LockedUntil::Time))
        }
        "rehash" => return Ok(Judgement::Rehash(hashing_of(user, row, 8, 16)?)),
        "absent" => Outcome::Refused {
            refusal: Refusal::Wrong,
            locked: false,
        },
        "reused" => {
            let at: Option<OffsetDateTime> = get(row, 4, what)?;
            let refusal = match at {
                Some(at) => Refusal::Reused(CodeUse {
                    at,
                    service: tolerant(get::<Option<String>>(row, 5, what)?.unwrap_or_default()),
                    rhost: tolerant_opt(get(row, 6, what)?),
                    host: tolerant_opt(get(row, 7, what)?),
                }),
                None => Refusal::Wrong,
            };
            Outcome::Refused { refusal, locked }
        }
        "wrong" => Outcome::Refused {
            refusal: Refusal::Wrong,
            locked,
        },
        "revoked" | "revoked-match" => Outcome::Refused {
            refusal: Refusal::Revoked {
                matched: verdict == "revoked-match",
            },
            locked,
        },
        other => {
            return Err(PgError::Schema(format!(
                "judge answered {other:?}, which this build does not know: is the schema newer?"
            )));
        }
    };
    Ok(Judgement::Judged(outcome))
}

/// Reads a set and its codes (`FOR UPDATE` within an edit).
async fn read_set(
    client: &Client,
    user: &UserName,
    deadline: Instant,
    secs: u64,
    for_update: bool,
) -> Result<Option<CodeSet>, PgError> {
    let what = "read the set";
    let name = user.as_str();
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let rows = bounded(
        deadline,
        secs,
        what,
        client.query_typed(
            &format!(
                "SELECT alphabet, length, m_cost, t_cost, p_cost, salt, created, revoked, \
                 local_failures, remote_failures, remote_in_a_row, last_failure_at, \
                 last_failure_service, last_failure_rhost, last_failure_host, check_symbol \
                 FROM backup_codes.sets WHERE user_name = $1{lock}"
            ),
            &[(&name, Type::TEXT)],
        ),
    )
    .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let hashing = hashing_of(user, row, 0, 15)?;
    let created: OffsetDateTime = get(row, 6, what)?;
    let revoked: Option<OffsetDateTime> = get(row, 7, what)?;
    let tally = tally_of(row, 8)?;
    let codes = bounded(
        deadline,
        secs,
        what,
        client.query_typed(
            "SELECT hash, used_at, used_service, used_rhost, used_host, expires FROM backup_codes.codes \
             WHERE user_name = $1 ORDER BY seq",
            &[(&name, Type::TEXT)],
        ),
    )
    .await?;
    let invalid = |reason: String| PgError::Data {
        user: user.to_string(),
        reason,
    };
    let codes = codes
        .iter()
        .map(|row| {
            let hash: Vec<u8> = get(row, 0, what)?;
            let used_at: Option<OffsetDateTime> = get(row, 1, what)?;
            Ok(CodeEntry {
                hash: hash
                    .try_into()
                    .map_err(|h: Vec<u8>| invalid(format!("a hash of {} bytes", h.len())))?,
                used: match used_at {
                    Some(at) => Some(CodeUse {
                        at,
                        service: tolerant(get::<Option<String>>(row, 2, what)?.unwrap_or_default()),
                        rhost: tolerant_opt(get(row, 3, what)?),
                        host: tolerant_opt(get(row, 4, what)?),
                    }),
                    None => None,
                },
                expires: get(row, 5, what)?,
            })
        })
        .collect::<Result<Vec<_>, PgError>>()?;
    let set = CodeSet {
        version: codeset::VERSION,
        created,
        revoked,
        alphabet: hashing.alphabet,
        length: hashing.length,
        check_symbol: hashing.check_symbol,
        kdf: hashing.kdf,
        tally,
        codes,
    };
    // Checked as a store file is: what the CLI shows and rewrites is valid.
    set.validate().map_err(|e| invalid(e.to_string()))?;
    Ok(Some(set))
}

/// Replaces a set and its codes (inside an edit's transaction).
async fn write_set(
    client: &Client,
    user: &UserName,
    set: &CodeSet,
    deadline: Instant,
    secs: u64,
) -> Result<(), PgError> {
    let what = "write the set";
    set.validate().map_err(|e| PgError::Data {
        user: user.to_string(),
        reason: format!("not written: {e}"),
    })?;
    let name = user.as_str();
    let int = |v: usize| i32::try_from(v).unwrap_or(i32::MAX);
    let cost = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let alphabet = set.alphabet.to_string();
    let length = int(set.length);
    let params = &set.kdf.params;
    let (m, t, p) = (cost(params.m_cost), cost(params.t_cost), cost(params.p_cost));
    let salt: &[u8] = &set.kdf.salt;
    let revoked = set.revoked;
    let tally = TallyColumns::of(&set.tally);
    let args: [(&(dyn ToSql + Sync), Type); 17] = [
        (&name, Type::TEXT),
        (&set.created, Type::TIMESTAMPTZ),
        (&revoked, Type::TIMESTAMPTZ),
        (&alphabet, Type::TEXT),
        (&length, Type::INT4),
        (&m, Type::INT4),
        (&t, Type::INT4),
        (&p, Type::INT4),
        (&salt, Type::BYTEA),
        (&tally.local, Type::TIMESTAMPTZ_ARRAY),
        (&tally.remote, Type::TIMESTAMPTZ_ARRAY),
        (&tally.remote_in_a_row, Type::INT4),
        (&tally.last_at, Type::TIMESTAMPTZ),
        (&tally.last_service, Type::TEXT),
        (&tally.last_rhost, Type::TEXT),
        (&tally.last_host, Type::TEXT),
        (&set.check_symbol, Type::BOOL),
    ];
    bounded(
        deadline,
        secs,
        what,
        client.query_typed(
            "INSERT INTO backup_codes.sets AS s (user_name, created, revoked, alphabet, length, \
                 m_cost, t_cost, p_cost, salt, local_failures, remote_failures, remote_in_a_row, \
                 last_failure_at, last_failure_service, last_failure_rhost, last_failure_host, \
                 check_symbol) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             ON CONFLICT (user_name) DO UPDATE SET created = EXCLUDED.created, \
                 revoked = EXCLUDED.revoked, alphabet = EXCLUDED.alphabet, length = EXCLUDED.length, \
                 m_cost = EXCLUDED.m_cost, t_cost = EXCLUDED.t_cost, p_cost = EXCLUDED.p_cost, \
                 salt = EXCLUDED.salt, local_failures = EXCLUDED.local_failures, \
                 remote_failures = EXCLUDED.remote_failures, \
                 remote_in_a_row = EXCLUDED.remote_in_a_row, \
                 last_failure_at = EXCLUDED.last_failure_at, \
                 last_failure_service = EXCLUDED.last_failure_service, \
                 last_failure_rhost = EXCLUDED.last_failure_rhost, \
                 last_failure_host = EXCLUDED.last_failure_host, \
                 check_symbol = EXCLUDED.check_symbol",
            &args,
        ),
    )
    .await?;
    let hashes: Vec<&[u8]> = set.codes.iter().map(|c| &c.hash[..]).collect();
    let used = |f: fn(&CodeUse) -> Option<String>| -> Vec<Option<String>> {
        set.codes.iter().map(|c| c.used.as_ref().and_then(f)).collect()
    };
    let used_at: Vec<Option<OffsetDateTime>> =
        set.codes.iter().map(|c| c.used.as_ref().map(|u| u.at)).collect();
    let services = used(|u| Some(u.service.clone()));
    let rhosts = used(|u| u.rhost.clone());
    let hosts = used(|u| u.host.clone());
    let expires: Vec<Option<OffsetDateTime>> = set.codes.iter().map(|c| c.expires).collect();
    bounded(
        deadline,
        secs,
        what,
        client.query_typed(
            "DELETE FROM backup_codes.codes WHERE user_name = $1",
            &[(&name, Type::TEXT)],
        ),
    )
    .await?;
    bounded(
        deadline,
        secs,
        what,
        client.query_typed(
            "INSERT INTO backup_codes.codes (user_name, seq, hash, used_at, used_service, used_rhost, \
                 used_host, expires) \
             SELECT $1, (u.n - 1)::integer, u.hash, u.at, u.service, u.rhost, u.host, u.expires \
             FROM unnest($2::bytea[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], \
                         $7::timestamptz[]) \
                  WITH ORDINALITY AS u(hash, at, service, rhost, host, expires, n)",
            &[
                (&name, Type::TEXT),
                (&hashes, Type::BYTEA_ARRAY),
                (&used_at, Type::TIMESTAMPTZ_ARRAY),
                (&services, Type::TEXT_ARRAY),
                (&rhosts, Type::TEXT_ARRAY),
                (&hosts, Type::TEXT_ARRAY),
                (&expires, Type::TIMESTAMPTZ_ARRAY),
            ],
        ),
    )
    .await?;
    Ok(())
}

/// The tally as the `sets` table keeps it.
struct TallyColumns {
    local: Vec<OffsetDateTime>,
    remote: Vec<OffsetDateTime>,
    remote_in_a_row: i32,
    last_at: Option<OffsetDateTime>,
    last_service: Option<String>,
    last_rhost: Option<String>,
    last_host: Option<String>,
}

impl TallyColumns {
    fn of(tally: &Tally) -> Self {
        let last = tally.last_failure.as_ref();
        Self {
            local: tally.local.clone(),
            remote: tally.remote.clone(),
            remote_in_a_row: i32::try_from(tally.remote_in_a_row).unwrap_or(i32::MAX),
            last_at: last.map(|l| l.at),
            last_service: last.map(|l| l.service.clone()),
            last_rhost: last.and_then(|l| l.rhost.clone()),
            last_host: last.and_then(|l| l.host.clone()),
        }
    }
}

/// The tally in columns `at..at + 7` of a `sets` row.
fn tally_of(row: &Row, at: usize) -> Result<Tally, PgError> {
    let what = "read the tally";
    let in_a_row: i32 = get(row, at + 2, what)?;
    let last_at: Option<OffsetDateTime> = get(row, at + 3, what)?;
    let last_failure = match last_at {
        Some(when) => Some(LastFailure {
            at: when,
            service: tolerant(get::<Option<String>>(row, at + 4, what)?.unwrap_or_default()),
            rhost: tolerant_opt(get(row, at + 5, what)?),
            host: tolerant_opt(get(row, at + 6, what)?),
        }),
        None => None,
    };
    Ok(Tally {
        local: get(row, at, what)?,
        remote: get(row, at + 1, what)?,
        remote_in_a_row: u32::try_from(in_a_row).unwrap_or(0),
        last_failure,
    })
}

/// The password file: root's, private, a regular file; its first line is the
/// password.
fn read_password(path: &Path) -> Result<Zeroizing<Vec<u8>>, PgError> {
    let fail = |reason: String| PgError::Config(format!("password_file {}: {reason}", path.display()));
    let rules = Rules {
        private: true,
        max_size: MAX_PASSWORD_FILE,
    };
    let text = trusted::read(path, &rules).map_err(|e| PgError::Config(format!("password_file {e}")))?;
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(fail("holds no password".into()));
    }
    Ok(Zeroizing::new(line.to_vec()))
}
