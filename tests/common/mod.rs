//! A laboratory for integration tests: a temporary store, a private PAM
//! configuration directory holding the freshly built module, the
//! `backup-codes` CLI and the `pam-driver` example, which runs real libpam
//! transactions with `pam_start_confdir`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// Real users, /etc/pam.d and sudoers entries, sshd, pamtester: the
/// end-to-end fixtures.
pub mod system;

/// The directory holding the built binaries of this profile.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_backup-codes"))
        .parent()
        .expect("binary has a directory")
        .to_path_buf()
}

/// Whether root-only tests can run. Outside CI, a non-root run skips them
/// with a note; in CI they must run, so a non-root CI run fails.
pub fn root_or_skip(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{test}: CI runs must be root");
    eprintln!("{test}: skipped, needs root (the store must be root-owned)");
    false
}

pub struct Lab {
    pub dir: TempDir,
    pub store: PathBuf,
    pub confdir: PathBuf,
    pub module: PathBuf,
    log: UnixDatagram,
    log_path: PathBuf,
}

/// What one `pam-driver` run reported.
#[derive(Debug)]
pub struct Login {
    pub stdout: String,
    pub status: i32,
    /// Lines the module sent to syslog during the run.
    pub log: Vec<String>,
}

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
        Self {
            dir,
            store,
            confdir,
            module,
            log,
            log_path,
        }
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

    pub fn user_file(&self, user: &str) -> PathBuf {
        self.store.join(format!("{user}.toml"))
    }

    /// The CLI with `--store` set to the lab's store.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-codes"));
        cmd.arg("--store").arg(&self.store);
        cmd
    }

    /// Generates a set and returns its codes as printed (`XXXXX-XXXXX`).
    pub fn generate(&self, user: &str, extra: &[&str]) -> Vec<String> {
        let out = self
            .cli()
            .args(["generate", "--format", "json", user])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "generate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        value["codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    }

    /// `status --format json` for one user.
    pub fn status(&self, user: &str) -> serde_json::Value {
        let out = self
            .cli()
            .args(["status", "--format", "json", user])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        value[0].clone()
    }

    pub fn driver(&self) -> Command {
        let mut cmd = Command::new(target_dir().join("examples").join("pam-driver"));
        cmd.arg("--confdir")
            .arg(&self.confdir)
            .arg("--dev-log")
            .arg(&self.log_path);
        cmd
    }

    /// One authentication of `user` through `service` from 192.0.2.7,
    /// answering prompts with `answers`.
    pub fn login(&self, service: &str, user: impl AsRef<OsStr>, answers: &[&str]) -> Login {
        let mut cmd = self.driver();
        cmd.args(["--service", service, "--rhost", "192.0.2.7", "--user"])
            .arg(user);
        for answer in answers {
            cmd.args(["--answer", answer]);
        }
        self.run(&mut cmd)
    }

    /// Runs a prepared driver command and collects what it reported.
    pub fn run(&self, cmd: &mut Command) -> Login {
        let out: Output = cmd.output().unwrap();
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
        let mut log = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = self.log.recv(&mut buf) {
            log.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        Login {
            stdout,
            status: out.status.code().unwrap_or(-1),
            log,
        }
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

/// The code with its hyphen removed.
pub fn bare(code: &str) -> String {
    code.replace('-', "")
}
