//! The fleet store: a shared PostgreSQL behind several "hosts" (PAM
//! services with their own configuration and host name), against a
//! throwaway cluster (tests/common/postgres.rs).
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use common::or_skip;
use common::postgres::{Cluster, Fleet, NEEDS};
use common::recipes::doc_block;

const USER: &str = "fleetuser";
/// The fleet policy of the tests that lock: deny 3 within 15 minutes, for
/// 15 minutes.
const DENY_3_POLICY: [&str; 8] = [
    "db",
    "policy",
    "--deny",
    "3",
    "--fail-interval",
    "900",
    "--unlock-time",
    "900",
];

#[test]
fn the_throwaway_cluster_runs_and_is_private() {
    let cluster = or_skip!(Cluster::start(), needs = NEEDS);
    assert_eq!(cluster.sql("postgres", "SELECT 1"), "1");
    let data = cluster.sql("postgres", "SHOW data_directory");
    assert!(data.starts_with(cluster.dir.path().to_str().unwrap()), "{data}");
    cluster.restart();
    assert_eq!(cluster.sql("postgres", "SELECT 2"), "2");
}

#[test]
fn db_init_is_idempotent_and_the_login_role_reads_no_table() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.generate(USER, &[]);
    let (code, stdout, stderr) = fleet.run_cli(&["db", "init", "--login-role", &fleet.login]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("schema version 4 already in place"), "{stdout}");
    // The set survived the second init.
    assert_eq!(fleet.status(USER)["remaining"], 10);

    // Every table: no SELECT (nor anything else) for the login role.
    let tables = fleet.sql(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'backup_codes' AND c.relkind = 'r' ORDER BY 1",
    );
    let tables: Vec<&str> = tables.lines().collect();
    assert_eq!(tables, ["codes", "policy", "sets"]);
    for table in &tables {
        let column = if *table == "policy" { "deny" } else { "user_name" };
        for sql in [
            format!("SELECT * FROM backup_codes.{table}"),
            format!("DELETE FROM backup_codes.{table}"),
            format!("UPDATE backup_codes.{table} SET {column} = {column}"),
        ] {
            let err = fleet.sql_as_login(&sql).unwrap_err();
            assert!(err.contains("permission denied"), "{sql}: {err}");
        }
    }
    // Only the login routines; not the helpers, whatever the arguments.
    for sql in [
        "SELECT backup_codes.lock_of('{}', 1, 1, 1)",
        "SELECT backup_codes.scope_lock('{}', 1, 1, 1, now())",
        "SELECT backup_codes.clip('x')",
    ] {
        let err = fleet.sql_as_login(sql).unwrap_err();
        assert!(err.contains("permission denied"), "{sql}: {err}");
    }
    let info = fleet
        .sql_as_login(&format!(
            "SELECT alphabet, length FROM backup_codes.login_info('{USER}', true)"
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
            &format!("SELECT * FROM backup_codes.login_info('{USER}', true)"),
        )
        .unwrap_err();
    assert!(err.contains("permission denied"), "{err}");

    // check: connectivity, version, and that the login role reads nothing.
    let stdout = fleet.cli_stdout(&["check"]);
    let login_role = format!(
        "login role {} (no connection limit) can read no table",
        fleet.login
    );
    for want in [
        "schema version 4",
        &login_role,
        "fleet policy: deny 5 within 900 s, unlock_time 900 s, max_age 0 (no limit)",
        "1 set valid",
    ] {
        assert!(stdout.contains(want), "{want:?} in {stdout}");
    }
    // A grant too many is reported.
    fleet.sql(&format!("GRANT SELECT ON backup_codes.codes TO {}", fleet.login));
    let (code, _, stderr) = fleet.run_cli(&["check"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("can read or change tables (codes)"), "{stderr}");
}

#[test]
fn db_init_refuses_a_superuser_or_missing_login_role() {
    let fleet = or_skip!(Fleet::without_schema(), needs = NEEDS);
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
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
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
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    for host in HOSTS {
        fleet.host(host, "nodelay", "");
    }
    // Failures must not lock: 31 re-uses per round.
    fleet.cli_ok(&["db", "policy", "--deny", "0"]);
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
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
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
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    for host in HOSTS {
        fleet.host(host, "nodelay", "");
    }
    fleet.cli_ok(&DENY_3_POLICY);
    let codes = fleet.generate(USER, &[]);
    for (i, host) in HOSTS.iter().take(3).enumerate() {
        let login = fleet.lab.login(host, USER, &["AAAAA-AAAAA"]);
        assert_eq!(login.result(), "PAM_AUTH_ERR", "failure {i} on {host}");
        assert_eq!(login.logged("codes now locked"), i == 2, "{:?}", login.log);
    }
    // Locked on every host, even for a good code. A host whose login hint
    // predates the lock (web1 and web2: their failures did not lock) prompts
    // once and the database refuses; told of the lock, it drops the hint.
    // The others refuse before any prompt, as every host does from then on.
    for host in HOSTS {
        let login = fleet.lab.login(host, USER, &[&codes[0]]);
        assert_eq!(login.result(), "PAM_MAXTRIES", "{host}: {login:?}");
        let hinted = matches!(host, "web1" | "web2");
        assert_eq!(login.prompts().len(), usize::from(hinted), "{host}: {login:?}");
        let again = fleet.lab.login(host, USER, &[&codes[0]]);
        assert_eq!(again.result(), "PAM_MAXTRIES", "{host}: {again:?}");
        assert!(again.prompts().is_empty(), "{host}: {again:?}");
    }
    // status judges the lock by the fleet's policy, as the hosts do.
    let status = fleet.status(USER);
    assert_eq!(status["policy"]["deny"], 3, "{status}");
    assert_eq!(status["policy"]["source"], "database", "{status}");
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

#[test]
fn temporary_codes_and_max_age_work_on_the_fleet_store_as_on_files() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "");
    fleet.host("web2", "nodelay", "");
    let codes = fleet.generate(USER, &[]);
    let (code, stdout, stderr) =
        fleet.run_cli(&["add", USER, "--count", "2", "--expires", "1h", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let sheet: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let temporary: Vec<&str> = sheet["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(temporary.len(), 2);
    let status = fleet.status(USER);
    assert_eq!(
        (status["total"].as_u64(), status["usable"].as_u64()),
        (Some(12), Some(12))
    );
    assert_eq!(status["temporary"].as_array().map(Vec::len), Some(2), "{status}");

    // Before its expiry a temporary code works, and the count is of working codes.
    let first = fleet.lab.login("web1", USER, &[temporary[0]]);
    assert_eq!(first.result(), "PAM_SUCCESS", "{first:?}");
    assert!(
        first.infos().iter().any(|i| i.contains("11 backup codes left")),
        "{first:?}"
    );
    // Its expiry comes (tests/expiry.rs waits for a real one on the file store).
    fleet.sql(&format!(
        "UPDATE backup_codes.codes SET expires = now() - interval '1 second' \
         WHERE user_name = '{USER}' AND expires IS NOT NULL"
    ));
    let late = fleet.lab.login("web1", USER, &[temporary[1]]);
    assert_eq!(late.result(), "PAM_AUTH_ERR", "{late:?}");
    assert!(late.logged("expired backup code"), "{:?}", late.log);
    let status = fleet.status(USER);
    assert_eq!(status["failures"], 0, "an expired code is not a guess: {status}");
    assert_eq!(status["temporary"][0]["expired"], true, "{status}");

    // max_age (the fleet's policy): 95 of 100 days old warns, 101 refuses.
    fleet.cli_ok(&["db", "policy", "--max-age", "100"]);
    let age = |days: i64| {
        fleet.sql(&format!(
            "UPDATE backup_codes.sets SET created = now() - make_interval(secs => {}) \
             WHERE user_name = '{USER}'",
            days * 86_400
        ));
    };
    age(95);
    let old = fleet.lab.login("web2", USER, &[&codes[0]]);
    assert_eq!(old.result(), "PAM_SUCCESS", "{old:?}");
    assert!(
        old.infos()
            .iter()
            .any(|i| i.contains("stop working") && i.contains("in 5 days")),
        "{old:?}"
    );
    age(101);
    let dead = fleet.lab.login("web2", USER, &[&codes[1]]);
    assert_eq!(dead.result(), "PAM_AUTH_ERR", "{dead:?}");
    assert!(dead.logged("expired backup code"), "{:?}", dead.log);
    // On every host: the policy is the fleet's.
    let dead = fleet.lab.login("web1", USER, &[&codes[1]]);
    assert_eq!(dead.result(), "PAM_AUTH_ERR", "{dead:?}");
    // The owner lifts max_age: the same code works at once, everywhere.
    fleet.cli_ok(&["db", "policy", "--max-age", "0"]);
    assert_eq!(
        fleet.lab.login("web1", USER, &[&codes[1]]).result(),
        "PAM_SUCCESS"
    );
    assert_eq!(fleet.status(USER)["failures"], 0);
}

/// Waits for one spawned login (at most two minutes) and collects its log.
fn finish(fleet: &Fleet, child: std::process::Child) -> common::Login {
    let (mut logins, log) = fleet.lab.finish_all(vec![child], 120);
    let mut login = logins.pop().unwrap();
    login.log = log;
    login
}

/// How many codes of `user` are marked used in the database.
fn is_used(fleet: &Fleet, user: &str) -> usize {
    fleet.uses(user).len()
}

/// A login that failed closed left `code` unspent: no use is recorded, and
/// it logs in once the database answers.
fn assert_unspent(fleet: &Fleet, code: &str) {
    assert_eq!(is_used(fleet, USER), 0, "a refused login recorded a use");
    assert_eq!(fleet.lab.login("web1", USER, &[code]).result(), "PAM_SUCCESS");
}

#[test]
fn a_stopped_database_fails_closed_also_with_nullok() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "connect_timeout = 2");
    fleet.host("web2", "nodelay nullok", "connect_timeout = 2");
    let codes = fleet.generate(USER, &[]);
    fleet.cluster.stop();
    for host in ["web1", "web2"] {
        for user in [USER, "nocodes"] {
            let start = std::time::Instant::now();
            let login = fleet.lab.login(host, user, &[&codes[0]]);
            assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{host} {user}: {login:?}");
            assert!(
                start.elapsed().as_secs() < 3 + 5,
                "{host}: took {:?}",
                start.elapsed()
            );
            assert!(login.logged("cannot connect"), "{:?}", login.log);
            assert!(
                login.prompts().is_empty(),
                "no prompt without the store: {login:?}"
            );
        }
    }
    fleet.cluster.start_again();
    assert_unspent(&fleet, &codes[0]);
}

#[test]
fn a_hung_database_fails_closed_within_the_timeout() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay nullok", "connect_timeout = 2");
    let codes = fleet.generate(USER, &[]);
    // Stopped, the server's kernel still accepts TCP connections.
    fleet.cluster.signal_all(nix::sys::signal::Signal::SIGSTOP);
    let start = std::time::Instant::now();
    let login = fleet
        .lab
        .run_timeout(&mut fleet.lab.login_cmd("web1", USER, &[&codes[0]]), 60);
    let took = start.elapsed();
    fleet.cluster.signal_all(nix::sys::signal::Signal::SIGCONT);
    assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{login:?}");
    // connect_timeout plus a second, and the driver's own start.
    assert!(took.as_secs_f64() < 2.0 + 1.0 + 1.5, "took {took:?}");
    assert!(login.logged("no answer within 2 s"), "{:?}", login.log);
    assert_unspent(&fleet, &codes[0]);
}

