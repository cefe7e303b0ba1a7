//! A throwaway PostgreSQL cluster for the fleet tests: `initdb` into a
//! private temporary directory as the `postgres` user (initdb refuses root),
//! started with `pg_ctl` on a private socket directory and a free loopback
//! port, stopped and removed on Drop. The system's cluster is never touched.
//!
//! Authentication: trust on the private socket (the tests' own psql runs as
//! any role there), scram-sha-256 over TCP, which is TLS only, with a
//! certificate for 127.0.0.1 from the cluster's own throwaway CA (the
//! module's `ca_file`, `verify-full`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User};
use pam_backup_codes::config::PgSettings;
use tempfile::TempDir;

use super::Lab;
use super::system::{free_port, run, unique};

/// The directory of the newest installed PostgreSQL server binaries.
pub fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The need, for [`or_skip!`](super::or_skip), of PostgreSQL's server and
/// its `postgres` user.
pub const SERVER: &str = "PostgreSQL's server";

/// What the fleet tests need besides root.
pub const NEEDS: &[&str] = &["openssl", "psql", SERVER];

/// Whether PostgreSQL's server and its `postgres` user are installed.
pub fn server_available() -> bool {
    server_bin().is_some() && User::from_name("postgres").ok().flatten().is_some()
}

/// A running private cluster.
pub struct Cluster {
    /// Everything: data, socket, log; owned by postgres, 0700.
    pub dir: TempDir,
    pub data: PathBuf,
    pub socket_dir: PathBuf,
    pub port: u16,
    pub bin: PathBuf,
    /// The CA that signed the server's certificate (for 127.0.0.1).
    pub ca: TestCa,
    uid: u32,
    gid: u32,
}

impl Cluster {
    /// initdb and start; panics with the server's log if it cannot.
    pub fn start() -> Self {
        let bin = server_bin().expect("PostgreSQL server binaries");
        let user = User::from_name("postgres").unwrap().expect("a postgres user");
        let dir = tempfile::Builder::new()
            .prefix("pam-backup-codes-pg.")
            .tempdir()
            .unwrap();
        // The postgres user must reach its own data: the whole directory is
        // its, and private.
        std::os::unix::fs::chown(dir.path(), Some(user.uid.as_raw()), Some(user.gid.as_raw())).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let data = dir.path().join("data");
        let socket_dir = dir.path().join("socket");
        let mut cluster = Self {
            data,
            socket_dir,
            port: 0,
            bin,
            ca: TestCa::new(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            dir,
        };
        let mkdir = cluster
            .as_postgres("mkdir")
            .arg(&cluster.socket_dir)
            .output()
            .unwrap();
        assert!(mkdir.status.success());
        let out = cluster
            .as_postgres(&cluster.bin.join("initdb").to_string_lossy())
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256", "-D"])
            .arg(&cluster.data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let (cert, key) = cluster.ca.server("db", "IP:127.0.0.1");
        cluster.server_tls_files(&cert, &key);
        for attempt in 0.. {
            cluster.port = free_port();
            cluster.write_conf("");
            if cluster.try_start() {
                return cluster;
            }
            let log = cluster.log();
            assert!(
                attempt < 3 && log.contains("already in use"),
                "PostgreSQL did not start:\n{log}"
            );
        }
        unreachable!()
    }

    /// A streaming standby of `primary` (`pg_basebackup -R -X stream` over
    /// the primary's socket, as the postgres user), started on a port of its
    /// own. Its TLS files are the primary's (a certificate for 127.0.0.1 from
    /// the primary's CA), so one `ca_file` verifies both.
    pub fn standby_of(primary: &Cluster) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pam-backup-codes-pg.")
            .tempdir()
            .unwrap();
        std::os::unix::fs::chown(dir.path(), Some(primary.uid), Some(primary.gid)).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let mut standby = Self {
            data: dir.path().join("data"),
            socket_dir: dir.path().join("socket"),
            port: 0,
            bin: primary.bin.clone(),
            ca: TestCa::new(),
            uid: primary.uid,
            gid: primary.gid,
            dir,
        };
        assert!(
            standby
                .as_postgres("mkdir")
                .arg(&standby.socket_dir)
                .status()
                .unwrap()
                .success()
        );
        let out = standby
            .as_postgres(&standby.bin.join("pg_basebackup").to_string_lossy())
            .arg("-h")
            .arg(&primary.socket_dir)
            .args([
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "-D",
            ])
            .arg(&standby.data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_basebackup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for attempt in 0.. {
            standby.port = free_port();
            standby.write_conf("");
            if standby.try_start() {
                return standby;
            }
            let log = standby.log();
            assert!(
                attempt < 3 && log.contains("already in use"),
                "the standby did not start:\n{log}"
            );
        }
        unreachable!()
    }

    /// Promotes a standby to primary, waiting until it takes writes.
    pub fn promote(&self) {
        let out = self.pg_ctl(&["-w", "-t", "60", "promote"]);
        assert!(out.status.success(), "pg_ctl promote: {}", self.log());
    }

    fn as_postgres(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.uid(self.uid).gid(self.gid).current_dir(self.dir.path());
        cmd.env("LC_ALL", "C");
        cmd
    }

    /// (Re)writes the settings the cluster starts with; `extra` is appended
    /// (a standby's `primary_conninfo`, written by pg_basebackup, is kept).
    pub fn write_conf(&self, extra: &str) {
        let path = self.data.join("postgresql.auto.conf");
        let kept: String = fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("primary_conninfo"))
            .map(|l| format!("{l}\n"))
            .collect();
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             max_connections = 200\nlog_line_prefix = '%m [%p] %u '\nfsync = on\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n{extra}\n",
            self.port,
            self.socket_dir.display()
        );
        fs::write(&path, format!("{conf}{kept}")).unwrap();
        std::os::unix::fs::chown(&path, Some(self.uid), Some(self.gid)).unwrap();
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        self.as_postgres(&self.bin.join("pg_ctl").to_string_lossy())
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(args)
            .output()
            .unwrap()
    }

