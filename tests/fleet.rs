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

const PROCESSES: usize = 32;
const HOSTS: [&str; 4] = ["web1", "web2", "web3", "web4"];

fn count(results: &[String], name: &str) -> usize {
    results.iter().filter(|r| *r == name).count()
}

/// Starts one login per answer at once, spread over the hosts in turn.
fn race(fleet: &Fleet, user: &str, answers: &[String]) -> (Vec<String>, Vec<String>) {
    let lab = &fleet.lab;
    let children: Vec<_> = answers
        .iter()
        .enumerate()
        .map(|(i, answer)| lab.spawn(&mut lab.login_cmd(HOSTS[i % HOSTS.len()], user, &[answer])))
        .collect();
    let (logins, log) = lab.finish_all(children, 300);
    (logins.iter().map(|l| l.result().to_owned()).collect(), log)
}

#[test]
fn one_code_in_32_logins_across_4_hosts_succeeds_exactly_once() {
    let Some(fleet) = fleet("one_code_in_32_logins_across_4_hosts_succeeds_exactly_once") else {
        return;
    };
    for host in HOSTS {
        fleet.host(host, "nodelay deny=0", "");
    }
    let rounds = common::rounds(5);
    let mut codes = Vec::new();
    for round in 0..rounds {
        if round % 100 == 0 {
            codes = fleet.generate(USER, &["--count", "100"]);
        }
        let code = &codes[round % 100];
        let (results, log) = race(&fleet, USER, &vec![code.clone(); PROCESSES]);
        let problems: Vec<&String> = log.iter().filter(|l| l.contains("store problem")).collect();
        assert!(problems.is_empty(), "round {round}: {problems:?}");
        assert_eq!(count(&results, "PAM_SUCCESS"), 1, "round {round}: {results:?}");
        assert_eq!(
            count(&results, "PAM_AUTH_ERR"),
            PROCESSES - 1,
            "round {round}: {results:?}"
        );
        assert_eq!(log.iter().filter(|l| l.contains("RE-USE")).count(), PROCESSES - 1);
        // The one success is the one use on record.
        let uses = fleet.uses(USER);
        assert_eq!(uses.len(), round % 100 + 1, "round {round}: {uses:?}");
    }
}

#[test]
fn different_codes_at_once_across_hosts_all_succeed_and_are_recorded_with_their_host() {
    let Some(fleet) = fleet("different_codes_at_once_across_hosts") else {
        return;
    };
    for host in HOSTS {
        fleet.host(host, "nodelay", "");
    }
    let codes = fleet.generate(USER, &["--count", &PROCESSES.to_string()]);
    let (results, _) = race(&fleet, USER, &codes);
    assert_eq!(count(&results, "PAM_SUCCESS"), PROCESSES, "{results:?}");
    let uses = fleet.uses(USER);
    assert_eq!(uses.len(), PROCESSES);
    for host in HOSTS {
        let on_host = uses
            .iter()
            .filter(|u| u.starts_with(&format!("{host} {host} 192.0.2.7")))
            .count();
        assert_eq!(on_host, PROCESSES / HOSTS.len(), "{host}: {uses:?}");
    }
    let status = fleet.status(USER);
    assert_eq!(status["remaining"], 0);
    let hosts: Vec<&str> = status["uses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts.len(), PROCESSES);
    assert!(hosts.iter().all(|h| HOSTS.contains(h)), "{hosts:?}");
}

#[test]
fn failures_spread_over_hosts_lock_at_deny_and_unlock_clears_them_fleet_wide() {
    let Some(fleet) = fleet("failures_spread_over_hosts_lock_at_deny") else {
        return;
    };
    for host in HOSTS {
        fleet.host(host, "nodelay deny=3 fail_interval=900 unlock_time=900", "");
    }
    let codes = fleet.generate(USER, &[]);
    for (i, host) in HOSTS.iter().take(3).enumerate() {
        let login = fleet.lab.login(host, USER, &["AAAAA-AAAAA"]);
        assert_eq!(login.result(), "PAM_AUTH_ERR", "failure {i} on {host}");
        assert_eq!(login.logged("codes now locked"), i == 2, "{:?}", login.log);
    }
    // Locked on every host, before any prompt, even for a good code.
    for host in HOSTS {
        let login = fleet.lab.login(host, USER, &[&codes[0]]);
        assert_eq!(login.result(), "PAM_MAXTRIES", "{host}: {login:?}");
        assert!(login.prompts().is_empty(), "{host}: {login:?}");
    }
    // status judges the lock by the CLI's own [login] policy: the same one.
    fleet.owner_login("deny = 3\nfail_interval = 900\nunlock_time = 900");
    let status = fleet.status(USER);
    assert_eq!(status["remote"]["locked"], true, "{status}");
    assert_eq!(status["remote"]["failures"], 3);
    assert_eq!(status["last_failure"]["host"], "web3", "{status}");
    // A remote lock leaves local logins (no PAM_RHOST) open.
    let mut local = fleet.lab.driver();
    local.args(["--service", "web4", "--user", USER, "--answer", &codes[0]]);
    assert_eq!(fleet.lab.run(&mut local).result(), "PAM_SUCCESS");
    // The local success reset the tally: fail again to lock, then unlock.
    for host in &HOSTS[..3] {
        fleet.lab.login(host, USER, &["AAAAA-AAAAA"]);
    }
    assert_eq!(
        fleet.lab.login("web4", USER, &[&codes[1]]).result(),
        "PAM_MAXTRIES"
    );
    let (code, stdout, stderr) = fleet.run_cli(&["unlock", USER]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("unlocked"), "{stdout}");
    for (host, code) in HOSTS.iter().zip(&codes[1..]) {
        assert_eq!(
            fleet.lab.login(host, USER, &[code]).result(),
            "PAM_SUCCESS",
            "{host}"
        );
    }
    assert_eq!(fleet.status(USER)["failures"], 0);
}
