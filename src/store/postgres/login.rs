//! The login path: `login_info` before the prompt and `judge` after it,
//! each on a short connection of its own, as the login role.

use time::OffsetDateTime;
use tokio_postgres::types::{ToSql, Type};

use super::error::PgError;
use super::rows::{get, hashing_of, judgement_of};
use super::schema;
use super::session::{Sessions, bounded, call_committing};
use crate::lockout::LockedUntil;
use crate::store::{Attempt, Judgement, LoginInfo};
use crate::username::UserName;

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
    let user = attempt.user.as_str();
    let salt: &[u8] = &attempt.hashing.kdf.salt;
    let digest: Option<&[u8]> = attempt.digest.map(|d| &d[..]);
    let origin = attempt.origin;
    let host = host_name;
    // A new short connection (none was kept over the prompt), and one
    // statement: the CALL commits itself before it answers.
    sessions.login_step(async |client, deadline| {
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
    })
}
