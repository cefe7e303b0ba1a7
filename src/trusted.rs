//! The one reader of root-owned files the module trusts: the configuration,
//! the store's files, the PostgreSQL password file and CA file.
//!
//! Whoever can change such a file, or a directory on the way to it, decides
//! who logs in, so every reader follows the same rules (the lesson of
//! CVE-2024-47191 in pam_oath):
//!
//! - the path is walked one component at a time from `/` with `O_NOFOLLOW`,
//!   and every directory on the way is checked on its descriptor as
//!   OpenSSH's StrictModes does: owned by root, not writable by group or
//!   others (a root-owned sticky directory such as `/tmp` may be on the way);
//! - the file is opened relative to its directory's descriptor with
//!   `O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY` (a FIFO or a device put
//!   in its place must not hang or disturb the host process), after a first
//!   look that refuses special files before they are opened;
//! - `fstat` on the opened descriptor decides: a regular file, owned by
//!   root, not writable (or, for a [secret](Rules::private), not even
//!   readable) by group or others, one link at most (none is a version
//!   renamed away while it was read), and no larger than the rules allow;
//! - the read is bounded, allocated fallibly, and a file that grew while
//!   it was read is refused.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::libc;
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use zeroize::Zeroizing;

/// What a file must satisfy besides being root's, regular and unlinked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Group and others may not even read it (a store file, a password).
    pub private: bool,
    /// The largest size accepted, in bytes.
    pub max_size: u64,
}

/// Why a file or a directory on the way to it is not trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Untrusted {
    /// The path is relative.
    NotAbsolute,
    /// The path has a `..` component.
    ParentDir,
    /// A component that should be a directory is not one (or is a link).
    NotDirectory,
    /// A directory is not root's; `on_the_way_to` names the path being
    /// opened when the directory is one of its parents.
    DirOwner {
        /// The owner.
        uid: u32,
        /// The second owner that was trusted besides root, if any.
        also: Option<u32>,
        /// The path being opened, for a parent directory.
        on_the_way_to: Option<PathBuf>,
    },
    /// A directory is writable by group or others.
    DirWritable {
        /// Its permission bits.
        mode: u32,
        /// The path being opened, for a parent directory.
        on_the_way_to: Option<PathBuf>,
    },
    /// The file is a symbolic link.
    Symlink,
    /// The file is a directory, FIFO, device or socket.
    NotRegular(&'static str),
    /// The file is not root's.
    Owner(u32),
    /// Group or others may write the file (or read a private one).
    Mode {
        /// Its permission bits.
        mode: u32,
        /// Whether reading by others was refused too.
        private: bool,
    },
    /// The file has more than one link.
    HardLinks(u64),
    /// The file is larger than the rules allow.
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The file grew while it was read.
    Grew,
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let way = |to: &Option<PathBuf>| {
            to.as_ref()
                .map(|to| format!(" (on the way to {})", to.display()))
                .unwrap_or_default()
        };
        match self {
            Self::NotAbsolute => f.write_str("not an absolute path"),
            Self::ParentDir => f.write_str("the path has a '..' component"),
            Self::NotDirectory => f.write_str("not a directory (or a symbolic link)"),
            Self::DirOwner {
                uid,
                also,
                on_the_way_to,
            } => {
                let owners = also.map_or_else(|| "root".to_owned(), |also| format!("root or uid {also}"));
                write!(
                    f,
                    "the directory is owned by uid {uid}, not {owners}{}",
                    way(on_the_way_to)
                )
            }
            Self::DirWritable { mode, on_the_way_to } => write!(
                f,
                "the directory has mode {mode:04o}, writable by group or others{}",
                way(on_the_way_to)
            ),
            Self::Symlink => f.write_str("the file is a symbolic link"),
            Self::NotRegular(what) => write!(f, "the file is {what}"),
            Self::Owner(uid) => write!(f, "the file is owned by uid {uid}, not root"),
            Self::Mode { mode, private: true } => {
                write!(f, "the file has mode {mode:04o}, accessible to group or others")
            }
            Self::Mode { mode, private: false } => {
                write!(f, "the file has mode {mode:04o}, writable by group or others")
            }
            Self::HardLinks(n) => write!(f, "the file has {n} hard links"),
            Self::TooLarge { size, max } => write!(f, "the file is {size} bytes, more than {max}"),
            Self::Grew => f.write_str("the file grew while it was read"),
        }
    }
}

/// A trusted file (or directory) could not be had: where, and why.
#[derive(Debug)]
pub struct TrustError {
    /// The path concerned: what was being opened, or the directory on the
    /// way to it that failed a check.
    pub path: PathBuf,
    /// What went wrong there.
    pub problem: Problem,
}

