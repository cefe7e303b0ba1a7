//! Black-box tests of the `backup-codes` command: exit codes, output shapes,
//! and errors that lose nothing.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::{Lab, RunCli, or_skip};

/// A lab whose accounts include the names these tests generate sets for
/// with the CLI directly (it refuses names NSS does not know).
fn lab() -> Lab {
    let lab = Lab::new();
    lab.add_users([
        "alice", "bob", "dave", "erin", "frank", "mia", "nina", "oscar", "peggy",
    ]);
    lab
}

#[test]
fn generate_prints_a_sheet_and_stores_only_hashes() {
    let lab = or_skip!(lab());
    let out = lab.cli().args(["generate", "alice"]).run_cli();
    assert!(out.success(), "{}", out.stderr);
    let text = out.stdout.clone();
    assert!(text.starts_with("Backup codes for alice on "), "{text}");
    let codes: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.len() == 13 && w.as_bytes()[5] == b'-' && w.as_bytes()[11] == b'-')
        .collect();
    assert_eq!(codes.len(), 10, "with a check symbol, XXXXX-XXXXX-C: {text}");
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("its last symbol too"),
        "the sheet says to type it: {text}"
    );
    let file = lab.user_file("alice");
    let meta = fs::metadata(&file).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_eq!(meta.uid(), 0);
    let stored = fs::read_to_string(&file).unwrap();
    for code in &codes {
        assert!(!stored.contains(code) && !stored.contains(&code.replace('-', "")));
    }
    assert!(stored.contains("algorithm = \"argon2id\""));
}

#[test]
fn generate_json_shape_and_formats() {
    let lab = or_skip!(lab());
    let out = lab
        .cli()
        .args([
            "generate",
            "bob",
            "--format",
            "json",
            "--count",
            "12",
            "--alphabet",
            "digits",
            "--length",
            "12",
        ])
        .run_cli();
    assert!(out.success(), "{}", out.stderr);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(value["user"], "bob");
    assert_eq!(value["alphabet"], "digits");
    assert_eq!(value["length"], 12);
    assert!(value["created"].as_str().unwrap().ends_with('Z'));
    assert!(value["host"].is_string());
    let codes = value["codes"].as_array().unwrap();
    assert_eq!(codes.len(), 12);
    for code in codes {
        let digits = code.as_str().unwrap().replace('-', "");
        assert_eq!(digits.len(), 12);
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
    }
}

#[test]
fn a_new_set_replaces_the_old_at_once() {
    let lab = or_skip!(lab());
    lab.simple_service("bc-cli", "");
    let old = lab.generate("carol", &[]);
    let new = lab.generate("carol", &[]);
    assert_eq!(lab.login("bc-cli", "carol", &[&old[0]]).result(), "PAM_AUTH_ERR");
    assert_eq!(lab.login("bc-cli", "carol", &[&new[0]]).result(), "PAM_SUCCESS");
}

#[test]
fn usage_errors_exit_2_and_change_nothing() {
    let lab = or_skip!(lab());
    for args in [
        &["generate", "dave", "--count", "0"][..],
        &["generate", "dave", "--count", "101"],
        &["generate", "dave", "--length", "7"],
        &["generate", "dave", "--alphabet", "digits", "--length", "21"],
        &["generate", "dave", "--alphabet", "hex"],
        &["generate", "dave", "--format", "yaml"],
        &["status", "--format", "xml"],
        &["revoke"],
        &["frobnicate"],
        &["--bogus", "status"],
    ] {
        let out = lab.cli().args(args).run_cli();
        assert_eq!(out.status, Some(2), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.clone().is_empty());
    }
    assert!(lab.store_listing().is_empty());
}

#[test]
fn invalid_users_are_reported_and_the_others_done() {
    let lab = or_skip!(lab());
    let long = "x".repeat(300);
    let out = lab
        .cli()
        .args([
            "generate",
            "--",
            "erin",
            "../etc/passwd",
            ".hidden",
            "-dash",
            &long,
            "a b",
            "frank",
        ])
        .run_cli();
    assert_eq!(out.status, Some(1));
    let err = out.stderr.clone();
    assert_eq!(err.lines().count(), 5, "one line per bad name: {err}");
    assert!(err.lines().all(|l| l.starts_with("backup-codes: ")), "{err}");
    assert_eq!(lab.store_listing(), ["erin.toml", "frank.toml"]);
}

