//! Real SSH logins: a private sshd on 127.0.0.1 whose PAM service is the
//! `sshd-key-then-code` or `sshd-totp-or-code` example (with the freshly
//! built module and a temporary store), and the OpenSSH client answering
//! keyboard-interactive prompts through SSH_ASKPASS.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use common::system::{SshClient, Sshd, TestUser, example_for, keygen, totp};
use common::{Lab, or_skip};

const WRONG_CODE: &str = "00000-00000";
/// A well-known base32 test secret for pam_google_authenticator.
const SECRET: &str = "JBSWY3DPEHPK3PXP";

/// The checks both setups share: a valid code runs the command as the user,
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
    let accepted = format!(
        "Accepted keyboard-interactive/pam for {} from 127.0.0.1",
        user.name
    );
    assert!(sshd.logged(&accepted), "{:#?}", sshd.log());

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
    assert_eq!(uses[0]["service"], sshd.service.name.as_str());
    assert_eq!(uses[0]["rhost"], "127.0.0.1");
    // The store file itself records the same.
    let file = std::fs::read_to_string(lab.user_file(&user.name)).unwrap();
    assert!(file.contains(&format!("\"{}\"", sshd.service.name)), "{file}");
    assert!(file.contains("\"127.0.0.1\""), "{file}");
}

#[test]
fn keyboard_interactive_alone_takes_a_code_once() {
    let (lab, user) = or_skip!((Lab::new(), TestUser::new()), "sshd", "ssh", "ssh-keygen");
    let pam = example_for(&lab, "sshd-key-then-code");
    let sshd = Sshd::start(&pam, &user.name, "AuthenticationMethods keyboard-interactive");
    let client = SshClient::new(&user.name, sshd.port, None);
    code_works_once(&lab, &user, &sshd, &client);
}

#[test]
fn publickey_then_keyboard_interactive_needs_the_key_and_a_code() {
    let (lab, user) = or_skip!((Lab::new(), TestUser::new()), "sshd", "ssh", "ssh-keygen");
    let key = user.home.join("id_ed25519");
    keygen(&key);
    let authorized = lab.path().join("authorized_keys");
    std::fs::copy(key.with_extension("pub"), &authorized).unwrap();
    let pam = example_for(&lab, "sshd-key-then-code");
    let sshd = Sshd::start(
        &pam,
        &user.name,
        &format!(
            "PubkeyAuthentication yes\nAuthorizedKeysFile {}\n\
             AuthenticationMethods publickey,keyboard-interactive",
            authorized.display()
        ),
    );
    let with_key = SshClient::new(&user.name, sshd.port, Some(key));
    code_works_once(&lab, &user, &sshd, &with_key);
    let partial = format!("Partial publickey for {} from 127.0.0.1", user.name);
    assert!(sshd.logged(&partial), "the key came first: {:#?}", sshd.log());

    // Without the key, keyboard-interactive is never offered: a valid code
    // is not even asked for, and stays unused.
    let codes = lab.generate(&user.name, &[]);
    let without_key = SshClient::new(&user.name, sshd.port, None);
    let refused = without_key.run(&codes[0], "id -un");
    assert_eq!(refused.status, Some(255), "{refused:?}");
    assert!(
        refused.prompts.is_empty(),
        "no prompt without the key: {refused:?}"
    );
    assert_eq!(lab.status(&user.name)["remaining"], 10);
}

/// Why README and the example insist on `AuthenticationMethods`: without it
/// sshd accepts any one method, and its "password" method hands the typed
/// password to every PAM prompt, so a code typed as the password logs in
/// alone, without the key.
#[test]
fn without_authentication_methods_a_code_alone_logs_in_as_a_password() {
    let (lab, user) = or_skip!((Lab::new(), TestUser::new()), "sshd", "ssh", "ssh-keygen");
    let pam = example_for(&lab, "sshd-key-then-code");
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

/// The `sshd-totp-or-code` example over SSH: sshd turns each PAM prompt
/// into a keyboard-interactive round. The TOTP alone logs in; a backup code
/// typed at both prompts fails as a TOTP and is then taken as a code.
#[test]
fn totp_or_code_over_ssh() {
    let (lab, user) = or_skip!(
        (Lab::new(), TestUser::new()),
        "sshd",
        "ssh",
        "ssh-keygen",
        "oathtool"
    );
    user.home_file(
        ".google_authenticator",
        &format!("{SECRET}\n\" TOTP_AUTH\n"),
        0o400,
    );
    let pam = example_for(&lab, "sshd-totp-or-code");
    let sshd = Sshd::start(&pam, &user.name, "AuthenticationMethods keyboard-interactive");
    let codes = lab.generate(&user.name, &[]);
    let client = SshClient::new(&user.name, sshd.port, None);

    let by_totp = client.run(&totp(SECRET), "id -un");
    assert_eq!(by_totp.status, Some(0), "{by_totp:?}\nsshd: {:#?}", sshd.log());
    assert_eq!(by_totp.stdout.trim(), user.name);
    assert_eq!(by_totp.prompts.len(), 1, "{by_totp:?}");
    assert!(by_totp.prompts[0].ends_with("Verification code: "), "{by_totp:?}");
    assert_eq!(lab.status(&user.name)["remaining"], 10);

    let by_code = client.run(&codes[0], "id -un");
    assert_eq!(by_code.status, Some(0), "{by_code:?}\nsshd: {:#?}", sshd.log());
    assert_eq!(by_code.stdout.trim(), user.name);
    assert_eq!(by_code.prompts.len(), 2, "{by_code:?}");
    assert!(by_code.prompts[1].ends_with("Backup code: "), "{by_code:?}");

    let again = client.run(&codes[0], "id -un");
    assert_eq!(again.status, Some(255), "{again:?}");
    let status = lab.status(&user.name);
    assert_eq!(status["remaining"], 9);
    assert_eq!(status["uses"][0]["rhost"], "127.0.0.1");
}
