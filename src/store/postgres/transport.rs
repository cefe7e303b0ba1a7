//! How the client reaches a server and makes it prove itself before any
//! answer of it counts.
//!
//! - TCP (loopback included): TLS verified against `ca_file` (`verify-full`
//!   by default), then SCRAM-SHA-256 with the password file. The socket is
//!   connected here, every resolved address in turn, each within
//!   `connect_timeout`, and handed to tokio-postgres's `connect_raw`.
//! - Unix socket: only in a directory every component of which, from `/`,
//!   is owned by root or by the socket's owner and writable by no one else
//!   (the store path's walk, `trusted::open_dir_also_owned_by`); the socket is reached
//!   through that directory's descriptor, and the peer's uid (SO_PEERCRED)
//!   must own the socket. Then the kernel has proved the server, and `peer`
//!   or `trust` authentication without a password will do.
//!
//! tokio-postgres accepts whatever the server asks for (AuthenticationOk
//! without any exchange, a cleartext or md5 password) and has no
//! `require_auth`. So the stream it reads (inside TLS: the plaintext) passes
//! through an [`AuthGuard`] that reads the server's Authentication messages
//! and breaks the connection when a password is configured and the server's
//! first one is not SASL offering SCRAM-SHA-256 (it skipped authentication,
//! or asked for the password in clear or as md5, which a fake server would
//! do to get in or to learn the password), or when any asks for a method
//! other than SASL. Once SASL started, tokio-postgres itself requires the
//! server's final SCRAM message and verifies its signature
//! (`ScramSha256::finish` in postgres-protocol), which only a server that
//! knows the role's verifier can compute.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use nix::fcntl::AtFlags;
use nix::sys::stat::{SFlag, fstatat};
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::{Client, Connection, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::{PgError, describe, query_error};
use crate::store::location::{PgAddr, PgHost, SslMode, TargetSession};
use crate::trusted::{self, Problem};

/// How the server of a connection proved itself (`backup-codes check`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transport {
    /// The way to the server.
    pub channel: Channel,
    /// How the server authenticated itself to the role.
    pub auth: ServerAuth,
}

/// The way to a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Channel {
    /// TCP with TLS, the certificate verified against `ca_file`.
    Tls {
        /// `verify-full`, `verify-ca` or `require` (the chain only).
        mode: SslMode,
        /// The name the certificate was checked for.
        name: String,
        /// The address connected to.
        addr: SocketAddr,
    },
    /// A Unix socket in a trusted directory.
    Socket {
        /// The socket.
        path: PathBuf,
        /// The server process's uid (SO_PEERCRED), which owns the socket.
        peer_uid: u32,
        /// That uid's account name, if NSS knows it.
        peer_name: Option<String>,
    },
}

/// How the server authenticated itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerAuth {
    /// SCRAM (the mechanism named), the server's signature verified.
    Scram(&'static str),
    /// No password exchange (peer or trust): only over a trusted socket
    /// without a password file, where the kernel named the server.
    Kernel,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.channel {
            Channel::Tls { mode, name, addr } => {
                write!(f, "TLS {} to {addr}", mode.as_str())?;
                if addr.ip().to_string() != *name {
                    write!(f, " (certificate for {name})")?;
                }
            }
            Channel::Socket {
                path,
                peer_uid,
                peer_name,
            } => {
                write!(f, "Unix socket {}, peer uid {peer_uid}", path.display())?;
                if let Some(name) = peer_name {
                    write!(f, " ({name})")?;
                }
            }
        }
        match self.auth {
            ServerAuth::Scram(mechanism) => write!(f, ", {mechanism}"),
            ServerAuth::Kernel => f.write_str(", no password (peer or trust authentication)"),
        }
    }
}

