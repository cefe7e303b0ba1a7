//! Real SSH logins through the sshd recipes, as published: the lines of
//! `pam.d-examples/sshd-key-then-code` (or `sshd-totp-or-code`) added to this
//! machine's /etc/pam.d/sshd, and `sshd_config.d-backup-codes.conf` as a file
//! of /etc/ssh/sshd_config.d, read by the stock sshd_config. The stock sshd
//! runs with them in a private mount namespace (the system's own files never
//! change), with the freshly built module and a temporary store, and the
//! OpenSSH client answers keyboard-interactive prompts through SSH_ASKPASS.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::Lab;
use common::recipes::{Mounts, Snippet, for_lab, indented_block, repo_file};
use common::skip_unless;
use common::system::{SshClient, Sshd, TestGroup, TestUser, keygen, run, totp};

const WRONG_CODE: &str = "00000-00000";
/// The group the recipes name; each test uses a group of its own instead.
const RECIPE_GROUP: &str = "backup-codes";
const SSHD_CONFIG: &str = "sshd_config.d-backup-codes.conf";

/// The stock /etc/pam.d/sshd with the lines of `example` added as it says,
/// for `lab`'s module and store and `group`.
fn pam_sshd(lab: &Lab, example: &str, group: &TestGroup) -> String {
    let snippet = Snippet::example(example);
    let lines = for_lab(lab, &snippet.lines, &[(RECIPE_GROUP, &group.name)]);
    let applied = snippet.applied(&lines);
    assert_eq!(applied.len(), 1, "{example}: one file, /etc/pam.d/sshd");
    assert_eq!(applied[0].0, Path::new("/etc/pam.d/sshd"));
    applied[0].1.clone()
}

/// A lab, a new group with one member, and the stock /etc/pam.d/sshd with
/// the sshd-key-then-code recipe for that group: (lab, group, member, PAM
/// file). The group is removed when dropped, so callers keep it.
fn one_member_key_then_code() -> (Lab, TestGroup, TestUser, String) {
    let lab = Lab::new();
    let group = TestGroup::new();
    let user = TestUser::new();
    group.add(&user);
    let pam = pam_sshd(&lab, "sshd-key-then-code", &group);
    (lab, group, user, pam)
}

/// The recipe's stock files for one test: /etc/pam.d/sshd and
/// /etc/ssh/sshd_config.d/ with the recipe's file in it.
fn recipe_mounts(lab: &Lab, example: &str, group: &TestGroup) -> Mounts {
    let config = for_lab(
        lab,
        &repo_file(&format!("pam.d-examples/{SSHD_CONFIG}")),
        &[(RECIPE_GROUP, &group.name)],
    );
    assert!(
        config.contains(&format!("Match Group {}\n", group.name)),
        "{config}"
    );
    let mut mounts = Mounts::new();
    mounts
        .file(Path::new("/etc/pam.d/sshd"), &pam_sshd(lab, example, group))
        .dir(
            Path::new("/etc/ssh/sshd_config.d"),
            &[("backup-codes.conf", &config)],
        );
    mounts
}

/// Authorized keys, one file per user (sshd's AuthorizedKeysFile KEYS/%u),
/// and the private keys the client offers.
struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pam-backup-codes-keys.")
            .tempdir()
            .unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir(dir.path().join("private")).unwrap();
        Self { dir }
    }

    fn authorized(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// A new key pair for `user`, authorized; the private key's path.
    fn add(&self, user: &str) -> PathBuf {
        let key = self.dir.path().join("private").join(user);
        keygen(&key);
        fs::copy(key.with_extension("pub"), self.dir.path().join(user)).unwrap();
        key
    }
}

/// Non-interactive: what automation runs. Any prompt fails at once.
const BATCH: &[&str] = &["BatchMode=yes"];