    fn try_start(&self) -> bool {
        self.pg_ctl(&["-w", "-t", "60", "start"]).status.success()
    }

    /// Starts a stopped cluster.
    pub fn start_again(&self) {
        assert!(self.try_start(), "PostgreSQL did not start:\n{}", self.log());
    }

    /// Stops the cluster (fast: sessions are terminated).
    pub fn stop(&self) {
        let out = self.pg_ctl(&["-w", "-t", "60", "-m", "fast", "stop"]);
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Restarts the cluster (fast).
    pub fn restart(&self) {
        let out = self.pg_ctl(&["-w", "-t", "60", "-m", "fast", "restart"]);
        assert!(out.status.success(), "pg_ctl restart: {}", self.log());
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The postmaster's process id.
    pub fn postmaster_pid(&self) -> Pid {
        let text = fs::read_to_string(self.data.join("postmaster.pid")).unwrap();
        Pid::from_raw(text.lines().next().unwrap().trim().parse().unwrap())
    }

    /// Every process of the cluster (postmaster and its children).
    pub fn processes(&self) -> Vec<Pid> {
        let parent = self.postmaster_pid();
        let mut pids = vec![parent];
        for entry in fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            if ppid == Some(parent.as_raw()) {
                pids.push(Pid::from_raw(pid));
            }
        }
        pids
    }

    /// Sends `signal` to every process of the cluster (SIGSTOP: hung).
    pub fn signal_all(&self, signal: Signal) {
        for pid in self.processes() {
            let _ = kill(pid, signal);
        }
    }

    /// Runs SQL through psql as `role` on `db`: Ok(output) or Err(stderr).
    pub fn try_sql(&self, role: &str, db: &str, sql: &str) -> Result<String, String> {
        let out = run(Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.socket_dir)
            .args(["-p", &self.port.to_string(), "-U", role, "-d", db, "-c", sql])
            .env("LC_ALL", "C"));
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs SQL as the superuser, failing the test on error.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        self.try_sql("postgres", db, sql)
            .unwrap_or_else(|e| panic!("psql {sql:?}: {e}"))
    }

