//! `backup-codes renew` on a fleet host: the login role's procedure
//! `backup_codes.renew` replaces a set only together with spending one of its
//! current codes. Through the real CLI as a host (the login role's URI in
//! /etc/security/pam_backup_codes.conf, bound privately, and `SUDO_UID` as
//! sudo sets it: sudo itself is tests/renew.rs's), then as a hostile client
//! holding the login role's password, sending the procedure's CALL itself
//! (tokio-postgres: the extended protocol, as the CLI sends it).
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};

use common::cli::CliRun;
use common::or_skip;
use common::postgres::{Fleet, LoginRole, NEEDS};
use common::system::TestUser;
use pam_backup_codes::code::CodeFormat;
use pam_backup_codes::codeset::CodeSet;
use pam_backup_codes::kdf::KdfParams;
use pam_backup_codes::store::Store;
use pam_backup_codes::store::location::Location;
use time::OffsetDateTime;
use tokio_postgres::types::{ToSql, Type};

const USER: &str = "fleetrenewer";
const OTHER: &str = "fleetbystander";
/// What renew sends (src/store/postgres/schema.rs).
const RENEW_CALL: &str = "CALL backup_codes.renew($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
     $12, $13, $14, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL)";

/// Runs `backup-codes renew` as host `host` of the fleet would for `user`
/// (root, `SUDO_UID` the user's: a system account, which the user database
/// finds by uid), typing `code` if it asks.
fn renew_on(fleet: &Fleet, host: &str, user: &TestUser, code: &str) -> CliRun {
    let etc = fleet.lab.path().join(format!("etc-security-{host}"));
    fs::create_dir_all(&etc).unwrap();
    let config = fleet.host_config(host, &fleet.login_uri(), "");
    fs::copy(&config, etc.join("pam_backup_codes.conf")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-codes"));
    cmd.arg("renew")
        .env("SUDO_UID", user.ids().0.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    fleet.lab.with_lab_accounts(&mut cmd);
    common::bind_privately(&mut cmd, &[(&etc, "/etc/security")]);
    let mut child = cmd.spawn().unwrap();
    // Refused before the prompt, renew reads nothing: a broken pipe then.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{code}\n").as_bytes());
    CliRun::from(child.wait_with_output().unwrap())
}

/// A set as the database holds it: its salt and every hash, in order.
fn fingerprint(fleet: &Fleet, user: &str) -> String {
    fleet.sql(&format!(
        "SELECT encode(s.salt, 'hex') || ':' || string_agg(encode(c.hash, 'hex'), ',' ORDER BY c.seq) \
         FROM backup_codes.sets s JOIN backup_codes.codes c USING (user_name) \
         WHERE user_name = '{user}' GROUP BY s.salt"
    ))
}

/// The owner's view of a user's set.
fn read_set(fleet: &Fleet, user: &str) -> CodeSet {
    let owner: Location = fleet.cluster.tcp_uri(&fleet.owner, &fleet.db).parse().unwrap();
    let store = Store::open(&owner, &fleet.pg_settings(None)).unwrap();
    store.read(&user.parse().unwrap()).unwrap().unwrap()
}

/// A fresh set (the cheapest parameters a set may have) and its codes.
fn new_set() -> (CodeSet, Vec<String>) {
    let params = KdfParams {
        m_cost: *KdfParams::M_COST.start(),
        t_cost: 1,
        p_cost: 1,
    };
    let (set, codes) = CodeSet::generate(CodeFormat::DEFAULT, 3, params, OffsetDateTime::now_utc()).unwrap();
    (set, codes.iter().map(|c| c.display().to_string()).collect())
}

/// What the CLI sends for a new set, which a hostile client may change.
#[derive(Clone)]
struct Sent {
    alphabet: String,
    length: i32,
    m_cost: i32,
    t_cost: i32,
    p_cost: i32,
    salt: Vec<u8>,
    check_symbol: bool,
    hashes: Vec<Option<Vec<u8>>>,
}

impl Sent {
    fn of(set: &CodeSet) -> Self {
        Self {
            alphabet: set.alphabet.to_string(),
            length: i32::try_from(set.length).unwrap(),
            m_cost: i32::try_from(set.kdf.params.m_cost).unwrap(),
            t_cost: i32::try_from(set.kdf.params.t_cost).unwrap(),
            p_cost: i32::try_from(set.kdf.params.p_cost).unwrap(),
            salt: set.kdf.salt.to_vec(),
            check_symbol: set.check_symbol,
            hashes: set.codes.iter().map(|c| Some(c.hash.to_vec())).collect(),
        }
    }
}

/// A change a hostile client makes to the set it sends.
type Craft = Box<dyn Fn(&mut Sent)>;

/// What a hostile host sends as the login role.
impl LoginRole {
    /// The CLI's CALL with these arguments: the verdict.
    fn renew(&self, user: &str, salt: &[u8], digest: &[u8], new: &Sent) -> Result<String, String> {
        let (service, host) = ("backup-codes-renew", "evil");
        let rhost: Option<&str> = None;
        let params: [(&(dyn ToSql + Sync), Type); 14] = [
            (&user, Type::TEXT),
            (&salt, Type::BYTEA),
            (&digest, Type::BYTEA),
            (&service, Type::TEXT),
            (&rhost, Type::TEXT),
            (&host, Type::TEXT),
            (&new.alphabet, Type::TEXT),
            (&new.length, Type::INT4),
            (&new.m_cost, Type::INT4),
            (&new.t_cost, Type::INT4),
            (&new.p_cost, Type::INT4),
            (&new.salt, Type::BYTEA),
            (&new.check_symbol, Type::BOOL),
            (&new.hashes, Type::BYTEA_ARRAY),
        ];
        self.verdict(RENEW_CALL, &params)
    }
}

#[test]
fn a_fleet_host_renews_with_a_current_code_and_only_with_one() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "");
    let renewer = TestUser::new();
    let user = renewer.name.as_str();
    let old = fleet.generate(user, &[]);
    let other = fleet.generate(OTHER, &[]);
    let (before, others) = (fingerprint(&fleet, user), fingerprint(&fleet, OTHER));

    // A wrong code (a right one of another user's): refused, counted on
    // this user's set by the database, which is otherwise unchanged.
    let wrong = renew_on(&fleet, "web1", &renewer, &other[0]);
    assert_eq!(wrong.status, Some(1), "{wrong:?}");
    assert!(
        wrong.stderr.contains("(one from your current sheet)"),
        "{wrong:?}"
    );
    assert!(
        wrong.stderr.contains("that is not one of your current codes"),
        "{wrong:?}"
    );
    assert!(wrong.sheet_codes().is_empty(), "{wrong:?}");
    let status = fleet.status(user);
    assert_eq!(status["local"]["failures"], 1, "{status}");
    assert_eq!(status["last_failure"]["host"], "web1", "{status}");
    assert_eq!(
        status["last_failure"]["service"], "backup-codes-renew",
        "{status}"
    );
    assert_eq!(fingerprint(&fleet, user), before);
    // A typo is told before anything is sent, and counts nothing.
    let mut typo = old[1].clone();
    let last = typo.pop().unwrap();
    typo.push(if last == '0' { '1' } else { '0' });
    let typoed = renew_on(&fleet, "web1", &renewer, &typo);
    assert_eq!(typoed.status, Some(1), "{typoed:?}");
    assert!(typoed.stderr.contains("typo"), "{typoed:?}");
    assert_eq!(fleet.status(user)["local"]["failures"], 1);

    // A right code: spent, and the new set is the user's, the tally reset.
    let renewed = renew_on(&fleet, "web1", &renewer, &old[9]);
    assert_eq!(renewed.status, Some(0), "{renewed:?}");
    let new = renewed.sheet_codes();
    assert_eq!(new.len(), 10, "{renewed:?}");
    assert!(
        renewed.stdout.contains(&format!("Backup codes for {user}")),
        "{renewed:?}"
    );
    assert_ne!(fingerprint(&fleet, user), before);
    let status = fleet.status(user);
    assert_eq!(status["local"]["failures"], 0, "{status}");
    let created = fleet.sql(&format!(
        "SELECT abs(extract(epoch FROM created - now())) < 60 FROM backup_codes.sets \
         WHERE user_name = '{user}'"
    ));
    assert_eq!(created, "t", "created at the database's clock");
    // The server's log keeps the renewal, with the client's address.
    let logged = format!(
        "the set of '{user}' was renewed through backup_codes.renew by role {} from 127.0.0.1, host 'web1'",
        fleet.login
    );
    assert!(fleet.cluster.log().contains(&logged), "{logged}");
    // The spent code, and every other old one, no longer work anywhere;
    // the new ones do, once.
    for code in [&old[9], &old[0]] {
        assert_eq!(fleet.lab.login("web1", user, &[code]).result(), "PAM_AUTH_ERR");
    }
    assert_eq!(fleet.lab.login("web1", user, &[&new[4]]).result(), "PAM_SUCCESS");
    assert_eq!(fleet.lab.login("web1", user, &[&new[4]]).result(), "PAM_AUTH_ERR");
    // The spent code renews nothing either, and the bystander was never touched.
    let again = renew_on(&fleet, "web1", &renewer, &old[9]);
    assert_eq!(again.status, Some(1), "{again:?}");
    assert_eq!(fingerprint(&fleet, OTHER), others);
    assert_eq!(
        fleet.lab.login("web1", OTHER, &[&other[1]]).result(),
        "PAM_SUCCESS"
    );

    // Locked (in the remote scope, by logins elsewhere): refused before
    // the prompt, nothing judged.
    fleet.cli_ok(&["db", "policy", "--deny", "2"]);
    // (Codes of another sheet: wrong, with a right check symbol.)
    for code in [&other[2], &other[3]] {
        assert_ne!(fleet.lab.login("web1", user, &[code]).result(), "PAM_SUCCESS");
    }
    assert_eq!(fleet.status(user)["remote"]["locked"], true);
    let locked = renew_on(&fleet, "web1", &renewer, &new[0]);
    assert_eq!(locked.status, Some(1), "{locked:?}");
    assert!(locked.stderr.contains("locked"), "{locked:?}");
    assert!(
        !locked.stderr.contains("current sheet"),
        "not prompted: {locked:?}"
    );
    // Revoked: refused, and the revoked set stays as it is.
    fleet.cli_ok(&["unlock", user]);
    fleet.cli_ok(&["revoke", user]);
    let revoked_before = fingerprint(&fleet, user);
    let revoked = renew_on(&fleet, "web1", &renewer, &new[0]);
    assert_eq!(revoked.status, Some(1), "{revoked:?}");
    assert!(revoked.stderr.contains("revoked"), "{revoked:?}");
    assert_eq!(fingerprint(&fleet, user), revoked_before);
    // No set at all: nothing is created.
    let unenrolled = TestUser::new();
    let none = renew_on(&fleet, "web1", &unenrolled, &new[0]);
    assert_eq!(none.status, Some(1), "{none:?}");
    assert!(none.stderr.contains("no backup codes to renew"), "{none:?}");
    assert_eq!(
        fleet.sql(&format!(
            "SELECT count(*) FROM backup_codes.sets WHERE user_name = '{}'",
            unenrolled.name
        )),
        "0"
    );
}

