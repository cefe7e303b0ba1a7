//! The schema: `backup-codes db init` creates or upgrades it and grants the
//! login role what a login needs, nothing more.
//!
//! The version is the schema's comment (`pam-backup-codes schema N`), which
//! every role can read, so `check` can report it also when it runs as the
//! login role, which can read no table.

use tokio_postgres::Client;
use tokio_postgres::types::Type;

use super::error::{PgError, query_error};

/// The schema version this build creates and uses.
pub const SCHEMA_VERSION: i32 = 4;
const COMMENT_PREFIX: &str = "pam-backup-codes schema ";
const SCHEMA_SQL: &str = include_str!("schema.sql");
/// The routines a login may execute, with their argument types: the
/// procedure `judge` second (`check` finds the login roles by it), and the
/// function it calls, which refuses to run outside that procedure's CALL;
/// and since version 4 the procedure `renew` and its function, likewise.
pub(super) const LOGIN_FUNCTIONS: [&str; 6] = [
    "backup_codes.login_info(text, boolean)",
    "backup_codes.judge(text, bytea, bytea, text, text, text)",
    "backup_codes.judge_attempt(text, bytea, bytea, text, text, text)",
    "backup_codes.fleet_policy()",
    "backup_codes.renew(text, bytea, bytea, text, text, text, text, integer, integer, integer, \
     integer, bytea, boolean, bytea[])",
    "backup_codes.renew_attempt(text, bytea, bytea, text, text, text, text, integer, integer, \
     integer, integer, bytea, boolean, bytea[])",
];
/// The statement a login judges with, sent by the extended protocol: a CALL
/// with nothing but parameters (and NULL for the OUT ones), the only
/// statement `judge_attempt` runs within.
pub(super) const JUDGE_CALL: &str = "CALL backup_codes.judge($1, $2, $3, $4, $5, $6, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)";
/// The statement a renewal sends, likewise: the only one `renew_attempt`
/// runs within.
pub(super) const RENEW_CALL: &str = "CALL backup_codes.renew($1, $2, $3, $4, $5, $6, $7, $8, $9, \
     $10, $11, $12, $13, $14, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL)";
/// Serialises concurrent `db init` runs (an arbitrary constant: "bc-init").
const INIT_LOCK: i64 = 0x0062_632d_696e_6974;

/// What `db init` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitReport {
    /// The version found, `None` for a database without the schema.
    pub found: Option<i32>,
    /// The version now in place.
    pub now: i32,
}

/// The schema version in the database, `None` if there is no schema.
pub(super) async fn version(client: &Client) -> Result<Option<i32>, PgError> {
    let row = client
        .query_typed_opt(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = 'backup_codes'",
            &[],
        )
        .await
        .map_err(|e| query_error("read the schema version", e))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let comment: Option<String> = row
        .try_get(0)
        .map_err(|e| query_error("read the schema version", e))?;
    let version = comment
        .as_deref()
        .and_then(|c| c.strip_prefix(COMMENT_PREFIX))
        .and_then(|v| v.parse().ok());
    match version {
        Some(v) => Ok(Some(v)),
        None => Err(PgError::Schema(format!(
            "schema backup_codes exists but is not pam-backup-codes' (its comment is {comment:?})"
        ))),
    }
}

