//! A user's set of codes: its entries, the KDF they were hashed with, the
//! tally of failures, and the constant-time search of a digest. The file
//! format is `file.rs`, new sets are made in `generate.rs`, and how long codes
//! live is `lifetime.rs`.

mod file;
mod generate;
mod lifetime;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::code::{self, Alphabet, CodeFormat, FormatError};
use crate::kdf::{self, Hash, KdfError, KdfParams, Salt};
use crate::lockout::Tally;
pub use crate::record::CodeUse;
use file::{ALGORITHM, ARGON2_VERSION, base64_array};
pub use file::{ParseError, VERSION};
pub use generate::GenerateError;
pub use lifetime::{Age, Lifetime};

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
    /// Symbols per code, the check symbol not counted.
    pub length: usize,
    /// Each code ends with a Crockford check symbol (not hashed: the stored
    /// hash covers the code without it). Absent in files written before it
    /// existed, which read as `false` and keep working as they did.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check_symbol: bool,
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

/// A code's number as its sheet prints it: 1 for the first code of the set,
/// in the order of [`CodeSet::codes`] (codes added later continue the count).
/// Never the code itself: it is safe to log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodeNumber(usize);

impl CodeNumber {
    /// The number of the code at `index` in [`CodeSet::codes`].
    pub const fn of_index(index: usize) -> Self {
        Self(index.saturating_add(1))
    }

    /// The number, 1 or more.
    pub const fn get(self) -> usize {
        self.0
    }
}

impl std::fmt::Display for CodeNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
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

impl CodeSet {
    /// The format of the codes.
    pub fn format(&self) -> Result<CodeFormat, FormatError> {
        CodeFormat::new(self.alphabet, self.length).map(|f| f.with_check_symbol(self.check_symbol))
    }

    /// Codes not yet used (expired ones included: see [`usable`](Self::usable));
    /// none once the set is revoked.
    pub fn remaining(&self) -> usize {
        if self.revoked.is_some() {
            return 0;
        }
        self.codes.iter().filter(|c| c.used.is_none()).count()
    }

    /// Whether `input` is a typo for a code of this set ([`Hashing::is_typo`]).
    pub fn is_typo(&self, input: &[u8]) -> bool {
        self.hashing().is_typo(input)
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
            check_symbol: self.check_symbol,
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
    /// Symbols per code, the check symbol not counted.
    pub length: usize,
    /// Each code ends with a check symbol.
    pub check_symbol: bool,
    /// The KDF, its parameters and the set's salt.
    pub kdf: Kdf,
}

impl Hashing {
    /// The format of the codes.
    pub fn format(&self) -> Result<CodeFormat, FormatError> {
        CodeFormat::new(self.alphabet, self.length).map(|f| f.with_check_symbol(self.check_symbol))
    }

    /// Whether `input` is shaped like a code of this set but its check
    /// symbol does not match: a typo, answered before any hashing.
    pub fn is_typo(&self, input: &[u8]) -> bool {
        self.format()
            .is_ok_and(|format| matches!(code::read(input, format), code::Typed::Typo))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::PlainCode;
    use crate::text::{MAX_FIELD_LEN, clip_field};
    use time::Duration;
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
        // A code of the set's shape, its check symbol right (0 for zeros).
        let digest = set.digest(b"00000-00000-0").unwrap().unwrap();
        assert_eq!(set.find(&digest), Match::None);
        assert_eq!(set.digest(b"00000-00000").unwrap(), None);
        assert!(set.is_typo(b"00000-00000-1"));
        assert!(!set.is_typo(b"00000-00000-0"));
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
