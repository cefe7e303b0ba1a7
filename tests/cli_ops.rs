//! The operator's side of the CLI (issue 20): `list`, `generate
//! --if-missing`, sheets on stdout made private, `status --below` exit
//! codes with an unreadable store entry, `status --group`, `revoke
//! --created-before` after a restore, and the JSON of `revoke` and
//! `unlock`. Case-folded names for every command are in tests/nss.rs.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{CliRun, Lab, Mounted, RunCli, in_private_mounts, or_skip};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

const SVC: &str = "bc-ops";

/// The CLI with the lab's config file too, so that it judges locks and
/// ages as the module does.
fn cli(lab: &Lab, config: &Path, args: &[&str]) -> CliRun {
    lab.cli().arg("--config").arg(config).args(args).run_cli()
}

/// The JSON objects of a JSON Lines output.
fn json_lines(out: &CliRun) -> Vec<serde_json::Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn list_prints_one_line_per_user_with_left_age_lock_and_revocation() {
    let (lab, config) = or_skip!(Lab::with_config(SVC, "deny = 2\nmax_age = 100\n"));
    let bob = lab.generate("bob", &["--count", "3"]);
    for user in ["alice", "carol", "dave"] {
        lab.generate(user, &[]);
    }
    assert_eq!(lab.login(SVC, "bob", &[&bob[0]]).result(), "PAM_SUCCESS");
    for _ in 0..2 {
        lab.login(SVC, "carol", &["ZZZZZ-ZZZZZ"]);
    }
    lab.age_by("dave", 120);
    let out = cli(&lab, &config, &["revoke", "alice"]);
    assert!(out.success(), "{}", out.stderr);

    let out = cli(&lab, &config, &["list"]);
    assert!(out.success(), "{}", out.stderr);
    let text = out.stdout.clone();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
    let today = OffsetDateTime::now_utc().date().to_string();
    assert_eq!(
        lines,
        [
            vec!["USER", "LEFT", "AGE", "LOCKED", "REVOKED"],
            vec!["alice", "0/10", "0d", "no", today.as_str()],
            vec!["bob", "2/3", "0d", "no", "no"],
            vec!["carol", "10/10", "0d", "remote", "no"],
            vec!["dave", "0/10", "120d(expired)", "no", "no"],
        ],
        "{text}"
    );

    let all = lab
        .cli()
        .arg("--config")
        .arg(&config)
        .args(["list", "--format", "json"])
        .run_cli();
    assert!(all.success(), "{}", all.stderr);
    let all: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    assert_eq!(common::users(&all), ["alice", "bob", "carol", "dave"]);
    assert!(all[0]["revoked"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        (all[1]["usable"].as_u64(), all[1]["total"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(all[1]["revoked"], serde_json::Value::Null);
    assert_eq!(all[2]["locked"], true);
    assert!(all[2]["locked_until"].is_string());
    assert_eq!(
        (all[3]["expired"].as_bool(), all[3]["age_days"].as_u64()),
        (Some(true), Some(120))
    );
    for key in [
        "user",
        "usable",
        "total",
        "created",
        "age_days",
        "expired",
        "locked",
        "locked_until",
        "revoked",
    ] {
        assert!(all[0].get(key).is_some(), "missing {key}: {}", all[0]);
    }

    // An entry it cannot read is reported, and the others still listed.
    fs::write(lab.store.join("notes.txt"), "hello").unwrap();
    let out = cli(&lab, &config, &["list"]);
    assert_eq!(out.status, Some(1));
    assert!(out.stderr.clone().contains("notes.txt"), "{}", out.stderr);
    assert_eq!(out.stdout.clone().lines().count(), 5);
}

#[test]
fn generate_if_missing_changes_nothing_for_users_who_have_a_set_and_exits_0() {
    let lab = or_skip!(Lab::new());
    lab.add_users(["alice", "bob", "carol"]);
    let first = lab
        .cli()
        .args(["generate", "--if-missing", "--format", "json", "alice"])
        .run_cli();
    assert!(first.success(), "{}", first.stderr);
    assert_eq!(json_lines(&first)[0]["user"], "alice");
    let stored = fs::read(lab.user_file("alice")).unwrap();

    // Run again, as configuration management does: nothing printed, nothing changed, 0.
    let again = lab.cli().args(["generate", "--if-missing", "alice"]).run_cli();
    assert_eq!(again.status, Some(0), "{}", again.stderr);
    assert_eq!(again.stdout, "");
    assert!(
        again.stderr.clone().contains("alice: has a set already"),
        "{}",
        again.stderr
    );
    assert_eq!(fs::read(lab.user_file("alice")).unwrap(), stored);

    // Mixed: only the user without a set gets one.
    let mixed = lab
        .cli()
        .args(["generate", "--if-missing", "--format", "json", "alice", "bob"])
        .run_cli();
    assert_eq!(mixed.status, Some(0), "{}", mixed.stderr);
    let sheets = json_lines(&mixed);
    assert_eq!(sheets.len(), 1);
    assert_eq!(sheets[0]["user"], "bob");
    assert_eq!(fs::read(lab.user_file("alice")).unwrap(), stored);

    // Without it, today's behaviour: a user with a set is a failure.
    let plain = lab.cli().args(["generate", "alice"]).run_cli();
    assert_eq!(plain.status, Some(1));
    assert_eq!(plain.stdout, "");
    // A revoked set holds no valid code: it is replaced, as without the flag.
    assert!(lab.cli().args(["revoke", "alice"]).run_cli().success());
    let renewed = lab.cli().args(["generate", "--if-missing", "alice"]).run_cli();
    assert!(renewed.success(), "{}", renewed.stderr);
    assert!(renewed.stdout.clone().starts_with("Backup codes for alice"));
    assert_eq!(lab.status("alice")["revoked"], serde_json::Value::Null);
    // And it cannot be combined with --replace.
    let both = lab
        .cli()
        .args(["generate", "--if-missing", "--replace", "carol"])
        .run_cli();
    assert_eq!(both.status, Some(2));
    assert!(!lab.user_file("carol").exists());
}

#[test]
fn add_makes_a_sheet_redirected_to_a_file_private() {
    let lab = or_skip!(Lab::new());
    lab.generate("alice", &[]);
    // As a shell with umask 022 makes `add alice ... > sheet.txt`.
    let path = lab.path().join("sheet.txt");
    let file = fs::File::create(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let out = lab
        .cli()
        .args(["add", "alice", "--count", "2", "--expires", "8h"])
        .stdout(file)
        .run_cli();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("Temporary backup codes for alice"), "{text}");
    assert_eq!(lab.status("alice")["total"], 12);
    // A pipe is left as it is (and still gets the sheet).
    let piped = lab
        .cli()
        .args(["add", "alice", "--expires", "1h", "--format", "json"])
        .run_cli();
    assert!(piped.success(), "{}", piped.stderr);
    assert_eq!(json_lines(&piped)[0]["codes"].as_array().unwrap().len(), 1);
}

#[test]
fn status_below_exits_1_for_users_listed_and_2_when_it_cannot_read_everything() {
    let lab = or_skip!(Lab::new());
    lab.generate("dave", &[]);
    lab.generate("erin", &[]);
    let below = |n: &str, format: &str| {
        lab.cli()
            .args(["status", "--below", n, "--format", format])
            .run_cli()
    };
    let out = below("5", "text");
    assert_eq!(
        (out.status, out.stdout),
        (Some(0), String::new()),
        "{}",
        out.stderr
    );
    assert_eq!(below("11", "text").status, Some(1));

    // erin's file is no longer trusted: it cannot be read, which is not "fine".
    fs::set_permissions(lab.user_file("erin"), fs::Permissions::from_mode(0o644)).unwrap();
    for format in ["text", "json"] {
        let out = below("5", format);
        assert_eq!(out.status, Some(2), "{format}: {}", out.stderr);
        assert!(out.stderr.clone().contains("erin.toml"), "{}", out.stderr);
    }
    // Someone listed and something unreadable: "could not tell" wins.
    let out = below("11", "json");
    assert_eq!(out.status, Some(2));
    let listed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(common::users(&listed), ["dave"]);
    // Without --below a problem is a failure, as for every command.
    let out = lab.cli().arg("status").run_cli();
    assert_eq!(out.status, Some(1));

    // A configuration it cannot read: it cannot judge anyone.
    let config = lab.path().join("broken.conf");
    fs::write(&config, "[login]\ndeny = \"many\"\n").unwrap();
    let out = lab
        .cli()
        .arg("--config")
        .arg(&config)
        .args(["status", "--below", "5"])
        .run_cli();
    assert_eq!(out.status, Some(2), "{}", out.stderr);

    // A stray entry in the store is reported, not silently left out.
    fs::set_permissions(lab.user_file("erin"), fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(below("5", "text").status, Some(0));
    fs::write(lab.store.join("Frank Smith.toml"), "version = 1\n").unwrap();
    let out = below("5", "text");
    assert_eq!(out.status, Some(2), "{}", out.stderr);
    assert!(out.stderr.clone().contains("Frank Smith.toml"), "{}", out.stderr);
}

/// A bind mount in the private namespace, detached on drop.
fn bind(from: &Path, to: &str) -> Mounted {
    use nix::mount::{MsFlags, mount};
    mount(Some(from), to, None::<&str>, MsFlags::MS_BIND, None::<&str>).expect("bind mount");
    Mounted(PathBuf::from(to))
}

#[test]
fn status_group_shows_every_member_those_without_a_set_included() {
    let lab = or_skip!(Lab::new());
    let group = common::system::unique("bcops");
    let gid = 71_999;
    let [alice, bob, grace, ghost] = ["alice", "bob", "grace", "ghost"].map(common::system::unique);
    lab.generate(&alice, &[]);
    lab.add_user(&bob);
    // grace's primary group is the group; she is in no member list. ghost
    // is listed but no account. Both come from the files NSS reads, bound
    // over /etc/passwd and /etc/group in a private mount namespace.
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    let groups = dir.path().join("group");
    let host = |path| fs::read_to_string(path).unwrap_or_default();
    fs::write(
        &passwd,
        host("/etc/passwd") + &format!("{grace}:x:71998:{gid}:test:/nonexistent:/usr/sbin/nologin\n"),
    )
    .unwrap();
    fs::write(
        &groups,
        host("/etc/group") + &format!("{group}:x:{gid}:{alice},{bob},{ghost}\n"),
    )
    .unwrap();
    for file in [&passwd, &groups] {
        fs::set_permissions(file, fs::Permissions::from_mode(0o644)).unwrap();
    }
    in_private_mounts(|| {
        let _passwd = bind(&passwd, "/etc/passwd");
        let _group = bind(&groups, "/etc/group");
        let out = lab
            .cli()
            .args(["status", "--format", "json", "--group", &group])
            .run_cli();
        assert!(out.success(), "{}", out.stderr);
        let all: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let mut want = vec![alice.as_str(), bob.as_str(), grace.as_str()];
        want.sort();
        assert_eq!(common::users(&all), want);
        for member in all.as_array().unwrap() {
            assert_eq!(member["enrolled"], member["user"] == alice.as_str(), "{member}");
        }
        // --below 1: the members without a set need attention.
        let out = lab
            .cli()
            .args(["status", "--below", "1", "--group", &group])
            .run_cli();
        assert_eq!(out.status, Some(1), "{}", out.stderr);
        let text = out.stdout.clone();
        assert!(text.contains(&format!("{bob}: no backup codes")), "{text}");
        assert!(text.contains(&format!("{grace}: no backup codes")), "{text}");
        assert!(!text.contains(&alice), "{text}");
        // A group NSS does not know: could not tell.
        let out = lab
            .cli()
            .args(["status", "--below", "1", "--group", "no-such-group-pbc"])
            .run_cli();
        assert_eq!(out.status, Some(2));
        assert!(out.stderr.clone().contains("no such group"), "{}", out.stderr);
    });
}

#[test]
fn revoke_created_before_revokes_every_older_set_after_a_restore() {
    let lab = or_skip!(Lab::with_service(SVC, "nodelay"));
    let old = lab.generate("alice", &[]);
    lab.generate("bob", &[]);
    let fresh = lab.generate("carol", &[]);
    lab.generate("dave", &[]);
    lab.age_by("alice", 10);
    lab.age_by("bob", 3);
    lab.age_by("dave", 5);
    // dave's was revoked before the restore point already: not news.
    assert!(lab.cli().args(["revoke", "dave"]).run_cli().success());
    let restore = (OffsetDateTime::now_utc() - Duration::days(1))
        .format(&Rfc3339)
        .unwrap();

    let out = lab.cli().args(["revoke", "--created-before", &restore]).run_cli();
    assert!(out.success(), "{}", out.stderr);
    let text = out.stdout.clone();
    let revoked: Vec<&str> = text.lines().filter_map(|l| l.split(':').next()).collect();
    assert_eq!(revoked, ["alice", "bob"], "{text}");
    assert!(text.contains("codes revoked; still enrolled"), "{text}");
    assert!(
        out.stderr.clone().contains("2 sets made before"),
        "{}",
        out.stderr
    );
    assert!(lab.status("alice")["revoked"].is_string());
    assert_eq!(lab.status("carol")["revoked"], serde_json::Value::Null);
    assert_eq!(lab.login(SVC, "alice", &[&old[0]]).result(), "PAM_AUTH_ERR");
    assert_eq!(lab.login(SVC, "carol", &[&fresh[0]]).result(), "PAM_SUCCESS");

    // Again: nothing left to revoke, nothing printed; JSON Lines likewise.
    let again = lab
        .cli()
        .args(["revoke", "--format", "json", "--created-before", &restore])
        .run_cli();
    assert!(again.success(), "{}", again.stderr);
    assert_eq!(again.stdout, "");
    // Named users: only theirs, and a newer set is kept with a note.
    lab.generate("erin", &[]);
    lab.age_by("erin", 2);
    let named = lab
        .cli()
        .args([
            "revoke",
            "--format",
            "json",
            "--created-before",
            &restore,
            "erin",
            "carol",
        ])
        .run_cli();
    assert!(named.success(), "{}", named.stderr);
    let done = json_lines(&named);
    assert_eq!(done.len(), 1, "{}", named.stdout);
    assert_eq!(
        (done[0]["user"].as_str(), done[0]["action"].as_str()),
        (Some("erin"), Some("revoked"))
    );
    assert!(done[0]["created"].is_string() && done[0]["revoked"].is_string());
    assert!(named.stderr.clone().contains("carol: kept"), "{}", named.stderr);

    // A date in the future would revoke everything: a usage error.
    let future = lab
        .cli()
        .args(["revoke", "--created-before", "2999-01-01"])
        .run_cli();
    assert_eq!(future.status, Some(2));
    assert_eq!(lab.status("carol")["revoked"], serde_json::Value::Null);
    let bad = lab
        .cli()
        .args(["revoke", "--created-before", "yesterday"])
        .run_cli();
    assert_eq!(bad.status, Some(2));
    // --unenroll never sweeps.
    let sweep = lab
        .cli()
        .args(["revoke", "--unenroll", "--created-before", &restore])
        .run_cli();
    assert_eq!(sweep.status, Some(2));
    assert_eq!(lab.store_listing().len(), 5);
}

#[test]
fn revoke_and_unlock_print_json_lines() {
    let lab = or_skip!(Lab::with_service(SVC, "nodelay"));
    lab.generate("alice", &[]);
    lab.generate("bob", &[]);
    lab.login(SVC, "alice", &["ZZZZZ-ZZZZZ"]);
    let out = lab
        .cli()
        .args(["unlock", "--format", "json", "alice", "bob"])
        .run_cli();
    assert!(out.success(), "{}", out.stderr);
    let done = json_lines(&out);
    assert_eq!(done.len(), 2);
    assert_eq!(
        done[0],
        serde_json::json!({"user": "alice", "action": "unlocked", "failures_cleared": 1})
    );
    assert_eq!(done[1]["failures_cleared"], 0);

    let out = lab.cli().args(["revoke", "--format", "json", "alice"]).run_cli();
    assert_eq!(json_lines(&out)[0]["action"], "revoked");
    let out = lab.cli().args(["revoke", "--format", "json", "alice"]).run_cli();
    assert_eq!(json_lines(&out)[0]["action"], "already_revoked");
    let out = lab
        .cli()
        .args(["revoke", "--unenroll", "--format", "json", "bob", "nobody"])
        .run_cli();
    assert_eq!(out.status, Some(1), "nobody has no set");
    let done = json_lines(&out);
    assert_eq!(done.len(), 1);
    assert_eq!(
        (
            done[0]["user"].as_str(),
            done[0]["action"].as_str(),
            &done[0]["revoked"]
        ),
        (Some("bob"), Some("unenrolled"), &serde_json::Value::Null)
    );
    assert!(
        out.stderr.clone().contains("nobody: has no backup codes"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_prints_its_findings_as_one_json_object_with_the_same_exit_status() {
    let lab = or_skip!(Lab::new());
    lab.generate("alice", &[]);
    let check = || lab.cli().args(["check", "--format", "json"]).run_cli();
    let out = check();
    assert_eq!(out.status, Some(0), "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["problems"], 0);
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["level"] == "ok" && f["message"].as_str().unwrap().contains("1 user file valid")),
        "{report}"
    );

    fs::write(lab.store.join("notes.txt"), "hello").unwrap();
    let out = check();
    assert_eq!(out.status, Some(1));
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["problems"], 1, "{report}");
    let problem = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["level"] == "problem")
        .unwrap();
    assert!(
        problem["message"].as_str().unwrap().contains("notes.txt"),
        "{report}"
    );
    assert!(
        out.stderr.clone().contains("notes.txt"),
        "problems are told on stderr too"
    );
}
