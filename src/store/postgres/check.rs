//! What `backup-codes check` reports of the fleet store: the connection,
//! the schema, the login roles' rights (each login routine executable,
//! `renew`'s included, and nothing more), the replication, every set.

use tokio::time::Instant;
use tokio_postgres::Client;
use tokio_postgres::types::Type;

use super::admin::{fleet_policy, read, users};
use super::error::PgError;
use super::rows::get;
use super::schema::{self, SCHEMA_VERSION};
use super::session::{Sessions, bounded, bounded_pg};
use crate::store::CheckReport;

/// What `backup-codes check` reports: the connection, the schema
/// version, what every login role can read, and every set.
pub(super) fn check(sessions: &Sessions) -> Result<CheckReport, PgError> {
    let secs = sessions.secs();
    let uri = sessions.uri.to_string();
    let report = sessions.admin(async |client, deadline| {
        let mut problems = Vec::new();
        let row = bounded(
            deadline,
            secs,
            "ask who we are",
            client.query_typed_one(
                "SELECT current_user::text AS me, current_setting('server_version') AS server_version, \
                 EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = 'backup_codes' \
                         AND n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)) AS owner",
                &[],
            ),
        )
        .await?;
        let me: String = get(&row, "me", "ask who we are")?;
        let server: String = get(&row, "server_version", "ask who we are")?;
        let owner: bool = get(&row, "owner", "ask who we are")?;
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
                "SELECT r.rolname::text AS role, r.rolsuper AS superuser, r.rolconnlimit AS connection_limit, \
                    ARRAY(SELECT c.relname::text FROM pg_class c \
                          JOIN pg_namespace n ON n.oid = c.relnamespace \
                          WHERE n.nspname = 'backup_codes' AND c.relkind IN ('r', 'v', 'm', 'p') \
                          AND has_table_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE') \
                          ORDER BY 1) AS tables, \
                    ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p \
                          JOIN pg_namespace n ON n.oid = p.pronamespace \
                          WHERE n.nspname = 'backup_codes' AND has_function_privilege(r.oid, p.oid, 'EXECUTE') \
                          AND p.oid <> ALL (ARRAY(SELECT to_regprocedure(f)::oid \
                                                  FROM unnest($1::text[]) AS f)) ORDER BY 1) AS functions, \
                    ARRAY(SELECT f FROM unnest($1::text[]) AS f \
                          WHERE to_regprocedure(f) IS NULL \
                             OR NOT has_function_privilege(r.oid, to_regprocedure(f), 'EXECUTE')) AS missing \
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
            let role: String = get(row, "role", "check the login roles")?;
            let superuser: bool = get(row, "superuser", "check the login roles")?;
            let limit: i32 = get(row, "connection_limit", "check the login roles")?;
            let tables: Vec<String> = get(row, "tables", "check the login roles")?;
            let functions: Vec<String> = get(row, "functions", "check the login roles")?;
            let missing: Vec<String> = get(row, "missing", "check the login roles")?;
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
            if !missing.is_empty() {
                // A login (or `renew`, a version 4 routine) as this role would fail.
                problems.push(format!(
                    "{uri}: login role {role} cannot execute {}: run `backup-codes db init --login-role {role}`",
                    missing.join(", ")
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
        let users = users(sessions)?;
        let mut good = 0;
        for user in &users {
            match read(sessions, user) {
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
        transport: sessions.transport(),
    })
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
            "SELECT pg_is_in_recovery() AS standby, current_setting('synchronous_standby_names') AS standby_names, \
                    current_setting('synchronous_commit') AS synchronous_commit, \
                    (SELECT count(*) FROM pg_stat_replication) AS standbys, \
                    (SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')) AS sync, \
                    (SELECT count(*) FROM pg_stat_replication WHERE sync_state IS NULL) AS hidden",
            &[],
        ),
    )
    .await?;
    let standby: bool = get(&row, "standby", what)?;
    let names: String = get(&row, "standby_names", what)?;
    let commit: String = get(&row, "synchronous_commit", what)?;
    let (standbys, sync, hidden): (i64, i64, i64) = (
        get(&row, "standbys", what)?,
        get(&row, "sync", what)?,
        get(&row, "hidden", what)?,
    );
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
