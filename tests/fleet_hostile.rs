//! A compromised host against the fleet store: a client holding the login
//! role's password (psql, and tokio-postgres for what psql cannot send: the
//! module's own extended-protocol CALL) tries each attack of the threat model
//! in docs/design.md, and fails; honest hosts and the admin's commands carry
//! on meanwhile.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::process::{Child, Stdio};

use common::or_skip;
use common::postgres::{Fleet, LoginRole, NEEDS, PASSWORD};
use tokio_postgres::types::{ToSql, Type};

const USER: &str = "fleetvictim";
/// What the module sends to judge (src/store/postgres/schema.rs).
const JUDGE_CALL: &str = "CALL backup_codes.judge($1, $2, $3, $4, $5, $6, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)";

/// The attacker: the login role's own connection (TLS, its password),
/// every timeout the role may lift lifted.
struct Attacker(LoginRole);

impl Attacker {
    fn connect(fleet: &Fleet) -> Self {
        let role = LoginRole::connect(fleet);
        role.batch(
            "SET statement_timeout = 0; SET lock_timeout = 0; \
             SET idle_in_transaction_session_timeout = 0",
        )
        .unwrap();
        Self(role)
    }

    fn batch(&self, sql: &str) -> Result<(), String> {
        self.0.batch(sql)
    }

    /// The module's CALL with the attacker's arguments: the verdict.
    fn judge(
        &self,
        salt: &[u8],
        digest: &[u8],
        service: &str,
        rhost: &str,
        host: &str,
    ) -> Result<String, String> {
        let params: [(&(dyn ToSql + Sync), Type); 6] = [
            (&USER, Type::TEXT),
            (&salt, Type::BYTEA),
            (&digest, Type::BYTEA),
            (&service, Type::TEXT),
            (&rhost, Type::TEXT),
            (&host, Type::TEXT),
        ];
        self.0.verdict(JUDGE_CALL, &params)
    }
}

