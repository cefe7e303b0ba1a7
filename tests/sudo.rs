//! Real sudo, through the sudo recipes as published, every way in: `sudo
//! CMD`, `sudo -s`, `sudo -u USER`, `sudoedit` (PAM service `sudo`) and `sudo
//! -i` (`sudo-i`).
//!
//! - A code after the password: the lines of pam_backup_codes(8) EXAMPLES
//!   (the same as `pam.d-examples/sudo`) added to this machine's
//!   /etc/pam.d/sudo and /etc/pam.d/sudo-i, mounted over the real ones in a
//!   private mount namespace that only the test's sudo sees.
//! - Break-glass: `pam.d-examples/sudo-backup-codes` as a service of its own
//!   (a unique name), and the sudoers lines its comment (and the docs) give.
//!
//! The module is the freshly built one with a temporary store; `sudo -k -S`
//! ignores any cached success and reads the answers from stdin.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::recipes::{Mounts, Snippet, doc_block, for_lab, indented_block, man_example, repo_file};
use common::system::{PamService, Sudoers, TestUser, run_with_input};
use common::{CliRun, Lab, RunCli, or_skip, skip_unless};

const PROMPT: &str = "Backup code: ";

/// One way into sudo, and what the command prints when it ran as wanted.
struct Way {
    name: &'static str,
    /// sudo's arguments after `-k -S`.
    args: Vec<String>,
    /// The PAM service it uses.
    service: &'static str,
}

/// Every way in, for a user who may run anything as anyone. `other` is a
/// user to run a command as; `file` a root-owned file for sudoedit.
fn every_way(other: &str, file: &Path) -> Vec<Way> {
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    vec![
        Way {
            name: "sudo CMD",
            args: strings(&["id", "-un"]),
            service: "sudo",
        },
        Way {
            name: "sudo -s",
            args: strings(&["-s", "id", "-un"]),
            service: "sudo",
        },
        Way {
            name: "sudo -u",
            args: strings(&["-u", other, "id", "-un"]),
            service: "sudo",
        },
        Way {
            name: "sudoedit",
            args: strings(&["-e", file.to_str().unwrap()]),
            service: "sudo",
        },
        Way {
            name: "sudo -i",
            args: strings(&["-i", "id", "-un"]),
            service: "sudo-i",
        },
    ]
}

/// What one sudo run did, read from its stderr.
impl CliRun {
    /// How many times the module asked for a code.
    fn code_prompts(&self) -> usize {
        self.stderr.matches(PROMPT).count()
    }

    /// How many times sudo asked for the password.
    fn password_prompts(&self) -> usize {
        self.stderr.matches("[sudo] password for ").count()
    }
}

/// `sudo -k -S ARGS` as `user`, `answers` one a line on stdin; sudoedit's
/// editor writes "edited" into the file.
fn sudo(mounts: Option<&Mounts>, user: &TestUser, args: &[String], answers: &[&str]) -> CliRun {
    let input: String = answers.iter().map(|a| format!("{a}\n")).collect();
    let mut cmd = match mounts {
        Some(mounts) => mounts.command("runuser"),
        None => Command::new("runuser"),
    };
    cmd.args(["-u", &user.name, "--", "sudo", "-k", "-S"])
        .args(args)
        .env("SUDO_EDITOR", user.home.join("editor"));
    run_with_input(&mut cmd, &input).into()
}

/// A test user with sudoedit's editor in its home.
fn sudo_user() -> TestUser {
    let user = TestUser::new();
    user.home_file("editor", "#!/bin/sh\necho edited > \"$1\"\n", 0o755);
    user
}

/// Checks that `run`, one way in, did what it should as `user`.
fn assert_ran(way: &Way, run: &CliRun, other: &str, file: &Path) {
    assert_eq!(run.status, Some(0), "{}: {run:?}", way.name);
    if way.name == "sudoedit" {
        assert_eq!(fs::read_to_string(file).unwrap(), "edited\n", "{run:?}");
        fs::write(file, "original\n").unwrap();
    } else if way.name == "sudo -u" {
        assert_eq!(run.stdout.trim(), other, "{run:?}");
    } else {
        assert_eq!(run.stdout.trim(), "root", "{}: {run:?}", way.name);
    }
}

/// A root-owned file for sudoedit, in a directory the user cannot write.
fn edit_target(lab: &Lab) -> std::path::PathBuf {
    let file = lab.path().join("edit-me");
    fs::write(&file, "original\n").unwrap();
    file
}

