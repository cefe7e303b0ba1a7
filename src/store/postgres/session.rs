//! Connections: how a step of the store reaches the server (a short
//! connection per login step, one kept for the CLI), and every await bounded
//! by the step's deadline.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ClientConfig;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::Client;
use zeroize::Zeroizing;

use super::error::{PgError, describe, is_error, query_error};
use super::transport::{self, Transport};
use crate::store::location::PgUri;

/// How the store reaches its server: the URI and secrets, the runtime, the
/// kept admin connection.
pub(super) struct Sessions {
    /// The URI connected to.
    pub(super) uri: PgUri,
    /// `connect_timeout`: per server, and per step.
    pub(super) timeout: Duration,
    password: Option<Zeroizing<Vec<u8>>>,
    tls: Option<Arc<ClientConfig>>,
    /// How the server of the last connection proved itself.
    transport: RefCell<Option<Transport>>,
    /// The CLI's connection, kept between commands on several users.
    admin: RefCell<Option<Session>>,
    // Last: dropped after every connection and task above.
    runtime: Runtime,
}

/// One connection and the task that drives it.
struct Session {
    client: Client,
    task: JoinHandle<()>,
}

impl Sessions {
    /// Builds the runtime; connects only when first used.
    pub(super) fn new(
        uri: &PgUri,
        timeout: Duration,
        password: Option<Zeroizing<Vec<u8>>>,
        tls: Option<Arc<ClientConfig>>,
    ) -> Result<Self, PgError> {
        // Blocking on a runtime inside another one panics; such a host (an
        // application that authenticates from async code) is refused instead.
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(PgError::config(
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
            timeout,
            password,
            tls,
            transport: RefCell::new(None),
            admin: RefCell::new(None),
            runtime,
        })
    }

    /// Whether a password is set (for `Debug`, which never shows it).
    pub(super) fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// `connect_timeout` in seconds, for messages.
    pub(super) fn secs(&self) -> u64 {
        self.timeout.as_secs()
    }

    /// How the server of the last connection proved itself.
    pub(super) fn transport(&self) -> Option<Transport> {
        self.transport.borrow().clone()
    }

    /// Runs `step` on a connection of its own, made for it (each server
    /// within `connect_timeout`) and closed after it: a login holds no
    /// server session between steps, so none while the person types.
    /// `step` runs within `connect_timeout` of the connection being made.
    pub(super) fn login_step<T>(
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

    /// [`login_step`](Self::login_step), with `work` (the Argon2id of the
    /// attempt) done on a thread of its own while the connection is made, and
    /// handed to `step` once both are done: the connection's round trips, the
    /// server's fork and the TLS and SCRAM computations overlap the hash
    /// instead of following it. The thread is scoped: joined before this
    /// returns, whatever happens. Should no thread be had, `work` runs here
    /// once the connection is made. A panic of `work` is resumed here, as if
    /// it had run on this thread. If the connection is up before `work` is
    /// done, `meanwhile` runs on it first, within `connect_timeout`: a
    /// statement that warms the new backend's caches for `step`, in time the
    /// login spends waiting for the hash anyway. Its failure (a server that
    /// stopped answering) is the step's: nothing more is sent.
    pub(super) fn login_step_beside<W: Send, T>(
        &self,
        work: impl FnOnce() -> W + Send,
        meanwhile: impl AsyncFnOnce(&Client, Instant) -> Result<(), PgError>,
        step: impl AsyncFnOnce(&Client, Instant, W) -> Result<T, PgError>,
    ) -> Result<T, PgError> {
        let slot = Mutex::new(Some(work));
        let take = || slot.lock().ok().and_then(|mut w| w.take());
        std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .name("backup-codes-kdf".into())
                .spawn_scoped(scope, || take().map(|work| work()))
                .ok();
            let session = self.runtime.block_on(self.connect());
            let warmed = match (&session, &worker) {
                (Ok(session), Some(worker)) if !worker.is_finished() => self
                    .runtime
                    .block_on(meanwhile(&session.client, Instant::now() + self.timeout)),
                _ => Ok(()),
            };
            let done = match worker {
                Some(worker) => match worker.join() {
                    Ok(done) => done,
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                None => None,
            };
            // No thread: the work is still in its slot.
            let done = done.or_else(|| take().map(|work| work()));
            let session = session?;
            self.runtime.block_on(async {
                let deadline = Instant::now() + self.timeout;
                let result = match (done, warmed) {
                    (_, Err(e)) => Err(e),
                    (Some(done), Ok(())) => step(&session.client, deadline, done).await,
                    (None, Ok(())) => Err(PgError::connect("the attempt's hash was not computed".into())),
                };
                close(session, deadline).await;
                result
            })
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

    /// Runs `op` on the kept admin connection (made on first use), within
    /// `connect_timeout` per call of `op`.
    pub(super) fn admin<T>(
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
}

/// Closes a connection: dropping the client ends the connection's task,
/// which closes the socket; should that not happen by the deadline, the
/// task and its socket go with the runtime, when the store is dropped.
async fn close(session: Session, deadline: Instant) {
    let Session { client, task } = session;
    drop(client);
    let _ = tokio::time::timeout_at(deadline, task).await;
}

/// Awaits a statement until the step's deadline.
pub(super) async fn bounded<T>(
    deadline: Instant,
    secs: u64,
    what: &'static str,
    future: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, PgError> {
    match tokio::time::timeout_at(deadline, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(query_error(what, e)),
        Err(_) => Err(PgError::Timeout { what, secs }),
    }
}

/// Awaits several statements until the step's deadline.
pub(super) async fn bounded_pg<T>(
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
pub(super) async fn commit(client: &Client, deadline: Instant, secs: u64) -> Result<(), PgError> {
    committed(
        "commit",
        secs,
        tokio::time::timeout_at(deadline, client.batch_execute("COMMIT")).await,
    )
}

/// The answer to a statement that commits (a COMMIT, or a CALL that commits
/// before it answers): an ERROR from the server means it was rolled back
/// (and a FATAL, the session ending, may come before or after the commit);
/// any other failure, or no answer by the deadline, that the answer was lost
/// after the commit may have been made ([`PgError::Ambiguous`]).
fn committed<T>(
    what: &'static str,
    secs: u64,
    answer: Result<Result<T, tokio_postgres::Error>, tokio::time::error::Elapsed>,
) -> Result<T, PgError> {
    match answer {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) if is_error(&e) => Err(query_error(what, e)),
        Ok(Err(e)) => Err(PgError::Ambiguous {
            reason: describe(&e),
            source: Some(e),
        }),
        Err(_) => Err(PgError::Ambiguous {
            reason: format!("no answer within {secs} s"),
            source: None,
        }),
    }
}

/// Sends `call`, a CALL of a procedure that commits before it answers, and
/// returns its one row. An ERROR from the server means it was rolled back
/// (nothing recorded); any other failure, or no answer by the deadline,
/// that the answer was lost after the commit may have been made
/// ([`PgError::Ambiguous`]).
pub(super) async fn call_committing(
    client: &Client,
    deadline: Instant,
    secs: u64,
    what: &'static str,
    call: &str,
    params: &[(
        &(dyn tokio_postgres::types::ToSql + Sync),
        tokio_postgres::types::Type,
    )],
) -> Result<tokio_postgres::Row, PgError> {
    committed(
        what,
        secs,
        tokio::time::timeout_at(deadline, client.query_typed_one(call, params)).await,
    )
}
