//! The file store: one root-owned TOML file per user in a root-owned directory.
//!
//! Every file is opened relative to a descriptor of the store directory with
//! `O_NOFOLLOW`, and trusted only after `fstat` on the opened descriptor says
//! it is a regular, root-owned, private file with no second link and at most
//! [`MAX_FILE_SIZE`] bytes (the lesson of CVE-2024-47191 in pam_oath). (No
//! link at all is a version replaced by a writer while it was being read.)
//!
//! Writers hold an exclusive `flock` on the store directory itself, which is
//! never replaced, so a waiter never reads a file that was renamed away under
//! it. A file is replaced by writing `.<user>.tmp` (`O_EXCL`, 0600), fsyncing
//! it, renaming it over `<user>.toml` and fsyncing the directory: a crash at
//! any instant leaves the old or the new file, never a partial one. A stale
//! temporary file from a crash is removed by the next writer, under the lock,
//! and is never read.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::libc;
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use nix::unistd::{UnlinkatFlags, fsync, unlinkat};
use time::OffsetDateTime;

use super::{CheckReport, Edit, Judgement, StoreError};
use crate::codeset::{CodeSet, ParseError};
use crate::username::UserName;
use crate::verdict::{self, Attempt, Outcome, Refusal};

/// The default store directory.
pub const DEFAULT_DIR: &str = "/var/lib/pam-backup-codes";
/// The largest store file trusted.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;
const FILE_SUFFIX: &str = ".toml";
/// The stand-in set's file: a temporary name (`.<user>.tmp`) no user can
/// have, as no user name starts with a dot.
const STAND_IN_NAME: &str = "..stand-in.tmp";

/// An open store directory.
#[derive(Debug)]
pub struct DirStore {
    dir: OwnedFd,
    path: PathBuf,
}

fn file_type(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits())
}

/// Opens the store directory one component at a time from `/`, never
/// following a symbolic link, and trusts the path as OpenSSH's StrictModes
/// does: every directory on the way is owned by root and not writable by
/// group or others, except that a root-owned sticky directory (`/tmp`) may
/// be on the way; the store directory itself never is writable by them.
/// Whoever can write to a directory on the way could put another store in
/// its place. Trailing slashes change nothing (`/srv/codes/` is
/// `/srv/codes`, and a symbolic link there is refused like anywhere).
fn open_trusted(path: &Path) -> Result<OwnedFd, StoreError> {
    if !path.is_absolute() {
        return Err(StoreError::insecure(path.to_owned(), "not an absolute path"));
    }
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut walked = PathBuf::from("/");
    let mut dir = nix::fcntl::open("/", flags, Mode::empty())
        .map_err(|e| StoreError::io(walked.clone(), "open the store directory", e))?;
    for component in path.components() {
        let name = match component {
            Component::RootDir | Component::CurDir => continue,
            Component::Normal(name) => name,
            Component::ParentDir | Component::Prefix(_) => {
                return Err(StoreError::insecure(
                    path.to_owned(),
                    "the path has a '..' component",
                ));
            }
        };
        check_dir(&dir, &walked, path, false)?;
        walked.push(name);
        dir = openat(&dir, name, flags, Mode::empty()).map_err(|e| match e {
            Errno::ELOOP | Errno::ENOTDIR => {
                StoreError::insecure(walked.clone(), "not a directory (or a symbolic link)")
            }
            // Missing here or higher up (on a trusted path): no store.
            Errno::ENOENT => StoreError::Missing {
                path: path.to_owned(),
            },
            e => StoreError::io(walked.clone(), "open the store directory", e),
        })?;
    }
    check_dir(&dir, &walked, path, true)?;
    Ok(dir)
}

