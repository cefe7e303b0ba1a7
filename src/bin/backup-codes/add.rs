//! `backup-codes add`: temporary codes added to a user's set (the helpdesk's
//! "get in today" code), the existing codes left as they are.

use std::io::Write;

use time::OffsetDateTime;

use super::args::AddArgs;
use super::resolve::{Unknown, resolve};
use super::sheet::Sheet;
use super::{Context, Problems, human_time, open_store};
use pam_backup_codes::codeset::{CodeSet, GenerateError};
use pam_backup_codes::lockout::LockedUntil;
use pam_backup_codes::store::Edit;

pub(super) fn run(ctx: &Context, args: &AddArgs, problems: &mut Problems) {
    // The account's canonical name keys the store, as at login.
    let unknown = Unknown::from_flag(args.allow_unknown, "to enrol it anyway");
    let user = match resolve(&args.user, unknown) {
        Ok(user) => user,
        Err(e) => return problems.report(format_args!("{:?}: {e}", args.user)),
    };
    let now = OffsetDateTime::now_utc();
    let expires = args.expires.at(now);
    if expires <= now {
        return problems.report(format_args!(
            "--expires {} is already past; nothing added",
            human_time(expires)
        ));
    }
    let settings = &ctx.config.codes;
    let Some(store) = open_store(ctx, problems) else {
        return;
    };
    // Before the store changes: a refusal leaves everything as it was.
    if let Err(e) = crate::private_stdout::make_private(None) {
        return problems.report(format_args!(
            "stdout is a file that cannot be made private (mode 0600): {e}; nothing was added"
        ));
    }
    // Hashed under the lock: the new codes must share the salt of the set
    // as it is when written, and a handful of codes takes a moment only.
    let mut replaced_revoked = false;
    let added = store.edit(&user, |set| {
        let added = match set {
            Some(mut set) if set.revoked.is_none() => {
                set.add_temporary(args.count, expires).map(|codes| (set, codes))
            }
            // No code of a revoked set works again: the temporary codes
            // become the user's whole set.
            revoked => settings
                .format()
                .map_err(GenerateError::Format)
                .and_then(|format| {
                    replaced_revoked = revoked.is_some();
                    CodeSet::generate_temporary(format, args.count, settings.kdf(), now, expires)
                }),
        };
        match added {
            Ok((set, codes)) => (Edit::Write(set.clone()), Ok((set, codes))),
            Err(e) => (Edit::Keep, Err(e.to_string())),
        }
    });
    let added = added.map_err(|e| e.to_string()).and_then(|added| added);
    let (set, codes) = match added {
        Ok(added) => added,
        Err(e) => return problems.report(format_args!("{user}: {e}; the set is unchanged")),
    };
    if replaced_revoked {
        eprintln!(
            "backup-codes: note: {user}'s set was revoked; these temporary codes are now \
             their whole set"
        );
    }
    // The lock as logins see it: the fleet's policy on the fleet store.
    let lockout = store
        .policy(ctx.config.login.policy())
        .map_or_else(|_| ctx.config.login.lockout(), |p| p.lockout);
    let locks = lockout.state(&set.tally, now);
    if let Some(until) = locks.local.max(locks.remote) {
        let until = match until {
            LockedUntil::Time(t) => human_time(t),
            LockedUntil::AdminUnlock => "an administrator unlocks them".to_owned(),
        };
        eprintln!(
            "backup-codes: note: {user}'s codes are locked until {until}; \
             `backup-codes unlock {user}` lets the new codes work now"
        );
    }
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "this host".to_owned());
    let sheet = Sheet {
        user: &user,
        host: &host,
        format: args.format,
        label: args.label.as_deref(),
        prompt: &ctx.config.login.prompt,
        expires: Some(expires),
    };
    let text = sheet.render(&set, &codes);
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(&text).and_then(|()| stdout.flush()) {
        problems.report(format_args!(
            "{user}: the codes were added, but printing them failed: {e}"
        ));
    }
}
