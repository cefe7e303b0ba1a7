//! The security log of self-service commands: syslog(3) to authpriv, where
//! sudo and the PAM module log, so an administrator finds a renewal next to
//! the sudo line that allowed it. The command's only `unsafe` code: the two
//! libc calls (nix's wrapper knows no authpriv facility).
#![allow(unsafe_code)]

use nix::libc;

/// How serious a line is.
#[derive(Clone, Copy, Debug)]
pub(super) enum Level {
    /// Something done.
    Notice,
    /// Something refused.
    Warning,
}

/// Connects to syslog as `backup-codes[PID]` on authpriv.
pub(super) fn open() {
    // SAFETY: the identity is a static NUL-terminated string (openlog keeps
    // the pointer); the options and facility are plain flags.
    unsafe { libc::openlog(c"backup-codes".as_ptr(), libc::LOG_PID, libc::LOG_AUTHPRIV) }
}

/// Logs one line. Control characters are escaped (nothing in it may forge a
/// second line); without a syslog daemon the line is dropped, silently, as
/// syslog(3) does.
pub(super) fn log(level: Level, message: &str) {
    let severity = match level {
        Level::Notice => libc::LOG_NOTICE,
        Level::Warning => libc::LOG_WARNING,
    };
    let Ok(line) = std::ffi::CString::new(escape_controls(message)) else {
        return;
    };
    // SAFETY: the format is the literal "%s" and its one argument a
    // NUL-terminated string that outlives the call.
    unsafe { libc::syslog(libc::LOG_AUTHPRIV | severity, c"%s".as_ptr(), line.as_ptr()) }
}

/// `text` with control characters escaped, NUL included (so the result is a
/// valid C string).
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_cannot_forge_a_line() {
        let line = super::escape_controls("user x\nbackup-codes[1]: forged\0 \u{1b}[2J é");
        assert_eq!(line, "user x\\nbackup-codes[1]: forged\\u{0} \\u{1b}[2J é");
        assert!(std::ffi::CString::new(line).is_ok());
    }
}
