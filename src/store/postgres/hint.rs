//! Login hints: root's local note, per user, of what the database last said
//! a login needs to prompt and hash (the code format, the KDF parameters and
//! the salt of the user's set), so that a login of a user with a set can
//! prompt at once, without a connection before the prompt.
//!
//! A hint can only cause a prompt. It holds nothing the database decides
//! (no lock state, no hash, no tally), and the judgement after the prompt is
//! the database's alone: a stale salt is answered with the set's current
//! hashing before anything is counted (`judge`'s `rehash`), a set that is
//! gone is the database's "absent", a lock is the database's. Every answer
//! refreshes the hint: rewritten when the database shows other hashing,
//! removed when it shows no set. A user without a set has no hint, so a
//! login of theirs (and so `nullok`) always asks the database first.
//!
//! Files: `<hint_dir>/<user>.toml`, root's, 0600, in a directory that
//! [`trusted`] accepts (root's, 0700 when the module makes it); written to a
//! temporary file and renamed over, without fsync (a cache: a hint lost in a
//! crash only costs the connection before the prompt). A hint that fails the
//! trusted-file rules or does not parse is ignored (the caller logs it); one
//! written for another store (`store`, the URI) is not ours and unused.

use std::fmt;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::{Mode, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};
use serde::{Deserialize, Serialize};

use crate::code::Alphabet;
use crate::codeset::{Hashing, Kdf};
use crate::trusted::{self, Problem, Rules, TrustError};
use crate::username::UserName;

/// The largest hint file read.
const MAX_HINT_FILE: u64 = 4096;
/// The hint file's format version.
const VERSION: u32 = 1;

/// A hint that was not used: where, and why.
#[derive(Debug)]
pub struct HintError {
    /// The hint file (or its directory).
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
    source: Option<TrustError>,
}

impl fmt::Display for HintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "login hint {}: {}; ignored", self.path.display(), self.reason)
    }
}

impl std::error::Error for HintError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The hint file: the store it came from, the user, and the hashing.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct HintFile {
    version: u32,
    store: String,
    user: String,
    alphabet: Alphabet,
    length: usize,
    check_symbol: bool,
    kdf: Kdf,
}

/// The hints of one store in one directory.
#[derive(Debug)]
pub(super) struct Hints {
    dir: PathBuf,
    /// The store's URI, as the hints record it.
    store: String,
}

impl Hints {
    /// Hints for the store `store` (its URI) in `dir`.
    pub(super) fn new(dir: &Path, store: String) -> Self {
        Self {
            dir: dir.to_owned(),
            store,
        }
    }

    fn path(&self, user: &UserName) -> PathBuf {
        self.dir.join(file_name(user))
    }

