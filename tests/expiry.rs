//! Codes that expire and sets that age, end to end: `add --expires` with a
//! real (short) expiry, `max_age` warning then refusal (time passes by
//! editing `created` in the user file, as root), and `status --below` for
//! monitoring (exit codes, text and JSON). The exact instants are unit-tested
//! with a fake clock in src/login.rs and src/codeset.rs.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::path::PathBuf;

use common::{CliRun, Lab, RunCli, or_skip};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

const SVC: &str = "bc-expiry";

fn cli(lab: &Lab, config: &PathBuf, args: &[&str]) -> CliRun {
    lab.cli().arg("--config").arg(config).args(args).run_cli()
}

/// The codes printed by `add --format json`.
fn added(out: &CliRun) -> Vec<String> {
    assert!(out.success(), "add failed: {}", out.stderr);
    common::codes(&serde_json::from_str(&out.stdout).unwrap())
}

fn status_json(lab: &Lab, config: &PathBuf, user: &str) -> serde_json::Value {
    let out = cli(lab, config, &["status", "--format", "json", user]);
    assert!(out.success(), "{}", out.stderr);
    serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()[0].clone()
}

#[test]
fn a_temporary_code_works_until_it_expires_then_is_refused_uncounted() {
    let (lab, config) = or_skip!(Lab::with_config(SVC, ""));
    let regular = lab.generate("alice", &[]);
    let out = cli(
        &lab,
        &config,
        &[
            "add",
            "alice",
            "--count",
            "2",
            "--expires",
            "10s",
            "--format",
            "json",
        ],
    );
    let temporary = added(&out);
    assert_eq!(temporary.len(), 2);
    let sheet: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let expires = OffsetDateTime::parse(sheet["expires"].as_str().unwrap(), &Rfc3339).unwrap();

    // Before the expiry: it works, once.
    let first = lab.login(SVC, "alice", &[&temporary[0]]);
    assert_eq!(first.result(), "PAM_SUCCESS", "{first:?}");
    let status = status_json(&lab, &config, "alice");
    assert_eq!(
        (status["total"].as_u64(), status["usable"].as_u64()),
        (Some(12), Some(11))
    );
    let expiries = status["temporary"].as_array().unwrap();
    assert_eq!(expiries.len(), 1, "the unused one: {status}");
    assert_eq!(expiries[0]["expired"], false);

    // A real expiry, then the second code is refused.
    let wait = expires - OffsetDateTime::now_utc() + Duration::seconds(1);
    std::thread::sleep(wait.try_into().unwrap_or_default());
    let late = lab.login(SVC, "alice", &[&temporary[1]]);
    assert_eq!(late.result(), "PAM_AUTH_ERR", "{late:?}");
    assert!(late.logged("expired backup code"), "{:?}", late.log);
    assert!(late.errors().is_empty(), "refused like a wrong code: {late:?}");
    let status = status_json(&lab, &config, "alice");
    assert_eq!(status["failures"], 0, "an expired code is not a guess: {status}");
    assert_eq!(status["usable"], 10);
    assert_eq!(status["temporary"][0]["expired"], true);
    // The second added code: the set's twelfth, as its sheet numbered it.
    assert_eq!(status["temporary"][0]["code_number"], 12, "{status}");
    let out = cli(&lab, &config, &["status", "alice"]);
    assert!(
        out.stdout.contains("temporary code 12, expired "),
        "{}",
        out.stdout
    );

    // The regular codes were never touched.
    assert_eq!(lab.login(SVC, "alice", &[&regular[0]]).result(), "PAM_SUCCESS");
}

#[test]
fn add_enrols_a_user_without_codes_and_refuses_bad_expiries() {
    let (lab, config) = or_skip!(Lab::with_config(SVC, ""));
    let out = cli(&lab, &config, &["add", "bob", "--expires", "1h"]);
    assert_eq!(out.status, Some(1));
    assert!(out.stderr.contains("no such account"), "{}", out.stderr);
    lab.add_user("bob");
    let out = cli(
        &lab,
        &config,
        &["add", "bob", "--expires", "2030-01-01", "--format", "json"],
    );
    let codes = added(&out);
    assert_eq!(codes.len(), 1);
    let status = status_json(&lab, &config, "bob");
    assert_eq!(status["enrolled"], true);
    assert_eq!(status["temporary"][0]["expires"], "2030-01-01T00:00:00Z");
    let before = fs::read(lab.user_file("bob")).unwrap();
    for (args, want) in [
        (&["add", "bob", "--expires", "2020-01-01"][..], "already past"),
        (&["add", "bob", "--expires", "soon"], "neither a duration"),
        (&["add", "bob", "--expires", "0s"], "longer than 0"),
        (
            &["add", "bob", "--expires", "1h", "--count", "100"],
            "1 to 100 codes",
        ),
        (&["add", "bad/name", "--expires", "1h"], "bad/name"),
    ] {
        let out = cli(&lab, &config, args);
        assert!(!out.success(), "{args:?}");
        let err = out.stderr;
        assert!(err.contains(want), "{args:?}: {want:?} not in {err}");
        assert_eq!(
            fs::read(lab.user_file("bob")).unwrap(),
            before,
            "{args:?} changed the set"
        );
    }
    assert_eq!(lab.login(SVC, "bob", &[&codes[0]]).result(), "PAM_SUCCESS");
}

