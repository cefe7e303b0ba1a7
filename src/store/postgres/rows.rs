//! The row decoders: a database row as the crate's types, each checked as a
//! store file's would be, and every recorded text made safe to show.

use time::OffsetDateTime;
use tokio_postgres::Row;

use super::error::{PgError, query_error};
use crate::code::Alphabet;
use crate::codeset::{CodeEntry, CodeNumber, CodeUse, Hashing, Kdf};
use crate::kdf::{KdfParams, Salt};
use crate::lockout::{LockedUntil, Tally};
use crate::store::Judgement;
use crate::text::{clip_field, escape_deceptive};
use crate::username::UserName;
use crate::verdict::{Outcome, Refusal};

/// One column of a row, by name, its error told as `what` failing.
pub(super) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    column: &str,
    what: &'static str,
) -> Result<T, PgError> {
    row.try_get(column).map_err(|e| query_error(what, e))
}

/// The hashing parameters (columns alphabet, length, m_cost, t_cost, p_cost,
/// salt, check_symbol), checked as a store file's are: a database that asked for
/// gigabytes of Argon2 memory must not get them.
pub(super) fn hashing_of(user: &UserName, row: &Row) -> Result<Hashing, PgError> {
    let what = "read the hashing parameters";
    let invalid = |reason: String| PgError::Data {
        user: user.to_string(),
        reason,
    };
    let alphabet: String = get(row, "alphabet", what)?;
    let alphabet: Alphabet = alphabet
        .parse()
        .map_err(|_| invalid(format!("unknown alphabet {alphabet:?}")))?;
    let length: i32 = get(row, "length", what)?;
    let cost = |column: &str| -> Result<u32, PgError> {
        let v: i32 = get(row, column, what)?;
        u32::try_from(v).map_err(|_| invalid(format!("negative Argon2 cost {v}")))
    };
    let params = KdfParams {
        m_cost: cost("m_cost")?,
        t_cost: cost("t_cost")?,
        p_cost: cost("p_cost")?,
    };
    params.validate().map_err(|e| invalid(e.to_string()))?;
    let salt: Vec<u8> = get(row, "salt", what)?;
    let salt: Salt = salt
        .try_into()
        .map_err(|s: Vec<u8>| invalid(format!("a salt of {} bytes", s.len())))?;
    let hashing = Hashing {
        alphabet,
        length: usize::try_from(length).map_err(|_| invalid(format!("code length {length}")))?,
        check_symbol: get(row, "check_symbol", what)?,
        kdf: Kdf::argon2id(params, salt),
    };
    hashing.format().map_err(|e| invalid(e.to_string()))?;
    Ok(hashing)
}

/// The previous use and the failures since, of an `accepted` row: its
/// `used_*` columns and `failures`.
fn previous_of(row: &Row) -> Result<crate::verdict::Previous, PgError> {
    let what = "read the previous use";
    let used = record_of(row, "used", what)?;
    let failures: Option<i32> = get(row, "failures", what)?;
    Ok(crate::verdict::Previous {
        used,
        failures: failures.and_then(|n| usize::try_from(n).ok()).unwrap_or(0),
    })
}

/// The number of the code a verdict is about, from its `code_seq` column
/// (the code's `seq`, from 0, as the set's index), if it names one.
pub(super) fn code_number_of(row: &Row) -> Result<Option<CodeNumber>, PgError> {
    let seq: Option<i32> = get(row, "code_seq", "read the judgement")?;
    Ok(seq
        .and_then(|s| usize::try_from(s).ok())
        .map(CodeNumber::of_index))
}

/// The `judge` function's row as a [`Judgement`].
pub(super) fn judgement_of(user: &UserName, row: &Row) -> Result<Judgement, PgError> {
    let what = "read the judgement";
    let verdict: String = get(row, "verdict", what)?;
    let locked: bool = get(row, "locked", what)?;
    let code = code_number_of(row)?;
    // A verdict about a matched code that does not say which: a schema this
    // build does not know.
    let matched =
        || code.ok_or_else(|| PgError::Schema(format!("judge answered {verdict} without the code's seq")));
    let outcome = match verdict.as_str() {
        "accepted" => {
            let remaining: i32 = get(row, "remaining", what)?;
            Outcome::Accepted {
                code: matched()?,
                remaining: usize::try_from(remaining).unwrap_or(0),
                ageing: get(row, "ageing_until", what)?,
                previous: previous_of(row)?,
            }
        }
        "expired" => {
            let at: Option<OffsetDateTime> = get(row, "expired_at", what)?;
            let at = at.ok_or_else(|| PgError::Schema("judge answered expired without a time".into()))?;
            Outcome::Expired { at, code: matched()? }
        }
        "locked" => {
            let until: Option<OffsetDateTime> = get(row, "locked_until", what)?;
            Outcome::Locked(until.map_or(LockedUntil::AdminUnlock, LockedUntil::Time))
        }
        "rehash" => return Ok(Judgement::Rehash(hashing_of(user, row)?)),
        "absent" => return Ok(Judgement::Absent),
        "reused" => {
            let refusal = match record_of(row, "used", what)? {
                Some(used) => Refusal::Reused {
                    used,
                    code: matched()?,
                },
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
                matched: if verdict == "revoked-match" {
                    Some(matched()?)
                } else {
                    None
                },
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

/// A `codes` row (hash, used_at, used_service, used_rhost, used_host,
/// expires) as a [`CodeEntry`].
pub(super) fn code_of(user: &UserName, row: &Row) -> Result<CodeEntry, PgError> {
    let what = "read the set";
    let hash: Vec<u8> = get(row, "hash", what)?;
    Ok(CodeEntry {
        hash: hash.try_into().map_err(|h: Vec<u8>| PgError::Data {
            user: user.to_string(),
            reason: format!("a hash of {} bytes", h.len()),
        })?,
        used: record_of(row, "used", what)?,
        expires: get(row, "expires", what)?,
    })
}

/// The tally in the columns of a `sets` row (local_failures … last_failure_host).
pub(super) fn tally_of(row: &Row) -> Result<Tally, PgError> {
    let what = "read the tally";
    let in_a_row: i32 = get(row, "remote_in_a_row", what)?;
    Ok(Tally {
        local: get(row, "local_failures", what)?,
        remote: get(row, "remote_failures", what)?,
        remote_in_a_row: u32::try_from(in_a_row).unwrap_or(0),
        last_failure: record_of(row, "last_failure", what)?,
    })
}

/// A recorded use or failure (when, service, remote host, host name) from
/// the columns `{prefix}_at`, `_service`, `_rhost` and `_host` (`used_*` of
/// a code, `last_failure_*` of a set); `None` without a time.
fn record_of(row: &Row, prefix: &str, what: &'static str) -> Result<Option<CodeUse>, PgError> {
    let column = |name: &str| format!("{prefix}_{name}");
    let at: Option<OffsetDateTime> = get(row, &column("at"), what)?;
    let Some(at) = at else {
        return Ok(None);
    };
    Ok(Some(CodeUse {
        at,
        service: tolerant(get::<Option<String>>(row, &column("service"), what)?.unwrap_or_default()),
        rhost: tolerant_opt(get(row, &column("rhost"), what)?),
        host: tolerant_opt(get(row, &column("host"), what)?),
    }))
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