/// What a connection needs besides the server's address.
pub(super) struct Connector<'a> {
    /// user, dbname, options, application_name, password.
    pub config: &'a tokio_postgres::Config,
    /// Whether a password is configured (then SCRAM is insisted on).
    pub password: bool,
    /// TLS for TCP (`None`: TCP is refused).
    pub tls: Option<&'a Arc<ClientConfig>>,
    /// The URI's sslmode, for reports.
    pub sslmode: SslMode,
    /// Whether a read-only server (a standby) is skipped.
    pub target: TargetSession,
    /// Each attempt's bound.
    pub timeout: Duration,
}

/// A connection, the task that drives it, and how its server proved itself.
pub(super) struct Connected {
    pub client: Client,
    pub task: JoinHandle<()>,
    pub transport: Transport,
}

impl Connector<'_> {
    /// Tries every server of `hosts` in order, and every address of each,
    /// each within the timeout; the first that proves itself (and takes
    /// writes, if asked) is used.
    pub async fn connect(&self, hosts: &[PgAddr]) -> Result<Connected, PgError> {
        let mut failures = Vec::new();
        for addr in hosts {
            match &addr.host {
                PgHost::Socket(dir) => {
                    let attempt = self.bounded(self.socket(dir, addr.port)).await;
                    match attempt {
                        Ok(connected) => return Ok(connected),
                        Err(e) => failures.push(e),
                    }
                }
                PgHost::Tcp(name) => match resolve(name, addr.port) {
                    Err(e) => failures.push(e),
                    Ok(addrs) => {
                        for sock in addrs {
                            match self.bounded(self.tcp(name, sock)).await {
                                Ok(connected) => return Ok(connected),
                                Err(e) => failures.push(e),
                            }
                        }
                    }
                },
            }
        }
        match failures.len() {
            0 => Err(PgError::connect("no server to connect to".into())),
            // One server: its own error (a timeout stays a timeout).
            1 => Err(failures.remove(0)),
            _ => Err(PgError::connect(
                failures
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
        }
    }

    /// `attempt` within the timeout.
    async fn bounded(
        &self,
        attempt: impl Future<Output = Result<Connected, PgError>>,
    ) -> Result<Connected, PgError> {
        let deadline = Instant::now() + self.timeout;
        let connected =
            tokio::time::timeout_at(deadline, attempt)
                .await
                .map_err(|_| PgError::Timeout {
                    what: "connect",
                    secs: self.timeout.as_secs(),
                })??;
        if self.target == TargetSession::ReadWrite {
            let row = tokio::time::timeout_at(
                deadline,
                connected
                    .client
                    .query_typed_one("SELECT current_setting('transaction_read_only')", &[]),
            )
            .await
            .map_err(|_| PgError::Timeout {
                what: "ask whether the server takes writes",
                secs: self.timeout.as_secs(),
            })?
            .map_err(|e| query_error("ask whether the server takes writes", e))?;
            let read_only: String = row
                .try_get(0)
                .map_err(|e| query_error("ask whether the server takes writes", e))?;
            if read_only != "off" {
                let server = connected.transport.to_string();
                close(connected, deadline).await;
                return Err(PgError::ReadOnly { server });
            }
        }
        Ok(connected)
    }

    async fn tcp(&self, name: &str, addr: SocketAddr) -> Result<Connected, PgError> {
        let tls = self
            .tls
            .ok_or_else(|| PgError::config("TCP without TLS: the server could not prove itself".into()))?;
        let server = addr.to_string();
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| PgError::connect_from(format!("{server}: {e}"), e))?;
        // A login is a few small round trips: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let watch = Watch::default();
        let mut make = MakeRustlsConnect::new(ClientConfig::clone(tls));
        let inner = match <MakeRustlsConnect as MakeTlsConnect<TcpStream>>::make_tls_connect(&mut make, name)
        {
            Ok(inner) => inner,
            Err(never) => match never {},
        };
        let guarded = GuardedTls {
            inner,
            guard: AuthGuard::new(self.password, Arc::clone(&watch)),
        };
        let mut config = self.config.clone();
        config.ssl_mode(tokio_postgres::config::SslMode::Require);
        let (client, connection) = config
            .connect_raw(stream, guarded)
            .await
            .map_err(|e| failed(&server, e, &watch))?;
        let task = spawn(connection);
        Ok(Connected {
            client,
            task,
            transport: Transport {
                channel: Channel::Tls {
                    mode: self.sslmode,
                    name: name.to_owned(),
                    addr,
                },
                auth: proof(&watch, &server)?,
            },
        })
    }

    async fn socket(&self, dir: &Path, port: u16) -> Result<Connected, PgError> {
        let name = format!(".s.PGSQL.{port}");
        let path = dir.join(&name);
        let server = path.display().to_string();
        let refuse = |reason: String| PgError::Unproven {
            server: server.clone(),
            reason,
        };
        // Who the server claims to be: the socket's owner. Everything is
        // checked again below, through the trusted directory's descriptor.
        let owner = std::os::unix::fs::MetadataExt::uid(
            &std::fs::symlink_metadata(&path)
                .map_err(|e| PgError::connect_from(format!("{server}: {e}"), e))?,
        );
        let also = (owner != 0).then_some(owner);
        let dir_fd = trusted::open_dir_also_owned_by(dir, also).map_err(|e| match e.problem {
            Problem::Missing => PgError::connect(format!("{server}: no such directory")),
            _ => refuse(e.to_string()),
        })?;
        let stat = fstatat(&dir_fd, name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| PgError::connect_from(format!("{server}: {e}"), e))?;
        if SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFSOCK {
            return Err(refuse("not a socket".into()));
        }
        if stat.st_uid != owner {
            return Err(refuse(format!(
                "replaced meanwhile (now owned by uid {})",
                stat.st_uid
            )));
        }
        // Through the checked directory, not the path again: a rename of a
        // directory on the way cannot swap it now.
        let via = format!("/proc/self/fd/{}/{name}", dir_fd.as_raw_fd());
        let stream = UnixStream::connect(&via)
            .await
            .map_err(|e| PgError::connect_from(format!("{server}: {e}"), e))?;
        drop(dir_fd);
        let peer = stream
            .peer_cred()
            .map_err(|e| PgError::connect_from(format!("{server}: SO_PEERCRED: {e}"), e))?
            .uid();
        if peer != owner {
            return Err(refuse(format!(
                "the process answering runs as uid {peer}, but the socket is owned by uid {owner}"
            )));
        }
        let watch = Watch::default();
        let guarded = Guard::new(stream, AuthGuard::new(self.password, Arc::clone(&watch)));
        let mut config = self.config.clone();
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        let (client, connection) = config
            .connect_raw(guarded, NoTls)
            .await
            .map_err(|e| failed(&server, e, &watch))?;
        let task = spawn(connection);
        let peer_name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(peer))
            .ok()
            .flatten()
            .map(|u| u.name);
        Ok(Connected {
            client,
            task,
            transport: Transport {
                channel: Channel::Socket {
                    path,
                    peer_uid: peer,
                    peer_name,
                },
                auth: proof(&watch, &server)?,
            },
        })
    }
}