/// What went wrong with a trusted path.
#[derive(Debug)]
#[non_exhaustive]
pub enum Problem {
    /// It, or a directory on the way to it, does not exist.
    Missing,
    /// A system call failed: what was being done ("open", "read"…), and
    /// the error.
    Io(&'static str, io::Error),
    /// It fails an ownership, type, mode, link or size check.
    Untrusted(Untrusted),
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.problem {
            Problem::Missing => write!(f, "{path}: does not exist"),
            Problem::Io(action, source) => write!(f, "{path}: cannot {action}: {source}"),
            Problem::Untrusted(reason) => write!(f, "{path}: refused, {reason}"),
        }
    }
}

impl std::error::Error for TrustError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            Problem::Io(_, source) => Some(source),
            Problem::Missing | Problem::Untrusted(_) => None,
        }
    }
}

impl TrustError {
    fn new(path: &Path, problem: Problem) -> Self {
        Self {
            path: path.to_owned(),
            problem,
        }
    }

    fn io(path: &Path, action: &'static str, errno: Errno) -> Self {
        Self::new(path, Problem::Io(action, io::Error::from(errno)))
    }

    fn untrusted(path: &Path, reason: Untrusted) -> Self {
        Self::new(path, Problem::Untrusted(reason))
    }

    fn missing(path: &Path) -> Self {
        Self::new(path, Problem::Missing)
    }
}

/// Opens the directory `path` one component at a time from `/`, never
/// following a symbolic link, every directory on the way checked on its
/// descriptor (root's, not writable by group or others, a root-owned sticky
/// directory allowed on the way); `path` itself is never writable by them.
/// Trailing slashes change nothing. [`Problem::Missing`] if it or a
/// directory on the way does not exist.
pub fn open_dir(path: &Path) -> Result<OwnedFd, TrustError> {
    walk(path, path, true, None)
}

/// [`open_dir`], trusting `also` (a server's account, for its socket
/// directory) as root is trusted: each directory owned by either.
pub fn open_dir_also_owned_by(path: &Path, also: Option<u32>) -> Result<OwnedFd, TrustError> {
    walk(path, path, true, also)
}

/// Reads the file `path` under the module's rules (see the module's
/// documentation), its directory and every one above checked as
/// [`open_dir`] checks the directories on the way.
pub fn read(path: &Path, rules: &Rules) -> Result<Zeroizing<Vec<u8>>, TrustError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(TrustError::untrusted(path, Untrusted::NotAbsolute));
    };
    let dir = walk(parent, path, false, None)?;
    let name = name.to_str().ok_or_else(|| TrustError::missing(path))?;
    read_at(&dir, path, name, rules)?.ok_or_else(|| TrustError::missing(path))
}

/// Reads the file `name` of the directory `dir` (trusted by the caller, as
/// [`open_dir`] opens one) under `rules`; `path` is its full path, for
/// messages. `None` if there is no such file.
pub fn read_at(
    dir: &OwnedFd,
    path: &Path,
    name: &str,
    rules: &Rules,
) -> Result<Option<Zeroizing<Vec<u8>>>, TrustError> {
    // Refuse special files before opening them: opening a FIFO or a
    // device can block or have side effects.
    let stat = match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(TrustError::io(path, "stat", e)),
    };
    check_file(path, &stat, rules)?;
    let fd = openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::ELOOP => TrustError::untrusted(path, Untrusted::Symlink),
        e => TrustError::io(path, "open", e),
    })?;
    // The descriptor is what gets read, so it is what gets checked.
    let stat = fstat(&fd).map_err(|e| TrustError::io(path, "stat", e))?;
    check_file(path, &stat, rules)?;
    // The buffer is the file's size (within the limit, checked), allocated
    // fallibly: a memory limit is an error, not an abort of the host. One
    // byte more tells a file that grew while read.
    let size = usize::try_from(stat.st_size)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let mut bytes = Zeroizing::new(Vec::new());
    bytes.try_reserve_exact(size).map_err(|_| {
        let source = io::ErrorKind::OutOfMemory.into();
        TrustError::new(path, Problem::Io("allocate memory to read", source))
    })?;
    File::from(fd)
        .take(size as u64)
        .read_to_end(&mut bytes)
        .map_err(|source| TrustError::new(path, Problem::Io("read", source)))?;
    if bytes.len() >= size {
        return Err(TrustError::untrusted(path, Untrusted::Grew));
    }
    Ok(Some(bytes))
}

