//! Administration, as the database owner (the CLI): list, read and edit
//! sets under a row lock, create the schema, read and set the fleet's policy.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;
use tokio_postgres::Client;
use tokio_postgres::types::{ToSql, Type};

use super::error::PgError;
use super::rows::{code_of, get, hashing_of, tally_of};
use super::schema::{self, InitReport};
use super::session::{Sessions, bounded, bounded_pg, commit};
use crate::codeset::Lifetime;
use crate::codeset::{self, CodeSet, CodeUse};
use crate::lockout::{Lockout, Tally};
use crate::store::Edit;
use crate::username::UserName;
use crate::verdict::Policy;

/// Serialises edits of one user's set, also before the set exists.
const EDIT_LOCK_SEED: i64 = 0x6263_6564_6974;

/// The fleet's policy, from the database (the owner's and the login
/// role's alike).
pub(super) fn policy(sessions: &Sessions) -> Result<Policy, PgError> {
    let secs = sessions.secs();
    sessions.admin(async |client, deadline| fleet_policy(client, deadline, secs).await)
}

/// Sets what `change` changes in the fleet's policy (`backup-codes db
/// policy`, the owner) and returns the policy now in force.
pub(super) fn set_policy(sessions: &Sessions, change: &PolicyChange) -> Result<Policy, PgError> {
    let secs = sessions.secs();
    let int = |name: &str, v: u64| {
        i32::try_from(v)
            .map_err(|_| PgError::config(format!("{name} = {v} is too large (at most {})", i32::MAX)))
    };
    let deny = change.deny.map(|v| int("deny", u64::from(v))).transpose()?;
    let fail_interval = change
        .fail_interval
        .map(|v| int("fail_interval", v))
        .transpose()?;
    let unlock_time = change.unlock_time.map(|v| int("unlock_time", v)).transpose()?;
    let max_age = change.max_age.map(|v| int("max_age", u64::from(v))).transpose()?;
    sessions.admin(async |client, deadline| {
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

/// Creates or upgrades the schema and grants `login_role` what a login
/// needs (`backup-codes db init`).
/// `connection_limit` is the login role's `CONNECTION LIMIT`, if given.
pub(super) fn init(
    sessions: &Sessions,
    login_role: &str,
    connection_limit: Option<i32>,
) -> Result<InitReport, PgError> {
    let secs = sessions.secs();
    let lock_timeout = sessions.timeout.as_millis();
    sessions.admin(async |client, deadline| {
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
pub(super) fn users(sessions: &Sessions) -> Result<Vec<UserName>, PgError> {
    let secs = sessions.secs();
    sessions.admin(async |client, deadline| {
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
                let name: String = get(row, "user_name", "list the users")?;
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
pub(super) fn read(sessions: &Sessions, user: &UserName) -> Result<Option<CodeSet>, PgError> {
    let secs = sessions.secs();
    sessions.admin(async |client, deadline| read_set(client, user, deadline, secs, false).await)
}

/// Reads a user's set under a row lock, lets `change` decide, writes
/// what it decided and commits.
pub(super) fn edit<T>(
    sessions: &Sessions,
    user: &UserName,
    change: impl FnOnce(Option<CodeSet>) -> (Edit, T),
) -> Result<T, PgError> {
    let secs = sessions.secs();
    sessions.admin(async |client, deadline| {
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
pub(super) async fn fleet_policy(client: &Client, deadline: Instant, secs: u64) -> Result<Policy, PgError> {
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
    let value = |column: &str| -> Result<u32, PgError> {
        let v: i32 = get(&row, column, what)?;
        u32::try_from(v).map_err(|_| PgError::Schema(format!("the policy holds a negative value {v}")))
    };
    Ok(Policy {
        lockout: Lockout {
            deny: value("deny")?,
            fail_interval: u64::from(value("fail_interval")?),
            unlock_time: u64::from(value("unlock_time")?),
        },
        lifetime: Lifetime::from_days(value("max_age")?),
    })
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
    let hashing = hashing_of(user, row)?;
    let created: OffsetDateTime = get(row, "created", what)?;
    let revoked: Option<OffsetDateTime> = get(row, "revoked", what)?;
    let tally = tally_of(row)?;
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
    let codes = codes
        .iter()
        .map(|row| code_of(user, row))
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
    set.validate().map_err(|e| PgError::Data {
        user: user.to_string(),
        reason: e.to_string(),
    })?;
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