/// Checks one directory of the store path (`walked`, on the way to `store`).
fn check_dir(dir: &OwnedFd, walked: &Path, store: &Path, is_store: bool) -> Result<(), StoreError> {
    let stat = fstat(dir).map_err(|e| StoreError::io(walked.to_owned(), "stat", e))?;
    let on_the_way = if is_store {
        String::new()
    } else {
        format!(" (on the way to the store {})", store.display())
    };
    if stat.st_uid != 0 {
        return Err(StoreError::insecure(
            walked.to_owned(),
            format!(
                "the directory is owned by uid {}, not root{on_the_way}",
                stat.st_uid
            ),
        ));
    }
    let sticky = stat.st_mode & libc::S_ISVTX != 0;
    if stat.st_mode & 0o022 != 0 && (is_store || !sticky) {
        return Err(StoreError::insecure(
            walked.to_owned(),
            format!(
                "the directory has mode {:04o}, writable by group or others{on_the_way}",
                stat.st_mode & 0o7777
            ),
        ));
    }
    Ok(())
}

impl DirStore {
    /// Opens an existing store directory and checks that it is trusted, and
    /// every directory on the way to it from `/` (see [`open_trusted`]).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let dir = open_trusted(path)?;
        Ok(Self {
            dir,
            path: path.to_owned(),
        })
    }

    /// Opens the store directory, creating it (root, 0700) if it is missing.
    /// Its parent must exist.
    pub fn open_or_create(path: &Path) -> Result<Self, StoreError> {
        match nix::unistd::mkdir(path, Mode::from_bits_truncate(0o700)) {
            Ok(()) | Err(Errno::EEXIST) => Self::open(path),
            Err(e) => Err(StoreError::io(path.to_owned(), "create the store directory", e)),
        }
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of a user's file, for messages.
    pub fn user_path(&self, user: &UserName) -> PathBuf {
        self.path.join(file_name(user))
    }

    /// Reads a user's set without locking: files are only ever replaced by
    /// rename, so this sees one whole version. `None` if the user has none.
    pub fn read(&self, user: &UserName) -> Result<Option<CodeSet>, StoreError> {
        let path = self.user_path(user);
        let name = file_name(user);
        // Refuse special files before opening them: opening a FIFO or a
        // device can block or have side effects.
        let stat = match fstatat(&self.dir, name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(StoreError::io(path, "stat", e)),
        };
        check_file(&path, &stat)?;
        let fd = openat(
            &self.dir,
            name.as_str(),
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::ELOOP => StoreError::insecure(path.clone(), "the file is a symbolic link"),
            e => StoreError::io(path.clone(), "open", e),
        })?;
        // The descriptor is what gets read, so it is what gets checked.
        let stat = fstat(&fd).map_err(|e| StoreError::io(path.clone(), "stat", e))?;
        check_file(&path, &stat)?;
        // The buffer is the file's size (at most MAX_FILE_SIZE, checked),
        // allocated fallibly: a memory limit is an error, not an abort of
        // the host. One byte more tells a file that grew while read.
        let size = usize::try_from(stat.st_size)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(size).map_err(|_| StoreError::Io {
            path: path.clone(),
            action: "allocate memory to read",
            source: std::io::ErrorKind::OutOfMemory.into(),
        })?;
        File::from(fd)
            .take(size as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| StoreError::Io {
                path: path.clone(),
                action: "read",
                source: e,
            })?;
        if bytes.len() >= size {
            return Err(StoreError::insecure(path, "the file grew while it was read"));
        }
        let text = std::str::from_utf8(&bytes).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: ParseError::NotUtf8(e),
        })?;
        CodeSet::parse(text)
            .map(Some)
            .map_err(|reason| StoreError::Corrupt { path, reason })
    }

    /// Judges a hashed attempt under the lock (see [`verdict::judge`]) and
    /// writes the changed set back before returning the outcome. `clock` is
    /// read once the lock is held.
    pub fn judge(
        &self,
        attempt: &Attempt<'_>,
        clock: &dyn Fn() -> OffsetDateTime,
    ) -> Result<Judgement, StoreError> {
        let lock = self.lock()?;
        let now = clock();
        let Some(mut set) = lock.read(attempt.user)? else {
            // Unenrolled while we were hashing: nothing to match or count.
            return Ok(Judgement::Judged(Outcome::Refused {
                refusal: Refusal::Wrong,
                locked: false,
            }));
        };
        let hashing = set.hashing();
        if hashing != *attempt.hashing {
            return Ok(Judgement::Rehash(hashing));
        }
        let outcome = verdict::judge(&mut set, attempt, now);
        if !matches!(outcome, Outcome::Locked(_) | Outcome::Expired(_)) {
            // Durable before reporting: if this fails, so does the attempt.
            lock.write(attempt.user, &set)?;
        }
        Ok(Judgement::Judged(outcome))
    }

    /// Reads a user's set under the lock, lets `change` decide, and does it
    /// before the lock is released (see [`super::Store::edit`]).
    pub fn edit<T>(
        &self,
        user: &UserName,
        change: impl FnOnce(Option<CodeSet>) -> (Edit, T),
    ) -> Result<T, StoreError> {
        let lock = self.lock()?;
        let (edit, result) = change(lock.read(user)?);
        match edit {
            Edit::Keep => {}
            Edit::Write(set) => lock.write(user, &set)?,
            Edit::Remove => {
                lock.remove(user)?;
            }
        }
        Ok(result)
    }

    /// Takes the store's exclusive lock; writers must hold it.
    pub fn lock(&self) -> Result<DirLock<'_>, StoreError> {
        // A descriptor of our own: flock belongs to the open file description,
        // so sharing `self.dir` would let two threads "hold" it at once.
        let fd = openat(
            &self.dir,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| StoreError::io(self.path.clone(), "open for locking", e))?;
        let file = File::from(fd);
        file.lock().map_err(|source| StoreError::Io {
            path: self.path.clone(),
            action: "lock",
            source,
        })?;
        Ok(DirLock {
            store: self,
            _lock: file,
        })
    }

    /// The users that have a file in the store, sorted, and the names of any
    /// other entries (stale temporary files excepted).
    pub fn list(&self) -> Result<(Vec<UserName>, Vec<String>), StoreError> {
        let fd = openat(
            &self.dir,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| StoreError::io(self.path.clone(), "open", e))?;
        let mut dir = nix::dir::Dir::from_fd(fd).map_err(|e| StoreError::io(self.path.clone(), "list", e))?;
        let mut users = Vec::new();
        let mut others = Vec::new();
        for entry in dir.iter() {
            let entry = entry.map_err(|e| StoreError::io(self.path.clone(), "list", e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "." || name == ".." || is_temp_name(&name) {
                continue;
            }
            match name.strip_suffix(FILE_SUFFIX).map(str::parse::<UserName>) {
                Some(Ok(user)) => users.push(user),
                _ => others.push(name),
            }
        }
        users.sort();
        others.sort();
        Ok((users, others))
    }
}

impl DirStore {
    /// What `backup-codes check` reports: the directory's mode, entries that
    /// are not user files, and every user file that does not read.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let mut problems = Vec::new();
        // The module only needs the directory closed to writers; 0700 also
        // keeps others from listing who has codes.
        let stat = fstat(&self.dir).map_err(|e| StoreError::io(self.path.clone(), "stat", e))?;
        if stat.st_mode & 0o077 != 0 {
            problems.push(format!(
                "{}: mode {:04o}, should be 0700: others can see who has codes",
                self.path.display(),
                stat.st_mode & 0o7777
            ));
        }
        let (users, others) = self.list()?;
        for name in others {
            problems.push(format!(
                "{}: unexpected entry in the store",
                self.path.join(name).display()
            ));
        }
        let mut good = 0;
        for user in &users {
            match self.read(user) {
                Ok(_) => good += 1,
                Err(e) => problems.push(e.to_string()),
            }
        }
        Ok(CheckReport {
            problems,
            summary: format!(
                "{} is trusted, {good} user file{} valid",
                self.path.display(),
                if good == 1 { "" } else { "s" }
            ),
        })
    }
}

