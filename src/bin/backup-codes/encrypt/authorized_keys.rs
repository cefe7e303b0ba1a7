//! A user's own `~/.ssh/authorized_keys`, read as sshd's StrictModes would
//! trust it, for the keys a sheet is encrypted to.
//!
//! Whoever can write to the file, or to a directory on the way to it, could
//! put their own key there and read the user's sheet. So the home directory
//! is resolved through NSS and canonicalised, then walked from `/` one
//! component at a time with `O_NOFOLLOW`; from the home directory on (as
//! sshd's StrictModes checks: the home directory, `.ssh` and the file) each
//! is owned by root or by the user and not writable by group or others,
//! checked with `fstat` on the opened descriptor; the file is a regular file
//! of at most [`MAX_SIZE`] bytes, read through that descriptor.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat};

/// The largest authorized_keys file read (a thousand RSA keys fit).
pub(crate) const MAX_SIZE: u64 = 1024 * 1024;

/// Why a user's authorized_keys was not used.
#[derive(Debug)]
pub(crate) enum KeysError {
    /// NSS knows no such account (or the lookup failed).
    NoAccount { user: String },
    /// The user has no `~/.ssh/authorized_keys`.
    Missing { path: PathBuf },
    /// A system call failed.
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    /// The file or a directory on the way fails a trust check.
    Untrusted { path: PathBuf, reason: String },
}

impl fmt::Display for KeysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAccount { user } => {
                write!(f, "{user}: no such account, so no ~/.ssh/authorized_keys")
            }
            Self::Missing { path } => write!(f, "{}: no such file", path.display()),
            Self::Io { path, action, source } => {
                write!(f, "{}: cannot {action}: {source}", path.display())
            }
            Self::Untrusted { path, reason } => {
                write!(f, "{}: not trusted for encryption keys: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for KeysError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::NoAccount { .. } | Self::Missing { .. } | Self::Untrusted { .. } => None,
        }
    }
}

fn io(path: &Path, action: &'static str, errno: Errno) -> KeysError {
    KeysError::Io {
        path: path.to_owned(),
        action,
        source: errno.into(),
    }
}

/// Checks an opened directory or file: owned by root or `uid`, not
/// writable by group or others; `file` also a regular file of at most
/// [`MAX_SIZE`] bytes.
fn check(path: &Path, stat: &FileStat, uid: u32, file: bool) -> Result<(), KeysError> {
    let untrusted = |reason: String| KeysError::Untrusted {
        path: path.to_owned(),
        reason,
    };
    if stat.st_uid != 0 && stat.st_uid != uid {
        return Err(untrusted(format!(
            "owned by uid {}, neither root nor the user (uid {uid})",
            stat.st_uid
        )));
    }
    if stat.st_mode & 0o022 != 0 {
        return Err(untrusted(format!(
            "mode {:04o} lets group or others write to it",
            stat.st_mode & 0o7777
        )));
    }
    let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
    if file {
        if kind != SFlag::S_IFREG {
            return Err(untrusted("not a regular file".to_owned()));
        }
        if u64::try_from(stat.st_size).unwrap_or(u64::MAX) > MAX_SIZE {
            return Err(untrusted(format!(
                "larger than {MAX_SIZE} bytes ({} bytes)",
                stat.st_size
            )));
        }
    } else if kind != SFlag::S_IFDIR {
        return Err(untrusted("not a directory".to_owned()));
    }
    Ok(())
}

/// The text of `user`'s `~/.ssh/authorized_keys`, read through a trusted
/// path (see the module's documentation).
pub(crate) fn read(user: &str) -> Result<(PathBuf, String), KeysError> {
    let account = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .ok_or_else(|| KeysError::NoAccount {
            user: user.to_owned(),
        })?;
    let uid = account.uid.as_raw();
    // Canonical first (a home reached through a symbolic link is common);
    // then walked without following any, so what is checked is what is read.
    let home = std::fs::canonicalize(&account.dir).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => KeysError::Missing {
            path: account.dir.join(".ssh/authorized_keys"),
        },
        _ => KeysError::Io {
            path: account.dir.clone(),
            action: "resolve the home directory",
            source,
        },
    })?;
    read_trusted(&home, uid)
}

