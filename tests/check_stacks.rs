//! `backup-codes check` on whole stacks, as an admin stages them: a private
//! pam.d directory (this machine's services with a recipe added as
//! published), sshd asked about its own configuration (`--sshd-config`:
//! the stock main file with or without the `Include` of the shipped
//! drop-in) for real accounts in a real group, and a sudoers file of the
//! test's. Nothing under /etc changes.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use common::recipes::{Snippet, repo_file};
use common::skip_unless;
use common::system::{TestGroup, TestUser, build_folding_nss, run, unique};
use common::{Mounted, in_private_mounts};

/// The group the recipes name.
const RECIPE_GROUP: &str = "backup-codes";

/// A staged configuration in a temporary directory.
struct Staged {
    dir: tempfile::TempDir,
}

impl Staged {
    /// This machine's /etc/pam.d with `recipe`'s lines added as it says
    /// (for `group`, and a private empty store), the shipped sshd drop-in
    /// for `group` (or `dropin` instead), a main sshd_config that includes
    /// it if `include`, and an empty sudoers.
    fn new(recipe: &str, group: &str, include: bool, dropin: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let staged = Self { dir };
        let store = staged.path("store");
        fs::create_dir(&store).unwrap();
        fs::set_permissions(&store, fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(
            staged.path("config"),
            format!("store = \"{}\"\n", store.display()),
        )
        .unwrap();
        let pam = staged.path("pam.d");
        fs::create_dir(&pam).unwrap();
        for entry in fs::read_dir("/etc/pam.d").unwrap() {
            let entry = entry.unwrap();
            if entry.path().is_file() {
                fs::copy(entry.path(), pam.join(entry.file_name())).unwrap();
            }
        }
        staged.add_recipe(recipe, group);
        let conf_d = staged.path("sshd_config.d");
        fs::create_dir(&conf_d).unwrap();
        let shipped = repo_file("pam.d-examples/sshd_config.d-backup-codes.conf").replace(
            &format!("Match Group {RECIPE_GROUP}"),
            &format!("Match Group {group}"),
        );
        fs::write(conf_d.join("backup-codes.conf"), dropin.unwrap_or(&shipped)).unwrap();
        // Debian's stock sshd_config, in the settings that matter here.
        let include = if include {
            format!("Include {}/*.conf\n", conf_d.display())
        } else {
            String::new()
        };
        fs::write(
            staged.path("sshd_config"),
            format!("{include}KbdInteractiveAuthentication no\nUsePAM yes\n"),
        )
        .unwrap();
        fs::write(staged.path("sudoers"), "Defaults env_reset\n").unwrap();
        staged
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The module's lines of a recipe, for `group` and this store.
    fn lines(&self, text: &str, group: &str) -> String {
        text.replace(
            "pam_backup_codes.so",
            &format!("pam_backup_codes.so store={}", self.path("store").display()),
        )
        .replace(&format!("ingroup {RECIPE_GROUP}"), &format!("ingroup {group}"))
    }

    /// Adds `recipe`'s lines to the staged copies of the files it names.
    fn add_recipe(&self, recipe: &str, group: &str) {
        let snippet = Snippet::example(recipe);
        let lines = self.lines(&snippet.lines, group);
        for target in &snippet.targets {
            let staged = self.path("pam.d").join(target.file_name().unwrap());
            let stock = fs::read_to_string(&staged).unwrap();
            fs::write(&staged, snippet.apply(&stock, &lines)).unwrap();
        }
    }

    /// `check` on this staged configuration, with `args` added.
    fn check(&self, args: &[&str]) -> (Option<i32>, String, String) {
        self.check_with(args, Command::new(env!("CARGO_BIN_EXE_backup-codes")))
    }

    /// [`check`](Self::check) through `cmd` (the binary, with its environment).
    fn check_with(&self, args: &[&str], mut cmd: Command) -> (Option<i32>, String, String) {
        cmd.arg("--config").arg(self.path("config")).arg("check");
        cmd.arg("--pam-dir").arg(self.path("pam.d"));
        cmd.arg("--sshd-config").arg(self.path("sshd_config"));
        if !args.contains(&"--sudoers") {
            cmd.arg("--sudoers").arg(self.path("sudoers"));
        }
        let out = run(cmd.args(args));
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn json(&self, args: &[&str]) -> (Option<i32>, serde_json::Value) {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let (status, stdout, stderr) = self.check(&all);
        let value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
        (status, value)
    }
}

/// The findings of a JSON report at `level`, as (check, subject, message).
fn findings(report: &serde_json::Value, level: &str) -> Vec<(String, String, String)> {
    let field = |f: &serde_json::Value, name: &str| {
        f[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} of {f}"))
            .to_owned()
    };
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] == level)
        .map(|f| (field(f, "check"), field(f, "subject"), field(f, "message")))
        .collect()
}

/// A group with `n` members (kept alive with it).
fn group_of(n: usize) -> (TestGroup, Vec<TestUser>) {
    let group = TestGroup::new();
    let users: Vec<TestUser> = (0..n).map(|_| TestUser::new()).collect();
    for user in &users {
        group.add(user);
    }
    (group, users)
}

#[test]
fn the_published_ssh_recipes_pass_without_a_warning() {
    skip_unless!("sshd", "getent");
    let (group, users) = group_of(1);
    for recipe in ["sshd-key-then-code", "sshd-totp-or-code"] {
        let staged = Staged::new(recipe, &group.name, true, None);
        let (status, stdout, stderr) = staged.check(&[]);
        assert_eq!(status, Some(0), "{recipe}: {stdout}{stderr}");
        assert!(stderr.is_empty(), "{recipe}: no warning: {stderr}");
        assert!(
            stdout.contains(&format!(
                "ok: {}: member of {}: sshd asks for the key, then the code",
                users[0].name, group.name
            )),
            "{recipe}: {stdout}"
        );
        assert!(
            stdout.contains("sshd: the auth stack asks for at most 1 code per authentication"),
            "{recipe}: {stdout}"
        );
        // For cron: nothing at all when everything is fine.
        let (status, stdout, stderr) = staged.check(&["--quiet"]);
        assert_eq!(
            (status, stdout.as_str(), stderr.as_str()),
            (Some(0), "", ""),
            "{recipe}"
        );

        // With the common-auth profile on too, a member still types one code.
        staged.add_recipe("common-auth", &group.name);
        let (status, stdout, stderr) = staged.check(&[]);
        assert_eq!(status, Some(0), "{recipe} + common-auth: {stdout}{stderr}");
        assert!(stderr.is_empty(), "{recipe} + common-auth: {stderr}");
    }
}

#[test]
fn a_service_that_asks_twice_is_warned_about_not_failed() {
    skip_unless!("sshd", "getent");
    let (group, _users) = group_of(0);
    let staged = Staged::new("common-auth", &group.name, true, None);
    staged.add_recipe("login", &group.name);
    let (status, stdout, stderr) = staged.check(&[]);
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    let login = staged.path("pam.d").join("login");
    assert!(
        stderr.contains(&format!(
            "warning: {}: the auth stack runs the module 2 times in one authentication",
            login.display()
        )),
        "{stderr}"
    );
    let (_, quiet, quiet_err) = staged.check(&["--quiet"]);
    assert_eq!(
        (quiet.as_str(), quiet_err.as_str()),
        ("", ""),
        "--quiet leaves warnings out"
    );
}

#[test]
fn an_sshd_config_without_the_include_is_reported() {
    skip_unless!("sshd", "getent");
    let (group, users) = group_of(1);
    let staged = Staged::new("sshd-key-then-code", &group.name, false, None);
    let (status, stdout, stderr) = staged.check(&[]);
    assert_eq!(status, Some(1), "{stdout}{stderr}");
    let member = &users[0].name;
    assert!(
        stderr.contains(&format!(
            "backup-codes: {member}: member of {}: sshd's AuthenticationMethods is \"any\"",
            group.name
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("a code typed at the password prompt logs in"),
        "{stderr}"
    );
    // --quiet: the problems, nothing else.
    let (status, stdout, quiet) = staged.check(&["--quiet"]);
    assert_eq!((status, stdout.as_str()), (Some(1), ""));
    assert!(
        quiet
            .lines()
            .all(|l| l.starts_with("backup-codes: ") && !l.contains("warning")),
        "{quiet}"
    );
    assert!(quiet.contains(member.as_str()), "{quiet}");
}

#[test]
fn a_member_whose_match_does_not_apply_is_reported() {
    skip_unless!("sshd", "getent");
    let (group, users) = group_of(2);
    // "Match User" naming one member only: the other logs in by key alone.
    let dropin = format!(
        "Match User {}\n    AuthenticationMethods publickey,keyboard-interactive\n    \
         KbdInteractiveAuthentication yes\n    PasswordAuthentication no\n",
        users[0].name
    );
    let staged = Staged::new("sshd-key-then-code", &group.name, true, Some(&dropin));
    let (status, report) = staged.json(&[]);
    assert_eq!(status, Some(1), "{report}");
    let problems = findings(&report, "problem");
    assert!(
        problems.iter().any(|(check, subject, message)| check == "sshd"
            && *subject == users[1].name
            && message.contains("logs in with the key alone")),
        "{problems:?}"
    );
    assert!(
        problems.iter().all(|(_, subject, _)| *subject != users[0].name),
        "{problems:?}"
    );
    assert!(
        findings(&report, "ok")
            .iter()
            .any(|(check, subject, _)| check == "sshd" && *subject == users[0].name),
        "{report}"
    );
    assert_eq!(report["problems"], problems.len());
}

#[test]
fn json_fields_and_the_three_exit_statuses() {
    skip_unless!("sshd", "getent");
    let (group, _users) = group_of(1);
    let staged = Staged::new("sshd-key-then-code", &group.name, true, None);

    // 0: fine. Every finding has the four fields.
    let (status, report) = staged.json(&[]);
    assert_eq!(status, Some(0), "{report}");
    assert_eq!(
        (report["problems"].as_u64(), report["unchecked"].as_u64()),
        (Some(0), Some(0))
    );
    for finding in report["findings"].as_array().unwrap() {
        let keys: Vec<&str> = finding.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["check", "level", "message", "subject"], "{finding}");
    }
    let checks: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["check"].as_str())
        .collect();
    for check in ["line", "stack", "sshd", "store"] {
        assert!(checks.contains(&check), "{check} in {checks:?}");
    }

    // 2: something could not be checked (and nothing wrong found).
    let missing = staged.path("no-such-sudoers");
    let (status, report) = staged.json(&["--sudoers", missing.to_str().unwrap()]);
    assert_eq!(status, Some(2), "{report}");
    let unchecked = findings(&report, "unchecked");
    assert_eq!(unchecked.len(), 1, "{unchecked:?}");
    assert_eq!(
        (unchecked[0].0.as_str(), unchecked[0].1.as_str()),
        ("sudo", missing.to_str().unwrap())
    );
    let (status, _, stderr) = staged.check(&["--quiet", "--sudoers", missing.to_str().unwrap()]);
    assert_eq!(status, Some(2));
    assert!(stderr.starts_with("backup-codes: could not check: "), "{stderr}");

    // 1: a problem: a group NSS does not know lets everyone past the gate.
    let unknown = Staged::new("sshd-key-then-code", "bc-no-such-group", true, None);
    let (status, report) = unknown.json(&[]);
    assert_eq!(status, Some(1), "{report}");
    let problems = findings(&report, "problem");
    assert!(
        problems.iter().any(|(check, subject, m)| check == "group"
            && subject == "bc-no-such-group"
            && m.contains("no such group")),
        "{problems:?}"
    );
}

#[test]
fn sudo_routing_to_a_code_service_is_reported_and_a_skipped_login_service_warned() {
    skip_unless!("sshd", "getent");
    let (group, _users) = group_of(0);
    let staged = Staged::new("sshd-key-then-code", &group.name, true, None);
    let service = repo_file("pam.d-examples/sudo-backup-codes");
    fs::write(
        staged.path("pam.d").join("sudo-backup-codes"),
        staged.lines(&service, &group.name),
    )
    .unwrap();
    let includes = staged.path("sudoers.d");
    fs::create_dir(&includes).unwrap();
    let sudoers = staged.path("sudoers");
    fs::write(
        &sudoers,
        format!("Defaults env_reset\n@includedir {}\n", includes.display()),
    )
    .unwrap();
    let rule = includes.join("backup-codes");

    // pam_service only: `sudo -i` goes to sudo-i, without a code.
    fs::write(
        &rule,
        "Defaults:bcadmin pam_service=sudo-backup-codes\nbcadmin ALL=(ALL:ALL) ALL\n",
    )
    .unwrap();
    let (status, stdout, stderr) = staged.check(&[]);
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    let place = format!("{}:1", rule.display());
    assert!(
        stdout.contains(&format!(
            "note: {place}: sudo for bcadmin: `sudo CMD` uses the service sudo-backup-codes (asks for a code), `sudo -i` uses sudo-i (no code)"
        )),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!(
            "warning: {place}: `sudo CMD` asks bcadmin for a code but `sudo -i` does not"
        )),
        "{stderr}"
    );