#[test]
fn a_connection_terminated_while_judging_refuses_and_records_nothing() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "");
    let codes = fleet.generate(USER, &[]);
    let held = fleet.hold_set(USER);
    let child = fleet
        .lab
        .spawn(&mut fleet.lab.login_cmd("web1", USER, &[&codes[0]]));
    let pid = fleet.blocked_login();
    assert_eq!(fleet.sql(&format!("SELECT pg_terminate_backend({pid})")), "t");
    let login = finish(&fleet, child);
    held.release();
    assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{login:?}");
    assert_unspent(&fleet, &codes[0]);
    assert_eq!(is_used(&fleet, USER), 1);
}

#[test]
fn a_login_killed_while_its_judgement_waits_is_no_success_and_counts_nothing() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "");
    let codes = fleet.generate(USER, &[]);
    let held = fleet.hold_set(USER);
    let mut child = fleet
        .lab
        .spawn(&mut fleet.lab.login_cmd("web1", USER, &[&codes[0]]));
    fleet.blocked_login();
    child.kill().unwrap();
    child.wait().unwrap();
    held.release();
    // The CALL commits in the database, whether or not its client is still
    // there to read the answer: the backend gets the lock and judges, once
    // (unless it noticed its client gone first, client_connection_check_interval).
    // Either way the killed login was no success, no failure is counted and
    // nothing lingers; the code is spent exactly when it is recorded used.
    assert!(fleet.no_login_sessions());
    assert_eq!(fleet.status(USER)["failures"], 0);
    let used = is_used(&fleet, USER);
    assert!(used <= 1, "{used}");
    let again = fleet.lab.login("web1", USER, &[&codes[0]]);
    let want = if used == 1 { "PAM_AUTH_ERR" } else { "PAM_SUCCESS" };
    assert_eq!(again.result(), want, "{again:?}");
    assert_eq!(is_used(&fleet, USER), 1);
}

