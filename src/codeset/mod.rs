//! A user's set of codes as kept in the store: the TOML file format.
//!
//! ```toml
//! version = 1
//! created = "2026-11-24T12:00:00Z"
//! alphabet = "crockford"
//! length = 10
//!
//! [kdf]
//! algorithm = "argon2id"
//! version = 19
//! m_cost = 19456
//! t_cost = 2
//! p_cost = 1
//! salt = "base64"
//!
//! [tally]                # failures and lock state: see crate::lockout
//! remote = ["2026-11-24T12:01:00Z"]
//! remote_in_a_row = 1
//! last_failure = { at = "2026-11-24T12:01:00Z", service = "sshd", rhost = "192.0.2.9" }
//!
//! [[codes]]
//! hash = "base64"
//!
//! [[codes]]
//! hash = "base64"
//! used = { at = "2026-11-24T12:05:00Z", service = "sshd", rhost = "192.0.2.7" }
//!
//! [[codes]]          # a temporary code (`backup-codes add --expires`)
//! hash = "base64"
//! expires = "2026-11-25T12:00:00Z"
//! ```
//!
//! Unknown fields are an error. Used codes keep their entry, so a re-use is
//! recognised and `status` can say when and where each code went. `expires`
//! is optional, so files written before it existed read as they did; a build
//! that predates it refuses a file holding one (an unknown field) rather than
//! accept a code past its expiry.
//!
//! A code stops working at its own `expires`, or, without one, `max_age`
//! after the set was created when the administrator sets a maximum age
//! ([`Lifetime`]).
//!
//! A revoked set (`backup-codes revoke`) carries `revoked = TIME` after
//! `created`: the user stays enrolled, every code is refused, and a code of
//! the revoked set that is tried is recognised and logged.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::code::{self, Alphabet, CodeFormat, FormatError, PlainCode};
use crate::kdf::{self, Hash, KdfError, KdfParams, Salt, Workspace};
use crate::lockout::{MAX_DENY, Tally};
pub use crate::record::CodeUse;
use crate::text::MAX_FIELD_LEN;

/// The file format version this build reads and writes.
pub const VERSION: u32 = 1;
const ALGORITHM: &str = "argon2id";
const ARGON2_VERSION: u32 = 0x13;
/// One user's set of codes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeSet {
    /// File format version, [`VERSION`].
    pub version: u32,
    /// When the set was generated.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When the set was revoked: no code of it is valid any more, but its
    /// user stays enrolled (so `nullok` does not let them in without one).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub revoked: Option<OffsetDateTime>,
    /// The alphabet of the codes.
    pub alphabet: Alphabet,
    /// Symbols per code.
    pub length: usize,
    /// How the codes were hashed.
    pub kdf: Kdf,
    /// Failures and lock state.
    #[serde(default)]
    pub tally: Tally,
    /// One entry per code, in the order they were printed.
    pub codes: Vec<CodeEntry>,
}

/// The KDF of a set: Argon2id v1.3 with these parameters and salt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kdf {
    /// Always `argon2id`.
    pub algorithm: String,
    /// Always 19 (v1.3).
    pub version: u32,
    /// Cost parameters.
    #[serde(flatten)]
    pub params: KdfParams,
    /// The set's salt.
    #[serde(with = "base64_array")]
    pub salt: Salt,
}

impl Kdf {
    /// Argon2id v1.3 with these parameters and salt, the only KDF there is.
    pub fn argon2id(params: KdfParams, salt: Salt) -> Self {
        Self {
            algorithm: ALGORITHM.to_owned(),
            version: ARGON2_VERSION,
            params,
            salt,
        }
    }
}

/// One stored code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeEntry {
    /// Argon2id(normalised code, set salt).
    #[serde(with = "base64_array")]
    pub hash: Hash,
    /// When and where the code was used, once it has been.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<CodeUse>,
    /// When a temporary code stops working (`backup-codes add --expires`).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires: Option<OffsetDateTime>,
}

