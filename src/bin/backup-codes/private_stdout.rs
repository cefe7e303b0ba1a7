//! A sheet on stdout redirected to a regular file (`add alice > sheet.txt`
//! in a shell with umask 022 makes it 0644) is made 0600 before any code is
//! written to it; every command that prints a sheet calls this first, before
//! it changes the store, so that a refusal changes nothing.
//!
//! fchmod rather than a refusal: redirecting is the ordinary way to keep a
//! sheet, and the mode is fixed before the first code reaches the file. What
//! it cannot undo is a reader that opened the file before; a pipe or a
//! terminal is left as it is.

use std::fmt;
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::sys::stat::{Mode, SFlag, fchmod, fstat};

/// Stdout is a regular file that could not be made private.
#[derive(Debug)]
pub(crate) enum StdoutError {
    /// fstat or fchmod failed.
    Sys {
        /// "stat" or "chmod".
        action: &'static str,
        /// The error.
        errno: Errno,
    },
    /// The file belongs to someone other than the user the sheet is for
    /// (`renew`): its mode is not this command's to change.
    NotOwner {
        /// The file's owner.
        owner: u32,
        /// The user the sheet is for.
        uid: u32,
    },
}

impl fmt::Display for StdoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sys { action, errno } => write!(f, "cannot {action} it: {errno}"),
            Self::NotOwner { owner, uid } => {
                write!(f, "it belongs to uid {owner}, not to uid {uid}")
            }
        }
    }
}

impl std::error::Error for StdoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Sys { errno, .. } => Some(errno),
            Self::NotOwner { .. } => None,
        }
    }
}

impl From<StdoutError> for std::io::Error {
    fn from(e: StdoutError) -> Self {
        match e {
            StdoutError::Sys { errno, .. } => errno.into(),
            e @ StdoutError::NotOwner { .. } => Self::other(e),
        }
    }
}

/// Makes stdout mode 0600 if it is a regular file; with `owner`, refuses a
/// file that `owner` does not own.
pub(crate) fn make_private(owner: Option<u32>) -> Result<(), StdoutError> {
    let stdout = std::io::stdout();
    let stat = fstat(stdout.as_fd()).map_err(|errno| StdoutError::Sys {
        action: "stat",
        errno,
    })?;
    if SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
        return Ok(());
    }
    if let Some(uid) = owner.filter(|&uid| uid != stat.st_uid) {
        return Err(StdoutError::NotOwner {
            owner: stat.st_uid,
            uid,
        });
    }
    fchmod(stdout.as_fd(), Mode::S_IRUSR | Mode::S_IWUSR).map_err(|errno| StdoutError::Sys {
        action: "chmod",
        errno,
    })
}
