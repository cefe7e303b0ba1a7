//! The fleet store: a shared PostgreSQL behind several "hosts" (PAM
//! services with their own configuration and host name), against a
//! throwaway cluster (tests/common/postgres.rs).
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use common::postgres::{Cluster, Fleet, postgres_or_skip};

const USER: &str = "fleetuser";

fn fleet(test: &str) -> Option<Fleet> {
    postgres_or_skip(test).then(Fleet::new)
}

#[test]
fn the_throwaway_cluster_runs_and_is_private() {
    if !postgres_or_skip("the_throwaway_cluster_runs_and_is_private") {
        return;
    }
    let cluster = Cluster::start();
    assert_eq!(cluster.sql("postgres", "SELECT 1"), "1");
    let data = cluster.sql("postgres", "SHOW data_directory");
    assert!(data.starts_with(cluster.dir.path().to_str().unwrap()), "{data}");
    cluster.restart();
    assert_eq!(cluster.sql("postgres", "SELECT 2"), "2");
}

#[test]
fn db_init_is_idempotent_and_the_login_role_reads_no_table() {
    let Some(fleet) = fleet("db_init_is_idempotent_and_the_login_role_reads_no_table") else {
        return;
    };
    fleet.generate(USER, &[]);
    let (code, stdout, stderr) = fleet.run_cli(&["db", "init", "--login-role", &fleet.login]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("schema version 1 already in place"), "{stdout}");
    // The set survived the second init.
    assert_eq!(fleet.status(USER)["remaining"], 10);

    // Every table: no SELECT (nor anything else) for the login role.
    let tables = fleet.sql(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'backup_codes' AND c.relkind = 'r' ORDER BY 1",
    );
    let tables: Vec<&str> = tables.lines().collect();
    assert_eq!(tables, ["codes", "sets"]);
    for table in &tables {
        for sql in [
            format!("SELECT * FROM backup_codes.{table}"),
            format!("DELETE FROM backup_codes.{table}"),
            format!("UPDATE backup_codes.{table} SET user_name = user_name"),
        ] {
            let err = fleet.sql_as_login(&sql).unwrap_err();
            assert!(err.contains("permission denied"), "{sql}: {err}");
        }
    }
    // Only the two login functions; not the helpers, whatever the arguments.
    for sql in [
        "SELECT backup_codes.lock_of('{}', 1, 1, 1)",
        "SELECT backup_codes.scope_lock('{}', 1, 1, 1, now())",
    ] {
        let err = fleet.sql_as_login(sql).unwrap_err();
        assert!(err.contains("permission denied"), "{sql}: {err}");
    }
    let info = fleet
        .sql_as_login(&format!(
            "SELECT alphabet, length FROM backup_codes.login_info('{USER}', 5, 900, 900, true)"
        ))
        .unwrap();
    assert_eq!(info, "crockford|10");
    // PUBLIC has nothing either: a role of its own gets nowhere.
    fleet.sql("CREATE ROLE bystander LOGIN");
    let err = fleet
        .cluster
        .try_sql(
            "bystander",
            &fleet.db,
            &format!("SELECT * FROM backup_codes.login_info('{USER}', 5, 900, 900, true)"),
        )
        .unwrap_err();
    assert!(err.contains("permission denied"), "{err}");

    // check: connectivity, version, and that the login role reads nothing.
    let (code, stdout, stderr) = fleet.run_cli(&["check"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("schema version 1"), "{stdout}");
    assert!(
        stdout.contains(&format!("login role {} can read no table", fleet.login)),
        "{stdout}"
    );
    assert!(stdout.contains("1 set valid"), "{stdout}");
    // A grant too many is reported.
    fleet.sql(&format!("GRANT SELECT ON backup_codes.codes TO {}", fleet.login));
    let (code, _, stderr) = fleet.run_cli(&["check"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("can read or change tables (codes)"), "{stderr}");
}

#[test]
fn db_init_refuses_a_superuser_or_missing_login_role() {
    let Some(fleet) =
        postgres_or_skip("db_init_refuses_a_superuser_or_missing_login_role").then(Fleet::without_schema)
    else {
        return;
    };
    let (code, _, stderr) = fleet.run_cli(&["check"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no schema"), "{stderr}");
    let (code, _, stderr) = fleet.run_cli(&["db", "init", "--login-role", "nosuchrole"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("does not exist"), "{stderr}");
    let (code, _, stderr) = fleet.run_cli(&["db", "init", "--login-role", "postgres"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("superuser"), "{stderr}");
    let (code, _, stderr) = fleet.run_cli(&["db", "init", "--login-role", &fleet.owner]);
    assert_eq!(code, 1);
    assert!(stderr.contains("must be another one"), "{stderr}");
    // Nothing was left behind by the refused runs.
    assert_eq!(
        fleet.sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'backup_codes'"),
        "0"
    );
}

#[test]
fn a_code_used_on_one_host_is_refused_on_another() {
    let Some(fleet) = fleet("a_code_used_on_one_host_is_refused_on_another") else {
        return;
    };
    fleet.host("web1", "nodelay", "");
    fleet.host("web2", "nodelay", "");
    let codes = fleet.generate(USER, &[]);
    let first = fleet.lab.login("web1", USER, &[&codes[2]]);
    assert_eq!(first.result(), "PAM_SUCCESS", "{first:?}");
    assert!(
        first.infos().iter().any(|i| i.contains("9 backup codes left")),
        "{first:?}"
    );
    let again = fleet.lab.login("web2", USER, &[&codes[2]]);
    assert_eq!(again.result(), "PAM_AUTH_ERR", "{again:?}");
    assert!(again.logged("RE-USE"), "{:?}", again.log);
    // Recorded with the host, the service and the remote host.
    assert_eq!(fleet.uses(USER), ["web1 web1 192.0.2.7"]);
    let status = fleet.status(USER);
    assert_eq!(status["remaining"], 9);
    // Another code on the second host works.
    assert_eq!(
        fleet.lab.login("web2", USER, &[&codes[5]]).result(),
        "PAM_SUCCESS"
    );
    assert_eq!(fleet.uses(USER), ["web1 web1 192.0.2.7", "web2 web2 192.0.2.7"]);
}
