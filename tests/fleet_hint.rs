//! Login hints on the fleet store: root's local note of a user's hashing
//! (code format, KDF parameters, salt) lets a login prompt without a
//! connection first, and can only ever cause a prompt. The database stays
//! the only authority: a stale salt costs a second hash and nothing else, a
//! revoked, locked or removed set is answered as without the hint, a hint
//! that is not root's and private is ignored and logged, and a database
//! that is down fails closed after the prompt.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use common::or_skip;
use common::postgres::{Fleet, NEEDS};

const USER: &str = "hintuser";

/// The hint file of `USER` on `host`.
fn hint(fleet: &Fleet, host: &str) -> PathBuf {
    fleet.hint_dir(host).join(format!("{USER}.toml"))
}

/// The salt line of a hint.
fn salt_of(path: &PathBuf) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .find(|l| l.starts_with("salt"))
        .unwrap_or_else(|| panic!("no salt in {text}"))
        .to_owned()
}

#[test]
fn a_login_leaves_a_private_hint_and_the_next_one_prompts_before_any_connection() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "");
    let codes = fleet.generate(USER, &[]);
    assert!(!hint(&fleet, "web1").exists());
    let login = fleet.lab.login("web1", USER, &[&codes[0]]);
    assert_eq!(login.result(), "PAM_SUCCESS", "{login:?}");
    // Root's, private, in a private directory; the hashing and no hash.
    let path = hint(&fleet, "web1");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o600));
    let dir = std::fs::metadata(fleet.hint_dir("web1")).unwrap();
    assert_eq!((dir.uid(), dir.mode() & 0o777), (0, 0o700));
    let text = std::fs::read_to_string(&path).unwrap();
    for key in [
        "store",
        "user",
        "alphabet",
        "length",
        "check_symbol",
        "salt",
        "m_cost",
    ] {
        assert!(text.contains(key), "{key} in {text}");
    }
    for secret in ["hash", "locked", "failures"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    // The database stopped: with the hint the user is prompted (no
    // connection came first), then refused, closed, and nothing is spent.
    fleet.cluster.stop();
    let login = fleet.lab.login("web1", USER, &[&codes[1]]);
    assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{login:?}");
    assert_eq!(login.prompts().len(), 1, "prompted on the hint: {login:?}");
    assert!(login.logged("cannot connect"), "{:?}", login.log);
    // A user without a hint is not prompted: no hint, no prompt without the store.
    fleet.lab.add_user("nohint");
    let login = fleet.lab.login("web1", "nohint", &[&codes[1]]);
    assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{login:?}");
    assert!(login.prompts().is_empty(), "{login:?}");
    fleet.cluster.start_again();
    assert!(fleet.uses(USER).len() == 1, "{:?}", fleet.uses(USER));
    let login = fleet.lab.login("web1", USER, &[&codes[1]]);
    assert_eq!(login.result(), "PAM_SUCCESS", "{login:?}");
    assert_eq!(fleet.status(USER)["failures"], 0);
}

#[test]
fn a_stale_hint_after_a_replacement_costs_a_second_hash_and_no_failure() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "");
    fleet.host("web2", "nodelay", "");
    let old = fleet.generate(USER, &[]);
    assert_eq!(fleet.lab.login("web1", USER, &[&old[0]]).result(), "PAM_SUCCESS");
    let stale = salt_of(&hint(&fleet, "web1"));
    // Replaced from another host's CLI: web1's hint names the old salt.
    let new = fleet.generate(USER, &[]);
    let login = fleet.lab.login("web1", USER, &[&new[0]]);
    assert_eq!(login.result(), "PAM_SUCCESS", "{login:?}");
    assert_eq!(
        fleet.status(USER)["failures"],
        0,
        "the stale salt counted nothing"
    );
    let fresh = salt_of(&hint(&fleet, "web1"));
    assert_ne!(fresh, stale, "the hint follows the database");
    // An old code is wrong for the new set, counted once like any wrong code.
    let login = fleet.lab.login("web1", USER, &[&old[1]]);
    assert_eq!(login.result(), "PAM_AUTH_ERR", "{login:?}");
    assert_eq!(fleet.status(USER)["failures"], 1);
    // Another format: under the hint's (Crockford with a check symbol), an
    // 11-digit code can look like a typo; the database's format decides.
    let digits = fleet.generate(USER, &["--alphabet", "digits", "--length", "11"]);
    let login = fleet.lab.login("web1", USER, &[&digits[0]]);
    assert_eq!(login.result(), "PAM_SUCCESS", "{login:?}");
    assert!(login.errors().is_empty(), "no typo message: {login:?}");
    assert_eq!(fleet.uses(USER).len(), 1, "the new set's first code");
}