#[test]
fn max_age_warns_for_the_last_tenth_then_the_set_stops_working() {
    let (lab, config) = or_skip!(Lab::with_config(SVC, "max_age = 100\n"));
    let codes = lab.generate("carol", &[]);

    lab.age_by("carol", 50);
    let young = lab.login(SVC, "carol", &[&codes[0]]);
    assert_eq!(young.result(), "PAM_SUCCESS", "{young:?}");
    assert!(
        !young.infos().iter().any(|i| i.contains("stop working")),
        "{young:?}"
    );

    lab.age_by("carol", 95);
    let old = lab.login(SVC, "carol", &[&codes[1]]);
    assert_eq!(old.result(), "PAM_SUCCESS", "{old:?}");
    let warning = old.infos().into_iter().find(|i| i.contains("stop working"));
    let warning = warning.unwrap_or_else(|| panic!("no max_age warning: {old:?}"));
    assert!(warning.contains("in 5 days"), "{warning}");
    let status = status_json(&lab, &config, "carol");
    assert_eq!(
        (status["age_days"].as_i64(), status["expiring"].as_bool()),
        (Some(95), Some(true))
    );
    let out = cli(&lab, &config, &["status", "carol"]);
    assert!(out.stdout.contains("age: 95 days, EXPIRING"), "{}", out.stdout);

    lab.age_by("carol", 101);
    let dead = lab.login(SVC, "carol", &[&codes[2]]);
    assert_eq!(dead.result(), "PAM_AUTH_ERR", "{dead:?}");
    assert!(dead.logged("expired backup code"), "{:?}", dead.log);
    let status = status_json(&lab, &config, "carol");
    assert_eq!(
        (status["expired"].as_bool(), status["usable"].as_u64()),
        (Some(true), Some(0))
    );
    assert_eq!(status["failures"], 0);

    // A pam.d argument overrides the file: without a limit the code works.
    lab.simple_service("bc-no-max", &format!("config={} max_age=0", config.display()));
    assert_eq!(
        lab.login("bc-no-max", "carol", &[&codes[2]]).result(),
        "PAM_SUCCESS"
    );
}

#[test]
fn status_below_lists_who_needs_attention_and_sets_the_exit_code() {
    let (lab, config) = or_skip!(Lab::with_config(SVC, "deny = 2\nmax_age = 100\n"));
    let dave = lab.generate("dave", &["--count", "3"]);
    for user in ["erin", "frank", "grace"] {
        lab.generate(user, &[]);
    }
    // dave: 1 left; frank: locked; grace: past max_age; erin: fine.
    for code in &dave[..2] {
        assert_eq!(lab.login(SVC, "dave", &[code]).result(), "PAM_SUCCESS");
    }
    for _ in 0..2 {
        lab.login(SVC, "frank", &["ZZZZZ-ZZZZZ"]);
    }
    lab.age_by("grace", 100);

    let out = cli(&lab, &config, &["status", "--below", "2"]);
    assert_eq!(out.status, Some(1), "{}", out.stderr);
    let listed = out.stdout;
    let users: Vec<&str> = listed
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(users, ["dave", "frank", "grace"], "{listed}");

    let out = cli(&lab, &config, &["status", "--below", "2", "--format", "json"]);
    assert_eq!(out.status, Some(1));
    let all: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(common::users(&all), ["dave", "frank", "grace"]);
    assert_eq!(all[0]["usable"], 1);
    assert_eq!(all[1]["locked"], true);
    assert_eq!(all[2]["expired"], true);

    // Nobody below: exit 0 and, for cron, no output at all.
    let out = cli(&lab, &config, &["status", "--below", "2", "erin"]);
    assert_eq!(out.status, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "");
    let out = cli(
        &lab,
        &config,
        &["status", "--below", "2", "--format", "json", "erin"],
    );
    assert_eq!((out.status, out.stdout.trim()), (Some(0), "[]"));
    // Ten codes, below eleven: listed.
    let out = cli(&lab, &config, &["status", "--below", "11", "erin"]);
    assert_eq!(out.status, Some(1));
    assert!(
        out.stdout.starts_with("erin: 10 of 10 codes left"),
        "{}",
        out.stdout
    );
}