/// Creates or upgrades the schema in one transaction, as the connected role
/// (which becomes the owner of everything), and grants `login_role` the
/// login functions; sets its `CONNECTION LIMIT` if `connection_limit` says.
/// Waits for a table lock no longer than `lock_timeout_ms`: a client that
/// holds a lock on a table (a login role's open transaction) makes `db init`
/// fail rather than queue every login behind it.
pub(super) async fn init(
    client: &Client,
    login_role: &str,
    connection_limit: Option<i32>,
    lock_timeout_ms: u128,
) -> Result<InitReport, PgError> {
    // Any error leaves the transaction open; the caller then drops the
    // connection, which rolls it back.
    let tx = client;
    tx.batch_execute("BEGIN")
        .await
        .map_err(|e| query_error("begin", e))?;
    tx.query_typed("SELECT pg_advisory_xact_lock($1)", &[(&INIT_LOCK, Type::INT8)])
        .await
        .map_err(|e| query_error("take the init lock", e))?;
    // After the init lock, which a concurrent `db init` may hold for longer.
    tx.batch_execute(&format!("SET LOCAL lock_timeout = {lock_timeout_ms}"))
        .await
        .map_err(|e| query_error("set the lock timeout", e))?;
    let role = tx
        .query_typed_opt(
            "SELECT rolsuper OR rolbypassrls, rolname = current_user FROM pg_roles WHERE rolname = $1",
            &[(&login_role, Type::TEXT)],
        )
        .await
        .map_err(|e| query_error("look up the login role", e))?;
    match role.map(|r| (r.get::<_, bool>(0), r.get::<_, bool>(1))) {
        None => {
            return Err(PgError::Schema(format!(
                "role {login_role:?} does not exist: CREATE ROLE {login_role} LOGIN PASSWORD '…' first"
            )));
        }
        Some((true, _)) => {
            return Err(PgError::Schema(format!(
                "role {login_role:?} is a superuser or bypasses row security: it could read every \
                 hash; use an ordinary role"
            )));
        }
        Some((_, true)) => {
            return Err(PgError::Schema(format!(
                "role {login_role:?} is the role running db init, which owns the schema; the login \
                 role must be another one"
            )));
        }
        Some(_) => {}
    }
    let found = version(tx).await?;
    if let Some(v) = found.filter(|&v| v > SCHEMA_VERSION) {
        return Err(PgError::Schema(format!(
            "the schema is version {v}, newer than this build's {SCHEMA_VERSION}: upgrade backup-codes"
        )));
    }
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS backup_codes; REVOKE ALL ON SCHEMA backup_codes FROM PUBLIC",
    )
    .await
    .map_err(|e| query_error("create the schema", e))?;
    // Every statement of the script is idempotent, and upgrades version 1
    // (the policy table, clipped fields, the login routines without a
    // policy argument) as it goes, and versions 2 and 3 (version 4 adds
    // the renewal routines, granted below); a later version adds its
    // upgrade here, from `found` on, if it needs more.
    tx.batch_execute(SCHEMA_SQL)
        .await
        .map_err(|e| query_error("create the tables and functions", e))?;
    // The role's name quoted by the server itself.
    let role: String = tx
        .query_typed_one("SELECT quote_ident($1)", &[(&login_role, Type::TEXT)])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| query_error("quote the login role", e))?;
    let routines = LOGIN_FUNCTIONS.join(", ");
    // ROUTINES: procedures too, which PostgreSQL lets PUBLIC execute by default.
    let grants = format!(
        "REVOKE ALL ON ALL ROUTINES IN SCHEMA backup_codes FROM PUBLIC; \
         REVOKE ALL ON ALL TABLES IN SCHEMA backup_codes FROM PUBLIC; \
         GRANT USAGE ON SCHEMA backup_codes TO {role}; \
         GRANT EXECUTE ON ROUTINE {routines} TO {role}; \
         COMMENT ON SCHEMA backup_codes IS '{COMMENT_PREFIX}{SCHEMA_VERSION}'"
    );
    if let Some(limit) = connection_limit {
        // Needs CREATEROLE (or a superuser) on the owner's side.
        tx.batch_execute(&format!("ALTER ROLE {role} CONNECTION LIMIT {limit}"))
            .await
            .map_err(|e| query_error("set the login role's connection limit", e))?;
    }
    tx.batch_execute(&grants)
        .await
        .map_err(|e| query_error("grant the login role", e))?;
    tx.batch_execute("COMMIT")
        .await
        .map_err(|e| query_error("commit", e))?;
    Ok(InitReport {
        found,
        now: SCHEMA_VERSION,
    })
}
