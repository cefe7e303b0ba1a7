//! The module's pam.d arguments, parsed strictly over the configuration file.

use std::fmt;
use std::path::PathBuf;

use crate::config::{self, CodeSettings, Config, ConfigError, LoginSettings};

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

/// Everything the module needs to know, arguments applied over the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The store directory.
    pub store: PathBuf,
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
    /// An argument the module does not know.
    Unknown(String),
    /// A known argument with a bad value.
    Malformed {
        /// The argument as given.
        arg: String,
        /// What is wrong.
        reason: String,
    },
    /// The configuration file.
    Config(ConfigError),
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(arg) => write!(f, "unknown option {arg:?}"),
            Self::Malformed { arg, reason } => write!(f, "bad option {arg:?}: {reason}"),
            Self::Config(e) => write!(f, "configuration: {e}"),
        }
    }
}

fn number<T: std::str::FromStr>(arg: &str, value: &str) -> Result<T, OptionError> {
    value.parse().map_err(|_| OptionError::Malformed {
        arg: arg.to_owned(),
        reason: "not a non-negative whole number".to_owned(),
    })
}

impl Options {
    /// Parses the arguments; `config=FILE` is read first, wherever it stands.
    pub fn parse(args: &[&str]) -> Result<Self, OptionError> {
        let config_path = args
            .iter()
            .rev()
            .find_map(|a| a.strip_prefix("config="))
            .map(PathBuf::from);
        // Relative to what? The host's working directory is no place for policy.
        if let Some(path) = config_path.as_ref().filter(|p| !p.is_absolute()) {
            return Err(OptionError::Malformed {
                arg: format!("config={}", path.display()),
                reason: "the config file must be an absolute path".to_owned(),
            });
        }
        let config = Config::load(config_path.as_deref()).map_err(OptionError::Config)?;
        let mut options = Self {
            store: config.store,
            login: config.login,
            source: CodeSource::Prompt,
            codes: config.codes,
        };
        for &arg in args {
            options.apply(arg)?;
        }
        options
            .login
            .validate()
            .map_err(|reason| OptionError::Malformed {
                arg: args.join(" "),
                reason,
            })?;
        Ok(options)
    }

    fn apply(&mut self, arg: &str) -> Result<(), OptionError> {
        let login = &mut self.login;
        let (name, value) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg, None),
        };
        let malformed = |reason: &str| OptionError::Malformed {
            arg: arg.to_owned(),
            reason: reason.to_owned(),
        };
        match (name, value) {
            ("nullok", None) => login.nullok = true,
            ("nodelay", None) => login.nodelay = true,
            ("debug", None) => login.debug = true,
            ("use_first_pass" | "try_first_pass", None) => {
                let source = if name == "use_first_pass" {
                    CodeSource::UseFirstPass
                } else {
                    CodeSource::TryFirstPass
                };
                if self.source != CodeSource::Prompt && self.source != source {
                    return Err(malformed("use_first_pass and try_first_pass exclude each other"));
                }
                self.source = source;
            }
            ("config", Some(_)) => {} // read before the other arguments
            ("store", Some(dir)) => {
                if !dir.starts_with('/') {
                    return Err(malformed("the store must be an absolute path"));
                }
                self.store = PathBuf::from(dir);
            }
            ("prompt", Some(text)) => {
                config::validate_prompt(text).map_err(|reason| malformed(&reason))?;
                login.prompt = text.to_owned();
            }
            ("deny", Some(n)) => login.deny = number(arg, n)?,
            ("fail_interval", Some(n)) => login.fail_interval = number(arg, n)?,
            ("unlock_time", Some(n)) => login.unlock_time = number(arg, n)?,
            ("warn_below", Some(n)) => login.warn_below = number(arg, n)?,
            ("nullok" | "nodelay" | "debug" | "use_first_pass" | "try_first_pass", Some(_)) => {
                return Err(malformed("takes no value"));
            }
            (
                "config" | "store" | "prompt" | "deny" | "fail_interval" | "unlock_time" | "warn_below",
                None,
            ) => return Err(malformed("needs a value, as NAME=VALUE")),
            _ => return Err(OptionError::Unknown(arg.to_owned())),
        }
        Ok(())
    }
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
            "debug",
        ])
        .unwrap();
        assert_eq!(o.store, PathBuf::from("/srv/codes"));
        assert_eq!(o.source, CodeSource::TryFirstPass);
        let l = &o.login;
        assert!(l.nullok && l.nodelay && l.debug);
        assert_eq!(l.prompt, "Code please: ");
        assert_eq!(
            (l.deny, l.fail_interval, l.unlock_time, l.warn_below),
            (3, 60, 0, 5)
        );
        assert_eq!(
            parse(&["use_first_pass"]).unwrap().source,
            CodeSource::UseFirstPass
        );
        assert_eq!(parse(&[]).unwrap().login, LoginSettings::default());
    }

    #[test]
    fn bad_options_are_refused() {
        for args in [
            &["nulok"][..],
            &["deny=five"],
            &["deny=-1"],
            &["deny"],
            &["nullok=1"],
            &["store=relative/dir"],
            &["prompt="],
            &["use_first_pass", "try_first_pass"],
            &["config=/nonexistent/pam_backup_codes.conf"],
            &["config=relative.conf"],
            &["fail_interval=0"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }
}
