//! Where the store is: a directory, or a PostgreSQL URI
//! (`postgresql://USER@HOST[:PORT]/DB[?sslmode=…][&host=/socket/dir]`).
//!
//! The URI never carries a password: pam.d files and the configuration are
//! world-readable. The password lives in `[postgresql] password_file`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// A store location, as `store` in the configuration, `--store` and
/// `store=` on a pam.d line name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A directory of one TOML file per user.
    Dir(PathBuf),
    /// A PostgreSQL database.
    Postgres(PgUri),
}

/// A PostgreSQL URI without a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgUri {
    /// The role to log in as.
    pub user: String,
    /// Where the server is.
    pub host: PgHost,
    /// The TCP port, or the number in the socket's name.
    pub port: u16,
    /// The database.
    pub dbname: String,
    /// How TLS is used.
    pub sslmode: SslMode,
    text: String,
}

/// How to reach the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PgHost {
    /// A host name or IP address, over TCP.
    Tcp(String),
    /// A directory holding the server's Unix socket.
    Socket(PathBuf),
}

/// TLS, as libpq names the modes (`prefer` and `allow` are refused: they
/// fall back to plain text without a word).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS; the certificate is verified against `ca_file` if one is set
    /// (as libpq does), otherwise not at all.
    Require,
    /// TLS with a certificate signed by `ca_file`'s CA, whatever its name.
    VerifyCa,
    /// TLS with a certificate signed by `ca_file`'s CA, for the host's name.
    VerifyFull,
}

impl SslMode {
    /// The name in a URI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// Why a store location was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocationError {
    /// Neither an absolute path nor a PostgreSQL URI.
    NotAbsolute(String),
    /// The URI holds a password.
    Password,
    /// The URI is malformed; the reason says how.
    Uri(String),
}

impl fmt::Display for LocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAbsolute(text) => write!(
                f,
                "store {text:?} is neither an absolute path nor a postgresql:// URI"
            ),
            Self::Password => f.write_str(
                "the store URI holds a password, and pam.d files and the configuration are \
                 world-readable: remove it and name a root-only file in [postgresql] password_file",
            ),
            Self::Uri(reason) => write!(f, "store URI: {reason}"),
        }
    }
}

impl std::error::Error for LocationError {}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(path) => write!(f, "{}", path.display()),
            Self::Postgres(uri) => uri.fmt(f),
        }
    }
}

impl fmt::Display for PgUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Location {
    type Err = LocationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with("postgresql://") || text.starts_with("postgres://") {
            return text.parse().map(Self::Postgres);
        }
        if text.starts_with('/') {
            return Ok(Self::Dir(PathBuf::from(text)));
        }
        Err(LocationError::NotAbsolute(text.to_owned()))
    }
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Role, database and host names: plain characters only (no percent-encoding
/// to get wrong).
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'$'))
}

