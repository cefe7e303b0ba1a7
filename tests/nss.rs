//! The account behind the name (invariant 5 of docs/design.md): with an NSS source that
//! folds case and accepts qualified names, as SSSD or winbind with
//! `case_sensitive = false` do, `ALICE`, `Alice` and `alice@corp.example`
//! are alice's account for every other module, so they must need alice's
//! code, `nullok` or not. The source is a small NSS module
//! (tests/common/folding_nss.c) built here with cc and loaded, in a private
//! mount namespace, through an nsswitch.conf of its own bind-mounted over
//! /etc/nsswitch.conf; LD_LIBRARY_PATH, given only to the processes under
//! test, lets glibc find it. Nothing changes in the host's view.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::path::Path;

use common::system::{build_folding_nss, unique};
use common::{CliRun, Lab, Login, Mounted, RunCli, in_private_mounts, skip_unless};

const SVC: &str = "bc-nss";

/// Runs `body` with the folding NSS source for `canonical` in place; its
/// commands need `LD_LIBRARY_PATH` set to the path it is given. The caller
/// checks first that it can run (root and a C compiler).
fn with_folding_nss(canonical: &str, body: impl FnOnce(&Path) + Send) {
    let libs = tempfile::Builder::new().prefix("pbc-nss.").tempdir().unwrap();
    let module = build_folding_nss(libs.path(), canonical, 71_234, None);
    let conf = libs.path().join("nsswitch.conf");
    fs::write(&conf, common::nsswitch_with(&module)).unwrap();
    in_private_mounts(|| {
        let _conf = Mounted::bind(&conf, "/etc/nsswitch.conf");
        body(libs.path());
    });
}

fn login(lab: &Lab, libs: &Path, user: &str, answers: &[&str]) -> Login {
    let mut cmd = lab.login_cmd(SVC, user, answers);
    cmd.env("LD_LIBRARY_PATH", libs);
    lab.run(&mut cmd)
}

fn cli(lab: &Lab, libs: &Path, args: &[&str]) -> CliRun {
    lab.cli().env("LD_LIBRARY_PATH", libs).args(args).run_cli()
}

/// A lab that resolves names through the host's NSS (and so the folding
/// module), with [`SVC`] in the pam-auth-update profile's shape: a code from
/// users who have a set, after a password (pam_permit stands in for it).
fn host_nss_lab() -> Lab {
    let lab = Lab::new();
    lab.use_host_nss();
    lab.service(
        SVC,
        "auth required pam_permit.so\nauth required MODULE store=STORE nullok nodelay\n",
    );
    lab
}