/// Drives a connection until the client is dropped.
fn spawn<S, T>(connection: Connection<S, T>) -> JoinHandle<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let _ = connection.await;
    })
}

/// Closes a connection within `deadline` (as `session::close` does).
pub(super) async fn close(connected: Connected, deadline: Instant) {
    let Connected { client, task, .. } = connected;
    drop(client);
    let _ = tokio::time::timeout_at(deadline, task).await;
}

/// A failed connection as an error: the guard's refusal if it refused.
fn failed(server: &str, e: tokio_postgres::Error, watch: &Watch) -> PgError {
    match watch.lock().ok().and_then(|w| w.refused.clone()) {
        Some(reason) => PgError::Unproven {
            server: server.to_owned(),
            reason,
        },
        None => PgError::connect_from(format!("{server}: {}", describe(&e)), e),
    }
}

/// How the server proved itself, once the connection is up.
fn proof(watch: &Watch, server: &str) -> Result<ServerAuth, PgError> {
    watch
        .lock()
        .ok()
        .and_then(|w| w.proved)
        .ok_or_else(|| PgError::Unproven {
            server: server.to_owned(),
            reason: "the connection came up without an authentication the guard saw".into(),
        })
}

/// Every address of `name` (an address is taken as it is), resolved with
/// the system resolver.
fn resolve(name: &str, port: u16) -> Result<Vec<SocketAddr>, PgError> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = (name, port)
        .to_socket_addrs()
        .map_err(|e| PgError::connect_from(format!("cannot resolve {name}: {e}"), e))?
        .collect();
    if addrs.is_empty() {
        return Err(PgError::connect(format!("{name} has no address")));
    }
    Ok(addrs)
}

