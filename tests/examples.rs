//! Every file in `pam.d-examples/` through pamtester, with the real Debian
//! modules around ours (pam_unix with a real password, pam_google_authenticator
//! with a TOTP from oathtool, pam_succeed_if, pam_deny/pam_permit from
//! common-auth): the control flags do what each file's comment says. Each
//! snippet is added, as it says, to a copy of this machine's stock file: under
//! a PAM service name of its own, or mounted over the real file in a private
//! mount namespace when the stock services themselves must see it. The text
//! is used verbatim, except that `pam_backup_codes.so` names the freshly
//! built module and its temporary store, and the group is a test's own.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;

use common::recipes::{Mounts, Snippet, doc_block, for_lab, repo_file};
use common::system::{
    PamService, TestGroup, TestUser, example, example_for, pamtester, pamtester_login, pamtester_login_in,
    run as run_cmd, totp, wrong_totp,
};
use common::{Lab, or_skip};

/// A well-known base32 test secret (RFC 4648 "Hello!\xDE\xAD\xBE\xEF").
const SECRET: &str = "JBSWY3DPEHPK3PXP";
const WRONG_CODE: &str = "00000-00000";

/// Installs the example as a PAM service with a unique name.
fn service(lab: &Lab, name: &str) -> PamService {
    PamService::install("bc-example-", &example_for(lab, name))
}

/// Gives `user` a pam_google_authenticator secret file with a TOTP secret.
fn enrol_totp(user: &TestUser) {
    user.home_file(
        ".google_authenticator",
        &format!("{SECRET}\n\" TOTP_AUTH\n"),
        0o400,
    );
}

/// The group the sshd recipes name; each test uses a group of its own.
const RECIPE_GROUP: &str = "backup-codes";

/// The stock file a one-file snippet changes, with its lines added for
/// `lab` (and `group` for the recipe's group), as a service of its own.
fn snippet_service(lab: &Lab, name: &str, group: Option<&TestGroup>) -> PamService {
    let snippet = Snippet::example(name);
    let words: Vec<(&str, &str)> = group
        .map(|g| (RECIPE_GROUP, g.name.as_str()))
        .into_iter()
        .collect();
    let applied = snippet.applied(&for_lab(lab, &snippet.lines, &words));
    assert_eq!(applied.len(), 1, "{name}");
    PamService::install("bc-example-", &applied[0].1)
}

#[test]
fn every_example_says_when_to_use_it_and_what_root_and_automation_get() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pam.d-examples");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "common-auth",
            "login",
            "sshd-key-then-code",
            "sshd-totp-or-code",
            "sshd_config.d-backup-codes.conf",
            "sudo",
            "sudo-backup-codes",
            "sudoers.d-backup-codes"
        ]
    );
    // The sudoers example is no PAM recipe: tests/renew.rs runs its rule and
    // tests/docs.rs holds the guide's copy of it to the file.
    for name in names.iter().filter(|n| !n.starts_with("sudoers.d-")) {
        let text = example(name);
        let comment: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
        assert!(
            comment.len() >= 5,
            "{name} must open with a comment saying when to use it"
        );
        let comment = comment.join("\n");
        assert!(
            comment.contains("Use it"),
            "{name}: the comment says when to use it"
        );
        assert!(
            ["root", "automation"]
                .iter()
                .all(|w| comment.to_lowercase().contains(w)),
            "{name}: the comment says what root and automation get"
        );
        let module_lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && l.contains("pam_backup_codes.so"))
            .collect();
        if name.starts_with("sshd_config") {
            assert!(module_lines.is_empty(), "{name}");
            continue;
        }
        assert_eq!(module_lines.len(), 1, "{name}: {module_lines:?}");
        assert!(
            module_lines[0].trim_start().starts_with("auth"),
            "{name}: {module_lines:?}"
        );
        // Every stock-file change says where it goes, and fits this
        // machine's stock files.
        if name != "sudo-backup-codes" {
            let snippet = Snippet::example(name);
            for (target, text) in snippet.applied(&snippet.lines) {
                assert!(text.contains(module_lines[0]), "{}", target.display());
            }
        }
    }
}

