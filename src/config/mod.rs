//! The optional configuration file, `/etc/security/pam_backup_codes.conf`.
//!
//! ```toml
//! store = "/var/lib/pam-backup-codes"   # or "postgresql://USER@HOST[:PORT]/DB[?sslmode=…]"
//!
//! [login]            # the module; pam.d arguments override these
//! nullok = false
//! prompt = "Backup code: "
//! deny = 5
//! fail_interval = 900
//! unlock_time = 900
//! nodelay = false
//! warn_below = 3
//! max_age = 0       # days a set works; 0: no limit
//! debug = false
//! quiet = false     # true: no "Last backup code used ..." after a success
//!
//! [codes]            # what `backup-codes generate` makes
//! count = 10
//! length = 10
//! alphabet = "crockford"
//! check_symbol = true   # a Crockford check symbol ends each code (crockford only)
//! m_cost = 19456
//! t_cost = 2
//! p_cost = 1
//!
//! [postgresql]       # the fleet store, when `store` is a postgresql:// URI
//! password_file = "/etc/security/pam_backup_codes.pgpass"   # root, 0600
//! connect_timeout = 3
//! host_name = "web1"  # recorded with each use and failure; default: the hostname
//! ca_file = "/etc/ssl/certs/db-ca.pem"   # for sslmode=verify-ca|verify-full
//! hint_dir = "/var/cache/pam-backup-codes"   # login hints, root's; "" keeps none
//! ```
//!
//! The file decides whether logins need a code, so it is read by the crate's
//! one reader of trusted files ([`crate::trusted`]): a regular file owned by
//! root and not writable by group or others, on a path whose every directory
//! is root's and closed to writers, opened without following a link.
//!
//! `store` and the `[login]` keys are [`Setting`]s: one table of names and
//! one setter ([`Config::set`]) serve this file and the module's pam.d
//! arguments alike, as pam_faillock's options do.

pub mod args;
pub mod options;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::audit::Severity;
use crate::code::{Alphabet, CodeFormat, FormatError};
use crate::codeset::Lifetime;
use crate::kdf::{KdfError, KdfParams};
use crate::lockout::{Lockout, MAX_DENY};
use crate::store::DEFAULT_DIR;
use crate::store::location::{Location, LocationError};
pub use crate::store::postgres::{MAX_CONNECT_TIMEOUT, PgSettings, PgSettingsError};
use crate::trusted::{self, Problem, Rules, TrustError, Untrusted};
use crate::verdict::Policy;

/// Where the configuration file is looked for by default.
pub const DEFAULT_PATH: &str = "/etc/security/pam_backup_codes.conf";
const MAX_SIZE: u64 = 64 * 1024;
/// The default prompt.
pub const DEFAULT_PROMPT: &str = "Backup code: ";
/// The longest `max_age`, in days (a hundred years).
pub const MAX_AGE_DAYS: u32 = 36_500;

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The store: a directory or a PostgreSQL URI.
    pub store: Location,
    /// Module settings.
    pub login: LoginSettings,
    /// Generation settings.
    pub codes: CodeSettings,
    /// How to reach a PostgreSQL store.
    pub postgresql: PgSettings,
    /// The policy settings (deny, fail_interval, unlock_time, max_age) that
    /// were given, in the file or as pam.d arguments, rather than defaulted:
    /// with a PostgreSQL store they are refused ([`Config::fleet_policy_conflict`]).
    pub policy_given: Vec<Setting>,
}

