//! Real sudo: a test user whose sudoers entry sends it to the
//! `sudo-backup-codes` example service (with the freshly built module and a
//! temporary store) runs `sudo -S id -u` with a code on stdin.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::process::{Command, Output};

use common::system::{PamService, Sudoers, TestUser, example_for, run_with_input};
use common::{Lab, or_skip};

const PROMPT: &str = "Backup code: ";

struct Setup {
    lab: Lab,
    user: TestUser,
    service: PamService,
    _sudoers: Sudoers,
}

fn setup() -> Setup {
    let lab = Lab::new();
    let user = TestUser::new();
    let service = PamService::install("bc-sudo-", &example_for(&lab, "sudo-backup-codes"));
    // timestamp_timeout=0: every sudo asks (no cached success between the
    // runs below); passwd_tries=3 is sudo's default, stated for clarity.
    let sudoers = Sudoers::install(&format!(
        "Defaults:{u} pam_service={s}, !lecture, timestamp_timeout=0, passwd_tries=3\n\
         {u} ALL=(root) ALL\n",
        u = user.name,
        s = service.name
    ));
    Setup {
        lab,
        user,
        service,
        _sudoers: sudoers,
    }
}

/// What one `sudo -S id -u` run by the test user did.
#[derive(Debug)]
struct SudoRun {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

impl SudoRun {
    /// How many times the module asked for a code.
    fn prompts(&self) -> usize {
        self.stderr.matches(PROMPT).count()
    }
}

/// Runs `sudo -S id -u` as the test user, `answers` one a line on stdin.
fn sudo(setup: &Setup, answers: &[&str]) -> SudoRun {
    let input: String = answers.iter().map(|a| format!("{a}\n")).collect();
    let out: Output = run_with_input(
        Command::new("runuser").args(["-u", &setup.user.name, "--", "sudo", "-S", "id", "-u"]),
        &input,
    );
    SudoRun {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_code_runs_the_command_as_root_once() {
    let s = or_skip!(setup(), "sudo", "visudo", "runuser");
    let codes = s.lab.generate(&s.user.name, &[]);

    let first = sudo(&s, &[&codes[7]]);
    assert_eq!(first.status, Some(0), "{first:?}");
    assert_eq!(first.stdout, "0\n", "the command ran as root: {first:?}");
    assert_eq!(first.prompts(), 1, "{first:?}");

    // The same code again: refused. sudo then asks again and finds the end
    // of stdin, so one failure is counted.
    let again = sudo(&s, &[&codes[7]]);
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
    let s = or_skip!(setup(), "sudo", "visudo", "runuser");
    let codes = s.lab.generate(&s.user.name, &[]);

    // sudo asks passwd_tries (3) times; each wrong answer is a failure.
    let first = sudo(&s, &["AAAAA-AAAAA", "BBBBB-BBBBB", "CCCCC-CCCCC"]);
    assert_eq!(first.status, Some(1), "{first:?}");
    assert_eq!(first.prompts(), 3, "{first:?}");
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
    let second = sudo(&s, &["DDDDD-DDDDD", "EEEEE-EEEEE", "FFFFF-FFFFF"]);
    assert_eq!(second.status, Some(1), "{second:?}");
    assert_eq!(second.prompts(), 2, "locked after the 5th failure: {second:?}");
    let status = s.lab.status(&s.user.name);
    assert_eq!(
        (status["failures"].as_u64(), status["locked"].as_bool()),
        (Some(5), Some(true))
    );

    // Locked: even a valid code is not asked for, and stays unused.
    let locked = sudo(&s, &[&codes[0]]);
    assert_eq!(locked.status, Some(1), "{locked:?}");
    assert_eq!(locked.prompts(), 0, "{locked:?}");
    assert!(locked.stdout.is_empty(), "{locked:?}");
    assert_eq!(s.lab.status(&s.user.name)["remaining"], 10);

    // Root unlocks; the code works.
    let unlock = s.lab.cli().args(["unlock", &s.user.name]).output().unwrap();
    assert!(unlock.status.success(), "{unlock:?}");
    let after = sudo(&s, &[&codes[0]]);
    assert_eq!(after.status, Some(0), "{after:?}");
    assert_eq!(after.stdout, "0\n", "{after:?}");
    let status = s.lab.status(&s.user.name);
    assert_eq!(
        (status["remaining"].as_u64(), status["failures"].as_u64()),
        (Some(9), Some(0))
    );
}
