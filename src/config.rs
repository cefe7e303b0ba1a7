//! The optional configuration file, `/etc/security/pam_backup_codes.conf`.
//!
//! ```toml
//! store = "/var/lib/pam-backup-codes"
//!
//! [login]            # the module; pam.d arguments override these
//! nullok = false
//! prompt = "Backup code: "
//! deny = 5
//! fail_interval = 900
//! unlock_time = 900
//! nodelay = false
//! warn_below = 3
//! debug = false
//!
//! [codes]            # what `backup-codes generate` makes
//! count = 10
//! length = 10
//! alphabet = "crockford"
//! m_cost = 19456
//! t_cost = 2
//! p_cost = 1
//! ```
//!
//! The file decides whether logins need a code, so it is trusted only if it
//! is a regular file owned by root and not writable by group or others.

use std::fmt;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::code::{Alphabet, CodeFormat, FormatError};
use crate::kdf::{KdfError, KdfParams};
use crate::lockout::Lockout;
use crate::store::DEFAULT_DIR;

/// Where the configuration file is looked for by default.
pub const DEFAULT_PATH: &str = "/etc/security/pam_backup_codes.conf";
const MAX_SIZE: u64 = 64 * 1024;
/// The default prompt.
pub const DEFAULT_PROMPT: &str = "Backup code: ";

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The store directory.
    pub store: PathBuf,
    /// Module settings.
    pub login: LoginSettings,
    /// Generation settings.
    pub codes: CodeSettings,
}

/// How the module behaves; each has a pam.d argument of the same name.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginSettings {
    /// Users without codes are ignored (PAM_IGNORE) instead of refused.
    pub nullok: bool,
    /// The prompt text.
    pub prompt: String,
    /// Consecutive failures that lock the codes; 0 never locks.
    pub deny: u32,
    /// Seconds within which `deny` failures lock.
    pub fail_interval: u64,
    /// Seconds a lock lasts; 0 until `backup-codes unlock`.
    pub unlock_time: u64,
    /// No pam_fail_delay after a failure.
    pub nodelay: bool,
    /// Warn after a success when fewer codes than this remain.
    pub warn_below: u32,
    /// Log more.
    pub debug: bool,
}

impl Default for LoginSettings {
    fn default() -> Self {
        let lockout = Lockout::default();
        Self {
            nullok: false,
            prompt: DEFAULT_PROMPT.to_owned(),
            deny: lockout.deny,
            fail_interval: lockout.fail_interval,
            unlock_time: lockout.unlock_time,
            nodelay: false,
            warn_below: 3,
            debug: false,
        }
    }
}

impl LoginSettings {
    /// The lockout policy these settings describe.
    pub fn lockout(&self) -> Lockout {
        Lockout {
            deny: self.deny,
            fail_interval: self.fail_interval,
            unlock_time: self.unlock_time,
        }
    }
}

/// What new sets look like.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodeSettings {
    /// Codes per set.
    pub count: usize,
    /// Symbols per code.
    pub length: usize,
    /// Alphabet.
    pub alphabet: Alphabet,
    /// Argon2id memory, KiB.
    pub m_cost: u32,
    /// Argon2id passes.
    pub t_cost: u32,
    /// Argon2id lanes.
    pub p_cost: u32,
}

impl Default for CodeSettings {
    fn default() -> Self {
        let kdf = KdfParams::default();
        Self {
            count: 10,
            length: CodeFormat::DEFAULT.length(),
            alphabet: CodeFormat::DEFAULT.alphabet(),
            m_cost: kdf.m_cost,
            t_cost: kdf.t_cost,
            p_cost: kdf.p_cost,
        }
    }
}

impl CodeSettings {
    /// The code format.
    pub fn format(&self) -> Result<CodeFormat, FormatError> {
        CodeFormat::new(self.alphabet, self.length)
    }

    /// The KDF parameters.
    pub fn kdf(&self) -> KdfParams {
        KdfParams {
            m_cost: self.m_cost,
            t_cost: self.t_cost,
            p_cost: self.p_cost,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            store: PathBuf::from(DEFAULT_DIR),
            login: LoginSettings::default(),
            codes: CodeSettings::default(),
        }
    }
}

