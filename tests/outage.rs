//! An outage never locks root out: with the fleet database stopped, or the
//! file store broken by a wrong mode after a restore, root still gets in on
//! the console through the published `login` recipe, and the break-glass
//! account through sudo with the fleet break-glass block of docs/fleet.md;
//! everyone else fails closed, `nullok` or not.
//!
//! The recipes are read from the files admins read (`pam.d-examples/`,
//! `docs/fleet.md`), never restated: only `pam_backup_codes.so` is made the
//! freshly built module with the test's store or configuration, and the
//! break-glass block's `store=/var/lib/pam-backup-codes` the lab's store.
//! The console is pamtester with the service `login` (no remote host) in a
//! private mount namespace whose /etc is an overlay: the stock files with
//! the recipe's lines added to /etc/pam.d/login, and a copy of /etc/shadow
//! giving root a password for the test. An overlay rather than file binds:
//! a useradd elsewhere renames /etc/shadow, which would detach a bind.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::postgres::{Fleet, NEEDS};
use common::recipes::{Snippet, doc_block, for_lab, indented_block, repo_file};
use common::system::{PamService, Sudoers, TestUser, run, run_with_input};
use common::{Lab, or_skip};

const ROOT_PASSWORD: &str = "console root password 0";
const CODE_PROMPT: &str = "Backup code: ";

/// The console as the published `login` recipe makes it, for pamtester.
struct Console {
    /// The overlay's upper and work directories.
    dir: tempfile::TempDir,
    /// root's password hash in the copy of /etc/shadow.
    hash: String,
}

impl Console {
    /// Debian's stock /etc/pam.d/login with `lines` added where the recipe
    /// says, and root's password set to [`ROOT_PASSWORD`].
    fn new(lines: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pam-backup-codes-console.")
            .tempdir()
            .unwrap();
        let upper = dir.path().join("upper");
        let pam_d = upper.join("pam.d");
        fs::create_dir_all(&pam_d).unwrap();
        fs::create_dir(dir.path().join("work")).unwrap();
        for d in [&upper, &pam_d] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let snippet = Snippet::example("login");
        let applied = snippet.applied(lines);
        assert_eq!(applied.len(), 1, "{:?}", snippet.targets);
        assert_eq!(applied[0].0, Path::new("/etc/pam.d/login"));
        fs::write(pam_d.join("login"), &applied[0].1).unwrap();
        fs::set_permissions(pam_d.join("login"), fs::Permissions::from_mode(0o644)).unwrap();

        let hash = run(Command::new("openssl").args(["passwd", "-6", ROOT_PASSWORD]));
        assert!(hash.status.success(), "openssl passwd: {hash:?}");
        let hash = String::from_utf8(hash.stdout).unwrap().trim().to_owned();
        Self { dir, hash }
    }

    /// The copy of /etc/shadow as it is now (the test users' passwords
    /// included) with root's password hash replaced.
    fn refresh_shadow(&self) {
        let shadow: String = fs::read_to_string("/etc/shadow")
            .unwrap()
            .lines()
            .map(|line| match line.split_once(':') {
                Some(("root", rest)) => {
                    let rest = rest.split_once(':').map_or("", |(_, r)| r);
                    format!("root:{}:{rest}\n", self.hash)
                }
                _ => format!("{line}\n"),
            })
            .collect();
        assert!(shadow.contains(&self.hash), "root is in /etc/shadow");
        let path = self.dir.path().join("upper").join("shadow");
        fs::write(&path, shadow).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// `pamtester login USER authenticate acct_mgmt` on the console (no
    /// remote host), `answers` one a line on stdin.
    fn login(&self, user: &str, answers: &[&str]) -> ConsoleRun {
        self.refresh_shadow();
        let input: String = answers.iter().map(|a| format!("{a}\n")).collect();
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "sh", "-ec"])
            .arg(format!(
                "mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/upper,workdir={d}/work /etc\n\
                 exec \"$@\"",
                d = self.dir.path().display()
            ))
            .args(["sh", "pamtester", "-I", "tty=/dev/tty1", "login", user])
            .args(["authenticate", "acct_mgmt"]);
        let out = run_with_input(&mut cmd, &input);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("mount:"), "the overlay: {stderr}");
        let success = out.status.success();
        assert_eq!(
            success,
            stdout.contains("account management done"),
            "pamtester's exit status and message disagree: {stdout} {stderr}"
        );
        ConsoleRun {
            success,
            output: stdout + &stderr,
        }
    }
}

