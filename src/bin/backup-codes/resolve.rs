//! One way from a name on the command line to the store's key, for every
//! command: the account NSS names, as the module resolves it at login.
//!
//! Under SSSD or winbind with `case_sensitive = false`, `ALICE` is alice's
//! account for every module, and the module keys the store by `alice`: a
//! command that keyed by the typed name would answer "has no backup codes"
//! to `revoke ALICE` and leave the stolen sheet valid. So `generate`, `add`,
//! `status`, `revoke` and `unlock` all resolve here.

use std::fmt;

use pam_backup_codes::username::{ResolveError, UserName, UserNameError};

use crate::Problems;

/// What a command does with a name NSS does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unknown {
    /// Refuse it; `hint` ends the message ("enrol it anyway").
    Refuse { hint: &'static str },
    /// Take it as typed (`--allow-unknown`): a set stored under exactly
    /// that name, or one to enrol.
    AsTyped,
}

impl Unknown {
    /// The policy of `--allow-unknown` for a command whose message for a
    /// refused name ends with `hint`.
    pub(crate) fn from_flag(allow_unknown: bool, hint: &'static str) -> Self {
        if allow_unknown {
            Self::AsTyped
        } else {
            Self::Refuse { hint }
        }
    }
}

/// The hint of the commands that act on a set already stored.
pub(crate) const ACT_ON_TYPED: &str = "to act on a set stored under exactly this name";

/// Why a name on the command line names no store key.
#[derive(Debug)]
pub(crate) enum NameError {
    /// Not a valid user name.
    Invalid(UserNameError),
    /// NSS does not know it, and the command was not told to take it as typed.
    Unknown { hint: &'static str },
    /// NSS could not answer, or names the account in a way the store cannot use.
    Resolve(ResolveError),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(e) => write!(f, "{e}"),
            Self::Unknown { hint } => write!(
                f,
                "no such account (NSS does not know it; --allow-unknown {hint})"
            ),
            Self::Resolve(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for NameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Invalid(e) => Some(e),
            Self::Resolve(e) => Some(e),
            Self::Unknown { .. } => None,
        }
    }
}

/// The store key for `name`: the canonical name of its account, or the name
/// as typed if NSS does not know it and `unknown` allows that. Says on
/// stderr when the account's name is not the one typed.
pub(crate) fn resolve(name: &str, unknown: Unknown) -> Result<UserName, NameError> {
    let typed: UserName = name.parse().map_err(NameError::Invalid)?;
    match typed.resolve().map_err(NameError::Resolve)? {
        Some(account) => {
            if account != typed {
                eprintln!(
                    "backup-codes: {typed}: the account is {account}; its set is stored as {account}'s"
                );
            }
            Ok(account)
        }
        None => match unknown {
            Unknown::AsTyped => Ok(typed),
            Unknown::Refuse { hint } => Err(NameError::Unknown { hint }),
        },
    }
}

/// [`resolve`] for each name, reporting those that fail; each account once,
/// in first-named order (`ALICE alice` is one user).
pub(crate) fn resolve_all(names: &[String], unknown: Unknown, problems: &mut Problems) -> Vec<UserName> {
    let mut users: Vec<UserName> = Vec::new();
    for name in names {
        match resolve(name, unknown) {
            Ok(user) if users.contains(&user) => {}
            Ok(user) => users.push(user),
            Err(e) => problems.report(format_args!("{name:?}: {e}")),
        }
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_accounts_once_and_unknown_ones_only_when_allowed() {
        let names: Vec<String> = ["root", "no-such-user-pbc-test", "bad/name", "root"]
            .map(str::to_owned)
            .into();
        let mut problems = Problems::default();
        let users = resolve_all(&names, Unknown::from_flag(false, ACT_ON_TYPED), &mut problems);
        let found: Vec<&str> = users.iter().map(UserName::as_str).collect();
        assert_eq!((found, problems.0), (vec!["root"], 2));

        let mut problems = Problems::default();
        let users = resolve_all(&names, Unknown::from_flag(true, ACT_ON_TYPED), &mut problems);
        let found: Vec<&str> = users.iter().map(UserName::as_str).collect();
        assert_eq!((found, problems.0), (vec!["root", "no-such-user-pbc-test"], 1));
        assert!(matches!(
            resolve("no-such-user-pbc-test", Unknown::from_flag(false, "to enrol it")),
            Err(NameError::Unknown { hint: "to enrol it" })
        ));
    }
}