/// Holds the store's lock; released on drop.
#[derive(Debug)]
pub struct DirLock<'a> {
    store: &'a DirStore,
    _lock: File,
}

impl DirLock<'_> {
    /// Reads a user's set (see [`DirStore::read`]).
    pub fn read(&self, user: &UserName) -> Result<Option<CodeSet>, StoreError> {
        self.store.read(user)
    }

    /// Replaces a user's file atomically and durably.
    pub fn write(&self, user: &UserName, set: &CodeSet) -> Result<(), StoreError> {
        let store = self.store;
        let text = set.to_toml().map_err(|reason| StoreError::Unwritable {
            path: store.user_path(user),
            reason,
        })?;
        let temp = temp_name(user);
        let temp_path = store.path.join(&temp);
        remove_if_present(store, &temp)?;
        let fd = openat(
            &store.dir,
            temp.as_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| StoreError::io(temp_path.clone(), "create", e))?;
        let written = write_and_sync(fd, text.as_bytes(), &temp_path).and_then(|()| {
            renameat(&store.dir, temp.as_str(), &store.dir, file_name(user).as_str())
                .map_err(|e| StoreError::io(store.user_path(user), "rename into place", e))
        });
        if let Err(e) = written {
            let _ = unlinkat(&store.dir, temp.as_str(), UnlinkatFlags::NoRemoveDir);
            return Err(e);
        }
        sync_dir(store)
    }

    /// Writes `set` as a user's file would be written (temporary file,
    /// fsync, directory fsync), under a name no user can have, and removes
    /// it again: what a login with nothing to judge does, so that it costs
    /// what a judged one costs and fails where that would fail.
    pub fn write_stand_in(&self, set: &CodeSet) -> Result<(), StoreError> {
        let store = self.store;
        let path = store.path.join(STAND_IN_NAME);
        let text = set.to_toml().map_err(|reason| StoreError::Unwritable {
            path: path.clone(),
            reason,
        })?;
        // As a judgement reads the set back under the lock.
        CodeSet::parse(&text).map_err(|reason| StoreError::Unwritable {
            path: path.clone(),
            reason,
        })?;
        remove_if_present(store, STAND_IN_NAME)?;
        let fd = openat(
            &store.dir,
            STAND_IN_NAME,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| StoreError::io(path.clone(), "create", e))?;
        let written = write_and_sync(fd, text.as_bytes(), &path);
        let removed = unlinkat(&store.dir, STAND_IN_NAME, UnlinkatFlags::NoRemoveDir)
            .map_err(|e| StoreError::io(path.clone(), "remove", e));
        written.and(removed).and_then(|()| sync_dir(store))
    }

    /// Deletes a user's file; returns false if there was none.
    pub fn remove(&self, user: &UserName) -> Result<bool, StoreError> {
        let store = self.store;
        match unlinkat(&store.dir, file_name(user).as_str(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) => sync_dir(store).map(|()| true),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(StoreError::io(store.user_path(user), "remove", e)),
        }
    }
}