/// What the guard saw, shared with the connecting code.
type Watch = Arc<Mutex<Seen>>;

/// What the guard saw of the authentication.
#[derive(Debug, Default)]
struct Seen {
    /// Why the connection was broken.
    refused: Option<String>,
    /// How the server proved itself (set at AuthenticationOk).
    proved: Option<ServerAuth>,
}

/// Authentication message codes (the int32 after an `R` message's length).
mod code {
    pub const OK: i32 = 0;
    pub const CLEARTEXT: i32 = 3;
    pub const MD5: i32 = 5;
    pub const SASL: i32 = 10;
    pub const SASL_CONTINUE: i32 = 11;
    pub const SASL_FINAL: i32 = 12;
}

/// The largest message looked at before authentication ends (a server's
/// error report fits; anything longer is not a PostgreSQL server's).
const MAX_STARTUP_MESSAGE: usize = 16 * 1024;

/// Reads the server's messages up to AuthenticationOk and refuses any
/// authentication that does not prove the server (see the module's doc).
#[derive(Debug)]
struct AuthGuard {
    /// A password is configured: the server must prove itself by SCRAM.
    password: bool,
    /// Bytes of a message not complete yet.
    pending: Vec<u8>,
    /// SASL offered (and with it, SCRAM-SHA-256[-PLUS]); the mechanism the
    /// client chose once it said.
    sasl: Option<&'static str>,
    /// AuthenticationSASLFinal seen.
    sasl_final: bool,
    /// Authentication over (AuthenticationOk or an error): nothing more is
    /// looked at.
    done: bool,
    watch: Watch,
}

impl AuthGuard {
    fn new(password: bool, watch: Watch) -> Self {
        Self {
            password,
            pending: Vec::new(),
            sasl: None,
            sasl_final: false,
            done: false,
            watch,
        }
    }

