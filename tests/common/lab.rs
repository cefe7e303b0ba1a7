//! The laboratory: a temporary root-owned store, a private PAM
//! configuration directory holding the freshly built module, a private
//! syslog socket, the lab's own accounts, and the `pam-driver` example that
//! runs real libpam transactions; plus the fixtures of the hostile and crash
//! tests (file snapshots, rounds, a seeded generator, private mounts).

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::cli::{CliRun, RunCli, codes};
use super::target_dir;

#[allow(dead_code)] // not every test crate uses it
/// The host's nsswitch.conf with `module` after `files` for passwd.
pub fn nsswitch_with(module: &str) -> String {
    let host = fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
    let mut text: String = host
        .lines()
        .filter(|l| !l.trim_start().starts_with("passwd:"))
        .map(|l| format!("{l}\n"))
        .collect();
    text += &format!("passwd: files {module}\n");
    text
}

#[allow(dead_code)] // not every test crate uses it
/// How long [`Lab::run`] waits for a driver before failing the test.
const DRIVER_SECS: u64 = 300;

#[allow(dead_code)] // not every test crate uses it
pub struct Lab {
    pub dir: TempDir,
    pub store: PathBuf,
    pub confdir: PathBuf,
    pub module: PathBuf,
    /// The lab's accounts, in the format of passwd(5).
    pub passwd: PathBuf,
    /// The nsswitch.conf the lab's processes see.
    nsswitch: PathBuf,
    /// Whether the lab's processes see the lab's accounts (see
    /// [`Lab::use_host_nss`]).
    lab_accounts: std::sync::atomic::AtomicBool,
    log: UnixDatagram,
    log_path: PathBuf,
}

#[allow(dead_code)] // not every test crate uses it
/// What one `pam-driver` run reported.
#[derive(Debug)]
pub struct Login {
    pub stdout: String,
    pub status: i32,
    /// Lines the module sent to syslog during the run.
    pub log: Vec<String>,
}

#[allow(dead_code)] // not every test crate uses it
impl Login {
    /// The PAM result name of the (last) transaction.
    pub fn result(&self) -> &str {
        self.stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("result: "))
            .unwrap_or("(none)")
    }

    pub fn lines(&self, prefix: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .collect()
    }

    pub fn prompts(&self) -> Vec<&str> {
        self.lines("prompt: ")
    }

    pub fn infos(&self) -> Vec<&str> {
        self.lines("info: ")
    }

    pub fn errors(&self) -> Vec<&str> {
        self.lines("error: ")
    }

    /// The fail delays requested, in microseconds (0 for a success).
    pub fn delays(&self) -> Vec<u64> {
        self.lines("delay: ").iter().map(|d| d.parse().unwrap()).collect()
    }

    pub fn logged(&self, needle: &str) -> bool {
        self.log.iter().any(|l| l.contains(needle))
    }
}

