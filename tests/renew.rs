//! `sudo backup-codes renew`, for real: a test user with a password (set with
//! chpasswd) runs sudo with the rule of pam.d-examples/sudoers.d-backup-codes,
//! the example the package ships for admins to copy to /etc/sudoers.d
//! (uncommented, for this user and the binary under test only), typing the
//! password on stdin (`sudo -S`).
//!
//! renew takes no store or config option, so the test gives it its own view
//! of the system instead: a private mount namespace where /etc/security holds
//! a config naming the lab's store, and /dev holds the lab's syslog socket,
//! so the authpriv lines are read back too. Nothing outside changes.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};

use common::cli::CliRun;
use common::system::{Sudoers, TestUser, run, run_with_input};
use common::{Lab, Mounted, in_private_mounts, or_skip};

const PASSWORD: &str = "correct horse battery staple 14";
const SVC: &str = "bc-renew";
/// What renew says when it asks for a code of the current sheet.
const RENEW_PROMPT: &str = "(one from your current sheet)";

/// The shipped sudoers example, enabled for `user` and the binary under test.
fn shipped_rule(user: &str, binary: &Path) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pam.d-examples/sudoers.d-backup-codes");
    let text = fs::read_to_string(&path).unwrap();
    // A sheet never reaches sudo's I/O logs, whoever runs the command.
    assert!(
        text.lines()
            .any(|l| l == "Defaults!/usr/sbin/backup-codes !log_output"),
        "the example does not turn log_output off for backup-codes:\n{text}"
    );
    let mut enabled = 0;
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.strip_prefix('#') {
            Some(rule)
                if ["Cmnd_Alias ", "Defaults!", "ALL ALL="]
                    .iter()
                    .any(|p| rule.starts_with(p)) =>
            {
                enabled += 1;
                rule.replacen("ALL ALL=", &format!("{user} ALL="), 1)
            }
            _ => line.to_owned(),
        };
        // Aliases are global: one of its own for each test's file.
        let alias = format!("BACKUP_CODES_RENEW_{}", user.to_uppercase());
        out.push_str(
            &line
                .replace("/usr/sbin/backup-codes", binary.to_str().unwrap())
                .replace("BACKUP_CODES_RENEW", &alias),
        );
        out.push('\n');
    }
    assert_eq!(enabled, 3, "the shipped rule has three commented lines:\n{text}");
    let rules: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(
        !rules
            .iter()
            .any(|l| l.contains("NOPASSWD") || l.contains("!authenticate")),
        "renewing must need authentication: {rules:?}"
    );
    out
}

struct Setup {
    lab: Lab,
    user: TestUser,
    binary: PathBuf,
    /// A private /etc/security for the namespace.
    etc_security: PathBuf,
}