#[test]
fn a_database_restarted_between_prompt_and_judgement_still_judges_once() {
    use std::io::Write;
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "");
    fleet.host("web2", "nodelay", "");
    let codes = fleet.generate(USER, &[]);
    for (round, code) in codes.iter().take(2).enumerate() {
        let fifo = fleet.lab.path().join(format!("answer{round}"));
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut cmd = fleet.lab.driver();
        cmd.args([
            "--service",
            "web1",
            "--rhost",
            "192.0.2.7",
            "--user",
            USER,
            "--answer-at-prompt",
        ])
        .arg(&fifo);
        let child = fleet.lab.spawn(&mut cmd);
        // Opening the FIFO returns once the driver reads it: at the prompt.
        let mut answer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        // No connection is kept over the prompt (the one before it closes,
        // its backend ends); the judgement makes a new one.
        assert!(fleet.no_login_sessions(), "a session is held at the prompt");
        fleet.cluster.restart();
        answer.write_all(code.as_bytes()).unwrap();
        drop(answer);
        let login = finish(&fleet, child);
        assert_eq!(login.result(), "PAM_SUCCESS", "round {round}: {login:?}");
        assert_eq!(is_used(&fleet, USER), round + 1, "a reported success is recorded");
        // And it is spent everywhere.
        assert_eq!(
            fleet.lab.login("web2", USER, &[&codes[round]]).result(),
            "PAM_AUTH_ERR"
        );
    }
}

#[test]
fn a_password_file_that_is_not_root_only_is_refused() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay nullok", "");
    let codes = fleet.generate(USER, &[]);
    let file = &fleet.password_file;
    let check = |want: &str| {
        let login = fleet.lab.login("web1", USER, &[&codes[0]]);
        assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{want}: {login:?}");
        assert!(login.logged(want), "{want}: {:?}", login.log);
    };
    fleet.lab.chmod(file, 0o640);
    check("mode 0640");
    fleet.lab.chmod(file, 0o600);
    std::os::unix::fs::chown(file, Some(65534), None).unwrap();
    check("owned by uid 65534");
    std::os::unix::fs::chown(file, Some(0), None).unwrap();
    let link = fleet.lab.path().join("pgpass-link");
    std::os::unix::fs::symlink(file, &link).unwrap();
    fleet.host(
        "web2",
        "nodelay",
        &format!("password_file = \"{}\"", link.display()),
    );
    let login = fleet.lab.login("web2", USER, &[&codes[0]]);
    assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL");
    assert!(login.logged("symbolic link"), "{:?}", login.log);
    // A wrong password: the server refuses, the module fails closed.
    std::fs::write(file, "not the password\n").unwrap();
    check("password authentication failed");
    // A URI with a password never gets that far.
    fleet.host_with_store("web3", &fleet.login_uri().replace('@', ":secret@"), "nodelay", "");
    let login = fleet.lab.login("web3", USER, &[&codes[0]]);
    assert_eq!(login.result(), "PAM_SERVICE_ERR", "{login:?}");
    assert!(login.logged("password_file"), "{:?}", login.log);
    assert_eq!(is_used(&fleet, USER), 0);
}

