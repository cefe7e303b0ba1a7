//! `status --group G`: the accounts a `pam_succeed_if ... ingroup G` line
//! asks for a code, as libpam's pam_modutil_user_in_group counts them: the
//! group's member list and the accounts whose primary group it is.

use std::process::Command;

use nix::unistd::{Gid, Group};

use pam_backup_codes::username::UserName;

use crate::Problems;

/// The members of `group`, resolved to their accounts' canonical names,
/// sorted; a lookup that fails is reported (and the members found so far
/// are returned).
pub(super) fn members(group: &str, problems: &mut Problems) -> Vec<UserName> {
    let found = match Group::from_name(group) {
        Ok(Some(found)) => found,
        Ok(None) => {
            problems.report(format_args!(
                "group {group:?}: no such group (NSS does not know it)"
            ));
            return Vec::new();
        }
        Err(errno) => {
            problems.report(format_args!(
                "group {group:?}: cannot look it up (getgrnam_r): {errno}"
            ));
            return Vec::new();
        }
    };
    let mut names = found.mem;
    match primary_members(found.gid) {
        Ok(more) => names.extend(more),
        Err(e) => problems.report(format_args!(
            "group {group:?}: cannot list the accounts whose primary group it is: {e}"
        )),
    }
    let mut members = Vec::new();
    for name in names {
        let account = name
            .parse::<UserName>()
            .map_err(|e| e.to_string())
            .and_then(|typed| typed.resolve().map_err(|e| e.to_string()));
        match account {
            Ok(Some(account)) => members.push(account),
            // Listed in the group but no account: nobody logs in as it.
            Ok(None) => {}
            Err(e) => problems.report(format_args!("group {group:?}: member {name:?}: {e}")),
        }
    }
    members.sort();
    members.dedup();
    members
}

/// The accounts NSS enumerates (`getent passwd`, every source in
/// nsswitch.conf that enumerates) whose primary group is `gid`.
fn primary_members(gid: Gid) -> std::io::Result<Vec<String>> {
    let out = Command::new("getent").arg("passwd").output()?;
    // getent exits 2 when the database is empty: no account, no member.
    if !out.status.success() && out.status.code() != Some(2) {
        return Err(std::io::Error::other(format!("getent passwd: {}", out.status)));
    }
    let gid = gid.as_raw().to_string();
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() == 7 && fields[3] == gid).then(|| fields[0].to_owned())
        })
        .collect())
}