fn setup() -> Setup {
    let lab = Lab::new();
    lab.simple_service(SVC, "nodelay deny=3");
    let user = TestUser::new();
    user.set_password(PASSWORD);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_backup-codes"));
    // A copy of the real /etc/security (pam_limits and friends read it
    // during sudo's session) plus a config that names the lab's store.
    let etc_security = lab.path().join("etc-security");
    let out = run(Command::new("cp")
        .arg("-a")
        .arg("/etc/security/.")
        .arg(&etc_security));
    assert!(
        out.status.success(),
        "cp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = etc_security.join("pam_backup_codes.conf");
    let _ = fs::remove_file(&config);
    fs::write(
        &config,
        format!("store = \"{}\"\n[login]\ndeny = 3\n", lab.store.display()),
    )
    .unwrap();
    lab.chmod(&config, 0o644);
    Setup {
        lab,
        user,
        binary,
        etc_security,
    }
}

impl Setup {
    /// Runs `program args` as the test user with `input` on stdin.
    fn as_user(&self, program: &str, args: &[&str], input: &str) -> CliRun {
        let out: Output = run_with_input(
            Command::new("runuser")
                .args(["-u", &self.user.name, "--", program])
                .args(args),
            input,
        );
        CliRun::from(out)
    }

    /// `sudo -S BINARY args`, the password on stdin.
    fn sudo(&self, args: &[&str]) -> CliRun {
        self.sudo_typing(args, &[])
    }

    /// `sudo -S BINARY args`, the password then `lines` on stdin (the code
    /// renew asks for, or the answers of sudo's own PAM stack).
    fn sudo_typing(&self, args: &[&str], lines: &[&str]) -> CliRun {
        let mut all = vec!["-S", self.binary.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut input = format!("{PASSWORD}\n");
        for line in lines {
            input.push_str(line);
            input.push('\n');
        }
        self.as_user("sudo", &all, &input)
    }

    /// Runs `body` where /etc/security and /dev are the test's own, and
    /// /etc/pam.d/sudo is `pam_sudo` if given, and
    /// returns what it returned and every syslog line sent meanwhile. The
    /// log socket is read all along: the kernel queues only a few datagrams,
    /// and sudo, PAM and renew block in syslog() when the queue is full.
    fn isolated<T: Send>(&self, body: impl FnOnce() -> T + Send) -> (T, Vec<String>) {
        self.isolated_with(None, body)
    }

    fn isolated_with<T: Send>(
        &self,
        pam_sudo: Option<&Path>,
        body: impl FnOnce() -> T + Send,
    ) -> (T, Vec<String>) {
        in_private_mounts(|| {
            let dev = private_dev(&self.lab);
            let etc = bind(&self.etc_security, Path::new("/etc/security"));
            let sudo = pam_sudo.map(|file| bind(file, Path::new("/etc/pam.d/sudo")));
            let stop = AtomicBool::new(false);
            let (result, log) = std::thread::scope(|scope| {
                let reader = scope.spawn(|| {
                    let mut log = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        log.extend(self.lab.drain_log());
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    log.extend(self.lab.drain_log());
                    log
                });
                // Stops the reader also when `body` panics.
                struct Stop<'a>(&'a AtomicBool);
                impl Drop for Stop<'_> {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::Relaxed);
                    }
                }
                let guard = Stop(&stop);
                let result = body();
                drop(guard);
                (result, reader.join().unwrap())
            });
            drop(sudo);
            drop(etc);
            drop(dev);
            (result, log)
        })
    }

    fn user_file(&self) -> Vec<u8> {
        fs::read(self.lab.user_file(&self.user.name)).unwrap()
    }
}

/// A bind mount, with the mounts below `from` (MS_REC).
fn bind(from: &Path, to: &Path) -> Mounted {
    nix::mount::mount(
        Some(from),
        to,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC,
        None::<&str>,
    )
    .unwrap_or_else(|e| panic!("bind {} on {}: {e}", from.display(), to.display()));
    Mounted(to.to_owned())
}

/// The lab's directory with its syslog socket, as /dev, with the devices
/// sudo and PAM open bound into it.
fn private_dev(lab: &Lab) -> Vec<Mounted> {
    let dir = lab.path().join("dev");
    let mut mounts = Vec::new();
    for name in ["null", "zero", "random", "urandom", "full", "tty"] {
        let target = dir.join(name);
        fs::File::create(&target).unwrap();
        mounts.push(bind(&Path::new("/dev").join(name), &target));
    }
    // sudo runs the command on a pseudo-terminal (Debian's use_pty): the
    // devpts instance, and ptmx pointing into it as in a container's /dev.
    let pts = dir.join("pts");
    if !pts.exists() {
        fs::create_dir(&pts).unwrap();
        std::os::unix::fs::symlink("pts/ptmx", dir.join("ptmx")).unwrap();
    }
    mounts.push(bind(Path::new("/dev/pts"), &pts));
    mounts.push(bind(&dir, Path::new("/dev")));
    // Detached in reverse order: /dev first.
    mounts.reverse();
    mounts
}

