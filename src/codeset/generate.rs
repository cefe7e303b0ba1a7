//! New sets and new codes: generation from the OS CSPRNG, temporary codes,
//! and the stand-in set a login with nothing to judge writes.

use std::fmt;

use time::OffsetDateTime;

use super::{CodeEntry, CodeSet, Kdf, VERSION};
use crate::code::{CodeFormat, FormatError, PlainCode};
use crate::kdf::{self, KdfError, KdfParams, Workspace};
use crate::lockout::Tally;

impl CodeSet {
    /// Generates `count` codes of `format`, hashed with `params` under one
    /// fresh salt. Returns the set and the plain codes to show, once.
    pub fn generate(
        format: CodeFormat,
        count: usize,
        params: KdfParams,
        now: OffsetDateTime,
    ) -> Result<(Self, Vec<PlainCode>), GenerateError> {
        Self::generate_in(&mut Workspace::default(), format, count, params, now)
    }

    /// [`generate`](Self::generate) with Argon2id memory kept in `workspace`
    /// for the next set (bulk generation: one workspace per thread).
    pub fn generate_in(
        workspace: &mut Workspace,
        format: CodeFormat,
        count: usize,
        params: KdfParams,
        now: OffsetDateTime,
    ) -> Result<(Self, Vec<PlainCode>), GenerateError> {
        if !CodeFormat::COUNTS.contains(&count) {
            return Err(GenerateError::Format(FormatError::Count(count)));
        }
        params.validate().map_err(GenerateError::Kdf)?;
        let plain = format
            .generate(count)
            .map_err(|e| GenerateError::Kdf(KdfError::Random(e)))?;
        let salt = kdf::new_salt().map_err(GenerateError::Kdf)?;
        let codes = plain
            .iter()
            .map(|code| {
                Ok(CodeEntry {
                    hash: *params.hash_in(workspace, &salt, code.payload())?,
                    used: None,
                    expires: None,
                })
            })
            .collect::<Result<_, KdfError>>()
            .map_err(GenerateError::Kdf)?;
        let set = Self::fresh(format, Kdf::argon2id(params, salt), codes, now);
        Ok((set, plain))
    }

    /// A new set of `codes` in `format`, hashed with `kdf`, created `now`:
    /// not revoked, no failures counted.
    fn fresh(format: CodeFormat, kdf: Kdf, codes: Vec<CodeEntry>, now: OffsetDateTime) -> Self {
        Self {
            version: VERSION,
            created: now,
            revoked: None,
            alphabet: format.alphabet(),
            length: format.length(),
            check_symbol: format.check_symbol(),
            kdf,
            tally: Tally::default(),
            codes,
        }
    }

    /// A set of `count` codes of `format` that no code matches (every hash
    /// zero), written by a login with nothing to judge: shaped like a real one, so it costs as much
    /// to serialise and write.
    pub fn stand_in(format: CodeFormat, count: usize, params: KdfParams, now: OffsetDateTime) -> Self {
        let zero = CodeEntry {
            hash: [0; kdf::HASH_LEN],
            used: None,
            expires: None,
        };
        let zero_salt = Kdf::argon2id(params, [0; kdf::SALT_LEN]);
        Self::fresh(format, zero_salt, vec![zero; count], now)
    }

    /// A set of `count` temporary codes only, all stopping at `expires`: what
    /// `backup-codes add` makes for a user who has no set.
    pub fn generate_temporary(
        format: CodeFormat,
        count: usize,
        params: KdfParams,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> Result<(Self, Vec<PlainCode>), GenerateError> {
        let (mut set, plain) = Self::generate(format, count, params, now)?;
        for entry in &mut set.codes {
            entry.expires = Some(expires);
        }
        Ok((set, plain))
    }

    /// Adds `count` temporary codes that stop working at `expires`, hashed
    /// like the others (same parameters, same salt, so a login still costs
    /// one Argon2id evaluation). Existing entries are left as they are.
    /// Returns the plain codes to show, once.
    pub fn add_temporary(
        &mut self,
        count: usize,
        expires: OffsetDateTime,
    ) -> Result<Vec<PlainCode>, GenerateError> {
        let total = self.codes.len().saturating_add(count);
        if count == 0 || !CodeFormat::COUNTS.contains(&total) {
            return Err(GenerateError::Full {
                have: self.codes.len(),
                adding: count,
            });
        }
        let format = self.format().map_err(GenerateError::Format)?;
        let mut workspace = Workspace::default();
        let mut plain = Vec::with_capacity(count);
        while plain.len() < count {
            let drawn = format
                .generate(count - plain.len())
                .map_err(|e| GenerateError::Kdf(KdfError::Random(e)))?;
            for code in drawn {
                let hash = *self
                    .kdf
                    .params
                    .hash_in(&mut workspace, &self.kdf.salt, code.payload())
                    .map_err(GenerateError::Kdf)?;
                // Two entries with one hash would make a match ambiguous
                // (short digit codes make it conceivable): drawn again.
                if self.codes.iter().any(|c| c.hash == hash) {
                    continue;
                }
                self.codes.push(CodeEntry {
                    hash,
                    used: None,
                    expires: Some(expires),
                });
                plain.push(code);
            }
        }
        Ok(plain)
    }
}

/// A set could not be generated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GenerateError {
    /// Count, alphabet or length out of range.
    Format(FormatError),
    /// KDF parameters out of range, or the KDF or CSPRNG failed.
    Kdf(KdfError),
    /// Adding codes would take the set past [`CodeFormat::COUNTS`].
    Full {
        /// Entries the set holds (used and expired ones included).
        have: usize,
        /// Codes asked for.
        adding: usize,
    },
}

impl fmt::Display for GenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format(e) => e.fmt(f),
            Self::Kdf(e) => e.fmt(f),
            Self::Full { have, adding } => write!(
                f,
                "cannot add {adding} codes to a set of {have}: a set holds 1 to {} codes \
                 (a new set, with generate --replace or renew, starts empty again)",
                CodeFormat::COUNTS.end()
            ),
        }
    }
}

impl std::error::Error for GenerateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Format(e) => Some(e),
            Self::Kdf(e) => Some(e),
            Self::Full { .. } => None,
        }
    }
}