fn file_name(user: &UserName) -> String {
    format!("{user}{FILE_SUFFIX}")
}

/// User names never start with '.', so this never names a user file.
fn temp_name(user: &UserName) -> String {
    format!(".{user}.tmp")
}

fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

fn check_file(path: &Path, stat: &FileStat) -> Result<(), StoreError> {
    let path = || path.to_owned();
    let kind = file_type(stat);
    if kind != SFlag::S_IFREG {
        let what = match kind {
            SFlag::S_IFLNK => "a symbolic link",
            SFlag::S_IFDIR => "a directory",
            SFlag::S_IFIFO => "a FIFO",
            SFlag::S_IFCHR | SFlag::S_IFBLK => "a device node",
            SFlag::S_IFSOCK => "a socket",
            _ => "not a regular file",
        };
        return Err(StoreError::insecure(path(), format!("the file is {what}")));
    }
    if stat.st_uid != 0 {
        return Err(StoreError::insecure(
            path(),
            format!("the file is owned by uid {}, not root", stat.st_uid),
        ));
    }
    if stat.st_mode & 0o077 != 0 {
        return Err(StoreError::insecure(
            path(),
            format!(
                "the file has mode {:04o}, accessible to group or others",
                stat.st_mode & 0o7777
            ),
        ));
    }
    // Reads take no lock, so a writer may rename a new file over the name
    // between the lookup and the stat, or between open and fstat: the inode
    // seen is then the previous version, whole, with no link left. Zero links
    // is that race; two or more is a hard link, refused.
    if stat.st_nlink > 1 {
        return Err(StoreError::insecure(
            path(),
            format!("the file has {} hard links", stat.st_nlink),
        ));
    }
    let size = u64::try_from(stat.st_size).unwrap_or(u64::MAX);
    if size > MAX_FILE_SIZE {
        return Err(StoreError::insecure(
            path(),
            format!("the file is {size} bytes, more than {MAX_FILE_SIZE}"),
        ));
    }
    Ok(())
}

