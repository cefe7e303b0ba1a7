//! The module's pam.d arguments, parsed strictly over the configuration file.

use std::fmt;
use std::path::PathBuf;

use super::options::{self, Kind, Place};
use crate::config::{
    CodeSettings, Config, ConfigError, LoginSettings, PgSettings, Setting, Value, ValueError,
};
use crate::store::location::Location;

/// Where the code comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeSource {
    /// Ask with the prompt.
    Prompt,
    /// Take PAM_AUTHTOK from an earlier module; fail without one.
    UseFirstPass,
    /// Take PAM_AUTHTOK if it looks like a code of the user's set, else ask.
    TryFirstPass,
}

/// The arguments that only pam.d has ([`Place::PamD`] in the table); every
/// other one is a [`Setting`], shared with the configuration file.
const CONFIG: &str = "config";
const USE_FIRST_PASS: &str = "use_first_pass";
const TRY_FIRST_PASS: &str = "try_first_pass";

/// Everything the module needs to know, arguments applied over the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The store: a directory or a PostgreSQL URI.
    pub store: Location,
    /// How to reach a PostgreSQL store (the config file's `[postgresql]`).
    pub postgresql: PgSettings,
    /// The login settings.
    pub login: LoginSettings,
    /// Where the code comes from.
    pub source: CodeSource,
    /// What new sets look like: a user without codes is treated as if they
    /// had such a set (same Argon2id cost, same idea of what a code is).
    pub codes: CodeSettings,
}

/// An argument or the configuration file is wrong: the module fails closed.
#[derive(Debug)]
pub enum OptionError {
    /// An argument the module does not know (or that is not UTF-8).
    Unknown(String),
    /// A setting with a bad value.
    Malformed {
        /// The argument as given.
        arg: String,
        /// What is wrong.
        reason: ValueError,
    },
    /// A flag given a value.
    TakesNoValue(String),
    /// A setting given without `=VALUE`.
    NeedsValue(String),
    /// Both `use_first_pass` and `try_first_pass`.
    FirstPassConflict,
    /// `config=` with a relative path.
    RelativeConfig(String),
    /// The configuration file.
    Config(ConfigError),
    /// A policy setting (in pam.d or the file) with a PostgreSQL store,
    /// whose policy is the database's.
    FleetPolicy(Setting),
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(arg) => write!(f, "unknown option {arg:?}"),
            Self::Malformed { arg, reason } => write!(f, "bad option {arg:?}: {reason}"),
            Self::TakesNoValue(arg) => write!(f, "bad option {arg:?}: takes no value"),
            Self::NeedsValue(arg) => write!(f, "bad option {arg:?}: needs a value, as NAME=VALUE"),
            Self::FirstPassConflict => write!(
                f,
                "bad options: {USE_FIRST_PASS} and {TRY_FIRST_PASS} exclude each other"
            ),
            Self::RelativeConfig(arg) => {
                write!(f, "bad option {arg:?}: the config file must be an absolute path")
            }
            Self::Config(e) => write!(f, "configuration: {e}"),
            Self::FleetPolicy(setting) => write!(
                f,
                "{} is set (in pam.d or the config file) with a PostgreSQL store, whose lockout \
                 policy is the database's: remove it, and set the fleet's with `backup-codes db policy`",
                setting.name()
            ),
        }
    }
}

impl std::error::Error for OptionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Malformed { reason, .. } => Some(reason),
            Self::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl Options {
    /// Parses the arguments; `config=FILE` is read first, wherever it stands.
    pub fn parse(args: &[&str]) -> Result<Self, OptionError> {
        let config_arg = args.iter().rev().find(|a| a.starts_with("config="));
        let config_path = config_arg
            .and_then(|a| a.strip_prefix("config="))
            .map(PathBuf::from);
        // Relative to what? The host's working directory is no place for policy.
        if let (Some(arg), Some(path)) = (config_arg, &config_path)
            && !path.is_absolute()
        {
            return Err(OptionError::RelativeConfig((*arg).to_owned()));
        }
        let config = Config::load(config_path.as_deref()).map_err(OptionError::Config)?;
        Self::over(config, args)
    }

    /// Applies the arguments over `config` (the file already read): the
    /// pure half of [`parse`](Self::parse), which the fuzz target drives.
    /// `config=` is taken as read.
    pub fn over(mut config: Config, args: &[&str]) -> Result<Self, OptionError> {
        let mut source = CodeSource::Prompt;
        for &arg in args {
            apply(&mut config, &mut source, arg)?;
        }
        if let Some(setting) = config.fleet_policy_conflict() {
            return Err(OptionError::FleetPolicy(setting));
        }
        Ok(Self {
            store: config.store,
            postgresql: config.postgresql,
            login: config.login,
            source,
            codes: config.codes,
        })
    }
}

