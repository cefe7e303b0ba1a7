//! Output policy: where the plain codes go (stdout, one file, or one sheet
//! per user in a private directory), and how a sheet file is written.

use std::fmt;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where the plain codes go.
pub(crate) enum Output {
    /// Printed, one sheet after the other.
    Stdout,
    /// One user's sheet, in this file.
    File(PathBuf),
    /// One sheet per user, in this directory.
    Dir(PathBuf),
}

impl Output {
    /// Chooses from `--output` and the number of users: a path is a file for
    /// one user (unless it is a directory), else a directory, made if missing.
    pub(super) fn choose(path: Option<&Path>, users: usize) -> Result<Self, OutputError> {
        let Some(path) = path else {
            return Ok(Self::Stdout);
        };
        if users == 1 && !path.is_dir() {
            return Ok(Self::File(path.to_owned()));
        }
        Self::directory(path)
    }

    /// A directory of sheets, made (0700) if missing; an existing one must
    /// be ours and closed to others.
    pub(crate) fn directory(path: &Path) -> Result<Self, OutputError> {
        match std::fs::DirBuilder::new().mode(0o700).create(path) {
            Ok(()) => Ok(Self::Dir(path.to_owned())),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {
                private_dir(path)?;
                Ok(Self::Dir(path.to_owned()))
            }
            Err(source) => Err(OutputError::Create {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Makes stdout private when it is a regular file (`generate > sets.jsonl`
    /// in a shell with umask 022 makes it 0644): 0600 before any code is
    /// written to it, or the run is refused.
    pub(super) fn private_stdout(&self) -> Result<(), OutputError> {
        if !matches!(self, Self::Stdout) {
            return Ok(());
        }
        crate::private_stdout::make_private(None).map_err(|e| OutputError::Stdout(e.into()))
    }

    /// The file a sheet named `file_name` goes to; `None` for stdout.
    pub(super) fn sheet_path(&self, file_name: &str) -> Option<PathBuf> {
        match self {
            Self::Stdout => None,
            Self::File(path) => Some(path.clone()),
            Self::Dir(dir) => Some(dir.join(file_name)),
        }
    }
}

/// `--output` cannot be used.
#[derive(Debug)]
pub(crate) enum OutputError {
    /// The directory could not be made.
    Create { path: PathBuf, source: io::Error },
    /// The existing directory could not be examined.
    Inspect { path: PathBuf, source: io::Error },
    /// Not a directory, or not owned by the user running `generate`.
    NotOurs { path: PathBuf, euid: u32 },
    /// Group or others may write to it.
    OpenToOthers { path: PathBuf, mode: u32 },
    /// Stdout is a file that could not be made private.
    Stdout(io::Error),
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Create { path, source } => {
                write!(
                    f,
                    "{}: cannot create the output directory: {source}",
                    path.display()
                )
            }
            Self::Inspect { path, source } => write!(f, "{}: {source}", path.display()),
            Self::NotOurs { path, euid } => write!(
                f,
                "{}: refused as output directory: not a directory owned by uid {euid}",
                path.display()
            ),
            Self::OpenToOthers { path, mode } => write!(
                f,
                "{}: refused as output directory: mode {mode:04o} lets group or others write to it",
                path.display()
            ),
            Self::Stdout(e) => write!(
                f,
                "stdout is a file that cannot be made private (mode 0600): {e}; nothing was generated (use --output)"
            ),
        }
    }
}

impl std::error::Error for OutputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Create { source, .. } | Self::Inspect { source, .. } | Self::Stdout(source) => Some(source),
            Self::NotOurs { .. } | Self::OpenToOthers { .. } => None,
        }
    }
}

/// An existing directory for sheets must be ours and closed to others:
/// whoever can write to it can take the sheets away.
fn private_dir(path: &Path) -> Result<(), OutputError> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| OutputError::Inspect {
        path: path.to_owned(),
        source,
    })?;
    let euid = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != euid {
        return Err(OutputError::NotOurs {
            path: path.to_owned(),
            euid,
        });
    }
    if meta.mode() & 0o022 != 0 {
        return Err(OutputError::OpenToOthers {
            path: path.to_owned(),
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
}

/// Creates a new 0600 file (never following or replacing anything) and syncs it.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if written.is_err() {
        // Never leave half a sheet behind.
        let _ = std::fs::remove_file(path);
    }
    written
}
