//! Invariant 2 of docs/design.md (durable before success) under crashes: the
//! authenticating process is SIGKILLed at random instants, and the store is
//! checked after each kill. Stale and planted temporary files are never
//! trusted and are cleaned by the next write.
//!
//! `make test` runs a few dozen kills; `make stress` sets `STRESS_ROUNDS`.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use pam_backup_codes::codeset::CodeSet;

use common::{FileSnapshot, Lab, Rng, RunCli, or_skip, rounds};

const SVC: &str = "bc-crash";

/// The suite's lab: [`SVC`] is the module alone with `options`.
fn lab(options: &str) -> Lab {
    Lab::with_service(SVC, options)
}

fn temp_files(lab: &Lab) -> Vec<String> {
    lab.store_listing()
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn sigkill_at_random_instants_never_corrupts_or_loses_a_reported_success() {
    let lab = or_skip!(lab("nodelay deny=0"));
    let mut rng = Rng::new("sigkill");
    let rounds = rounds(30);

    // How long one whole login takes here: kills are spread over that.
    let probe = lab.generate("alice", &["--count", "3"]);
    let start = Instant::now();
    for code in &probe {
        assert_eq!(lab.login(SVC, "alice", &[code]).result(), "PAM_SUCCESS");
    }
    let mut span = (start.elapsed() / 3).as_micros() as u64 * 5 / 4;

    let mut codes = Vec::new();
    let mut next = 0;
    let mut used = 0;
    let (mut killed, mut completed, mut consumed_by_killed, mut temp_left) = (0, 0, 0, 0);
    let mut unconsumed: Vec<String> = Vec::new();
    for round in 0..rounds {
        if next == codes.len() {
            // A fresh set; codes left unconsumed by kills are kept aside
            // from the last one only (the new set invalidates older ones).
            codes = lab.generate("alice", &["--count", "100"]);
            next = 0;
            used = 0;
            unconsumed.clear();
        }
        let code = codes[next].clone();
        next += 1;
        let mut child = lab.spawn(&mut lab.login_cmd(SVC, "alice", &[&code]));
        // Half the kills anywhere, half in the last 40% of a login, where the
        // store is written.
        let instant = if rng.below(2) == 0 {
            rng.below(span)
        } else {
            span * 3 / 5 + rng.below(span * 2 / 5)
        };
        std::thread::sleep(Duration::from_micros(instant));
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        lab.drain_log();
        // The span follows the machine's load: shorter after a login that
        // completed, longer after a kill, settling near two kills in three.
        let reported_success = if out.status.signal() == Some(9) {
            killed += 1;
            span = span * 21 / 20;
            false
        } else {
            completed += 1;
            span = (span * 9 / 10).max(1000);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains("result: PAM_SUCCESS"), "round {round}: {stdout}");
            true
        };

        // The file always parses and is trusted.
        let check = lab.check();
        let (code_rc, stderr) = (check.status.unwrap_or(-1), &check.stderr);
        assert_eq!(code_rc, 0, "round {round}: check failed: {stderr}");
        assert_eq!(
            fs::metadata(lab.user_file("alice")).map(|m| m.len() > 0).ok(),
            Some(true)
        );
        let status = lab.status("alice");
        let now_used = status["uses"].as_array().unwrap().len();
        assert!(
            now_used == used || now_used == used + 1,
            "round {round}: {used} -> {now_used}"
        );
        if reported_success {
            assert_eq!(
                now_used,
                used + 1,
                "round {round}: a reported success is marked used"
            );
        } else if now_used == used + 1 {
            consumed_by_killed += 1;
        } else {
            unconsumed.push(code);
        }
        used = now_used;
        assert_eq!(status["remaining"], codes.len() - used);

        // At most the one temporary file of the killed write, never more.
        let temps = temp_files(&lab);
        assert!(
            temps.len() <= 1 && temps.iter().all(|t| t == ".alice.tmp"),
            "round {round}: {temps:?}"
        );
        temp_left += temps.len();
    }

    // A code a kill left unconsumed still works: the old file was kept, and
    // whatever the killed write left behind was neither trusted nor in the way.
    for code in unconsumed.iter().rev().take(3) {
        assert_eq!(lab.login(SVC, "alice", &[code]).result(), "PAM_SUCCESS");
    }
    if unconsumed.is_empty() {
        assert_eq!(lab.login(SVC, "alice", &[&codes[next]]).result(), "PAM_SUCCESS");
    }
    assert!(
        temp_files(&lab).is_empty(),
        "the next write cleaned up: {:?}",
        lab.store_listing()
    );
    eprintln!(
        "sigkill: {rounds} rounds (span now {span} us): {killed} killed ({consumed_by_killed} had consumed \
         their code, {} had not), {completed} completed, {temp_left} left a temporary file",
        killed - consumed_by_killed
    );
}