    // Both, as the recipe says: reported, no warning.
    fs::write(
        &rule,
        "Defaults:bcadmin pam_service=sudo-backup-codes, pam_login_service=sudo-backup-codes\n",
    )
    .unwrap();
    let (status, stdout, stderr) = staged.check(&[]);
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("`sudo -i` uses sudo-backup-codes (asks for a code)"),
        "{stdout}"
    );
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn not_root_is_could_not_check() {
    skip_unless!("setpriv");
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let store = dir.path().join("store");
    fs::create_dir(&store).unwrap();
    fs::set_permissions(&store, fs::Permissions::from_mode(0o700)).unwrap();
    let config = dir.path().join("config");
    fs::write(&config, format!("store = \"{}\"\n", store.display())).unwrap();
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
    // As nobody, with a copy of the binary nobody can run.
    let program = dir.path().join("backup-codes");
    fs::copy(env!("CARGO_BIN_EXE_backup-codes"), &program).unwrap();
    let out = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&program)
        .arg("--config")
        .arg(&config)
        .args(["check", "--format", "json"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(2), "{report}");
    let unchecked = findings(&report, "unchecked");
    assert!(
        unchecked
            .iter()
            .any(|(check, _, m)| check == "access" && m.starts_with("not root")),
        "{unchecked:?}"
    );
    assert!(
        unchecked
            .iter()
            .any(|(check, subject, _)| check == "store" && *subject == store.display().to_string()),
        "{unchecked:?}"
    );
    assert_eq!(report["problems"], 0, "{report}");
}