fn remove_if_present(store: &DirStore, name: &str) -> Result<(), StoreError> {
    // Look first: unlink reports EROFS even for a name that is not there, and
    // "cannot remove stale temporary file" would send an administrator of a
    // read-only store after a file that does not exist.
    if let Err(Errno::ENOENT) = fstatat(&store.dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        return Ok(());
    }
    match unlinkat(&store.dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(StoreError::io(
            store.path.join(name),
            "remove stale temporary file",
            e,
        )),
    }
}

fn write_and_sync(fd: OwnedFd, bytes: &[u8], path: &Path) -> Result<(), StoreError> {
    let mut file = File::from(fd);
    file.write_all(bytes).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        action: "write",
        source,
    })?;
    fsync(file.as_fd()).map_err(|e| StoreError::io(path.to_owned(), "fsync", e))
}

fn sync_dir(store: &DirStore) -> Result<(), StoreError> {
    fsync(&store.dir).map_err(|e| StoreError::io(store.path.clone(), "fsync the directory", e))
}

/// Creates a subdirectory for tests, root-owned 0700.
#[cfg(test)]
fn test_store() -> (tempfile::TempDir, DirStore) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("store");
    let store = DirStore::open_or_create(&path).unwrap();
    (tmp, store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::CodeFormat;
    use crate::kdf::KdfParams;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use time::OffsetDateTime;

    fn user(name: &str) -> UserName {
        name.parse().unwrap()
    }

    fn set() -> CodeSet {
        CodeSet::generate(
            CodeFormat::DEFAULT,
            3,
            KdfParams::default(),
            OffsetDateTime::now_utc(),
        )
        .unwrap()
        .0
    }

    #[test]
    fn write_then_read_round_trips_with_private_mode() {
        let (_tmp, store) = test_store();
        let alice = user("alice");
        assert!(store.read(&alice).unwrap().is_none());
        let set = set();
        store.lock().unwrap().write(&alice, &set).unwrap();
        assert_eq!(store.read(&alice).unwrap(), Some(set));
        let meta = std::fs::metadata(store.user_path(&alice)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let (users, others) = store.list().unwrap();
        assert_eq!(users, vec![alice.clone()]);
        assert!(others.is_empty());
        assert!(store.lock().unwrap().remove(&alice).unwrap());
        assert!(!store.lock().unwrap().remove(&alice).unwrap());
        assert!(store.read(&alice).unwrap().is_none());
    }

    #[test]
    fn a_set_that_would_not_read_back_is_never_written() {
        let (_tmp, store) = test_store();
        let alice = user("alice");
        let good = set();
        store.lock().unwrap().write(&alice, &good).unwrap();
        let before = std::fs::read(store.user_path(&alice)).unwrap();
        let mut bad = good.clone();
        bad.codes[0].used = Some(crate::codeset::CodeUse {
            at: OffsetDateTime::now_utc(),
            service: "s".repeat(300),
            rhost: None,
            host: None,
        });
        let e = store.lock().unwrap().write(&alice, &bad).unwrap_err();
        assert!(matches!(e, StoreError::Unwritable { .. }), "{e}");
        assert_eq!(std::fs::read(store.user_path(&alice)).unwrap(), before);
        assert!(!store.path().join(".alice.tmp").exists());
    }

    #[test]
    fn stale_temporary_file_is_replaced_and_never_listed() {
        let (_tmp, store) = test_store();
        let alice = user("alice");
        std::fs::write(store.path().join(".alice.tmp"), "garbage").unwrap();
        assert!(store.read(&alice).unwrap().is_none());
        assert_eq!(store.list().unwrap(), (vec![], vec![]));
        store.lock().unwrap().write(&alice, &set()).unwrap();
        assert!(!store.path().join(".alice.tmp").exists());
    }

    #[test]
    fn insecure_files_are_refused_and_left_alone() {
        let (tmp, store) = test_store();
        let alice = user("alice");
        let path = store.user_path(&alice);
        let good = set().to_toml().unwrap();
        let check = |setup: &dyn Fn(), want: &str| {
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_dir(&path);
            setup();
            let err = store.read(&alice).unwrap_err().to_string();
            assert!(err.contains(want), "{want:?} not in {err:?}");
        };
        check(
            &|| {
                std::fs::write(&path, &good).unwrap();
                std::fs::set_permissions(&path, PermissionsExt::from_mode(0o644)).unwrap();
            },
            "mode 0644",
        );
        check(
            &|| {
                let target = tmp.path().join("target.toml");
                std::fs::write(&target, &good).unwrap();
                std::fs::set_permissions(&target, PermissionsExt::from_mode(0o600)).unwrap();
                symlink(&target, &path).unwrap();
            },
            "symbolic link",
        );
        check(
            &|| {
                std::fs::write(&path, &good).unwrap();
                std::fs::set_permissions(&path, PermissionsExt::from_mode(0o600)).unwrap();
                std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
            },
            "owned by uid 65534",
        );
        check(
            &|| {
                let other = tmp.path().join("hardlink");
                let _ = std::fs::remove_file(&other);
                std::fs::write(&path, &good).unwrap();
                std::fs::set_permissions(&path, PermissionsExt::from_mode(0o600)).unwrap();
                std::fs::hard_link(&path, &other).unwrap();
            },
            "2 hard links",
        );
        check(
            &|| {
                nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).unwrap();
            },
            "a FIFO",
        );
        check(&|| std::fs::create_dir(&path).unwrap(), "a directory");
        check(
            &|| {
                std::fs::write(&path, vec![b'#'; MAX_FILE_SIZE as usize + 1]).unwrap();
                std::fs::set_permissions(&path, PermissionsExt::from_mode(0o600)).unwrap();
            },
            "more than 1048576",
        );
        check(
            &|| {
                std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
                std::fs::set_permissions(&path, PermissionsExt::from_mode(0o600)).unwrap();
            },
            "not UTF-8",
        );
    }

    #[test]
    fn insecure_directories_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o770)).unwrap();
        assert!(
            DirStore::open(&dir)
                .unwrap_err()
                .to_string()
                .contains("mode 0770")
        );
        std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
        assert!(
            DirStore::open(&dir)
                .unwrap_err()
                .to_string()
                .contains("uid 65534")
        );
        std::os::unix::fs::chown(&dir, Some(0), None).unwrap();
        let link = tmp.path().join("link");
        symlink(&dir, &link).unwrap();
        assert!(
            DirStore::open(&link)
                .unwrap_err()
                .to_string()
                .contains("symbolic link")
        );
        assert!(matches!(
            DirStore::open(&tmp.path().join("missing")),
            Err(StoreError::Missing { .. })
        ));
        assert!(DirStore::open(&dir).is_ok());
    }

    #[test]
    fn the_whole_store_path_is_trusted_and_trailing_slashes_change_nothing() {
        let refused = |path: &Path, want: &str| {
            let e = DirStore::open(path).unwrap_err().to_string();
            assert!(e.contains(want), "{}: {want:?} not in {e:?}", path.display());
        };
        let tmp = tempfile::tempdir().unwrap();
        let parent = tmp.path().join("parent");
        let dir = parent.join("store");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o700)).unwrap();
        // A symbolic link is refused with or without trailing slashes (with
        // one, path resolution would follow it).
        let link = tmp.path().join("link");
        symlink(&dir, &link).unwrap();
        for spelled in ["", "/", "//", "/./"] {
            let path = PathBuf::from(format!("{}{spelled}", link.display()));
            refused(&path, "symbolic link");
        }
        assert!(DirStore::open(Path::new(&format!("{}/", dir.display()))).is_ok());
        // A link higher up is refused too.
        let linked_parent = tmp.path().join("linked-parent");
        symlink(&parent, &linked_parent).unwrap();
        refused(&linked_parent.join("store"), "symbolic link");
        // Every directory on the way: owned by root, closed to writers.
        std::fs::set_permissions(&parent, PermissionsExt::from_mode(0o775)).unwrap();
        refused(
            &dir,
            "mode 0775, writable by group or others (on the way to the store",
        );
        std::fs::set_permissions(&parent, PermissionsExt::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&parent, Some(65534), None).unwrap();
        refused(&dir, "owned by uid 65534, not root (on the way");
        std::os::unix::fs::chown(&parent, Some(0), None).unwrap();
        // A root-owned sticky directory may be on the way (/tmp is one)...
        std::fs::set_permissions(&parent, PermissionsExt::from_mode(0o1777)).unwrap();
        assert!(DirStore::open(&dir).is_ok());
        // ...but not one owned by someone else, and never as the store.
        std::os::unix::fs::chown(&parent, Some(65534), None).unwrap();
        refused(&dir, "owned by uid 65534");
        std::os::unix::fs::chown(&parent, Some(0), None).unwrap();
        refused(&parent, "mode 1777");
        refused(Path::new("relative/store"), "not an absolute path");
        refused(&parent.join("../parent/store"), "'..'");
    }

    #[test]
    fn unlocked_reads_racing_writes_always_see_a_whole_trusted_version() {
        // A reader may open the file just before a writer renames a new one
        // over it: the descriptor then names an unlinked file (0 links),
        // which is a whole earlier version, not an attack.
        let (_tmp, store) = test_store();
        let alice = user("alice");
        let sets = [set(), set()];
        store.lock().unwrap().write(&alice, &sets[0]).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..2000 {
                    store.lock().unwrap().write(&alice, &sets[i % 2]).unwrap();
                }
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let read = store
                    .read(&alice)
                    .unwrap_or_else(|e| panic!("after {reads} reads: {e}"));
                assert!(sets.contains(&read.unwrap()));
                reads += 1;
            }
        });
    }

    #[test]
    fn lock_is_exclusive_across_threads() {
        let (_tmp, store) = test_store();
        let guard = store.lock().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let _second = store.lock().unwrap();
                tx.send(()).unwrap();
            });
            assert!(rx.recv_timeout(std::time::Duration::from_millis(200)).is_err());
            drop(guard);
            assert!(rx.recv_timeout(std::time::Duration::from_secs(5)).is_ok());
        });
    }
}