#[test]
fn status_text_and_json_show_uses() {
    let lab = or_skip!(lab());
    lab.simple_service("bc-cli", "");
    let codes = lab.generate("grace", &[]);
    lab.generate("heidi", &["--count", "3"]);
    assert_eq!(lab.login("bc-cli", "grace", &[&codes[2]]).result(), "PAM_SUCCESS");
    lab.login("bc-cli", "grace", &["WRONG-WRONG"]);

    let out = lab.cli().args(["status"]).run_cli();
    assert!(out.success());
    let text = out.stdout.clone();
    assert!(text.contains("grace: 9 of 10 codes left"), "{text}");
    assert!(
        text.contains("  code 3 used "),
        "numbered as on the sheet: {text}"
    );
    assert!(text.contains("via bc-cli from 192.0.2.7"), "{text}");
    assert!(text.contains("remote failures: 1 (1 in a row)"), "{text}");
    assert!(text.contains("last failure "), "{text}");
    assert!(text.contains("heidi: 3 of 3 codes left"), "{text}");

    let out = lab.cli().args(["status", "--format", "json"]).run_cli();
    let all: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(common::users(&all), ["grace", "heidi"]);
    let grace = &all[0];
    for key in [
        "enrolled",
        "created",
        "alphabet",
        "length",
        "total",
        "remaining",
        "uses",
        "failures",
        "locked",
        "locked_until",
        "revoked",
        "local",
        "remote",
        "last_failure",
    ] {
        assert!(grace.get(key).is_some(), "missing {key}: {grace}");
    }
    assert_eq!(grace["uses"][0]["service"], "bc-cli");
    assert_eq!(grace["uses"][0]["code_number"], 3, "{grace}");
    assert!(grace["last_failure"].get("code_number").is_none(), "{grace}");
    assert_eq!(grace["uses"][0]["rhost"], "192.0.2.7");
    assert!(grace["uses"][0]["at"].as_str().unwrap().ends_with('Z'));

    let out = lab.cli().args(["status", "--format", "json", "nobody"]).run_cli();
    let nobody: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(nobody[0]["enrolled"], false);
}

#[test]
fn revoke_keeps_the_user_enrolled_and_unenroll_removes_them() {
    let lab = or_skip!(lab());
    // nullok, as in the pam-auth-update profile: a user without a set
    // passes on to pam_permit, so a revoked user must not look like one.
    lab.service(
        "bc-revoke",
        "auth [success=done ignore=ignore default=die] MODULE store=STORE nullok nodelay\nauth required pam_permit.so\n",
    );
    let codes = lab.generate("ivan", &[]);
    let out = lab.cli().args(["revoke", "ivan", "judy"]).run_cli();
    assert_eq!(out.status, Some(1), "judy has no codes");
    assert!(out.stderr.clone().contains("judy"));
    assert!(
        out.stdout.clone().contains("ivan: codes revoked; still enrolled"),
        "{}",
        out.stdout
    );
    assert_eq!(lab.store_listing(), ["ivan.toml"]);

    for answer in [codes[0].as_str(), "", "ZZZZZ-ZZZZZ"] {
        let login = lab.login("bc-revoke", "ivan", &[answer]);
        assert_eq!(login.result(), "PAM_AUTH_ERR", "{answer:?}: {login:?}");
        assert_eq!(login.prompts(), ["Backup code: "], "prompted like anyone");
    }
    let tried = lab.login("bc-revoke", "ivan", &[&codes[1]]);
    assert!(
        tried.logged("a code of the REVOKED set was tried"),
        "{:?}",
        tried.log
    );
    let status = lab.status("ivan");
    assert!(status["revoked"].is_string(), "{status}");
    assert_eq!(
        (status["enrolled"].as_bool(), status["remaining"].as_u64()),
        (Some(true), Some(0))
    );
    let text = lab.cli().args(["status", "ivan"]).run_cli().stdout;
    assert!(text.starts_with("ivan: revoked "), "{text}");
    let again = lab.cli().args(["revoke", "ivan"]).run_cli();
    assert!(again.success() && again.stdout.clone().contains("already revoked"));

    // A new set works again.
    let fresh = lab.generate("ivan", &[]);
    assert_eq!(
        lab.login("bc-revoke", "ivan", &[&fresh[0]]).result(),
        "PAM_SUCCESS"
    );
    assert_eq!(lab.status("ivan")["revoked"], serde_json::Value::Null);

    // --unenroll removes the user: with nullok, the password alone decides.
    let out = lab.cli().args(["revoke", "--unenroll", "ivan"]).run_cli();
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stdout.clone().contains("ivan: unenrolled"));
    assert!(lab.store_listing().is_empty());
    let ignored = lab.login("bc-revoke", "ivan", &[]);
    assert!(
        ignored.prompts().is_empty() && ignored.result() == "PAM_SUCCESS",
        "{ignored:?}"
    );
}

