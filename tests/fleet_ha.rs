//! The fleet at scale on PostgreSQL's own machinery: nothing held while a
//! person types, failover to a synchronous standby through a multi-host
//! URI without a double spend, and PgBouncer in transaction pooling mode.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::io::Write;

use common::or_skip;
use common::postgres::{Bouncer, Cluster, Fleet, NEEDS};
use nix::sys::signal::Signal;

const USER: &str = "hauser";

/// Counts the server sessions of `role` in the fleet's cluster.
fn sessions_of(fleet: &Fleet, role: &str) -> String {
    fleet.sql(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}'"
    ))
}

#[test]
fn sixteen_logins_at_the_prompt_hold_no_server_session() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "");
    let codes = fleet.generate(USER, &["--count", "16"]);
    let mut children = Vec::new();
    let mut answers = Vec::new();
    for (i, _) in codes.iter().enumerate() {
        let fifo = fleet.lab.path().join(format!("answer{i}"));
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut cmd = fleet.lab.driver();
        cmd.args(["--service", "web1", "--user", USER, "--answer-at-prompt"])
            .arg(&fifo);
        children.push(fleet.lab.spawn(&mut cmd));
        answers.push(fifo);
    }
    // Opening a FIFO returns once its driver reads it: at the prompt.
    let answers: Vec<std::fs::File> = answers
        .iter()
        .map(|fifo| std::fs::OpenOptions::new().write(true).open(fifo).unwrap())
        .collect();
    // All sixteen sit at the prompt: the connections made before it are
    // closed and their backends gone, and none is open for after it.
    assert!(
        fleet.cluster.wait_for(
            &fleet.db,
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = '{}'",
                fleet.login
            ),
            "0",
            30
        ),
        "sessions of the login role at the prompt: {}",
        sessions_of(&fleet, &fleet.login)
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(sessions_of(&fleet, &fleet.login), "0");
    for (mut answer, code) in answers.into_iter().zip(&codes) {
        answer.write_all(code.as_bytes()).unwrap();
    }
    let (logins, log) = fleet.lab.finish_all(children, 120);
    for login in &logins {
        assert_eq!(login.result(), "PAM_SUCCESS", "{login:?} {log:?}");
    }
    assert_eq!(fleet.uses(USER).len(), 16);
}

