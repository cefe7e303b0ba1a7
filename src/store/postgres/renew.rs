//! Renewal on a fleet host, as the login role: one `CALL backup_codes.renew`
//! that judges a code of the user's set as a login would and, only if it is
//! right, replaces the set in the same transaction, committed before the
//! answer (see docs/design.md, "renew").

use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

use super::error::PgError;
use super::login;
use super::rows::{code_number_of, get, hashing_of, judgement_of};
use super::schema;
use super::session::{Sessions, call_committing};
use crate::codeset::CodeSet;
use crate::lockout::LockedUntil;
use crate::renewal::Renewal;
use crate::store::{Attempt, Judgement};
use crate::username::UserName;

/// Replaces `user`'s set with `new` only together with spending the code
/// `attempt` carries (hashed with the set's parameters), by the fleet's
/// policy (`attempt.policy` is not used). A CALL whose answer was lost is
/// looked up once (the set's salt says whether `new` is in force) before it
/// is [`PgError::Ambiguous`].
pub(super) fn renew(
    sessions: &Sessions,
    host_name: &str,
    user: &UserName,
    attempt: &Attempt<'_>,
    new: &CodeSet,
) -> Result<Renewal, PgError> {
    let invalid = |reason: String| PgError::Data {
        user: user.to_string(),
        reason: format!("the new set is not sent: {reason}"),
    };
    new.validate().map_err(|e| invalid(e.to_string()))?;
    if new.revoked.is_some() || new.codes.iter().any(|c| c.used.is_some() || c.expires.is_some()) {
        return Err(invalid(
            "a renewal's set is new: no code used, expiring or revoked".into(),
        ));
    }
    let secs = sessions.secs();
    let name = user.as_str();
    let salt: &[u8] = &attempt.hashing.kdf.salt;
    let digest: Option<&[u8]> = attempt.digest.map(|d| &d[..]);
    let origin = attempt.origin;
    let int = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let alphabet = new.alphabet.to_string();
    let length = i32::try_from(new.length).unwrap_or(i32::MAX);
    let params = &new.kdf.params;
    let (m, t, p) = (int(params.m_cost), int(params.t_cost), int(params.p_cost));
    let new_salt: &[u8] = &new.kdf.salt;
    let hashes: Vec<&[u8]> = new.codes.iter().map(|c| &c.hash[..]).collect();
    let called = sessions.login_step(async |client, deadline| {
        let args: [(&(dyn ToSql + Sync), Type); 14] = [
            (&name, Type::TEXT),
            (&salt, Type::BYTEA),
            (&digest, Type::BYTEA),
            (&origin.service, Type::TEXT),
            (&origin.rhost, Type::TEXT),
            (&host_name, Type::TEXT),
            (&alphabet, Type::TEXT),
            (&length, Type::INT4),
            (&m, Type::INT4),
            (&t, Type::INT4),
            (&p, Type::INT4),
            (&new_salt, Type::BYTEA),
            (&new.check_symbol, Type::BOOL),
            (&hashes, Type::BYTEA_ARRAY),
        ];
        let row = call_committing(client, deadline, secs, "renew the set", schema::RENEW_CALL, &args).await?;
        renewal_of(user, &row)
    });
    match called {
        // Renewed or not: the salt in force tells (a new set's salt is one
        // the database refuses to reuse, and nobody else knew it).
        Err(lost @ PgError::Ambiguous { .. }) => match login::login_info(sessions, user, false) {
            Ok(Some(info)) if info.hashing.kdf.salt == new.kdf.salt => Ok(Renewal::Renewed(None)),
            _ => Err(lost),
        },
        // A database not yet upgraded: say what the administrator does.
        Err(PgError::Query { what, reason, source })
            if source.code() == Some(&SqlState::UNDEFINED_FUNCTION) =>
        {
            Err(PgError::Query {
                what,
                reason: format!(
                    "{reason} (the schema is older than version 4: an administrator runs \
                     `backup-codes db init`)"
                ),
                source,
            })
        }
        other => other,
    }
}

/// The `renew` procedure's row as a [`Renewal`].
fn renewal_of(user: &UserName, row: &Row) -> Result<Renewal, PgError> {
    let what = "read the renewal";
    let verdict: String = get(row, "verdict", what)?;
    Ok(match verdict.as_str() {
        "renewed" => Renewal::Renewed(code_number_of(row)?),
        "absent" => Renewal::NoSet,
        "revoked" => Renewal::Revoked,
        "locked" => {
            let until: Option<OffsetDateTime> = get(row, "locked_until", what)?;
            Renewal::Locked(until.map_or(LockedUntil::AdminUnlock, LockedUntil::Time))
        }
        "rehash" => Renewal::Rehash(hashing_of(user, row)?),
        // What judge_attempt answered, the set unchanged: as a login's.
        _ => match judgement_of(user, row)? {
            Judgement::Judged(outcome) => Renewal::Refused(outcome),
            Judgement::Rehash(hashing) => Renewal::Rehash(hashing),
            Judgement::Absent => Renewal::NoSet,
        },
    })
}