#[test]
fn a_user_renews_their_own_set_and_only_theirs() {
    let s = or_skip!(setup(), "sudo", "visudo", "runuser", "chpasswd", "cp");
    let lab = &s.lab;
    let user = s.user.name.as_str();
    let old = lab.generate(user, &[]);
    let root_set = {
        lab.generate("root", &[]);
        fs::read(lab.user_file("root")).unwrap()
    };
    let _sudoers = Sudoers::install(&shipped_rule(user, &s.binary));

    let (renewed, log) = s.isolated(|| s.sudo_typing(&["renew", "--label", "Work laptop"], &[&old[9]]));
    assert_eq!(renewed.status, Some(0), "{renewed:?}");
    assert_eq!(renewed.stderr.matches(RENEW_PROMPT).count(), 1, "{renewed:?}");
    let new = renewed.sheet_codes();
    assert_eq!(new.len(), 10, "{renewed:?}");
    assert!(
        renewed.stdout.contains(&format!("Backup codes for {user}")),
        "{renewed:?}"
    );
    assert!(renewed.stdout.starts_with("Work laptop\n"), "{renewed:?}");
    assert!(
        renewed.stdout.contains("at the \"Backup code:\" prompt"),
        "{renewed:?}"
    );
    assert!(
        renewed.stdout.lines().all(|l| l.chars().count() <= 72),
        "the sheet fits 72 columns: {renewed:?}"
    );
    let line = log
        .iter()
        .find(|l| l.contains("renewed their backup codes"))
        .unwrap_or_else(|| panic!("no authpriv line: {log:?}"));
    // <85>: authpriv (10 << 3) | notice (5).
    assert!(line.starts_with("<85>"), "{line}");
    assert!(
        line.contains(&format!("user {user} (uid {})", s.user.ids().0)),
        "{line}"
    );
    assert!(line.contains(" on "), "{line}");
    assert!(line.contains("spent a current code typed to renew"), "{line}");
    // The code it spent, by its number on the old sheet.
    assert!(line.contains(" code_number=10 "), "{line}");

    // Old codes are refused, the one renew spent too; a new one works once.
    assert_eq!(lab.login(SVC, user, &[&old[0]]).result(), "PAM_AUTH_ERR");
    assert_eq!(lab.login(SVC, user, &[&old[9]]).result(), "PAM_AUTH_ERR");
    assert_eq!(lab.login(SVC, user, &[&new[3]]).result(), "PAM_SUCCESS");
    assert_eq!(lab.login(SVC, user, &[&new[3]]).result(), "PAM_AUTH_ERR");

    // Nobody else's set: not by name, not by SUDO_UID, not with options
    // the sudoers wildcard lets through.
    let before = s.user_file();
    let evil = lab.path().join("evil-store");
    let attempts: Vec<(Vec<&str>, &str)> = vec![
        (vec!["renew", "root"], "not allowed"),
        (
            vec!["renew", "--label", "x", "root"],
            "unexpected argument 'root'",
        ),
        (
            vec!["renew", "--label", "x", "--store", evil.to_str().unwrap()],
            "--store is refused",
        ),
        (
            vec!["renew", "--label", "x", "--config", "/tmp/x.conf"],
            "--config is refused",
        ),
        (
            vec!["renew", "--label", "x", "--output", "/tmp/x"],
            "unexpected argument '--output'",
        ),
        (vec!["--store", evil.to_str().unwrap(), "renew"], "not allowed"),
        (vec!["generate", "root"], "not allowed"),
    ];
    let (results, _) = s.isolated(|| {
        let mut results: Vec<CliRun> = attempts.iter().map(|(args, _)| s.sudo(args)).collect();
        // sudo does not let the user set SUDO_UID for this command.
        let args = ["-S", "SUDO_UID=0", s.binary.to_str().unwrap(), "renew"];
        results.push(s.as_user("sudo", &args, &format!("{PASSWORD}\n")));
        results
    });
    for ((args, want), run) in attempts.iter().zip(&results) {
        assert_ne!(run.status, Some(0), "{args:?}: {run:?}");
        assert!(run.stderr.contains(want), "{args:?}: {want:?} not in {run:?}");
        assert!(run.sheet_codes().is_empty(), "{args:?}: {run:?}");
    }
    let env_run = results.last().unwrap();
    assert_ne!(env_run.status, Some(0), "{env_run:?}");
    assert!(env_run.stderr.contains("SUDO_UID"), "{env_run:?}");
    assert_eq!(fs::read(lab.user_file("root")).unwrap(), root_set);
    assert_eq!(s.user_file(), before);
    assert!(!evil.exists());

    // A wrong password renews nothing.
    let (wrong, _) =
        s.isolated(|| s.as_user("sudo", &["-S", s.binary.to_str().unwrap(), "renew"], "wrong\n"));
    assert_ne!(wrong.status, Some(0), "{wrong:?}");
    assert_eq!(s.user_file(), before);
}

