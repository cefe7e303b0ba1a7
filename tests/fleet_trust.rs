//! The fleet store believes a server only once it has proved itself: fake
//! servers (a TLS listener with a certificate of the right CA that skips
//! authentication or asks for the password in clear or as md5), a real
//! PostgreSQL whose pg_hba.conf trusts the login role, untrusted socket
//! directories and a socket answered by a process that does not own it are
//! all refused, fail closed, `nullok` or not.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::or_skip;
use common::postgres::{Fleet, LOADED_TIMEOUT, NEEDS};

const USER: &str = "trustuser";

/// What a fake server answers to the startup message.
#[derive(Clone, Copy, Debug)]
enum Fake {
    /// AuthenticationOk: "come in, no password needed".
    Ok,
    /// AuthenticationCleartextPassword.
    Cleartext,
    /// AuthenticationMD5Password.
    Md5,
    /// AuthenticationSASL offering a mechanism other than SCRAM.
    OtherSasl,
}

fn auth_message(code: i32, extra: &[u8]) -> Vec<u8> {
    let len = i32::try_from(8 + extra.len()).unwrap();
    [&[b'R'][..], &len.to_be_bytes(), &code.to_be_bytes(), extra].concat()
}

/// A fake server's answer after the startup message: the authentication
/// request, then (should the client go on) everything a server says before
/// the first query, and `accepted` to any function call.
fn fake_answer(fake: Fake) -> Vec<u8> {
    match fake {
        Fake::Ok => [
            auth_message(0, &[]),
            b"K\0\0\0\x0c\0\0\0\x01\0\0\0\x02".to_vec(),
            b"Z\0\0\0\x05I".to_vec(),
        ]
        .concat(),
        Fake::Cleartext => auth_message(3, &[]),
        Fake::Md5 => auth_message(5, b"salt"),
        Fake::OtherSasl => auth_message(10, b"OAUTHBEARER\0\0"),
    }
}

/// Reads one length-prefixed message without a type byte (the startup).
fn read_startup(stream: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = usize::try_from(i32::from_be_bytes(len))
        .unwrap_or(0)
        .saturating_sub(4);
    let mut body = vec![0u8; len.min(65536)];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// A fake PostgreSQL on a loopback port that speaks TLS with a certificate
/// for 127.0.0.1 from `ca` (the fleet's CA: the worst case, a server that
/// got a good certificate but does not know the role's password) and
/// answers the startup as `fake` says. Sets `got_password` if the client
/// ever sends a password message.
fn fake_tls_server(cert: Vec<u8>, key: Vec<u8>, fake: Fake, got_password: Arc<AtomicBool>) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&key).unwrap();
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { continue };
            let config = Arc::clone(&config);
            let got_password = Arc::clone(&got_password);
            std::thread::spawn(move || {
                // SSLRequest, then TLS.
                if read_startup(&mut tcp).is_err() || tcp.write_all(b"S").is_err() {
                    return;
                }
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                if read_startup(&mut tls).is_err() {
                    return;
                }
                let _ = tls.write_all(&fake_answer(fake));
                let _ = tls.flush();
                let mut buf = [0u8; 4096];
                while let Ok(1..) = tls.read(&mut buf) {
                    if buf[0] == b'p' {
                        got_password.store(true, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    port
}

#[test]
fn a_fake_server_with_a_good_certificate_that_skips_or_weakens_authentication_is_refused() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let codes = fleet.generate(USER, &[]);
    let (cert, key) = fleet.cluster.ca.server("fake", "IP:127.0.0.1");
    for (fake, why) in [
        (Fake::Ok, "without any password exchange"),
        (Fake::Cleartext, "password in clear text"),
        (Fake::Md5, "md5 password"),
        (Fake::OtherSasl, "not SCRAM-SHA-256"),
    ] {
        let got_password = Arc::new(AtomicBool::new(false));
        let port = fake_tls_server(cert.clone(), key.clone(), fake, Arc::clone(&got_password));
        let uri = format!("postgresql://{}@127.0.0.1:{port}/{}", fleet.login, fleet.db);
        fleet.host_with_store("strict", &uri, "nodelay", "");
        fleet.host_with_store("lenient", &uri, "nodelay nullok", "");
        for host in ["strict", "lenient"] {
            for user in [USER, "nocodes"] {
                let login = fleet.lab.login(host, user, &[&codes[0]]);
                assert_eq!(
                    login.result(),
                    "PAM_AUTHINFO_UNAVAIL",
                    "{fake:?} {host} {user}: {login:?}"
                );
                assert!(
                    login.logged("the server did not prove itself") && login.logged(why),
                    "{fake:?}: {why:?} not in {:?}",
                    login.log
                );
            }
        }
        assert!(
            !got_password.load(Ordering::SeqCst),
            "{fake:?}: the password was sent"
        );
    }
    // The real server still takes the code no fake could spend.
    fleet.host("real", "nodelay", "");
    assert_eq!(
        fleet.lab.login("real", USER, &[&codes[0]]).result(),
        "PAM_SUCCESS"
    );
}

#[test]
fn a_plain_listener_on_the_port_is_refused() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let codes = fleet.generate(USER, &[]);
    // A local user's listener that says "no TLS here" and would then take
    // anyone in, and one that answers AuthenticationOk at once.
    for answer in [&b"N"[..], &fake_answer(Fake::Ok)[..]] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let reply = answer.to_vec();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(mut tcp) = tcp else { continue };
                let _ = read_startup(&mut tcp);
                let _ = tcp.write_all(&reply);
                let mut buf = [0u8; 4096];
                while let Ok(1..) = tcp.read(&mut buf) {}
            }
        });
        let uri = format!("postgresql://{}@127.0.0.1:{port}/{}", fleet.login, fleet.db);
        fleet.host_with_store("web1", &uri, "nodelay nullok", "");
        let login = fleet.lab.login("web1", USER, &[&codes[0]]);
        assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{login:?}");
    }
    fleet.host("real", "nodelay", "");
    assert_eq!(
        fleet.lab.login("real", USER, &[&codes[0]]).result(),
        "PAM_SUCCESS"
    );
}