#[test]
fn sshd_key_then_code_takes_each_code_once_and_refuses_users_without_codes() {
    let lab = or_skip!(Lab::new(), "pamtester");
    let group = TestGroup::new();
    let user = TestUser::new();
    let stranger = TestUser::new();
    group.add(&user);
    group.add(&stranger);
    let svc = snippet_service(&lab, "sshd-key-then-code", Some(&group));
    let codes = lab.generate(&user.name, &[]);

    let first = pamtester_login(&svc.name, &user.name, &[&codes[0]]);
    assert!(first.success, "{first:?}");
    assert_eq!(
        first.prompts,
        ["Backup code: "],
        "the code is the only question: {first:?}"
    );
    assert!(first.shows("9 backup codes left."), "{first:?}");

    let again = pamtester(&svc.name, &user.name, &[&codes[0]]);
    assert!(!again.success, "a code works once: {again:?}");
    let wrong = pamtester(&svc.name, &user.name, &[WRONG_CODE]);
    assert!(!wrong.success, "{wrong:?}");

    let none = pamtester(&svc.name, &stranger.name, &[&codes[1]]);
    assert!(
        !none.success,
        "no nullok: a user without codes is refused: {none:?}"
    );
    assert_eq!(
        none.prompts,
        ["Backup code: "],
        "and prompted like anyone else: {none:?}"
    );

    let status = lab.status(&user.name);
    assert_eq!(status["remaining"], 9);
    assert_eq!(status["failures"], 2);
    assert_eq!(status["uses"][0]["service"], svc.name.as_str());
    assert_eq!(status["uses"][0]["rhost"], "127.0.0.1");

    // Outside the group: common-auth, the password, as before; a set of
    // codes (for sudo, say) is not touched.
    let outsider = TestUser::new();
    outsider.set_password("outsider password 4");
    lab.generate(&outsider.name, &[]);
    let by_password = pamtester_login(&svc.name, &outsider.name, &["outsider password 4"]);
    assert!(by_password.success, "{by_password:?}");
    assert_eq!(by_password.prompts, ["Password: "], "{by_password:?}");
    assert_eq!(lab.status(&outsider.name)["remaining"], 10);
}

#[test]
fn sshd_totp_or_code_takes_a_totp_or_else_a_backup_code() {
    let lab = or_skip!(Lab::new(), "pamtester", "oathtool");
    let group = TestGroup::new();
    let user = TestUser::new();
    group.add(&user);
    enrol_totp(&user);
    let svc = snippet_service(&lab, "sshd-totp-or-code", Some(&group));
    let codes = lab.generate(&user.name, &[]);

    // The TOTP alone: one prompt, the backup codes are not touched.
    let by_totp = pamtester_login(&svc.name, &user.name, &[&totp(SECRET)]);
    assert!(by_totp.success, "{by_totp:?}");
    assert_eq!(by_totp.prompts, ["Verification code: "], "{by_totp:?}");
    assert_eq!(lab.status(&user.name)["remaining"], 10);
    assert_eq!(lab.status(&user.name)["failures"], 0);

    // No TOTP at hand: an empty answer, then a backup code.
    let by_code = pamtester(&svc.name, &user.name, &["", &codes[0]]);
    assert!(by_code.success, "{by_code:?}");
    assert_eq!(
        by_code.prompts,
        ["Verification code: ", "Backup code: "],
        "{by_code:?}"
    );

    // The same code again, after a wrong TOTP: refused.
    let wrong = wrong_totp(SECRET);
    let reused = pamtester(&svc.name, &user.name, &[&wrong, &codes[0]]);
    assert!(!reused.success, "{reused:?}");
    assert_eq!(
        reused.prompts,
        ["Verification code: ", "Backup code: "],
        "{reused:?}"
    );
    // A wrong TOTP and a wrong code: refused.
    let both_wrong = pamtester(&svc.name, &user.name, &[&wrong, WRONG_CODE]);
    assert!(!both_wrong.success, "{both_wrong:?}");

    // A backup code typed at the TOTP prompt is not a TOTP; the backup
    // code prompt follows and takes it.
    let code_first = pamtester(&svc.name, &user.name, &[&codes[1], &codes[1]]);
    assert!(code_first.success, "{code_first:?}");

    let status = lab.status(&user.name);
    assert_eq!(status["remaining"], 8);
    assert_eq!(status["uses"][0]["service"], svc.name.as_str());
}