/// Applies one argument: a pam.d-only one here, a [`Setting`] through the
/// setter the configuration file uses.
fn apply(config: &mut Config, source: &mut CodeSource, arg: &str) -> Result<(), OptionError> {
    let (name, value) = match arg.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (arg, None),
    };
    let first_pass = match name {
        USE_FIRST_PASS => Some(CodeSource::UseFirstPass),
        TRY_FIRST_PASS => Some(CodeSource::TryFirstPass),
        _ => None,
    };
    if let Some(wanted) = first_pass {
        if value.is_some() {
            return Err(OptionError::TakesNoValue(arg.to_owned()));
        }
        if *source != CodeSource::Prompt && *source != wanted {
            return Err(OptionError::FirstPassConflict);
        }
        *source = wanted;
        return Ok(());
    }
    if name == CONFIG {
        // Read before the other arguments.
        return match value {
            Some(_) => Ok(()),
            None => Err(OptionError::NeedsValue(arg.to_owned())),
        };
    }
    let option = options::named(name)
        .filter(|o| o.place != Place::Config)
        .ok_or_else(|| OptionError::Unknown(arg.to_owned()))?;
    let setting = option
        .setting
        .ok_or_else(|| OptionError::Unknown(arg.to_owned()))?;
    let value = match (option.kind == Kind::Flag, value) {
        (true, None) => Value::Bool(true),
        (false, Some(text)) => Value::Arg(text),
        (true, Some(_)) => return Err(OptionError::TakesNoValue(arg.to_owned())),
        (false, None) => return Err(OptionError::NeedsValue(arg.to_owned())),
    };
    config
        .set(setting, value)
        .map_err(|reason| OptionError::Malformed {
            arg: arg.to_owned(),
            reason,
        })
}

/// What the module makes of the arguments of one pam.d line.
#[derive(Debug)]
pub struct LineSettings {
    /// The store the line uses.
    pub store: Location,
    /// How the line reaches a PostgreSQL store.
    pub postgresql: PgSettings,
    /// Whether users without codes are ignored.
    pub nullok: bool,
    /// The line's `deny` (0: no lockout).
    pub deny: u32,
}

/// Reads a pam.d line's arguments (and its configuration file) as the module
/// does, or says why the module would refuse every login through that line
/// (PAM_SERVICE_ERR). For `backup-codes check`.
pub fn line_settings(args: &[&str]) -> Result<LineSettings, OptionError> {
    let options = Options::parse(args)?;
    Ok(LineSettings {
        store: options.store,
        postgresql: options.postgresql,
        nullok: options.login.nullok,
        deny: options.login.deny,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, OptionError> {
        // A named config file that is empty: defaults, independent of /etc.
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let config = format!("config={}", tmp.path().display());
        let mut all = vec![config.as_str()];
        all.extend_from_slice(args);
        Options::parse(&all)
    }

    #[test]
    fn every_option_is_understood() {
        let o = parse(&[
            "store=/srv/codes",
            "nullok",
            "try_first_pass",
            "prompt=Code please: ",
            "deny=3",
            "fail_interval=60",
            "unlock_time=0",
            "nodelay",
            "warn_below=5",
            "max_age=365",
            "debug",
            "log_success=warning",
        ])
        .unwrap();
        assert_eq!(o.store, Location::Dir(PathBuf::from("/srv/codes")));
        assert!(matches!(
            parse(&["store=postgresql://pam@db.example.org/codes"])
                .unwrap()
                .store,
            Location::Postgres(_)
        ));
        assert_eq!(o.source, CodeSource::TryFirstPass);
        let l = &o.login;
        assert!(l.nullok && l.nodelay && l.debug);
        assert_eq!(l.prompt, "Code please: ");
        assert_eq!(
            (l.deny, l.fail_interval, l.unlock_time, l.warn_below),
            (3, 60, 0, 5)
        );
        assert_eq!(l.max_age, 365);
        assert_eq!(l.log_success, crate::audit::Severity::Warning);
        assert_eq!(
            parse(&["use_first_pass"]).unwrap().source,
            CodeSource::UseFirstPass
        );
        assert_eq!(parse(&[]).unwrap().login, LoginSettings::default());
    }

    #[test]
    fn every_setting_is_a_file_key_and_an_argument_of_the_same_name() {
        for setting in Setting::ALL {
            let name = setting.name();
            let (file_value, arg) = match setting {
                Setting::Store => ("\"/srv/codes\"".to_owned(), format!("{name}=/srv/codes")),
                Setting::Prompt => ("\"Code: \"".to_owned(), format!("{name}=Code: ")),
                Setting::LogSuccess => ("\"warning\"".to_owned(), format!("{name}=warning")),
                _ if setting.is_flag() => ("true".to_owned(), name.to_owned()),
                _ => ("7".to_owned(), format!("{name}=7")),
            };
            let section = if setting.in_login_section() {
                "[login]\n"
            } else {
                ""
            };
            let from_file = Config::parse(&format!("{section}{name} = {file_value}\n")).unwrap();
            let from_arg = parse(&[&arg]).unwrap();
            assert_ne!(from_file, Config::default(), "{name} changed nothing in the file");
            assert_eq!(
                (&from_arg.store, &from_arg.login),
                (&from_file.store, &from_file.login),
                "{name}"
            );
        }
    }

    #[test]
    fn bad_options_are_refused() {
        for args in [
            &["nulok"][..],
            &["deny=five"],
            &["deny=-1"],
            &["deny=1001"],
            &["deny"],
            &["nullok=1"],
            &["store=relative/dir"],
            &["store=postgresql://pam:secret@db/codes"],
            &["prompt="],
            &["use_first_pass", "try_first_pass"],
            &["config=/nonexistent/pam_backup_codes.conf"],
            &["config=relative.conf"],
            &["fail_interval=0"],
            &["max_age=-1"],
            &["max_age=36501"],
            &["log_success=debug"],
            &["log_success=loud"],
            &["log_success"],
            &["store=postgresql://pam@db/codes", "deny=5"],
            &["store=postgresql://pam@db/codes", "fail_interval=60"],
            &["unlock_time=0", "store=postgresql://pam@db/codes"],
            &["store=postgresql://pam@db/codes", "max_age=30"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }
}