#[test]
fn a_real_server_that_trusts_the_login_role_is_refused_when_a_password_is_configured() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let codes = fleet.generate(USER, &[]);
    fleet.host("web1", "nodelay", "");
    fleet.host("web2", "nodelay nullok", "");
    let hba = fleet.cluster.data.join("pg_hba.conf");
    let scram = std::fs::read_to_string(&hba).unwrap();
    // Over TLS with the right certificate, but no authentication asked.
    fleet.cluster.server_file(
        "pg_hba.conf",
        format!("hostssl all {} 127.0.0.1/32 trust\n{scram}", fleet.login).as_bytes(),
    );
    fleet.sql("SELECT pg_reload_conf()");
    for host in ["web1", "web2"] {
        let login = fleet.lab.login(host, USER, &[&codes[0]]);
        assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{host}: {login:?}");
        assert!(login.logged("without any password exchange"), "{:?}", login.log);
    }
    assert!(fleet.uses(USER).is_empty());
    // Asking for the password again, the same server is believed.
    fleet.cluster.server_file("pg_hba.conf", scram.as_bytes());
    fleet.sql("SELECT pg_reload_conf()");
    assert_eq!(
        fleet.lab.login("web1", USER, &[&codes[0]]).result(),
        "PAM_SUCCESS"
    );
}

/// A forwarder from a Unix socket in `dir` (made by root, so owned by root)
/// to the cluster's socket: a server reached through a socket directory the
/// test controls.
fn socket_forwarder(dir: &Path, port: u16, target: PathBuf) -> Arc<Mutex<u32>> {
    let listener = UnixListener::bind(dir.join(format!(".s.PGSQL.{port}"))).unwrap();
    let accepted = Arc::new(Mutex::new(0));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            *count.lock().unwrap() += 1;
            let server = UnixStream::connect(&target).unwrap();
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    accepted
}