#[test]
fn man_page_recipe_asks_a_code_after_the_password_every_way_in() {
    skip_unless!("sudo", "sudoedit", "visudo", "runuser", "unshare");
    // The man page and pam.d-examples/sudo publish the same lines.
    let snippet = Snippet::example("sudo");
    let from_man = man_example("/etc/pam.d/sudo\\-i");
    let code_lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(code_lines(&from_man), code_lines(&snippet.lines), "{from_man}");
    assert_eq!(
        snippet.targets,
        [Path::new("/etc/pam.d/sudo"), Path::new("/etc/pam.d/sudo-i")]
    );

    let lab = Lab::new();
    let mut mounts = Mounts::new();
    for (target, text) in snippet.applied(&for_lab(&lab, &from_man, &[])) {
        mounts.file(&target, &text);
    }
    let user = sudo_user();
    let plain = sudo_user();
    let other = TestUser::new();
    user.set_password("sudo password 1");
    plain.set_password("sudo password 2");
    let _sudoers = Sudoers::install(&format!(
        "{} ALL=(ALL:ALL) ALL\n{} ALL=(ALL:ALL) ALL\n",
        user.name, plain.name
    ));
    let codes = lab.generate(&user.name, &[]);
    let file = edit_target(&lab);

    let ways = every_way(&other.name, &file);
    for (way, code) in ways.iter().zip(&codes) {
        let run = sudo(Some(&mounts), &user, &way.args, &["sudo password 1", code]);
        assert_ran(way, &run, &other.name, &file);
        assert_eq!(
            (run.password_prompts(), run.code_prompts()),
            (1, 1),
            "{}: the password, then one code: {run:?}",
            way.name
        );
        // Without a set: the password alone (nullok).
        let run = sudo(Some(&mounts), &plain, &way.args, &["sudo password 2"]);
        assert_ran(way, &run, &other.name, &file);
        assert_eq!(run.code_prompts(), 0, "{}: {run:?}", way.name);
    }
    let status = lab.status(&user.name);
    assert_eq!(status["remaining"], 10 - ways.len(), "{status}");
    let services: Vec<&str> = status["uses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["service"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = ways.iter().map(|w| w.service).collect();
    assert_eq!(services, expected);

    // A wrong password: no code is asked for, none is spent, every way in.
    for way in &ways {
        let run = sudo(Some(&mounts), &user, &way.args, &["wrong", "wrong", "wrong"]);
        assert_eq!(run.status, Some(1), "{}: {run:?}", way.name);
        assert_eq!(run.code_prompts(), 0, "{}: {run:?}", way.name);
    }
    // The right password and a used code: refused.
    let run = sudo(
        Some(&mounts),
        &user,
        &ways[4].args,
        &["sudo password 1", &codes[0]],
    );
    assert_eq!(run.status, Some(1), "{run:?}");
    let status = lab.status(&user.name);
    assert_eq!(status["remaining"], 10 - ways.len());
    assert_eq!(status["failures"], 1);
}

/// The break-glass recipe: its service file, and its sudoers lines with
/// the example's user and service names replaced by the test's.
struct BreakGlass {
    lab: Lab,
    user: TestUser,
    service: PamService,
    _sudoers: Sudoers,
}

fn break_glass() -> BreakGlass {
    let example = repo_file("pam.d-examples/sudo-backup-codes");
    let sudoers = indented_block(&example, "In sudoers");
    assert_eq!(
        doc_block("docs/admin-guide.md", "Send the account to the example service"),
        sudoers,
        "docs/admin-guide.md and the example give the same sudoers lines"
    );
    assert!(
        doc_block("README.md", "### Break-glass sudo").contains(&sudoers),
        "README's break-glass block writes the example's sudoers lines"
    );
    let lab = Lab::new();
    let user = sudo_user();
    let service = PamService::install("bc-sudo-", &for_lab(&lab, &example, &[]));
    let text = sudoers
        .replace("Defaults:alice ", &format!("Defaults:{} ", user.name))
        .replace("\nalice ", &format!("\n{} ", user.name))
        .replace("=sudo-backup-codes", &format!("={}", service.name));
    assert_eq!(text.matches(&service.name).count(), 2, "{text}");
    BreakGlass {
        lab,
        user,
        service,
        _sudoers: Sudoers::install(&text),
    }
}

#[test]
fn break_glass_recipe_asks_a_code_every_way_in() {
    let s = or_skip!(break_glass(), "sudo", "sudoedit", "visudo", "runuser");
    let other = TestUser::new();
    let codes = s.lab.generate(&s.user.name, &[]);
    let file = edit_target(&s.lab);
    let ways = every_way(&other.name, &file);
    for (way, code) in ways.iter().zip(&codes) {
        let run = sudo(None, &s.user, &way.args, &[code]);
        assert_ran(way, &run, &other.name, &file);
        assert_eq!(
            (run.password_prompts(), run.code_prompts()),
            (0, 1),
            "{}: a code, no password: {run:?}",
            way.name
        );
    }
    let status = s.lab.status(&s.user.name);
    assert_eq!(status["remaining"], 10 - ways.len());
    let uses = status["uses"].as_array().unwrap();
    assert!(
        uses.iter().all(|u| u["service"] == s.service.name.as_str()),
        "sudo -i too: {status}"
    );
}

#[test]
fn a_code_runs_the_command_as_root_once() {
    let s = or_skip!(break_glass(), "sudo", "sudoedit", "visudo", "runuser");
    let codes = s.lab.generate(&s.user.name, &[]);
    let id = ["id".to_owned(), "-u".to_owned()];

    let first = sudo(None, &s.user, &id, &[&codes[7]]);
    assert_eq!(first.status, Some(0), "{first:?}");
    assert_eq!(first.stdout, "0\n", "the command ran as root: {first:?}");
    assert_eq!(first.code_prompts(), 1, "{first:?}");

    // The same code again: refused. sudo then asks again and finds the end
    // of stdin, so one failure is counted.
    let again = sudo(None, &s.user, &id, &[&codes[7]]);
    assert_eq!(again.status, Some(1), "{again:?}");
    assert!(again.stdout.is_empty(), "{again:?}");

    let status = s.lab.status(&s.user.name);
    assert_eq!(status["remaining"], 9);
    assert_eq!(status["failures"], 1);
    assert_eq!(status["uses"][0]["service"], s.service.name.as_str());
    assert!(
        status["uses"][0]["rhost"].is_null(),
        "sudo sets no remote host: {status}"
    );
}

#[test]
fn sudo_retries_count_as_failures_and_the_lockout_stops_the_prompts() {
    let s = or_skip!(break_glass(), "sudo", "sudoedit", "visudo", "runuser");
    let codes = s.lab.generate(&s.user.name, &[]);
    let id = ["id".to_owned(), "-u".to_owned()];

    // sudo asks passwd_tries (3) times; each wrong answer is a failure.
    let first = sudo(None, &s.user, &id, &["AAAAA-AAAAA", "BBBBB-BBBBB", "CCCCC-CCCCC"]);
    assert_eq!(first.status, Some(1), "{first:?}");
    assert_eq!(first.code_prompts(), 3, "{first:?}");
    assert!(
        first.stderr.contains("3 incorrect password attempts"),
        "{first:?}"
    );
    let status = s.lab.status(&s.user.name);
    assert_eq!(
        (status["failures"].as_u64(), status["locked"].as_bool()),
        (Some(3), Some(false))
    );

    // Failures 4 and 5 reach deny=5 and lock the codes: sudo's third try
    // gets PAM_MAXTRIES without a prompt.
    let second = sudo(None, &s.user, &id, &["DDDDD-DDDDD", "EEEEE-EEEEE", "FFFFF-FFFFF"]);
    assert_eq!(second.status, Some(1), "{second:?}");
    assert_eq!(
        second.code_prompts(),
        2,
        "locked after the 5th failure: {second:?}"
    );
    let status = s.lab.status(&s.user.name);
    assert_eq!(
        (status["failures"].as_u64(), status["locked"].as_bool()),
        (Some(5), Some(true))
    );

    // Locked: even a valid code is not asked for, and stays unused.
    let locked = sudo(None, &s.user, &id, &[&codes[0]]);
    assert_eq!(locked.status, Some(1), "{locked:?}");
    assert_eq!(locked.code_prompts(), 0, "{locked:?}");
    assert!(locked.stdout.is_empty(), "{locked:?}");
    assert_eq!(s.lab.status(&s.user.name)["remaining"], 10);

    // Root unlocks; the code works.
    let unlock = s.lab.cli().args(["unlock", &s.user.name]).run_cli();
    assert!(unlock.success(), "{unlock:?}");
    let after = sudo(None, &s.user, &id, &[&codes[0]]);
    assert_eq!(after.status, Some(0), "{after:?}");
    assert_eq!(after.stdout, "0\n", "{after:?}");
    let status = s.lab.status(&s.user.name);
    assert_eq!(
        (status["remaining"].as_u64(), status["failures"].as_u64()),
        (Some(9), Some(0))
    );
}