    /// Takes bytes from the server; `Err` breaks the connection.
    fn read_server(&mut self, bytes: &[u8]) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        self.pending.extend_from_slice(bytes);
        while !self.done && self.pending.len() >= 5 {
            let kind = self.pending[0];
            let len =
                i32::from_be_bytes([self.pending[1], self.pending[2], self.pending[3], self.pending[4]]);
            let len = usize::try_from(len)
                .ok()
                .filter(|&l| (4..=MAX_STARTUP_MESSAGE).contains(&l));
            let Some(len) = len else {
                return self.refuse("a malformed message before authentication ended".into());
            };
            if kind != b'R' {
                // An error report (or anything else tokio-postgres will
                // refuse as unexpected): authentication did not succeed.
                self.done = true;
                break;
            }
            if self.pending.len() < 1 + len {
                break;
            }
            let body: Vec<u8> = self.pending.drain(..1 + len).skip(5).collect();
            self.authentication(&body)?;
        }
        Ok(())
    }

    /// One Authentication message's body.
    fn authentication(&mut self, body: &[u8]) -> Result<(), String> {
        let Some(code) = body
            .get(..4)
            .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        else {
            return self.refuse("a malformed authentication message".into());
        };
        match code {
            code::OK if self.sasl.is_some() && !self.sasl_final => {
                self.refuse("the server ended SCRAM without its signature".into())
            }
            code::OK if self.sasl.is_none() && self.password => self.refuse(
                "the server let the role in without any password exchange (AuthenticationOk): \
                 a server must prove itself with SCRAM-SHA-256 (is pg_hba.conf `trust` for this role?)"
                    .into(),
            ),
            code::OK => {
                self.done = true;
                self.pending = Vec::new();
                if let Ok(mut seen) = self.watch.lock() {
                    seen.proved = Some(match self.sasl {
                        Some(mechanism) => ServerAuth::Scram(mechanism),
                        None => ServerAuth::Kernel,
                    });
                }
                Ok(())
            }
            code::CLEARTEXT => self.refuse(
                "the server asks for the password in clear text: refused (a fake server would \
                 learn it), the role must use scram-sha-256"
                    .into(),
            ),
            code::MD5 => self.refuse(
                "the server asks for an md5 password: refused (md5 proves nothing about the \
                 server), the role must use scram-sha-256"
                    .into(),
            ),
            code::SASL if self.sasl.is_none() => {
                let offered: Vec<&[u8]> = body[4..]
                    .split(|&b| b == 0)
                    .take_while(|m| !m.is_empty())
                    .collect();
                if offered
                    .iter()
                    .any(|m| *m == b"SCRAM-SHA-256" || *m == b"SCRAM-SHA-256-PLUS")
                {
                    self.sasl = Some("SCRAM-SHA-256");
                    Ok(())
                } else {
                    let names: Vec<String> = offered
                        .iter()
                        .map(|m| String::from_utf8_lossy(m).into_owned())
                        .collect();
                    self.refuse(format!(
                        "the server offers SASL {} but not SCRAM-SHA-256",
                        names.join(", ")
                    ))
                }
            }
            code::SASL_CONTINUE if self.sasl.is_some() && !self.sasl_final => Ok(()),
            code::SASL_FINAL if self.sasl.is_some() && !self.sasl_final => {
                self.sasl_final = true;
                Ok(())
            }
            other => self.refuse(format!(
                "the server asks for authentication method {other} here, which is not SCRAM-SHA-256"
            )),
        }
    }

    /// Notes which SASL mechanism the client chose (its SASLInitialResponse,
    /// `p`, starts with the mechanism's name).
    fn read_client(&mut self, bytes: &[u8]) {
        if self.done || self.sasl.is_none() || self.sasl_final {
            return;
        }
        if bytes.first() == Some(&b'p')
            && bytes
                .get(5..)
                .is_some_and(|b| b.starts_with(b"SCRAM-SHA-256-PLUS\0"))
        {
            self.sasl = Some("SCRAM-SHA-256-PLUS");
        }
    }

    fn refuse(&mut self, reason: String) -> Result<(), String> {
        self.done = true;
        if let Ok(mut seen) = self.watch.lock() {
            seen.refused = Some(reason.clone());
        }
        Err(reason)
    }
}

/// A stream whose incoming bytes pass the [`AuthGuard`] first.
struct Guard<S> {
    inner: S,
    guard: AuthGuard,
}

impl<S> Guard<S> {
    fn new(inner: S, guard: AuthGuard) -> Self {
        Self { inner, guard }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        if let Err(reason) = this.guard.read_server(&buf.filled()[before..]) {
            // Nothing of the refused message reaches the client.
            buf.set_filled(before);
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::PermissionDenied, reason)));
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guard<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.guard.read_client(buf);
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: TlsStream + Unpin> TlsStream for Guard<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.inner.channel_binding()
    }
}

/// A TLS connector whose stream (the plaintext side) passes the guard.
struct GuardedTls<C> {
    inner: C,
    guard: AuthGuard,
}