#[test]
fn a_socket_is_believed_only_in_a_trusted_directory_from_the_process_that_owns_it() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let codes = fleet.generate(USER, &[]);
    let timeout = format!("connect_timeout = {LOADED_TIMEOUT}");
    // The cluster's own socket (its directory is the postgres account's):
    // the kernel proves the server, no password needed.
    let direct = fleet.cluster.socket_uri(&fleet.login, &fleet.db);
    fleet.host_exact("direct", &direct, "nodelay", &timeout);
    assert_eq!(
        fleet.lab.login("direct", USER, &[&codes[0]]).result(),
        "PAM_SUCCESS"
    );
    // The same with a password file: the server must then prove itself by
    // SCRAM, and this one trusts the socket instead.
    let with_password = format!("{timeout}\npassword_file = \"{}\"", fleet.password_file.display());
    fleet.host_exact("directpw", &direct, "nodelay nullok", &with_password);
    let login = fleet.lab.login("directpw", USER, &[&codes[1]]);
    assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{login:?}");
    assert!(login.logged("without any password exchange"), "{:?}", login.log);

    // A directory of root's, a forwarder of root's: trusted.
    let dir = tempfile::Builder::new()
        .prefix("pam-backup-codes-sock.")
        .tempdir()
        .unwrap();
    let port = 6544;
    let target = fleet
        .cluster
        .socket_dir
        .join(format!(".s.PGSQL.{}", fleet.cluster.port));
    let accepted = socket_forwarder(dir.path(), port, target);
    let uri = format!(
        "postgresql://{}@localhost:{port}/{}?host={}",
        fleet.login,
        fleet.db,
        dir.path().display()
    );
    fleet.host_exact("proxied", &uri, "nodelay nullok", &timeout);
    assert_eq!(
        fleet.lab.login("proxied", USER, &[&codes[1]]).result(),
        "PAM_SUCCESS"
    );
    // One short connection before the prompt, a new one after it.
    assert_eq!(*accepted.lock().unwrap(), 2);

    let refused = |why: &str| {
        let login = fleet.lab.login("proxied", USER, &[&codes[2]]);
        assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{why}: {login:?}");
        assert!(login.logged(why), "{why:?} not in {:?}", login.log);
    };
    // Writable by others (a local user could put a socket of theirs there).
    for mode in [0o777, 0o1777, 0o775] {
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        refused("writable by group or others");
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Owned by an account that is neither root nor the socket's owner.
    std::os::unix::fs::chown(dir.path(), Some(65534), None).unwrap();
    refused("owned by uid 65534, not root");
    std::os::unix::fs::chown(dir.path(), Some(0), None).unwrap();
    // The socket says it is the postgres account's, but the process that
    // answers it is root's forwarder.
    let postgres = nix::unistd::User::from_name("postgres")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    let socket = dir.path().join(format!(".s.PGSQL.{port}"));
    std::os::unix::fs::lchown(&socket, Some(postgres), None).unwrap();
    refused(&format!(
        "runs as uid 0, but the socket is owned by uid {postgres}"
    ));
    std::os::unix::fs::lchown(&socket, Some(0), None).unwrap();
    // Nothing was spent by the refused logins; put right, it works again.
    assert_eq!(fleet.uses(USER).len(), 2);
    assert_eq!(
        fleet.lab.login("proxied", USER, &[&codes[2]]).result(),
        "PAM_SUCCESS"
    );
}

#[test]
fn check_prints_the_transport_and_how_the_server_proved_itself() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let stdout = fleet.cli_stdout(&["check"]);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("note: ") && l.contains(": transport: "))
        .unwrap_or_default();
    // "note: STORE: transport: ...", as check names every finding's subject.
    assert!(
        line.ends_with(&format!(
            ": transport: TLS verify-full to 127.0.0.1:{}, SCRAM-SHA-256-PLUS",
            fleet.cluster.port
        )),
        "{stdout}"
    );
    // Over the cluster's socket, as the owner, with no password file.
    let config = fleet.lab.path().join("socket-owner.conf");
    std::fs::write(
        &config,
        format!(
            "store = \"{}\"\n[postgresql]\nconnect_timeout = {LOADED_TIMEOUT}\n",
            fleet.cluster.socket_uri(&fleet.owner, &fleet.db)
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_backup-codes"));
    cmd.arg("--config").arg(&config).arg("check");
    fleet.lab.with_lab_accounts(&mut cmd);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let postgres = nix::unistd::User::from_name("postgres")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    let want = format!(
        "transport: Unix socket {}/.s.PGSQL.{}, peer uid {postgres} (postgres), no password",
        fleet.cluster.socket_dir.display(),
        fleet.cluster.port
    );
    assert!(stdout.contains(&want), "{want:?} not in {stdout}");
    // No standby: the risk is said, as a warning.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no synchronous standby"), "{stderr}");
}