#[test]
fn sshd_totp_or_code_lets_users_without_a_totp_in_with_a_code() {
    let lab = or_skip!(Lab::new(), "pamtester");
    let group = TestGroup::new();
    let user = TestUser::new();
    group.add(&user);
    let svc = snippet_service(&lab, "sshd-totp-or-code", Some(&group));
    let codes = lab.generate(&user.name, &[]);

    // pam_google_authenticator prompts even without a secret file (the
    // prompts do not tell who has one); any answer fails there.
    let login = pamtester(&svc.name, &user.name, &["", &codes[0]]);
    assert!(login.success, "{login:?}");
    assert_eq!(
        login.prompts,
        ["Verification code: ", "Backup code: "],
        "{login:?}"
    );
    let again = pamtester(&svc.name, &user.name, &["123456", &codes[0]]);
    assert!(!again.success, "{again:?}");
}

/// Why sshd-totp-or-code uses two prompts: pam_google_authenticator's
/// `forward_pass` sets PAM_AUTHTOK only after a right TOTP, so a backup code
/// typed at its prompt never reaches `use_first_pass`. If this test fails,
/// pam_google_authenticator changed and a one-prompt example becomes possible.
#[test]
fn forward_pass_does_not_hand_a_backup_code_on() {
    let lab = or_skip!(Lab::new(), "pamtester", "oathtool");
    let user = TestUser::new();
    enrol_totp(&user);
    let stack = format!(
        "auth [success=done default=ignore] pam_google_authenticator.so forward_pass\n\
         auth required {} store={} use_first_pass\n",
        lab.module.display(),
        lab.store.display()
    );
    let svc = PamService::install("bc-fwd-", &stack);
    let codes = lab.generate(&user.name, &[]);

    let by_code = pamtester(&svc.name, &user.name, &[&codes[0]]);
    assert!(!by_code.success, "{by_code:?}");
    assert_eq!(by_code.prompts, ["Password & verification code: "], "{by_code:?}");
    let status = lab.status(&user.name);
    assert_eq!(status["remaining"], 10, "the code never reached the module");
    assert_eq!(status["failures"], 0);

    let by_totp = pamtester(&svc.name, &user.name, &[&totp(SECRET)]);
    assert!(
        by_totp.success,
        "a TOTP alone works (the empty rest is forwarded): {by_totp:?}"
    );
}

#[test]
fn sudo_example_takes_each_code_once() {
    let lab = or_skip!(Lab::new(), "pamtester");
    let user = TestUser::new();
    let stranger = TestUser::new();
    let svc = service(&lab, "sudo-backup-codes");
    let codes = lab.generate(&user.name, &[]);

    let first = pamtester_login(&svc.name, &user.name, &[&codes[4]]);
    assert!(first.success, "{first:?}");
    assert_eq!(first.prompts, ["Backup code: "]);
    let again = pamtester(&svc.name, &user.name, &[&codes[4]]);
    assert!(!again.success, "{again:?}");
    let wrong = pamtester(&svc.name, &user.name, &[WRONG_CODE]);
    assert!(!wrong.success, "{wrong:?}");
    let none = pamtester(&svc.name, &stranger.name, &[&codes[5]]);
    assert!(!none.success, "no nullok: without codes, no sudo: {none:?}");
    assert_eq!(lab.status(&user.name)["remaining"], 9);
}

/// The checks shared by the two password-then-code stacks (login and the
/// common-auth line): `svc` asks for the password, then for a code only
/// from users who have a set.
fn password_then_code_for_users_with_a_set(lab: &Lab, svc: &PamService) {
    let user = TestUser::new();
    let plain = TestUser::new();
    user.set_password("correct horse 1");
    plain.set_password("battery staple 2");
    let codes = lab.generate(&user.name, &[]);

    let both = pamtester_login(&svc.name, &user.name, &["correct horse 1", &codes[0]]);
    assert!(both.success, "{both:?}");
    assert_eq!(both.prompts, ["Password: ", "Backup code: "], "{both:?}");

    let reused = pamtester(&svc.name, &user.name, &["correct horse 1", &codes[0]]);
    assert!(!reused.success, "a code works once: {reused:?}");
    let wrong_code = pamtester(&svc.name, &user.name, &["correct horse 1", WRONG_CODE]);
    assert!(!wrong_code.success, "{wrong_code:?}");

    // A wrong password ends the stack before the code is asked: no code
    // is spent on a login that fails anyway.
    let wrong_password = pamtester(&svc.name, &user.name, &["wrong", &codes[1]]);
    assert!(!wrong_password.success, "{wrong_password:?}");
    assert_eq!(wrong_password.prompts, ["Password: "], "{wrong_password:?}");
    let status = lab.status(&user.name);
    assert_eq!(status["remaining"], 9, "only the first code is spent");
    assert_eq!(status["uses"].as_array().unwrap().len(), 1);

    // Without a set: the password alone decides (nullok), not a lock-out.
    let no_set = pamtester_login(&svc.name, &plain.name, &["battery staple 2"]);
    assert!(
        no_set.success,
        "nullok: a user without codes logs in with the password: {no_set:?}"
    );
    assert_eq!(no_set.prompts, ["Password: "], "{no_set:?}");
    let no_set_wrong = pamtester(&svc.name, &plain.name, &["wrong"]);
    assert!(!no_set_wrong.success, "{no_set_wrong:?}");
}

