//! Invariant 8 of docs/design.md, the rate limit, end to end: the two scopes (a remote
//! lock leaves local logins open), the sliding fail_interval window, the
//! expiry of unlock_time (time passes by editing the tally in the user file,
//! as root, keeping it root-owned 0600), the NIST bound of 100 remote
//! failures in a row, reset on success, `backup-codes unlock`, deny=0,
//! unlock_time=0, and both scopes and the last failure in `status` (text
//! and JSON). tests/pam.rs has the basic lock and unlock.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::{Lab, RunCli, or_skip};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

const SVC: &str = "bc-lock";
const WRONG: &str = "ZZZZZ-ZZZZZ";

fn ago(seconds: i64) -> toml::Value {
    toml::Value::String(
        (OffsetDateTime::now_utc() - Duration::seconds(seconds))
            .format(&Rfc3339)
            .unwrap(),
    )
}

/// A list of failure times, each that many seconds ago.
fn times_ago(seconds: &[i64]) -> toml::Value {
    toml::Value::Array(seconds.iter().map(|&s| ago(s)).collect())
}

/// A login without a remote host (console, su, sudo on a local terminal).
fn local_login(lab: &Lab, user: &str, answer: &str) -> common::Login {
    let mut cmd = lab.driver();
    cmd.args(["--service", SVC, "--user", user, "--answer", answer]);
    lab.run(&mut cmd)
}

fn tally_field(lab: &Lab, user: &str, field: &str, value: toml::Value) {
    lab.edit_user_file(user, |t| {
        t.get_mut("tally")
            .unwrap()
            .as_table_mut()
            .unwrap()
            .insert(field.to_owned(), value);
    });
    let meta = fs::metadata(lab.user_file(user)).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o600));
}

fn status_text(lab: &Lab, config: &Path, user: &str) -> String {
    let out = lab
        .cli()
        .arg("--config")
        .arg(config)
        .args(["status", user])
        .run_cli();
    assert!(out.success());
    out.stdout.clone()
}

fn status_json(lab: &Lab, config: &Path, user: &str) -> serde_json::Value {
    let config = config.to_str().unwrap();
    lab.cli_json(&["--config", config, "status", "--format", "json", user])[0].clone()
}

#[test]
fn remote_failures_lock_remote_logins_only_and_status_shows_both_scopes() {
    let (lab, config) = or_skip!(Lab::with_config(SVC, "deny = 3\nunlock_time = 600\n"));
    let codes = lab.generate("alice", &[]);
    for i in 1..=2 {
        assert_eq!(lab.login(SVC, "alice", &[WRONG]).result(), "PAM_AUTH_ERR");
        let json = status_json(&lab, &config, "alice");
        assert_eq!(
            (json["remote"]["failures"].as_u64(), json["failures"].as_u64()),
            (Some(i), Some(i))
        );
        let text = status_text(&lab, &config, "alice");
        assert!(
            text.contains(&format!("remote failures: {i} ({i} in a row), not locked")),
            "{text}"
        );
    }
    let third = lab.login(SVC, "alice", &[WRONG]);
    assert_eq!(
        third.result(),
        "PAM_AUTH_ERR",
        "the failure that locks is still a wrong code"
    );
    assert!(third.logged("codes now locked"), "{:?}", third.log);

    let json = status_json(&lab, &config, "alice");
    assert_eq!(json["remote"]["locked"], true);
    assert_eq!(json["local"]["locked"], false);
    assert_eq!(json["locked"], true);
    let until = OffsetDateTime::parse(json["remote"]["locked_until"].as_str().unwrap(), &Rfc3339).unwrap();
    let left = until - OffsetDateTime::now_utc();
    assert!(
        left > Duration::seconds(590) && left <= Duration::seconds(600),
        "{left}"
    );
    assert_eq!(json["last_failure"]["service"], SVC);
    assert_eq!(json["last_failure"]["rhost"], "192.0.2.7");
    let text = status_text(&lab, &config, "alice");
    assert!(text.contains("local failures: 0, not locked"), "{text}");
    assert!(
        text.contains("remote failures: 3 (3 in a row), LOCKED until "),
        "{text}"
    );
    assert!(
        text.contains("last failure ") && text.contains(&format!("via {SVC} from 192.0.2.7")),
        "{text}"
    );

    // Remote: refused without a prompt, nothing counted.
    let locked = lab.login(SVC, "alice", &[&codes[0]]);
    assert_eq!(locked.result(), "PAM_MAXTRIES");
    assert!(locked.prompts().is_empty());
    assert_eq!(
        locked.errors(),
        ["Backup codes are locked after too many failures; try again in 10 min."]
    );
    assert_eq!(status_json(&lab, &config, "alice")["remote"]["failures"], 3);
    assert_eq!(status_json(&lab, &config, "alice")["remaining"], 10);

    // Local: the stranger's guesses do not keep the owner out.
    let console = local_login(&lab, "alice", &codes[0]);
    assert_eq!(console.result(), "PAM_SUCCESS", "{console:?}");
    // The success reset both scopes: remote logins are open again.
    let json = status_json(&lab, &config, "alice");
    assert_eq!(
        (json["locked"].as_bool(), json["failures"].as_u64()),
        (Some(false), Some(0))
    );
    assert_eq!(json["remote"]["in_a_row"], 0);
    assert_eq!(lab.login(SVC, "alice", &[&codes[1]]).result(), "PAM_SUCCESS");
}