/// Walks to the directory `path` (`for_path` is what is being opened: the
/// directory itself, or a file in it). `is_target`: `path` is the directory
/// asked for, held to the strict rule (no sticky exception).
/// `also`: an owner trusted besides root.
fn walk(path: &Path, for_path: &Path, is_target: bool, also: Option<u32>) -> Result<OwnedFd, TrustError> {
    if !path.is_absolute() {
        return Err(TrustError::untrusted(for_path, Untrusted::NotAbsolute));
    }
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut walked = PathBuf::from("/");
    let mut dir =
        nix::fcntl::open("/", flags, Mode::empty()).map_err(|e| TrustError::io(&walked, "open", e))?;
    for component in path.components() {
        let name = match component {
            Component::RootDir | Component::CurDir => continue,
            Component::Normal(name) => name,
            Component::ParentDir | Component::Prefix(_) => {
                return Err(TrustError::untrusted(for_path, Untrusted::ParentDir));
            }
        };
        check_dir(&dir, &walked, Some(for_path), also)?;
        walked.push(name);
        dir = openat(&dir, name, flags, Mode::empty()).map_err(|e| match e {
            Errno::ELOOP | Errno::ENOTDIR => TrustError::untrusted(&walked, Untrusted::NotDirectory),
            // Missing here or higher up (on a trusted path).
            Errno::ENOENT => TrustError::missing(for_path),
            e => TrustError::io(&walked, "open", e),
        })?;
    }
    check_dir(&dir, &walked, (!is_target).then_some(for_path), also)?;
    Ok(dir)
}

/// Checks one directory (`walked`); `on_the_way_to` names what is being
/// opened when the directory is one of its parents (a root-owned sticky
/// directory is then allowed).
fn check_dir(
    dir: &OwnedFd,
    walked: &Path,
    on_the_way_to: Option<&Path>,
    also: Option<u32>,
) -> Result<(), TrustError> {
    let stat = fstat(dir).map_err(|e| TrustError::io(walked, "stat", e))?;
    let on_the_way_to = on_the_way_to.filter(|to| *to != walked).map(Path::to_owned);
    if stat.st_uid != 0 && Some(stat.st_uid) != also {
        return Err(TrustError::untrusted(
            walked,
            Untrusted::DirOwner {
                uid: stat.st_uid,
                also,
                on_the_way_to,
            },
        ));
    }
    // Only root's sticky directories (/tmp) may be on the way.
    let sticky = stat.st_mode & libc::S_ISVTX != 0 && stat.st_uid == 0;
    if stat.st_mode & 0o022 != 0 && (on_the_way_to.is_none() || !sticky) {
        return Err(TrustError::untrusted(
            walked,
            Untrusted::DirWritable {
                mode: stat.st_mode & 0o7777,
                on_the_way_to,
            },
        ));
    }
    Ok(())
}