impl FromStr for PgUri {
    type Err = LocationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| LocationError::Uri(format!("{reason} in {text:?}"));
        let rest = text
            .strip_prefix("postgresql://")
            .or_else(|| text.strip_prefix("postgres://"))
            .ok_or_else(|| bad("not a postgresql:// URI"))?;
        let (authority, rest) = rest.split_once('/').ok_or_else(|| bad("no /DATABASE"))?;
        let (user, hostport) = authority
            .rsplit_once('@')
            .ok_or_else(|| bad("no USER@ before the host"))?;
        if user.contains(':') {
            return Err(LocationError::Password);
        }
        if !is_name(user) {
            return Err(bad(
                "the user name is missing or has other characters than letters, digits and _-.$",
            ));
        }
        let (dbname, query) = match rest.split_once('?') {
            Some((db, query)) => (db, Some(query)),
            None => (rest, None),
        };
        if !is_name(dbname) {
            return Err(bad(
                "the database name is missing or has other characters than letters, digits and _-.$",
            ));
        }
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("a malformed HOST[:PORT]"))?;
        let mut sslmode = None;
        let mut socket = None;
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("sslmode", mode)) if sslmode.is_none() => {
                    sslmode = Some(match mode {
                        "disable" => SslMode::Disable,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        "prefer" | "allow" => {
                            return Err(bad(&format!(
                                "sslmode={mode} falls back to plain text unnoticed; use disable, require, \
                                 verify-ca or verify-full"
                            )));
                        }
                        _ => return Err(bad(&format!("unknown sslmode {mode:?}"))),
                    });
                }
                Some(("host", dir)) if socket.is_none() => {
                    if !dir.starts_with('/') {
                        return Err(bad("host= must be an absolute socket directory"));
                    }
                    socket = Some(PathBuf::from(dir));
                }
                Some(("password", _)) => return Err(LocationError::Password),
                _ => return Err(bad(&format!("unknown or repeated parameter {pair:?}"))),
            }
        }
        let host = match (socket, host) {
            (Some(dir), _) => PgHost::Socket(dir),
            (None, Some(host)) => PgHost::Tcp(host),
            (None, None) => return Err(bad("no host (name one, or a socket directory with ?host=)")),
        };
        let sslmode = match (sslmode, &host) {
            (Some(mode), _) => mode,
            // Unix sockets and loopback never leave the machine; anything else
            // is verified unless the URI says otherwise.
            (None, PgHost::Socket(_)) => SslMode::Disable,
            (None, PgHost::Tcp(name)) if is_loopback(name) => SslMode::Disable,
            (None, PgHost::Tcp(_)) => SslMode::VerifyFull,
        };
        if sslmode != SslMode::Disable && matches!(host, PgHost::Socket(_)) {
            return Err(bad("TLS over a Unix socket: use sslmode=disable, or a TCP host"));
        }
        Ok(Self {
            user: user.to_owned(),
            host,
            port: port.unwrap_or(5432),
            dbname: dbname.to_owned(),
            sslmode,
            text: text.to_owned(),
        })
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or empty (socket in the query).
fn split_host_port(text: &str) -> Option<(Option<String>, Option<u16>)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (v6, port)
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|&p| p > 0)?),
        None => None,
    };
    let host = match host {
        "" => None,
        h if is_name(h) || h.parse::<std::net::IpAddr>().is_ok() => Some(h.to_owned()),
        _ => return None,
    };
    Some((host, port))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(text: &str) -> PgUri {
        match text.parse::<Location>().unwrap() {
            Location::Postgres(uri) => uri,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn directories_and_uris_are_told_apart() {
        assert_eq!(
            "/var/lib/pam-backup-codes".parse::<Location>().unwrap(),
            Location::Dir(PathBuf::from("/var/lib/pam-backup-codes"))
        );
        let uri = pg("postgresql://pam_login@db.example.org:6432/codes?sslmode=verify-full");
        assert_eq!(uri.user, "pam_login");
        assert_eq!(uri.host, PgHost::Tcp("db.example.org".into()));
        assert_eq!((uri.port, uri.dbname.as_str()), (6432, "codes"));
        assert_eq!(uri.sslmode, SslMode::VerifyFull);
        assert_eq!(
            uri.to_string(),
            "postgresql://pam_login@db.example.org:6432/codes?sslmode=verify-full"
        );
        let socket = pg("postgres://root@/codes?host=/run/postgresql");
        assert_eq!(socket.host, PgHost::Socket(PathBuf::from("/run/postgresql")));
        assert_eq!((socket.port, socket.sslmode), (5432, SslMode::Disable));
        let v6 = pg("postgresql://u@[::1]:5433/db");
        assert_eq!((v6.host, v6.port), (PgHost::Tcp("::1".into()), 5433));
        // Off the machine, TLS is verified unless the URI says otherwise.
        assert_eq!(pg("postgresql://u@db/codes").sslmode, SslMode::VerifyFull);
        assert_eq!(pg("postgresql://u@127.0.0.1/codes").sslmode, SslMode::Disable);
        assert_eq!(
            pg("postgresql://u@db/codes?sslmode=require").sslmode,
            SslMode::Require
        );
    }

    #[test]
    fn passwords_and_malformed_uris_are_refused() {
        for text in [
            "postgresql://u:secret@db/codes",
            "postgresql://u:@db/codes",
            "postgresql://u@db/codes?password=secret",
        ] {
            assert_eq!(text.parse::<Location>(), Err(LocationError::Password), "{text}");
            assert!(LocationError::Password.to_string().contains("password_file"));
        }
        for (text, want) in [
            ("relative/dir", "absolute path"),
            ("postgresql://db/codes", "USER@"),
            ("postgresql://u@db", "/DATABASE"),
            ("postgresql://u@db/", "database name"),
            ("postgresql://u@db:0/codes", "HOST[:PORT]"),
            ("postgresql://u@db:99999/codes", "HOST[:PORT]"),
            ("postgresql://u@db/codes?sslmode=prefer", "plain text"),
            ("postgresql://u@db/codes?sslmode=bogus", "unknown sslmode"),
            ("postgresql://u@db/codes?options=-c", "unknown or repeated"),
            ("postgresql://u@/codes", "no host"),
            ("postgresql://u@/codes?host=run", "absolute socket"),
            ("postgresql://u@/codes?host=/run&sslmode=require", "Unix socket"),
            ("postgresql://u'x@db/codes", "user name"),
            ("postgresql://u@db/co%64es", "database name"),
        ] {
            let err = text.parse::<Location>().unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {want:?} not in {err:?}");
        }
    }
}