/// How the module behaves; each is a [`Setting`], a `[login]` key and a
/// pam.d argument of the same name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginSettings {
    /// Users without codes are ignored (PAM_IGNORE) instead of refused.
    pub nullok: bool,
    /// The prompt text.
    pub prompt: String,
    /// Failures within `fail_interval` that lock the codes; 0 never locks.
    pub deny: u32,
    /// Seconds within which `deny` failures lock.
    pub fail_interval: u64,
    /// Seconds a lock lasts; 0 until `backup-codes unlock`.
    pub unlock_time: u64,
    /// No pam_fail_delay after a failure.
    pub nodelay: bool,
    /// Warn after a success when fewer codes than this remain.
    pub warn_below: u32,
    /// Days a set works, counted from its creation; 0 means no limit. The
    /// last tenth of that life warns after each success.
    pub max_age: u32,
    /// Log more.
    pub debug: bool,
    /// No last-use notice after a success.
    pub quiet: bool,
    /// The syslog severity of a success (a break-glass line logs it louder).
    pub log_success: Severity,
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
            max_age: 0,
            debug: false,
            quiet: false,
            log_success: Severity::Notice,
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

    /// How long codes live under these settings.
    pub fn lifetime(&self) -> Lifetime {
        Lifetime::from_days(self.max_age)
    }

    /// The rules a login is judged by.
    pub fn policy(&self) -> Policy {
        Policy {
            lockout: self.lockout(),
            lifetime: self.lifetime(),
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
    /// New crockford codes end with a check symbol (ignored for digits).
    pub check_symbol: bool,
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
            check_symbol: CodeFormat::DEFAULT.check_symbol(),
            m_cost: kdf.m_cost,
            t_cost: kdf.t_cost,
            p_cost: kdf.p_cost,
        }
    }
}

impl CodeSettings {
    /// The code format.
    pub fn format(&self) -> Result<CodeFormat, FormatError> {
        CodeFormat::new(self.alphabet, self.length).map(|f| f.with_check_symbol(self.check_symbol))
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
            store: Location::Dir(PathBuf::from(DEFAULT_DIR)),
            login: LoginSettings::default(),
            codes: CodeSettings::default(),
            postgresql: PgSettings::default(),
            policy_given: Vec::new(),
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
        reason: Untrusted,
    },
    /// Its content is invalid.
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: InvalidConfig,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: cannot read: {source}", path.display()),
            Self::Insecure { path, reason } => write!(f, "{}: refused, {reason}", path.display()),
            Self::Invalid { path, source } => write!(f, "{}: invalid, {source}", path.display()),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Insecure { .. } => None,
            Self::Invalid { source, .. } => Some(source),
        }
    }
}

/// What is wrong with the configuration's content.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidConfig {
    /// Not TOML, or a key or type TOML's schema refuses.
    Toml(Box<toml::de::Error>),
    /// A `[login]` key that is not a login setting.
    UnknownLogin(String),
    /// A setting with a bad value.
    Setting {
        /// The setting.
        setting: Setting,
        /// What is wrong with its value.
        problem: ValueError,
    },
    /// `[codes]`: alphabet, length or count out of range.
    Format(FormatError),
    /// `[codes]`: Argon2id parameters out of range.
    Kdf(KdfError),
    /// `[postgresql]`: a value out of range.
    Postgres(PgSettingsError),
}

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Toml(e) => f.write_str(e.to_string().trim_end()),
            Self::UnknownLogin(name) => {
                write!(f, "unknown field `{name}` in [login], expected one of")?;
                let login = Setting::ALL.iter().filter(|s| s.in_login_section());
                for (i, setting) in login.enumerate() {
                    write!(f, "{} `{}`", if i == 0 { "" } else { "," }, setting.name())?;
                }
                Ok(())
            }
            Self::Setting { setting, problem } => write!(f, "{}: {problem}", setting.name()),
            Self::Format(e) => write!(f, "{e}"),
            Self::Kdf(e) => write!(f, "{e}"),
            Self::Postgres(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for InvalidConfig {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Toml(e) => Some(&**e),
            Self::Setting { problem, .. } => Some(problem),
            Self::Format(e) => Some(e),
            Self::Kdf(e) => Some(e),
            Self::Postgres(e) => Some(e),
            Self::UnknownLogin(_) => None,
        }
    }
}

/// A setting of the module, named the same in the configuration file (the
/// top-level `store`, the rest under `[login]`) and as a pam.d argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Setting {
    /// `store`: the store directory (an absolute path) or a PostgreSQL URI.
    Store,
    /// `nullok`: users without codes are ignored instead of refused.
    Nullok,
    /// `prompt`: the prompt text.
    Prompt,
    /// `deny`: failures that lock; 0 never locks.
    Deny,
    /// `fail_interval`: seconds within which `deny` failures lock; at least 1.
    FailInterval,
    /// `unlock_time`: seconds a lock lasts; 0 until `backup-codes unlock`.
    UnlockTime,
    /// `nodelay`: no delay after a failure.
    Nodelay,
    /// `warn_below`: warn when fewer codes than this remain.
    WarnBelow,
    /// `max_age`: days a set works; 0 for no limit.
    MaxAge,
    /// `debug`: log more.
    Debug,
    /// `quiet`: no last-use notice after a success.
    Quiet,
    /// `log_success`: the syslog severity of a success (default notice).
    LogSuccess,
}

