//! The `[postgresql]` section of the configuration: how the fleet store is
//! reached. Here, beside the store that uses it, so that the store needs
//! nothing of the configuration above it.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// The `[postgresql]` section: how the fleet store is reached.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgSettings {
    /// A root-owned 0600 file holding the role's password.
    pub password_file: Option<PathBuf>,
    /// Seconds that bound the connection and every statement of a login.
    pub connect_timeout: u64,
    /// This host's name, recorded with each use and failure.
    pub host_name: Option<String>,
    /// The CA certificate(s), PEM, for `sslmode=verify-ca|verify-full`.
    pub ca_file: Option<PathBuf>,
    /// Where root keeps a login hint per user (see `hint`); an empty path
    /// keeps none.
    pub hint_dir: PathBuf,
}

/// The default `hint_dir`.
pub const DEFAULT_HINT_DIR: &str = "/var/cache/pam-backup-codes";

/// The default `connect_timeout`, seconds.
pub const DEFAULT_CONNECT_TIMEOUT: u64 = 3;
/// The longest `connect_timeout`, seconds: a login must not hang for longer.
pub const MAX_CONNECT_TIMEOUT: u64 = 60;

impl Default for PgSettings {
    fn default() -> Self {
        Self {
            password_file: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            host_name: None,
            ca_file: None,
            hint_dir: PathBuf::from(DEFAULT_HINT_DIR),
        }
    }
}

/// What is wrong with the `[postgresql]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PgSettingsError {
    /// `connect_timeout` out of range.
    Timeout(u64),
    /// A file that is not named by an absolute path.
    RelativePath(&'static str),
    /// `host_name` empty, too long or not printable.
    HostName(String),
}

impl fmt::Display for PgSettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(secs) => write!(
                f,
                "[postgresql] connect_timeout = {secs} must be 1 to {MAX_CONNECT_TIMEOUT} seconds"
            ),
            Self::RelativePath(name) => write!(f, "[postgresql] {name} must be an absolute path"),
            Self::HostName(name) => write!(
                f,
                "[postgresql] host_name {name:?} must be 1 to 255 bytes of printable text"
            ),
        }
    }
}

impl std::error::Error for PgSettingsError {}

impl PgSettings {
    /// Checks values whose type alone does not make them valid.
    pub fn validate(&self) -> Result<(), PgSettingsError> {
        if !(1..=MAX_CONNECT_TIMEOUT).contains(&self.connect_timeout) {
            return Err(PgSettingsError::Timeout(self.connect_timeout));
        }
        if !self.hint_dir.as_os_str().is_empty() && !self.hint_dir.is_absolute() {
            return Err(PgSettingsError::RelativePath("hint_dir"));
        }
        for (name, path) in [("password_file", &self.password_file), ("ca_file", &self.ca_file)] {
            if path.as_ref().is_some_and(|p| !p.is_absolute()) {
                return Err(PgSettingsError::RelativePath(name));
            }
        }
        if let Some(host) = &self.host_name
            && (host.is_empty() || host.len() > 255 || host.chars().any(char::is_control))
        {
            return Err(PgSettingsError::HostName(host.clone()));
        }
        Ok(())
    }

    /// The hint directory, `None` if hints are off (`hint_dir = ""`).
    pub fn hints(&self) -> Option<&std::path::Path> {
        (!self.hint_dir.as_os_str().is_empty()).then_some(self.hint_dir.as_path())
    }
}
