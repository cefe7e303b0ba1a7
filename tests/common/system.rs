//! End-to-end fixtures that touch the real system: test users, files in
//! /etc/pam.d and /etc/sudoers.d, a private sshd, pamtester, the examples in
//! `pam.d-examples/`. Every name is unique (several test binaries, and other
//! checkouts, may run at once) and every fixture undoes itself on Drop, also
//! when the test fails.

use std::fs;
use std::hash::{BuildHasher, RandomState};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use tempfile::TempDir;

use super::Lab;

/// `prefix` and 8 random lower-case letters and digits.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut n = RandomState::new().hash_one((
        std::process::id(),
        SystemTime::now(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
    ));
    let mut name = prefix.to_owned();
    for _ in 0..8 {
        name.push(char::from(
            b"abcdefghijklmnopqrstuvwxyz0123456789"[(n % 36) as usize],
        ));
        n /= 36;
    }
    name
}

/// Builds `folding_nss.c` into `dir` as `libnss_NAME.so.2`, answering for
/// `canonical` (any case, or qualified) with uid and gid `id` and, if given,
/// its primary group `group`; returns NAME. The caller checks for cc.
pub fn build_folding_nss(dir: &Path, canonical: &str, id: u32, group: Option<&str>) -> String {
    let name = unique("pbc");
    let source = dir.join("folding_nss.c");
    fs::write(&source, include_str!("folding_nss.c")).unwrap();
    let mut cc = Command::new("cc");
    cc.args(["-shared", "-fPIC", "-Wall", "-Werror", "-o"])
        .arg(dir.join(format!("libnss_{name}.so.2")))
        .arg(format!("-DCANONICAL=\"{canonical}\""))
        .arg(format!("-DID={id}"))
        .arg(format!("-DPREFIX(f)=_nss_{name}_##f"));
    if let Some(group) = group {
        cc.arg(format!("-DGROUP=\"{group}\""));
    }
    let out = cc.arg(&source).output().unwrap();
    assert!(
        out.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    name
}

/// The absolute path of a program, found in PATH or the sbin directories.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// Runs a command, failing the test with its output if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command with `input` on stdin.
pub fn run_with_input(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    // A program that stops reading early (a refused login) closes its end:
    // a broken pipe here is expected, not an error.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// A file under /etc that exists for the life of the guard. It is created
/// with O_EXCL, so it never replaces anything.
#[derive(Debug)]
pub struct EtcFile {
    pub path: PathBuf,
}

impl EtcFile {
    pub fn create(path: PathBuf, text: &str, mode: u32) -> Self {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        // The guard exists before the write, so a failed write is cleaned up.
        let guard = Self { path };
        file.write_all(text.as_bytes()).unwrap();
        file.sync_all().unwrap();
        fs::set_permissions(&guard.path, fs::Permissions::from_mode(mode)).unwrap();
        guard
    }
}

impl Drop for EtcFile {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_file(&self.path) {
            eprintln!("warning: cannot remove {}: {e}", self.path.display());
        }
    }
}

/// A PAM service in /etc/pam.d with a unique name, for programs that cannot
/// be pointed at another directory (pamtester, sudo, sshd).
#[derive(Debug)]
pub struct PamService {
    pub name: String,
    pub file: EtcFile,
}

impl PamService {
    /// Installs `text` as /etc/pam.d/NAME, NAME starting with `prefix`.
    pub fn install(prefix: &str, text: &str) -> Self {
        let name = unique(prefix);
        let file = EtcFile::create(Path::new("/etc/pam.d").join(&name), text, 0o644);
        Self { name, file }
    }
}

/// The text of `pam.d-examples/NAME`, as shipped.
pub fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pam.d-examples")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An example's text for a test: in every line that is not a comment,
/// `pam_backup_codes.so` becomes the lab's freshly built module with
/// `store=` the lab's store. Nothing else changes.
pub fn example_for(lab: &Lab, name: &str) -> String {
    example_with(lab, name, &format!("store={}", lab.store.display()))
}

/// [`example_for`] with other arguments for our module (`config=FILE`, say).
pub fn example_with(lab: &Lab, name: &str, args: &str) -> String {
    let module = format!("{} {args}", lab.module.display());
    let text = example(name);
    let mut out = String::new();
    let mut replaced = 0;
    for line in text.lines() {
        if line.trim_start().starts_with('#') || !line.contains("pam_backup_codes.so") {
            out.push_str(line);
        } else {
            out.push_str(&line.replacen("pam_backup_codes.so", &module, 1));
            replaced += 1;
        }
        out.push('\n');
    }
    assert_eq!(
        replaced, 1,
        "{name}: exactly one pam_backup_codes.so line expected"
    );
    out
}

/// A system user for one test, with a home directory of its own in a
/// temporary directory and /bin/sh as its shell; deleted on Drop.
#[derive(Debug)]
pub struct TestUser {
    pub name: String,
    pub home: PathBuf,
    _dir: TempDir,
}

impl TestUser {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pam-backup-codes-home.")
            .tempdir()
            .unwrap();
        // The user must be able to reach its home (pam_google_authenticator
        // reads the secret as the user; sshd starts the shell there).
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let home = dir.path().join("home");
        for _ in 0..50 {
            let name = unique("bce2e");
            let out = run(Command::new("useradd")
                .args(["--no-create-home", "--shell", "/bin/sh", "--home-dir"])
                .arg(&home)
                .arg(&name));
            match out.status.code() {
                Some(0) => {
                    let user = Self {
                        name,
                        home,
                        _dir: dir,
                    };
                    fs::create_dir(&user.home).unwrap();
                    let (uid, gid) = user.ids();
                    nix::unistd::chown(&user.home, Some(uid.into()), Some(gid.into())).unwrap();
                    return user;
                }
                // 9: the name is taken; otherwise /etc/passwd is most likely
                // locked by another useradd or userdel: try again.
                _ => thread::sleep(Duration::from_millis(100)),
            }
            eprintln!("useradd {name}: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        panic!("useradd kept failing");
    }

    /// The user's uid and gid.
    pub fn ids(&self) -> (u32, u32) {
        let user = nix::unistd::User::from_name(&self.name)
            .unwrap()
            .expect("the test user exists");
        (user.uid.as_raw(), user.gid.as_raw())
    }

    /// Sets the Unix password (pam_unix checks it against /etc/shadow).
    pub fn set_password(&self, password: &str) {
        let out = run_with_input(
            &mut Command::new("chpasswd"),
            &format!("{}:{password}\n", self.name),
        );
        assert!(
            out.status.success(),
            "chpasswd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Writes a file in the home directory owned by the user, with `mode`.
    pub fn home_file(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.home.join(name);
        fs::write(&path, text).unwrap();
        let (uid, gid) = self.ids();
        nix::unistd::chown(&path, Some(uid.into()), Some(gid.into())).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        for _ in 0..50 {
            // -f: also while a process of the user (a session that sshd has
            // not reaped yet) still runs.
            let out = Command::new("userdel").arg("-f").arg(&self.name).output();
            match out {
                Ok(out) if out.status.success() || out.status.code() == Some(6) => return,
                _ => thread::sleep(Duration::from_millis(100)),
            }
        }
        eprintln!("warning: cannot delete test user {}", self.name);
    }
}

/// The current TOTP for a base32 secret, from oathtool.
pub fn totp(secret: &str) -> String {
    let out = run(Command::new("oathtool").args(["--totp", "-b", secret]));
    assert!(
        out.status.success(),
        "oathtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A six-digit code that pam_google_authenticator refuses now: none of the
/// codes from two steps back to two steps ahead (it accepts one either side).
pub fn wrong_totp(secret: &str) -> String {
    let start = SystemTime::now() - Duration::from_secs(60);
    let secs = start.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let out = run(Command::new("oathtool")
        .args(["--totp", "-b", secret, "-w", "4", "--now"])
        .arg(format!("@{secs}")));
    assert!(
        out.status.success(),
        "oathtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let near = String::from_utf8(out.stdout).unwrap();
    [
        "000000", "111111", "222222", "333333", "444444", "555555", "666666",
    ]
    .into_iter()
    .find(|c| !near.lines().any(|l| l.trim() == *c))
    .unwrap()
    .to_owned()
}

/// What one pamtester run did.
#[derive(Debug)]
pub struct PamTester {
    pub success: bool,
    /// The prompts shown, in order.
    pub prompts: Vec<String>,
    pub stdout: String,
    pub stderr: String,
}

impl PamTester {
    pub fn shows(&self, text: &str) -> bool {
        self.stdout.contains(text) || self.stderr.contains(text)
    }
}

/// `pamtester SERVICE USER authenticate` from 127.0.0.1, with `answers` one
/// a line on stdin (pamtester reads its answers from there).
pub fn pamtester(service: &str, user: &str, answers: &[&str]) -> PamTester {
    pamtester_ops(service, user, answers, &["authenticate"])
}

/// Like `pamtester`, then the account and session stacks too: the whole
/// service file works, not only its auth lines.
pub fn pamtester_login(service: &str, user: &str, answers: &[&str]) -> PamTester {
    pamtester_ops(
        service,
        user,
        answers,
        &["authenticate", "acct_mgmt", "open_session", "close_session"],
    )
}

/// `pamtester_login` in the private mount namespace of `mounts`, where
/// stock files read as a recipe changed them.
pub fn pamtester_login_in(
    mounts: &super::recipes::Mounts,
    service: &str,
    user: &str,
    answers: &[&str],
) -> PamTester {
    pamtester_run(
        mounts.command("pamtester"),
        service,
        user,
        answers,
        &["authenticate", "acct_mgmt", "open_session", "close_session"],
    )
}

fn pamtester_ops(service: &str, user: &str, answers: &[&str], ops: &[&str]) -> PamTester {
    pamtester_run(Command::new("pamtester"), service, user, answers, ops)
}

fn pamtester_run(
    mut pamtester: Command,
    service: &str,
    user: &str,
    answers: &[&str],
    ops: &[&str],
) -> PamTester {
    let input: String = answers.iter().map(|a| format!("{a}\n")).collect();
    let out = run_with_input(
        pamtester.args(["-I", "rhost=127.0.0.1", service, user]).args(ops),
        &input,
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // pamtester exits 0 only when every operation succeeded.
    let success = out.status.success();
    if success || ops.len() == 1 {
        assert_eq!(
            success,
            stdout.contains("successfully authenticated"),
            "pamtester's exit status and message disagree: {stdout} {stderr}"
        );
    }
    if success && ops.contains(&"close_session") {
        assert!(stdout.contains("account management done"), "{stdout}");
        assert!(
            stdout.contains("session has successfully been closed"),
            "{stdout}"
        );
    }
    // The prompts go to stderr without a newline, between messages that
    // end in one: split at ": ", keep what follows the last newline.
    let prompts = stderr
        .split_inclusive(": ")
        .map(|p| p.rsplit('\n').next().unwrap_or(p).to_owned())
        .filter(|p| p.ends_with(": ") && p != "pamtester: ")
        .collect();
    PamTester {
        success,
        prompts,
        stdout,
        stderr,
    }
}

/// A private sshd on 127.0.0.1 and a free port, in the foreground (-D -e),
/// killed on Drop: either with its own config and PAM service name
/// ([`Sshd::start`]), or the stock sshd_config and /etc/pam.d/sshd as a
/// recipe changed them ([`Sshd::stock`]).
pub struct Sshd {
    pub port: u16,
    /// The PAM service sshd uses.
    pub service: String,
    _pam: Option<PamService>,
    pub dir: TempDir,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Sshd {
    /// Starts sshd with the PAM stack `pam_text` (argv[0] is a symlink to
    /// /usr/sbin/sshd named like the service), allowing only `user`; the
    /// sshd_config lines in `config` override the defaults.
    pub fn start(pam_text: &str, user: &str, config: &str) -> Self {
        let service = PamService::install("sshd-bc", pam_text);
        let dir = tempfile::Builder::new()
            .prefix("pam-backup-codes-sshd.")
            .tempdir()
            .unwrap();
        let program = dir.path().join(&service.name);
        std::os::unix::fs::symlink("/usr/sbin/sshd", &program).unwrap();
        let host_key = dir.path().join("host_key");
        keygen(&host_key);
        let config_path = dir.path().join("sshd_config");
        let launch = |port: u16| {
            // sshd keeps the first value it reads for a keyword: the
            // caller's lines come first and override the defaults after them.
            fs::write(
                &config_path,
                format!(
                    "{config}\nListenAddress 127.0.0.1:{port}\nHostKey {}\nPidFile none\n\
                     UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\n\
                     StrictModes no\nUseDNS no\nAllowUsers {user}\nMaxAuthTries 6\n\
                     LogLevel VERBOSE\n",
                    host_key.display()
                ),
            )
            .unwrap();
            // sshd re-executes itself for every connection, which needs an
            // absolute argv[0]; the symlink's name is the PAM service.
            let mut cmd = Command::new(&program);
            cmd.args(["-D", "-e", "-f"]).arg(&config_path);
            cmd
        };
        let name = service.name.clone();
        Self::launch(launch, name, Some(service), dir)
    }

    /// Starts the stock /usr/sbin/sshd with this machine's
    /// /etc/ssh/sshd_config, as `mounts` change it (a recipe's sshd_config.d
    /// file, its /etc/pam.d/sshd), as the PAM service `sshd`. The `-o`
    /// options set only what a private test daemon needs: its address, host
    /// key and no pid file; authorized keys from `keys` (KEYS/USER, StrictModes
    /// off, as the keys live under /tmp); only `users` may log in.
    pub fn stock(mounts: &super::recipes::Mounts, keys: &Path, users: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pam-backup-codes-sshd.")
            .tempdir()
            .unwrap();
        let host_key = dir.path().join("host_key");
        keygen(&host_key);
        let launch = |port: u16| {
            let mut cmd = mounts.command("/usr/sbin/sshd");
            cmd.args(["-D", "-e", "-f", "/etc/ssh/sshd_config"]);
            for option in [
                format!("ListenAddress=127.0.0.1:{port}"),
                format!("HostKey={}", host_key.display()),
                "PidFile=none".to_owned(),
                format!("AuthorizedKeysFile={}/%u", keys.display()),
                "StrictModes=no".to_owned(),
                format!("AllowUsers={}", users.join(" ")),
                "LogLevel=VERBOSE".to_owned(),
            ] {
                cmd.arg("-o").arg(option);
            }
            cmd
        };
        Self::launch(launch, "sshd".to_owned(), None, dir)
    }

    fn launch(
        command: impl Fn(u16) -> Command,
        service: String,
        pam: Option<PamService>,
        dir: TempDir,
    ) -> Self {
        ensure_privsep_dir();
        for attempt in 0.. {
            let port = free_port();
            let mut child = command(port)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let log = Arc::new(Mutex::new(Vec::new()));
            let stderr = child.stderr.take().unwrap();
            let sink = Arc::clone(&log);
            thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let listening = log.lock().unwrap().iter().any(|l| l.contains("Server listening"));
                if listening {
                    return Self {
                        port,
                        service,
                        _pam: pam,
                        dir,
                        child,
                        log,
                    };
                }
                if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    let lines = log.lock().unwrap().join("\n");
                    // Another process may have taken the port meanwhile.
                    assert!(
                        attempt < 3 && lines.contains("Address already in use"),
                        "sshd did not start:\n{lines}"
                    );
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        unreachable!()
    }

    /// Everything sshd logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits up to 5 s for a log line containing `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.log.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// sshd refuses to start without its privilege separation directory, which
/// the Debian package's systemd unit creates at boot. Created here (root,
/// 0755, like the unit does) only if missing, and left in place: it is the
/// path the installed sshd expects anyway.
fn ensure_privsep_dir() {
    let dir = Path::new("/run/sshd");
    if !dir.exists() {
        eprintln!("note: creating sshd's privilege separation directory /run/sshd (was missing)");
        match fs::create_dir(dir) {
            Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap(),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => panic!("cannot create /run/sshd: {e}"),
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A new ed25519 key pair without a passphrase at `path` (and `path`.pub).
pub fn keygen(path: &Path) {
    let out = run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path));
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What one ssh client run did.
#[derive(Debug)]
pub struct SshRun {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The keyboard-interactive prompts the client was shown.
    pub prompts: Vec<String>,
}

/// An OpenSSH client for one user: `ssh -F none` with the answer to every
/// keyboard-interactive prompt coming from SSH_ASKPASS, stdin /dev/null.
pub struct SshClient {
    pub user: String,
    pub port: u16,
    /// The private key to offer, if any.
    pub key: Option<PathBuf>,
    dir: TempDir,
}

impl SshClient {
    pub fn new(user: &str, port: u16, key: Option<PathBuf>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pam-backup-codes-ssh.")
            .tempdir()
            .unwrap();
        let askpass = dir.path().join("askpass");
        fs::write(
            &askpass,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{d}/prompts'\ncat '{d}/answer'\n",
                d = dir.path().display()
            ),
        )
        .unwrap();
        fs::set_permissions(&askpass, fs::Permissions::from_mode(0o700)).unwrap();
        Self {
            user: user.to_owned(),
            port,
            key,
            dir,
        }
    }

    /// Runs `command` remotely, answering every prompt with `answer`.
    pub fn run(&self, answer: &str, command: &str) -> SshRun {
        self.run_with(&[], answer, command)
    }

    /// Like `run`, with `-o` options that override the defaults below (ssh
    /// keeps the first value it is given for an option).
    pub fn run_with(&self, options: &[&str], answer: &str, command: &str) -> SshRun {
        fs::write(self.dir.path().join("answer"), format!("{answer}\n")).unwrap();
        let prompts_path = self.dir.path().join("prompts");
        let _ = fs::remove_file(&prompts_path);
        let mut cmd = Command::new("ssh");
        for option in options {
            cmd.args(["-o", option]);
        }
        cmd.args(["-F", "none", "-p", &self.port.to_string()])
            .args(["-o", "BatchMode=no", "-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=20"])
            .args(["-o", "PasswordAuthentication=no", "-o", "IdentitiesOnly=yes"]);
        match &self.key {
            Some(key) => cmd.arg("-i").arg(key),
            None => cmd.args(["-o", "PubkeyAuthentication=no"]),
        };
        cmd.arg(format!("{}@127.0.0.1", self.user))
            .arg(command)
            .env("SSH_ASKPASS", self.dir.path().join("askpass"))
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let prompts = fs::read_to_string(&prompts_path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        SshRun {
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            prompts,
        }
    }
}

/// A sudoers.d entry with a unique name, checked with `visudo -cf` before it
/// is installed (a broken sudoers file would break sudo for everyone).
pub struct Sudoers {
    pub file: EtcFile,
}

impl Sudoers {
    pub fn install(text: &str) -> Self {
        let check = tempfile::NamedTempFile::new().unwrap();
        fs::write(check.path(), text).unwrap();
        let out = run(Command::new("visudo").arg("-cf").arg(check.path()));
        assert!(
            out.status.success(),
            "visudo -cf refused:\n{text}\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        // sudo skips names containing a dot: none here.
        let name = unique("bc-e2e-");
        Self {
            file: EtcFile::create(Path::new("/etc/sudoers.d").join(name), text, 0o440),
        }
    }
}

/// A system group with a unique name for one test, deleted on Drop.
#[derive(Debug)]
pub struct TestGroup {
    pub name: String,
}

impl TestGroup {
    pub fn new() -> Self {
        for _ in 0..50 {
            let name = unique("bcgrp");
            let out = run(Command::new("groupadd").arg(&name));
            if out.status.success() {
                return Self { name };
            }
            // The name is taken, or /etc/group is locked by another tool.
            eprintln!("groupadd {name}: {}", String::from_utf8_lossy(&out.stderr).trim());
            thread::sleep(Duration::from_millis(100));
        }
        panic!("groupadd kept failing");
    }

    /// Adds `user` to the group (a supplementary group, as usermod -aG).
    pub fn add(&self, user: &TestUser) {
        for _ in 0..50 {
            let out = run(Command::new("usermod").args(["-a", "-G", &self.name, &user.name]));
            if out.status.success() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("usermod -aG {} {} kept failing", self.name, user.name);
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            let out = Command::new("groupdel").arg(&self.name).output();
            match out {
                // 6: no such group (already gone).
                Ok(out) if out.status.success() || out.status.code() == Some(6) => return,
                _ => thread::sleep(Duration::from_millis(100)),
            }
        }
        eprintln!("warning: cannot delete test group {}", self.name);
    }
}