    /// A new database owned by a new role `owner`, and a login role with
    /// `password` (both with unique names): (db, owner, login).
    pub fn fleet_database(&self, password: &str) -> (String, String, String) {
        let db = unique("bcdb");
        let owner = unique("bcowner");
        let login = unique("bclogin");
        self.sql(
            "postgres",
            &format!("CREATE ROLE {owner} LOGIN PASSWORD '{password}'"),
        );
        self.sql(
            "postgres",
            &format!("CREATE ROLE {login} LOGIN PASSWORD '{password}'"),
        );
        self.sql("postgres", &format!("CREATE DATABASE {db} OWNER {owner}"));
        (db, owner, login)
    }

    /// `postgresql://ROLE@127.0.0.1:PORT/DB` (TLS verify-full by default).
    pub fn tcp_uri(&self, role: &str, db: &str) -> String {
        format!("postgresql://{role}@127.0.0.1:{}/{db}", self.port)
    }

    /// psql as `role` on `db` over TCP with `password`, as a remote client
    /// reaches the cluster: TLS, the server's certificate verified against
    /// the cluster's CA and its name (`verify-full`), then SCRAM.
    pub fn psql_tcp(&self, role: &str, db: &str, password: &str) -> Command {
        let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
        let conninfo = format!(
            "host=127.0.0.1 port={} user={} dbname={} sslmode=verify-full sslrootcert={}",
            self.port,
            quote(role),
            quote(db),
            quote(&self.ca.cert.to_string_lossy())
        );
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args(["-X", "-q", "-d", &conninfo])
            .env("PGPASSWORD", password)
            .env("LC_ALL", "C");
        cmd
    }

    /// A tokio-postgres client as `role` on `db` over TCP with `password`,
    /// connected on `runtime` (which drives its connection): TLS required
    /// and verified as by [`Cluster::psql_tcp`], then SCRAM.
    pub fn tls_client(
        &self,
        runtime: &tokio::runtime::Runtime,
        role: &str,
        db: &str,
        password: &str,
    ) -> tokio_postgres::Client {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user(role)
            .dbname(db)
            .password(password)
            .ssl_mode(tokio_postgres::config::SslMode::Require);
        runtime.block_on(async {
            let (client, connection) = config
                .connect(self.ca.client_tls())
                .await
                .unwrap_or_else(|e| panic!("{role} over TLS: {e}"));
            tokio::spawn(async move {
                let _ = connection.await;
            });
            client
        })
    }

    /// The same over the private socket.
    pub fn socket_uri(&self, role: &str, db: &str) -> String {
        format!(
            "postgresql://{role}@localhost:{}/{db}?host={}",
            self.port,
            self.socket_dir.display()
        )
    }