#[test]
fn renew_needs_a_fresh_password_and_an_unlocked_set() {
    let s = or_skip!(setup(), "sudo", "visudo", "runuser", "chpasswd", "cp");
    let lab = &s.lab;
    let user = s.user.name.as_str();
    lab.generate(user, &[]);
    let _sudoers = Sudoers::install(&shipped_rule(user, &s.binary));
    let binary = s.binary.to_str().unwrap();

    // A cached sudo ticket (sudo -v) is not enough: the shipped rule sets
    // timestamp_timeout=0 for renew, and -n forbids asking.
    let before = s.user_file();
    let (cached, _) = s.isolated(|| {
        s.as_user(
            "sh",
            &["-c", &format!("sudo -S -v && sudo -n {binary} renew")],
            &format!("{PASSWORD}\n"),
        )
    });
    assert_ne!(cached.status, Some(0), "{cached:?}");
    assert!(cached.stderr.contains("password is required"), "{cached:?}");
    assert_eq!(s.user_file(), before);

    // Locked by failures (deny = 3 in the config): renew is refused.
    for _ in 0..3 {
        lab.login(SVC, user, &["ZZZZZ-ZZZZZ"]);
    }
    let before = s.user_file();
    let (locked, log) = s.isolated(|| s.sudo(&["renew"]));
    assert_eq!(locked.status, Some(1), "{locked:?}");
    assert!(locked.stderr.contains("locked"), "{locked:?}");
    assert!(locked.sheet_codes().is_empty(), "{locked:?}");
    assert_eq!(s.user_file(), before);
    let line = log
        .iter()
        .find(|l| l.contains("renew refused"))
        .unwrap_or_else(|| panic!("no authpriv line: {log:?}"));
    // <84>: authpriv | warning.
    assert!(line.starts_with("<84>") && line.contains("locked"), "{line}");
}

#[test]
fn without_the_rule_or_without_sudo_renew_is_refused_with_one_clear_line() {
    let s = or_skip!(setup(), "sudo", "visudo", "runuser", "chpasswd", "cp");
    let user = s.user.name.as_str();
    s.lab.generate(user, &[]);
    let before = s.user_file();
    let binary = s.binary.to_str().unwrap();
    let ((through_sudo, direct), _) = s.isolated(|| (s.sudo(&["renew"]), s.as_user(binary, &["renew"], "")));
    assert_ne!(through_sudo.status, Some(0), "{through_sudo:?}");
    assert!(
        through_sudo.stderr.contains("is not in the sudoers file")
            || through_sudo.stderr.contains("is not allowed to execute"),
        "{through_sudo:?}"
    );
    assert_eq!(direct.status, Some(1), "{direct:?}");
    assert_eq!(
        direct.stderr.trim(),
        "backup-codes: renew needs sudo: run `sudo backup-codes renew` (an administrator may have to enable it)"
    );
    assert_eq!(s.user_file(), before);

    // Root without sudo: no SUDO_UID, refused too.
    let (root, log) = s.isolated(|| run(Command::new(&s.binary).arg("renew").env_remove("SUDO_UID")));
    assert_eq!(root.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&root.stderr).contains("SUDO_UID is not set"));
    assert!(
        log.iter()
            .any(|l| l.starts_with("<84>") && l.contains("renew refused for uid 0")),
        "{log:?}"
    );
    assert_eq!(s.user_file(), before);
}

#[test]
fn a_password_alone_never_mints_a_sheet() {
    let s = or_skip!(setup(), "sudo", "visudo", "runuser", "chpasswd", "cp");
    let lab = &s.lab;
    let user = s.user.name.as_str();
    let codes = lab.generate(user, &[]);
    let _sudoers = Sudoers::install(&shipped_rule(user, &s.binary));

    // The password only: renew asks for a code, reads none, renews nothing.
    let before = s.user_file();
    let (bare, log) = s.isolated(|| s.sudo(&["renew"]));
    assert_eq!(bare.status, Some(1), "{bare:?}");
    assert!(bare.stderr.contains(RENEW_PROMPT), "{bare:?}");
    assert!(bare.stderr.contains("none was read"), "{bare:?}");
    assert!(bare.sheet_codes().is_empty(), "{bare:?}");
    assert_eq!(s.user_file(), before);
    assert!(
        log.iter()
            .any(|l| l.starts_with("<84>") && l.contains("renew refused: no code was read")),
        "{log:?}"
    );

    // A wrong code: refused and counted like a failed login, nothing renewed.
    let (wrong, log) = s.isolated(|| s.sudo_typing(&["renew"], &["ZZZZZ-ZZZZZ"]));
    assert_eq!(wrong.status, Some(1), "{wrong:?}");
    assert!(
        wrong.stderr.contains("not one of your current codes"),
        "{wrong:?}"
    );
    assert!(wrong.sheet_codes().is_empty(), "{wrong:?}");
    assert!(
        log.iter().any(|l| l.contains("wrong or used code (counted")),
        "{log:?}"
    );
    let status = lab.status(user);
    assert_eq!(
        (status["remaining"].as_u64(), status["failures"].as_u64()),
        (Some(10), Some(1)),
        "{status}"
    );
    // The old codes still work: nothing was replaced.
    assert_eq!(lab.login(SVC, user, &[&codes[0]]).result(), "PAM_SUCCESS");
    // A used code is no proof either.
    let (used, _) = s.isolated(|| s.sudo_typing(&["renew"], &[&codes[0]]));
    assert_eq!(used.status, Some(1), "{used:?}");
    assert!(used.sheet_codes().is_empty(), "{used:?}");
    assert_eq!(lab.status(user)["remaining"], 9);
}