#[test]
fn match_group_recipe_on_the_stock_sshd() {
    skip_unless!("sshd", "ssh", "ssh-keygen", "unshare");
    let lab = Lab::new();
    let group = TestGroup::new();
    let member = TestUser::new();
    let outsider = TestUser::new();
    group.add(&member);
    outsider.set_password("outsider password 3");
    let keys = Keys::new();
    let member_key = keys.add(&member.name);
    let outsider_key = keys.add(&outsider.name);
    let root_key = keys.add("root");
    let mounts = recipe_mounts(&lab, "sshd-key-then-code", &group);
    let sshd = Sshd::stock(
        &mounts,
        &keys.authorized(),
        &["root", &member.name, &outsider.name],
    );
    let codes = lab.generate(&member.name, &[]);
    // The outsider has a set too (for sudo, say): SSH must not touch it.
    lab.generate(&outsider.name, &[]);
    let log = || format!("sshd: {:#?}", sshd.log());

    // Root: by key alone, without a prompt (PermitRootLogin prohibit-password).
    let root = SshClient::new("root", sshd.port, Some(root_key));
    let by_key = root.run_with(BATCH, "", "id -un");
    assert_eq!(by_key.status, Some(0), "{by_key:?}\n{}", log());
    assert_eq!(by_key.stdout.trim(), "root");
    assert!(by_key.prompts.is_empty(), "{by_key:?}");

    // A user outside the group: by key alone, non-interactively.
    let outside = SshClient::new(&outsider.name, sshd.port, Some(outsider_key));
    let by_key = outside.run_with(BATCH, "", "id -un");
    assert_eq!(by_key.status, Some(0), "{by_key:?}\n{}", log());
    assert_eq!(by_key.stdout.trim(), outsider.name);
    assert!(by_key.prompts.is_empty(), "{by_key:?}");
    // ... and by password (Debian's PasswordAuthentication yes), through
    // common-auth: the password never reaches the code prompt.
    let by_password = SshClient::new(&outsider.name, sshd.port, None).run_with(
        &["PasswordAuthentication=yes"],
        "outsider password 3",
        "id -un",
    );
    assert_eq!(by_password.status, Some(0), "{by_password:?}\n{}", log());
    assert!(
        by_password.prompts.iter().all(|p| p.ends_with("password: ")),
        "{by_password:?}"
    );
    let outsider_status = lab.status(&outsider.name);
    assert_eq!(
        (
            outsider_status["remaining"].as_u64(),
            outsider_status["failures"].as_u64()
        ),
        (Some(10), Some(0))
    );

    // A member, non-interactively (automation that runs as a member):
    // refused after the key, without a prompt and without spending a code.
    let member_client = SshClient::new(&member.name, sshd.port, Some(member_key));
    let batch = member_client.run_with(BATCH, &codes[0], "id -un");
    assert_eq!(batch.status, Some(255), "{batch:?}");
    assert!(batch.prompts.is_empty(), "{batch:?}");
    let partial = format!("Partial publickey for {} from 127.0.0.1", member.name);
    assert!(sshd.logged(&partial), "{}", log());

    // A member: the key, then a code.
    let login = member_client.run(&codes[0], "id -un");
    assert_eq!(login.status, Some(0), "{login:?}\n{}", log());
    assert_eq!(login.stdout.trim(), member.name);
    assert_eq!(login.prompts.len(), 1, "{login:?}");
    assert!(login.prompts[0].ends_with("Backup code: "), "{login:?}");
    let accepted = format!(
        "Accepted keyboard-interactive/pam for {} from 127.0.0.1",
        member.name
    );
    assert!(sshd.logged(&accepted), "{}", log());
    // The key and a wrong code, or the key and the used code: refused.
    let wrong = member_client.run(WRONG_CODE, "id -un");
    assert_eq!(wrong.status, Some(255), "{wrong:?}");
    let again = member_client.run(&codes[0], "id -un");
    assert_eq!(again.status, Some(255), "{again:?}");
    // The key and a "password" (sshd's password method): never offered.
    let password = member_client.run_with(
        &["PasswordAuthentication=yes", "KbdInteractiveAuthentication=no"],
        &codes[1],
        "id -un",
    );
    assert_eq!(password.status, Some(255), "{password:?}");
    // A code without the key: keyboard-interactive is never offered.
    let no_key = SshClient::new(&member.name, sshd.port, None).run(&codes[1], "id -un");
    assert_eq!(no_key.status, Some(255), "{no_key:?}");
    assert!(no_key.prompts.is_empty(), "{no_key:?}");

    let status = lab.status(&member.name);
    assert_eq!(status["remaining"], 9, "{status}");
    assert_eq!(status["failures"], 2, "the wrong code and the re-use: {status}");
    assert_eq!(status["uses"][0]["service"], "sshd");
    assert_eq!(status["uses"][0]["rhost"], "127.0.0.1");
}

