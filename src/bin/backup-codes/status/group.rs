//! `status --group G`: the accounts a `pam_succeed_if ... ingroup G` line
//! asks for a code, as libpam's pam_modutil_user_in_group counts them: the
//! group's member list and the accounts whose primary group it is.

use nix::unistd::Group;

use pam_backup_codes::username::UserName;

use crate::Problems;
use crate::check::group::primary_members;

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
    match primary_members(found.gid.as_raw()) {
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
