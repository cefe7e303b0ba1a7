//! SPEC invariant 8, the rate limit, end to end: deny, the expiry of the
//! fail_interval window and of unlock_time (time passes by editing the
//! tally in the user file, as root, keeping it root-owned 0600), reset on
//! success, `backup-codes unlock`, deny=0, unlock_time=0, and the lock
//! state in `status` (text and JSON). tests/pam.rs has the basic lock and
//! unlock.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use common::{Lab, root_or_skip};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

const SVC: &str = "bc-lock";
const WRONG: &str = "ZZZZZ-ZZZZZ";

/// A lab whose module and CLI share one policy, from a config file, so that
/// `status` judges the lock as the module does.
fn lab(test: &str, login: &str) -> Option<(Lab, PathBuf)> {
    if !root_or_skip(test) {
        return None;
    }
    let lab = Lab::new();
    let config = lab.path().join("pam_backup_codes.conf");
    fs::write(&config, format!("[login]\nnodelay = true\n{login}")).unwrap();
    lab.chmod(&config, 0o644);
    lab.simple_service(SVC, &format!("config={}", config.display()));
    Some((lab, config))
}

fn ago(seconds: i64) -> toml::Value {
    toml::Value::String(
        (OffsetDateTime::now_utc() - Duration::seconds(seconds))
            .format(&Rfc3339)
            .unwrap(),
    )
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

fn status_text(lab: &Lab, config: &PathBuf, user: &str) -> String {
    let out = lab
        .cli()
        .arg("--config")
        .arg(config)
        .args(["status", user])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn status_json(lab: &Lab, config: &PathBuf, user: &str) -> serde_json::Value {
    let out = lab
        .cli()
        .arg("--config")
        .arg(config)
        .args(["status", "--format", "json", user])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()[0].clone()
}

#[test]
fn deny_locks_and_status_shows_it_in_text_and_json() {
    let Some((lab, config)) = lab("deny", "deny = 3\nunlock_time = 600\n") else {
        return;
    };
    let codes = lab.generate("alice", &[]);
    for i in 1..=2 {
        assert_eq!(lab.login(SVC, "alice", &[WRONG]).result(), "PAM_AUTH_ERR");
        assert_eq!(status_json(&lab, &config, "alice")["failures"], i);
        assert!(status_text(&lab, &config, "alice").contains(&format!("failures: {i}, not locked")));
    }
    let third = lab.login(SVC, "alice", &[WRONG]);
    assert_eq!(
        third.result(),
        "PAM_AUTH_ERR",
        "the failure that locks is still a wrong code"
    );
    assert!(third.logged("codes now locked"), "{:?}", third.log);

    let json = status_json(&lab, &config, "alice");
    assert_eq!(json["locked"], true);
    let until = OffsetDateTime::parse(json["locked_until"].as_str().unwrap(), &Rfc3339).unwrap();
    let left = until - OffsetDateTime::now_utc();
    assert!(
        left > Duration::seconds(590) && left <= Duration::seconds(600),
        "{left}"
    );
    assert!(status_text(&lab, &config, "alice").contains("failures: 3, LOCKED until "));

    let locked = lab.login(SVC, "alice", &[&codes[0]]);
    assert_eq!(locked.result(), "PAM_MAXTRIES");
    assert_eq!(
        locked.errors(),
        ["Backup codes are locked after too many failures; try again in 10 min."]
    );
    assert_eq!(
        status_json(&lab, &config, "alice")["failures"],
        3,
        "a locked attempt is not judged"
    );
    assert_eq!(status_json(&lab, &config, "alice")["remaining"], 10);
}

#[test]
fn failures_older_than_fail_interval_start_a_new_window() {
    let Some((lab, config)) = lab("fail_interval", "deny = 3\nfail_interval = 60\n") else {
        return;
    };
    let codes = lab.generate("bob", &[]);
    lab.login(SVC, "bob", &[WRONG]);
    lab.login(SVC, "bob", &[WRONG]);
    // Within the window a third failure would lock; 61 s later it does not.
    tally_field(&lab, "bob", "first_failure", ago(61));
    assert_eq!(lab.login(SVC, "bob", &[WRONG]).result(), "PAM_AUTH_ERR");
    let json = status_json(&lab, &config, "bob");
    assert_eq!(
        (json["failures"].as_u64(), json["locked"].as_bool()),
        (Some(1), Some(false))
    );

    // Just inside the window, it does.
    tally_field(&lab, "bob", "first_failure", ago(50));
    lab.login(SVC, "bob", &[WRONG]);
    assert_eq!(lab.login(SVC, "bob", &[WRONG]).result(), "PAM_AUTH_ERR");
    assert_eq!(status_json(&lab, &config, "bob")["locked"], true);
    assert_eq!(lab.login(SVC, "bob", &[&codes[0]]).result(), "PAM_MAXTRIES");
}

#[test]
fn a_lock_expires_after_unlock_time() {
    let Some((lab, config)) = lab("unlock_time", "deny = 2\nunlock_time = 300\n") else {
        return;
    };
    let codes = lab.generate("carol", &[]);
    lab.login(SVC, "carol", &[WRONG]);
    lab.login(SVC, "carol", &[WRONG]);
    assert_eq!(lab.login(SVC, "carol", &[&codes[0]]).result(), "PAM_MAXTRIES");

    tally_field(&lab, "carol", "locked_at", ago(290));
    assert_eq!(status_json(&lab, &config, "carol")["locked"], true);
    assert_eq!(
        lab.login(SVC, "carol", &[&codes[0]]).result(),
        "PAM_MAXTRIES",
        "10 s left"
    );

    tally_field(&lab, "carol", "locked_at", ago(301));
    let json = status_json(&lab, &config, "carol");
    assert_eq!(json["locked"], false, "{json}");
    assert_eq!(json["locked_until"], serde_json::Value::Null);
    assert!(status_text(&lab, &config, "carol").contains("not locked"));
    // After expiry a failure starts a new window rather than relocking at once.
    assert_eq!(lab.login(SVC, "carol", &[WRONG]).result(), "PAM_AUTH_ERR");
    let json = status_json(&lab, &config, "carol");
    assert_eq!(
        (json["failures"].as_u64(), json["locked"].as_bool()),
        (Some(1), Some(false))
    );
    // And the code works.
    assert_eq!(lab.login(SVC, "carol", &[&codes[0]]).result(), "PAM_SUCCESS");
    assert_eq!(status_json(&lab, &config, "carol")["failures"], 0);
}

#[test]
fn unlock_time_zero_locks_until_an_administrator_unlocks() {
    let Some((lab, config)) = lab("unlock_time_0", "deny = 1\nunlock_time = 0\n") else {
        return;
    };
    let codes = lab.generate("dave", &[]);
    lab.login(SVC, "dave", &[WRONG]);
    tally_field(&lab, "dave", "locked_at", ago(365 * 24 * 3600));
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
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "dave: unlocked (1 failures cleared)\n"
    );
    let json = status_json(&lab, &config, "dave");
    assert_eq!(
        (json["failures"].as_u64(), json["locked"].as_bool()),
        (Some(0), Some(false))
    );
    assert_eq!(lab.login(SVC, "dave", &[&codes[0]]).result(), "PAM_SUCCESS");
    // Unlocking someone without codes, or a bad name, is an error.
    let out = lab
        .cli()
        .arg("--config")
        .arg(&config)
        .args(["unlock", "nobody-here", "../x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_success_resets_the_count_and_a_reuse_counts_as_a_failure() {
    let Some((lab, config)) = lab("reset", "deny = 3\n") else {
        return;
    };
    let codes = lab.generate("erin", &[]);
    lab.login(SVC, "erin", &[WRONG]);
    lab.login(SVC, "erin", &[WRONG]);
    assert_eq!(lab.login(SVC, "erin", &[&codes[0]]).result(), "PAM_SUCCESS");
    let json = status_json(&lab, &config, "erin");
    assert_eq!(json["failures"], 0);
    let file = fs::read_to_string(lab.user_file("erin")).unwrap();
    assert!(
        !file.contains("first_failure") && !file.contains("locked_at"),
        "{file}"
    );

    // A re-used code is a failure like any other: two of them and a wrong
    // code lock.
    assert_eq!(lab.login(SVC, "erin", &[&codes[0]]).result(), "PAM_AUTH_ERR");
    assert_eq!(lab.login(SVC, "erin", &[&codes[0]]).result(), "PAM_AUTH_ERR");
    assert_eq!(lab.login(SVC, "erin", &[WRONG]).result(), "PAM_AUTH_ERR");
    assert_eq!(status_json(&lab, &config, "erin")["locked"], true);
}

#[test]
fn deny_zero_never_locks() {
    let Some((lab, config)) = lab("deny_0", "deny = 0\n") else {
        return;
    };
    let codes = lab.generate("frank", &[]);
    for _ in 0..20 {
        assert_eq!(lab.login(SVC, "frank", &[WRONG]).result(), "PAM_AUTH_ERR");
    }
    let json = status_json(&lab, &config, "frank");
    assert_eq!(
        (json["failures"].as_u64(), json["locked"].as_bool()),
        (Some(20), Some(false))
    );
    assert_eq!(lab.login(SVC, "frank", &[&codes[0]]).result(), "PAM_SUCCESS");
    // deny=0 disables the lockout, as in pam_faillock: a lock left in the
    // file by an earlier policy is not enforced either.
    lab.login(SVC, "frank", &[WRONG]);
    tally_field(&lab, "frank", "locked_at", ago(10));
    assert_eq!(status_json(&lab, &config, "frank")["locked"], false);
    assert_eq!(lab.login(SVC, "frank", &[&codes[1]]).result(), "PAM_SUCCESS");
}

#[test]
fn a_pam_option_overrides_the_config_policy() {
    let Some((lab, config)) = lab("override", "deny = 1\n") else {
        return;
    };
    lab.generate("gina", &[]);
    lab.simple_service("bc-override", &format!("config={} deny=4", config.display()));
    for _ in 0..3 {
        assert_eq!(
            lab.login("bc-override", "gina", &[WRONG]).result(),
            "PAM_AUTH_ERR"
        );
    }
    // The override's three failures locked nothing: the lock is set when a
    // failure reaches deny, and `deny` in the config was never applied.
    assert_eq!(status_json(&lab, &config, "gina")["locked"], false);
    assert_eq!(
        lab.login("bc-override", "gina", &[WRONG]).result(),
        "PAM_AUTH_ERR"
    );
    assert_eq!(status_json(&lab, &config, "gina")["locked"], true);
}
