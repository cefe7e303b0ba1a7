//! Audit events end to end: each module outcome and each admin command is
//! read back as `event=NAME key=value` from the lab's private syslog socket,
//! and, with a private directory bound over /run (holding
//! systemd/journal/socket) in a private mount namespace, as a native journal
//! entry with its MESSAGE_ID.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Output};
use std::time::Duration;

use common::{Lab, or_skip};
use pam_backup_codes::audit::{Event, journal, parse_line};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const SVC: &str = "bc-events";

/// One event line as read from the socket: its syslog priority (`<PRI>`), the
/// event name and the fields.
#[derive(Debug)]
struct Line {
    pri: u32,
    name: String,
    fields: Vec<(String, String)>,
    raw: String,
}

impl Line {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The syslog severity (PRI minus authpriv's 10 << 3).
    fn severity(&self) -> u32 {
        assert_eq!(self.pri >> 3, 10, "authpriv: {}", self.raw);
        self.pri & 7
    }
}

fn events(log: &[String]) -> Vec<Line> {
    log.iter()
        .filter_map(|raw| {
            let pri = raw.strip_prefix('<')?.split_once('>')?.0.parse().ok()?;
            let (name, fields) = parse_line(raw)?;
            Some(Line {
                pri,
                name,
                fields,
                raw: raw.clone(),
            })
        })
        .collect()
}

/// The one event of `log`, which must be named `name`.
fn only(log: &[String], name: &str) -> Line {
    let mut all = events(log);
    assert_eq!(all.len(), 1, "one event expected: {log:#?}");
    let line = all.pop().unwrap();
    assert_eq!(line.name, name, "{}", line.raw);
    assert!(Event::named(name).is_some(), "{name} is in the table");
    line
}

#[test]
fn every_module_outcome_is_an_event_with_its_fields() {
    let lab = or_skip!(Lab::with_service(SVC, "nodelay deny=2"));
    lab.simple_service("bc-events-nullok", "nodelay nullok");
    let codes = lab.generate("alice", &[]);
    lab.add_users(["nocodes"]);

    // The sheet's fourth code: logged as number 4, as the sheet prints it.
    let ok = lab.login(SVC, "alice", &[&codes[3]]);
    assert_eq!(ok.result(), "PAM_SUCCESS");
    let line = only(&ok.log, "code-accepted");
    assert_eq!(line.severity(), 5, "notice by default");
    assert_eq!(line.get("user"), Some("alice"));
    assert_eq!(line.get("service"), Some(SVC));
    assert_eq!(line.get("rhost"), Some("192.0.2.7"));
    assert_eq!(line.get("code_number"), Some("4"), "{}", line.raw);
    assert_eq!(line.get("left"), Some("9"));
    assert!(line.get("host").is_some_and(|h| !h.is_empty()), "{}", line.raw);
    assert!(!line.raw.contains(&codes[3]) && !line.raw.contains(&codes[3].replace('-', "")));

    let reused = lab.login(SVC, "alice", &[&codes[3]]);
    let line = only(&reused.log, "code-reused");
    assert_eq!(line.severity(), 4);
    assert_eq!(line.get("code_number"), Some("4"), "the spent code: {}", line.raw);
    assert_eq!(line.get("used_service"), Some(SVC));
    assert_eq!(line.get("used_rhost"), Some("192.0.2.7"));
    assert!(
        line.get("used_at")
            .is_some_and(|t| OffsetDateTime::parse(t, &Rfc3339).is_ok())
    );

    // The second failure (deny=2) locks: said on the refusal, then locked.
    let wrong = lab.login(SVC, "alice", &["ZZZZZ-ZZZZZ"]);
    let line = only(&wrong.log, "code-refused");
    assert_eq!(
        (line.severity(), line.get("locked")),
        (4, Some("now")),
        "{}",
        line.raw
    );
    assert_eq!(
        line.get("code_number"),
        None,
        "a wrong code is no code of the sheet"
    );
    let locked = lab.login(SVC, "alice", &[&codes[1]]);
    assert_eq!(locked.result(), "PAM_MAXTRIES");
    let line = only(&locked.log, "code-locked");
    assert!(
        line.get("until")
            .is_some_and(|t| OffsetDateTime::parse(t, &Rfc3339).is_ok())
    );
    unlock(&lab, "alice");
    let wrong = lab.login(SVC, "alice", &["ZZZZZ-ZZZZZ"]);
    let line = only(&wrong.log, "code-refused");
    assert_eq!((line.severity(), line.get("locked")), (5, None), "{}", line.raw);

    // A code of the revoked sheet.
    unlock(&lab, "alice");
    assert!(
        lab.cli()
            .args(["revoke", "alice"])
            .output()
            .unwrap()
            .status
            .success()
    );
    let revoked = lab.login(SVC, "alice", &[&codes[2]]);
    let line = only(&revoked.log, "code-revoked");
    assert_eq!((line.severity(), line.get("matched")), (4, Some("yes")));
    assert_eq!(line.get("code_number"), Some("3"), "{}", line.raw);

    let none = lab.login(SVC, "nocodes", &["ZZZZZ-ZZZZZ"]);
    assert_eq!(only(&none.log, "no-codes").get("user"), Some("nocodes"));
    let ignored = lab.login("bc-events-nullok", "nocodes", &[]);
    // The module ignored it (a stack of it alone then denies).
    assert!(ignored.prompts().is_empty(), "{ignored:?}");
    assert_eq!(only(&ignored.log, "no-codes-ignored").severity(), 6);
    let unknown = lab.login(SVC, "nosuchuser", &["ZZZZZ-ZZZZZ"]);
    assert_eq!(only(&unknown.log, "unknown-user").get("user"), Some("nosuchuser"));

    // A hostile name: quoted, no field or line forged.
    let hostile = "-x rhost=evil";
    let invalid = lab.login(SVC, hostile, &[]);
    assert_eq!(invalid.result(), "PAM_USER_UNKNOWN");
    let line = only(&invalid.log, "invalid-user");
    assert_eq!(line.get("rhost"), Some("192.0.2.7"), "{}", line.raw);
    assert_eq!(line.severity(), 3);

    let conv = lab.run(lab.login_cmd(SVC, "nocodes", &[]).arg("--conv-fail"));
    assert_eq!(conv.result(), "PAM_CONV_ERR");
    only(&conv.log, "conversation-error");
}

#[test]
fn expiry_store_database_config_and_token_problems_are_events() {
    let lab = or_skip!(Lab::with_service(SVC, "nodelay max_age=1"));
    let codes = lab.generate("bob", &[]);
    let created = OffsetDateTime::now_utc() - time::Duration::days(2);
    lab.edit_user_file("bob", |t| {
        t.insert(
            "created".to_owned(),
            toml::Value::String(created.format(&Rfc3339).unwrap()),
        );
    });
    let expired = lab.login(SVC, "bob", &[&codes[5]]);
    assert_eq!(expired.result(), "PAM_AUTH_ERR");
    let line = only(&expired.log, "code-expired");
    assert!(line.get("expired").is_some());
    assert_eq!(line.get("code_number"), Some("6"), "{}", line.raw);

    lab.chmod(&lab.user_file("bob"), 0o644);
    let insecure = lab.login(SVC, "bob", &[&codes[1]]);
    assert_eq!(insecure.result(), "PAM_AUTHINFO_UNAVAIL");
    let line = only(&insecure.log, "store-error");
    assert!(
        line.get("reason").is_some_and(|r| r.contains("bob.toml")),
        "{}",
        line.raw
    );
    lab.chmod(&lab.user_file("bob"), 0o600);

    for (service, options, want) in [
        (
            "bc-events-db",
            "store=postgresql://pam@127.0.0.1:1/codes".to_owned(),
            "database-error",
        ),
        ("bc-events-bad", "store=STORE nulok".to_owned(), "config-error"),
        (
            "bc-events-token",
            "store=STORE use_first_pass".to_owned(),
            "no-token",
        ),
        (
            "bc-events-gone",
            format!("store={}/missing", lab.path().display()),
            "store-missing",
        ),
    ] {
        lab.service(service, &format!("auth required MODULE nodelay {options}\n"));
        let login = lab.login(service, "bob", &["ZZZZZ-ZZZZZ"]);
        let line = events(&login.log)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{service}: no event: {login:?}"));
        assert_eq!(line.name, want, "{}", line.raw);
        assert_eq!(line.get("service"), Some(service), "{}", line.raw);
    }
}

#[test]
fn added_codes_continue_the_sheets_numbering_in_the_log() {
    let lab = or_skip!(Lab::with_service(SVC, "nodelay"));
    lab.generate("carol", &["--count", "3"]);
    let added = lab.cli_json(&[
        "add",
        "carol",
        "--count",
        "2",
        "--expires",
        "1h",
        "--format",
        "json",
    ]);
    assert_eq!(added["first_number"], 4, "{added}");
    let codes = common::codes(&added);
    let text = lab
        .cli()
        .args(["add", "carol", "--count", "1", "--expires", "1h"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("[ ]   6.  ")),
        "the third added code is the set's sixth: {text}"
    );
    let ok = lab.login(SVC, "carol", &[&codes[1]]);
    assert_eq!(ok.result(), "PAM_SUCCESS");
    let line = only(&ok.log, "code-accepted");
    assert_eq!(line.get("code_number"), Some("5"), "{}", line.raw);
}

#[test]
fn log_success_raises_a_successful_login() {
    let lab = or_skip!(Lab::with_service(SVC, "log_success=warning"));
    let codes = lab.generate("carol", &[]);
    let ok = lab.login(SVC, "carol", &[&codes[0]]);
    assert_eq!(ok.result(), "PAM_SUCCESS");
    assert_eq!(only(&ok.log, "code-accepted").severity(), 4);
    lab.simple_service("bc-events-crit", "log_success=crit");
    let ok = lab.login("bc-events-crit", "carol", &[&codes[1]]);
    assert_eq!(only(&ok.log, "code-accepted").severity(), 2);
}

fn unlock(lab: &Lab, user: &str) {
    let out = lab.cli().args(["unlock", user]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A private /run for one process: `DIR/systemd/journal/socket`, read by the
/// test, and the marker that tells pam-driver to leave it visible.
struct Journal {
    run: tempfile::TempDir,
    socket: UnixDatagram,
}

impl Journal {
    fn new() -> Self {
        let run = tempfile::tempdir().unwrap();
        let dir = run.path().join("systemd/journal");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pbc-test"), "").unwrap();
        let socket = UnixDatagram::bind(dir.join("socket")).unwrap();
        socket.set_nonblocking(true).unwrap();
        Self { run, socket }
    }

    /// Entries received so far, as their fields.
    fn entries(&self) -> Vec<Vec<(String, Vec<u8>)>> {
        let mut buf = vec![0u8; 65536];
        let mut out = Vec::new();
        while let Ok(n) = self.socket.recv(&mut buf) {
            out.push(journal::parse(&buf[..n]).expect("a well-formed datagram"));
        }
        out
    }
}

/// Runs `cmd` with `dev` (holding the lab's `log` socket) over /dev and,
/// if given, the journal's directory over /run, in a private mount
/// namespace, reading the log socket while it runs.
fn run_isolated(lab: &Lab, cmd: &mut Command, journal: Option<&Journal>) -> (Output, Vec<String>) {
    let dev = lab.path().join("dev");
    let mut binds = Vec::new();
    if let Some(journal) = journal {
        binds.push((journal.run.path(), "/run"));
    }
    binds.push((dev.as_path(), "/dev"));
    common::lab::bind_privately(cmd, &binds);
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = Vec::new();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        log.extend(lab.drain_log());
        assert!(start.elapsed() < Duration::from_secs(120), "hung");
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    log.extend(lab.drain_log());
    (out, log)
}

/// Runs the CLI with `args` isolated; it must succeed; returns its events.
fn admin(lab: &Lab, args: &[&str], journal: Option<&Journal>) -> Vec<Line> {
    let (out, log) = run_isolated(lab, lab.cli().args(args), journal);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    events(&log)
}

#[test]
fn every_admin_command_that_changes_something_is_an_event_naming_who_ran_it() {
    let lab = or_skip!(Lab::with_service(SVC, "nodelay"));
    lab.add_users(["dora", "eve"]);
    let check = |lines: &[Line], want: &[(&str, &str)]| {
        let names: Vec<(&str, &str)> = lines
            .iter()
            .map(|l| (l.name.as_str(), l.get("user").unwrap_or("")))
            .collect();
        assert_eq!(names, want, "{lines:#?}");
        for line in lines {
            assert_eq!(line.get("by_uid"), Some("0"), "{}", line.raw);
            assert_eq!(line.get("by"), Some("root"), "{}", line.raw);
            assert!(line.raw.contains(" backup-codes["), "{}", line.raw);
        }
    };

    let generated = admin(&lab, &["generate", "dora", "eve"], None);
    check(&generated, &[("set-generated", "dora"), ("set-generated", "eve")]);
    assert_eq!(generated[0].get("replaced"), Some("no"));
    assert_eq!(generated[0].get("count"), Some("10"));
    assert_eq!(generated[0].severity(), 5);

    let mut sudo = lab.cli();
    sudo.env("SUDO_USER", "carol")
        .args(["generate", "--replace", "dora"]);
    let (out, log) = run_isolated(&lab, &mut sudo, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let replaced = events(&log);
    check(&replaced, &[("set-generated", "dora")]);
    assert_eq!(replaced[0].get("replaced"), Some("yes"));
    assert_eq!(replaced[0].get("sudo_user"), Some("carol"));

    // generate --if-missing for a user with a set changes nothing: no event.
    check(&admin(&lab, &["generate", "--if-missing", "dora"], None), &[]);

    let added = admin(&lab, &["add", "dora", "--count", "2", "--expires", "1h"], None);
    check(&added, &[("codes-added", "dora")]);
    assert_eq!(added[0].get("count"), Some("2"));
    assert!(
        added[0]
            .get("expires")
            .is_some_and(|t| OffsetDateTime::parse(t, &Rfc3339).is_ok())
    );

    check(
        &admin(&lab, &["unlock", "dora"], None),
        &[("lock-cleared", "dora")],
    );
    let revoked = admin(&lab, &["revoke", "dora"], None);
    check(&revoked, &[("set-revoked", "dora")]);
    assert!(revoked[0].get("created").is_some());
    // Already revoked: nothing changed, nothing logged.
    check(&admin(&lab, &["revoke", "dora"], None), &[]);
    // Every set made before now: eve's (dora's is revoked already).
    let now = OffsetDateTime::now_utc().format(&Rfc3339).unwrap();
    let swept = admin(&lab, &["revoke", "--created-before", &now], None);
    check(&swept, &[("set-revoked", "eve")]);
    let unenrolled = admin(&lab, &["revoke", "--unenroll", "dora"], None);
    check(&unenrolled, &[("user-unenrolled", "dora")]);
    assert_eq!(unenrolled[0].severity(), 4);
}

#[test]
fn with_journald_each_event_is_also_a_journal_entry_with_its_message_id() {
    let lab = or_skip!(Lab::with_service(SVC, "nodelay"));
    lab.add_users(["frank"]);
    let journal = Journal::new();

    let generated = admin(&lab, &["generate", "--format", "json", "frank"], Some(&journal));
    assert_eq!(generated.len(), 1);
    let entries = journal.entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let get = |entry: &[(String, Vec<u8>)], key: &str| {
        entry
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
    };
    let entry = &entries[0];
    assert_eq!(
        get(entry, "MESSAGE_ID").as_deref(),
        Some(Event::SetGenerated.info().message_id)
    );
    assert_eq!(
        get(entry, "PAM_BACKUP_CODES_EVENT").as_deref(),
        Some("set-generated")
    );
    assert_eq!(get(entry, "USER").as_deref(), Some("frank"));
    assert_eq!(get(entry, "PRIORITY").as_deref(), Some("5"));
    assert_eq!(get(entry, "SYSLOG_IDENTIFIER").as_deref(), Some("backup-codes"));
    assert_eq!(get(entry, "BY_UID").as_deref(), Some("0"));
    assert!(get(entry, "MESSAGE").is_some_and(|m| m.starts_with("event=set-generated user=frank")));

    // The module, through the driver, in the same private /run.
    let codes = lab.generate("frank", &[]);
    let mut login = lab.login_cmd(SVC, "frank", &[&codes[0]]);
    let (out, log) = run_isolated(&lab, &mut login, Some(&journal));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("result: PAM_SUCCESS"),
        "{out:?}"
    );
    only(&log, "code-accepted");
    let entries = journal.entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(
        get(entry, "MESSAGE_ID").as_deref(),
        Some(Event::CodeAccepted.info().message_id)
    );
    assert_eq!(get(entry, "SERVICE").as_deref(), Some(SVC));
    assert_eq!(get(entry, "RHOST").as_deref(), Some("192.0.2.7"));
    assert_eq!(get(entry, "CODE_NUMBER").as_deref(), Some("1"));
    assert_eq!(get(entry, "LEFT").as_deref(), Some("9"));
    assert_eq!(get(entry, "SYSLOG_FACILITY").as_deref(), Some("10"));

    // A journal whose queue is full changes nothing: the logins go on.
    for code in &codes[1..4] {
        let mut login = lab.login_cmd(SVC, "frank", &[code]);
        let (out, _) = run_isolated(&lab, &mut login, Some(&journal));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("result: PAM_SUCCESS"),
            "{out:?}"
        );
    }
}

#[test]
fn fleet_commands_are_events_too() {
    use common::postgres::{Fleet, NEEDS};
    let fleet = or_skip!(Fleet::without_schema(), needs = NEEDS);
    let lab = &fleet.lab;
    let run = |args: &[&str]| {
        let (out, log) = run_isolated(lab, fleet.cli().args(args), None);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = events(&log);
        for line in &lines {
            assert_eq!(line.get("by_uid"), Some("0"), "{}", line.raw);
        }
        lines
    };

    let init = run(&["db", "init", "--login-role", &fleet.login]);
    assert_eq!(init.len(), 1, "{init:#?}");
    assert_eq!(init[0].name, "schema-initialised");
    assert_eq!(init[0].get("role"), Some(fleet.login.as_str()));
    assert!(init[0].get("version").is_some_and(|v| v.parse::<u32>().is_ok()));

    let policy = run(&["db", "policy", "--deny", "3", "--unlock-time", "60"]);
    assert_eq!(policy.len(), 1, "{policy:#?}");
    assert_eq!(policy[0].name, "policy-changed");
    assert_eq!(
        (
            policy[0].get("deny"),
            policy[0].get("unlock_time"),
            policy[0].get("max_age")
        ),
        (Some("3"), Some("60"), None)
    );
    assert_eq!(policy[0].severity(), 4);
    // Showing the policy changes nothing: no event.
    assert!(run(&["db", "policy"]).is_empty());

    lab.generate("gail", &[]);
    let store = lab.store.to_str().unwrap();
    let migrated = run(&["migrate", "--from", store]);
    assert_eq!(migrated.len(), 1, "{migrated:#?}");
    assert_eq!(migrated[0].name, "set-migrated");
    assert_eq!(
        (
            migrated[0].get("user"),
            migrated[0].get("from"),
            migrated[0].get("replaced")
        ),
        (Some("gail"), Some(store), Some("no"))
    );
    // Already there, not replaced: skipped, no event.
    assert!(run(&["migrate", "--from", store]).is_empty());

    // A login on the fleet store names the code by its number on the sheet
    // (the database's seq + 1), as the file store does.
    let codes = lab.generate("hank", &[]);
    run(&["migrate", "--from", store]);
    fleet.host("bc-events-fleet", "nodelay", "");
    let ok = lab.login("bc-events-fleet", "hank", &[&codes[6]]);
    assert_eq!(ok.result(), "PAM_SUCCESS", "{ok:?}");
    let line = only(&ok.log, "code-accepted");
    assert_eq!(
        (line.get("code_number"), line.get("left")),
        (Some("7"), Some("9")),
        "{}",
        line.raw
    );
    let reused = lab.login("bc-events-fleet", "hank", &[&codes[6]]);
    let line = only(&reused.log, "code-reused");
    assert_eq!(line.get("code_number"), Some("7"), "{}", line.raw);
}
