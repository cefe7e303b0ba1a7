//! Sheets encrypted to the user, end to end: `generate` and `add` with
//! `--encrypt-to-ssh-key` read a real account's ~/.ssh/authorized_keys and
//! write USER.age; Debian's `age` decrypts it with the user's private key,
//! and the codes on it log in through the real module.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::system::{TestUser, keygen, run};
use common::{Lab, or_skip};

const SVC: &str = "bc-encrypt";

/// `user`'s ~/.ssh/authorized_keys holds `text`, owned by the user, as
/// ssh-copy-id leaves it (.ssh 0700, the file 0600).
fn authorized_keys(user: &TestUser, text: &str) {
    let ssh = user.home.join(".ssh");
    fs::create_dir_all(&ssh).unwrap();
    let (uid, gid) = user.ids();
    nix::unistd::chown(&ssh, Some(uid.into()), Some(gid.into())).unwrap();
    fs::set_permissions(&ssh, fs::Permissions::from_mode(0o700)).unwrap();
    user.home_file(".ssh/authorized_keys", text, 0o600);
}

/// An ssh key pair made in `dir`: (private key, public key line).
fn key_pair(dir: &Path, name: &str, kind: &[&str]) -> (PathBuf, String) {
    let private = dir.join(name);
    if kind.is_empty() {
        keygen(&private);
    } else {
        let out = run(Command::new("ssh-keygen")
            .args(["-q", "-N", ""])
            .args(kind)
            .arg("-f")
            .arg(&private));
        assert!(out.status.success(), "{out:?}");
    }
    let public = fs::read_to_string(private.with_extension("pub")).unwrap();
    (private, public.trim().to_owned())
}

