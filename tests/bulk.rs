//! Bulk provisioning with `backup-codes generate --users-from`: hundreds of
//! users from a file or stdin, JSON Lines, a directory of sheets, bad and
//! repeated names, and failures that lose nothing.
//!
//! A cheap Argon2id (8 MiB, one pass) from a config file keeps these fast;
//! the parameters are stored with each set, so logins use the same.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::system::run_with_input;
use common::{CliRun, Lab, bare, or_skip};
use pam_backup_codes::codeset::{CodeSet, Match};

const SVC: &str = "bc-bulk";
const USERS: usize = 210;
const COUNT: usize = 3;

struct Bulk {
    lab: Lab,
    config: PathBuf,
}

impl Bulk {
    fn new() -> Self {
        let lab = Lab::with_service(SVC, "");
        let names = every_user();
        lab.add_users(names.iter().map(String::as_str));
        let config = lab.path().join("fast.conf");
        fs::write(
            &config,
            format!("[codes]\ncount = {COUNT}\nm_cost = 8192\nt_cost = 1\n"),
        )
        .unwrap();
        fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
        Self { lab, config }
    }

    fn cli(&self) -> Command {
        let mut cmd = self.lab.cli();
        cmd.arg("--config").arg(&self.config);
        cmd
    }

    /// Runs `generate ARGS`, with `input` on stdin.
    fn generate(&self, args: &[&str], input: &str) -> CliRun {
        run_with_input(self.cli().arg("generate").args(args), input).into()
    }

    /// The store's user files, without the `.toml`, and any other entry.
    fn stored(&self) -> (BTreeSet<String>, Vec<String>) {
        let mut users = BTreeSet::new();
        let mut others = Vec::new();
        for name in self.lab.store_listing() {
            match name.strip_suffix(".toml") {
                Some(user) => users.insert(user.to_owned()),
                None => {
                    others.push(name);
                    true
                }
            };
        }
        (users, others)
    }

    /// Checks that `codes` are exactly `user`'s stored set, in order, unused.
    fn assert_codes_work(&self, user: &str, codes: &[String]) {
        let set = CodeSet::parse(&fs::read_to_string(self.lab.user_file(user)).unwrap()).unwrap();
        assert_eq!(set.codes.len(), codes.len(), "{user}");
        assert_eq!(set.kdf.params.m_cost, 8192, "{user}: the config's cheap KDF");
        // The first and last code: enough to show the sheet and the store agree.
        for i in [0, codes.len() - 1] {
            let digest = set.digest(codes[i].as_bytes()).unwrap().unwrap();
            assert_eq!(set.find(&digest), Match::Unused(i), "{user}: code {i}");
        }
    }

    /// `status --format json` of every user in the store.
    fn status_all(&self) -> Vec<serde_json::Value> {
        let config = self.config.to_str().unwrap();
        let value = self
            .lab
            .cli_json(&["--config", config, "status", "--format", "json"]);
        value.as_array().unwrap().clone()
    }
}

fn user(i: usize) -> String {
    format!("bulk{i:04}")
}

/// A list of `USERS` users with comments, blank lines, padding, two invalid
/// names (on lines 4 and 10) and `bulk0007` listed three times.
fn user_list() -> String {
    let mut text = String::from("# provisioning batch 42\n\n");
    text += &format!("{}\n", user(0)); // line 3
    text += "../etc/shadow\n"; // line 4
    for i in 1..USERS {
        text += &format!("  {}  # team {}\n", user(i), i % 7);
        if i == 5 {
            text += "-rf\n"; // line 10
            text += "\n   \n# bulk9999 is commented out\n";
        }
    }
    text += &format!("{}\n{}\n", user(7), user(7));
    text
}

fn every_user() -> BTreeSet<String> {
    (0..USERS).map(user).collect()
}