/// How long the codes of a set live: a code's own `expires` if it has one,
/// else `max_age` after the set was created (none: for ever).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// The configured maximum age of a set (`max_age`, in days; 0 is off).
    pub max_age: Option<Duration>,
}

impl Lifetime {
    /// The lifetime for `max_age` days, 0 meaning no limit.
    pub fn from_days(days: u32) -> Self {
        Self {
            max_age: (days > 0).then(|| Duration::days(i64::from(days))),
        }
    }
}

/// What the age of a set means at one instant, for warnings and `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Age {
    /// No maximum age, or well within it.
    Fresh,
    /// In the last tenth of its life: the regular codes stop at this instant.
    Ageing(OffsetDateTime),
    /// Past its maximum age since this instant: the regular codes no longer work.
    Expired(OffsetDateTime),
}

/// What a digest matched in a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// An unused code, at this index (which may have expired: see
    /// [`CodeSet::expiry`]).
    Unused(usize),
    /// A code that was used already, at this index.
    Used(usize),
    /// Nothing.
    None,
}

/// Why a store file's content was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Not UTF-8 text.
    NotUtf8(std::str::Utf8Error),
    /// Not valid TOML, or not the expected fields.
    Toml {
        /// The line the error is on, when known.
        line: Option<usize>,
        /// What TOML or the schema says.
        source: Box<toml::de::Error>,
    },
    /// A version this build does not know.
    Version(u32),
    /// The KDF is not Argon2id v1.3.
    Algorithm {
        /// The algorithm named in the file.
        algorithm: String,
        /// The version named in the file.
        version: u32,
    },
    /// The KDF parameters are out of range.
    Kdf(KdfError),
    /// Alphabet/length or number of codes out of range.
    Format(FormatError),
    /// A recorded use or failure with an oversized field.
    Field(&'static str),
    /// The set could not be written as TOML.
    Serialize(Box<toml::ser::Error>),
    /// The set's TOML does not read back as the same set.
    RoundTrip,
    /// A tally with more failure times than any policy keeps.
    Tally(usize),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotUtf8(_) => f.write_str("invalid TOML: the file is not UTF-8"),
            Self::Toml { line, source } => {
                // One line, for syslog: the position and the message, not
                // the multi-line excerpt of the file that toml's Display draws.
                let message = source.message().split_whitespace().collect::<Vec<_>>().join(" ");
                match line {
                    Some(line) => write!(f, "invalid TOML: line {line}: {message}"),
                    None => write!(f, "invalid TOML: {message}"),
                }
            }
            Self::Version(v) => write!(f, "unknown file version {v} (this build reads {VERSION})"),
            Self::Algorithm { algorithm, version } => write!(
                f,
                "unsupported KDF: {algorithm} version {version} (expected {ALGORITHM} version {ARGON2_VERSION})"
            ),
            Self::Kdf(e) => write!(f, "unsupported KDF: {e}"),
            Self::Format(e) => write!(f, "{e}"),
            Self::Field(name) => write!(f, "field {name} is longer than {MAX_FIELD_LEN} bytes"),
            Self::Serialize(e) => {
                let message = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
                write!(f, "invalid TOML: {message}")
            }
            Self::RoundTrip => f.write_str("invalid TOML: the set does not read back as written"),
            Self::Tally(n) => write!(f, "the tally holds {n} failure times, more than {MAX_DENY}"),
        }
    }
}