#[test]
fn a_match_user_that_misses_a_case_folded_spelling_is_reported() {
    skip_unless!("sshd", "getent", "cc");
    let canonical = unique("pbcfold");
    let group = unique("bcfoldgrp");
    let gid = 71_235;
    let libs = tempfile::tempdir().unwrap();
    let module = build_folding_nss(libs.path(), &canonical, gid, Some(&group));
    // passwd and group from the folding source after files. Not a copy of
    // /etc/group bind-mounted: a groupadd by a test running beside this one
    // replaces /etc/group, which detaches such a mount.
    let nsswitch = libs.path().join("nsswitch.conf");
    let text: String = common::nsswitch_with(&module)
        .lines()
        .filter(|l| !l.trim_start().starts_with("group:"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&nsswitch, format!("{text}group: files {module}\n")).unwrap();
    let by_name = format!(
        "Match User {canonical}\n    AuthenticationMethods publickey,keyboard-interactive\n    \
         KbdInteractiveAuthentication yes\n    PasswordAuthentication no\n"
    );
    let staged_by_name = Staged::new("sshd-key-then-code", &group, true, Some(&by_name));
    let staged_by_group = Staged::new("sshd-key-then-code", &group, true, None);
    in_private_mounts(|| {
        let _nsswitch = Mounted::bind(&nsswitch, "/etc/nsswitch.conf");
        let cmd = || {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-codes"));
            cmd.env("LD_LIBRARY_PATH", libs.path());
            cmd
        };
        // Match User names the canonical spelling: a client that types it in
        // upper case reaches the account, and PAM's ingroup gate, but sshd's
        // Match User compares the typed name: key alone.
        let (status, stdout, stderr) = staged_by_name.check_with(&[], cmd());
        assert_eq!(status, Some(1), "{stdout}{stderr}");
        let upper = canonical.to_uppercase();
        assert!(
            stderr.contains(&format!("backup-codes: {canonical} (typed as {upper}): member of {group}: sshd's AuthenticationMethods is \"any\"")),
            "{stderr}"
        );
        assert!(
            stdout.contains(&format!("ok: {canonical}: member of {group}")),
            "{stdout}"
        );
        // Match Group, as shipped: sshd matches the account's groups.
        let (status, stdout, stderr) = staged_by_group.check_with(&[], cmd());
        assert_eq!(status, Some(0), "{stdout}{stderr}");
        assert!(
            stdout.contains(&format!("ok: {canonical} (typed as {upper}): member of {group}")),
            "{stdout}"
        );
    });
}
