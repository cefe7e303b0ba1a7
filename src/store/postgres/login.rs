//! The login path: `login_info` before the prompt and `judge` after it,
//! each on a short connection of its own, as the login role.

use time::OffsetDateTime;
use tokio_postgres::types::{ToSql, Type};

use super::error::PgError;
use super::rows::{get, hashing_of, judgement_of};
use super::schema;
use super::session::{Sessions, bounded, call_committing};
use crate::kdf::{Hasher, KdfError};
use crate::lockout::LockedUntil;
use crate::store::{Attempt, Judgement, LoginInfo};
use crate::username::UserName;

/// The login role's one read: what a login needs before prompting.
const LOGIN_INFO: &str = "SELECT alphabet, length, m_cost, t_cost, p_cost, salt, locked, locked_until, \
                          check_symbol FROM backup_codes.login_info($1, $2)";

/// What a login needs before prompting, locked or not by the fleet's
/// policy; `None` if the user has no set.
pub(super) fn login_info(
    sessions: &Sessions,
    user: &UserName,
    remote: bool,
) -> Result<Option<LoginInfo>, PgError> {
    let secs = sessions.secs();
    sessions.login_step(async |client, deadline| {
        let rows = bounded(
            deadline,
            secs,
            "fetch the login parameters",
            client.query_typed(LOGIN_INFO, &[(&user.as_str(), Type::TEXT), (&remote, Type::BOOL)]),
        )
        .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let hashing = hashing_of(user, row)?;
        let locked: bool = get(row, "locked", "fetch the login parameters")?;
        let until: Option<OffsetDateTime> = get(row, "locked_until", "fetch the login parameters")?;
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
pub(super) fn judge(
    sessions: &Sessions,
    host_name: &str,
    attempt: &Attempt<'_>,
) -> Result<Judgement, PgError> {
    let secs = sessions.secs();
    // A new short connection (none was kept over the prompt), and one
    // statement: the CALL commits itself before it answers.
    sessions.login_step(async |client, deadline| call_judge(client, deadline, secs, host_name, attempt).await)
}

/// [`judge`], the attempt hashed by `hash` on a thread of its own while the
/// connection is made (`Sessions::login_step_beside`). `attempt.digest` is
/// not used: the digest is `hash`'s. A failed `hash` is returned as it is,
/// and nothing is sent.
pub(super) fn judge_while_hashing(
    sessions: &Sessions,
    host_name: &str,
    attempt: &Attempt<'_>,
    hash: impl Hasher,
) -> Result<Result<Judgement, KdfError>, PgError> {
    let secs = sessions.secs();
    // While the hash runs: the user's `login_info`, read-only, its answer
    // unused (the judgement decides): a new backend's first statement pays
    // for its catalog caches and for compiling PL/pgSQL, and `judge` then
    // finds most of that done.
    let user = attempt.user.as_str();
    let remote = attempt.origin.rhost.is_some();
    let warm = async |client: &tokio_postgres::Client, deadline| {
        let params: [(&(dyn ToSql + Sync), Type); 2] = [(&user, Type::TEXT), (&remote, Type::BOOL)];
        bounded(
            deadline,
            secs,
            "fetch the login parameters",
            client.query_typed(LOGIN_INFO, &params),
        )
        .await
        .map(drop)
    };
    sessions.login_step_beside(hash, warm, async |client, deadline, digest| {
        let digest = match digest {
            Ok(digest) => digest,
            Err(e) => return Ok(Err(e)),
        };
        let attempt = Attempt {
            digest: digest.as_deref(),
            ..*attempt
        };
        call_judge(client, deadline, secs, host_name, &attempt)
            .await
            .map(Ok)
    })
}

/// The `CALL backup_codes.judge` of `attempt` on `client`.
async fn call_judge(
    client: &tokio_postgres::Client,
    deadline: tokio::time::Instant,
    secs: u64,
    host: &str,
    attempt: &Attempt<'_>,
) -> Result<Judgement, PgError> {
    let user = attempt.user.as_str();
    let salt: &[u8] = &attempt.hashing.kdf.salt;
    let digest: Option<&[u8]> = attempt.digest.map(|d| &d[..]);
    let origin = attempt.origin;
    let params: [(&(dyn ToSql + Sync), Type); 6] = [
        (&user, Type::TEXT),
        (&salt, Type::BYTEA),
        (&digest, Type::BYTEA),
        (&origin.service, Type::TEXT),
        (&origin.rhost, Type::TEXT),
        (&host, Type::TEXT),
    ];
    let row = call_committing(
        client,
        deadline,
        secs,
        "judge the attempt",
        schema::JUDGE_CALL,
        &params,
    )
    .await?;
    judgement_of(attempt.user, &row)
}
