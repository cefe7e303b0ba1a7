//! User names, validated before they touch a path, and resolved to the
//! account they name.
//!
//! Over SSH the name comes from the client, so it is hostile until proven
//! otherwise. A valid name is made of the portable user-name characters
//! (`A-Z a-z 0-9 . _ -`, plus `@` for directory users such as `alice@corp`),
//! does not start with `.` or `-`, and is at most [`UserName::MAX_LEN`] bytes.
//!
//! The typed name is not the account: NSS sources that fold case or accept
//! qualified names (SSSD or winbind with `case_sensitive = false`,
//! `alice@corp.example`) make `ALICE` alice's account for every other module.
//! So the store is keyed by the canonical name NSS gives back
//! ([`UserName::resolve`]), never by what was typed.

use std::fmt;

use nix::errno::Errno;

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

/// NSS could not say whether a name is an account, or named it in a way the
/// store cannot use.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolveError {
    /// getpwnam_r failed (an NSS source is down, or out of memory).
    Nss {
        /// The name looked up.
        name: UserName,
        /// The error.
        errno: Errno,
    },
    /// NSS knows the name, but its canonical name is not a valid store key
    /// (a winbind `DOMAIN\\user`, for instance).
    Canonical {
        /// The name looked up.
        name: UserName,
        /// The canonical name, escaped and clipped for a log line.
        canonical: String,
        /// Why it is not a valid name.
        reason: UserNameError,
    },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nss { name, errno } => {
                write!(
                    f,
                    "cannot look up the account of \"{name}\" (getpwnam_r): {errno}"
                )
            }
            Self::Canonical {
                name,
                canonical,
                reason,
            } => write!(
                f,
                "the account of \"{name}\" is \"{canonical}\", which cannot name a store file: {reason}"
            ),
        }
    }
}

impl std::error::Error for ResolveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Nss { errno, .. } => Some(errno),
            Self::Canonical { reason, .. } => Some(reason),
        }
    }
}

impl UserName {
    /// The canonical name of the account this name stands for, as NSS
    /// (getpwnam_r, through every source in nsswitch.conf) gives it back:
    /// `Ok(None)` if NSS knows no such account.
    pub fn resolve(&self) -> Result<Option<Self>, ResolveError> {
        let account = match nix::unistd::User::from_name(&self.0) {
            Ok(account) => account,
            // POSIX lets getpwnam_r report "no such user" as one of these.
            Err(Errno::ENOENT | Errno::ESRCH | Errno::EBADF | Errno::EPERM) => None,
            Err(errno) => {
                return Err(ResolveError::Nss {
                    name: self.clone(),
                    errno,
                });
            }
        };
        let Some(account) = account else {
            return Ok(None);
        };
        Self::parse(account.name.as_bytes())
            .map(Some)
            .map_err(|reason| ResolveError::Canonical {
                name: self.clone(),
                canonical: account.name.escape_default().take(64).collect(),
                reason,
            })
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
    fn names_resolve_to_their_account() {
        let root: UserName = "root".parse().unwrap();
        assert_eq!(root.resolve(), Ok(Some(root.clone())));
        let unknown: UserName = "no-such-user-pbc-test".parse().unwrap();
        assert_eq!(unknown.resolve(), Ok(None));
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