#[allow(dead_code)] // not every test crate uses it
impl Lab {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pam-backup-codes-test.")
            .tempdir()
            .unwrap();
        let store = dir.path().join("store");
        fs::DirBuilder::new().mode(0o700).create(&store).unwrap();
        let confdir = dir.path().join("pam.d");
        fs::create_dir(&confdir).unwrap();
        // The name libpam logs with is the file name: give it the real one.
        let module = dir.path().join("pam_backup_codes.so");
        std::os::unix::fs::symlink(target_dir().join("libpam_backup_codes.so"), &module).unwrap();
        fs::write(confdir.join("other"), "auth required pam_deny.so\n").unwrap();
        let logdir = dir.path().join("dev");
        fs::create_dir(&logdir).unwrap();
        let log_path = logdir.join("log");
        let log = UnixDatagram::bind(&log_path).unwrap();
        log.set_nonblocking(true).unwrap();
        let passwd = dir.path().join("passwd");
        fs::write(&passwd, "").unwrap();
        fs::set_permissions(&passwd, fs::Permissions::from_mode(0o644)).unwrap();
        let nsswitch = dir.path().join("nsswitch.conf");
        fs::write(&nsswitch, nsswitch_with("pbclab")).unwrap();
        fs::set_permissions(&nsswitch, fs::Permissions::from_mode(0o644)).unwrap();
        Self {
            dir,
            store,
            confdir,
            module,
            passwd,
            nsswitch,
            lab_accounts: std::sync::atomic::AtomicBool::new(true),
            log,
            log_path,
        }
    }

    /// From now on, the processes the lab starts see the host's NSS as it
    /// is (for a test that brings its own nsswitch.conf).
    pub fn use_host_nss(&self) {
        self.lab_accounts
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Makes `name` an account of the lab (the module and the CLI started by
    /// the lab then find it through NSS), unless it is one already.
    pub fn add_user(&self, name: &str) {
        self.add_users([name]);
    }

    /// [`add_user`](Self::add_user) for many.
    pub fn add_users<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let mut text = fs::read_to_string(&self.passwd).unwrap();
        let mut known: std::collections::HashSet<String> = text
            .lines()
            .filter_map(|l| l.split(':').next())
            .map(str::to_owned)
            .collect();
        let before = text.len();
        for name in names {
            if known.insert(name.to_owned()) {
                let uid = 70_000 + known.len();
                text +=
                    &format!("{name}:x:{uid}:{uid}:pam-backup-codes test:/nonexistent:/usr/sbin/nologin\n");
            }
        }
        if text.len() == before {
            return;
        }
        // Replaced whole, by rename: a lookup reads the old file or the new
        // one, never a half-written one.
        let new = self.dir.path().join("passwd.new");
        fs::write(&new, text).unwrap();
        fs::set_permissions(&new, fs::Permissions::from_mode(0o644)).unwrap();
        fs::rename(&new, &self.passwd).unwrap();
    }

    /// Lets `cmd` see the lab's accounts (root only: the tests that log in
    /// need root, and so does the mount).
    pub fn with_lab_accounts(&self, cmd: &mut Command) {
        use std::sync::atomic::Ordering;
        if !nix::unistd::geteuid().is_root() || !self.lab_accounts.load(Ordering::Relaxed) {
            return;
        }
        cmd.env("LD_LIBRARY_PATH", lab_nss_dir())
            .env("PBC_LAB_PASSWD", &self.passwd);
        bind_privately(cmd, &[(&self.nsswitch, "/etc/nsswitch.conf")]);
    }

    /// A lab with `service` set up as our module alone with `options`.
    pub fn with_service(service: &str, options: &str) -> Self {
        let lab = Self::new();
        lab.simple_service(service, options);
        lab
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a service file; `MODULE` and `STORE` in `stack` are replaced by
    /// the module's and the store's paths.
    pub fn service(&self, name: &str, stack: &str) {
        let text = stack
            .replace("MODULE", self.module.to_str().unwrap())
            .replace("STORE", self.store.to_str().unwrap());
        fs::write(self.confdir.join(name), text).unwrap();
    }

    /// The simplest stack: our module alone, with `options`.
    pub fn simple_service(&self, name: &str, options: &str) {
        self.service(name, &format!("auth required MODULE store=STORE {options}\n"));
    }

    /// A lab whose module and CLI share one config file (`[login]` with
    /// `nodelay = true`, then the lines `login`), which `service` is given,
    /// so that `status` judges as the module does; returns the lab and the
    /// file's path.
    pub fn with_config(service: &str, login: &str) -> (Lab, PathBuf) {
        let lab = Lab::new();
        let config = lab.path().join("pam_backup_codes.conf");
        fs::write(&config, format!("[login]\nnodelay = true\n{login}")).unwrap();
        lab.chmod(&config, 0o644);
        lab.simple_service(service, &format!("config={}", config.display()));
        (lab, config)
    }

    pub fn user_file(&self, user: &str) -> PathBuf {
        self.store.join(format!("{user}.toml"))
    }

    /// The CLI with `--store` set to the lab's store, seeing the lab's
    /// accounts.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-codes"));
        cmd.arg("--store").arg(&self.store);
        self.with_lab_accounts(&mut cmd);
        cmd
    }

    /// Runs the CLI with `args`, which must succeed, and parses its JSON.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let run = self.cli().args(args).run_cli();
        assert!(run.success(), "backup-codes {args:?} failed: {}", run.stderr);
        run.json()
    }

    /// Makes `user` an account of the lab, generates a set for it (replacing
    /// any) and returns its codes as printed (`XXXXX-XXXXX`).
    pub fn generate(&self, user: &str, extra: &[&str]) -> Vec<String> {
        self.add_user(user);
        codes(&self.cli_json(&[&["generate", "--replace", "--format", "json", user], extra].concat()))
    }

    /// `status --format json` for one user.
    pub fn status(&self, user: &str) -> serde_json::Value {
        self.cli_json(&["status", "--format", "json", user])[0].clone()
    }

    /// `backup-codes check`.
    pub fn check(&self) -> CliRun {
        self.cli().arg("check").run_cli()
    }

    /// Rewrites a user file through `edit` on its TOML table, as an
    /// administrator would, keeping it root-owned and 0600.
    pub fn edit_user_file(&self, user: &str, edit: impl FnOnce(&mut toml::Table)) {
        let path = self.user_file(user);
        let mut table: toml::Table = fs::read_to_string(&path).unwrap().parse().unwrap();
        edit(&mut table);
        fs::write(&path, toml::to_string(&table).unwrap()).unwrap();
        self.chmod(&path, 0o600);
    }

    /// Makes `user`'s set look `days` old: its `created` moved back, as
    /// time passing would leave it.
    pub fn age_by(&self, user: &str, days: i64) {
        use time::format_description::well_known::Rfc3339;
        let created = time::OffsetDateTime::now_utc() - time::Duration::days(days);
        self.edit_user_file(user, |t| {
            t.insert(
                "created".to_owned(),
                toml::Value::String(created.format(&Rfc3339).unwrap()),
            );
        });
    }

    pub fn driver(&self) -> Command {
        let mut cmd = Command::new(target_dir().join("examples").join("pam-driver"));
        cmd.arg("--confdir")
            .arg(&self.confdir)
            .arg("--dev-log")
            .arg(&self.log_path);
        self.with_lab_accounts(&mut cmd);
        cmd
    }

    /// A driver command for one authentication of `user` through `service`
    /// from 192.0.2.7, answering prompts with `answers`; not yet run.
    pub fn login_cmd(&self, service: &str, user: impl AsRef<OsStr>, answers: &[&str]) -> Command {
        let mut cmd = self.driver();
        cmd.args(["--service", service, "--rhost", "192.0.2.7", "--user"])
            .arg(user);
        for answer in answers {
            cmd.args(["--answer", answer]);
        }
        cmd
    }

    /// One authentication, run: see [`Lab::login_cmd`].
    pub fn login(&self, service: &str, user: impl AsRef<OsStr>, answers: &[&str]) -> Login {
        self.run(&mut self.login_cmd(service, user, answers))
    }

    /// Runs a prepared driver command and collects what it reported and
    /// the lines it logged.
    pub fn run(&self, cmd: &mut Command) -> Login {
        self.run_timeout(cmd, DRIVER_SECS)
    }

    /// [`Lab::run`], failing the test if the driver takes longer than `secs`.
    pub fn run_timeout(&self, cmd: &mut Command, secs: u64) -> Login {
        let child = self.spawn(cmd);
        let (mut logins, log) = self.finish_all(vec![child], secs);
        let mut login = logins.pop().expect("one driver, one report");
        login.log = log;
        login
    }

    /// Starts a prepared driver command without waiting for it.
    pub fn spawn(&self, cmd: &mut Command) -> Child {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Waits for spawned drivers, reading the log socket meanwhile: the
    /// kernel queues only a few datagrams (net.unix.max_dgram_qlen, often
    /// 10), and a module blocked in syslog() would never finish. Fails the
    /// test if they take longer than `secs` (a FIFO must not hang a login).
    /// Returns each driver's report (without log) and every log line.
    pub fn finish_all(&self, children: Vec<Child>, secs: u64) -> (Vec<Login>, Vec<String>) {
        let start = Instant::now();
        let mut children: Vec<Option<Child>> = children.into_iter().map(Some).collect();
        let mut outputs: Vec<Option<Output>> = children.iter().map(|_| None).collect();
        let mut log = Vec::new();
        while outputs.iter().any(Option::is_none) {
            log.extend(self.drain_log());
            for (slot, out) in children.iter_mut().zip(outputs.iter_mut()) {
                if out.is_none() && slot.as_mut().unwrap().try_wait().unwrap().is_some() {
                    *out = Some(slot.take().unwrap().wait_with_output().unwrap());
                }
            }
            if start.elapsed().as_secs() >= secs {
                for child in children.iter_mut().flatten() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                panic!("a driver hung for more than {secs} s");
            }
            // Short waits while few drivers run, so that a single run is
            // timed closely (make bench); longer ones for a crowd.
            let running = children.iter().flatten().count() as u64;
            std::thread::sleep(Duration::from_micros((200 * running).min(2000)));
        }
        // Lines sent just before exit.
        log.extend(self.drain_log());
        let logins = outputs.into_iter().map(|out| report(out.unwrap())).collect();
        (logins, log)
    }

    /// The log lines received and not yet collected.
    pub fn drain_log(&self) -> Vec<String> {
        let mut log = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = self.log.recv(&mut buf) {
            log.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        log
    }

    /// Every file name in the store.
    pub fn store_listing(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.store)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    pub fn chmod(&self, path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[allow(dead_code)] // not every test crate uses it
/// The directory holding `libnss_pbclab.so.2`, built from `lab_nss.c` with
/// cc on first use. It is named after a hash of the source, and each build
/// is renamed into place whole, so test binaries running at once share it.
pub fn lab_nss_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        const SOURCE: &str = include_str!("lab_nss.c");
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(SOURCE);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lab-nss-{hash:016x}"));
        let library = dir.join("libnss_pbclab.so.2");
        if library.exists() {
            return dir;
        }
        fs::create_dir_all(&dir).unwrap();
        let source = dir.join(format!("lab_nss.{}.c", std::process::id()));
        fs::write(&source, SOURCE).unwrap();
        let built = dir.join(format!("libnss_pbclab.{}.so", std::process::id()));
        let out = Command::new("cc")
            .args(["-shared", "-fPIC", "-Wall", "-Werror", "-o"])
            .arg(&built)
            .arg(&source)
            .output()
            .expect("cc (build-essential) builds the lab's NSS source");
        assert!(
            out.status.success(),
            "cc lab_nss.c: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::rename(&built, &library).unwrap();
        let _ = fs::remove_file(&source);
        dir
    })
}

#[allow(dead_code)] // not every test crate uses it
/// The code with its hyphen removed.
pub fn bare(code: &str) -> String {
    code.replace('-', "")
}

#[allow(dead_code)] // not every test crate uses it
/// What a driver run printed: checked for what must never happen (a usage
/// error, output from the stack, a leaked descriptor).
fn report(out: Output) -> Login {
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.code() != Some(2),
        "driver error: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains("stray-output"),
        "the stack wrote to stdout/stderr:\n{stdout}"
    );
    assert!(
        !stdout.contains("fds-leaked"),
        "the stack leaked descriptors:\n{stdout}"
    );
    assert!(
        !stdout.contains("threads-leaked"),
        "the stack left threads running:\n{stdout}"
    );
    Login {
        stdout,
        status: out.status.code().unwrap_or(-1),
        log: Vec::new(),
    }
}