impl std::error::Error for ParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::NotUtf8(e) => Some(e),
            Self::Toml { source, .. } => Some(&**source),
            Self::Kdf(e) => Some(e),
            Self::Format(e) => Some(e),
            Self::Serialize(e) => Some(&**e),
            Self::Version(_) | Self::Algorithm { .. } | Self::Field(_) | Self::RoundTrip | Self::Tally(_) => {
                None
            }
        }
    }
}

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
                    hash: *params.hash_in(workspace, &salt, code.as_bytes())?,
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

    /// Parses and validates a store file.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let set: Self = toml::from_str(text).map_err(|source| ParseError::Toml {
            line: line_of(&source, text),
            source: Box::new(source),
        })?;
        set.validate()?;
        Ok(set)
    }

    fn validate(&self) -> Result<(), ParseError> {
        if self.version != VERSION {
            return Err(ParseError::Version(self.version));
        }
        if self.kdf.algorithm != ALGORITHM || self.kdf.version != ARGON2_VERSION {
            return Err(ParseError::Algorithm {
                algorithm: self.kdf.algorithm.clone(),
                version: self.kdf.version,
            });
        }
        self.kdf.params.validate().map_err(ParseError::Kdf)?;
        self.format().map_err(ParseError::Format)?;
        if !CodeFormat::COUNTS.contains(&self.codes.len()) {
            return Err(ParseError::Format(FormatError::Count(self.codes.len())));
        }
        let recorded = self.codes.iter().filter_map(|c| c.used.as_ref());
        let fields = recorded.map(|u| (&u.service, &u.rhost, &u.host)).chain(
            self.tally
                .last_failure
                .iter()
                .map(|f| (&f.service, &f.rhost, &f.host)),
        );
        for (service, rhost, host) in fields {
            if service.len() > MAX_FIELD_LEN {
                return Err(ParseError::Field("service"));
            }
            if rhost.as_ref().is_some_and(|r| r.len() > MAX_FIELD_LEN) {
                return Err(ParseError::Field("rhost"));
            }
            if host.as_ref().is_some_and(|h| h.len() > MAX_FIELD_LEN) {
                return Err(ParseError::Field("host"));
            }
        }
        let kept = self.tally.local.len().max(self.tally.remote.len());
        if kept > MAX_DENY as usize {
            return Err(ParseError::Tally(kept));
        }
        Ok(())
    }

    /// Serialises the set to its file form, and proves that the text reads
    /// back as this very set: a file the module could not read later would
    /// lock its user out, so such a set is refused before it is written.
    pub fn to_toml(&self) -> Result<String, ParseError> {
        let text = toml::to_string(self).map_err(|e| ParseError::Serialize(Box::new(e)))?;
        if Self::parse(&text)? != *self {
            return Err(ParseError::RoundTrip);
        }
        Ok(text)
    }

    /// The format of the codes.
    pub fn format(&self) -> Result<CodeFormat, FormatError> {
        CodeFormat::new(self.alphabet, self.length)
    }

    /// Codes not yet used (expired ones included: see [`usable`](Self::usable));
    /// none once the set is revoked.
    pub fn remaining(&self) -> usize {
        if self.revoked.is_some() {
            return 0;
        }
        self.codes.iter().filter(|c| c.used.is_none()).count()
    }

    /// When `entry` stops working under `lifetime`, if ever.
    pub fn expiry(&self, entry: &CodeEntry, lifetime: Lifetime) -> Option<OffsetDateTime> {
        entry
            .expires
            .or_else(|| lifetime.max_age.map(|age| self.created.saturating_add(age)))
    }

    /// Whether `entry` no longer works at `now` because it expired.
    pub fn is_expired(&self, entry: &CodeEntry, lifetime: Lifetime, now: OffsetDateTime) -> bool {
        self.expiry(entry, lifetime).is_some_and(|at| now >= at)
    }

    /// Codes that would still let their user in at `now`: unused, unexpired,
    /// and none once the set is revoked.
    pub fn usable(&self, lifetime: Lifetime, now: OffsetDateTime) -> usize {
        if self.revoked.is_some() {
            return 0;
        }
        self.codes
            .iter()
            .filter(|c| c.used.is_none() && !self.is_expired(c, lifetime, now))
            .count()
    }

    /// The age of the set at `now` against `lifetime`'s maximum age. A set
    /// warns for the last tenth of its life, then its regular codes (those
    /// without an `expires` of their own) stop working.
    pub fn age(&self, lifetime: Lifetime, now: OffsetDateTime) -> Age {
        let Some(max_age) = lifetime.max_age else {
            return Age::Fresh;
        };
        let end = self.created.saturating_add(max_age);
        if now >= end {
            Age::Expired(end)
        } else if now >= end.saturating_sub(max_age / 10) {
            Age::Ageing(end)
        } else {
            Age::Fresh
        }
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
                    .hash_in(&mut workspace, &self.kdf.salt, code.as_bytes())
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

    /// Hashes an attempt: exactly one Argon2id evaluation (see
    /// [`Hashing::digest`]).
    pub fn digest(&self, input: &[u8]) -> Result<Option<Zeroizing<Hash>>, KdfError> {
        self.hashing().digest(input)
    }

    /// How an attempt against this set is hashed.
    pub fn hashing(&self) -> Hashing {
        Hashing {
            alphabet: self.alphabet,
            length: self.length,
            kdf: self.kdf.clone(),
        }
    }

    /// Compares a digest with every stored hash in constant time.
    pub fn find(&self, digest: &Hash) -> Match {
        match kdf::find_match(digest, self.codes.iter().map(|c| &c.hash)) {
            Some(i) if self.codes.get(i).is_some_and(|c| c.used.is_some()) => Match::Used(i),
            Some(i) => Match::Unused(i),
            None => Match::None,
        }
    }
}