/// What one console login did.
#[derive(Debug)]
struct ConsoleRun {
    success: bool,
    /// What pamtester printed (prompts and messages).
    output: String,
}

impl ConsoleRun {
    /// How many times the module asked for a code.
    fn code_prompts(&self) -> usize {
        self.output.matches(CODE_PROMPT).count()
    }
}

/// The published `login` lines, with the module named as a fleet host
/// loads it: the host's configuration (which names the database).
fn login_lines_for_host(fleet: &Fleet, config: &Path) -> String {
    module_as(&Snippet::example("login").lines, &fleet.lab, config)
}

/// `text` with every `pam_backup_codes.so` outside comments made the lab's
/// module with `config=CONFIG`, and the file store of docs/fleet.md's
/// break-glass line made the lab's store.
fn module_as(text: &str, lab: &Lab, config: &Path) -> String {
    let module = format!("{} config={}", lab.module.display(), config.display());
    let store = format!("store={}", lab.store.display());
    text.lines()
        .map(|line| {
            if line.trim_start().starts_with('#') {
                format!("{line}\n")
            } else {
                let line = line
                    .replace("pam_backup_codes.so", &module)
                    .replace("store=/var/lib/pam-backup-codes", &store);
                format!("{line}\n")
            }
        })
        .collect()
}