#[test]
fn unlock() {
    let lab = or_skip!(lab());
    lab.generate("ivan", &[]);
    let out = lab.cli().args(["unlock", "ivan"]).run_cli();
    assert!(out.success(), "{}", out.stderr);
    let out = lab.cli().args(["unlock", "nobody"]).run_cli();
    assert_eq!(out.status, Some(1));
}

#[test]
fn check_names_every_problem() {
    let lab = or_skip!(lab());
    lab.generate("kim", &[]);
    lab.generate("lee", &[]);
    let out = lab.cli().arg("check").run_cli();
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stdout.clone().contains("2 user files valid"));

    fs::set_permissions(lab.user_file("kim"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(lab.user_file("lee"), "version = 7\n").unwrap();
    fs::write(lab.store.join("notes.txt"), "hello").unwrap();
    let out = lab.cli().arg("check").run_cli();
    assert_eq!(out.status, Some(1));
    let err = out.stderr.clone();
    assert!(err.contains("kim.toml"), "{err}");
    assert!(err.contains("lee.toml"), "{err}");
    assert!(err.contains("notes.txt"), "{err}");
    // check never repairs anything.
    assert_eq!(fs::read_to_string(lab.user_file("lee")).unwrap(), "version = 7\n");
}

#[test]
fn an_untrusted_store_is_refused_with_a_clear_line() {
    let lab = or_skip!(lab());
    fs::set_permissions(&lab.store, fs::Permissions::from_mode(0o777)).unwrap();
    let out = lab.cli().args(["generate", "mia"]).run_cli();
    assert_eq!(out.status, Some(1));
    assert!(
        out.stderr.clone().contains(lab.store.to_str().unwrap()),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.clone().is_empty(),
        "no codes printed that were not stored"
    );
    assert!(lab.store_listing().is_empty());

    let missing = lab.path().join("missing");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_backup-codes"))
        .arg("--store")
        .arg(&missing)
        .arg("status")
        .run_cli();
    assert_eq!(out.status, Some(1));
    assert_eq!(out.stderr.clone().lines().count(), 1, "{}", out.stderr);
}

#[test]
fn output_file_and_directory_are_private() {
    let lab = or_skip!(lab());
    let sheet = lab.path().join("nina.txt");
    let generate_nina = || {
        lab.cli()
            .args(["generate", "nina", "--output"])
            .arg(&sheet)
            .run_cli()
    };
    let out = generate_nina();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(fs::metadata(&sheet).unwrap().mode() & 0o777, 0o600);
    assert!(
        fs::read_to_string(&sheet)
            .unwrap()
            .contains("Backup codes for nina")
    );

    // An existing file is never overwritten, and the old set stays.
    let before = fs::read(lab.user_file("nina")).unwrap();
    let out = generate_nina();
    assert_eq!(out.status, Some(1));
    assert_eq!(fs::read(lab.user_file("nina")).unwrap(), before);

    let dir = lab.path().join("sheets");
    let out = lab
        .cli()
        .args(["generate", "oscar", "peggy", "--format", "json", "--output"])
        .arg(&dir)
        .run_cli();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    for user in ["oscar", "peggy"] {
        let path = dir.join(format!("{user}.json"));
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let value: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(value["user"], user);
    }

    // A directory others can write to is refused before any set is replaced.
    let open_dir = lab.path().join("open");
    fs::create_dir(&open_dir).unwrap();
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o777)).unwrap();
    let before = fs::read(lab.user_file("oscar")).unwrap();
    let out = lab
        .cli()
        .args(["generate", "oscar", "peggy", "--output"])
        .arg(&open_dir)
        .run_cli();
    assert_eq!(out.status, Some(1));
    assert!(
        out.stderr.clone().contains("refused as output directory"),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read(lab.user_file("oscar")).unwrap(), before);
}

