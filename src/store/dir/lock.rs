//! The store's lock and what is done under it: replacing a user's file
//! atomically and durably, removing it, and the stand-in write.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::sys::stat::{Mode, fstatat};
use nix::unistd::{UnlinkatFlags, fsync, unlinkat};

use super::{DirStore, STAND_IN_NAME, file_name, temp_name};
use crate::codeset::CodeSet;
use crate::store::StoreError;
use crate::username::UserName;

/// Holds the store's lock; released on drop.
#[derive(Debug)]
pub struct DirLock<'a> {
    pub(super) store: &'a DirStore,
    pub(super) _lock: File,
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
