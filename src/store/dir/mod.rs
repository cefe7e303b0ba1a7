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

mod lock;
mod trust;

use std::fmt;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, fstat};
use time::OffsetDateTime;

use super::{CheckReport, Edit, Judgement, LoginInfo, StoreError};
use crate::codeset::{CodeSet, ParseError};
use crate::lockout::{Lockout, Scope};
use crate::renewal::{self, Decision, Proof, Renewal};
use crate::trusted;
use crate::username::UserName;
use crate::verdict::{self, Attempt, Outcome, Refusal};
pub use lock::DirLock;

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
    clock: Clock,
}

/// Where the file store takes the time of a judgement from, once its lock
/// is held: the system clock (a fleet's database has its own), or a test's.
#[derive(Clone)]
struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    fn now(&self) -> OffsetDateTime {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self(Arc::new(OffsetDateTime::now_utc))
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

impl DirStore {
    /// Opens an existing store directory and checks that it is trusted, and
    /// every directory on the way to it from `/` ([`trusted::open_dir`]).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let dir = trusted::open_dir(path)?;
        Ok(Self {
            dir,
            path: path.to_owned(),
            clock: Clock::default(),
        })
    }

    /// The same store, reading the time from `clock` (the crate's tests:
    /// a judgement at a time of their choosing, or a probe of the lock).
    #[cfg(test)]
    pub(crate) fn with_clock(self, clock: impl Fn() -> OffsetDateTime + Send + Sync + 'static) -> Self {
        Self {
            clock: Clock(Arc::new(clock)),
            ..self
        }
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
        let Some(bytes) = trusted::read_at(&self.dir, &path, &file_name(user), &trust::USER_FILE)? else {
            return Ok(None);
        };
        let text = std::str::from_utf8(&bytes).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: ParseError::NotUtf8(e),
        })?;
        CodeSet::parse(text)
            .map(Some)
            .map_err(|reason| StoreError::Corrupt { path, reason })
    }

    /// What a renewal learns before it prompts (see
    /// [`super::Store::renewal_info`]), at the store's time.
    pub fn renewal_info(
        &self,
        user: &UserName,
        policy: &crate::verdict::Policy,
        spent_by: &str,
    ) -> Result<Option<crate::renewal::Before>, StoreError> {
        Ok(self
            .read(user)?
            .map(|set| crate::renewal::Before::of(&set, policy, spent_by, self.clock.now())))
    }

    /// What a login needs before prompting (see [`super::Store::login_info`]),
    /// the lock state of `scope` by `policy` at the store's time.
    pub fn login_info(
        &self,
        user: &UserName,
        policy: &Lockout,
        scope: Scope,
    ) -> Result<Option<LoginInfo>, StoreError> {
        Ok(self.read(user)?.map(|set| LoginInfo {
            hashing: set.hashing(),
            locked: policy.locked_until(&set.tally, self.clock.now(), scope),
        }))
    }

    /// Judges a hashed attempt under the lock (see [`verdict::judge`]) and
    /// writes the changed set back before returning the outcome. The clock
    /// is read once the lock is held, so that the times concurrent attempts
    /// record follow the order in which they were judged.
    pub fn judge(&self, attempt: &Attempt<'_>) -> Result<Judgement, StoreError> {
        let lock = self.lock()?;
        let now = self.clock.now();
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
        if !matches!(outcome, Outcome::Locked(_) | Outcome::Expired { .. }) {
            // Durable before reporting: if this fails, so does the attempt.
            lock.write(attempt.user, &set)?;
        }
        Ok(Judgement::Judged(outcome))
    }

    /// Replaces `user`'s set with `new` only together with spending one of
    /// its codes, as `proof` says (see [`super::Store::renew`]): judged,
    /// written and made durable under the lock in one step. The clock is
    /// read once the lock is held.
    pub fn renew(&self, user: &UserName, proof: &Proof<'_>, new: &CodeSet) -> Result<Renewal, StoreError> {
        let lock = self.lock()?;
        let now = self.clock.now();
        let (decision, renewal) = renewal::judge(lock.read(user)?, proof, now);
        match decision {
            Decision::Keep => {}
            // Durable before reporting, as a login's failure is.
            Decision::Count(set) => lock.write(user, &set)?,
            Decision::Replace => lock.write(user, new)?,
        }
        Ok(renewal)
    }

    /// Writes the stand-in set of a login with nothing to judge under the
    /// lock (see [`super::Store::write_stand_in`]).
    pub fn write_stand_in(&self, stand_in: &CodeSet) -> Result<(), StoreError> {
        self.lock()?.write_stand_in(stand_in)
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

    /// The users that have a file in the store, sorted, and the paths of any
    /// other entries (see [`super::Store::entries`]).
    pub fn entries(&self) -> Result<(Vec<UserName>, Vec<PathBuf>), StoreError> {
        let (users, others) = self.list()?;
        Ok((users, others.iter().map(|name| self.path.join(name)).collect()))
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
            ..CheckReport::default()
        })
    }
}

pub(super) fn file_name(user: &UserName) -> String {
    format!("{user}{FILE_SUFFIX}")
}

/// User names never start with '.', so this never names a user file.
pub(super) fn temp_name(user: &UserName) -> String {
    format!(".{user}.tmp")
}

pub(super) fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
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

    #[test]
    fn renew_judges_by_the_stores_clock_read_once_under_the_lock() {
        use crate::codeset::CodeUse;
        use crate::verdict::Policy;
        use std::sync::Mutex;
        use time::Duration;
        let (_tmp, store) = test_store();
        let alice = user("alice");
        let t0 = OffsetDateTime::now_utc();
        let mut old = set();
        old.codes[0].used = Some(CodeUse {
            at: t0,
            service: "sudo".into(),
            rhost: None,
            host: None,
        });
        store.lock().unwrap().write(&alice, &old).unwrap();
        let policy = Policy::default();
        let proof = Proof::Spent {
            service: "sudo",
            within: Duration::MINUTE,
            policy: &policy,
        };
        let new = set();
        let path = store.path().to_owned();
        // Two minutes after sudo's use by the store's clock: no proof.
        let late = DirStore::open(&path)
            .unwrap()
            .with_clock(move || t0 + Duration::minutes(2));
        assert_eq!(late.renew(&alice, &proof, &new).unwrap(), Renewal::NotSpent);
        assert_eq!(store.read(&alice).unwrap().unwrap(), old);
        // Half a minute after it, by a clock that notes whether the lock is held.
        let held = Arc::new(Mutex::new(Vec::new()));
        let (dir, probes) = (path.clone(), Arc::clone(&held));
        let soon = DirStore::open(&path).unwrap().with_clock(move || {
            let probe = File::open(&dir).unwrap();
            probes.lock().unwrap().push(probe.try_lock().is_err());
            t0 + Duration::seconds(30)
        });
        assert_eq!(
            soon.renew(&alice, &proof, &new).unwrap(),
            Renewal::Renewed(Some(crate::codeset::CodeNumber::of_index(0)))
        );
        assert_eq!(*held.lock().unwrap(), [true], "read once, under the lock");
        assert_eq!(store.read(&alice).unwrap().unwrap(), new);
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
        refused(&dir, "mode 0775, writable by group or others (on the way to");
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