/// The recipe's lines without the one that sends root past the module: what
/// the console would be with the module line alone.
fn without_root_guard(lines: &str) -> String {
    let kept: String = lines
        .lines()
        .filter(|l| !l.contains("pam_succeed_if.so"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(kept, lines, "the recipe has a pam_succeed_if line for root");
    kept
}

#[test]
fn root_logs_in_on_the_console_while_the_fleet_database_is_down() {
    let fleet = or_skip!(Fleet::new(), needs = &[NEEDS, &["pamtester", "unshare"]].concat());
    let config = fleet.host_config("console", &fleet.login_uri(), "connect_timeout = 2");
    let lines = login_lines_for_host(&fleet, &config);
    let console = Console::new(&lines);
    let user = TestUser::new();
    let plain = TestUser::new();
    user.set_password("console password 1");
    plain.set_password("console password 2");
    let codes = fleet.generate(&user.name, &[]);

    // The database up: the recipe works as it says.
    let root = console.login("root", &[ROOT_PASSWORD]);
    assert!(root.success, "{root:?}");
    assert_eq!(root.code_prompts(), 0, "root is never asked: {root:?}");
    let with_set = console.login(&user.name, &["console password 1", &codes[0]]);
    assert!(with_set.success, "{with_set:?}");
    assert_eq!(with_set.code_prompts(), 1, "{with_set:?}");
    let no_set = console.login(&plain.name, &["console password 2"]);
    assert!(no_set.success, "nullok: {no_set:?}");
    assert_eq!(no_set.code_prompts(), 0, "{no_set:?}");

    fleet.cluster.stop();
    // Root: its password alone, as before.
    let root = console.login("root", &[ROOT_PASSWORD]);
    assert!(root.success, "root gets in while the database is down: {root:?}");
    assert_eq!(root.code_prompts(), 0, "{root:?}");
    let wrong = console.login("root", &["not root's password"]);
    assert!(!wrong.success, "root still needs its password: {wrong:?}");
    // A user with a fleet set: refused, with the right password and a
    // valid code (no prompt: the module has no store to ask about).
    let with_set = console.login(&user.name, &["console password 1", &codes[1]]);
    assert!(!with_set.success, "fail closed: {with_set:?}");
    // A user without a set, under nullok: refused too, with the right
    // password; without the database nobody can tell they have no set.
    let no_set = console.login(&plain.name, &["console password 2", "AAAAA-AAAAA"]);
    assert!(
        !no_set.success,
        "nullok is no way in during an outage: {no_set:?}"
    );
    // Without the line for root, root would be locked out as well.
    let unguarded = Console::new(&without_root_guard(&lines));
    let root = unguarded.login("root", &[ROOT_PASSWORD]);
    assert!(!root.success, "the module line alone refuses root: {root:?}");

    // Nothing was spent: the code refused during the outage works after it.
    fleet.cluster.start_again();
    assert!(fleet.uses(&user.name).len() == 1, "{:?}", fleet.uses(&user.name));
    let after = console.login(&user.name, &["console password 1", &codes[1]]);
    assert!(after.success, "{after:?}");
}

#[test]
fn root_logs_in_on_the_console_while_the_file_store_is_broken() {
    let lab = or_skip!(Lab::new(), "pamtester", "unshare", "openssl");
    let lines = for_lab(&lab, &Snippet::example("login").lines, &[]);
    let console = Console::new(&lines);
    let unguarded = Console::new(&without_root_guard(&lines));
    let user = TestUser::new();
    let plain = TestUser::new();
    user.set_password("console password 3");
    plain.set_password("console password 4");
    let codes = lab.generate(&user.name, &[]);
    let file = lab.user_file(&user.name);

    // The store directory writable by everyone (a restore that lost its
    // mode): insecure, so nobody but root gets in.
    lab.chmod(&lab.store, 0o777);
    let root = console.login("root", &[ROOT_PASSWORD]);
    assert!(root.success, "root gets in with a broken store: {root:?}");
    assert_eq!(root.code_prompts(), 0, "{root:?}");
    let with_set = console.login(&user.name, &["console password 3", &codes[0]]);
    assert!(!with_set.success, "fail closed: {with_set:?}");
    let no_set = console.login(&plain.name, &["console password 4", "AAAAA-AAAAA"]);
    assert!(
        !no_set.success,
        "nullok: an insecure store directory refuses users without a set too: {no_set:?}"
    );
    let root = unguarded.login("root", &[ROOT_PASSWORD]);
    assert!(!root.success, "the module line alone refuses root: {root:?}");
    lab.chmod(&lab.store, 0o700);

    // One user's file readable by everyone: that user is refused; the
    // others are not affected (a user without a set has no file).
    lab.chmod(&file, 0o644);
    let root = console.login("root", &[ROOT_PASSWORD]);
    assert!(root.success, "{root:?}");
    let with_set = console.login(&user.name, &["console password 3", &codes[0]]);
    assert!(!with_set.success, "fail closed: {with_set:?}");
    let no_set = console.login(&plain.name, &["console password 4"]);
    assert!(no_set.success, "nullok: {no_set:?}");
    assert_eq!(no_set.code_prompts(), 0, "{no_set:?}");
    let root = unguarded.login("root", &[ROOT_PASSWORD]);
    assert!(root.success, "root has no file to be broken: {root:?}");
    lab.chmod(&file, 0o600);

    // Repaired: the refused code was never spent.
    let after = console.login(&user.name, &["console password 3", &codes[0]]);
    assert!(after.success, "{after:?}");
    assert_eq!(lab.status(&user.name)["remaining"], 9);
}

/// `sudo -k -S id -un` as `user`, `answers` one a line on stdin.
fn sudo(user: &TestUser, answers: &[&str]) -> (Option<i32>, String, String) {
    let input: String = answers.iter().map(|a| format!("{a}\n")).collect();
    let out = run_with_input(
        Command::new("runuser").args(["-u", &user.name, "--", "sudo", "-k", "-S", "id", "-un"]),
        &input,
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_break_glass_account_gets_sudo_while_the_fleet_database_is_down() {
    let fleet = or_skip!(
        Fleet::new(),
        needs = &[NEEDS, &["sudo", "visudo", "runuser"]].concat()
    );
    // The break-glass sudo service (pam.d-examples/sudo-backup-codes) with
    // docs/fleet.md's two lines as its code part, exactly as published.
    let block = doc_block("docs/fleet.md", "## Break-glass");
    assert_eq!(
        block.lines().filter(|l| l.starts_with("auth ")).count(),
        2,
        "docs/fleet.md's break-glass block: {block}"
    );
    let example = repo_file("pam.d-examples/sudo-backup-codes");
    let auth_line = example
        .lines()
        .find(|l| l.starts_with("auth") && l.contains("pam_backup_codes.so"))
        .unwrap();
    let config = fleet.host_config("web1", &fleet.login_uri(), "connect_timeout = 2");
    let text = module_as(&example.replace(auth_line, block.trim_end()), &fleet.lab, &config);
    let service = PamService::install("bc-outage-", &text);

    let rescue = TestUser::new();
    let member = TestUser::new();
    let plain = TestUser::new();
    let sudoers_lines = indented_block(&example, "In sudoers");
    let sudoers: String = [&rescue, &member, &plain]
        .iter()
        .map(|u| {
            sudoers_lines
                .replace("Defaults:alice ", &format!("Defaults:{} ", u.name))
                .replace("\nalice ", &format!("\n{} ", u.name))
                .replace("=sudo-backup-codes", &format!("={}", service.name))
        })
        .collect();
    assert_eq!(sudoers.matches(&service.name).count(), 6, "{sudoers}");
    let _sudoers = Sudoers::install(&sudoers);
    // The rescue account's set in this host's file store; the member's in
    // the fleet.
    let local = fleet.lab.generate(&rescue.name, &[]);
    let codes = fleet.generate(&member.name, &[]);

    // The database up: each with its own codes.
    let (status, stdout, stderr) = sudo(&member, &[&codes[0]]);
    assert_eq!((status, stdout.trim()), (Some(0), "root"), "{stderr}");
    let (status, stdout, stderr) = sudo(&rescue, &[&local[0]]);
    assert_eq!((status, stdout.trim()), (Some(0), "root"), "{stderr}");

    fleet.cluster.stop();
    // The rescue account: one prompt, its local code, root.
    let (status, stdout, stderr) = sudo(&rescue, &[&local[1]]);
    assert_eq!((status, stdout.trim()), (Some(0), "root"), "{stderr}");
    assert_eq!(stderr.matches(CODE_PROMPT).count(), 1, "{stderr}");
    // A user with a fleet set: refused (the second line knows no set).
    let (status, stdout, stderr) = sudo(&member, &[&codes[1]]);
    assert_eq!(status, Some(1), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    // A user without any set (the first line has nullok): refused.
    let (status, stdout, stderr) = sudo(&plain, &["AAAAA-AAAAA"]);
    assert_eq!(status, Some(1), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(fleet.lab.status(&rescue.name)["remaining"], 8);
    // This host's file store broken as well (a restore that lost its mode):
    // the rescue account is refused too, and its code is not spent.
    fleet.lab.chmod(&fleet.lab.store, 0o777);
    let (status, stdout, stderr) = sudo(&rescue, &[&local[2]]);
    assert_eq!(status, Some(1), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    fleet.lab.chmod(&fleet.lab.store, 0o700);
    let (status, stdout, stderr) = sudo(&rescue, &[&local[2]]);
    assert_eq!((status, stdout.trim()), (Some(0), "root"), "{stderr}");
    assert_eq!(fleet.lab.status(&rescue.name)["remaining"], 7);

    // Nothing of the member's was spent during the outage.
    fleet.cluster.start_again();
    assert_eq!(fleet.uses(&member.name).len(), 1);
    let (status, stdout, stderr) = sudo(&member, &[&codes[1]]);
    assert_eq!((status, stdout.trim()), (Some(0), "root"), "{stderr}");
}