    /// Waits until `sql` (as the superuser) prints `want`, up to `secs`.
    pub fn wait_for(&self, db: &str, sql: &str, want: &str, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if self.try_sql("postgres", db, sql).is_ok_and(|out| out == want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// The directory for files the server reads (TLS keys), owned by postgres.
    pub fn server_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.data.join(name);
        fs::write(&path, bytes).unwrap();
        std::os::unix::fs::chown(&path, Some(self.uid), Some(self.gid)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A test may have left the server stopped (SIGSTOP): wake it first.
        if self.data.join("postmaster.pid").exists() {
            self.signal_all(Signal::SIGCONT);
            let _ = self.pg_ctl(&["-w", "-t", "30", "-m", "immediate", "stop"]);
        }
    }
}

/// `connect_timeout` of the tests that do not test it: a CI machine
/// running many tests at once can take seconds to fork a backend.
pub const LOADED_TIMEOUT: u64 = 30;

/// The password of every role the fleet tests create.
pub const PASSWORD: &str = "fleet test password, 'quoted' \\ and long";

/// A fleet: a cluster with a database, its owner (the CLI's role) and a
/// login role (the module's), schema installed by `backup-codes db init`,
/// and "hosts" (PAM services in the lab, each with its own configuration
/// and `host_name`) logging in over TCP with a password file.
pub struct Fleet {
    pub lab: Lab,
    pub cluster: Cluster,
    pub db: String,
    pub owner: String,
    pub login: String,
    pub password_file: PathBuf,
    pub owner_config: PathBuf,
}

impl Fleet {
    /// A fleet with the schema in place.
    pub fn new() -> Self {
        let fleet = Self::without_schema();
        fleet.cli_ok(&["db", "init", "--login-role", &fleet.login]);
        fleet
    }

    /// A fleet whose database has no schema yet.
    pub fn without_schema() -> Self {
        let lab = Lab::new();
        let cluster = Cluster::start();
        let escaped = PASSWORD.replace('\'', "''");
        let (db, owner, login) = cluster.fleet_database(&escaped);
        let password_file = lab.path().join("pgpass");
        fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        fs::set_permissions(&password_file, fs::Permissions::from_mode(0o600)).unwrap();
        let owner_config = lab.path().join("owner.conf");
        fs::write(
            &owner_config,
            format!(
                "store = \"{}\"\n[postgresql]\npassword_file = \"{}\"\nca_file = \"{}\"\n\
                 connect_timeout = {LOADED_TIMEOUT}\n",
                cluster.tcp_uri(&owner, &db),
                password_file.display(),
                cluster.ca.cert.display()
            ),
        )
        .unwrap();
        Self {
            lab,
            cluster,
            db,
            owner,
            login,
            password_file,
            owner_config,
        }
    }

    /// Gives the owner's configuration (the CLI's) these `[login]` lines.
    pub fn owner_login(&self, lines: &str) {
        let text = fs::read_to_string(&self.owner_config).unwrap();
        fs::write(&self.owner_config, format!("{text}[login]\n{lines}\n")).unwrap();
    }

    /// The CLI as the database owner.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-codes"));
        cmd.arg("--config").arg(&self.owner_config);
        self.lab.with_lab_accounts(&mut cmd);
        cmd
    }

    /// Runs the CLI as the owner: (exit code, stdout, stderr).
    pub fn run_cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cli().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs the CLI as the owner, which must succeed: its output.
    pub fn cli_ok(&self, args: &[&str]) -> Output {
        let out = self.cli().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "backup-codes {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs the CLI as the owner, which must succeed: its stdout.
    pub fn cli_stdout(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.cli_ok(args).stdout).into_owned()
    }

    /// The `[postgresql]` settings of an honest host or admin of this fleet:
    /// the password file, the cluster's CA (`verify-full`), the loaded
    /// `connect_timeout`, and `host_name`.
    pub fn pg_settings(&self, host_name: Option<&str>) -> PgSettings {
        PgSettings {
            password_file: Some(self.password_file.clone()),
            ca_file: Some(self.cluster.ca.cert.clone()),
            connect_timeout: LOADED_TIMEOUT,
            host_name: host_name.map(str::to_owned),
            // Never the host's own /var/cache: the lab's.
            hint_dir: self.lab.path().join("hints-in-process"),
        }
    }

    /// The login role's URI.
    pub fn login_uri(&self) -> String {
        self.cluster.tcp_uri(&self.login, &self.db)
    }

    /// Host `host` (options `nodelay`), a set for `user`, and one login
    /// there with its first code: the set's codes.
    pub fn logged_in_once(&self, host: &str, user: &str) -> Vec<String> {
        self.host(host, "nodelay", "");
        let codes = self.generate(user, &[]);
        let first = self.lab.login(host, user, &[&codes[0]]);
        assert_eq!(first.result(), "PAM_SUCCESS", "{first:?}");
        codes
    }

    /// A host: the PAM service `name` with its own configuration file (the
    /// login role's URI, the password file, `host_name = name`, and the
    /// `[postgresql]` lines in `extra`), our module alone with `options`.
    pub fn host(&self, name: &str, options: &str, extra: &str) {
        self.host_with_store(name, &self.login_uri(), options, extra);
    }

    /// [`Fleet::host`] with another store URI.
    pub fn host_with_store(&self, name: &str, store: &str, options: &str, extra: &str) {
        let config = self.host_config(name, store, extra);
        self.lab.service(
            name,
            &format!("auth required MODULE config={} {options}\n", config.display()),
        );
    }

    /// The configuration file of a host `name` (see [`Fleet::host`]).
    pub fn host_config(&self, name: &str, store: &str, extra: &str) -> PathBuf {
        // The defaults, unless `extra` sets them.
        let timeout = if extra.contains("connect_timeout") {
            String::new()
        } else {
            format!("connect_timeout = {LOADED_TIMEOUT}\n")
        };
        let password = if extra.contains("password_file") {
            String::new()
        } else {
            format!("password_file = \"{}\"\n", self.password_file.display())
        };
        let ca = if extra.contains("ca_file") {
            String::new()
        } else {
            format!("ca_file = \"{}\"\n", self.cluster.ca.cert.display())
        };
        self.host_config_exact(name, store, &format!("{password}{ca}{timeout}{extra}"))
    }

    /// The configuration file of a host `name` with exactly these
    /// `[postgresql]` lines (besides `host_name`): no default added.
    /// Each host keeps its login hints in the lab (`hints-NAME`), never in
    /// the host's own /var/cache, unless `lines` sets `hint_dir`.
    pub fn host_config_exact(&self, name: &str, store: &str, lines: &str) -> PathBuf {
        let config = self.lab.path().join(format!("{name}.conf"));
        let hints = if lines.contains("hint_dir") {
            String::new()
        } else {
            format!("hint_dir = \"{}\"\n", self.hint_dir(name).display())
        };
        fs::write(
            &config,
            format!("store = \"{store}\"\n[postgresql]\nhost_name = \"{name}\"\n{hints}{lines}\n"),
        )
        .unwrap();
        config
    }

    /// Where the host `name` keeps its login hints (see
    /// [`Fleet::host_config_exact`]).
    pub fn hint_dir(&self, name: &str) -> PathBuf {
        self.lab.path().join(format!("hints-{name}"))
    }

    /// A host whose configuration has exactly these `[postgresql]` lines.
    pub fn host_exact(&self, name: &str, store: &str, options: &str, lines: &str) {
        let config = self.host_config_exact(name, store, lines);
        self.lab.service(
            name,
            &format!("auth required MODULE config={} {options}\n", config.display()),
        );
    }

    /// Makes `user` an account of the lab, generates a set for it through
    /// the CLI (replacing any) and returns its codes.
    pub fn generate(&self, user: &str, extra: &[&str]) -> Vec<String> {
        self.lab.add_user(user);
        let out = self.cli_ok(&[&["generate", "--replace", "--format", "json", user], extra].concat());
        super::codes(&serde_json::from_slice(&out.stdout).unwrap())
    }

    /// `status --format json` for one user.
    pub fn status(&self, user: &str) -> serde_json::Value {
        let out = self.cli_ok(&["status", "--format", "json", user]);
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        value[0].clone()
    }

    /// SQL as the superuser in the fleet's database.
    pub fn sql(&self, sql: &str) -> String {
        self.cluster.sql(&self.db, sql)
    }

    /// SQL as the login role in the fleet's database.
    pub fn sql_as_login(&self, sql: &str) -> Result<String, String> {
        self.cluster.try_sql(&self.login, &self.db, sql)
    }

    /// Where and on which host each used code of `user` went, in use order.
    pub fn uses(&self, user: &str) -> Vec<String> {
        let out = self.sql(&format!(
            "SELECT used_host || ' ' || used_service || ' ' || coalesce(used_rhost, '-') \
             FROM backup_codes.codes WHERE user_name = '{user}' AND used_at IS NOT NULL ORDER BY used_at"
        ));
        out.lines().map(str::to_owned).collect()
    }
}

/// A superuser transaction holding the row lock on a user's set, so that a
/// login's judgement waits for it; released (rolled back) on Drop.
pub struct HeldSet {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
}

impl Fleet {
    /// Takes the row lock on `user`'s set in a transaction of its own.
    pub fn hold_set(&self, user: &str) -> HeldSet {
        use std::io::{BufRead, BufReader, Write};
        let mut child = Command::new(self.cluster.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-h"])
            .arg(&self.cluster.socket_dir)
            .args([
                "-p",
                &self.cluster.port.to_string(),
                "-U",
                "postgres",
                "-d",
                &self.db,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(
            stdin,
            "BEGIN; SELECT 'held' FROM backup_codes.sets WHERE user_name = '{user}' FOR UPDATE;"
        )
        .unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "held", "the set of {user} exists");
        HeldSet {
            child,
            stdin: Some(stdin),
        }
    }

    /// Waits until a login's backend waits for a lock (its judgement is
    /// blocked by [`Fleet::hold_set`]); returns its pid.
    pub fn blocked_login(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let pid = self.sql(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'pam_backup_codes' \
                 AND wait_event_type = 'Lock' LIMIT 1",
            );
            if !pid.is_empty() {
                return pid;
            }
            assert!(Instant::now() < deadline, "no login came to wait for the lock");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until no login has a session any more.
    pub fn no_login_sessions(&self) -> bool {
        self.cluster.wait_for(
            &self.db,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pam_backup_codes'",
            "0",
            30,
        )
    }
}

impl HeldSet {
    /// Rolls the holding transaction back.
    pub fn release(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        use std::io::Write;
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "ROLLBACK;");
        }
        let _ = self.child.wait();
    }
}

impl Drop for HeldSet {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A test CA made by openssl, and server certificates it signs.
pub struct TestCa {
    pub dir: TempDir,
    pub cert: PathBuf,
    key: PathBuf,
}

/// `openssl req` arguments for a new unencrypted EC P-256 key.
const EC_P256_KEY: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

fn openssl(args: &[&str], dir: &std::path::Path) {
    let out = run(Command::new("openssl").args(args).current_dir(dir));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCa {
    /// A new CA (EC P-256, valid a day).
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pam-backup-codes-ca.")
            .tempdir()
            .unwrap();
        openssl(
            &[
                &["req", "-x509"][..],
                EC_P256_KEY,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.crt",
                    "-days",
                    "1",
                    "-subj",
                    "/CN=pam-backup-codes test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            ]
            .concat(),
            dir.path(),
        );
        Self {
            cert: dir.path().join("ca.crt"),
            key: dir.path().join("ca.key"),
            dir,
        }
    }

    /// A TLS connector for tokio-postgres that trusts this CA alone and
    /// checks the server's name (rustls verifies the certificate chain and
    /// the name, as `verify-full`).
    pub fn client_tls(&self) -> tokio_postgres_rustls::MakeRustlsConnect {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&self.cert).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_postgres_rustls::MakeRustlsConnect::new(config)
    }

    /// A server certificate and key for `san` (`IP:127.0.0.1`,
    /// `DNS:db.example`): (certificate PEM, key PEM).
    pub fn server(&self, name: &str, san: &str) -> (Vec<u8>, Vec<u8>) {
        let dir = self.dir.path();
        let (key, csr, cert, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        fs::write(
            dir.join(&ext),
            format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
        )
        .unwrap();
        openssl(
            &[
                &["req"][..],
                EC_P256_KEY,
                &["-keyout", &key, "-out", &csr, "-subj", &format!("/CN={name}")],
            ]
            .concat(),
            dir,
        );
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                self.cert.to_str().unwrap(),
                "-CAkey",
                self.key.to_str().unwrap(),
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "1",
                "-extfile",
                &ext,
            ],
            dir,
        );
        (
            fs::read(dir.join(cert)).unwrap(),
            fs::read(dir.join(key)).unwrap(),
        )
    }
}

impl Cluster {
    /// Serves TLS with this certificate and key, and accepts TCP clients
    /// only over TLS.
    pub fn serve_tls(&self, cert: &[u8], key: &[u8]) {
        self.server_tls_files(cert, key);
        self.restart();
    }