#[test]
fn the_login_role_renews_only_a_set_whose_right_code_it_spends() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "");
    let mine = fleet.generate(USER, &[]);
    let victims = fleet.generate(OTHER, &[]);
    let (my_set, victim_set) = (read_set(&fleet, USER), read_set(&fleet, OTHER));
    let my_salt = my_set.kdf.salt.to_vec();
    let victim_salt = victim_set.kdf.salt.to_vec();
    let digest = |set: &CodeSet, code: &str| set.digest(code.as_bytes()).unwrap().unwrap().to_vec();
    let victim_before = fingerprint(&fleet, OTHER);
    let role = LoginRole::connect(&fleet);
    let (new, new_codes) = new_set();
    let good = Sent::of(&new);

    // Another user's set with my own code: hashed with my salt, it is a
    // hash of another set (rehash, nothing counted); with the victim's salt,
    // a wrong code (counted). Never replaced.
    assert_eq!(
        role.renew(OTHER, &my_salt, &digest(&my_set, &mine[0]), &good)
            .unwrap(),
        "rehash"
    );
    assert_eq!(
        role.renew(OTHER, &victim_salt, &digest(&victim_set, &mine[0]), &good)
            .unwrap(),
        "wrong"
    );
    assert_eq!(fingerprint(&fleet, OTHER), victim_before);
    assert_eq!(fleet.status(OTHER)["local"]["failures"], 1);
    // The routine that does the work, called directly or from SQL of the
    // caller's own: refused.
    for sql in [
        format!(
            "SELECT * FROM backup_codes.renew_attempt('{OTHER}', '\\x00'::bytea, NULL, 's', NULL, 'h', \
             'crockford', 10, 8192, 1, 1, '\\x00'::bytea, true, ARRAY['\\x00'::bytea])"
        ),
        format!(
            "CALL backup_codes.renew('{OTHER}', '\\x00'::bytea, NULL, 's', NULL, 'h', 'crockford', 10, \
             8192, 1, 1, '\\x00'::bytea, true, ARRAY['\\x00'::bytea], NULL, NULL, NULL, NULL, NULL, \
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
        ),
    ] {
        let err = fleet.sql_as_login(&sql).unwrap_err();
        assert!(err.contains("runs only within CALL"), "{sql}: {err}");
    }

    // Crafted new sets, with a right code of my own: each refused before
    // anything is judged (the code is not spent, nothing counted).
    let right = digest(&my_set, &mine[0]);
    let mine_before = fingerprint(&fleet, USER);
    let crafted: Vec<(&str, Craft)> = vec![
        ("hash length", Box::new(|s| s.hashes[0] = Some(vec![7; 31]))),
        ("hash length", Box::new(|s| s.hashes[1] = None)),
        ("number of codes", Box::new(|s| s.hashes.clear())),
        (
            "number of codes",
            Box::new(|s| s.hashes = vec![Some(vec![1; 32]); 101]),
        ),
        (
            "duplicate hashes",
            Box::new(|s| s.hashes[1] = s.hashes[0].clone()),
        ),
        ("m_cost", Box::new(|s| s.m_cost = 8)),
        ("t_cost", Box::new(|s| s.t_cost = 0)),
        ("p_cost", Box::new(|s| s.p_cost = 1000)),
        ("salt", Box::new(|s| s.salt = vec![1; 8])),
        ("code length", Box::new(|s| s.length = 4)),
        ("alphabet", Box::new(|s| s.alphabet = "emoji".into())),
        (
            "check symbol",
            Box::new(|s| {
                s.alphabet = "digits".into();
                s.check_symbol = true;
            }),
        ),
    ];
    for (reason, craft) in &crafted {
        let mut bad = good.clone();
        craft(&mut bad);
        let err = role.renew(USER, &my_salt, &right, &bad).unwrap_err();
        assert!(
            err.contains(&format!("the new set is refused ({reason})")),
            "{reason}: {err}"
        );
    }
    // The current salt again, as if the set were kept: refused too.
    let mut same = good.clone();
    same.salt.clone_from(&my_salt);
    let err = role.renew(USER, &my_salt, &right, &same).unwrap_err();
    assert!(err.contains("salt reused"), "{err}");
    assert_eq!(fingerprint(&fleet, USER), mine_before);
    assert_eq!(fleet.status(USER)["local"]["failures"], 0);

    // Inside the caller's transaction the procedure's COMMIT raises: the
    // whole CALL is undone, answer and all, and the row lock goes with it;
    // ROLLBACK cannot keep a spend's answer while undoing it.
    role.batch("BEGIN").unwrap();
    let err = role.renew(USER, &my_salt, &right, &good).unwrap_err();
    assert!(err.contains("invalid transaction termination"), "{err}");
    role.batch("ROLLBACK").unwrap();
    assert_eq!(fingerprint(&fleet, USER), mine_before);
    // At the top level it commits by itself: spent and replaced, and no
    // ROLLBACK after it undoes that.
    assert_eq!(role.renew(USER, &my_salt, &right, &good).unwrap(), "renewed");
    let _ = role.batch("ROLLBACK");
    let renewed = read_set(&fleet, USER);
    assert_eq!(renewed.kdf, new.kdf);
    assert_eq!(renewed.codes, new.codes);
    assert_eq!(renewed.check_symbol, new.check_symbol);
    // The spent code is gone with its set: the same CALL is told to hash
    // again, and then the code is wrong.
    let (newer, _) = new_set();
    assert_eq!(
        role.renew(USER, &my_salt, &right, &Sent::of(&newer)).unwrap(),
        "rehash"
    );
    assert_eq!(
        role.renew(USER, &new.kdf.salt, &digest(&new, &mine[0]), &Sent::of(&newer))
            .unwrap(),
        "wrong"
    );
    assert_eq!(read_set(&fleet, USER).kdf, new.kdf);
    // The new codes log in on any host.
    assert_eq!(
        fleet.lab.login("web1", USER, &[&new_codes[0]]).result(),
        "PAM_SUCCESS"
    );

    // A revoked set, or a locked one, is never judged nor replaced.
    fleet.cli_ok(&["revoke", OTHER]);
    let right_victim = digest(&victim_set, &victims[0]);
    let (other_new, _) = new_set();
    assert_eq!(
        role.renew(OTHER, &victim_salt, &right_victim, &Sent::of(&other_new))
            .unwrap(),
        "revoked"
    );
    fleet.cli_ok(&["db", "policy", "--deny", "1"]);
    assert_eq!(
        role.renew(
            USER,
            &new.kdf.salt,
            &digest(&new, &mine[1]),
            &Sent::of(&other_new)
        )
        .unwrap(),
        "wrong"
    );
    assert_eq!(
        role.renew(
            USER,
            &new.kdf.salt,
            &digest(&new, &new_codes[1]),
            &Sent::of(&other_new)
        )
        .unwrap(),
        "locked"
    );
    assert_eq!(read_set(&fleet, USER).kdf, new.kdf);
    fleet.cli_ok(&["unlock", USER]);
    assert_eq!(
        fleet.lab.login("web1", USER, &[&new_codes[1]]).result(),
        "PAM_SUCCESS"
    );
    // No set: none is made.
    assert_eq!(
        role.renew("fleetnobody", &my_salt, &right, &good).unwrap(),
        "absent"
    );
    assert_eq!(
        fleet.sql("SELECT count(*) FROM backup_codes.sets WHERE user_name = 'fleetnobody'"),
        "0"
    );
}