/// The user's salt, as any login role may learn it (login_info).
fn salt(fleet: &Fleet) -> Vec<u8> {
    let hex = fleet
        .sql_as_login(&format!(
            "SELECT encode(salt, 'hex') FROM backup_codes.login_info('{USER}', true)"
        ))
        .unwrap();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// The digest of `code` under the user's set, as the module computes it.
fn digest_of(fleet: &Fleet, code: &str) -> Vec<u8> {
    let owner: pam_backup_codes::store::location::Location =
        fleet.cluster.tcp_uri(&fleet.owner, &fleet.db).parse().unwrap();
    let store = pam_backup_codes::store::Store::open(&owner, &fleet.pg_settings(None)).unwrap();
    let set = store.read(&USER.parse().unwrap()).unwrap().unwrap();
    set.digest(code.as_bytes()).unwrap().unwrap().to_vec()
}

/// A psql session as the login role running `commands` one after the other
/// in one session (a BEGIN stays open), then sleeping: killed on drop.
struct Psql(Child);

impl Psql {
    fn hold(fleet: &Fleet, commands: &[&str]) -> Self {
        let mut cmd = fleet.cluster.psql_tcp(&fleet.login, &fleet.db, PASSWORD);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd.args([
            "-c",
            "SET statement_timeout = 0",
            "-c",
            "SET idle_in_transaction_session_timeout = 0",
        ]);
        for c in commands {
            cmd.args(["-c", c]);
        }
        cmd.args(["-c", "SELECT pg_sleep(600)"]);
        Self(cmd.spawn().unwrap())
    }
}

impl Drop for Psql {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the login role's psql session sleeps (its earlier commands done).
fn wait_asleep(fleet: &Fleet) {
    let sleeping = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = '{}' AND query LIKE 'SELECT pg_sleep%'",
        fleet.login
    );
    assert!(
        fleet.cluster.wait_for(&fleet.db, &sleeping, "1", 60),
        "psql never slept"
    );
}

fn set_policy(fleet: &Fleet, args: &[&str]) {
    fleet.cli_ok(&[&["db", "policy"], args].concat());
}

#[test]
fn the_login_role_cannot_guess_past_the_fleet_lockout() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "");
    set_policy(&fleet, &["--deny", "3"]);
    let codes = fleet.generate(USER, &[]);
    let salt = salt(&fleet);
    let attacker = Attacker::connect(&fleet);
    // Three guesses lock, whatever the attacker would like the policy to be.
    for _ in 0..3 {
        assert_eq!(
            attacker
                .judge(&salt, &[0; 32], "sshd", "203.0.113.9", "evil")
                .unwrap(),
            "wrong"
        );
    }
    assert_eq!(
        attacker
            .judge(&salt, &[0; 32], "sshd", "203.0.113.9", "evil")
            .unwrap(),
        "locked"
    );
    // Every other way to a judgement without the lockout is closed.
    for (sql, want) in [
        // Version 1's signatures took the policy from the caller: gone.
        (
            format!("SELECT * FROM backup_codes.login_info('{USER}', 0, 900, 900, true)"),
            "does not exist",
        ),
        (
            format!(
                "SELECT * FROM backup_codes.judge('{USER}', '\\x00'::bytea, NULL, 0, 900, 900, 0, \
                 'sshd', 'r', 'evil')"
            ),
            "does not exist",
        ),
        // The function that judges, called directly (it would leave the row
        // lock to the caller's transaction).
        (
            format!(
                "SELECT * FROM backup_codes.judge_attempt('{USER}', '\\x00'::bytea, NULL, 'sshd', 'r', 'evil')"
            ),
            "runs only within CALL",
        ),
        // The procedure with literals, or from a DO block.
        (
            format!(
                "CALL backup_codes.judge('{USER}', '\\x00'::bytea, NULL, 'sshd', 'r', 'evil', NULL, \
                 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
            ),
            "runs only within CALL",
        ),
        (
            format!(
                "DO $$ DECLARE a text; b int; c boolean; d timestamptz; e timestamptz; f text; \
                 g text; h text; i text; j int; k int; l int; m int; n bytea; o timestamptz; \
                 p timestamptz; q boolean; r int; s int; BEGIN CALL backup_codes.judge('{USER}', '\\x00'::bytea, NULL, \
                 'sshd', 'r', 'evil', a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s); END $$"
            ),
            "runs only within CALL",
        ),
        // The policy itself, and the helpers that take one.
        (
            "UPDATE backup_codes.policy SET deny = 0".to_owned(),
            "permission denied",
        ),
        ("DELETE FROM backup_codes.policy".to_owned(), "permission denied"),
        (
            "SELECT backup_codes.lock_of('{}', 0, 900, 900)".to_owned(),
            "permission denied",
        ),
    ] {
        let err = fleet.sql_as_login(&sql).unwrap_err();
        assert!(err.contains(want), "{sql}: {err}");
    }
    // The policy is readable (check shows it), and unchanged.
    assert_eq!(
        fleet
            .sql_as_login("SELECT deny FROM backup_codes.fleet_policy()")
            .unwrap(),
        "3"
    );
    // An honest host with a right code: locked out like the attacker.
    let login = fleet.lab.login("web1", USER, &[&codes[0]]);
    assert_eq!(login.result(), "PAM_MAXTRIES", "{login:?}");
    let status = fleet.status(USER);
    assert_eq!(status["remote"]["failures"], 3, "{status}");
    assert_eq!(status["remote"]["locked"], true, "{status}");
}