#[test]
fn with_no_usable_code_left_renew_sends_the_user_to_an_administrator() {
    let s = or_skip!(setup(), "sudo", "visudo", "runuser", "chpasswd", "cp");
    let lab = &s.lab;
    let user = s.user.name.as_str();
    let codes = lab.generate(user, &["--count", "1"]);
    assert_eq!(lab.login(SVC, user, &[&codes[0]]).result(), "PAM_SUCCESS");
    let _sudoers = Sudoers::install(&shipped_rule(user, &s.binary));
    let before = s.user_file();
    let (run, _) = s.isolated(|| s.sudo_typing(&["renew"], &[&codes[0]]));
    assert_eq!(run.status, Some(1), "{run:?}");
    assert!(!run.stderr.contains(RENEW_PROMPT), "not even asked: {run:?}");
    assert!(run.stderr.contains("ask an administrator"), "{run:?}");
    assert_eq!(s.user_file(), before);
}

#[test]
fn with_the_sudo_recipe_the_code_sudo_spent_is_the_proof() {
    let s = or_skip!(setup(), "sudo", "visudo", "runuser", "chpasswd", "cp");
    let lab = &s.lab;
    let user = s.user.name.as_str();
    let old = lab.generate(user, &[]);
    let _sudoers = Sudoers::install(&shipped_rule(user, &s.binary));
    // The sudo recipe as published (pam.d-examples/sudo), applied to this
    // machine's /etc/pam.d/sudo, seen by the test's sudo only.
    let snippet = common::recipes::Snippet::example("sudo");
    let lines = common::recipes::for_lab(lab, &snippet.lines, &[]);
    let stock = fs::read_to_string("/etc/pam.d/sudo").unwrap();
    let pam_sudo = lab.path().join("pam.d-sudo");
    fs::write(&pam_sudo, snippet.apply(&stock, &lines)).unwrap();
    lab.chmod(&pam_sudo, 0o644);

    let (renewed, log) = s.isolated_with(Some(&pam_sudo), || s.sudo_typing(&["renew"], &[&old[4]]));
    assert_eq!(renewed.status, Some(0), "{renewed:?}");
    assert_eq!(
        renewed.stderr.matches("Backup code:").count(),
        1,
        "sudo asked for one code: {renewed:?}"
    );
    assert!(
        !renewed.stderr.contains(RENEW_PROMPT),
        "renew asked for no second code: {renewed:?}"
    );
    let new = renewed.sheet_codes();
    assert_eq!(new.len(), 10, "{renewed:?}");
    assert!(
        log.iter().any(|l| l.contains("event=set-renewed")
            && l.contains(" code_number=5 ")
            && l.contains("renewed their backup codes (sudo's authentication spent")),
        "the code sudo spent, by its number: {log:?}"
    );
    // The code sudo spent and an unused old one: both refused (two
    // failures, below deny = 3); a new code works once.
    for code in [&old[4], &old[7]] {
        assert_eq!(lab.login(SVC, user, &[code]).result(), "PAM_AUTH_ERR", "{code}");
    }
    assert_eq!(lab.login(SVC, user, &[&new[0]]).result(), "PAM_SUCCESS");
    assert_eq!(lab.login(SVC, user, &[&new[0]]).result(), "PAM_AUTH_ERR");
}