/// What a login needs to hash an attempt, and nothing more: the code format,
/// the KDF parameters and the salt of a set, without its hashes (the fleet
/// store never shows those to a login).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hashing {
    /// The alphabet of the codes.
    pub alphabet: Alphabet,
    /// Symbols per code.
    pub length: usize,
    /// The KDF, its parameters and the set's salt.
    pub kdf: Kdf,
}

impl Hashing {
    /// The format of the codes.
    pub fn format(&self) -> Result<CodeFormat, FormatError> {
        CodeFormat::new(self.alphabet, self.length)
    }

    /// Hashes an attempt: exactly one Argon2id evaluation. Input that cannot be
    /// a code of this set is hashed as a fixed dummy of the same length (so it
    /// costs as much) and yields `None`.
    pub fn digest(&self, input: &[u8]) -> Result<Option<Zeroizing<Hash>>, KdfError> {
        let format = self.format().map_err(KdfError::Format)?;
        match code::normalize(input, format) {
            Some(normalized) => self.kdf.params.hash(&self.kdf.salt, &normalized).map(Some),
            None => {
                let dummy = vec![b'0'; self.length];
                self.kdf.params.hash(&self.kdf.salt, &dummy).map(|_| None)
            }
        }
    }
}

/// The line of a TOML error in `text`, when the error has a position.
fn line_of(error: &toml::de::Error, text: &str) -> Option<usize> {
    let span = error.span()?;
    let before = text.as_bytes().get(..span.start).unwrap_or(text.as_bytes());
    Some(before.iter().filter(|&&b| b == b'\n').count() + 1)
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

/// Serde for fixed-size byte arrays as standard base64.
mod base64_array {
    use base64ct::{Base64, Encoding};
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&Base64::encode_string(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes =
            Base64::decode_vec(&text).map_err(|_| D::Error::custom(format!("{text:?} is not base64")))?;
        bytes
            .try_into()
            .map_err(|b: Vec<u8>| D::Error::custom(format!("{} bytes where {N} belong", b.len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::clip_field;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-24 12:00 UTC);

    fn sample() -> (CodeSet, Vec<PlainCode>) {
        CodeSet::generate(CodeFormat::DEFAULT, 10, KdfParams::default(), NOW).unwrap()
    }

    #[test]
    fn generated_set_round_trips_and_holds_no_plain_code() {
        let (set, plain) = sample();
        let text = set.to_toml().unwrap();
        assert_eq!(CodeSet::parse(&text).unwrap(), set);
        for code in &plain {
            let code = std::str::from_utf8(code.as_bytes()).unwrap();
            assert!(!text.contains(code));
            assert!(!text.contains(&code[..5]));
        }
        assert!(text.starts_with("version = 1\n"), "{text}");
    }

    #[test]
    fn each_code_matches_its_own_entry() {
        let (mut set, plain) = sample();
        for (i, code) in plain.iter().enumerate() {
            let digest = set
                .digest(&code.display().as_bytes().to_ascii_lowercase())
                .unwrap()
                .unwrap();
            assert_eq!(set.find(&digest), Match::Unused(i));
        }
        set.codes[3].used = Some(CodeUse {
            at: NOW,
            service: "sshd".into(),
            rhost: None,
            host: None,
        });
        let digest = set.digest(plain[3].as_bytes()).unwrap().unwrap();
        assert_eq!(set.find(&digest), Match::Used(3));
        assert_eq!(set.remaining(), 9);
    }

    #[test]
    fn wrong_and_malformed_input_match_nothing() {
        let (set, _) = sample();
        let digest = set.digest(b"00000-00000").unwrap().unwrap();
        assert_eq!(set.find(&digest), Match::None);
        assert_eq!(set.digest(b"not a code").unwrap(), None);
        assert_eq!(set.digest(&[b'A'; 129]).unwrap(), None);
    }

    #[test]
    fn clipped_fields_fit_and_round_trip() {
        for text in [
            "sshd".to_owned(),
            "x".repeat(300),
            "é".repeat(200),
            "ホ".repeat(100),
            "\u{FFFD}".repeat(255),
        ] {
            let clipped = clip_field(&text);
            assert!(
                clipped.len() <= MAX_FIELD_LEN && text.starts_with(&clipped),
                "{text}"
            );
            assert!(clipped.len() > MAX_FIELD_LEN - 4 || clipped == text);
            let (mut set, _) = sample();
            set.codes[0].used = Some(CodeUse {
                at: NOW,
                service: clipped.clone(),
                rhost: Some(clipped.clone()),
                host: Some(clipped),
            });
            assert_eq!(CodeSet::parse(&set.to_toml().unwrap()).unwrap(), set);
        }
    }

    #[test]
    fn hostile_files_are_refused() {
        let (set, _) = sample();
        let good = set.to_toml().unwrap();
        let cases: Vec<(String, &str)> = vec![
            (
                good.replace("version = 1", "version = 2"),
                "unknown file version 2",
            ),
            (format!("{good}\nextra = 1\n"), "unknown field"),
            (good.replace("m_cost = 19456", "m_cost = 4194304"), "m_cost"),
            (good.replace("t_cost = 2", "t_cost = 0"), "t_cost"),
            (good.replace("\"argon2id\"", "\"argon2i\""), "argon2i"),
            (good.replace("length = 10", "length = 4"), "code length 4"),
            (
                good.replace("alphabet = \"crockford\"", "alphabet = \"hex\""),
                "unknown variant",
            ),
            (good[..good.len() / 2].to_owned(), "invalid TOML"),
            (String::new(), "missing field"),
        ];
        for (text, want) in cases {
            let err = CodeSet::parse(&text).unwrap_err().to_string();
            assert!(err.contains(want), "{want:?} not in {err:?}");
            assert!(!err.contains('\n'), "one line, for syslog: {err:?}");
        }
        // A hash of the wrong length.
        let short = base64ct::Base64::encode_string(&[0u8; 31]);
        let mut lines: Vec<String> = good.lines().map(str::to_owned).collect();
        let i = lines.iter().position(|l| l.starts_with("hash = ")).unwrap();
        lines[i] = format!("hash = \"{short}\"");
        let err = CodeSet::parse(&lines.join("\n")).unwrap_err().to_string();
        assert!(err.contains("31 bytes where 32 belong"), "{err}");
    }

    #[test]
    fn codes_expire_at_their_own_time_or_at_the_sets_maximum_age() {
        let (mut set, plain) = sample();
        let day = Duration::days(1);
        let never = Lifetime::default();
        let month = Lifetime::from_days(30);
        assert_eq!(Lifetime::from_days(0), never);
        let regular = set.codes[0].clone();
        assert_eq!(set.expiry(&regular, never), None);
        assert_eq!(set.expiry(&regular, month), Some(NOW + 30 * day));

        let expires = NOW + Duration::hours(2);
        let added = set.add_temporary(2, expires).unwrap();
        assert_eq!((added.len(), set.codes.len()), (2, 12));
        // The old codes are untouched and still match where they were.
        for (i, code) in plain.iter().enumerate() {
            let digest = set.digest(code.as_bytes()).unwrap().unwrap();
            assert_eq!(set.find(&digest), Match::Unused(i));
        }
        let digest = set.digest(added[1].as_bytes()).unwrap().unwrap();
        assert_eq!(set.find(&digest), Match::Unused(11));
        let temporary = &set.codes[11];
        // A code's own expiry wins over the set's maximum age.
        assert_eq!(set.expiry(temporary, month), Some(expires));
        assert!(!set.is_expired(temporary, never, expires - Duration::SECOND));
        assert!(set.is_expired(temporary, never, expires));

        assert_eq!(set.usable(never, NOW), 12);
        assert_eq!(set.usable(never, expires), 10);
        assert_eq!(set.usable(month, NOW + 30 * day), 0);
        set.codes[0].used = Some(CodeUse {
            at: NOW,
            service: "sshd".into(),
            rhost: None,
            host: None,
        });
        assert_eq!((set.usable(never, NOW), set.remaining()), (11, 11));
        assert_eq!(CodeSet::parse(&set.to_toml().unwrap()).unwrap(), set);
    }

    #[test]
    fn a_set_warns_for_the_last_tenth_of_its_life() {
        let (set, _) = sample();
        let life = Lifetime::from_days(100);
        let end = NOW + Duration::days(100);
        assert_eq!(set.age(Lifetime::default(), end), Age::Fresh);
        assert_eq!(set.age(life, NOW + Duration::days(89)), Age::Fresh);
        assert_eq!(set.age(life, NOW + Duration::days(90)), Age::Ageing(end));
        assert_eq!(set.age(life, end - Duration::SECOND), Age::Ageing(end));
        assert_eq!(set.age(life, end), Age::Expired(end));
    }

    #[test]
    fn a_set_holds_at_most_100_codes() {
        let (mut set, _) = sample();
        let later = NOW + Duration::days(1);
        let e = set.add_temporary(91, later).unwrap_err();
        assert_eq!(e, GenerateError::Full { have: 10, adding: 91 });
        assert!(e.to_string().contains("1 to 100 codes"), "{e}");
        assert!(set.add_temporary(0, later).is_err());
        assert_eq!(set.codes.len(), 10, "a refused add changes nothing");
        assert_eq!(set.add_temporary(90, later).unwrap().len(), 90);
    }

    #[test]
    fn a_set_of_temporary_codes_only() {
        let expires = NOW + Duration::hours(1);
        let (set, plain) =
            CodeSet::generate_temporary(CodeFormat::DEFAULT, 1, KdfParams::default(), NOW, expires).unwrap();
        assert_eq!(plain.len(), 1);
        assert_eq!(set.codes[0].expires, Some(expires));
        assert_eq!(set.usable(Lifetime::default(), expires), 0);
    }

    #[test]
    fn files_without_expiry_still_read() {
        // A version 1 file from before `expires` existed.
        let (set, _) = sample();
        let text = set.to_toml().unwrap();
        assert!(!text.contains("expires"), "{text}");
        let parsed = CodeSet::parse(&text).unwrap();
        assert!(parsed.codes.iter().all(|c| c.expires.is_none()));
    }

    use base64ct::Encoding;
}