/// Every RFC 3339 time in `value` cut to the microsecond, which is what
/// PostgreSQL keeps.
fn to_microseconds(value: &mut serde_json::Value) {
    use time::format_description::well_known::Rfc3339;
    match value {
        serde_json::Value::String(text) => {
            if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
                let t = t.replace_nanosecond(t.nanosecond() / 1000 * 1000).unwrap();
                *text = t.format(&Rfc3339).unwrap();
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(to_microseconds),
        serde_json::Value::Object(map) => map.values_mut().for_each(to_microseconds),
        _ => {}
    }
}

#[test]
fn migrate_imports_a_file_store_with_the_same_state() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let lab = &fleet.lab;
    lab.simple_service("local", "nodelay deny=3 fail_interval=900 unlock_time=900");
    fleet.host("web1", "nodelay", "");
    fleet.cli_ok(&DENY_3_POLICY);
    // The file store's status reads this [login] policy: the fleet's values.
    fleet.owner_login("deny = 3\nfail_interval = 900\nunlock_time = 900");
    // A file store: one user with used codes, one locked out, one revoked.
    let used = lab.generate("used", &[]);
    assert_eq!(lab.login("local", "used", &[&used[0]]).result(), "PAM_SUCCESS");
    assert_eq!(lab.login("local", "used", &[&used[1]]).result(), "PAM_SUCCESS");
    assert_eq!(
        lab.login("local", "used", &["AAAAA-AAAAA"]).result(),
        "PAM_AUTH_ERR"
    );
    let locked = lab.generate("locked", &[]);
    for _ in 0..3 {
        lab.login("local", "locked", &["AAAAA-AAAAA"]);
    }
    assert_eq!(
        lab.login("local", "locked", &[&locked[0]]).result(),
        "PAM_MAXTRIES"
    );
    lab.generate("revoked", &[]);
    assert!(lab.cli().args(["revoke", "revoked"]).status().unwrap().success());

    let migrate = |extra: &[&str]| {
        let mut args = vec!["migrate", "--from", lab.store.to_str().unwrap()];
        args.extend_from_slice(extra);
        fleet.run_cli(&args)
    };
    let (code, stdout, stderr) = migrate(&[]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "one line per user: {stdout}");
    assert!(lines[0].starts_with("locked: imported"), "{stdout}");
    assert!(
        lines[1].starts_with("revoked: imported") && lines[1].contains("revoked"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("used: imported (8 of 10 codes left, 1 failures"),
        "{stdout}"
    );
    // The same state, as status sees it.
    for user in ["used", "locked", "revoked"] {
        // The file store, seen with the same [login] policy.
        let out = lab
            .cli()
            .arg("--config")
            .arg(&fleet.owner_config)
            .args(["status", "--format", "json", user])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut file = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()[0].clone();
        let mut db = fleet.status(user);
        assert_eq!(file["policy"]["source"], "config");
        assert_eq!(db["policy"]["source"], "database");
        for value in [&mut file, &mut db] {
            // Lock times are computed from "now".
            value.as_object_mut().unwrap().remove("locked_until");
            // The same values, from the config and from the database.
            value["policy"].as_object_mut().unwrap().remove("source");
            to_microseconds(value);
        }
        assert_eq!(file, db, "{user}");
    }
    // Idempotent: a second run skips everyone; --replace overwrites.
    let (code, stdout, _) = migrate(&[]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout.lines().filter(|l| l.contains("skipped")).count(),
        3,
        "{stdout}"
    );
    let (_, stdout, _) = migrate(&["--replace"]);
    assert_eq!(
        stdout.lines().filter(|l| l.contains("replaced")).count(),
        3,
        "{stdout}"
    );
    // And logins behave the same.
    for (user, code, want) in [
        ("used", used[0].as_str(), "PAM_AUTH_ERR"),
        ("locked", locked[1].as_str(), "PAM_MAXTRIES"),
        ("used", used[2].as_str(), "PAM_SUCCESS"),
        ("revoked", "AAAAA-AAAAA", "PAM_AUTH_ERR"),
    ] {
        assert_eq!(
            fleet.lab.login("web1", user, &[code]).result(),
            want,
            "{user} {code}"
        );
    }
}

#[test]
fn tls_verify_full_needs_the_right_name_and_ca() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let codes = fleet.generate(USER, &[]);
    let ca = common::postgres::TestCa::new();
    let ca_file = fleet.lab.path().join("db-ca.pem");
    std::fs::copy(&ca.cert, &ca_file).unwrap();
    let (cert, key) = ca.server("db", "IP:127.0.0.1");
    fleet.cluster.serve_tls(&cert, &key);
    let tls = |mode: &str| format!("{}?sslmode={mode}", fleet.login_uri());
    let ca_line = format!("ca_file = \"{}\"", ca_file.display());
    let password = format!("password_file = \"{}\"", fleet.password_file.display());
    fleet.host_with_store("full", &tls("verify-full"), "nodelay", &ca_line);
    fleet.host_with_store("ca", &tls("verify-ca"), "nodelay", &ca_line);
    fleet.host_with_store("req", &tls("require"), "nodelay", &ca_line);
    fleet.host_exact("plain", &tls("disable"), "nodelay nullok", &password);
    fleet.host_exact("noca", &tls("verify-full"), "nodelay nullok", &password);
    fleet.host_exact("reqnoca", &tls("require"), "nodelay nullok", &password);
    fleet.host_exact("nopass", &tls("verify-full"), "nodelay nullok", &ca_line);
    assert_eq!(
        fleet.lab.login("full", USER, &[&codes[0]]).result(),
        "PAM_SUCCESS"
    );
    // Configurations under which the server could not prove itself are
    // refused before any connection, fail closed (nullok too): a URI that
    // says so is a bad configuration, the rest a store that cannot be used.
    for (host, result, why) in [
        ("plain", "PAM_SERVICE_ERR", "sslmode=disable over TCP"),
        (
            "noca",
            "PAM_AUTHINFO_UNAVAIL",
            "needs a CA certificate: set [postgresql] ca_file",
        ),
        (
            "reqnoca",
            "PAM_AUTHINFO_UNAVAIL",
            "sslmode=require without a CA certificate",
        ),
        ("nopass", "PAM_AUTHINFO_UNAVAIL", "set [postgresql] password_file"),
    ] {
        let login = fleet.lab.login(host, USER, &[&codes[1]]);
        assert_eq!(login.result(), result, "{host}: {login:?}");
        assert!(login.logged(why), "{host}: {why:?} not in {:?}", login.log);
    }
    assert_eq!(is_used(&fleet, USER), 1);

    // A certificate for another name: verify-full refuses, verify-ca and
    // require (the chain only) accept.
    let (cert, key) = ca.server("elsewhere", "DNS:elsewhere.example");
    fleet.cluster.serve_tls(&cert, &key);
    let wrong = fleet.lab.login("full", USER, &[&codes[1]]);
    assert_eq!(wrong.result(), "PAM_AUTHINFO_UNAVAIL", "{wrong:?}");
    assert!(wrong.logged("not valid for name"), "{:?}", wrong.log);
    assert_eq!(fleet.lab.login("ca", USER, &[&codes[1]]).result(), "PAM_SUCCESS");
    assert_eq!(fleet.lab.login("req", USER, &[&codes[2]]).result(), "PAM_SUCCESS");
    // A certificate of another CA: refused by all three.
    let other = common::postgres::TestCa::new();
    let (cert, key) = other.server("db", "IP:127.0.0.1");
    fleet.cluster.serve_tls(&cert, &key);
    for host in ["full", "ca", "req"] {
        let login = fleet.lab.login(host, USER, &[&codes[3]]);
        assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{host}: {login:?}");
    }
    assert_eq!(is_used(&fleet, USER), 3);
}