    /// The hashing the hint for `user` holds; `None` without a hint (or the
    /// directory), or with one of another store.
    pub(super) fn read(&self, user: &UserName) -> Result<Option<Hashing>, HintError> {
        let path = self.path(user);
        let fail = |reason: String, source: Option<TrustError>| HintError {
            path: path.clone(),
            reason,
            source,
        };
        let dir = match trusted::open_dir(&self.dir) {
            Ok(dir) => dir,
            Err(TrustError {
                problem: Problem::Missing,
                ..
            }) => return Ok(None),
            Err(e) => return Err(fail(format!("its directory: {e}"), Some(e))),
        };
        let rules = Rules {
            private: true,
            max_size: MAX_HINT_FILE,
        };
        let bytes = match trusted::read_at(&dir, &path, &file_name(user), &rules) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(e) => {
                // The error names the file: the reason is what follows.
                let text = e.to_string();
                let prefix = format!("{}: ", path.display());
                let reason = text.strip_prefix(&prefix).unwrap_or(&text).to_owned();
                return Err(fail(reason, Some(e)));
            }
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| fail("not UTF-8".into(), None))?;
        let hint: HintFile = toml::from_str(text).map_err(|e| fail(format!("corrupt: {e}"), None))?;
        if hint.version != VERSION {
            return Err(fail(
                format!("version {} (this module reads {VERSION})", hint.version),
                None,
            ));
        }
        if hint.store != self.store {
            return Ok(None);
        }
        if hint.user != user.as_str() {
            return Err(fail(format!("written for user {:?}", hint.user), None));
        }
        hint.kdf
            .params
            .validate()
            .map_err(|e| fail(e.to_string(), None))?;
        let hashing = Hashing {
            alphabet: hint.alphabet,
            length: hint.length,
            check_symbol: hint.check_symbol,
            kdf: hint.kdf,
        };
        hashing.format().map_err(|e| fail(e.to_string(), None))?;
        Ok(Some(hashing))
    }

    /// Records `hashing` as `user`'s hint. Best effort: a hint that cannot
    /// be written only costs the next login its connection before the
    /// prompt (and one that cannot be read is logged then).
    pub(super) fn write(&self, user: &UserName, hashing: &Hashing) {
        // Only root's files are trusted: nobody else may write hints.
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let hint = HintFile {
            version: VERSION,
            store: self.store.clone(),
            user: user.as_str().to_owned(),
            alphabet: hashing.alphabet,
            length: hashing.length,
            check_symbol: hashing.check_symbol,
            kdf: hashing.kdf.clone(),
        };
        let Ok(text) = toml::to_string(&hint) else {
            return;
        };
        let Some(dir) = self.open_or_create() else {
            return;
        };
        let name = file_name(user);
        let temp = format!(".{name}.{}.tmp", std::process::id());
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        // A temporary file left by a process that died with this pid.
        let _ = unlinkat(&dir, temp.as_str(), UnlinkatFlags::NoRemoveDir);
        let Ok(fd) = openat(&dir, temp.as_str(), flags, Mode::from_bits_truncate(0o600)) else {
            return;
        };
        let written = std::fs::File::from(fd).write_all(text.as_bytes()).is_ok();
        if !written || renameat(&dir, temp.as_str(), &dir, name.as_str()).is_err() {
            let _ = unlinkat(&dir, temp.as_str(), UnlinkatFlags::NoRemoveDir);
        }
    }

    /// Removes `user`'s hint, if any (best effort, as [`write`](Self::write)).
    pub(super) fn remove(&self, user: &UserName) {
        if let Ok(dir) = trusted::open_dir(&self.dir) {
            let _ = unlinkat(&dir, file_name(user).as_str(), UnlinkatFlags::NoRemoveDir);
        }
    }

    /// The trusted directory, made (root's, 0700) if it is missing and its
    /// parent is trusted.
    fn open_or_create(&self) -> Option<OwnedFd> {
        match trusted::open_dir(&self.dir) {
            Ok(dir) => return Some(dir),
            Err(TrustError {
                problem: Problem::Missing,
                ..
            }) => {}
            Err(_) => return None,
        }
        let (parent, name) = (self.dir.parent()?, self.dir.file_name()?);
        let parent = trusted::open_dir(parent).ok()?;
        match mkdirat(&parent, name, Mode::from_bits_truncate(0o700)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(_) => return None,
        }
        trusted::open_dir(&self.dir).ok()
    }
}

/// A user's hint file name.
fn file_name(user: &UserName) -> String {
    format!("{}.toml", user.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdf::KdfParams;
    use std::os::unix::fs::PermissionsExt;

    fn hashing(salt: u8) -> Hashing {
        Hashing {
            alphabet: Alphabet::Crockford,
            length: 10,
            check_symbol: true,
            kdf: Kdf::argon2id(KdfParams::default(), [salt; 16]),
        }
    }

    #[test]
    fn a_hint_reads_back_for_its_store_only_and_can_be_removed() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hints");
        let alice: UserName = "alice".parse().unwrap();
        let hints = Hints::new(&dir, "postgresql://a@db/x".into());
        assert_eq!(hints.read(&alice).unwrap(), None, "no directory yet");
        hints.write(&alice, &hashing(1));
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(hints.read(&alice).unwrap(), Some(hashing(1)));
        hints.write(&alice, &hashing(2));
        assert_eq!(hints.read(&alice).unwrap(), Some(hashing(2)));
        let other = Hints::new(&dir, "postgresql://a@db2/x".into());
        assert_eq!(
            other.read(&alice).unwrap(),
            None,
            "another store's hint is not used"
        );
        hints.remove(&alice);
        assert_eq!(hints.read(&alice).unwrap(), None);
    }

    #[test]
    fn a_hint_that_fails_the_rules_is_refused_with_its_reason() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hints");
        let alice: UserName = "alice".parse().unwrap();
        let hints = Hints::new(&dir, "s".into());
        hints.write(&alice, &hashing(1));
        let file = dir.join("alice.toml");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = hints.read(&alice).unwrap_err();
        assert!(err.to_string().contains("alice.toml"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&file, Some(1), None).unwrap();
        assert!(hints.read(&alice).is_err(), "not root's");
        std::fs::write(&file, "version = 1\nnonsense = true\n").unwrap();
        std::os::unix::fs::chown(&file, Some(0), None).unwrap();
        assert!(hints.read(&alice).unwrap_err().reason.contains("corrupt"));
        // Bob's hint renamed to alice's is refused.
        let bob: UserName = "bob".parse().unwrap();
        hints.write(&bob, &hashing(3));
        std::fs::rename(dir.join("bob.toml"), &file).unwrap();
        assert!(hints.read(&alice).unwrap_err().reason.contains("bob"));
    }
}