#[test]
fn a_planted_temporary_file_is_never_trusted_and_is_cleaned() {
    let lab = or_skip!(lab("nodelay"));
    let mallory_codes = lab.generate("mallory", &[]);
    let alice_codes = lab.generate("alice", &[]);
    let temp = lab.store.join(".alice.tmp");
    // A valid-looking set, root-owned 0600, where alice's next file is written.
    fs::copy(lab.user_file("mallory"), &temp).unwrap();
    lab.chmod(&temp, 0o600);
    let before = FileSnapshot::of(&lab.user_file("alice"));

    let planted = lab.login(SVC, "alice", &[&mallory_codes[0]]);
    assert_eq!(
        planted.result(),
        "PAM_AUTH_ERR",
        "the planted set is not read: {planted:?}"
    );
    assert!(!temp.exists(), "the failure's write replaced the planted file");
    let salt = |bytes: &[u8]| {
        CodeSet::parse(std::str::from_utf8(bytes).unwrap())
            .unwrap()
            .kdf
            .salt
    };
    assert_eq!(
        salt(&fs::read(lab.user_file("alice")).unwrap()),
        salt(&before.bytes),
        "alice's own set was kept"
    );
    assert_eq!(lab.status("alice")["failures"], 1);
    assert_eq!(
        lab.login(SVC, "alice", &[&alice_codes[0]]).result(),
        "PAM_SUCCESS"
    );

    // Planted again, then a success: still alice's set, and no debris.
    fs::copy(lab.user_file("mallory"), &temp).unwrap();
    lab.chmod(&temp, 0o600);
    assert_eq!(
        lab.login(SVC, "alice", &[&alice_codes[1]]).result(),
        "PAM_SUCCESS"
    );
    assert_eq!(lab.status("alice")["remaining"], 8);
    assert_eq!(temp_files(&lab), Vec::<String>::new());
    // `check` and `status` do not list temporary files as users.
    fs::write(&temp, "garbage").unwrap();
    assert_eq!(lab.check().status.unwrap_or(-1), 0);
    let all = lab.cli().args(["status", "--format", "json"]).run_cli();
    let users: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
}

#[test]
fn a_symlink_at_the_temporary_name_does_not_redirect_the_write() {
    let lab = or_skip!(lab("nodelay"));
    let codes = lab.generate("alice", &[]);
    let victim = lab.path().join("victim");
    fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, lab.store.join(".alice.tmp")).unwrap();

    assert_eq!(lab.login(SVC, "alice", &[&codes[0]]).result(), "PAM_SUCCESS");
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "precious\n",
        "the link's target was not written"
    );
    assert!(
        fs::symlink_metadata(lab.store.join(".alice.tmp")).is_err(),
        "the link was removed"
    );
    assert_eq!(lab.status("alice")["remaining"], 9);
}

#[test]
fn a_temporary_name_that_cannot_be_removed_fails_closed() {
    let lab = or_skip!(lab("nodelay"));
    let codes = lab.generate("alice", &[]);
    let temp = lab.store.join(".alice.tmp");
    fs::create_dir(&temp).unwrap();
    fs::write(temp.join("x"), "").unwrap();
    let before = FileSnapshot::of(&lab.user_file("alice"));

    let login = lab.login(SVC, "alice", &[&codes[0]]);
    assert_eq!(
        login.result(),
        "PAM_AUTHINFO_UNAVAIL",
        "cannot be marked used, so refused: {login:?}"
    );
    assert!(
        login.logged(temp.to_str().unwrap()),
        "the log names the path: {:?}",
        login.log
    );
    assert_eq!(FileSnapshot::of(&lab.user_file("alice")), before);

    fs::remove_dir_all(&temp).unwrap();
    assert_eq!(
        lab.login(SVC, "alice", &[&codes[0]]).result(),
        "PAM_SUCCESS",
        "nothing was consumed"
    );
}