#[test]
fn local_failures_lock_every_login() {
    let (lab, config) = or_skip!(Lab::with_config(SVC, "deny = 2\n"));
    let codes = lab.generate("lou", &[]);
    assert_eq!(local_login(&lab, "lou", WRONG).result(), "PAM_AUTH_ERR");
    assert_eq!(local_login(&lab, "lou", WRONG).result(), "PAM_AUTH_ERR");
    let json = status_json(&lab, &config, "lou");
    assert_eq!(
        (
            json["local"]["locked"].as_bool(),
            json["remote"]["locked"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert_eq!(json["last_failure"]["rhost"], serde_json::Value::Null);
    assert!(status_text(&lab, &config, "lou").contains(&format!("via {SVC} from (local)")));
    assert_eq!(local_login(&lab, "lou", &codes[0]).result(), "PAM_MAXTRIES");
    assert_eq!(lab.login(SVC, "lou", &[&codes[0]]).result(), "PAM_MAXTRIES");
}

#[test]
fn the_window_slides() {
    let (lab, config) = or_skip!(Lab::with_config(SVC, "deny = 3\nfail_interval = 60\n"));
    let codes = lab.generate("bob", &[]);
    // Two failures well apart: the next two do not make three within 60 s...
    lab.login(SVC, "bob", &[WRONG]);
    tally_field(&lab, "bob", "remote", times_ago(&[200, 61]));
    assert_eq!(lab.login(SVC, "bob", &[WRONG]).result(), "PAM_AUTH_ERR");
    assert_eq!(status_json(&lab, &config, "bob")["locked"], false);
    assert_eq!(status_json(&lab, &config, "bob")["remote"]["failures"], 3);
    assert_eq!(lab.login(SVC, "bob", &[WRONG]).result(), "PAM_AUTH_ERR");
    assert_eq!(status_json(&lab, &config, "bob")["locked"], false, "61 s apart");
    // ...but three within any 60 s lock, wherever a window would have begun.
    assert_eq!(lab.login(SVC, "bob", &[WRONG]).result(), "PAM_AUTH_ERR");
    assert_eq!(status_json(&lab, &config, "bob")["locked"], true);
    assert_eq!(lab.login(SVC, "bob", &[&codes[0]]).result(), "PAM_MAXTRIES");

    // Failures 70 s and 2 s ago: two more lock, as they make three within
    // 60 s. (A window fixed at the first failure would have ended 10 s ago
    // and let three more through.)
    lab.cli()
        .arg("--config")
        .arg(&config)
        .args(["unlock", "bob"])
        .run_cli();
    lab.login(SVC, "bob", &[WRONG]);
    tally_field(&lab, "bob", "remote", times_ago(&[70, 2]));
    assert_eq!(lab.login(SVC, "bob", &[WRONG]).result(), "PAM_AUTH_ERR");
    assert_eq!(status_json(&lab, &config, "bob")["locked"], false);
    assert_eq!(lab.login(SVC, "bob", &[WRONG]).result(), "PAM_AUTH_ERR");
    assert_eq!(status_json(&lab, &config, "bob")["locked"], true);
}

#[test]
fn a_lock_expires_after_unlock_time_and_forgives_its_failures() {
    let (lab, config) = or_skip!(Lab::with_config(SVC, "deny = 2\nunlock_time = 300\n"));
    let codes = lab.generate("carol", &[]);
    lab.login(SVC, "carol", &[WRONG]);
    lab.login(SVC, "carol", &[WRONG]);
    assert_eq!(lab.login(SVC, "carol", &[&codes[0]]).result(), "PAM_MAXTRIES");

    // Locked until the last failure + unlock_time.
    tally_field(&lab, "carol", "remote", times_ago(&[295, 290]));
    assert_eq!(status_json(&lab, &config, "carol")["locked"], true);
    assert_eq!(
        lab.login(SVC, "carol", &[&codes[0]]).result(),
        "PAM_MAXTRIES",
        "10 s left"
    );

    tally_field(&lab, "carol", "remote", times_ago(&[305, 301]));
    let json = status_json(&lab, &config, "carol");
    assert_eq!(json["locked"], false, "{json}");
    assert_eq!(json["remote"]["locked_until"], serde_json::Value::Null);
    assert!(status_text(&lab, &config, "carol").contains("not locked"));
    // After expiry a failure starts a new count rather than relocking at once.
    assert_eq!(lab.login(SVC, "carol", &[WRONG]).result(), "PAM_AUTH_ERR");
    let json = status_json(&lab, &config, "carol");
    assert_eq!(
        (json["remote"]["failures"].as_u64(), json["locked"].as_bool()),
        (Some(1), Some(false))
    );
    assert_eq!(lab.login(SVC, "carol", &[&codes[0]]).result(), "PAM_SUCCESS");
    assert_eq!(status_json(&lab, &config, "carol")["failures"], 0);
}

#[test]
fn a_hundred_remote_failures_in_a_row_lock_remote_logins_until_an_unlock() {
    let (lab, config) = or_skip!(Lab::with_config(
        SVC,
        "deny = 5\nfail_interval = 60\nunlock_time = 60\n"
    ));
    let codes = lab.generate("nora", &[]);
    lab.login(SVC, "nora", &[WRONG]);
    // 98 more, spread so that no 5 fall within 60 s: only the count in a row.
    tally_field(&lab, "nora", "remote_in_a_row", toml::Value::Integer(99));
    tally_field(&lab, "nora", "remote", times_ago(&[3000, 2000, 1000]));
    assert_eq!(status_json(&lab, &config, "nora")["locked"], false);
    let hundredth = lab.login(SVC, "nora", &[WRONG]);
    assert_eq!(hundredth.result(), "PAM_AUTH_ERR");
    assert!(hundredth.logged("codes now locked"), "{:?}", hundredth.log);
    let json = status_json(&lab, &config, "nora");
    assert_eq!(json["remote"]["in_a_row"], 100);
    assert_eq!(json["remote"]["locked_until"], "unlock");
    assert_eq!(json["local"]["locked"], false);
    // A year later, still locked remotely.
    tally_field(&lab, "nora", "remote", times_ago(&[365 * 86400]));
    let remote = lab.login(SVC, "nora", &[&codes[0]]);
    assert_eq!(remote.result(), "PAM_MAXTRIES");
    assert_eq!(
        remote.errors(),
        ["Backup codes are locked after too many failures; ask an administrator."]
    );
    assert!(
        status_text(&lab, &config, "nora").contains("(100 in a row), LOCKED until `backup-codes unlock`")
    );
    // The owner at the console is let in, and that ends the lock.
    assert_eq!(local_login(&lab, "nora", &codes[0]).result(), "PAM_SUCCESS");
    assert_eq!(lab.login(SVC, "nora", &[&codes[1]]).result(), "PAM_SUCCESS");
}

#[test]
fn unlock_time_zero_locks_until_an_administrator_unlocks() {
    let (lab, config) = or_skip!(Lab::with_config(SVC, "deny = 1\nunlock_time = 0\n"));
    let codes = lab.generate("dave", &[]);
    lab.login(SVC, "dave", &[WRONG]);
    tally_field(&lab, "dave", "remote", times_ago(&[365 * 24 * 3600]));
    let locked = lab.login(SVC, "dave", &[&codes[0]]);
    assert_eq!(locked.result(), "PAM_MAXTRIES", "a year later still locked");
    assert_eq!(
        locked.errors(),
        ["Backup codes are locked after too many failures; ask an administrator."]
    );
    assert_eq!(status_json(&lab, &config, "dave")["locked_until"], "unlock");
    assert!(status_text(&lab, &config, "dave").contains("LOCKED until `backup-codes unlock`"));

    let out = lab
        .cli()
        .arg("--config")
        .arg(&config)
        .args(["unlock", "dave"])
        .run_cli();
    assert!(out.success());
    assert_eq!(out.stdout, "dave: unlocked (1 failures cleared)\n");
    let json = status_json(&lab, &config, "dave");
    assert_eq!(
        (json["failures"].as_u64(), json["locked"].as_bool()),
        (Some(0), Some(false))
    );
    assert_eq!(
        json["last_failure"],
        serde_json::Value::Null,
        "unlock clears everything"
    );
    assert_eq!(lab.login(SVC, "dave", &[&codes[0]]).result(), "PAM_SUCCESS");
    // Unlocking someone without codes, or a bad name, is an error.
    let out = lab
        .cli()
        .arg("--config")
        .arg(&config)
        .args(["unlock", "nobody-here", "../x"])
        .run_cli();
    assert_eq!(out.status, Some(1));
}

#[test]
fn a_success_resets_the_count_and_a_reuse_counts_as_a_failure() {
    let (lab, config) = or_skip!(Lab::with_config(SVC, "deny = 3\n"));
    let codes = lab.generate("erin", &[]);
    lab.login(SVC, "erin", &[WRONG]);
    lab.login(SVC, "erin", &[WRONG]);
    assert_eq!(lab.login(SVC, "erin", &[&codes[0]]).result(), "PAM_SUCCESS");
    let json = status_json(&lab, &config, "erin");
    assert_eq!(json["failures"], 0);
    let file = fs::read_to_string(lab.user_file("erin")).unwrap();
    assert!(
        !file.contains("remote =") && !file.contains("remote_in_a_row"),
        "{file}"
    );
    assert!(file.contains("last_failure"), "kept for status: {file}");

    // A re-used code is a failure like any other: two of them and a wrong
    // code lock.
    assert_eq!(lab.login(SVC, "erin", &[&codes[0]]).result(), "PAM_AUTH_ERR");
    assert_eq!(lab.login(SVC, "erin", &[&codes[0]]).result(), "PAM_AUTH_ERR");
    assert_eq!(lab.login(SVC, "erin", &[WRONG]).result(), "PAM_AUTH_ERR");
    assert_eq!(status_json(&lab, &config, "erin")["locked"], true);
}

#[test]
fn deny_zero_never_locks() {
    let (lab, config) = or_skip!(Lab::with_config(SVC, "deny = 0\n"));
    let codes = lab.generate("frank", &[]);
    for _ in 0..20 {
        assert_eq!(lab.login(SVC, "frank", &[WRONG]).result(), "PAM_AUTH_ERR");
    }
    let json = status_json(&lab, &config, "frank");
    assert_eq!(
        (json["remote"]["in_a_row"].as_u64(), json["locked"].as_bool()),
        (Some(20), Some(false))
    );
    assert_eq!(lab.login(SVC, "frank", &[&codes[0]]).result(), "PAM_SUCCESS");
    // deny=0 disables the lockout, as in pam_faillock: failures recorded
    // under an earlier policy, even 100 in a row, lock nothing.
    lab.login(SVC, "frank", &[WRONG]);
    tally_field(&lab, "frank", "remote", times_ago(&[3, 2, 1]));
    tally_field(&lab, "frank", "local", times_ago(&[3, 2, 1]));
    tally_field(&lab, "frank", "remote_in_a_row", toml::Value::Integer(150));
    assert_eq!(status_json(&lab, &config, "frank")["locked"], false);
    assert_eq!(lab.login(SVC, "frank", &[&codes[1]]).result(), "PAM_SUCCESS");
}

#[test]
fn a_pam_option_overrides_the_config_policy() {
    let (lab, config) = or_skip!(Lab::with_config(SVC, "deny = 1\n"));
    lab.generate("gina", &[]);
    lab.simple_service("bc-override", &format!("config={} deny=4", config.display()));
    for _ in 0..3 {
        assert_eq!(
            lab.login("bc-override", "gina", &[WRONG]).result(),
            "PAM_AUTH_ERR"
        );
    }
    // The module's policy is deny=4: three failures lock nothing there.
    // (status judges with the config's deny=1, and sees a lock.)
    assert_eq!(status_json(&lab, &config, "gina")["locked"], true);
    assert_eq!(
        lab.login("bc-override", "gina", &[WRONG]).result(),
        "PAM_AUTH_ERR"
    );
    assert_eq!(
        lab.login("bc-override", "gina", &[WRONG]).result(),
        "PAM_MAXTRIES"
    );
}