#[test]
fn users_from_a_file_get_working_sets_as_json_lines() {
    let bulk = or_skip!(Bulk::new());
    let list = bulk.lab.path().join("users.txt");
    fs::write(&list, user_list()).unwrap();
    let out = bulk.generate(&["--users-from", list.to_str().unwrap(), "--format", "json"], "");

    assert_eq!(
        out.status,
        Some(1),
        "invalid names make the run fail: {}",
        out.stderr
    );
    let err = &out.stderr;
    let file = list.display();
    assert!(
        err.contains(&format!("backup-codes: {file}:4: \"../etc/shadow\": ")),
        "{err}"
    );
    assert!(
        err.contains(&format!("backup-codes: {file}:10: \"-rf\": ")),
        "{err}"
    );
    assert!(err.contains("bulk0007: listed 3 times, given one set"), "{err}");
    assert!(!err.contains("bulk9999"), "comments are not names: {err}");
    assert_eq!(err.lines().count(), 3, "one line per bad or repeated name: {err}");

    // JSON Lines: one object per valid user, in list order, each once.
    let text = out.stdout;
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let order: Vec<String> = lines
        .iter()
        .map(|v| v["user"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, (0..USERS).map(user).collect::<Vec<_>>());

    let (stored, others) = bulk.stored();
    assert_eq!(stored, every_user());
    assert!(others.is_empty(), "no temporary or partial files: {others:?}");
    for value in &lines {
        let codes: Vec<String> = value["codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(codes.len(), COUNT);
        bulk.assert_codes_work(value["user"].as_str().unwrap(), &codes);
    }
    let status = bulk.status_all();
    assert_eq!(status.len(), USERS);
    for entry in &status {
        assert_eq!(entry["enrolled"], true, "{entry}");
        assert_eq!(entry["total"], COUNT, "{entry}");
        assert_eq!(entry["remaining"], COUNT, "{entry}");
    }

    // And through real libpam: the repeated user's printed codes are the live ones.
    let seventh = lines.iter().find(|v| v["user"] == user(7)).unwrap();
    let code = seventh["codes"][1].as_str().unwrap();
    assert_eq!(bulk.lab.login(SVC, user(7), &[code]).result(), "PAM_SUCCESS");
    assert_eq!(bulk.lab.status(&user(7))["remaining"], COUNT - 1);
}

#[test]
fn users_from_stdin_into_a_directory_of_private_sheets() {
    let bulk = or_skip!(Bulk::new());
    let sheets = bulk.lab.path().join("sheets");
    let out = bulk.generate(
        &["--users-from", "-", "--output", sheets.to_str().unwrap()],
        &user_list(),
    );

    assert_eq!(out.status, Some(1), "{}", out.stderr);
    let err = &out.stderr;
    assert!(
        err.contains("backup-codes: stdin:4: \"../etc/shadow\": "),
        "{err}"
    );
    assert!(err.contains("backup-codes: stdin:10: \"-rf\": "), "{err}");
    assert!(
        err.contains(&format!("{USERS} sheets written to {}", sheets.display())),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "codes went to the sheets only");

    assert_eq!(fs::metadata(&sheets).unwrap().mode() & 0o7777, 0o700);
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(&sheets).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.mode() & 0o7777, 0o600, "{:?}", entry.path());
        let name = entry.file_name().into_string().unwrap();
        let user = name.strip_suffix(".txt").unwrap().to_owned();
        let text = fs::read_to_string(entry.path()).unwrap();
        assert!(
            text.starts_with(&format!("Backup codes for {user} on ")),
            "{text}"
        );
        let codes = sheet_codes(&text);
        assert_eq!(codes.len(), COUNT, "{text}");
        bulk.assert_codes_work(&user, &codes);
        names.insert(user);
    }
    assert_eq!(names, every_user());
    assert_eq!(bulk.stored().0, every_user());

    let sheet = fs::read_to_string(sheets.join(format!("{}.txt", user(150)))).unwrap();
    let code = bare(&sheet_codes(&sheet)[2]);
    assert_eq!(bulk.lab.login(SVC, user(150), &[&code]).result(), "PAM_SUCCESS");
}

/// The codes on a text sheet (`  1.  XXXXX-XXXXX`).
/// The codes of a text sheet: the lines "  [ ]   N.  CODE".
fn sheet_codes(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("  [ ] ")?.trim().split_once(".  "))
        .filter(|(n, _)| n.parse::<usize>().is_ok())
        .map(|(_, code)| code.to_owned())
        .collect()
}

#[test]
fn a_user_that_cannot_be_stored_is_skipped_and_leaves_nothing_behind() {
    let bulk = or_skip!(Bulk::new());
    let names: Vec<String> = (0..20).map(user).collect();
    // An old set for bulk0003, then something that makes replacing it fail:
    // the file's temporary name is taken by a directory.
    bulk.generate(&[&user(3)], "");
    let before = fs::read(bulk.lab.user_file(&user(3))).unwrap();
    let blocker = bulk.lab.store.join(format!(".{}.tmp", user(3)));
    fs::create_dir(&blocker).unwrap();
    fs::write(blocker.join("keep"), "").unwrap();

    let sheets = bulk.lab.path().join("sheets");
    let out = bulk.generate(
        &[
            "--replace",
            "--users-from",
            "-",
            "--format",
            "json",
            "--output",
            sheets.to_str().unwrap(),
        ],
        &names.join("\n"),
    );
    assert_eq!(out.status, Some(1), "{}", out.stderr);
    let err = &out.stderr;
    assert!(err.contains(&format!("backup-codes: {}: ", user(3))), "{err}");
    assert!(err.contains("the old set, if any, is unchanged"), "{err}");
    assert!(err.contains("19 sheets written"), "{err}");

    assert_eq!(
        fs::read(bulk.lab.user_file(&user(3))).unwrap(),
        before,
        "the old set stays"
    );
    assert!(
        !sheets.join(format!("{}.json", user(3))).exists(),
        "no sheet of codes that were not stored"
    );
    let (stored, others) = bulk.stored();
    assert_eq!(stored, names.iter().cloned().collect());
    assert_eq!(others, [format!(".{}.tmp", user(3))], "nothing but the blocker");
    assert_eq!(fs::read_dir(&sheets).unwrap().count(), 19);
}

#[test]
fn a_closed_output_stops_the_run_before_more_sets_are_replaced() {
    let bulk = or_skip!(Bulk::new());
    let names: Vec<String> = (0..50).map(user).collect();
    let list = bulk.lab.path().join("users.txt");
    fs::write(&list, names.join("\n")).unwrap();
    let mut child = bulk
        .cli()
        .args(["generate", "--format", "json", "--users-from"])
        .arg(&list)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody will read the codes: the first print fails with EPIPE.
    drop(child.stdout.take());
    let out: CliRun = child.wait_with_output().unwrap().into();
    assert_eq!(out.status, Some(1));
    let err = &out.stderr;
    assert!(
        err.contains(&format!("{}: stored, but printing the codes failed", user(0))),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "stopped: the 49 users after {} were not changed",
            user(0)
        )),
        "{err}"
    );
    assert_eq!(
        bulk.stored().0,
        BTreeSet::from([user(0)]),
        "only the first set was replaced"
    );
    assert!(has_no_temporary_files(&bulk.lab.store));
}

fn has_no_temporary_files(store: &Path) -> bool {
    fs::read_dir(store)
        .unwrap()
        .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
}