    /// The certificate, key and pg_hba.conf the cluster starts with: trust on
    /// the socket, TLS and SCRAM over TCP.
    fn server_tls_files(&self, cert: &[u8], key: &[u8]) {
        self.server_file("server.crt", cert);
        self.server_file("server.key", key);
        self.server_file(
            "pg_hba.conf",
            b"local all all trust\nlocal replication all trust\n\
              hostssl all all 127.0.0.1/32 scram-sha-256\n",
        );
    }
}

/// A PgBouncer in transaction pooling mode in front of a cluster's socket,
/// with its own authentication (scram-sha-256, a userlist holding the
/// roles' SCRAM secrets as the server stores them) and TLS for its clients
/// (a certificate for 127.0.0.1 from the cluster's CA). Runs as the
/// postgres user (PgBouncer refuses root); killed on Drop.
pub struct Bouncer {
    pub dir: TempDir,
    pub port: u16,
    child: std::process::Child,
}

/// PgBouncer's binary (Debian's package).
pub const PGBOUNCER: &str = "/usr/sbin/pgbouncer";

impl Bouncer {
    /// Starts one for `db` of `cluster`, letting in `roles`, with at most
    /// `pool` server connections.
    pub fn start(cluster: &Cluster, db: &str, roles: &[&str], pool: u32) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pam-backup-codes-bouncer.")
            .tempdir()
            .unwrap();
        let own = |path: &std::path::Path, mode: u32| {
            std::os::unix::fs::chown(path, Some(cluster.uid), Some(cluster.gid)).unwrap();
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
        };
        own(dir.path(), 0o700);
        let (cert, key) = cluster.ca.server("bouncer", "IP:127.0.0.1");
        let file = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            fs::write(&path, bytes).unwrap();
            own(&path, 0o600);
            path
        };
        file("bouncer.crt", &cert);
        file("bouncer.key", &key);
        let mut users = String::new();
        for role in roles {
            let secret = cluster.sql(
                "postgres",
                &format!("SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'"),
            );
            assert!(secret.starts_with("SCRAM-SHA-256$"), "{role}: {secret}");
            users += &format!("\"{role}\" \"{secret}\"\n");
        }
        file("userlist.txt", users.as_bytes());
        let port = free_port();
        let conf = file(
            "pgbouncer.ini",
            format!(
                "[databases]\n{db} = host={socket} port={pgport} dbname={db}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                 unix_socket_dir = {dir}\nauth_type = scram-sha-256\n\
                 auth_file = {dir}/userlist.txt\npool_mode = transaction\n\
                 default_pool_size = {pool}\nmax_client_conn = 1000\n\
                 client_tls_sslmode = require\nclient_tls_cert_file = {dir}/bouncer.crt\n\
                 client_tls_key_file = {dir}/bouncer.key\n\
                 ignore_startup_parameters = options\nlogfile = {dir}/bouncer.log\n",
                socket = cluster.socket_dir.display(),
                pgport = cluster.port,
                dir = dir.path().display(),
            )
            .as_bytes(),
        );
        let child = Command::new(PGBOUNCER)
            .arg(&conf)
            .uid(cluster.uid)
            .gid(cluster.gid)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut bouncer = Self { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return bouncer;
            }
            if bouncer.child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("pgbouncer did not start:\n{}", bouncer.log());
    }