#[test]
fn a_name_nss_folds_to_an_account_needs_that_accounts_code() {
    skip_unless!("cc");
    let canonical = unique("pbcalice");
    with_folding_nss(&canonical, |libs| {
        let lab = host_nss_lab();
        // generate resolves too: the set is stored under the canonical name.
        let upper = canonical.to_uppercase();
        let out = cli(&lab, libs, &["generate", "--format", "json", &upper]);
        assert!(out.success(), "{}", out.stderr);
        assert!(out.stderr.contains(&format!("the account is {canonical}")));
        assert_eq!(lab.store_listing(), [format!("{canonical}.toml")]);
        let sheet: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(sheet["user"], canonical.as_str());
        let codes: Vec<&str> = sheet["codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();

        let capitalised = format!("{}{}", &upper[..1], &canonical[1..]);
        let qualified = format!("{canonical}@corp.example");
        for (i, name) in [canonical.as_str(), &upper, &capitalised, &qualified]
            .into_iter()
            .enumerate()
        {
            let bare = login(&lab, libs, name, &[]);
            assert_eq!(bare.result(), "PAM_AUTH_ERR", "{name} without a code: {bare:?}");
            assert_eq!(bare.prompts(), ["Backup code: "], "{name}");
            let good = login(&lab, libs, name, &[codes[i]]);
            assert_eq!(good.result(), "PAM_SUCCESS", "{name} with the code: {good:?}");
            if name != canonical {
                assert!(
                    good.logged(&format!("user={name} account={canonical} ")),
                    "{:?}",
                    good.log
                );
            }
        }
        // Every use went to the one account.
        let status = cli(&lab, libs, &["status", "--format", "json", &canonical]);
        let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
        assert_eq!(status[0]["remaining"], 6);
    });
}

#[test]
fn a_name_nss_does_not_know_is_prompted_and_refused_even_with_nullok() {
    skip_unless!("cc");
    let canonical = unique("pbcalice");
    with_folding_nss(&canonical, |libs| {
        let lab = host_nss_lab();
        let stranger = unique("nobody");
        for answers in [&[][..], &["ABCDE-FGHJK"]] {
            let refused = login(&lab, libs, &stranger, answers);
            assert_eq!(refused.result(), "PAM_AUTH_ERR", "{refused:?}");
            assert_eq!(refused.prompts(), ["Backup code: "], "the same prompt as anyone");
            assert!(refused.logged("no such account"), "{:?}", refused.log);
        }
        // A known account without a set is still ignored under nullok.
        let ignored = login(&lab, libs, &canonical.to_uppercase(), &[]);
        assert_eq!(ignored.result(), "PAM_SUCCESS", "{ignored:?}");
        assert!(ignored.prompts().is_empty());

        // generate refuses names NSS does not know, unless told to.
        let out = cli(&lab, libs, &["generate", &stranger]);
        assert_eq!(out.status, Some(1));
        let err = out.stderr;
        assert!(
            err.contains("no such account") && err.contains("--allow-unknown"),
            "{err}"
        );
        assert!(lab.store_listing().is_empty(), "nothing stored");
        let out = cli(
            &lab,
            libs,
            &["generate", "--allow-unknown", "--format", "json", &stranger],
        );
        assert!(out.success(), "{}", out.stderr);
        assert_eq!(lab.store_listing(), [format!("{stranger}.toml")]);
        // Enrolled, but still not an account: refused whatever the code.
        let sheet: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let code = sheet["codes"][0].as_str().unwrap();
        assert_eq!(login(&lab, libs, &stranger, &[code]).result(), "PAM_AUTH_ERR");
    });
}

#[test]
fn every_command_acts_on_the_account_a_folded_name_stands_for() {
    skip_unless!("cc");
    let canonical = unique("pbcalice");
    with_folding_nss(&canonical, |libs| {
        let lab = host_nss_lab();
        let upper = canonical.to_uppercase();
        let capitalised = format!("{}{}", &upper[..1], &canonical[1..]);
        let qualified = format!("{canonical}@corp.example");
        let ok = |args: &[&str]| {
            let out = cli(&lab, libs, args);
            assert!(out.success(), "{args:?}: {}", out.stderr);
            out
        };
        let json = |args: &[&str]| -> serde_json::Value { serde_json::from_str(&ok(args).stdout).unwrap() };
        let line = |args: &[&str]| -> serde_json::Value {
            let out = ok(args);
            serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap()
        };
        let sheet = line(&["generate", "--format", "json", &upper]);
        let codes = common::codes(&sheet);
        // generate --if-missing: the folded name has a set already.
        let again = ok(&["generate", "--if-missing", &capitalised]);
        assert!(again.stdout.is_empty());
        // add: to the account's set, not a new one under the typed name.
        let added = line(&["add", &qualified, "--expires", "1h", "--format", "json"]);
        assert_eq!(added["user"], canonical.as_str());
        assert_eq!(lab.store_listing(), [format!("{canonical}.toml")]);

        // status and list show the account's set under its own name.
        for name in [&upper, &capitalised, &qualified] {
            let status = json(&["status", "--format", "json", name]);
            assert_eq!(
                (status[0]["user"].as_str(), status[0]["total"].as_u64()),
                (Some(canonical.as_str()), Some(11)),
                "{name}"
            );
        }
        let list = json(&["list", "--format", "json"]);
        assert_eq!(common::users(&list), [canonical.as_str()]);

        // unlock: the account's failures.
        for _ in 0..2 {
            login(&lab, libs, &upper, &["ZZZZZ-ZZZZZ"]);
        }
        let unlocked = line(&["unlock", "--format", "json", &capitalised]);
        assert_eq!(
            (unlocked["user"].as_str(), unlocked["failures_cleared"].as_u64()),
            (Some(canonical.as_str()), Some(2))
        );

        // revoke ALICE: the stolen sheet stops working, under every name.
        let out = ok(&["revoke", &upper]);
        let text = out.stdout;
        assert!(text.starts_with(&format!("{canonical}: codes revoked")), "{text}");
        for name in [canonical.as_str(), &upper, &qualified] {
            assert_eq!(
                login(&lab, libs, name, &[&codes[0]]).result(),
                "PAM_AUTH_ERR",
                "{name}"
            );
        }
        // revoke --unenroll under another spelling removes the account's set.
        ok(&["revoke", "--unenroll", &qualified]);
        assert!(lab.store_listing().is_empty());

        // A name NSS does not know but the store has (an account gone):
        // refused, with the way out; --allow-unknown acts on it as typed.
        let gone = unique("pbcgone");
        ok(&["generate", "--allow-unknown", &gone]);
        for command in ["status", "unlock", "revoke"] {
            let out = cli(&lab, libs, &[command, &gone]);
            assert_eq!(out.status, Some(1), "{command}");
            let err = out.stderr;
            assert!(
                err.contains("no such account") && err.contains("--allow-unknown"),
                "{err}"
            );
        }
        ok(&["unlock", "--allow-unknown", &gone]);
        let out = ok(&["revoke", "--allow-unknown", &gone]);
        assert!(out.stdout.contains("codes revoked"));
        let status = json(&["status", "--allow-unknown", "--format", "json", &gone]);
        assert!(status[0]["revoked"].is_string(), "{status}");
    });
}
