//! The store file: a user's set as TOML, read strictly and written only
//! when it reads back equal.
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

use super::CodeSet;
use crate::code::CodeFormat;
use crate::code::FormatError;
use crate::kdf::KdfError;
use crate::lockout::MAX_DENY;
use crate::text::MAX_FIELD_LEN;

/// The file format version this build reads and writes.
pub const VERSION: u32 = 1;
pub(super) const ALGORITHM: &str = "argon2id";
pub(super) const ARGON2_VERSION: u32 = 0x13;
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
    /// Parses and validates a store file.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let set: Self = toml::from_str(text).map_err(|source| ParseError::Toml {
            line: line_of(&source, text),
            source: Box::new(source),
        })?;
        set.validate()?;
        Ok(set)
    }

    /// Checks what the file format requires of a set however it was read
    /// (from a file, or from the fleet store's rows): version, algorithm,
    /// parameters, format, count, field lengths and the tally's size.
    pub fn validate(&self) -> Result<(), ParseError> {
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
}

/// The line of a TOML error in `text`, when the error has a position.
fn line_of(error: &toml::de::Error, text: &str) -> Option<usize> {
    let span = error.span()?;
    let before = text.as_bytes().get(..span.start).unwrap_or(text.as_bytes());
    Some(before.iter().filter(|&&b| b == b'\n').count() + 1)
}

/// Serde for fixed-size byte arrays as standard base64.
pub(super) mod base64_array {
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