#[test]
fn every_command_works_on_the_fleet_store() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay nullok", "");
    for user in ["anna", "bruno", "carla"] {
        fleet.lab.add_user(user);
    }
    // Bulk provisioning from a file, as on a directory.
    let list = fleet.lab.path().join("staff.txt");
    std::fs::write(&list, "anna\n# a comment\nbruno\n\nanna\n").unwrap();
    let out = fleet
        .cli()
        .args(["generate", "--format", "json", "--users-from"])
        .arg(&list)
        .arg("carla")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sets: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let users: Vec<&str> = sets.iter().map(|s| s["user"].as_str().unwrap()).collect();
    assert_eq!(users, ["carla", "anna", "bruno"]);
    let (code, stdout, _) = fleet.run_cli(&["status"]);
    assert_eq!(code, 0);
    for user in ["anna", "bruno", "carla"] {
        assert!(
            stdout.contains(&format!("{user}: 10 of 10 codes left")),
            "{stdout}"
        );
    }
    let code_of = |i: usize| sets[i]["codes"][0].as_str().unwrap().to_owned();
    assert_eq!(
        fleet.lab.login("web1", "anna", &[&code_of(1)]).result(),
        "PAM_SUCCESS"
    );

    // revoke: still enrolled, every code refused (nullok does not let in).
    let (code, stdout, stderr) = fleet.run_cli(&["revoke", "bruno"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("bruno: codes revoked"), "{stdout}");
    let revoked = fleet.lab.login("web1", "bruno", &[&code_of(2)]);
    assert_eq!(revoked.result(), "PAM_AUTH_ERR", "{revoked:?}");
    assert!(fleet.status("bruno")["revoked"].is_string());
    // revoke --unenroll: gone; with nullok the user passes without a code
    // (the module ignores them; pam_permit after it decides).
    let (code, _, stderr) = fleet.run_cli(&["revoke", "--unenroll", "carla"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fleet.status("carla")["enrolled"], false);
    let config = fleet.lab.path().join("web1.conf");
    fleet.lab.service(
        "web1-nullok",
        &format!(
            "auth [success=done ignore=ignore default=die] MODULE config={} nullok\n\
             auth required pam_permit.so\n",
            config.display()
        ),
    );
    let ignored = fleet.lab.login("web1-nullok", "carla", &[]);
    assert_eq!(ignored.result(), "PAM_SUCCESS", "{ignored:?}");
    assert!(ignored.prompts().is_empty(), "{ignored:?}");
    // bruno, revoked, stays enrolled: nullok does not let him in.
    assert_eq!(
        fleet.lab.login("web1-nullok", "bruno", &[""]).result(),
        "PAM_AUTH_ERR"
    );
    assert_eq!(
        fleet.sql("SELECT count(*) FROM backup_codes.codes WHERE user_name = 'carla'"),
        "0"
    );
    let (code, _, stderr) = fleet.run_cli(&["unlock", "carla"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("carla: has no backup codes"), "{stderr}");

    // check as the login role (on a host): it sees the version and that it
    // reads nothing, and does not try to read the sets.
    let host_config = fleet.lab.path().join("web1.conf");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_backup-codes"))
        .arg("--config")
        .arg(&host_config)
        .arg("check")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains(&format!("connected as {}", fleet.login)),
        "{stdout}"
    );
    assert!(stdout.contains("schema version 4"), "{stdout}");
    // The login role sees the fleet's policy too (it cannot change it).
    assert!(stdout.contains("fleet policy: deny 5"), "{stdout}");
    assert!(
        stdout.contains("not the owner: the sets were not read"),
        "{stdout}"
    );
    // And status as the login role is refused by the database.
    let mut status = std::process::Command::new(env!("CARGO_BIN_EXE_backup-codes"));
    // anna is the lab's account, as every command resolves names through NSS.
    fleet.lab.with_lab_accounts(&mut status);
    let out = status
        .arg("--config")
        .arg(&host_config)
        .args(["status", "anna"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("permission denied"));
}

#[test]
fn the_break_glass_line_lets_only_the_local_account_in_while_the_database_is_down() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    // The two lines of docs/fleet.md, as published: fleet codes, then this
    // host's own file store (the lab's module and store, this host's config,
    // no failure delay).
    let config = fleet.host_config("web1", &fleet.login_uri(), "connect_timeout = 2");
    let published = doc_block("docs/fleet.md", "## Break-glass");
    let stack: String = published
        .lines()
        .map(|line| {
            if line.starts_with('#') {
                format!("{line}\n")
            } else {
                let line = line
                    .replace(
                        "pam_backup_codes.so",
                        &format!("MODULE config={}", config.display()),
                    )
                    .replace("store=/var/lib/pam-backup-codes", "store=STORE");
                format!("{line} nodelay\n")
            }
        })
        .collect();
    assert_eq!(
        stack.lines().filter(|l| l.starts_with("auth ")).count(),
        2,
        "docs/fleet.md's break-glass stack: {published}"
    );
    fleet.lab.service("web1", &stack);
    let fleet_codes = fleet.generate("alice", &[]);
    let rescue = fleet.lab.generate("rescue", &[]);
    // Database up: fleet users with fleet codes; the rescue account with its own.
    assert_eq!(
        fleet.lab.login("web1", "alice", &[&fleet_codes[0]]).result(),
        "PAM_SUCCESS"
    );
    assert_eq!(
        fleet.lab.login("web1", "rescue", &[&rescue[0]]).result(),
        "PAM_SUCCESS"
    );
    assert_eq!(
        fleet.lab.login("web1", "alice", &["AAAAA-AAAAA"]).result(),
        "PAM_AUTH_ERR"
    );
    assert_eq!(
        fleet.lab.login("web1", "nobody", &["AAAAA-AAAAA"]).result(),
        "PAM_AUTH_ERR"
    );
    // Database down: only the rescue account gets in.
    fleet.cluster.stop();
    let alice = fleet
        .lab
        .login("web1", "alice", &[&fleet_codes[1], &fleet_codes[1]]);
    assert_ne!(alice.result(), "PAM_SUCCESS", "{alice:?}");
    assert_eq!(
        fleet.lab.login("web1", "rescue", &[&rescue[1]]).result(),
        "PAM_SUCCESS"
    );
}

/// A proxy to the cluster's socket that passes everything on until a client
/// sends `COMMIT`, which it forwards to the server before closing both ends:
/// the commit is made, its answer never arrives. It listens on a Unix socket
/// in a private root-owned directory (a trusted one: the proxy runs as root,
/// which owns the socket), so that it sees the protocol in plain text.
fn proxy_losing_commit_answers(target: std::path::PathBuf) -> (tempfile::TempDir, u16) {
    use std::io::{Read, Write};
    use std::net::Shutdown;
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::Builder::new()
        .prefix("pam-backup-codes-proxy.")
        .tempdir()
        .unwrap();
    let port = 6543;
    let listener = UnixListener::bind(dir.path().join(format!(".s.PGSQL.{port}"))).unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let server = UnixStream::connect(&target).unwrap();
            let committed = Arc::new(AtomicBool::new(false));
            let (mut c_in, mut c_out) = (client.try_clone().unwrap(), client);
            let (mut s_in, mut s_out) = (server.try_clone().unwrap(), server);
            let flag = Arc::clone(&committed);
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n @ 1..) = c_in.read(&mut buf) {
                    // The judgement's CALL commits in the database.
                    let call: &[u8] = b"CALL backup_codes.judge(";
                    if buf[..n].windows(7).any(|w| w == b"COMMIT\0")
                        || buf[..n].windows(call.len()).any(|w| w == call)
                    {
                        flag.store(true, Ordering::SeqCst);
                    }
                    if s_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n @ 1..) = s_in.read(&mut buf) {
                    if committed.load(Ordering::SeqCst) {
                        break;
                    }
                    if c_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_out.shutdown(Shutdown::Both);
                let _ = s_in.shutdown(Shutdown::Both);
            });
        }
    });
    (dir, port)
}