#[test]
fn the_login_role_cannot_erase_recorded_failures() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "");
    fleet.generate(USER, &[]);
    for _ in 0..2 {
        assert_eq!(
            fleet.lab.login("web1", USER, &["AAAAA-AAAAA"]).result(),
            "PAM_AUTH_ERR"
        );
    }
    for sql in [
        format!("UPDATE backup_codes.sets SET remote_failures = '{{}}' WHERE user_name = '{USER}'"),
        format!("DELETE FROM backup_codes.sets WHERE user_name = '{USER}'"),
        "TRUNCATE backup_codes.sets CASCADE".to_owned(),
        "UPDATE backup_codes.policy SET deny = 1".to_owned(),
    ] {
        let err = fleet.sql_as_login(&sql).unwrap_err();
        assert!(err.contains("permission denied"), "{sql}: {err}");
    }
    // Its own judgements only add: a policy that keeps `deny` failures, not
    // fewer because a caller asked (version 1's deny = 0 rewrote the arrays).
    let attacker = Attacker::connect(&fleet);
    let salt = salt(&fleet);
    assert_eq!(
        attacker
            .judge(&salt, &[1; 32], "sshd", "203.0.113.9", "evil")
            .unwrap(),
        "wrong"
    );
    let status = fleet.status(USER);
    assert_eq!(status["remote"]["failures"], 3, "{status}");
    assert_eq!(status["remote"]["in_a_row"], 3, "{status}");
    assert_eq!(status["last_failure"]["host"], "evil", "{status}");
}

#[test]
fn a_login_role_holding_a_transaction_stalls_no_other_host_nor_the_admin() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    // The honest host gives up after 5 s: a held row lock would fail it.
    fleet.host("web1", "nodelay", "connect_timeout = 5");
    let codes = fleet.generate(USER, &[]);
    let salt = salt(&fleet);
    // The module's CALL inside the attacker's BEGIN: atomic, so its COMMIT
    // raises, and the transaction is aborted with its lock released.
    let attacker = Attacker::connect(&fleet);
    attacker.batch("BEGIN").unwrap();
    let err = attacker
        .judge(&salt, &[2; 32], "sshd", "203.0.113.9", "evil")
        .unwrap_err();
    assert!(err.contains("invalid transaction termination"), "{err}");
    // The same as one simple query of two statements (an implicit block).
    let attacker2 = Attacker::connect(&fleet);
    let err = attacker2
        .batch(&format!(
            "SELECT 1; CALL backup_codes.judge('{USER}', '\\x00'::bytea, NULL, 'sshd', 'r', 'evil', \
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
        ))
        .unwrap_err();
    assert!(err.contains("runs only within CALL"), "{err}");
    // A psql session with an open transaction that read login_info (a
    // table lock, no row lock), asleep.
    let reader = Psql::hold(
        &fleet,
        &[
            "BEGIN",
            &format!("SELECT * FROM backup_codes.login_info('{USER}', true)"),
        ],
    );
    wait_asleep(&fleet);
    // No row lock is held by the login role.
    assert_eq!(
        fleet.sql(&format!(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE a.usename = '{}' AND (l.locktype = 'tuple' \
             OR l.mode IN ('RowShareLock', 'RowExclusiveLock'))",
            fleet.login
        )),
        "0"
    );
    // Meanwhile: another host's login completes (within its 5 s), and the
    // admin's commands on that user do too.
    let login = fleet.lab.login("web1", USER, &[&codes[0]]);
    assert_eq!(login.result(), "PAM_SUCCESS", "{login:?}");
    let wrong = fleet.lab.login("web1", USER, &["AAAAA-AAAAA"]);
    assert_eq!(wrong.result(), "PAM_AUTH_ERR", "{wrong:?}");
    fleet.cli_ok(&["unlock", USER]);
    fleet.cli_ok(&["status", USER]);
    let codes = fleet.generate(USER, &[]);
    assert_eq!(
        fleet.lab.login("web1", USER, &[&codes[0]]).result(),
        "PAM_SUCCESS"
    );
    // Nothing of the attacker's aborted judgement was recorded.
    assert_eq!(fleet.status(USER)["failures"], 0);
    drop((reader, attacker, attacker2));
}

/// A field as a hostile client sends it: controls, bidirectional overrides,
/// and far more than 255 bytes.
fn poison(tag: &str) -> String {
    format!("{tag}\n\u{1b}[31m\u{202e}{}", "é".repeat(400))
}