    /// PgBouncer's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("bouncer.log")).unwrap_or_default()
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of the login role's own, holding its password (what root on a
/// fleet host holds), on a runtime of its own: a hostile host in the tests.
#[allow(dead_code)] // not every test crate uses it
pub struct LoginRole {
    /// Its runtime.
    pub runtime: tokio::runtime::Runtime,
    /// Its connection, over TLS as the cluster's pg_hba demands.
    pub client: tokio_postgres::Client,
}

#[allow(dead_code)] // not every test crate uses it
impl LoginRole {
    /// Connects as the fleet's login role.
    pub fn connect(fleet: &Fleet) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = fleet
            .cluster
            .tls_client(&runtime, &fleet.login, &fleet.db, PASSWORD);
        Self { runtime, client }
    }

    /// Runs `sql`; the server's message if it fails.
    pub fn batch(&self, sql: &str) -> Result<(), String> {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .map_err(|e| db_message(&e))
    }

    /// The `verdict` column of the one row `sql` answers with `params`.
    pub fn verdict(
        &self,
        sql: &str,
        params: &[(
            &(dyn tokio_postgres::types::ToSql + Sync),
            tokio_postgres::types::Type,
        )],
    ) -> Result<String, String> {
        self.runtime
            .block_on(self.client.query_typed_one(sql, params))
            .map(|row| row.get::<_, String>("verdict"))
            .map_err(|e| db_message(&e))
    }
}

/// The server's own message of a failed query (else the error as text).
#[allow(dead_code)] // not every test crate uses it
pub fn db_message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |db| db.message().to_owned())
}