#[test]
fn a_failover_to_the_synchronous_standby_keeps_every_spent_code_spent() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let codes = fleet.generate(USER, &[]);
    // No standby yet: check says what a failover could cost.
    let (code, _, stderr) = fleet.run_cli(&["check"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("no synchronous standby"), "{stderr}");

    let standby = Cluster::standby_of(&fleet.cluster);
    let streaming = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'";
    assert!(
        fleet.cluster.wait_for("postgres", streaming, "1", 60),
        "{}",
        standby.log()
    );
    fleet.sql("ALTER SYSTEM SET synchronous_standby_names = '*'");
    fleet.sql("SELECT pg_reload_conf()");
    let sync = "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'";
    assert!(
        fleet.cluster.wait_for("postgres", sync, "1", 60),
        "{}",
        standby.log()
    );
    let (code, _, stderr) = fleet.run_cli(&["check"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("synchronous"), "{stderr}");

    let (p1, p2) = (fleet.cluster.port, standby.port);
    let uri = |ports: [u16; 2]| {
        format!(
            "postgresql://{}@127.0.0.1:{},127.0.0.1:{}/{}?target_session_attrs=read-write",
            fleet.login, ports[0], ports[1], fleet.db
        )
    };
    fleet.host_with_store("ha", &uri([p1, p2]), "nodelay", "");
    // The standby first: read-only, skipped for the primary.
    fleet.host_with_store("ha-standby-first", &uri([p2, p1]), "nodelay", "");
    assert_eq!(fleet.lab.login("ha", USER, &[&codes[0]]).result(), "PAM_SUCCESS");
    assert_eq!(
        fleet.lab.login("ha-standby-first", USER, &[&codes[1]]).result(),
        "PAM_SUCCESS"
    );
    // Both uses reached the standby before the logins were told success.
    assert_eq!(
        standby.sql(
            &fleet.db,
            &format!(
                "SELECT count(*) FROM backup_codes.codes WHERE user_name = '{USER}' AND used_at IS NOT NULL"
            )
        ),
        "2"
    );

    // The primary dies at once; the standby is promoted.
    fleet.cluster.signal_all(Signal::SIGKILL);
    standby.promote();
    let next = fleet.lab.login("ha", USER, &[&codes[2]]);
    assert_eq!(next.result(), "PAM_SUCCESS", "{next:?}");
    for spent in &codes[..2] {
        let again = fleet.lab.login("ha", USER, &[spent]);
        assert_eq!(again.result(), "PAM_AUTH_ERR", "{again:?}");
        assert!(again.logged("used"), "{:?}", again.log);
    }
}

#[test]
fn logins_through_pgbouncer_in_transaction_pooling_mode() {
    let fleet = or_skip!(Fleet::new(), needs = &[NEEDS, &["pgbouncer"]].concat());
    let bouncer = Bouncer::start(&fleet.cluster, &fleet.db, &[&fleet.login], 2);
    let codes = fleet.generate(USER, &["--count", "25"]);
    let uri = format!(
        "postgresql://{}@127.0.0.1:{}/{}",
        fleet.login, bouncer.port, fleet.db
    );
    fleet.host_with_store("pooled", &uri, "nodelay", "");
    let first = fleet.lab.login("pooled", USER, &[&codes[0]]);
    assert_eq!(first.result(), "PAM_SUCCESS", "{first:?}\n{}", bouncer.log());
    // A storm: 23 logins at once, through at most 2 server connections.
    let children = codes[1..24]
        .iter()
        .map(|code| fleet.lab.spawn(&mut fleet.lab.login_cmd("pooled", USER, &[code])))
        .collect();
    let (logins, log) = fleet.lab.finish_all(children, 120);
    for login in &logins {
        assert_eq!(login.result(), "PAM_SUCCESS", "{login:?} {log:?}");
    }
    assert_eq!(fleet.uses(USER).len(), 24);
    let servers: u32 = sessions_of(&fleet, &fleet.login).parse().unwrap();
    assert!(servers <= 2, "{servers} server sessions behind a pool of 2");
    // The same PgBouncer over its Unix socket (a directory of the postgres
    // account, which runs it): trusted by SO_PEERCRED, and SCRAM still
    // insisted on, as a password file is configured.
    let socket = format!(
        "postgresql://{}@localhost:{}/{}?host={}",
        fleet.login,
        bouncer.port,
        fleet.db,
        bouncer.dir.path().display()
    );
    fleet.host_exact(
        "pooled-socket",
        &socket,
        "nodelay",
        &format!(
            "password_file = \"{}\"\nconnect_timeout = {}",
            fleet.password_file.display(),
            common::postgres::LOADED_TIMEOUT
        ),
    );
    let via_socket = fleet.lab.login("pooled-socket", USER, &[&codes[24]]);
    assert_eq!(via_socket.result(), "PAM_SUCCESS", "{via_socket:?}");
    let spent = fleet.lab.login("pooled-socket", USER, &[&codes[23]]);
    assert_eq!(spent.result(), "PAM_AUTH_ERR", "spent above: {spent:?}");
    assert!(spent.logged("used"), "{:?}", spent.log);
    assert_eq!(fleet.uses(USER).len(), 25);
    // A spent code stays spent through the pool.
    assert_eq!(
        fleet.lab.login("pooled", USER, &[&codes[0]]).result(),
        "PAM_AUTH_ERR"
    );
    // PgBouncer's own authentication: a wrong password is refused, and
    // PgBouncer must prove itself like any server (TLS verify-full).
    let wrong = fleet.lab.path().join("wrong-password");
    std::fs::write(&wrong, "not the password\n").unwrap();
    std::fs::set_permissions(&wrong, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    fleet.host_with_store(
        "wrongpw",
        &uri,
        "nodelay nullok",
        &format!("password_file = \"{}\"", wrong.display()),
    );
    let refused = fleet.lab.login("wrongpw", USER, &["AAAAA-AAAAA"]);
    assert_eq!(refused.result(), "PAM_AUTHINFO_UNAVAIL", "{refused:?}");
    let other_ca = common::postgres::TestCa::new();
    fleet.host_with_store(
        "otherca",
        &uri,
        "nodelay nullok",
        &format!("ca_file = \"{}\"", other_ca.cert.display()),
    );
    let refused = fleet.lab.login("otherca", USER, &["AAAAA-AAAAA"]);
    assert_eq!(refused.result(), "PAM_AUTHINFO_UNAVAIL", "{refused:?}");
}