#[test]
fn login_asks_a_code_after_the_password_only_from_users_with_a_set() {
    let lab = or_skip!(Lab::new(), "pamtester");
    let svc = snippet_service(&lab, "login", None);
    password_then_code_for_users_with_a_set(&lab, &svc);
}

/// The line of the pam-auth-update profile, as the package ships it, the
/// example publishes it and the administrator's guide shows it.
fn profile_line() -> String {
    let profile = repo_file("debian/pam-configs/backup-codes");
    let mut lines = profile.lines().skip_while(|l| *l != "Auth:");
    assert!(lines.next().is_some(), "{profile}");
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let line = format!("auth {}", words(lines.next().unwrap()));
    let example = Snippet::example("common-auth");
    assert_eq!(
        words(example.lines.trim()),
        line,
        "the example is the profile's line"
    );
    assert_eq!(
        words(doc_block("docs/admin-guide.md", "The profile adds one line").trim()),
        line,
        "docs/admin-guide.md shows the profile's line"
    );
    example.lines
}

#[test]
fn common_auth_line_asks_a_code_after_the_password_only_from_users_with_a_set() {
    let lab = or_skip!(Lab::new(), "pamtester");
    profile_line();
    let svc = snippet_service(&lab, "common-auth", None);
    password_then_code_for_users_with_a_set(&lab, &svc);
}

/// Console `login` asks for one code: with the `login` lines added to the
/// stock /etc/pam.d/login, and with the stock login and the profile's line
/// in the stock common-auth (the recipe says not to add both).
#[test]
fn console_login_asks_once_with_the_login_lines_or_the_common_auth_profile() {
    let lab = or_skip!(Lab::new(), "pamtester", "unshare");
    let user = TestUser::new();
    user.set_password("console password 5");
    let codes = lab.generate(&user.name, &[]);

    let login = Snippet::example("login");
    let common = Snippet::example("common-auth");
    let mut with_login_lines = Mounts::new();
    for (target, text) in login.applied(&for_lab(&lab, &login.lines, &[])) {
        with_login_lines.file(&target, &text);
    }
    let mut with_profile = Mounts::new();
    for (target, text) in common.applied(&for_lab(&lab, &profile_line(), &[])) {
        with_profile.file(&target, &text);
    }
    for (mounts, code) in [(&with_login_lines, &codes[0]), (&with_profile, &codes[1])] {
        let run = pamtester_login_in(mounts, "login", &user.name, &["console password 5", code]);
        assert!(run.success, "{run:?}");
        assert_eq!(run.prompts, ["Password: ", "Backup code: "], "{run:?}");
    }
    let status = lab.status(&user.name);
    assert_eq!(status["remaining"], 8);
    assert_eq!(status["uses"][0]["service"], "login");
    assert_eq!(status["uses"][1]["service"], "login");

    // Both at once, against the recipe: two codes a login, and
    // `backup-codes check` says so; with either alone it says nothing.
    let mut both = Mounts::new();
    for (target, text) in login
        .applied(&for_lab(&lab, &login.lines, &[]))
        .into_iter()
        .chain(common.applied(&for_lab(&lab, &profile_line(), &[])))
    {
        both.file(&target, &text);
    }
    let run = pamtester_login_in(
        &both,
        "login",
        &user.name,
        &["console password 5", &codes[2], &codes[3]],
    );
    assert!(run.success, "{run:?}");
    assert_eq!(
        run.prompts,
        ["Password: ", "Backup code: ", "Backup code: "],
        "{run:?}"
    );
    let warning = "/etc/pam.d/login: the auth stack runs the module 2 times";
    let check = |mounts: &Mounts| {
        let out = run_cmd(mounts.command(env!("CARGO_BIN_EXE_backup-codes")).arg("check"));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = check(&both);
    assert!(stderr.contains(warning), "{stderr}");
    for one in [&with_login_lines, &with_profile] {
        let stderr = check(one);
        assert!(!stderr.contains("runs the module"), "{stderr}");
    }
}