#[test]
fn a_hint_of_a_revoked_locked_or_removed_set_only_prompts() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "");
    fleet.host("web2", "nodelay nullok", "");
    fleet.cli_ok(&[
        "db",
        "policy",
        "--deny",
        "2",
        "--fail-interval",
        "900",
        "--unlock-time",
        "900",
    ]);
    let codes = fleet.generate(USER, &[]);
    for host in ["web1", "web2"] {
        assert_eq!(
            fleet
                .lab
                .login(host, USER, &[&codes[0..2][usize::from(host == "web2")]])
                .result(),
            "PAM_SUCCESS"
        );
        assert!(hint(&fleet, host).exists());
    }
    // Revoked: prompted (on the hint, as without it), refused, nothing spent.
    fleet.cli_ok(&["revoke", USER]);
    let login = fleet.lab.login("web1", USER, &[&codes[2]]);
    assert_eq!(login.result(), "PAM_AUTH_ERR", "{login:?}");
    assert!(login.logged("revoked"), "{:?}", login.log);
    // Locked by failures elsewhere (web2's two): web1 still holds a hint, so
    // it prompts, and the database refuses even a right code.
    let fresh = fleet.generate(USER, &[]);
    for _ in 0..2 {
        let login = fleet.lab.login("web2", USER, &["AAAAA-AAAAA"]);
        assert_eq!(login.result(), "PAM_AUTH_ERR");
    }
    assert!(!hint(&fleet, "web2").exists(), "the lock removed web2's hint");
    let login = fleet.lab.login("web1", USER, &[&fresh[0]]);
    assert_eq!(login.result(), "PAM_MAXTRIES", "{login:?}");
    assert_eq!(login.prompts().len(), 1, "{login:?}");
    // Told of the lock, web1 dropped its hint: no prompt while locked.
    assert!(!hint(&fleet, "web1").exists());
    let login = fleet.lab.login("web1", USER, &[&fresh[0]]);
    assert_eq!(login.result(), "PAM_MAXTRIES", "{login:?}");
    assert!(login.prompts().is_empty(), "{login:?}");
    fleet.cli_ok(&["unlock", USER]);
    assert_eq!(
        fleet.lab.login("web1", USER, &[&fresh[0]]).result(),
        "PAM_SUCCESS"
    );
    assert_eq!(
        fleet.lab.login("web2", USER, &[&fresh[1]]).result(),
        "PAM_SUCCESS"
    );
    assert!(hint(&fleet, "web1").exists() && hint(&fleet, "web2").exists());
    // Unenrolled: the database's answer is "no set", and the outcome is
    // that of a user without a set: refused without nullok, ignored with it.
    fleet.cli_ok(&["revoke", "--unenroll", USER]);
    let login = fleet.lab.login("web1", USER, &[&fresh[2]]);
    assert_eq!(login.result(), "PAM_AUTH_ERR", "{login:?}");
    assert!(login.logged("event=no-codes "), "{:?}", login.log);
    let login = fleet.lab.login("web2", USER, &[&fresh[2]]);
    // PAM_IGNORE: the stack's only module decided nothing, so libpam denies.
    assert!(login.logged("event=no-codes-ignored"), "{login:?}");
    assert_eq!(login.result(), "PAM_PERM_DENIED", "{login:?}");
    for host in ["web1", "web2"] {
        assert!(!hint(&fleet, host).exists(), "{host}: the hint went with the set");
    }
}

/// A way to tamper with a hint file.
type Forgery<'a> = Box<dyn Fn() + 'a>;

#[test]
fn a_hint_that_is_not_roots_and_private_is_ignored_and_logged() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    let codes = fleet.logged_in_once("web1", USER);
    let path = hint(&fleet, "web1");
    let forgeries: [(&str, Forgery); 3] = [
        (
            "readable by others",
            Box::new(|| {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            }),
        ),
        (
            "another owner",
            Box::new(|| {
                std::os::unix::fs::chown(&path, Some(1), None).unwrap();
            }),
        ),
        (
            "a link",
            Box::new(|| {
                let target = fleet.lab.path().join("elsewhere.toml");
                std::fs::copy(&path, &target).unwrap();
                std::fs::remove_file(&path).unwrap();
                std::os::unix::fs::symlink(&target, &path).unwrap();
            }),
        ),
    ];
    for (i, (what, forge)) in forgeries.iter().enumerate() {
        forge();
        // With the database down: an ignored hint means no prompt.
        fleet.cluster.stop();
        let login = fleet.lab.login("web1", USER, &[&codes[i + 1]]);
        assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{what}: {login:?}");
        assert!(
            login.prompts().is_empty(),
            "{what}: the forged hint caused a prompt: {login:?}"
        );
        assert!(login.logged("event=hint-ignored"), "{what}: {:?}", login.log);
        fleet.cluster.start_again();
        // The database asked first, the login works and the hint is root's again.
        let login = fleet.lab.login("web1", USER, &[&codes[i + 1]]);
        assert_eq!(login.result(), "PAM_SUCCESS", "{what}: {login:?}");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file(), "{what}");
        assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o600), "{what}");
    }
    // A directory others may write to: every hint in it is ignored.
    std::fs::set_permissions(fleet.hint_dir("web1"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let login = fleet.lab.login("web1", USER, &[&codes[4]]);
    assert_eq!(login.result(), "PAM_SUCCESS", "{login:?}");
    assert!(login.logged("event=hint-ignored"), "{:?}", login.log);
}

#[test]
fn hints_are_off_with_an_empty_hint_dir() {
    let fleet = or_skip!(Fleet::new(), needs = NEEDS);
    fleet.host("web1", "nodelay", "hint_dir = \"\"");
    let codes = fleet.generate(USER, &[]);
    assert_eq!(
        fleet.lab.login("web1", USER, &[&codes[0]]).result(),
        "PAM_SUCCESS"
    );
    assert!(!fleet.hint_dir("web1").exists());
    fleet.cluster.stop();
    let login = fleet.lab.login("web1", USER, &[&codes[1]]);
    assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{login:?}");
    assert!(login.prompts().is_empty(), "{login:?}");
    fleet.cluster.start_again();
}