#[test]
fn renew_prints_the_new_sheet_as_json() {
    let s = or_skip!(setup(), "sudo", "visudo", "runuser", "chpasswd", "cp");
    let lab = &s.lab;
    let user = s.user.name.as_str();
    let old = lab.generate(user, &[]);
    let _sudoers = Sudoers::install(&shipped_rule(user, &s.binary));

    let (renewed, log) =
        s.isolated(|| s.sudo_typing(&["renew", "--format", "json", "--label", "Desk"], &[&old[2]]));
    assert_eq!(renewed.status, Some(0), "{renewed:?}");
    // One JSON object on one line (a terminal may end it with \r\n).
    let lines: Vec<&str> = renewed
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "{renewed:?}");
    let sheet: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(sheet["user"], user, "{sheet}");
    assert_eq!(sheet["label"], "Desk", "{sheet}");
    assert_eq!(sheet["alphabet"], "crockford", "{sheet}");
    assert_eq!(sheet["length"], 10, "{sheet}");
    assert_eq!(sheet["check_symbol"], true, "{sheet}");
    assert_eq!(sheet["first_number"], 1, "{sheet}");
    assert!(
        sheet["created"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{sheet}"
    );
    assert!(sheet.get("expires").is_none(), "{sheet}");
    let new = common::codes(&sheet);
    assert_eq!(new.len(), 10, "{sheet}");
    // Nothing of the sheet reaches the log; the spent code is named by number.
    for code in &new {
        assert!(
            !log.iter().any(|l| l.contains(code.as_str())),
            "{code} logged: {log:?}"
        );
    }
    assert!(
        log.iter()
            .any(|l| l.contains("event=set-renewed") && l.contains(" code_number=3 ")),
        "{log:?}"
    );
    assert_eq!(lab.login(SVC, user, &[&old[3]]).result(), "PAM_AUTH_ERR");
    assert_eq!(lab.login(SVC, user, &[&new[9]]).result(), "PAM_SUCCESS");
}

#[test]
fn on_a_fleet_host_the_code_sudo_spent_is_no_proof_and_renew_takes_a_typed_one() {
    use common::postgres::{Fleet, NEEDS};
    let s = or_skip!(setup(), "sudo", "visudo", "runuser", "chpasswd", "cp");
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let user = s.user.name.as_str();
    let old = fleet.generate(user, &[]);
    let _sudoers = Sudoers::install(&shipped_rule(user, &s.binary));
    // This host's configuration names the fleet's database through the
    // login role: the module in sudo's stack and renew both read it.
    let config = fleet.host_config("web1", &fleet.login_uri(), "");
    fs::copy(&config, s.etc_security.join("pam_backup_codes.conf")).unwrap();
    // The sudo recipe as published, its module reading that configuration.
    let snippet = common::recipes::Snippet::example("sudo");
    let lines = common::recipes::for_lab(&s.lab, &snippet.lines, &[])
        .replace(&format!(" store={}", s.lab.store.display()), "");
    let stock = fs::read_to_string("/etc/pam.d/sudo").unwrap();
    let pam_sudo = s.lab.path().join("pam.d-sudo");
    fs::write(&pam_sudo, snippet.apply(&stock, &lines)).unwrap();
    s.lab.chmod(&pam_sudo, 0o644);

    let (renewed, log) = s.isolated_with(Some(&pam_sudo), || s.sudo_typing(&["renew"], &[&old[4], &old[5]]));
    assert_eq!(renewed.status, Some(0), "{renewed:?}");
    assert_eq!(
        renewed.stderr.matches(RENEW_PROMPT).count(),
        1,
        "renew asked for a code of its own: {renewed:?}"
    );
    assert_eq!(
        renewed.stderr.matches("Backup code:").count(),
        2,
        "sudo asked for one first: {renewed:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("event=code-accepted ") && l.contains("service=sudo")),
        "sudo's code was judged by the fleet: {log:?}"
    );
    let new = renewed.sheet_codes();
    assert_eq!(new.len(), 10, "{renewed:?}");
    assert!(
        log.iter()
            .any(|l| l.contains("renewed their backup codes (spent a current code typed to renew")),
        "{log:?}"
    );
    // Both codes went: sudo's through the fleet (recorded with service sudo
    // before the set was replaced), renew's with the old set.
    fleet.host("web1", "nodelay", "");
    for code in [&old[4], &old[5], &old[6]] {
        assert_eq!(
            fleet.lab.login("web1", user, &[code]).result(),
            "PAM_AUTH_ERR",
            "{code}"
        );
    }
    assert_eq!(fleet.lab.login("web1", user, &[&new[0]]).result(), "PAM_SUCCESS");
}