/// Reads `home/.ssh/authorized_keys`: `home` (absolute, canonical) is
/// opened one component at a time from `/` without following a link; the
/// home directory, `.ssh` and the file are checked with [`check`] for `uid`.
pub(crate) fn read_trusted(home: &Path, uid: u32) -> Result<(PathBuf, String), KeysError> {
    let path = home.join(".ssh").join("authorized_keys");
    if !home.is_absolute()
        || home
            .components()
            .any(|c| !matches!(c, Component::RootDir | Component::Normal(_)))
    {
        return Err(KeysError::Untrusted {
            path: home.to_owned(),
            reason: "the home directory is not a canonical absolute path".to_owned(),
        });
    }
    let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut walked = PathBuf::from("/");
    let mut fd: OwnedFd =
        nix::fcntl::open("/", dir_flags, Mode::empty()).map_err(|e| io(&walked, "open", e))?;
    let open_err = |walked: &Path, e: Errno| match e {
        Errno::ENOENT => KeysError::Missing { path: path.clone() },
        Errno::ELOOP | Errno::ENOTDIR => KeysError::Untrusted {
            path: walked.to_owned(),
            reason: "a symbolic link or not a directory".to_owned(),
        },
        e => io(walked, "open", e),
    };
    for component in home.components() {
        let Component::Normal(name) = component else {
            continue;
        };
        walked.push(name);
        fd = openat(&fd, name, dir_flags, Mode::empty()).map_err(|e| open_err(&walked, e))?;
    }
    // From the home directory on, as StrictModes: each trusted before the
    // next is opened in it.
    let stat = fstat(&fd).map_err(|e| io(&walked, "stat", e))?;
    check(&walked, &stat, uid, false)?;
    walked.push(".ssh");
    fd = openat(&fd, ".ssh", dir_flags, Mode::empty()).map_err(|e| open_err(&walked, e))?;
    let stat = fstat(&fd).map_err(|e| io(&walked, "stat", e))?;
    check(&walked, &stat, uid, false)?;
    // Never block on a FIFO, never take a terminal.
    let file_flags =
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
    let fd = openat(&fd, "authorized_keys", file_flags, Mode::empty()).map_err(|e| match e {
        Errno::ELOOP => KeysError::Untrusted {
            path: path.clone(),
            reason: "a symbolic link".to_owned(),
        },
        e => open_err(&path, e),
    })?;
    let stat = fstat(&fd).map_err(|e| io(&path, "stat", e))?;
    check(&path, &stat, uid, true)?;
    let mut bytes = Vec::new();
    File::from(fd)
        .take(MAX_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| KeysError::Io {
            path: path.clone(),
            action: "read",
            source,
        })?;
    if bytes.len() as u64 > MAX_SIZE {
        return Err(KeysError::Untrusted {
            path,
            reason: format!("grew past {MAX_SIZE} bytes while read"),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| KeysError::Untrusted {
        path: path.clone(),
        reason: "not UTF-8 text".to_owned(),
    })?;
    Ok((path, text))
}

/// A key found on a line of authorized_keys: its type and base64 blob.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Line<'a> {
    /// The options field, if the line has one (`restrict,command="…"`).
    pub(crate) options: Option<&'a str>,
    /// `ssh-ed25519`, `ssh-rsa`, …
    pub(crate) key_type: &'a str,
    /// The key, base64.
    pub(crate) key: &'a str,
}

/// Parses one line as sshd(8) AUTHORIZED_KEYS FILE FORMAT describes it:
/// `[options] keytype base64-key [comment]`, where the options are
/// comma-separated and may hold double-quoted strings with spaces (and `\"`).
/// `None` for blank lines, comments and lines with no key.
pub(crate) fn parse_line(line: &str) -> Option<Line<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let fields = fields(line);
    let looks_like_type = |s: &str| {
        s.starts_with("ssh-") || s.starts_with("ecdsa-") || s.starts_with("sk-") || s.contains("@openssh.com")
    };
    let (options, rest) = match fields.first() {
        Some(first) if looks_like_type(first) => (None, &fields[..]),
        Some(first) => (Some(*first), fields.get(1..)?),
        None => return None,
    };
    Some(Line {
        options,
        key_type: rest.first()?,
        key: rest.get(1)?,
    })
}