/// The `sshd-totp-or-code` lines on the stock sshd: the member creates the
/// TOTP secret with the published command (no scratch codes), then logs in
/// with the key and a TOTP, or the key and a backup code.
#[test]
fn totp_or_code_recipe_on_the_stock_sshd() {
    skip_unless!(
        "sshd",
        "ssh",
        "ssh-keygen",
        "unshare",
        "oathtool",
        "google-authenticator",
        "runuser"
    );
    let lab = Lab::new();
    let group = TestGroup::new();
    let member = TestUser::new();
    group.add(&member);
    let keys = Keys::new();
    let key = keys.add(&member.name);

    let example = repo_file("pam.d-examples/sshd-totp-or-code");
    let command = indented_block(&example, "as the member");
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[0], "google-authenticator", "{command}");
    assert!(
        words.windows(2).any(|w| w == ["-e", "0"]),
        "no scratch codes: {command}"
    );
    let out = run(std::process::Command::new("runuser")
        .args(["-u", &member.name, "--"])
        .args(&words)
        .current_dir(&member.home)
        .env("HOME", &member.home)
        .stdin(std::process::Stdio::null()));
    assert!(out.status.success(), "{command}: {out:?}");
    let secret_file = fs::read_to_string(member.home.join(".google_authenticator")).unwrap();
    let secret = secret_file.lines().next().unwrap().to_owned();
    // Only the secret and option lines: no plaintext scratch code.
    assert!(
        secret_file.lines().skip(1).all(|l| l.starts_with("\" ")),
        "{secret_file}"
    );

    let mounts = recipe_mounts(&lab, "sshd-totp-or-code", &group);
    let sshd = Sshd::stock(&mounts, &keys.authorized(), &[&member.name]);
    let codes = lab.generate(&member.name, &[]);
    let client = SshClient::new(&member.name, sshd.port, Some(key));

    let by_totp = client.run(&totp(&secret), "id -un");
    assert_eq!(by_totp.status, Some(0), "{by_totp:?}\nsshd: {:#?}", sshd.log());
    assert_eq!(by_totp.stdout.trim(), member.name);
    assert_eq!(by_totp.prompts.len(), 1, "{by_totp:?}");
    assert!(by_totp.prompts[0].ends_with("Verification code: "), "{by_totp:?}");
    assert_eq!(lab.status(&member.name)["remaining"], 10);

    // The backup code typed at both prompts: not a TOTP, then taken.
    let by_code = client.run(&codes[0], "id -un");
    assert_eq!(by_code.status, Some(0), "{by_code:?}\nsshd: {:#?}", sshd.log());
    assert_eq!(by_code.prompts.len(), 2, "{by_code:?}");
    assert!(by_code.prompts[1].ends_with("Backup code: "), "{by_code:?}");

    let again = client.run(&codes[0], "id -un");
    assert_eq!(again.status, Some(255), "{again:?}");
    let status = lab.status(&member.name);
    assert_eq!(status["remaining"], 9);
    assert_eq!(status["uses"][0]["rhost"], "127.0.0.1");
}

/// The checks of one code over SSH: it runs the command as the user once,
/// the same code again and a wrong one are refused, and the store and
/// `status` name the service and 127.0.0.1.
fn code_works_once(lab: &Lab, user: &TestUser, sshd: &Sshd, client: &SshClient) {
    let codes = lab.generate(&user.name, &[]);

    let first = client.run(&codes[2], "id -un");
    assert_eq!(first.status, Some(0), "{first:?}\nsshd: {:#?}", sshd.log());
    assert_eq!(first.stdout.trim(), user.name, "the command ran as the user");
    assert_eq!(first.prompts.len(), 1, "one prompt: {first:?}");
    assert!(first.prompts[0].ends_with("Backup code: "), "{first:?}");
    assert!(first.stderr.contains("9 backup codes left."), "{first:?}");

    let again = client.run(&codes[2], "id -un");
    assert_eq!(
        again.status,
        Some(255),
        "the same code again is refused: {again:?}"
    );
    assert!(
        again.stdout.is_empty() && again.stderr.contains("Permission denied"),
        "{again:?}"
    );

    let wrong = client.run(WRONG_CODE, "id -un");
    assert_eq!(wrong.status, Some(255), "a wrong code is refused: {wrong:?}");
    assert!(wrong.stdout.is_empty(), "{wrong:?}");
    let failed = format!("Failed keyboard-interactive/pam for {} from 127.0.0.1", user.name);
    assert!(sshd.logged(&failed), "{:#?}", sshd.log());

    let status = lab.status(&user.name);
    assert_eq!(status["remaining"], 9);
    assert_eq!(status["failures"], 2, "the re-use and the wrong code");
    let uses = status["uses"].as_array().unwrap();
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0]["service"], sshd.service.as_str());
    assert_eq!(uses[0]["rhost"], "127.0.0.1");
    // The store file itself records the same.
    let file = fs::read_to_string(lab.user_file(&user.name)).unwrap();
    assert!(file.contains(&format!("\"{}\"", sshd.service)), "{file}");
    assert!(file.contains("\"127.0.0.1\""), "{file}");
}