#[test]
fn status_escapes_bidi_and_line_separators() {
    let lab = or_skip!(lab());
    lab.simple_service("bc-bidi", "nodelay");
    let codes = lab.generate("rita", &[]);
    // A remote host name chosen by the client: recorded escaped.
    let hostile = "evil\u{202e}moc.elgoog\u{2028}forged line\u{2066}";
    let mut login = lab.driver();
    login.args([
        "--service",
        "bc-bidi",
        "--user",
        "rita",
        "--rhost",
        hostile,
        "--answer",
        &codes[0],
    ]);
    let login = lab.run(&mut login);
    assert_eq!(login.result(), "PAM_SUCCESS");
    // One written by an older version, or by hand, is escaped when shown.
    lab.edit_user_file("rita", |t| {
        let used = t["codes"][1].as_table_mut().unwrap();
        let mut record = toml::Table::new();
        record.insert("at".into(), toml::Value::String("2026-11-24T12:00:00Z".into()));
        record.insert(
            "service".into(),
            toml::Value::String("ssh\u{2029}d\u{200f}".into()),
        );
        record.insert("rhost".into(), toml::Value::String(hostile.into()));
        used.insert("used".into(), toml::Value::Table(record));
    });
    let deceptive = ['\u{202e}', '\u{2028}', '\u{2029}', '\u{2066}', '\u{200f}'];
    for format in ["text", "json"] {
        let out = lab.cli().args(["status", "--format", format, "rita"]).run_cli();
        assert!(out.success(), "{}", out.stderr);
        let text = out.stdout.clone();
        assert!(!text.contains(&deceptive[..]), "{format}: {text:?}");
        assert!(
            text.contains("202e") && text.contains("2028"),
            "{format}: {text:?}"
        );
    }
    let json = lab
        .cli()
        .args(["status", "--format", "json", "rita"])
        .run_cli()
        .json();
    assert_eq!(
        json[0]["uses"][1]["rhost"], hostile,
        "the JSON escape means the same"
    );
    assert!(
        login.log.iter().all(|l| !l.contains(&deceptive[..])),
        "{:?}",
        login.log
    );
}

#[test]
fn check_warns_about_settings_below_the_defaults() {
    let lab = or_skip!(lab());
    let config = lab.path().join("weak.conf");
    fs::write(
        &config,
        "[login]\ndeny = 0\n[codes]\nalphabet = \"digits\"\nlength = 8\nm_cost = 8192\n",
    )
    .unwrap();
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
    let weak = |args: &[&str]| lab.cli().arg("--config").arg(&config).args(args).run_cli();
    let out = weak(&["generate", "alice"]);
    assert!(out.success(), "{}", out.stderr);
    let out = weak(&["check"]);
    let err = out.stderr.clone();
    assert!(out.success(), "warnings are not problems: {err}");
    assert!(out.stdout.clone().starts_with("ok: "), "{}", out.stdout);
    let conf = config.display();
    for want in [
        format!("warning: {conf}: deny = 0: the lockout is off, and NIST SP 800-63B"),
        format!("warning: {conf} [codes], for new sets: codes of 26.6 bits, weaker than the default 50.0"),
        format!(
            "warning: {conf} [codes], for new sets: Argon2id m_cost = 8192 KiB, below the default 19456 KiB"
        ),
        "warning: alice's set: codes of 26.6 bits".to_owned(),
        "warning: alice's set: Argon2id m_cost = 8192 KiB".to_owned(),
    ] {
        assert!(err.contains(&want), "{want:?} not in {err}");
    }
    // The defaults draw no warning but for alice's set.
    let check = lab.check();
    let err = &check.stderr;
    assert!(
        check.success() && !err.contains("deny = 0") && !err.contains("[codes]"),
        "{err}"
    );
}

#[test]
fn generate_replaces_a_set_only_with_replace() {
    let lab = or_skip!(lab());
    let first = lab.generate("alice", &[]);
    let file = lab.user_file("alice");
    let before = fs::read(&file).unwrap();
    let out = lab.cli().args(["generate", "alice", "bob"]).run_cli();
    assert_eq!(out.status, Some(1), "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "backup-codes: alice: has a set already (10 of 10 codes left); nothing changed (--replace replaces it)\n"
    );
    assert_eq!(fs::read(&file).unwrap(), before, "alice's set is untouched");
    assert!(
        out.stdout.clone().contains("Backup codes for bob"),
        "the others are done"
    );
    assert!(!out.stdout.clone().contains("for alice"));
    // --replace replaces it; a revoked set needs no --replace.
    let out = lab.cli().args(["generate", "--replace", "alice"]).run_cli();
    assert!(out.success(), "{}", out.stderr);
    assert_ne!(fs::read(&file).unwrap(), before);
    assert!(!out.stdout.clone().contains(first[0].as_str()));
    assert!(lab.cli().args(["revoke", "alice"]).run_cli().success());
    let out = lab.cli().args(["generate", "alice"]).run_cli();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(lab.status("alice")["revoked"], serde_json::Value::Null);
}