fn check_file(path: &Path, stat: &FileStat, rules: &Rules) -> Result<(), TrustError> {
    let refuse = |reason| Err(TrustError::untrusted(path, reason));
    let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
    if kind != SFlag::S_IFREG {
        return refuse(match kind {
            SFlag::S_IFLNK => Untrusted::Symlink,
            SFlag::S_IFDIR => Untrusted::NotRegular("a directory"),
            SFlag::S_IFIFO => Untrusted::NotRegular("a FIFO"),
            SFlag::S_IFCHR | SFlag::S_IFBLK => Untrusted::NotRegular("a device node"),
            SFlag::S_IFSOCK => Untrusted::NotRegular("a socket"),
            _ => Untrusted::NotRegular("not a regular file"),
        });
    }
    if stat.st_uid != 0 {
        return refuse(Untrusted::Owner(stat.st_uid));
    }
    let forbidden = if rules.private { 0o077 } else { 0o022 };
    if stat.st_mode & forbidden != 0 {
        return refuse(Untrusted::Mode {
            mode: stat.st_mode & 0o7777,
            private: rules.private,
        });
    }
    // Readers take no lock, so a writer may rename a new file over the name
    // between the lookup and the stat, or between open and fstat: the inode
    // seen is then the previous version, whole, with no link left. Zero
    // links is that race; two or more is a hard link, refused.
    if stat.st_nlink > 1 {
        return refuse(Untrusted::HardLinks(stat.st_nlink));
    }
    let size = u64::try_from(stat.st_size).unwrap_or(u64::MAX);
    if size > rules.max_size {
        return refuse(Untrusted::TooLarge {
            size,
            max: rules.max_size,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{PermissionsExt, symlink};

    const SECRET: Rules = Rules {
        private: true,
        max_size: 64,
    };
    const PUBLIC: Rules = Rules {
        private: false,
        max_size: 64,
    };

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// How a case lays out `etc/file` (0600, root's, in a root-owned 0755
    /// `etc`) before it is read.
    #[derive(Clone, Copy, Debug)]
    enum Layout {
        AsIs,
        FileMode(u32),
        DirMode(u32),
        FileOwner(u32),
        DirOwner(u32),
        Symlink,
        HardLink,
        Bytes(usize),
        Fifo,
        NoFile,
        NoDir,
    }

    fn lay_out(layout: Layout, dir: &Path, file: &Path) {
        use std::os::unix::fs::chown;
        match layout {
            Layout::AsIs => {}
            Layout::FileMode(mode) => chmod(file, mode),
            Layout::DirMode(mode) => chmod(dir, mode),
            Layout::FileOwner(uid) => chown(file, Some(uid), None).unwrap(),
            Layout::DirOwner(uid) => chown(dir, Some(uid), None).unwrap(),
            Layout::Symlink => {
                fs::rename(file, dir.join("real")).unwrap();
                symlink(dir.join("real"), file).unwrap();
            }
            Layout::HardLink => fs::hard_link(file, dir.join("second")).unwrap(),
            Layout::Bytes(n) => fs::write(file, vec![b'x'; n]).unwrap(),
            Layout::Fifo => {
                fs::remove_file(file).unwrap();
                nix::unistd::mkfifo(file, Mode::from_bits_truncate(0o600)).unwrap();
            }
            Layout::NoFile => fs::remove_file(file).unwrap(),
            Layout::NoDir => fs::remove_dir_all(dir).unwrap(),
        }
    }

    /// Each rule of the reader, once: the layout, the rules the file is
    /// read under, and what the reader says (`None`: read as written).
    #[test]
    fn only_root_owned_private_unlinked_bounded_files_on_a_trusted_path_are_read() {
        use Layout::*;
        #[rustfmt::skip]
        let cases = [
            (AsIs,              SECRET, None),
            (FileMode(0o644),   PUBLIC, None),
            (Symlink,           SECRET, Some("the file is a symbolic link")),
            (FileOwner(65534),  SECRET, Some("the file is owned by uid 65534, not root")),
            (DirMode(0o770),    SECRET, Some("0770, writable by group or others (on the way to")),
            (DirMode(0o757),    PUBLIC, Some("0757, writable by group or others (on the way to")),
            (DirOwner(65534),   PUBLIC, Some("the directory is owned by uid 65534, not root (on")),
            (FileMode(0o640),   SECRET, Some("the file has mode 0640, accessible to group or others")),
            (FileMode(0o604),   SECRET, Some("the file has mode 0604, accessible to group or others")),
            (FileMode(0o664),   PUBLIC, Some("the file has mode 0664, writable by group or others")),
            (HardLink,          SECRET, Some("the file has 2 hard links")),
            (Bytes(65),         SECRET, Some("the file is 65 bytes, more than 64")),
            (Fifo,              SECRET, Some("the file is a FIFO")),
            (NoFile,            SECRET, Some("file: does not exist")),
            (NoDir,             PUBLIC, Some("file: does not exist")),
        ];
        for (layout, rules, expected) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("etc");
            fs::create_dir(&dir).unwrap();
            chmod(&dir, 0o755);
            let file = dir.join("file");
            fs::write(&file, b"secret\n").unwrap();
            chmod(&file, 0o600);
            lay_out(layout, &dir, &file);
            match (expected, read(&file, &rules)) {
                (None, Ok(bytes)) => assert_eq!(&bytes[..], b"secret\n", "{layout:?}"),
                (Some(needle), Err(e)) => assert!(e.to_string().contains(needle), "{layout:?}: {e}"),
                (None, Err(e)) => panic!("{layout:?}: refused: {e}"),
                (Some(needle), Ok(_)) => panic!("{layout:?}: read, expected {needle:?}"),
            }
        }
    }

    #[test]
    fn a_directory_is_opened_only_along_a_trusted_path() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("a/b");
        fs::create_dir_all(&store).unwrap();
        chmod(&tmp.path().join("a"), 0o755);
        assert!(open_dir(&store).is_ok());
        let with_slash = PathBuf::from(format!("{}/", store.display()));
        assert!(open_dir(&with_slash).is_ok(), "a trailing slash changes nothing");
        assert!(matches!(
            open_dir(&tmp.path().join("a/missing")),
            Err(TrustError {
                problem: Problem::Missing,
                ..
            })
        ));
        assert!(open_dir(Path::new("relative")).is_err());
        chmod(&store, 0o1777);
        let e = open_dir(&store).unwrap_err().to_string();
        assert!(e.ends_with("mode 1777, writable by group or others"), "{e}");
    }
}