impl<S, C> TlsConnect<S> for GuardedTls<C>
where
    C: TlsConnect<S>,
    C::Future: Send + 'static,
    C::Stream: Send + 'static,
{
    type Stream = Guard<C::Stream>;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Stream, Self::Error>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let Self { inner, guard } = self;
        let handshake = inner.connect(stream);
        Box::pin(async move { handshake.await.map(|tls| Guard::new(tls, guard)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(code: i32, extra: &[u8]) -> Vec<u8> {
        let len = i32::try_from(4 + 4 + extra.len()).unwrap();
        [&[b'R'][..], &len.to_be_bytes(), &code.to_be_bytes(), extra].concat()
    }

    fn guard(password: bool) -> (AuthGuard, Watch) {
        let watch = Watch::default();
        (AuthGuard::new(password, Arc::clone(&watch)), watch)
    }

    #[test]
    fn a_server_that_skips_or_weakens_authentication_is_refused() {
        for (password, code, want) in [
            (true, code::OK, "without any password exchange"),
            (true, code::CLEARTEXT, "clear text"),
            (false, code::CLEARTEXT, "clear text"),
            (true, code::MD5, "md5"),
            (true, 7, "method 7"),
            (true, code::SASL_FINAL, "method 12"),
        ] {
            let (mut g, watch) = guard(password);
            let err = g.read_server(&message(code, &[0; 4])).unwrap_err();
            assert!(err.contains(want), "{code}: {err}");
            assert_eq!(watch.lock().unwrap().refused.as_deref(), Some(err.as_str()));
            assert_eq!(watch.lock().unwrap().proved, None);
        }
        let (mut g, _) = guard(true);
        let err = g
            .read_server(&message(code::SASL, b"OAUTHBEARER\0\0"))
            .unwrap_err();
        assert!(err.contains("not SCRAM-SHA-256"), "{err}");
        // SASL, then AuthenticationOk without the server's signature.
        let (mut g, _) = guard(true);
        g.read_server(&message(code::SASL, b"SCRAM-SHA-256\0\0")).unwrap();
        g.read_server(&message(code::SASL_CONTINUE, b"r=x")).unwrap();
        assert!(
            g.read_server(&message(code::OK, &[]))
                .unwrap_err()
                .contains("signature")
        );
    }

    #[test]
    fn scram_and_kernel_proven_trust_are_accepted_in_any_chunking() {
        let stream = [
            message(code::SASL, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"),
            message(code::SASL_CONTINUE, b"r=abc"),
            message(code::SASL_FINAL, b"v=xyz"),
            message(code::OK, &[]),
            b"S\0\0\0\x08ab".to_vec(),
        ]
        .concat();
        for chunk in [1, 3, 7, stream.len()] {
            let (mut g, watch) = guard(true);
            for part in stream.chunks(chunk) {
                g.read_server(part).unwrap();
            }
            assert_eq!(
                watch.lock().unwrap().proved,
                Some(ServerAuth::Scram("SCRAM-SHA-256"))
            );
        }
        // The client's choice of channel binding is what is reported.
        let offer = message(code::SASL, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0").len();
        let (mut g, watch) = guard(true);
        g.read_server(&stream[..offer]).unwrap();
        g.read_client(b"p\0\0\0\x20SCRAM-SHA-256-PLUS\0\0\0\0\x05p=tls");
        g.read_server(&stream[offer..]).unwrap();
        assert_eq!(
            watch.lock().unwrap().proved,
            Some(ServerAuth::Scram("SCRAM-SHA-256-PLUS"))
        );
        // Without a password (a trusted socket), peer or trust will do.
        let (mut g, watch) = guard(false);
        g.read_server(&message(code::OK, &[])).unwrap();
        assert_eq!(watch.lock().unwrap().proved, Some(ServerAuth::Kernel));
        // An error before authentication is passed on (the client fails).
        let (mut g, watch) = guard(true);
        g.read_server(b"E\0\0\0\x09SFATAL\0\0").unwrap();
        assert_eq!(watch.lock().unwrap().proved, None);
    }
}