/// Splits at whitespace outside double quotes (a backslash escapes a quote).
fn fields(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => {
                quoted = !quoted;
                start.get_or_insert(i);
            }
            c if c.is_whitespace() && !quoted => {
                if let Some(s) = start.take() {
                    out.push(&line[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        out.push(&line[s..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lines_with_and_without_options() {
        assert_eq!(
            parse_line("ssh-ed25519 AAAAC3Nz alice@laptop"),
            Some(Line {
                options: None,
                key_type: "ssh-ed25519",
                key: "AAAAC3Nz"
            })
        );
        assert_eq!(
            parse_line(r#"restrict,command="echo \"a b\" c",from="10.0.0.0/8" ssh-rsa AAAAB3 c d"#),
            Some(Line {
                options: Some(r#"restrict,command="echo \"a b\" c",from="10.0.0.0/8""#),
                key_type: "ssh-rsa",
                key: "AAAAB3"
            })
        );
        assert_eq!(
            parse_line("  sk-ssh-ed25519@openssh.com AAAAGnNr"),
            Some(Line {
                options: None,
                key_type: "sk-ssh-ed25519@openssh.com",
                key: "AAAAGnNr"
            })
        );
        for none in ["", "   ", "# ssh-ed25519 AAAA", "ssh-ed25519", "restrict ssh-rsa"] {
            assert_eq!(parse_line(none), None, "{none:?}");
        }
    }

    #[test]
    fn only_a_path_the_user_or_root_controls_is_read() {
        let tmp = tempfile::tempdir().unwrap();
        let home = std::fs::canonicalize(tmp.path()).unwrap().join("home");
        let ssh = home.join(".ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        let file = ssh.join("authorized_keys");
        std::fs::write(&file, "ssh-ed25519 AAAA\n").unwrap();
        let mode =
            |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        mode(&home, 0o755);
        mode(&ssh, 0o700);
        mode(&file, 0o644);
        let uid = nix::unistd::geteuid().as_raw();
        let (path, text) = read_trusted(&home, uid).unwrap();
        assert_eq!(
            (path.as_path(), text.as_str()),
            (file.as_path(), "ssh-ed25519 AAAA\n")
        );

        let refused = |want: &str| {
            let e = read_trusted(&home, uid).unwrap_err().to_string();
            assert!(e.contains(want), "{want:?} not in {e}");
        };
        for (dir, m) in [(&home, 0o775), (&ssh, 0o757)] {
            mode(dir, m);
            refused("lets group or others write");
            mode(dir, 0o755);
        }
        mode(&file, 0o620);
        refused("lets group or others write");
        mode(&file, 0o600);
        // Owned by another user: refused for this one, trusted for that one.
        if nix::unistd::chown(&file, Some(nix::unistd::Uid::from_raw(4243)), None).is_ok() {
            let stat = nix::sys::stat::stat(&file).unwrap();
            let e = check(&file, &stat, 4242, true).unwrap_err().to_string();
            assert!(e.contains("neither root nor the user"), "{e}");
            assert!(check(&file, &stat, 4243, true).is_ok());
        }
        // A symbolic link, as the file or as .ssh: refused, never followed.
        std::fs::rename(&file, home.join("keys")).unwrap();
        std::os::unix::fs::symlink("../keys", &file).unwrap();
        refused("a symbolic link");
        std::fs::remove_file(&file).unwrap();
        std::fs::rename(&ssh, home.join("real-ssh")).unwrap();
        std::os::unix::fs::symlink("real-ssh", &ssh).unwrap();
        refused("a symbolic link");
        std::fs::remove_file(&ssh).unwrap();
        assert!(matches!(read_trusted(&home, uid), Err(KeysError::Missing { .. })));
        // A FIFO is no file (and opening it does not block).
        std::fs::create_dir(&ssh).unwrap();
        nix::unistd::mkfifo(&file, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        refused("not a regular file");
        assert!(matches!(
            read_trusted(Path::new("relative/home"), uid),
            Err(KeysError::Untrusted { .. })
        ));
    }
}