/// The configuration file could not be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// It could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// It is not trusted (owner, mode, type, size).
    Insecure {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Its content is invalid.
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: cannot read: {source}", path.display()),
            Self::Insecure { path, reason } => write!(f, "{}: refused, {reason}", path.display()),
            Self::Invalid { path, reason } => {
                write!(f, "{}: invalid, {}", path.display(), reason.trim_end())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Loads the file at `path`, or the default file if `path` is `None`. A
    /// missing default file means defaults; a missing named file is an error.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let (path, required) = match path {
            Some(path) => (path, true),
            None => (Path::new(DEFAULT_PATH), false),
        };
        let text = match read_trusted(path) {
            Ok(text) => text,
            Err(ConfigError::Io { source, .. }) if !required && source.kind() == io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(e) => return Err(e),
        };
        Self::parse(&text).map_err(|reason| ConfigError::Invalid {
            path: path.to_owned(),
            reason,
        })
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values whose type alone does not make them valid.
    pub fn validate(&self) -> Result<(), String> {
        self.codes.format().map_err(|e| e.to_string())?;
        if !CodeFormat::COUNTS.contains(&self.codes.count) {
            return Err(FormatError::Count(self.codes.count).to_string());
        }
        self.codes.kdf().validate().map_err(|e: KdfError| e.to_string())?;
        self.login.validate()?;
        if !self.store.is_absolute() {
            return Err(format!("store {:?} is not an absolute path", self.store));
        }
        Ok(())
    }
}

impl LoginSettings {
    /// Checks values whose type alone does not make them valid.
    pub fn validate(&self) -> Result<(), String> {
        validate_prompt(&self.prompt)?;
        if self.fail_interval == 0 {
            // A zero window would forget every failure at once: no lockout
            // at all, silently. `deny = 0` is the way to say that.
            return Err("fail_interval must be at least 1 second (deny = 0 disables the lockout)".into());
        }
        Ok(())
    }
}

/// A prompt must be printable text of sensible length.
pub fn validate_prompt(prompt: &str) -> Result<(), String> {
    if prompt.is_empty() || prompt.len() > 256 || prompt.chars().any(char::is_control) {
        return Err(format!(
            "prompt {prompt:?} must be 1 to 256 bytes of printable text"
        ));
    }
    Ok(())
}

fn read_trusted(path: &Path) -> Result<String, ConfigError> {
    let io_err = |source| ConfigError::Io {
        path: path.to_owned(),
        source,
    };
    let insecure = |reason: String| ConfigError::Insecure {
        path: path.to_owned(),
        reason,
    };
    // O_NONBLOCK: a FIFO put in its place must not hang the host process.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
        .map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(insecure("not a regular file".into()));
    }
    if meta.uid() != 0 {
        return Err(insecure(format!("owned by uid {}, not root", meta.uid())));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(insecure(format!(
            "mode {:04o} is writable by group or others",
            meta.mode() & 0o7777
        )));
    }
    if meta.len() > MAX_SIZE {
        return Err(insecure(format!("larger than {MAX_SIZE} bytes")));
    }
    let mut text = String::new();
    file.take(MAX_SIZE).read_to_string(&mut text).map_err(io_err)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_zero_fail_interval_is_refused() {
        let e = Config::parse("[login]\nfail_interval = 0\n").unwrap_err();
        assert!(e.contains("fail_interval"), "{e}");
    }

    #[test]
    fn empty_file_means_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn full_file_parses() {
        let config = Config::parse(
            "store = \"/srv/codes\"\n[login]\nnullok = true\ndeny = 3\nprompt = \"Code: \"\n\
             [codes]\ncount = 12\nlength = 12\nalphabet = \"digits\"\nm_cost = 65536\n",
        )
        .unwrap();
        assert_eq!(config.store, PathBuf::from("/srv/codes"));
        assert!(config.login.nullok);
        assert_eq!(config.login.lockout().deny, 3);
        assert_eq!(config.codes.format().unwrap().alphabet(), Alphabet::Digits);
        assert_eq!(config.codes.kdf().m_cost, 65536);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        for (text, want) in [
            ("nulok = true", "unknown field"),
            ("[login]\nnulok = true", "unknown field"),
            ("[codes]\nlength = 6", "code length 6"),
            ("[codes]\ncount = 0", "code count 0"),
            ("[codes]\nm_cost = 4194304", "m_cost"),
            ("[login]\ndeny = -1", "invalid value"),
            ("[login]\nprompt = \"\"", "prompt"),
            ("store = \"relative\"", "absolute"),
        ] {
            let err = Config::parse(text).unwrap_err();
            assert!(err.contains(want), "{want:?} not in {err:?}");
        }
    }

    #[test]
    fn files_are_trusted_only_when_root_owned_and_not_writable_by_others() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("conf");
        std::fs::write(&path, "[login]\nnullok = true\n").unwrap();
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o644)).unwrap();
        assert!(Config::load(Some(&path)).unwrap().login.nullok);
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o666)).unwrap();
        assert!(matches!(
            Config::load(Some(&path)),
            Err(ConfigError::Insecure { .. })
        ));
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o644)).unwrap();
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        assert!(matches!(
            Config::load(Some(&path)),
            Err(ConfigError::Insecure { .. })
        ));
        assert!(matches!(
            Config::load(Some(&tmp.path().join("missing"))),
            Err(ConfigError::Io { .. })
        ));
    }
}