#[test]
fn a_lost_commit_answer_is_refused_and_logged_as_ambiguous() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let target = fleet
        .cluster
        .socket_dir
        .join(format!(".s.PGSQL.{}", fleet.cluster.port));
    let (dir, port) = proxy_losing_commit_answers(target);
    let uri = format!(
        "postgresql://{}@localhost:{port}/{}?host={}",
        fleet.login,
        fleet.db,
        dir.path().display()
    );
    // Over a trusted socket, no password: the cluster trusts its socket.
    fleet.host_exact(
        "web1",
        &uri,
        "nodelay",
        &format!("connect_timeout = {}", common::postgres::LOADED_TIMEOUT),
    );
    fleet.host("web2", "nodelay", "");
    let codes = fleet.generate(USER, &[]);
    let login = fleet.lab.login("web1", USER, &[&codes[0]]);
    assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{login:?}");
    assert!(
        login.logged("AMBIGUOUS: the commit was sent but its answer was lost"),
        "{:?}",
        login.log
    );
    // Here the commit did reach the database: the code is spent.
    assert_eq!(is_used(&fleet, USER), 1);
    assert_eq!(
        fleet.lab.login("web2", USER, &[&codes[0]]).result(),
        "PAM_AUTH_ERR"
    );
    assert_eq!(
        fleet.lab.login("web2", USER, &[&codes[1]]).result(),
        "PAM_SUCCESS"
    );
}