/// The invariant of every recorded field: at most 255 bytes, no control.
fn all_fields_clean(fleet: &Fleet) -> bool {
    fleet.sql(&format!(
        "SELECT bool_and(f IS NULL OR (octet_length(f) <= 255 AND f !~ '[[:cntrl:]\\u202e]')) FROM ( \
         SELECT unnest(ARRAY[last_failure_service, last_failure_rhost, last_failure_host]) AS f \
         FROM backup_codes.sets WHERE user_name = '{USER}' UNION ALL \
         SELECT unnest(ARRAY[used_service, used_rhost, used_host]) FROM backup_codes.codes \
         WHERE user_name = '{USER}') x"
    )) == "t"
}

/// status (text and json), unlock, revoke and generate --replace answer.
fn admin_commands_work(fleet: &Fleet) {
    let status = fleet.status(USER);
    for event in status["uses"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&status["last_failure"]])
    {
        for key in ["service", "rhost", "host"] {
            if let Some(text) = event[key].as_str() {
                assert!(
                    text.len() <= 255 && !text.chars().any(char::is_control),
                    "{key}: {text:?}"
                );
            }
        }
    }
    fleet.cli_ok(&["status", USER]);
    fleet.cli_ok(&["unlock", USER]);
    fleet.cli_ok(&["revoke", USER]);
    assert_eq!(fleet.status(USER)["usable"], 0);
    fleet.generate(USER, &[]);
    assert_eq!(fleet.status(USER)["usable"], 10);
}

#[test]
fn poisoned_fields_are_clipped_and_never_break_the_admin_commands() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let codes = fleet.generate(USER, &[]);
    let salt = salt(&fleet);
    let attacker = Attacker::connect(&fleet);
    let right = digest_of(&fleet, &codes[0]);
    let (service, rhost, host) = (poison("svc"), poison("rhost"), poison("host"));
    assert_eq!(
        attacker.judge(&salt, &right, &service, &rhost, &host).unwrap(),
        "accepted"
    );
    assert_eq!(
        attacker.judge(&salt, &[3; 32], &service, &rhost, &host).unwrap(),
        "wrong"
    );
    assert!(all_fields_clean(&fleet));
    let stored = fleet.sql(&format!(
        "SELECT used_service FROM backup_codes.codes WHERE user_name = '{USER}' AND used_at IS NOT NULL"
    ));
    assert!(stored.starts_with("svc??[31m?é"), "{stored:?}");
    // The owner cannot store a bad field by hand either.
    let err = fleet
        .cluster
        .try_sql(
            "postgres",
            &fleet.db,
            &format!(
                "UPDATE backup_codes.sets SET last_failure_host = repeat('x', 300) WHERE user_name = '{USER}'"
            ),
        )
        .unwrap_err();
    assert!(err.contains("sets_fields_clipped"), "{err}");
    admin_commands_work(&fleet);
}