/// The recipe's PAM lines under a PAM service name of their own, with
/// keyboard-interactive alone: each code works once, and is recorded with
/// the service and the host.
#[test]
fn keyboard_interactive_alone_takes_a_code_once() {
    skip_unless!("sshd", "ssh", "ssh-keygen", "unshare");
    let (lab, _group, user, pam) = one_member_key_then_code();
    let sshd = Sshd::start(&pam, &user.name, "AuthenticationMethods keyboard-interactive");
    let client = SshClient::new(&user.name, sshd.port, None);
    code_works_once(&lab, &user, &sshd, &client);
}

/// Why the recipe sets `AuthenticationMethods`: without it sshd accepts any
/// one method, and its "password" method hands the typed password to every
/// PAM prompt, so a code typed as the password logs a member in alone,
/// without the key.
#[test]
fn without_authentication_methods_a_code_alone_logs_in_as_a_password() {
    skip_unless!("sshd", "ssh", "ssh-keygen", "unshare");
    let (lab, _group, user, pam) = one_member_key_then_code();
    let sshd = Sshd::start(
        &pam,
        &user.name,
        "PasswordAuthentication yes\nKbdInteractiveAuthentication no",
    );
    let codes = lab.generate(&user.name, &[]);
    let client = SshClient::new(&user.name, sshd.port, None);
    let login = client.run_with(&["PasswordAuthentication=yes"], &codes[0], "id -un");
    assert_eq!(login.status, Some(0), "{login:?}");
    assert_eq!(login.stdout.trim(), user.name);
    assert!(
        login.prompts.iter().all(|p| p.ends_with("password: ")),
        "{login:?}"
    );
    let accepted = format!("Accepted password for {} from 127.0.0.1", user.name);
    assert!(sshd.logged(&accepted), "{:#?}", sshd.log());
    assert_eq!(lab.status(&user.name)["remaining"], 9);
}

/// What the administrator's guide and the common-auth example say of sshd with the common-auth
/// profile on and Debian's sshd_config: sshd's password method answers the
/// code prompt with the password, so a user who has a set cannot log in by
/// password (and the attempt counts); by key, nothing changes; users
/// without a set log in by password as before.
#[test]
fn common_auth_profile_and_the_stock_sshd() {
    skip_unless!("sshd", "ssh", "ssh-keygen", "unshare");
    let lab = Lab::new();
    let with_set = TestUser::new();
    let without = TestUser::new();
    with_set.set_password("with a set 6");
    without.set_password("without a set 7");
    let keys = Keys::new();
    let key = keys.add(&with_set.name);
    let profile = Snippet::example("common-auth");
    let mut mounts = Mounts::new();
    for (target, text) in profile.applied(&for_lab(&lab, &profile.lines, &[])) {
        mounts.file(&target, &text);
    }
    let sshd = Sshd::stock(&mounts, &keys.authorized(), &[&with_set.name, &without.name]);
    lab.generate(&with_set.name, &[]);
    let password = ["PasswordAuthentication=yes"];

    let refused =
        SshClient::new(&with_set.name, sshd.port, None).run_with(&password, "with a set 6", "id -un");
    assert_eq!(refused.status, Some(255), "{refused:?}");
    let status = lab.status(&with_set.name);
    assert_eq!(
        (status["remaining"].as_u64(), status["failures"].as_u64()),
        (Some(10), Some(1)),
        "the password was taken as a wrong code: {status}"
    );

    let by_key = SshClient::new(&with_set.name, sshd.port, Some(key)).run_with(BATCH, "", "id -un");
    assert_eq!(by_key.status, Some(0), "{by_key:?}\nsshd: {:#?}", sshd.log());
    assert!(by_key.prompts.is_empty(), "{by_key:?}");

    let plain =
        SshClient::new(&without.name, sshd.port, None).run_with(&password, "without a set 7", "id -un");
    assert_eq!(plain.status, Some(0), "{plain:?}\nsshd: {:#?}", sshd.log());
    assert_eq!(plain.stdout.trim(), without.name);
}
