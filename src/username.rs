//! User names, validated before they touch a path.
//!
//! Over SSH the name comes from the client, so it is hostile until proven
//! otherwise. A valid name is made of the portable user-name characters
//! (`A-Z a-z 0-9 . _ -`, plus `@` for directory users such as `alice@corp`),
//! does not start with `.` or `-`, and is at most [`UserName::MAX_LEN`] bytes.

use std::fmt;

/// A user name that is safe to use as a store file name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserName(String);

/// Why a user name was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserNameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`UserName::MAX_LEN`] bytes.
    TooLong(usize),
    /// The name starts with `.` or `-`.
    BadStart,
    /// The name holds a byte outside the portable set.
    BadCharacter,
}

impl fmt::Display for UserNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the user name is empty"),
            Self::TooLong(len) => write!(
                f,
                "the user name is {len} bytes long, more than {}",
                UserName::MAX_LEN
            ),
            Self::BadStart => f.write_str("the user name starts with '.' or '-'"),
            Self::BadCharacter => f.write_str("the user name has a character outside A-Z a-z 0-9 . _ - @"),
        }
    }
}

impl std::error::Error for UserNameError {}

impl UserName {
    /// The longest name accepted, in bytes: the store file `<user>.toml` and
    /// its temporary `.<user>.tmp` must fit in NAME_MAX (255), so 250 is the
    /// most that can work end to end (docs/design.md, "Trust and durability").
    pub const MAX_LEN: usize = 250;

    /// Validates raw bytes (as PAM hands them over) into a user name.
    pub fn parse(raw: &[u8]) -> Result<Self, UserNameError> {
        if raw.is_empty() {
            return Err(UserNameError::Empty);
        }
        if raw.len() > Self::MAX_LEN {
            return Err(UserNameError::TooLong(raw.len()));
        }
        if matches!(raw.first(), Some(b'.' | b'-')) {
            return Err(UserNameError::BadStart);
        }
        if !raw
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
        {
            return Err(UserNameError::BadCharacter);
        }
        // Only ASCII remains, so this cannot fail; map it anyway rather than unwrap.
        String::from_utf8(raw.to_vec())
            .map(Self)
            .map_err(|_| UserNameError::BadCharacter)
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for UserName {
    type Err = UserNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for name in [
            "alice",
            "bob.smith",
            "svc_backup",
            "a-b",
            "x1",
            "alice@corp.example",
            "A",
        ] {
            assert_eq!(UserName::parse(name.as_bytes()).unwrap().as_str(), name);
        }
        let longest = "a".repeat(UserName::MAX_LEN);
        assert!(UserName::parse(longest.as_bytes()).is_ok());
    }

    #[test]
    fn hostile_names_are_refused() {
        let cases: Vec<(Vec<u8>, UserNameError)> = vec![
            (b"".to_vec(), UserNameError::Empty),
            (b"../x".to_vec(), UserNameError::BadStart),
            (b".x".to_vec(), UserNameError::BadStart),
            (b"-x".to_vec(), UserNameError::BadStart),
            (b"a/b".to_vec(), UserNameError::BadCharacter),
            (b"a b".to_vec(), UserNameError::BadCharacter),
            (b"a\0b".to_vec(), UserNameError::BadCharacter),
            (b"a\nb".to_vec(), UserNameError::BadCharacter),
            ("\u{e9}".as_bytes().to_vec(), UserNameError::BadCharacter),
            (vec![0xff], UserNameError::BadCharacter),
            (vec![b'a'; 300], UserNameError::TooLong(300)),
            (vec![b'a'; UserName::MAX_LEN + 1], UserNameError::TooLong(251)),
        ];
        for (raw, want) in cases {
            assert_eq!(UserName::parse(&raw), Err(want), "{raw:?}");
        }
    }
}
