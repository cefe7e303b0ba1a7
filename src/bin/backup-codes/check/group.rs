//! The members of a group a stack gates the code on, as libpam's
//! pam_modutil_user_in_group counts them: the group's member list and the
//! accounts whose primary group it is.

use std::process::Command;

use std::fmt;

use nix::unistd::{Group, User};

/// Why a group's members are not known.
#[derive(Debug)]
pub(crate) enum GroupError {
    /// NSS does not know the group: nobody passes the gate.
    Unknown {
        /// The group.
        group: String,
    },
    /// The lookup failed (NSS source down, permission).
    Lookup {
        /// The group.
        group: String,
        /// What getgrnam_r said.
        source: nix::Error,
    },
    /// `getent passwd` failed.
    Enumerate {
        /// The group.
        group: String,
        /// What went wrong.
        source: std::io::Error,
    },
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown { group } => write!(
                f,
                "group {group:?}: no such group (NSS does not know it): nobody passes the gate"
            ),
            Self::Lookup { group, source } => {
                write!(f, "group {group:?}: cannot look it up (getgrnam_r): {source}")
            }
            Self::Enumerate { group, source } => write!(
                f,
                "group {group:?}: cannot list the accounts whose primary group it is: {source}"
            ),
        }
    }
}

impl std::error::Error for GroupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unknown { .. } => None,
            Self::Lookup { source, .. } => Some(source),
            Self::Enumerate { source, .. } => Some(source),
        }
    }
}

/// The accounts in `group`, by their canonical names, sorted; names NSS
/// lists in the group but has no account for are left out.
pub(crate) fn members(group: &str) -> Result<Vec<User>, GroupError> {
    let found = match Group::from_name(group) {
        Ok(Some(found)) => found,
        Ok(None) => return Err(GroupError::Unknown { group: group.into() }),
        Err(source) => {
            return Err(GroupError::Lookup {
                group: group.into(),
                source,
            });
        }
    };
    let mut names = found.mem;
    names.extend(
        primary_members(found.gid.as_raw()).map_err(|source| GroupError::Enumerate {
            group: group.into(),
            source,
        })?,
    );
    let mut users: Vec<User> = names
        .iter()
        .filter_map(|name| User::from_name(name).ok().flatten())
        .collect();
    users.sort_by(|a, b| a.name.cmp(&b.name));
    users.dedup_by(|a, b| a.name == b.name);
    Ok(users)
}

/// The accounts NSS enumerates (`getent passwd`, every source in
/// nsswitch.conf that enumerates: SSSD does not by default) whose primary
/// group is `gid`; `status --group` counts them the same way.
pub(crate) fn primary_members(gid: u32) -> std::io::Result<Vec<String>> {
    let out = Command::new("getent").arg("passwd").output()?;
    // getent exits 2 when the database is empty: no account, no member.
    if !out.status.success() && out.status.code() != Some(2) {
        return Err(std::io::Error::other(format!("getent passwd: {}", out.status)));
    }
    let gid = gid.to_string();
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() == 7 && fields[3] == gid).then(|| fields[0].to_owned())
        })
        .collect())
}