/// `age -d -i IDENTITY FILE`: the plain text, or what age said.
fn age_decrypt(identity: &Path, file: &Path) -> Result<String, String> {
    let out = run(Command::new("age").arg("-d").arg("-i").arg(identity).arg(file));
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The codes on a text sheet: `XXXXX-XXXXX`, with `-C` (the check symbol)
/// on new sets.
fn codes(sheet: &str) -> Vec<String> {
    sheet
        .split_whitespace()
        .filter(|w| {
            let b = w.as_bytes();
            (b.len() == 11 || (b.len() == 13 && b[11] == b'-')) && b[5] == b'-'
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn an_encrypted_sheet_opens_with_the_users_ssh_key_and_its_codes_log_in() {
    let lab = or_skip!(Lab::new(), "age", "ssh-keygen", "useradd", "userdel");
    lab.simple_service(SVC, "nodelay");
    let user = TestUser::new();
    let keys = lab.path().join("keys");
    fs::create_dir(&keys).unwrap();
    let (private, public) = key_pair(&keys, "id_ed25519", &[]);
    let (rsa_private, rsa) = key_pair(&keys, "id_rsa", &["-t", "rsa", "-b", "2048"]);
    let (_, ecdsa) = key_pair(&keys, "id_ecdsa", &["-t", "ecdsa"]);
    let (other_private, _) = key_pair(&keys, "other", &[]);
    // An options-prefixed line, and a key type age cannot encrypt to.
    authorized_keys(
        &user,
        &format!("# laptop\nrestrict,command=\"echo \\\"hi there\\\"\" {public}\n{ecdsa}\n{rsa}\n"),
    );
    let sheets = lab.path().join("sheets");

    let out = lab
        .cli()
        .args(["generate", &user.name, "--encrypt-to-ssh-key", "--output"])
        .arg(&sheets)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "nothing printed: {out:?}");
    assert!(
        stderr.contains("authorized_keys:3: ecdsa-sha2-nistp256 keys cannot be age recipients")
            && stderr.contains("skipped"),
        "{stderr}"
    );
    let file = sheets.join(format!("{}.age", user.name));
    let meta = fs::metadata(&file).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600, "{}", file.display());
    let bytes = fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1\n"), "an age file");
    assert!(codes(&String::from_utf8_lossy(&bytes)).is_empty());

    // Another key cannot read it; the user's can.
    assert!(age_decrypt(&other_private, &file).is_err());
    let sheet = age_decrypt(&private, &file).unwrap();
    assert_eq!(
        age_decrypt(&rsa_private, &file).unwrap(),
        sheet,
        "the RSA key too"
    );
    assert!(
        sheet.contains(&format!("Backup codes for {}", user.name)),
        "{sheet}"
    );
    let plain = codes(&sheet);
    assert_eq!(plain.len(), 10, "{sheet}");
    assert_eq!(lab.login(SVC, &user.name, &[&plain[2]]).result(), "PAM_SUCCESS");
    assert_eq!(lab.login(SVC, &user.name, &[&plain[2]]).result(), "PAM_AUTH_ERR");

    // add: temporary codes, encrypted the same way, into another directory.
    let extra = lab.path().join("extra");
    let out = lab
        .cli()
        .args([
            "add",
            &user.name,
            "--count",
            "2",
            "--expires",
            "1h",
            "--encrypt-to-ssh-key",
            "--output",
        ])
        .arg(&extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let temporary = codes(&age_decrypt(&private, &extra.join(format!("{}.age", user.name))).unwrap());
    assert_eq!(temporary.len(), 2);
    assert_eq!(
        lab.login(SVC, &user.name, &[&temporary[1]]).result(),
        "PAM_SUCCESS"
    );
    assert_eq!(lab.login(SVC, &user.name, &[&plain[0]]).result(), "PAM_SUCCESS");
}

#[test]
fn encryption_never_prints_a_code_and_skips_users_without_a_key() {
    let lab = or_skip!(
        Lab::new(),
        "age",
        "age-keygen",
        "ssh-keygen",
        "useradd",
        "userdel"
    );
    let with_key = TestUser::new();
    let without = TestUser::new();
    let keys = lab.path().join("keys");
    fs::create_dir(&keys).unwrap();
    let (_, public) = key_pair(&keys, "id_ed25519", &[]);
    authorized_keys(&with_key, &format!("{public}\n"));
    // A .ssh others may write to: not trusted, the user is skipped too.
    authorized_keys(&without, &format!("{public}\n"));
    fs::set_permissions(without.home.join(".ssh"), fs::Permissions::from_mode(0o777)).unwrap();

    // With encryption but no --output: a usage error, nothing generated.
    let out = lab
        .cli()
        .args(["generate", &with_key.name, "--encrypt-to-ssh-key"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(!lab.user_file(&with_key.name).exists());

    // An escrow recipient (an age key) added for every sheet, and a bulk
    // run where one user cannot be encrypted to.
    let identity = keys.join("escrow.txt");
    let out = run(Command::new("age-keygen").arg("-o").arg(&identity));
    assert!(out.status.success(), "{out:?}");
    let escrow = String::from_utf8_lossy(&out.stderr)
        .trim()
        .strip_prefix("Public key: ")
        .unwrap()
        .to_owned();
    let sheets = lab.path().join("sheets");
    let out = lab
        .cli()
        .args(["generate", &with_key.name, &without.name, "--encrypt-to-ssh-key"])
        .args(["--recipient", &escrow, "--output"])
        .arg(&sheets)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        stderr.contains(&format!("{}: ", without.name)) && stderr.contains("lets group or others write"),
        "{stderr}"
    );
    assert!(!lab.user_file(&without.name).exists(), "no set nobody can read");
    assert!(!sheets.join(format!("{}.age", without.name)).exists());
    let sheet = age_decrypt(&identity, &sheets.join(format!("{}.age", with_key.name))).unwrap();
    assert_eq!(codes(&sheet).len(), 10, "{sheet}");
    assert!(lab.user_file(&with_key.name).exists());
}

#[test]
fn in_a_bulk_run_each_sheet_is_its_own_users_and_only_theirs() {
    let lab = or_skip!(Lab::new(), "age", "ssh-keygen", "useradd", "userdel");
    lab.simple_service(SVC, "nodelay");
    let users: Vec<TestUser> = (0..4).map(|_| TestUser::new()).collect();
    let keys = lab.path().join("keys");
    fs::create_dir(&keys).unwrap();
    let pairs: Vec<(PathBuf, String)> = users
        .iter()
        .map(|user| {
            let pair = key_pair(&keys, &user.name, &[]);
            authorized_keys(user, &format!("{}\n", pair.1));
            pair
        })
        .collect();
    let list = lab.path().join("staff.txt");
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    fs::write(&list, names.join("\n") + "\n").unwrap();
    let sheets = lab.path().join("sheets");
    let out = lab
        .cli()
        .arg("generate")
        .arg("--users-from")
        .arg(&list)
        .args(["--encrypt-to-ssh-key", "--output"])
        .arg(&sheets)
        .env("RAYON_NUM_THREADS", "4")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    for (i, user) in users.iter().enumerate() {
        let file = sheets.join(format!("{}.age", user.name));
        for (j, (private, _)) in pairs.iter().enumerate() {
            let opened = age_decrypt(private, &file);
            if i == j {
                let sheet = opened.unwrap();
                assert!(
                    sheet.contains(&format!("Backup codes for {}", user.name)),
                    "{sheet}"
                );
                // The sheet's codes are this user's set.
                let plain = codes(&sheet);
                assert_eq!(lab.login(SVC, &user.name, &[&plain[9]]).result(), "PAM_SUCCESS");
            } else {
                assert!(
                    opened.is_err(),
                    "{}'s sheet opened with {}'s key",
                    user.name,
                    users[j].name
                );
            }
        }
    }
}
