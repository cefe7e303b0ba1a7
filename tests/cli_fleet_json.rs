//! `--format json` of the fleet store's commands (`db init`, `migrate`),
//! and `list` and `revoke --created-before` on PostgreSQL, against a
//! throwaway cluster (tests/common/postgres.rs).
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use common::postgres::{Fleet, NEEDS};
use common::{Lab, or_skip};
use pam_backup_codes::store::postgres::SCHEMA_VERSION;

fn lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn db_init_migrate_list_and_a_restore_sweep_on_the_fleet_store() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let (code, stdout, stderr) =
        fleet.run_cli(&["db", "init", "--login-role", &fleet.login, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let init = &lines(&stdout)[0];
    assert_eq!(
        (
            init["action"].as_str(),
            init["schema_version"].as_i64(),
            init["previous_version"].as_i64()
        ),
        (
            Some("renewed"),
            Some(i64::from(SCHEMA_VERSION)),
            Some(i64::from(SCHEMA_VERSION))
        ),
        "{init}"
    );
    assert_eq!(init["login_role"], fleet.login.as_str());
    assert!(init["connection_limit"].is_null(), "not set by this run: {init}");

    // db policy: the policy in force, after the change, as one object.
    let (code, stdout, stderr) = fleet.run_cli(&[
        "db",
        "policy",
        "--deny",
        "4",
        "--max-age",
        "30",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let policy = &lines(&stdout)[0];
    assert_eq!(
        (
            &policy["deny"],
            &policy["fail_interval"],
            &policy["unlock_time"],
            &policy["max_age"]
        ),
        (
            &serde_json::json!(4),
            &serde_json::json!(900),
            &serde_json::json!(900),
            &serde_json::json!(30)
        ),
        "{policy}"
    );
    assert!(
        policy["store"].as_str().unwrap().starts_with("postgresql://"),
        "{policy}"
    );
    let (_, stdout, _) = fleet.run_cli(&["db", "policy", "--format", "json"]);
    assert_eq!(&lines(&stdout)[0], policy, "showing it changes nothing");
    fleet.cli_ok(&["db", "policy", "--deny", "5", "--max-age", "0"]);
    assert!(
        init["store"].as_str().unwrap().starts_with("postgresql://"),
        "{init}"
    );

    // A host's file store, imported: one object per user.
    let lab = Lab::new();
    lab.generate("anna", &[]);
    lab.generate("bruno", &["--count", "3"]);
    fleet.lab.add_users(["anna", "bruno"]);
    let (code, stdout, stderr) = fleet.run_cli(&[
        "migrate",
        "--from",
        lab.store.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let done = lines(&stdout);
    assert_eq!(done.len(), 2, "{stdout}");
    assert_eq!(
        done[1],
        serde_json::json!({"user": "bruno", "action": "imported", "remaining": 3, "total": 3,
                           "failures": 0, "revoked": false})
    );
    let (_, stdout, _) = fleet.run_cli(&[
        "migrate",
        "--from",
        lab.store.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(
        lines(&stdout).iter().all(|d| d["action"] == "skipped"),
        "{stdout}"
    );

    // list reads the database like the directory.
    let (code, stdout, stderr) = fleet.run_cli(&["list", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let all: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(common::users(&all), ["anna", "bruno"]);
    assert_eq!(all[1]["usable"], 3);

    // After a point-in-time recovery: every set made before it is revoked.
    let (code, stdout, stderr) = fleet.run_cli(&["revoke", "--created-before", "2999-01-01"]);
    assert_eq!(code, 2, "a future date is refused: {stdout}{stderr}");
    let now = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let restore = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (code, stdout, stderr) = fleet.run_cli(&["revoke", "--created-before", &restore]);
    assert_eq!(code, 0, "{stderr}");
    let revoked: Vec<&str> = stdout.lines().filter_map(|l| l.split(':').next()).collect();
    assert_eq!(revoked, ["anna", "bruno"], "{stdout}");
    assert!(fleet.status("anna")["revoked"].is_string());
}