impl Setting {
    /// Every setting, in the order the documentation lists them.
    pub const ALL: [Self; 12] = [
        Self::Store,
        Self::Nullok,
        Self::Prompt,
        Self::Deny,
        Self::FailInterval,
        Self::UnlockTime,
        Self::Nodelay,
        Self::WarnBelow,
        Self::MaxAge,
        Self::Debug,
        Self::Quiet,
        Self::LogSuccess,
    ];

    /// The name, in the file and as a pam.d argument ([`options::OPTIONS`]).
    pub fn name(self) -> &'static str {
        options::of(self).map_or("?", |o| o.name)
    }

    /// The setting of this name.
    pub fn named(name: &str) -> Option<Self> {
        options::named(name).and_then(|o| o.setting)
    }

    /// A flag is true or false in the file, and a bare name in pam.d.
    pub fn is_flag(self) -> bool {
        options::of(self).is_some_and(|o| o.kind == options::Kind::Flag)
    }

    /// Whether it is part of the lockout or lifetime policy, which a fleet
    /// store keeps in its database ([`options::Fleet::Refused`] in the
    /// table).
    pub fn is_policy(self) -> bool {
        options::of(self).is_some_and(|o| o.fleet == options::Fleet::Refused)
    }

    /// Whether the file has it under `[login]` (all but `store`).
    pub fn in_login_section(self) -> bool {
        options::of(self).is_some_and(|o| o.section == Some("login"))
    }
}

/// A setting's value as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// A TOML boolean, or a bare pam.d flag (true).
    Bool(bool),
    /// A TOML integer.
    Integer(i64),
    /// A TOML string.
    String(&'a str),
    /// The text after `NAME=` of a pam.d argument, to be read as the
    /// setting's type.
    Arg(&'a str),
    /// A TOML value of another type.
    Other,
}

impl<'a> From<&'a toml::Value> for Value<'a> {
    fn from(value: &'a toml::Value) -> Self {
        match value {
            toml::Value::Boolean(b) => Self::Bool(*b),
            toml::Value::Integer(n) => Self::Integer(*n),
            toml::Value::String(s) => Self::String(s),
            _ => Self::Other,
        }
    }
}

/// Why a setting's value was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueError {
    /// A flag given something other than true or false.
    NotBool,
    /// A number that is not a whole number in range.
    NotNumber,
    /// Text given something other than a string.
    NotText,
    /// A path that is not absolute.
    RelativePath,
    /// A prompt that is empty, too long or not printable.
    Prompt,
    /// `fail_interval = 0`.
    ZeroInterval,
    /// `deny` above [`MAX_DENY`].
    TooManyDeny,
    /// `store`: neither an absolute path nor a usable PostgreSQL URI.
    Store(LocationError),
    /// A `max_age` over [`MAX_AGE_DAYS`].
    MaxAge,
    /// A `log_success` that is not a syslog severity name.
    Severity,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Self::Store(e) = self {
            return e.fmt(f);
        }
        f.write_str(match self {
            Self::NotBool => "invalid value, expected true or false",
            Self::NotNumber => "invalid value, expected a non-negative whole number",
            Self::NotText => "invalid value, expected a string",
            Self::RelativePath => "must be an absolute path",
            Self::Prompt => "must be 1 to 256 bytes of printable text",
            // A zero window would forget every failure at once: no lockout
            // at all, silently. `deny = 0` is the way to say that.
            Self::ZeroInterval => "must be at least 1 second (deny = 0 disables the lockout)",
            Self::TooManyDeny => "must be at most 1000",
            Self::Store(_) => "",
            Self::MaxAge => "must be at most 36500 days (0 means no limit)",
            Self::Severity => "must be one of alert, crit, err, warning, notice, info",
        })
    }
}

impl std::error::Error for ValueError {}

fn flag(value: Value<'_>) -> Result<bool, ValueError> {
    match value {
        Value::Bool(b) => Ok(b),
        _ => Err(ValueError::NotBool),
    }
}

