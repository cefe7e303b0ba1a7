//! The security log of the command: every admin action and every renewal is
//! an audit event ([`pam_backup_codes::audit`]) logged by syslog(3) to
//! authpriv, where sudo and the PAM module log (so an administrator finds a
//! renewal next to the sudo line that allowed it), and to the journal where
//! journald runs. Each carries who ran the command. The command's only
//! `unsafe` code: the two libc calls (nix's wrapper knows no authpriv
//! facility).
#![allow(unsafe_code)]

use std::os::fd::AsFd;

use nix::libc;
use pam_backup_codes::audit::{self, Field, Record};

/// Connects to syslog as `backup-codes[PID]` on authpriv.
fn open() {
    // SAFETY: the identity is a static NUL-terminated string (openlog keeps
    // the pointer); the options and facility are plain flags.
    unsafe { libc::openlog(c"backup-codes".as_ptr(), libc::LOG_PID, libc::LOG_AUTHPRIV) }
}

/// Logs an event of the command with who ran it: the real uid and its name,
/// the login uid, SUDO_USER, the terminal of standard input (unless the
/// record names one already) and the host.
pub(super) fn event(record: Record) {
    let record = with_caller(record);
    open();
    let line = record.line();
    syslog(record.severity.level(), &line);
    audit::journal::send(&record, "backup-codes", &line);
}

/// `record` with the fields that say who ran the command.
fn with_caller(mut record: Record) -> Record {
    let uid = nix::unistd::getuid();
    record.set(Field::ByUid, uid);
    if let Ok(Some(user)) = nix::unistd::User::from_uid(uid) {
        record.set(Field::By, user.name);
    }
    // The audit login uid survives sudo and su: the person who logged in.
    if let Ok(text) = std::fs::read_to_string("/proc/self/loginuid")
        && let Ok(loginuid) = text.trim().parse::<u32>()
        && loginuid != u32::MAX
    {
        record.set(Field::ByLoginUid, loginuid);
    }
    if let Some(sudo_user) = std::env::var_os("SUDO_USER") {
        record.set(Field::SudoUser, sudo_user.to_string_lossy());
    }
    if record.get(Field::Tty).is_none()
        && nix::unistd::isatty(std::io::stdin().as_fd()).unwrap_or(false)
        && let Ok(tty) = std::fs::read_link("/proc/self/fd/0")
    {
        record.set(Field::Tty, tty.display());
    }
    if let Some(host) = audit::host_name() {
        record.set(Field::Host, host);
    }
    record
}

/// Sends one line (already free of control characters) at `severity`.
fn syslog(severity: i32, line: &str) {
    let Ok(line) = std::ffi::CString::new(line) else {
        return;
    };
    // SAFETY: the format is the literal "%s" and its one argument a
    // NUL-terminated string that outlives the call.
    unsafe { libc::syslog(libc::LOG_AUTHPRIV | severity, c"%s".as_ptr(), line.as_ptr()) }
}