// ------------------------------------------------- hostile and crash tests

#[allow(dead_code)] // not every test crate uses it
/// A byte-exact picture of a file: content and modification time.
#[derive(Debug, PartialEq, Eq)]
pub struct FileSnapshot {
    pub bytes: Vec<u8>,
    pub mtime: (i64, i64),
    pub mode: u32,
    pub ino: u64,
}

#[allow(dead_code)] // not every test crate uses it
impl FileSnapshot {
    /// Takes the picture without following a symbolic link at `path`.
    pub fn of(path: &Path) -> Self {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::symlink_metadata(path).unwrap();
        let bytes = if meta.is_file() {
            fs::read(path).unwrap()
        } else {
            Vec::new()
        };
        Self {
            bytes,
            mtime: (meta.mtime(), meta.mtime_nsec()),
            mode: meta.mode(),
            ino: meta.ino(),
        }
    }
}

#[allow(dead_code)] // not every test crate uses it
/// How many rounds a repeated test runs: `default` in `make test`, the
/// `STRESS_ROUNDS` environment variable in `make stress`.
pub fn rounds(default: usize) -> usize {
    std::env::var("STRESS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(default)
}

#[allow(dead_code)] // not every test crate uses it
/// A small deterministic generator for random instants; the seed is printed
/// so that a failing run can be replayed with `TEST_SEED`.
pub struct Rng(u64);

#[allow(dead_code)] // not every test crate uses it
impl Rng {
    pub fn new(test: &str) -> Self {
        let seed = std::env::var("TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap();
                now.as_nanos() as u64 ^ u64::from(std::process::id())
            });
        eprintln!("{test}: TEST_SEED={seed}");
        Self(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0), close enough for test timing.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[allow(dead_code)] // not every test crate uses it
/// Runs `body` on a thread of its own in a private mount namespace, so that
/// the tmpfs and bind mounts it makes are seen by it and the processes it
/// starts, and vanish with them; nothing is mounted in the host's view.
pub fn in_private_mounts<T: Send>(body: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("unshare(CLONE_NEWNS)");
            // Without this, mounts below would propagate back to the host.
            nix::mount::mount(
                None::<&str>,
                "/",
                None::<&str>,
                nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .expect("make / private");
            body()
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[allow(dead_code)] // not every test crate uses it
/// A mount made in a private namespace, detached again on drop.
pub struct Mounted(pub PathBuf);

#[allow(dead_code)] // not every test crate uses it
impl Mounted {
    /// A tmpfs of `size` bytes at `dir`, root-owned with `mode`.
    pub fn tmpfs(dir: &Path, size: u64, mode: u32) -> Self {
        nix::mount::mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
            Some(format!("size={size},mode={mode:o},uid=0,gid=0").as_str()),
        )
        .expect("mount tmpfs");
        Self(dir.to_path_buf())
    }

    /// A bind mount of `from` over `to`.
    pub fn bind(from: &Path, to: &str) -> Self {
        use nix::mount::MsFlags;
        nix::mount::mount(Some(from), to, None::<&str>, MsFlags::MS_BIND, None::<&str>).expect("bind mount");
        Self(PathBuf::from(to))
    }

    /// A read-only bind mount of `dir` onto itself.
    pub fn read_only(dir: &Path) -> Self {
        use nix::mount::MsFlags;
        nix::mount::mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>).expect("bind mount");
        let mounted = Self(dir.to_path_buf());
        nix::mount::mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .expect("remount read-only");
        mounted
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Runs `cmd` in a mount namespace of its own in which each of `binds`,
/// `(source, mount point)`, is bound over its mount point in order: the rest
/// of the system never sees them (root only).
pub fn bind_privately(cmd: &mut Command, binds: &[(&Path, &'static str)]) {
    use std::os::unix::process::CommandExt;
    // Made before the fork: the child must not allocate (nix copies short
    // &str paths to the stack and passes a CStr as it is).
    let binds: Vec<(std::ffi::CString, &'static str)> = binds
        .iter()
        .map(|(from, to)| {
            (
                std::ffi::CString::new(from.as_os_str().as_encoded_bytes()).unwrap(),
                *to,
            )
        })
        .collect();
    let private = move || -> nix::Result<()> {
        use nix::mount::{MsFlags, mount};
        super::namespace::enter_private_mount_namespace()?;
        for (from, to) in &binds {
            mount(
                Some(from.as_c_str()),
                *to,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )?;
        }
        Ok(())
    };
    #[allow(unsafe_code)]
    // SAFETY: runs in the forked child before exec; it only makes system
    // calls (unshare, mount) on data prepared before the fork, and
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || private().map_err(std::io::Error::from));
    }
}
