//! What can go wrong with the PostgreSQL store, and a database error told as
//! one line.

use std::fmt;

/// The cause kept behind a message (`source()`): the message already says
/// it in one line, the cause is there for whoever walks the chain.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A problem with the PostgreSQL store.
#[derive(Debug)]
#[non_exhaustive]
pub enum PgError {
    /// The `[postgresql]` settings or a file they name.
    Config {
        /// What is wrong, as one line.
        reason: String,
        /// The cause, when there was one (an I/O or TLS error, say).
        source: Option<Cause>,
    },
    /// The runtime could not be built (out of descriptors, say).
    Runtime(std::io::Error),
    /// The server could not be reached, or refused the role.
    Connect {
        /// The server and why, as one line.
        reason: String,
        /// The cause: the socket's or the client's error.
        source: Option<Cause>,
    },
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
        /// The server's or the client's message, as one line.
        reason: String,
        /// The client's error.
        source: tokio_postgres::Error,
    },
    /// The schema is missing, of another version, or not ours.
    Schema(String),
    /// `COMMIT` was sent and its answer lost: the attempt may or may not have
    /// been recorded. It is refused.
    Ambiguous {
        /// How the answer was lost.
        reason: String,
        /// The client's error, unless no answer came in time.
        source: Option<tokio_postgres::Error>,
    },
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
            Self::Config { reason, .. } => write!(f, "configuration: {reason}"),
            Self::Runtime(e) => write!(f, "cannot start the database client: {e}"),
            Self::Connect { reason, .. } => write!(f, "cannot connect: {reason}"),
            Self::Timeout { what, secs } => {
                write!(f, "no answer within {secs} s (connect_timeout) to: {what}")
            }
            Self::Query { what, reason, .. } => write!(f, "cannot {what}: {reason}"),
            Self::Schema(reason) => write!(f, "schema: {reason}"),
            Self::Unproven { server, reason } => {
                write!(f, "{server}: refused, the server did not prove itself: {reason}")
            }
            Self::ReadOnly { server } => write!(f, "{server}: read-only (a standby), skipped"),
            Self::Ambiguous { reason, .. } => write!(
                f,
                "AMBIGUOUS: the commit was sent but its answer was lost ({reason}); the attempt \
                 was refused, and the code may or may not have been marked used"
            ),
            Self::Data { user, reason } => write!(f, "the set of {user} is invalid: {reason}"),
        }
    }
}

impl std::error::Error for PgError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Config { source, .. } | Self::Connect { source, .. } => {
                source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
            }
            Self::Runtime(e) => Some(e),
            Self::Query { source, .. } => Some(source),
            Self::Ambiguous { source, .. } => {
                source.as_ref().map(|e| e as &(dyn std::error::Error + 'static))
            }
            Self::Timeout { .. }
            | Self::Schema(_)
            | Self::Unproven { .. }
            | Self::ReadOnly { .. }
            | Self::Data { .. } => None,
        }
    }
}

impl PgError {
    /// A configuration problem with no cause beyond its reason.
    pub(super) fn config(reason: String) -> Self {
        Self::Config { reason, source: None }
    }

    /// A configuration problem and its cause.
    pub(super) fn config_from(reason: String, source: impl Into<Cause>) -> Self {
        Self::Config {
            reason,
            source: Some(source.into()),
        }
    }

    /// A connection that failed, with no cause beyond its reason.
    pub(super) fn connect(reason: String) -> Self {
        Self::Connect { reason, source: None }
    }

    /// A connection that failed, and its cause.
    pub(super) fn connect_from(reason: String, source: impl Into<Cause>) -> Self {
        Self::Connect {
            reason,
            source: Some(source.into()),
        }
    }
}

/// A database error as one line: the server's message (and detail) when it
/// sent one, else the client's.
pub(super) fn query_error(what: &'static str, e: tokio_postgres::Error) -> PgError {
    PgError::Query {
        what,
        reason: describe(&e),
        source: e,
    }
}

pub(super) fn describe(e: &tokio_postgres::Error) -> String {
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

/// Whether the server answered with an ERROR (the statement's transaction
/// was rolled back), rather than the connection failing or a FATAL.
pub(super) fn is_error(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| db.parsed_severity() == Some(tokio_postgres::error::Severity::Error))
}