fn number<T: TryFrom<i64> + std::str::FromStr>(value: Value<'_>) -> Result<T, ValueError> {
    let n = match value {
        Value::Integer(n) => T::try_from(n).ok(),
        Value::Arg(text) => text.parse().ok(),
        _ => None,
    };
    n.ok_or(ValueError::NotNumber)
}

fn text(value: Value<'_>) -> Result<&str, ValueError> {
    match value {
        Value::String(text) | Value::Arg(text) => Ok(text),
        _ => Err(ValueError::NotText),
    }
}

/// A prompt must be printable text of sensible length.
fn check_prompt(prompt: &str) -> Result<(), ValueError> {
    if prompt.is_empty() || prompt.len() > 256 || prompt.chars().any(char::is_control) {
        return Err(ValueError::Prompt);
    }
    Ok(())
}

fn check_max_age(days: u32) -> Result<(), ValueError> {
    if days > MAX_AGE_DAYS {
        return Err(ValueError::MaxAge);
    }
    Ok(())
}

fn check_deny(deny: u32) -> Result<(), ValueError> {
    if deny > MAX_DENY {
        return Err(ValueError::TooManyDeny);
    }
    Ok(())
}

fn check_fail_interval(seconds: u64) -> Result<(), ValueError> {
    if seconds == 0 {
        return Err(ValueError::ZeroInterval);
    }
    Ok(())
}

/// The file as TOML sees it: `[codes]` is typed by serde, while `store` and
/// `[login]` go through [`Config::set`], the setter the pam.d arguments use.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    store: Option<toml::Value>,
    #[serde(default)]
    login: toml::Table,
    #[serde(default)]
    codes: CodeSettings,
    #[serde(default)]
    postgresql: PgSettings,
}

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
        Self::parse(&text).map_err(|source| ConfigError::Invalid {
            path: path.to_owned(),
            source,
        })
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> Result<Self, InvalidConfig> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| InvalidConfig::Toml(Box::new(e)))?;
        let mut config = Self {
            codes: file.codes,
            postgresql: file.postgresql,
            ..Self::default()
        };
        let top = file.store.iter().map(|value| (Setting::Store, value));
        let login = file.login.iter().map(|(name, value)| {
            Setting::named(name)
                .filter(|s| s.in_login_section())
                .map(|setting| (setting, value))
                .ok_or_else(|| InvalidConfig::UnknownLogin(name.clone()))
        });
        for given in top.map(Ok).chain(login) {
            let (setting, value) = given?;
            config
                .set(setting, Value::from(value))
                .map_err(|problem| InvalidConfig::Setting { setting, problem })?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Sets `setting` to `value`, checked: the one place both the file and
    /// the pam.d arguments go through.
    pub fn set(&mut self, setting: Setting, value: Value<'_>) -> Result<(), ValueError> {
        if setting.is_policy() && !self.policy_given.contains(&setting) {
            self.policy_given.push(setting);
        }
        let login = &mut self.login;
        match setting {
            Setting::Store => {
                self.store = text(value)?.parse().map_err(ValueError::Store)?;
            }
            Setting::Nullok => login.nullok = flag(value)?,
            Setting::Prompt => {
                let prompt = text(value)?;
                check_prompt(prompt)?;
                prompt.clone_into(&mut login.prompt);
            }
            Setting::Deny => {
                let deny = number(value)?;
                check_deny(deny)?;
                login.deny = deny;
            }
            Setting::FailInterval => {
                let seconds = number(value)?;
                check_fail_interval(seconds)?;
                login.fail_interval = seconds;
            }
            Setting::UnlockTime => login.unlock_time = number(value)?,
            Setting::Nodelay => login.nodelay = flag(value)?,
            Setting::WarnBelow => login.warn_below = number(value)?,
            Setting::MaxAge => {
                let days = number(value)?;
                check_max_age(days)?;
                login.max_age = days;
            }
            Setting::Debug => login.debug = flag(value)?,
            Setting::Quiet => login.quiet = flag(value)?,
            Setting::LogSuccess => {
                login.log_success = Severity::named(text(value)?).ok_or(ValueError::Severity)?;
            }
        }
        Ok(())
    }

    /// The first policy setting given together with a PostgreSQL store: the
    /// fleet's policy is the database's (`backup-codes db policy`), and a
    /// host that says otherwise is refused rather than silently overruled.
    pub fn fleet_policy_conflict(&self) -> Option<Setting> {
        match self.store {
            Location::Postgres(_) => self.policy_given.first().copied(),
            Location::Dir(_) => None,
        }
    }

    /// Checks values whose type alone does not make them valid.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        self.codes.format().map_err(InvalidConfig::Format)?;
        if !CodeFormat::COUNTS.contains(&self.codes.count) {
            return Err(InvalidConfig::Format(FormatError::Count(self.codes.count)));
        }
        self.codes.kdf().validate().map_err(InvalidConfig::Kdf)?;
        let checks = [
            (Setting::Prompt, check_prompt(&self.login.prompt)),
            (Setting::Deny, check_deny(self.login.deny)),
            (
                Setting::FailInterval,
                check_fail_interval(self.login.fail_interval),
            ),
            (Setting::MaxAge, check_max_age(self.login.max_age)),
        ];
        for (setting, check) in checks {
            check.map_err(|problem| InvalidConfig::Setting { setting, problem })?;
        }
        self.postgresql.validate().map_err(InvalidConfig::Postgres)
    }
}

