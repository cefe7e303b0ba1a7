//! What sshd itself makes of its configuration for each member of a group
//! that an sshd stack asks for a code: `sshd -T -C user=U,host=H,addr=A`
//! prints the settings after every `Include` and `Match`, so a drop-in that
//! is not read, or a `Match` that does not apply to the name, shows.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The client sshd is asked about: a documentation address (RFC 5737),
/// remote and without a name, as most logins look to sshd.
pub(crate) const CLIENT_ADDR: &str = "192.0.2.1";

/// Why sshd could not tell.
#[derive(Debug)]
pub(crate) enum SshdError {
    /// sshd did not start.
    Run {
        /// The binary.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// sshd refused (a syntax error, no host key, not root).
    Failed {
        /// The user asked about.
        user: String,
        /// sshd's message.
        stderr: String,
    },
}

impl fmt::Display for SshdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Run { program, source } => write!(f, "cannot run {}: {source}", program.display()),
            Self::Failed { user, stderr } => write!(f, "sshd -T for {user} failed: {}", stderr.trim()),
        }
    }
}

impl std::error::Error for SshdError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Run { source, .. } => Some(source),
            Self::Failed { .. } => None,
        }
    }
}

/// The sshd binary: the first `sshd` on PATH, else /usr/sbin/sshd; None if
/// sshd is not installed.
pub(crate) fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("sshd"))
        .find(|candidate| candidate.is_file())
}

/// sshd's effective settings (lowercase keyword to value) for a login as
/// `user` from [`CLIENT_ADDR`], read from `config` (sshd's default if None).
pub(crate) fn effective(
    program: &Path,
    config: Option<&Path>,
    user: &str,
) -> Result<BTreeMap<String, String>, SshdError> {
    let mut command = Command::new(program);
    command.arg("-T");
    if let Some(config) = config {
        command.arg("-f").arg(config);
    }
    command
        .arg("-C")
        .arg(format!("user={user},host={CLIENT_ADDR},addr={CLIENT_ADDR}"));
    let out = command.output().map_err(|source| SshdError::Run {
        program: program.to_owned(),
        source,
    })?;
    if !out.status.success() {
        return Err(SshdError::Failed {
            user: user.into(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(key, value)| (key.to_ascii_lowercase(), value.trim().to_owned()))
        .collect())
}

/// What a member's settings let happen, each a problem: empty if the key
/// and then the code are needed, and nothing else reaches the code prompt.
pub(crate) fn judge(settings: &BTreeMap<String, String>) -> Vec<String> {
    let get = |key: &str| settings.get(key).map(String::as_str).unwrap_or_default();
    let methods = get("authenticationmethods");
    let lists: Vec<Vec<&str>> = methods
        .split_whitespace()
        .map(|list| {
            list.split(',')
                .map(|m| m.split(':').next().unwrap_or(m))
                .collect()
        })
        .collect();
    let mut found = Vec::new();
    let without =
        |method: &str| lists.is_empty() || methods == "any" || lists.iter().any(|l| !l.contains(&method));
    let any = lists.is_empty() || methods == "any";
    if any || without("publickey") || without("keyboard-interactive") {
        let how = if any {
            "with the key alone (or any other single method)"
        } else if without("publickey") {
            "without the key"
        } else {
            "without the code"
        };
        found.push(format!(
            "sshd's AuthenticationMethods is \"{methods}\", not publickey,keyboard-interactive: \
             this member logs in {how} (the Match block does not apply: is the drop-in \
             Included by sshd_config, and does the Match name the account as NSS and the \
             client spell it?)"
        ));
    }
    if get("usepam") != "yes" {
        found.push("sshd's UsePAM is not yes: the code is never asked for".into());
    } else if get("kbdinteractiveauthentication") != "yes" && !without("keyboard-interactive") {
        found.push(
            "sshd's KbdInteractiveAuthentication is not yes: the code prompt never shows, \
             the member cannot log in"
                .into(),
        );
    }
    let password_allowed = methods == "any" || lists.iter().any(|l| l.contains(&"password"));
    if get("usepam") == "yes" && get("passwordauthentication") == "yes" && password_allowed {
        found.push(
            "sshd's PasswordAuthentication is yes for this member: sshd answers every PAM \
             prompt of the auth stack with the typed password, so a code typed at the \
             password prompt logs in"
                .into(),
        );
    }
    found
}