#[test]
fn db_policy_shows_and_sets_the_fleet_policy_with_the_configs_checks() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let (code, stdout, stderr) = fleet.run_cli(&["db", "policy"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("fleet policy: deny 5 within 900 s, unlock_time 900 s, max_age 0 (no limit)"),
        "{stdout}"
    );
    let (code, stdout, stderr) = fleet.run_cli(&["db", "policy", "--unlock-time", "0", "--max-age", "90"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout
            .contains("deny 5 within 900 s, unlock_time 0 s (until `backup-codes unlock`), max_age 90 days"),
        "{stdout}"
    );
    // Refused as the config refuses them; nothing changed.
    for (args, want) in [
        (&["--fail-interval", "0"][..], "at least 1 second"),
        (&["--deny", "1001"], "at most 1000"),
        (&["--deny=-1"], "non-negative"),
        (&["--max-age", "36501"], "36500"),
        (&["--unlock-time", "99999999999"], "too large"),
    ] {
        let (code, _, stderr) = fleet.run_cli(&[&["db", "policy"], args].concat());
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    assert_eq!(
        fleet.sql("SELECT deny, fail_interval, unlock_time, max_age FROM backup_codes.policy"),
        "5|900|0|90"
    );
    // status shows it, in text and json.
    fleet.generate(USER, &[]);
    let text = fleet.cli_stdout(&["status", USER]);
    assert!(text.contains("fleet policy ("), "{text}");
    assert!(text.contains("max_age 90 days"), "{text}");
    let status = fleet.status(USER);
    assert_eq!(status["policy"]["max_age"], 90, "{status}");
    assert_eq!(status["policy"]["unlock_time"], 0, "{status}");
    // A file store has no such thing: its policy is its config's.
    let (code, _, stderr) = fleet.run_cli(&["--store", fleet.lab.store.to_str().unwrap(), "db", "policy"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("is a directory"), "{stderr}");
}

#[test]
fn db_init_upgrades_a_version_1_database() {
    let fleet = or_skip!(Fleet::without_schema(), needs = NEEDS);
    // Version 1 as its db init left it.
    let v1 = include_str!("common/schema_v1.sql");
    let owner = |sql: &str| fleet.cluster.try_sql(&fleet.owner, &fleet.db, sql).unwrap();
    owner(&format!("CREATE SCHEMA backup_codes; {v1}"));
    owner(&format!(
        "REVOKE ALL ON ALL FUNCTIONS IN SCHEMA backup_codes FROM PUBLIC; \
         GRANT USAGE ON SCHEMA backup_codes TO {login}; \
         GRANT EXECUTE ON FUNCTION backup_codes.login_info(text, integer, integer, integer, boolean), \
         backup_codes.judge(text, bytea, bytea, integer, integer, integer, integer, text, text, text) \
         TO {login}; COMMENT ON SCHEMA backup_codes IS 'pam-backup-codes schema 1'",
        login = fleet.login
    ));
    // A set, used once, with a failure recorded as version 1 could: unclipped.
    // This build writes sets.check_symbol (version 3): given for the CLI to
    // write with, then dropped, so that the set is as version 1 kept it (a
    // set without check symbols loses nothing with the column).
    owner("ALTER TABLE backup_codes.sets ADD COLUMN check_symbol boolean NOT NULL DEFAULT false");
    let codes = fleet.generate(USER, &["--no-check-symbol"]);
    owner("ALTER TABLE backup_codes.sets DROP COLUMN check_symbol");
    owner(&format!(
        "UPDATE backup_codes.sets SET local_failures = ARRAY[now()], last_failure_at = now(), \
         last_failure_service = repeat('s', 300), last_failure_host = E'evil\\nhost' \
         WHERE user_name = '{USER}'; \
         UPDATE backup_codes.codes SET used_at = now(), used_service = E'sshd\\r', \
         used_host = repeat('h', 400) WHERE user_name = '{USER}' AND seq = 0"
    ));
    let (code, stdout, stderr) = fleet.run_cli(&["db", "init", "--login-role", &fleet.login]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("schema upgraded from version 1 to 4"), "{stdout}");
    // The policy argument is gone: version 1's signatures no longer exist.
    let err = fleet
        .sql_as_login(&format!(
            "SELECT * FROM backup_codes.login_info('{USER}', 0, 900, 900, true)"
        ))
        .unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(
        fleet.sql(
            "SELECT to_regprocedure('backup_codes.login_info(text, integer, integer, integer, boolean)') \
             IS NULL AND to_regprocedure('backup_codes.judge(text, bytea, bytea, integer, integer, \
             integer, integer, text, text, text)') IS NULL"
        ),
        "t"
    );
    assert_eq!(
        fleet.sql("SELECT deny, fail_interval, unlock_time, max_age FROM backup_codes.policy"),
        "5|900|900|0"
    );
    // The fields were clipped, the set and its state kept.
    assert_eq!(
        fleet.sql(&format!(
            "SELECT octet_length(last_failure_service), last_failure_host FROM backup_codes.sets \
             WHERE user_name = '{USER}'"
        )),
        "255|evil?host"
    );
    let status = fleet.status(USER);
    assert_eq!(status["local"]["failures"], 1, "{status}");
    assert_eq!(status["remaining"], 9, "{status}");
    fleet.host("web1", "nodelay", "");
    assert_eq!(
        fleet.lab.login("web1", USER, &[&codes[0]]).result(),
        "PAM_AUTH_ERR"
    );
    assert_eq!(
        fleet.lab.login("web1", USER, &[&codes[1]]).result(),
        "PAM_SUCCESS"
    );
    let stdout = fleet.cli_stdout(&["check"]);
    assert!(stdout.contains("schema version 4"), "{stdout}");
}

#[test]
fn the_fleet_tells_the_previous_use_and_catches_typos_before_the_database() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "");
    fleet.host("web2", "nodelay", "");
    let codes = fleet.generate(USER, &[]);
    assert_eq!(codes[0].len(), 13, "a check symbol: {}", codes[0]);
    assert_eq!(fleet.status(USER)["check_symbol"], true);
    let first = fleet.lab.login("web1", USER, &[&codes[0]]);
    assert_eq!(first.result(), "PAM_SUCCESS", "{first:?}");
    assert_eq!(first.infos(), ["9 backup codes left."], "{first:?}");

    // A typo: told, and the database never hears of it.
    let mut typo = codes[1].clone().into_bytes();
    typo[0] = if typo[0] == b'7' { b'8' } else { b'7' };
    let typo = String::from_utf8(typo).unwrap();
    let told = fleet.lab.login("web2", USER, &[&typo]);
    assert_eq!(told.result(), "PAM_AUTH_ERR", "{told:?}");
    assert!(told.errors().iter().any(|e| e.contains("typo")), "{told:?}");
    assert_eq!(fleet.status(USER)["failures"], 0, "a typo counts nothing");
    // Two wrong codes on web2, counted fleet-wide.
    for _ in 0..2 {
        assert_eq!(
            fleet.lab.login("web2", USER, &["00000-00000-0"]).result(),
            "PAM_AUTH_ERR"
        );
    }
    let used_at = fleet.status(USER)["uses"][0]["at"].as_str().unwrap().to_owned();
    let minute = format!("{} {} UTC", &used_at[..10], &used_at[11..16]);
    let second = fleet.lab.login("web2", USER, &[&codes[1]]);
    assert_eq!(second.result(), "PAM_SUCCESS", "{second:?}");
    assert_eq!(
        second.infos(),
        [
            format!(
                "Last backup code used {minute} via web1 from 192.0.2.7 on web1; 2 failed attempts since."
            )
            .as_str(),
            "8 backup codes left."
        ],
        "{second:?}"
    );
    // A set without check symbols on the fleet keeps working.
    let old = fleet.generate(USER, &["--no-check-symbol"]);
    assert_eq!(old[0].len(), 11);
    assert_eq!(fleet.status(USER)["check_symbol"], false);
    assert_eq!(fleet.lab.login("web1", USER, &[&old[0]]).result(), "PAM_SUCCESS");
}

#[test]
fn db_init_upgrades_a_version_2_database_and_its_sets_keep_working() {
    let fleet = or_skip!(Fleet::without_schema(), needs = NEEDS);
    // Version 2 as its db init left a version 1 database.
    let v1 = include_str!("common/schema_v1.sql");
    let v2 = include_str!("common/schema_v2.sql");
    let owner = |sql: &str| fleet.cluster.try_sql(&fleet.owner, &fleet.db, sql).unwrap();
    owner(&format!("CREATE SCHEMA backup_codes; {v1}"));
    owner(v2);
    owner(&format!(
        "REVOKE ALL ON ALL ROUTINES IN SCHEMA backup_codes FROM PUBLIC; \
         GRANT USAGE ON SCHEMA backup_codes TO {login}; \
         GRANT EXECUTE ON ROUTINE backup_codes.login_info(text, boolean), \
         backup_codes.judge(text, bytea, bytea, text, text, text), \
         backup_codes.judge_attempt(text, bytea, bytea, text, text, text), \
         backup_codes.fleet_policy() TO {login}; \
         COMMENT ON SCHEMA backup_codes IS 'pam-backup-codes schema 2'",
        login = fleet.login
    ));
    // A version 2 set (no check symbols), as in tests above: written with
    // the column given, which version 2 did not have, then dropped.
    owner("ALTER TABLE backup_codes.sets ADD COLUMN check_symbol boolean NOT NULL DEFAULT false");
    let codes = fleet.generate(USER, &["--no-check-symbol"]);
    owner("ALTER TABLE backup_codes.sets DROP COLUMN check_symbol");
    let (code, stdout, stderr) = fleet.run_cli(&["db", "init", "--login-role", &fleet.login]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("schema upgraded from version 2 to 4"), "{stdout}");
    // The owner's policy is kept, not reset to the defaults.
    assert_eq!(
        fleet.sql("SELECT deny, fail_interval, unlock_time, max_age FROM backup_codes.policy"),
        "7|600|1200|0"
    );
    fleet.host("web1", "nodelay", "");
    let first = fleet.lab.login("web1", USER, &[&codes[0]]);
    assert_eq!(first.result(), "PAM_SUCCESS", "{first:?}");
    let second = fleet.lab.login("web1", USER, &[&codes[1]]);
    assert_eq!(second.result(), "PAM_SUCCESS", "{second:?}");
    assert!(
        second.infos()[0].starts_with("Last backup code used "),
        "{second:?}"
    );
    // New sets get check symbols.
    let new = fleet.generate(USER, &[]);
    assert_eq!(fleet.lab.login("web1", USER, &[&new[0]]).result(), "PAM_SUCCESS");
}

#[test]
fn db_init_upgrades_a_version_3_judge_to_one_that_names_the_code() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let codes = fleet.generate(USER, &[]);
    // Version 3's judge_attempt and judge answered without code_seq: stand-ins
    // of the same signatures and an older result type (which CREATE OR
    // REPLACE cannot change), granted as version 3 granted them.
    let owner = |sql: &str| fleet.cluster.try_sql(&fleet.owner, &fleet.db, sql).unwrap();
    owner(&format!(
        "DROP PROCEDURE backup_codes.judge; \
         DROP FUNCTION backup_codes.judge_attempt(text, bytea, bytea, text, text, text); \
         CREATE FUNCTION backup_codes.judge_attempt(p_user text, p_salt bytea, p_digest bytea, \
             p_service text, p_rhost text, p_host text) \
         RETURNS TABLE (verdict text, failures integer) LANGUAGE sql \
         AS $$ SELECT 'absent'::text, 0 $$; \
         CREATE PROCEDURE backup_codes.judge(p_user text, p_salt bytea, p_digest bytea, \
             p_service text, p_rhost text, p_host text, OUT verdict text, OUT failures integer) \
         LANGUAGE plpgsql AS $$ BEGIN verdict := 'absent'; failures := 0; END $$; \
         REVOKE ALL ON ALL ROUTINES IN SCHEMA backup_codes FROM PUBLIC; \
         GRANT EXECUTE ON ROUTINE backup_codes.judge(text, bytea, bytea, text, text, text), \
         backup_codes.judge_attempt(text, bytea, bytea, text, text, text) TO {login}; \
         COMMENT ON SCHEMA backup_codes IS 'pam-backup-codes schema 3'",
        login = fleet.login
    ));
    let (code, stdout, stderr) = fleet.run_cli(&["db", "init", "--login-role", &fleet.login]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("schema upgraded from version 3 to 4"), "{stdout}");
    fleet.host("web1", "nodelay", "");
    let login = fleet.lab.login("web1", USER, &[&codes[1]]);
    assert_eq!(login.result(), "PAM_SUCCESS", "{login:?}");
    assert!(login.logged("event=code-accepted"), "{:?}", login.log);
    assert!(login.logged(" code_number=2 "), "{:?}", login.log);
    // The set survived, and check sees the new version.
    assert_eq!(fleet.status(USER)["remaining"], 9);
    let stdout = fleet.cli_stdout(&["check"]);
    assert!(stdout.contains("schema version 4"), "{stdout}");
}