/// The file: root's, not writable by group or others (it may be readable:
/// it holds no secret), on a trusted path, at most [`MAX_SIZE`] bytes.
const CONFIG_FILE: Rules = Rules {
    private: false,
    max_size: MAX_SIZE,
};

fn read_trusted(path: &Path) -> Result<String, ConfigError> {
    let bytes = trusted::read(path, &CONFIG_FILE).map_err(|TrustError { path, problem }| match problem {
        Problem::Untrusted(reason) => ConfigError::Insecure { path, reason },
        Problem::Io(_, source) => ConfigError::Io { path, source },
        // Missing, as the caller tells a missing default file apart.
        _ => ConfigError::Io {
            path,
            source: io::ErrorKind::NotFound.into(),
        },
    })?;
    String::from_utf8(bytes.to_vec()).map_err(|_| ConfigError::Io {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_zero_fail_interval_is_refused() {
        let e = Config::parse("[login]\nfail_interval = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fail_interval"), "{e}");
    }

    #[test]
    fn a_policy_setting_with_a_fleet_store_is_a_conflict() {
        let fleet = "store = \"postgresql://pam@db/codes\"\n";
        assert_eq!(Config::parse(fleet).unwrap().fleet_policy_conflict(), None);
        for (key, setting) in [
            ("deny = 5", Setting::Deny),
            ("fail_interval = 900", Setting::FailInterval),
            ("unlock_time = 60", Setting::UnlockTime),
            ("max_age = 0", Setting::MaxAge),
        ] {
            let text = format!("{fleet}[login]\n{key}\n");
            assert_eq!(
                Config::parse(&text).unwrap().fleet_policy_conflict(),
                Some(setting),
                "{key}"
            );
            let files = format!("[login]\n{key}\n");
            assert_eq!(
                Config::parse(&files).unwrap().fleet_policy_conflict(),
                None,
                "{key}"
            );
        }
        let other = format!("{fleet}[login]\nnullok = true\nwarn_below = 2\n");
        assert_eq!(Config::parse(&other).unwrap().fleet_policy_conflict(), None);
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
        assert_eq!(config.store, Location::Dir(PathBuf::from("/srv/codes")));
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
            ("[login]\nstore = \"/srv\"", "unknown field"),
            ("[login]\nnullok = 1", "true or false"),
            ("[login]\ndeny = \"5\"", "invalid value"),
            ("[codes]\nlength = 6", "code length 6"),
            ("[codes]\ncount = 0", "code count 0"),
            ("[codes]\nm_cost = 4194304", "m_cost"),
            ("[login]\ndeny = -1", "invalid value"),
            ("[login]\nprompt = \"\"", "prompt"),
            ("store = \"relative\"", "absolute"),
            ("store = \"postgresql://u:pw@db/codes\"", "password_file"),
            ("[postgresql]\nconnect_timeout = 0", "connect_timeout"),
            ("[postgresql]\npassword_file = \"pw\"", "absolute"),
            ("[postgresql]\nhost_name = \"\"", "host_name"),
            ("[postgresql]\nport = 5432", "unknown field"),
            ("[login]\nmax_age = 40000", "max_age"),
        ] {
            let err = Config::parse(text).unwrap_err().to_string();
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