#[test]
fn a_bad_field_stored_before_the_fix_is_read_tolerantly_and_cleaned_by_db_init() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let codes = fleet.logged_in_once("web1", USER);
    assert_eq!(
        fleet.lab.login("web1", USER, &["AAAAA-AAAAA"]).result(),
        "PAM_AUTH_ERR"
    );
    // As a version 1 database could hold them: no CHECK, fields as sent.
    fleet.sql(
        "ALTER TABLE backup_codes.sets DROP CONSTRAINT sets_fields_clipped; \
         ALTER TABLE backup_codes.codes DROP CONSTRAINT codes_fields_clipped",
    );
    fleet.sql(&format!(
        "UPDATE backup_codes.sets SET last_failure_service = repeat('s', 300) || E'\\n', \
         last_failure_rhost = E'\\x1b[2J' || repeat('r', 300) WHERE user_name = '{USER}'; \
         UPDATE backup_codes.codes SET used_host = repeat('h', 300) || E'\\t', \
         used_service = E'su\\r\\nforged' WHERE user_name = '{USER}' AND used_at IS NOT NULL"
    ));
    assert!(!all_fields_clean(&fleet));
    // Read tolerantly: the set answers; a login too.
    let status = fleet.status(USER);
    assert_eq!(
        status["uses"][0]["host"].as_str().map(str::len),
        Some(255),
        "{status}"
    );
    assert_eq!(
        fleet.lab.login("web1", USER, &[&codes[1]]).result(),
        "PAM_SUCCESS"
    );
    fleet.cli_ok(&["unlock", USER]);
    // Rewritten by unlock (the whole set): clipped as it was read.
    assert!(all_fields_clean(&fleet));
    fleet.sql(&format!(
        "UPDATE backup_codes.codes SET used_host = repeat('h', 300) || E'\\t' \
         WHERE user_name = '{USER}' AND used_at IS NOT NULL"
    ));
    // db init cleans what is stored and puts the CHECKs back.
    fleet.cli_ok(&["db", "init", "--login-role", &fleet.login]);
    assert!(all_fields_clean(&fleet));
    assert_eq!(
        fleet.sql(
            "SELECT count(*) FROM pg_constraint WHERE conname IN ('sets_fields_clipped', 'codes_fields_clipped')"
        ),
        "2"
    );
    admin_commands_work(&fleet);
}

#[test]
fn the_connection_limit_is_set_by_db_init_and_shown_by_check() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    // The owner needs CREATEROLE to change another role's limit.
    fleet.sql(&format!("ALTER ROLE {} CREATEROLE", fleet.owner));
    let stdout = fleet.cli_stdout(&[
        "db",
        "init",
        "--login-role",
        &fleet.login,
        "--connection-limit",
        "7",
    ]);
    assert!(stdout.contains("at most 7 connections"), "{stdout}");
    assert_eq!(
        fleet.sql(&format!(
            "SELECT rolconnlimit FROM pg_roles WHERE rolname = '{}'",
            fleet.login
        )),
        "7"
    );
    let stdout = fleet.cli_stdout(&["check"]);
    assert!(
        stdout.contains(&format!("login role {} (connection limit 7)", fleet.login)),
        "{stdout}"
    );
    let (code, _, stderr) = fleet.run_cli(&[
        "db",
        "init",
        "--login-role",
        &fleet.login,
        "--connection-limit",
        "-2",
    ]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn a_host_that_sets_its_own_policy_is_refused_and_check_says_so() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let codes = fleet.generate(USER, &[]);
    // In pam.d: deny=0 would have been unlimited guessing in version 1.
    fleet.host("web1", "nodelay deny=0", "");
    fleet.host("web2", "nodelay nullok deny=0", "");
    for host in ["web1", "web2"] {
        let login = fleet.lab.login(host, USER, &[&codes[0]]);
        assert_eq!(login.result(), "PAM_SERVICE_ERR", "{login:?}");
        assert!(login.logged("deny is set"), "{:?}", login.log);
    }
    // In the config file.
    let config = fleet.host_config("web3", &fleet.login_uri(), "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}[login]\nmax_age = 30\n")).unwrap();
    fleet.lab.service(
        "web3",
        &format!("auth required MODULE config={} nodelay\n", config.display()),
    );
    let login = fleet.lab.login("web3", USER, &[&codes[0]]);
    assert_eq!(login.result(), "PAM_SERVICE_ERR", "{login:?}");
    assert!(login.logged("max_age is set"), "{:?}", login.log);
    let out = fleet
        .lab
        .cli()
        .arg("--config")
        .arg(&config)
        .arg("check")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("max_age is set with a PostgreSQL store"),
        "{stderr}"
    );
    // Nothing was judged: the code still works on an honest host.
    fleet.host("web4", "nodelay", "");
    assert_eq!(
        fleet.lab.login("web4", USER, &[&codes[0]]).result(),
        "PAM_SUCCESS"
    );
}
