//! Where the store is: a directory, or a PostgreSQL URI
//! (`postgresql://USER@HOST[:PORT][,HOST2[:PORT2]…]/DB[?sslmode=…]
//! [&target_session_attrs=read-write][&host=/socket/dir]`, multi-host as libpq
//! writes it).
//!
//! Over TCP the server proves itself with TLS: `verify-full` by default (also
//! on loopback, where any local user may bind a free port), `verify-ca`, or
//! `require` (which needs `ca_file`, checked when the store is opened);
//! `disable` is refused over TCP. A Unix socket carries no TLS: the kernel
//! tells who the server is (see `postgres::transport`).
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
    /// The servers, tried in this order.
    pub hosts: Vec<PgAddr>,
    /// The database.
    pub dbname: String,
    /// How TLS is used.
    pub sslmode: SslMode,
    /// Which server will do (`target_session_attrs`).
    pub target: TargetSession,
    text: String,
}

/// One server of a URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgAddr {
    /// Where the server is.
    pub host: PgHost,
    /// The TCP port, or the number in the socket's name.
    pub port: u16,
}

/// libpq's `target_session_attrs`, the values a login can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetSession {
    /// The first server that answers (libpq's default).
    Any,
    /// The first server that takes writes (`transaction_read_only` off): a
    /// standby is skipped.
    ReadWrite,
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
    /// TLS with a certificate signed by `ca_file`'s CA (as libpq does when a
    /// root certificate is given); without `ca_file` it is refused.
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
        let mut addrs = Vec::new();
        for one in hostport.split(',') {
            addrs.push(split_host_port(one).ok_or_else(|| bad("a malformed HOST[:PORT]"))?);
        }
        let mut sslmode = None;
        let mut socket = None;
        let mut target = None;
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
                Some(("target_session_attrs", attrs)) if target.is_none() => {
                    target = Some(match attrs {
                        "any" => TargetSession::Any,
                        "read-write" => TargetSession::ReadWrite,
                        _ => {
                            return Err(bad(&format!(
                                "target_session_attrs={attrs} is not supported; use any or read-write"
                            )));
                        }
                    });
                }
                Some(("password", _)) => return Err(LocationError::Password),
                _ => return Err(bad(&format!("unknown or repeated parameter {pair:?}"))),
            }
        }
        let hosts = match socket {
            // The socket directory replaces the host; the port names the socket.
            Some(dir) => match addrs.as_slice() {
                [(_, port)] => vec![PgAddr {
                    host: PgHost::Socket(dir),
                    port: port.unwrap_or(5432),
                }],
                _ => return Err(bad("host= names one socket directory: list no other hosts")),
            },
            None => addrs
                .into_iter()
                .map(|(host, port)| {
                    Ok(PgAddr {
                        host: PgHost::Tcp(host.ok_or_else(|| {
                            bad("a host is missing (name one, or a socket directory with ?host=)")
                        })?),
                        port: port.unwrap_or(5432),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let socket = matches!(hosts[0].host, PgHost::Socket(_));
        let sslmode = match sslmode {
            Some(mode) => mode,
            None if socket => SslMode::Disable,
            // Loopback included: any local user can bind a free port there.
            None => SslMode::VerifyFull,
        };
        if sslmode != SslMode::Disable && socket {
            return Err(bad("TLS over a Unix socket: use sslmode=disable, or a TCP host"));
        }
        if sslmode == SslMode::Disable && !socket {
            return Err(bad(
                "sslmode=disable over TCP: the server could not prove itself (whoever binds the port \
                 answers); use verify-full with [postgresql] ca_file, or a Unix socket directory (?host=/dir)",
            ));
        }
        Ok(Self {
            user: user.to_owned(),
            hosts,
            dbname: dbname.to_owned(),
            sslmode,
            target: target.unwrap_or(TargetSession::Any),
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
        assert_eq!(
            uri.hosts,
            [PgAddr {
                host: PgHost::Tcp("db.example.org".into()),
                port: 6432
            }]
        );
        assert_eq!(uri.dbname, "codes");
        assert_eq!(
            (uri.sslmode, uri.target),
            (SslMode::VerifyFull, TargetSession::Any)
        );
        assert_eq!(
            uri.to_string(),
            "postgresql://pam_login@db.example.org:6432/codes?sslmode=verify-full"
        );
        let socket = pg("postgres://root@/codes?host=/run/postgresql");
        assert_eq!(
            socket.hosts,
            [PgAddr {
                host: PgHost::Socket(PathBuf::from("/run/postgresql")),
                port: 5432
            }]
        );
        assert_eq!(socket.sslmode, SslMode::Disable);
        let v6 = pg("postgresql://u@[::1]:5433/db");
        assert_eq!(
            v6.hosts,
            [PgAddr {
                host: PgHost::Tcp("::1".into()),
                port: 5433
            }]
        );
        // TLS is verified unless the URI says otherwise, loopback included
        // (any local user can bind a free port there).
        assert_eq!(pg("postgresql://u@db/codes").sslmode, SslMode::VerifyFull);
        assert_eq!(pg("postgresql://u@127.0.0.1/codes").sslmode, SslMode::VerifyFull);
        assert_eq!(pg("postgresql://u@localhost/codes").sslmode, SslMode::VerifyFull);
        assert_eq!(
            pg("postgresql://u@db/codes?sslmode=require").sslmode,
            SslMode::Require
        );
    }

    #[test]
    fn multi_host_uris_are_read_as_libpq_writes_them() {
        let uri = pg("postgresql://u@db1:5433,db2,[::1]:6000/codes?target_session_attrs=read-write");
        let tcp = |host: &str, port| PgAddr {
            host: PgHost::Tcp(host.into()),
            port,
        };
        assert_eq!(uri.hosts, [tcp("db1", 5433), tcp("db2", 5432), tcp("::1", 6000)]);
        assert_eq!(uri.target, TargetSession::ReadWrite);
        assert_eq!(uri.sslmode, SslMode::VerifyFull);
        assert_eq!(
            pg("postgresql://u@a,b/codes?target_session_attrs=any").target,
            TargetSession::Any
        );
        for (text, want) in [
            ("postgresql://u@a,,b/codes", "host is missing"),
            ("postgresql://u@a,b:0/codes", "HOST[:PORT]"),
            (
                "postgresql://u@a,b/codes?target_session_attrs=standby",
                "not supported",
            ),
            (
                "postgresql://u@a,b/codes?host=/run/postgresql",
                "one socket directory",
            ),
        ] {
            let err = text.parse::<Location>().unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {want:?} not in {err:?}");
        }
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
            ("postgresql://u@/codes", "host is missing"),
            (
                "postgresql://u@db/codes?sslmode=disable",
                "sslmode=disable over TCP",
            ),
            (
                "postgresql://u@127.0.0.1/codes?sslmode=disable",
                "could not prove itself",
            ),
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
