//! `backup-codes add`: temporary codes added to a user's set (the helpdesk's
//! "get in today" code), the existing codes left as they are. With
//! encryption (`super::encrypt`) the sheet goes to `--output DIR/USER.age`,
//! encrypted to the user, and no code is printed.

use std::io::Write;
use std::path::PathBuf;

use time::OffsetDateTime;

use super::args::AddArgs;
use super::encrypt::{Encryption, Recipients};
use super::generate::output::{Output, write_private};
use super::resolve::{Unknown, resolve};
use super::sheet::Sheet;
use super::{Context, Problems, human_time, open_store};
use pam_backup_codes::codeset::{CodeSet, GenerateError};
use pam_backup_codes::lockout::LockedUntil;
use pam_backup_codes::store::Edit;
use pam_backup_codes::username::UserName;

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
    // With encryption: the keys are looked up before anything changes, so
    // that a user without a usable key gets no codes nobody can read.
    let encrypted_to = match encrypted_to(args, &user) {
        Ok(to) => to,
        Err(e) => return problems.report(format_args!("{user}: {e}; nothing added")),
    };
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
    if let Some((dir, recipients)) = encrypted_to {
        for note in &recipients.notes {
            eprintln!("backup-codes: {user}: note: {note}");
        }
        let path = dir.join(format!("{user}.age"));
        let written = recipients
            .encrypt(&text)
            .map_err(|e| e.to_string())
            .and_then(|bytes| write_private(&path, &bytes).map_err(|e| format!("{}: {e}", path.display())));
        match written {
            Ok(()) => eprintln!(
                "{user}: {} temporary codes added, encrypted to {}",
                codes.len(),
                path.display()
            ),
            Err(e) => problems.report(format_args!(
                "{user}: the codes were added, but their sheet was not written ({e}); \
                 they cannot be shown again: revoke or wait for them to expire"
            )),
        }
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(&text).and_then(|()| stdout.flush()) {
        problems.report(format_args!(
            "{user}: the codes were added, but printing them failed: {e}"
        ));
    }
}

/// Where an encrypted sheet goes and to whom, if `args` ask for one; a
/// usage error for `--output` without encryption or encryption without it.
fn encrypted_to(args: &AddArgs, user: &UserName) -> Result<Option<(PathBuf, Recipients)>, String> {
    let encryption = Encryption::from_args(&args.encrypt).map_err(|e| e.to_string())?;
    let dir = match (&encryption, args.output.as_deref()) {
        (None, None) => return Ok(None),
        (Some(_), Some(dir)) => dir,
        (Some(_), None) => usage_error(
            "encrypted sheets are written to --output DIR as USER.age; with encryption no code is printed",
        ),
        (None, Some(_)) => usage_error(
            "--output is for encrypted sheets (--encrypt-to-ssh-key, --recipient, --recipients-file)",
        ),
    };
    let (Some(encryption), Output::Dir(dir)) =
        (encryption, Output::directory(dir).map_err(|e| e.to_string())?)
    else {
        return Err("the output is not a directory".to_owned());
    };
    let recipients = encryption.recipients(user.as_str()).map_err(|e| e.to_string())?;
    Ok(Some((dir, recipients)))
}

fn usage_error(message: &str) -> ! {
    use clap::CommandFactory;
    super::args::Cli::command()
        .error(clap::error::ErrorKind::ArgumentConflict, message)
        .exit()
}