#[test]
fn generate_never_creates_the_store_directory() {
    let lab = or_skip!(lab());
    let missing = lab.path().join("typo");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_backup-codes"))
        .arg("--store")
        .arg(&missing)
        .args(["generate", "--allow-unknown", "alice"])
        .run_cli();
    assert_eq!(out.status, Some(1));
    assert!(out.stderr.clone().contains("typo"), "{}", out.stderr);
    assert!(
        out.stdout.clone().is_empty(),
        "no codes printed that were not stored"
    );
    assert!(!missing.exists());
}

#[test]
fn generate_makes_a_file_on_stdout_private() {
    let lab = or_skip!(lab());
    // As a shell with umask 022 makes `generate ... > sets.jsonl`.
    let path = lab.path().join("sets.jsonl");
    let file = fs::File::create(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let out = lab
        .cli()
        .args(["generate", "--format", "json", "alice", "bob"])
        .stdout(file)
        .run_cli();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
}

/// Runs `command` under script(1), so that stdout and stderr are a
/// terminal (unless `command` redirects them); returns what the terminal got.
fn on_a_terminal(command: &str) -> String {
    let out = std::process::Command::new("script")
        .args(["-qefc", command, "/dev/null"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_progress_bar_never_breaks_up_sheets_and_shows_rates_with_one_decimal() {
    let lab = or_skip!(lab(), "script");
    let config = lab.path().join("fast.conf");
    fs::write(&config, "[codes]\ncount = 3\nm_cost = 8192\nt_cost = 1\n").unwrap();
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
    let users: Vec<String> = (0..40).map(|i| format!("tty{i:02}")).collect();
    let generate = format!(
        "{} --store {} --config {} generate --allow-unknown --replace {}",
        env!("CARGO_BIN_EXE_backup-codes"),
        lab.store.display(),
        config.display(),
        users.join(" ")
    );
    // Sheets on the terminal: no bar among them.
    let screen = on_a_terminal(&generate);
    assert_eq!(screen.matches("Backup codes for tty").count(), 40, "{screen}");
    assert!(
        !screen.contains("users/s") && !screen.contains("[#"),
        "{screen:?}"
    );
    // Sheets into a file, the bar on the terminal, its rate with one decimal.
    let sheets = lab.path().join("sheets.txt");
    let screen = on_a_terminal(&format!("{generate} > {}", sheets.display()));
    let rates: Vec<&str> = screen
        .split(['\r', '\n', ' ', ']'])
        .zip(screen.split(['\r', '\n', ' ', ']']).skip(1))
        .filter(|(_, unit)| unit.starts_with("users/s"))
        .map(|(rate, _)| rate)
        .collect();
    assert!(!rates.is_empty(), "a bar was drawn: {screen:?}");
    for rate in rates {
        let (whole, decimal) = rate.split_once('.').unwrap_or((rate, ""));
        assert!(
            !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()) && decimal.len() == 1,
            "{rate:?} in {screen:?}"
        );
    }
    assert_eq!(
        fs::read_to_string(&sheets)
            .unwrap()
            .matches("Backup codes for")
            .count(),
        40
    );
}

#[test]
fn the_cli_is_not_dumpable() {
    // Plain codes pass through its memory. The files in /proc/PID of a
    // process that is not dumpable are owned by root whatever its uid: run
    // it as nobody, blocked reading names on stdin, and look.
    let lab = or_skip!(lab(), "setpriv");
    let mut child = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_backup-codes"))
        .arg("--store")
        .arg(&lab.store)
        .args(["generate", "--users-from", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", child.id()));
    let cli = std::path::Path::new(env!("CARGO_BIN_EXE_backup-codes"));
    let start = std::time::Instant::now();
    let mut owner = None;
    while start.elapsed() < std::time::Duration::from_secs(10) {
        // Once it runs the CLI (not setpriv) and waits for its names.
        let exe = fs::read_link(proc_dir.join("exe")).ok();
        let waiting = fs::read_to_string(proc_dir.join("wchan")).is_ok_and(|w| w != "0" && !w.is_empty());
        if exe.as_deref() == Some(cli) && waiting {
            owner = Some(fs::metadata(proc_dir.join("status")).unwrap().uid());
            if owner == Some(0) {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(child.stdin.take());
    let _ = child.wait();
    assert_eq!(
        owner,
        Some(0),
        "/proc/PID/status of the CLI is owned by root, not by its uid 65534"
    );
}