#[test]
fn db_init_upgrades_a_version_3_database_and_check_sees_the_renew_grant() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "");
    let renewer = TestUser::new();
    let codes = fleet.generate(&renewer.name, &[]);
    // Version 3 as this build's database without what version 4 adds.
    let owner = |sql: &str| fleet.cluster.try_sql(&fleet.owner, &fleet.db, sql).unwrap();
    owner(
        "DROP PROCEDURE backup_codes.renew; DROP FUNCTION backup_codes.renew_attempt; \
         COMMENT ON SCHEMA backup_codes IS 'pam-backup-codes schema 3'",
    );
    let (code, stdout, _) = fleet.run_cli(&["check"]);
    assert_eq!(code, 1, "{stdout}");
    // A host's renew says what is missing, and changes nothing.
    let before = fingerprint(&fleet, &renewer.name);
    let early = renew_on(&fleet, "web1", &renewer, &codes[2]);
    assert_eq!(early.status, Some(1), "{early:?}");
    assert!(early.stderr.contains("backup-codes db init"), "{early:?}");
    assert_eq!(fingerprint(&fleet, &renewer.name), before);
    let (code, stdout, stderr) = fleet.run_cli(&["db", "init", "--login-role", &fleet.login]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("schema upgraded from version 3 to 4"), "{stdout}");
    let (code, stdout, stderr) = fleet.run_cli(&["check"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // A login role without the new grant: check names what it lacks.
    owner(&format!(
        "REVOKE EXECUTE ON PROCEDURE backup_codes.renew(text, bytea, bytea, text, text, text, text, \
         integer, integer, integer, integer, bytea, boolean, bytea[]) FROM {}",
        fleet.login
    ));
    let (code, stdout, stderr) = fleet.run_cli(&["check"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains(&format!(
            "login role {} cannot execute backup_codes.renew(",
            fleet.login
        )),
        "{all}"
    );
    fleet.cli_ok(&["db", "init", "--login-role", &fleet.login]);
    // Upgraded: logins as before, and renew on a host.
    assert_eq!(
        fleet.lab.login("web1", &renewer.name, &[&codes[0]]).result(),
        "PAM_SUCCESS"
    );
    let renewed = renew_on(&fleet, "web1", &renewer, &codes[1]);
    assert_eq!(renewed.status, Some(0), "{renewed:?}");
    assert_eq!(renewed.sheet_codes().len(), 10, "{renewed:?}");
}
