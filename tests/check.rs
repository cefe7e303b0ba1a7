//! `backup-codes check` finds what would make the module refuse every login
//! through a stack, before pam-auth-update or an edited /etc/pam.d puts it
//! in front of users: each case below is refused by the module (a real
//! libpam transaction through `pam-driver`) and reported by `check`, which
//! runs without `--store`/`--config` as an admin runs it, in a private mount
//! namespace where /etc/pam.d and /etc/security hold the case's files.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::recipes::Mounts;
use common::system::run;
use common::{Lab, or_skip};

/// One setup: the configuration file, one pam.d service, and what the module
/// and `check` make of it.
struct Case<'a> {
    name: &'a str,
    config: String,
    /// The service's auth line, naming the module by its bare name.
    line: String,
    /// The module's result for a user who has codes, typing a right one.
    module: &'a str,
    /// What `check` must name on stderr (empty: no problem at all).
    reported: Vec<String>,
}

/// `backup-codes check` with `config` as /etc/security/pam_backup_codes.conf
/// and `service` as the only file of /etc/pam.d.
fn check(config: &str, service: &str) -> (Option<i32>, String, String) {
    let mut mounts = Mounts::new();
    mounts
        .only(Path::new("/etc/security"), &[("pam_backup_codes.conf", config)])
        .only(Path::new("/etc/pam.d"), &[("bc-check", service)]);
    let out = run(mounts.command(env!("CARGO_BIN_EXE_backup-codes")).arg("check"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_reports_every_setup_the_module_refuses() {
    let lab = or_skip!(Lab::new(), "unshare");
    let codes = lab.generate("kim", &[]);
    let good_config = format!("store = \"{}\"\n", lab.store.display());
    let insecure = lab.path().join("insecure");
    fs::create_dir(&insecure).unwrap();
    fs::set_permissions(&insecure, fs::Permissions::from_mode(0o777)).unwrap();
    // A private store inside a directory anyone may write to: whoever can
    // write there can swap the store for one of their own.
    let open_parent = lab.path().join("open-to-all");
    fs::create_dir(&open_parent).unwrap();
    fs::set_permissions(&open_parent, fs::Permissions::from_mode(0o777)).unwrap();
    let under_open = open_parent.join("store");
    fs::create_dir(&under_open).unwrap();
    fs::set_permissions(&under_open, fs::Permissions::from_mode(0o700)).unwrap();
    let corrupt_store = lab.path().join("corrupt");
    fs::create_dir(&corrupt_store).unwrap();
    fs::set_permissions(&corrupt_store, fs::Permissions::from_mode(0o700)).unwrap();
    fs::copy(lab.user_file("kim"), corrupt_store.join("kim.toml")).unwrap();
    fs::write(corrupt_store.join("lee.toml"), "version = 7\n").unwrap();
    fs::set_permissions(corrupt_store.join("lee.toml"), fs::Permissions::from_mode(0o600)).unwrap();
    let broken_config = lab.path().join("broken.conf");
    // A typo in a key: the file is refused as a whole.
    fs::write(&broken_config, "[login]\nnulok = true\n").unwrap();

    let cases = [
        Case {
            name: "all good",
            config: good_config.clone(),
            line: "auth required pam_backup_codes.so nullok".into(),
            module: "PAM_SUCCESS",
            reported: vec![],
        },
        Case {
            name: "a typo in the configuration file",
            config: format!("{good_config}[login]\nnulok = true\n"),
            line: format!(
                "auth required pam_backup_codes.so config={}",
                broken_config.display()
            ),
            module: "PAM_SERVICE_ERR",
            reported: vec!["pam_backup_codes.conf".into(), "nulok".into()],
        },
        Case {
            name: "an unknown option",
            config: good_config.clone(),
            line: "auth required pam_backup_codes.so nulok".into(),
            module: "PAM_SERVICE_ERR",
            reported: vec!["/etc/pam.d/bc-check:1".into(), "nulok".into()],
        },
        Case {
            name: "a malformed option",
            config: good_config.clone(),
            line: "auth required pam_backup_codes.so nullok deny=five".into(),
            module: "PAM_SERVICE_ERR",
            reported: vec!["/etc/pam.d/bc-check:1".into(), "deny=five".into()],
        },
        Case {
            name: "a config= file that does not exist",
            config: good_config.clone(),
            line: "auth required pam_backup_codes.so config=/nonexistent/backup-codes.conf".into(),
            module: "PAM_SERVICE_ERR",
            reported: vec!["/nonexistent/backup-codes.conf".into()],
        },
        Case {
            name: "an insecure store",
            config: good_config.clone(),
            line: format!(
                "auth required pam_backup_codes.so nullok store={}",
                insecure.display()
            ),
            module: "PAM_AUTHINFO_UNAVAIL",
            reported: vec![insecure.display().to_string()],
        },
        Case {
            name: "an insecure directory on the store's path",
            config: good_config.clone(),
            line: format!(
                "auth required pam_backup_codes.so nullok store={}",
                under_open.display()
            ),
            module: "PAM_AUTHINFO_UNAVAIL",
            reported: vec![open_parent.display().to_string()],
        },
        Case {
            name: "a corrupt user file",
            config: format!("store = \"{}\"\n", corrupt_store.display()),
            line: "auth required pam_backup_codes.so nullok".into(),
            // For lee, whose file is corrupt; kim's is fine.
            module: "PAM_AUTHINFO_UNAVAIL",
            reported: vec![corrupt_store.join("lee.toml").display().to_string()],
        },
    ];
    for case in &cases {
        // The module, through the same line and configuration.
        let config = lab.path().join("case.conf");
        fs::write(&config, &case.config).unwrap();
        let line = case.line.replacen("pam_backup_codes.so", "MODULE", 1);
        let line = if line.contains("config=") {
            line
        } else {
            format!("{line} config={}", config.display())
        };
        lab.service("bc-case", &format!("{line}\n"));
        let user = if case.name == "a corrupt user file" {
            "lee"
        } else {
            "kim"
        };
        let login = lab.login("bc-case", user, &[&codes[0]]);
        assert_eq!(login.result(), case.module, "{}: {login:?}", case.name);

        let (status, stdout, stderr) = check(&case.config, &format!("{}\n", case.line));
        if case.reported.is_empty() {
            assert_eq!(status, Some(0), "{}: {stdout}{stderr}", case.name);
            assert!(stdout.contains("ok: /etc/pam.d/bc-check:1"), "{stdout}");
            assert!(stderr.is_empty(), "{stderr}");
        } else {
            assert_eq!(status, Some(1), "{}: {stdout}{stderr}", case.name);
            for needle in &case.reported {
                assert!(
                    stderr.contains(needle.as_str()),
                    "{}: {needle} in {stderr}",
                    case.name
                );
            }
        }
    }
}

#[test]
fn a_store_that_does_not_exist_is_a_note_not_a_problem() {
    let lab = or_skip!(Lab::new(), "unshare");
    let missing = lab.path().join("missing");
    let (status, stdout, stderr) = check(
        &format!("store = \"{}\"\n", missing.display()),
        "auth required pam_backup_codes.so nullok\n",
    );
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "note: {}: the store directory does not exist: nobody has codes there",
            missing.display()
        )),
        "{stdout}"
    );
}
