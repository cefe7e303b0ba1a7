//! Invariants 3 to 7 of docs/design.md against a hostile store, hostile input and a
//! faulty disk: every case is refused, logged with its path and reason,
//! never a crash, and the store is never rewritten by a refused login.
//! (tests/pam.rs covers the first few: modes 0644/0770, wrong owners, a
//! symlinked file, garbage content, the simplest bad user names.)
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::{FileSnapshot, Lab, Mounted, RunCli, bare, in_private_mounts, or_skip, skip_unless};

const SVC: &str = "bc-hostile";

/// The suite's lab: [`SVC`] is the module alone with `options`.
fn lab(options: &str) -> Lab {
    Lab::with_service(SVC, options)
}

fn max_rss_kib(login: &common::Login) -> u64 {
    login.lines("maxrss-kib: ").last().unwrap().parse().unwrap()
}

/// Replaces the one line starting with `key = ` in a store file's text.
fn set_line(text: &str, key: &str, line: &str) -> String {
    let prefix = format!("{key} = ");
    assert!(text.lines().any(|l| l.starts_with(&prefix)), "{key} in {text}");
    text.lines()
        .map(|l| {
            if l.starts_with(&prefix) {
                line.to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn write_private(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

/// What puts a hostile file in place.
type Setup<'a> = Box<dyn Fn() + 'a>;

#[test]
fn hostile_store_files_are_refused_logged_and_never_rewritten() {
    let lab = or_skip!(lab(""));
    let codes = lab.generate("frank", &[]);
    let file = lab.user_file("frank");
    let good = fs::read_to_string(&file).unwrap();
    let store = lab.store.to_str().unwrap().to_owned();
    let elsewhere = lab.path().join("elsewhere");
    let reset = || {
        let _ = fs::remove_file(&file);
        let _ = fs::remove_dir_all(&file);
        let _ = fs::remove_file(&elsewhere);
    };

    let huge_m = set_line(&good, "m_cost", "m_cost = 4194304");
    let short_hash = set_line(&good, "hash", &format!("hash = \"{}\"", base64(&[7u8; 31])));
    let long_hash = set_line(&good, "hash", &format!("hash = \"{}\"", base64(&[7u8; 64])));
    let mut non_utf8 = good.clone().into_bytes();
    non_utf8.extend_from_slice(b"# \xff\xfe\n");
    let mut oversized = good.clone();
    while oversized.len() <= 1024 * 1024 {
        oversized.push_str("# padding padding padding padding padding padding padding\n");
    }
    let cases: Vec<(&str, &str, Setup)> = vec![
        (
            "hard link",
            "2 hard links",
            Box::new(|| {
                write_private(&file, good.as_bytes());
                fs::hard_link(&file, &elsewhere).unwrap();
            }),
        ),
        (
            "FIFO",
            "a FIFO",
            Box::new(|| {
                nix::unistd::mkfifo(&file, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
            }),
        ),
        (
            "device node",
            "a device node",
            Box::new(|| {
                // /dev/zero: reading it would never end.
                nix::sys::stat::mknod(
                    &file,
                    nix::sys::stat::SFlag::S_IFCHR,
                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                    nix::sys::stat::makedev(1, 5),
                )
                .unwrap();
            }),
        ),
        (
            "directory",
            "a directory",
            Box::new(|| {
                fs::create_dir(&file).unwrap();
                write_private(&file.join("x"), good.as_bytes());
            }),
        ),
        (
            "group-readable",
            "mode 0640",
            Box::new(|| {
                write_private(&file, good.as_bytes());
                lab.chmod(&file, 0o640);
            }),
        ),
        (
            "world-writable",
            "mode 0602",
            Box::new(|| {
                write_private(&file, good.as_bytes());
                lab.chmod(&file, 0o602);
            }),
        ),
        (
            "more than 1 MiB",
            "more than 1048576",
            Box::new(|| write_private(&file, oversized.as_bytes())),
        ),
        (
            "not UTF-8",
            "not UTF-8",
            Box::new(|| write_private(&file, &non_utf8)),
        ),
        (
            "truncated TOML",
            "invalid TOML",
            Box::new(|| write_private(&file, &good.as_bytes()[..good.len() * 2 / 3])),
        ),
        ("empty", "missing field", Box::new(|| write_private(&file, b""))),
        (
            "unknown top-level field",
            "unknown field",
            Box::new(|| {
                write_private(&file, format!("admin = true\n{good}").as_bytes());
            }),
        ),
        (
            "unknown kdf field",
            "unknown field",
            Box::new(|| {
                write_private(
                    &file,
                    good.replace("[kdf]\n", "[kdf]\npepper = \"x\"\n").as_bytes(),
                );
            }),
        ),
        (
            "hash of 31 bytes",
            "31 bytes where 32 belong",
            Box::new(|| write_private(&file, short_hash.as_bytes())),
        ),
        (
            "hash of 64 bytes",
            "64 bytes where 32 belong",
            Box::new(|| write_private(&file, long_hash.as_bytes())),
        ),
        (
            "hash not base64",
            "not base64",
            Box::new(|| {
                write_private(&file, set_line(&good, "hash", "hash = \"!!!!\"").as_bytes());
            }),
        ),
        (
            "m_cost of 4 GiB",
            "m_cost = 4194304",
            Box::new(|| write_private(&file, huge_m.as_bytes())),
        ),
        (
            "m_cost just above the range",
            "m_cost = 262145",
            Box::new(|| {
                write_private(&file, set_line(&good, "m_cost", "m_cost = 262145").as_bytes());
            }),
        ),
        (
            "t_cost of 2^32-1",
            "t_cost = 4294967295",
            Box::new(|| {
                write_private(&file, set_line(&good, "t_cost", "t_cost = 4294967295").as_bytes());
            }),
        ),
        (
            "p_cost of 255",
            "p_cost = 255",
            Box::new(|| {
                write_private(&file, set_line(&good, "p_cost", "p_cost = 255").as_bytes());
            }),
        ),
        (
            "negative m_cost",
            "invalid",
            Box::new(|| {
                write_private(&file, set_line(&good, "m_cost", "m_cost = -1").as_bytes());
            }),
        ),
        (
            "argon2 v1.0",
            "version 16",
            Box::new(|| {
                write_private(&file, good.replacen("version = 19", "version = 16", 1).as_bytes());
            }),
        ),
        (
            "salt too short",
            "8 bytes where 16 belong",
            Box::new(|| {
                write_private(
                    &file,
                    set_line(&good, "salt", &format!("salt = \"{}\"", base64(&[1; 8]))).as_bytes(),
                );
            }),
        ),
        (
            "unknown version",
            "unknown file version 2",
            Box::new(|| {
                write_private(
                    &file,
                    good.replacen("version = 1\n", "version = 2\n", 1).as_bytes(),
                );
            }),
        ),
        (
            "version 0",
            "unknown file version 0",
            Box::new(|| {
                write_private(
                    &file,
                    good.replacen("version = 1\n", "version = 0\n", 1).as_bytes(),
                );
            }),
        ),
        (
            "no codes",
            "code count 0",
            Box::new(|| {
                let header = &good[..good.find("[[codes]]").unwrap()];
                let text = header.replacen("length = 10\n", "length = 10\ncodes = []\n", 1);
                write_private(&file, text.as_bytes());
            }),
        ),
        (
            "negative failure count",
            "invalid",
            Box::new(|| {
                let text = good.replacen("[tally]\n", "[tally]\nremote_in_a_row = -5\n", 1);
                write_private(&file, text.as_bytes());
            }),
        ),
        (
            "a tally longer than any policy keeps",
            "1001 failure times",
            Box::new(|| {
                let times = vec!["\"2026-11-24T12:00:00Z\""; 1001].join(", ");
                let text = good.replacen("[tally]\n", &format!("[tally]\nlocal = [{times}]\n"), 1);
                write_private(&file, text.as_bytes());
            }),
        ),
    ];
    for (what, reason, setup) in &cases {
        reset();
        setup();
        let before = FileSnapshot::of(&file);
        let mut cmd = lab.login_cmd(SVC, "frank", &[&codes[0]]);
        let login = lab.run_timeout(&mut cmd, 20);
        assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{what}: {login:?}");
        assert!(login.prompts().is_empty(), "{what}: refused before the prompt");
        let lines: Vec<&String> = login.log.iter().filter(|l| l.contains("store problem")).collect();
        assert_eq!(lines.len(), 1, "{what}: one log line: {:?}", login.log);
        assert!(
            lines[0].contains(&format!("{store}/frank.toml")) && lines[0].contains(reason),
            "{what}: the log line names the path and says {reason:?}: {lines:?}"
        );
        assert_eq!(
            FileSnapshot::of(&file),
            before,
            "{what}: the file was not touched"
        );
        assert!(
            max_rss_kib(&login) < 64 * 1024,
            "{what}: {} KiB",
            max_rss_kib(&login)
        );
        assert_eq!(
            lab.store_listing(),
            ["frank.toml"],
            "{what}: nothing written beside it"
        );
    }
    reset();
    write_private(&file, good.as_bytes());
    assert_eq!(
        lab.login(SVC, "frank", &[&codes[0]]).result(),
        "PAM_SUCCESS",
        "nothing was consumed"
    );
}

fn base64(bytes: &[u8]) -> String {
    use base64ct::Encoding;
    base64ct::Base64::encode_string(bytes)
}

#[test]
fn a_symlinked_store_directory_is_refused() {
    let lab = or_skip!(lab(""));
    let codes = lab.generate("gina", &[]);
    let link = lab.path().join("store-link");
    std::os::unix::fs::symlink(&lab.store, &link).unwrap();
    lab.simple_service("bc-link", &format!("store={}", link.display()));
    let before = FileSnapshot::of(&lab.user_file("gina"));
    let login = lab.login("bc-link", "gina", &[&codes[0]]);
    assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{login:?}");
    assert!(
        login.logged(&format!(
            "{}: refused, not a directory (or a symbolic link)",
            link.display()
        )),
        "{:?}",
        login.log
    );
    assert_eq!(FileSnapshot::of(&lab.user_file("gina")), before);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_backup-codes"))
        .arg("--store")
        .arg(&link)
        .arg("check")
        .run_cli();
    let err = &out.stderr;
    assert_eq!(out.status, Some(1), "check refuses it too: {err}");
    assert!(err.contains("symbolic link"), "{err}");
    // A regular file where the store directory belongs.
    let plain = lab.path().join("plain-file");
    fs::write(&plain, "").unwrap();
    lab.simple_service("bc-plain", &format!("store={}", plain.display()));
    let login = lab.login("bc-plain", "gina", &[&codes[0]]);
    assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL");
    assert!(
        login.logged(&format!("{}: refused, not a directory", plain.display())),
        "{:?}",
        login.log
    );
    // A store directory that does not exist means that nobody has codes:
    // without nullok, prompted and refused like any user without codes
    // (never a pass); with nullok, ignored. Logged either way.
    lab.simple_service("bc-missing", &format!("store={}/missing", lab.path().display()));
    let missing = lab.login("bc-missing", "gina", &[&codes[0]]);
    assert_eq!(missing.result(), "PAM_AUTH_ERR");
    assert_eq!(missing.prompts(), ["Backup code: "]);
    assert!(
        missing.logged("the store directory does not exist"),
        "{:?}",
        missing.log
    );
    // The module decides nothing with nullok; pam_permit after it shows that.
    lab.service(
        "bc-missing-nullok",
        &format!(
            "auth [success=done ignore=ignore default=die] MODULE store={}/missing nullok\n\
             auth required pam_permit.so\n",
            lab.path().display()
        ),
    );
    let ignored = lab.login("bc-missing-nullok", "gina", &[&codes[0]]);
    assert_eq!(ignored.result(), "PAM_SUCCESS");
    assert!(ignored.prompts().is_empty(), "{ignored:?}");
    assert!(ignored.logged("nobody has backup codes"), "{:?}", ignored.log);
}

#[test]
fn a_full_store_refuses_a_valid_code_and_keeps_it_usable() {
    skip_unless!();
    in_private_mounts(|| {
        let lab = Lab::new();
        lab.simple_service(SVC, "nodelay");
        let _tmpfs = Mounted::tmpfs(&lab.store, 256 * 1024, 0o700);
        let codes = lab.generate("hank", &[]);
        let file = lab.user_file("hank");
        // Fill every byte: 4 KiB blocks, then single bytes.
        let filler = lab.store.join("filler");
        let mut out = fs::File::create(&filler).unwrap();
        let mut filled = 0;
        for chunk in [4096, 1] {
            while std::io::Write::write_all(&mut out, &vec![0u8; chunk]).is_ok() {
                filled += chunk;
            }
        }
        drop(out);
        assert!(filled > 200 * 1024, "the tmpfs filled up ({filled} bytes)");
        let before = FileSnapshot::of(&file);

        for (what, answer) in [("valid code", codes[0].as_str()), ("wrong code", "ZZZZZ-ZZZZZ")] {
            let login = lab.login(SVC, "hank", &[answer]);
            assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{what}: {login:?}");
            let lines: Vec<&String> = login.log.iter().filter(|l| l.contains("store problem")).collect();
            assert_eq!(lines.len(), 1, "{what}: one log line: {:?}", login.log);
            assert!(
                lines[0].contains(lab.store.to_str().unwrap())
                    && lines[0].contains("No space left on device"),
                "{lines:?}"
            );
            assert_eq!(FileSnapshot::of(&file), before, "{what}: the file is intact");
            assert_eq!(
                lab.store_listing(),
                ["filler", "hank.toml"],
                "{what}: no temporary file left"
            );
        }
        let check = lab.check();
        let (rc, err) = (check.status.unwrap_or(-1), &check.stderr);
        assert_eq!(rc, 1, "only the filler is unexpected: {err}");
        assert!(err.contains("filler") && !err.contains("hank"), "{err}");

        fs::remove_file(&filler).unwrap();
        let login = lab.login(SVC, "hank", &[&codes[0]]);
        assert_eq!(
            login.result(),
            "PAM_SUCCESS",
            "the code was not consumed: {login:?}"
        );
        assert_eq!(lab.status("hank")["remaining"], 9);
        assert_eq!(
            lab.status("hank")["remote"]["in_a_row"],
            0,
            "the refused wrong code could not be counted"
        );
    });
}

#[test]
fn a_read_only_store_refuses_a_valid_code_and_keeps_it_usable() {
    skip_unless!();
    in_private_mounts(|| {
        let lab = Lab::new();
        lab.simple_service(SVC, "nodelay");
        let codes = lab.generate("ivy", &[]);
        let file = lab.user_file("ivy");
        let before = FileSnapshot::of(&file);
        {
            let _ro = Mounted::read_only(&lab.store);
            let login = lab.login(SVC, "ivy", &[&codes[0]]);
            assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{login:?}");
            let lines: Vec<&String> = login.log.iter().filter(|l| l.contains("store problem")).collect();
            assert_eq!(lines.len(), 1, "one log line: {:?}", login.log);
            assert!(
                lines[0].contains(lab.store.to_str().unwrap()) && lines[0].contains("Read-only file system"),
                "{lines:?}"
            );
            assert!(!lines[0].contains("stale"), "no stale file was there: {lines:?}");
            assert_eq!(FileSnapshot::of(&file), before);
            // Reading still works: status shows the set.
            assert_eq!(lab.status("ivy")["remaining"], 10);
        }
        assert_eq!(lab.login(SVC, "ivy", &[&codes[0]]).result(), "PAM_SUCCESS");
    });
}

#[test]
fn a_user_without_codes_costs_a_durable_write_like_a_user_with_codes() {
    // Without nullok a user with no set, or a name NSS does not know, must
    // not be told from a user with codes: same prompt, one Argon2id, and the
    // same durable write under the store's lock, which therefore fails where
    // the real one fails.
    skip_unless!();
    in_private_mounts(|| {
        let lab = Lab::new();
        lab.simple_service(SVC, "nodelay");
        let codes = lab.generate("ivy", &[]);
        lab.add_user("noel");
        let listing = lab.store_listing();
        let mtime = || FileSnapshot::of(&lab.store).mtime;
        let before = mtime();
        std::thread::sleep(std::time::Duration::from_millis(20));
        for user in ["noel", "no-such-account"] {
            let login = lab.login(SVC, user, &["ABCDE-FGHJK"]);
            assert_eq!(login.result(), "PAM_AUTH_ERR", "{user}: {login:?}");
            assert_eq!(login.prompts(), ["Backup code: "]);
        }
        assert_ne!(mtime(), before, "a file was written and removed in the store");
        assert_eq!(lab.store_listing(), listing, "and nothing is left behind");
        {
            let _ro = Mounted::read_only(&lab.store);
            for user in ["ivy", "noel", "no-such-account"] {
                let login = lab.login(SVC, user, &[&codes[0]]);
                assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{user}: {login:?}");
                assert_eq!(login.prompts(), ["Backup code: "], "{user}");
                assert!(login.logged("Read-only file system"), "{user}: {:?}", login.log);
            }
        }
        assert_eq!(lab.login(SVC, "ivy", &[&codes[0]]).result(), "PAM_SUCCESS");
    });
}

#[test]
fn hostile_input_is_refused_and_consumes_nothing() {
    let lab = or_skip!(lab("deny=0 nodelay"));
    let codes = lab.generate("judy", &["--count", "20"]);
    // A code with a 0, a 1 and a letter if there is one, for look-alikes.
    let code = codes
        .iter()
        .find(|c| c.contains('0') || c.contains('1'))
        .unwrap_or(&codes[0])
        .clone();
    let b = code.as_bytes();
    let fullwidth: String = code
        .chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(0xFF10 + (c as u32 - '0' as u32)).unwrap(),
            'A'..='Z' => char::from_u32(0xFF21 + (c as u32 - 'A' as u32)).unwrap(),
            other => other,
        })
        .collect();
    // Cyrillic О/о and Greek Ο where a 0 is, Cyrillic І where a 1 is.
    let cyrillic = code.replacen('0', "\u{041E}", 1).replacen('1', "\u{0406}", 1);
    let greek = code.replacen('0', "\u{039F}", 1).replacen('1', "\u{0399}", 1);
    let mut inputs: Vec<(&str, Vec<u8>)> = vec![
        ("1 byte", b"A".to_vec()),
        ("129 symbols", vec![b'A'; 129]),
        (
            "100,000 bytes",
            code.repeat(100_000 / code.len() + 1).into_bytes()[..100_000].to_vec(),
        ),
        (
            "the code then 118 spaces and one more symbol",
            format!("{code}{}A", " ".repeat(117)).into_bytes(),
        ),
        ("a 0xff byte", [&b[..5], b"\xff", &b[6..]].concat()),
        ("a truncated UTF-8 sequence", [b, &b"\xc3"[..]].concat()),
        ("NUL first (a C string stops there)", [&b"\0"[..], b].concat()),
        ("NUL inside", [&b[..4], b"\0", &b[4..]].concat()),
        ("ESC sequence", [b, &b"\x1b[A"[..]].concat()),
        ("a tab", [&b[..5], b"\t", &b[6..]].concat()),
        ("CR LF", [b, &b"\r\n"[..]].concat()),
        ("backspace", [b, &b"X\x08"[..]].concat()),
        ("DEL", [b, &b"\x7f"[..]].concat()),
        ("fullwidth", fullwidth.into_bytes()),
        ("no-break space", code.replace('-', "\u{00A0}").into_bytes()),
        ("Unicode hyphen", code.replace('-', "\u{2010}").into_bytes()),
        ("en dash", code.replace('-', "\u{2013}").into_bytes()),
        (
            "zero-width space",
            format!("{}\u{200B}{}", &code[..3], &code[3..]).into_bytes(),
        ),
        ("combining acute", format!("{}\u{0301}", code).into_bytes()),
        ("underscore", code.replace('-', "_").into_bytes()),
        // U in the code (a check symbol may be U, a code symbol never).
        ("U", format!("{}U{}", &code[..10], &code[11..]).into_bytes()),
    ];
    if cyrillic != code {
        inputs.push(("Cyrillic look-alikes", cyrillic.into_bytes()));
        inputs.push(("Greek look-alikes", greek.into_bytes()));
    }
    let answer = lab.path().join("answer");
    for (what, input) in &inputs {
        // Raw bytes through a file: 100,000 bytes in hex exceed an argument's limit.
        fs::write(&answer, input).unwrap();
        let mut cmd = lab.driver();
        cmd.args([
            "--service",
            SVC,
            "--rhost",
            "192.0.2.7",
            "--user",
            "judy",
            "--answer-file",
        ])
        .arg(&answer);
        let login = lab.run_timeout(&mut cmd, 30);
        assert_eq!(login.result(), "PAM_AUTH_ERR", "{what}: {login:?}");
        assert!(login.logged("wrong backup code"), "{what}: {:?}", login.log);
        for line in &login.log {
            assert!(!line.contains(&bare(&code)[..6]), "{what}: input logged: {line}");
        }
    }
    let status = lab.status("judy");
    assert_eq!(status["remaining"], 20, "nothing consumed");
    assert_eq!(
        status["remote"]["in_a_row"],
        inputs.len(),
        "every refusal counted"
    );
    // The code they imitated still works.
    assert_eq!(lab.login(SVC, "judy", &[&code]).result(), "PAM_SUCCESS");
}

#[test]
fn user_names_are_checked_before_any_path() {
    let lab = or_skip!(lab(""));
    // Valid names, up to the longest a file name allows, work end to end.
    let longest = "a".repeat(250);
    for user in ["alice@corp.example", "a.b_c-d", "X", longest.as_str()] {
        let codes = lab.generate(user, &["--count", "1"]);
        let login = lab.login(SVC, user, &[&codes[0]]);
        assert_eq!(login.result(), "PAM_SUCCESS", "{user}: {login:?}");
    }
    let before = lab.store_listing();
    let too_long = "a".repeat(251);
    let at_spec_limit = "b".repeat(256);
    let past_spec_limit = "c".repeat(257);
    let names: Vec<&[u8]> = vec![
        b"..",
        b".",
        b"alice/../bob",
        b"/etc/passwd",
        b"a b",
        b"a:b",
        b"*",
        b"%s%n%x",
        b"$(id)",
        b"alice\x1b[31m",
        b"alice\r",
        b"\xff\xfe",
        "\u{0430}lice".as_bytes(),
        too_long.as_bytes(),
        at_spec_limit.as_bytes(),
        past_spec_limit.as_bytes(),
    ];
    for name in names {
        let login = lab.login(SVC, OsStr::from_bytes(name), &["ABCDE-FGHJK"]);
        assert_eq!(
            login.result(),
            "PAM_USER_UNKNOWN",
            "{:?}: {login:?}",
            name.escape_ascii().to_string()
        );
        assert!(login.prompts().is_empty());
        assert!(login.logged("invalid user name"), "{:?}", login.log);
        for line in &login.log {
            assert!(
                !line.bytes().any(|c| c == 0x1b || c == b'\r'),
                "raw control bytes logged: {line:?}"
            );
        }
    }
    assert_eq!(lab.store_listing(), before, "nothing created");
}

#[test]
fn a_recorded_remote_host_or_service_never_makes_the_file_unreadable() {
    // The remote host comes from the client side; a long multi-byte one
    // (or invalid UTF-8, shown as U+FFFD) must be recorded in a form the
    // store parser accepts, or one success would lock the user out.
    let lab = or_skip!(lab(""));
    let codes = lab.generate("kate", &[]);
    let rhosts: Vec<Vec<u8>> = vec![
        "é".repeat(200).into_bytes(),
        vec![0xff; 255],
        "x".repeat(300).into_bytes(),
        "ホスト".repeat(100).into_bytes(),
    ];
    for (i, rhost) in rhosts.iter().enumerate() {
        let mut cmd = lab.driver();
        cmd.args([
            "--service",
            SVC,
            "--user",
            "kate",
            "--answer",
            &codes[i],
            "--rhost",
        ])
        .arg(OsStr::from_bytes(rhost));
        let login = lab.run(&mut cmd);
        assert_eq!(login.result(), "PAM_SUCCESS", "rhost #{i}: {login:?}");
        let check = lab.check();
        let (rc, err) = (check.status.unwrap_or(-1), &check.stderr);
        assert_eq!(rc, 0, "rhost #{i}: the file must still parse: {err}");
        let status = lab.status("kate");
        let recorded = status["uses"][i]["rhost"].as_str().unwrap();
        assert!(
            recorded.len() <= 255,
            "rhost #{i}: {} bytes recorded",
            recorded.len()
        );
    }
    // A service name: the file name in the confdir, up to 255 bytes.
    let service = "é".repeat(127);
    lab.simple_service(&service, "");
    let login = lab.login(&service, "kate", &[&codes[9]]);
    assert_eq!(login.result(), "PAM_SUCCESS", "{login:?}");
    assert_eq!(lab.check().status.unwrap_or(-1), 0);
    assert_eq!(lab.status("kate")["remaining"], 5);
}

#[test]
fn fifty_transactions_mixing_outcomes_leak_nothing() {
    let lab = or_skip!(lab(""));
    let codes = lab.generate("liam", &[]);
    let insecure = lab.path().join("insecure");
    fs::create_dir(&insecure).unwrap();
    lab.chmod(&insecure, 0o777);
    // One stack, four instances of the module: the real store (a success,
    // then re-uses, then the lockout), a missing store, a bad option, an
    // insecure store. `optional` lets each transaction reach them all.
    lab.service(
        "bc-mix",
        &format!(
            "auth optional MODULE store=STORE deny=3\n\
             auth optional MODULE store={}/missing\n\
             auth optional MODULE store=STORE no_such_option\n\
             auth optional MODULE store={}\n\
             auth required pam_permit.so\n",
            lab.path().display(),
            insecure.display()
        ),
    );
    let mut cmd = lab.driver();
    cmd.args([
        "--service",
        "bc-mix",
        "--user",
        "liam",
        "--transactions",
        "50",
        "--answer",
        &codes[0],
    ]);
    let run = lab.run_timeout(&mut cmd, 120);
    // Lab::finish_all has checked: no stray output, no leaked descriptor.
    assert_eq!(run.lines("result: ").len(), 50, "{run:?}");
    let count = |needle: &str| run.log.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("event=code-accepted "), 1, "{:?}", run.log);
    assert_eq!(count("RE-USE"), 3, "three re-uses, then locked");
    assert_eq!(count("codes locked after too many failures"), 46);
    assert_eq!(count("the store directory does not exist"), 50);
    assert_eq!(count("no_such_option"), 50);
    assert_eq!(count("writable by group or others"), 50);
    // The real store prompts until locked; the missing one (nobody has
    // codes, no nullok) prompts every time and refuses.
    assert_eq!(run.lines("prompt: ").len(), 4 + 50, "{:?}", run.lines("prompt: "));
    assert!(
        max_rss_kib(&run) < 128 * 1024,
        "{} KiB after 50 transactions",
        max_rss_kib(&run)
    );
}

#[test]
fn broken_conversations_over_many_transactions_leak_nothing() {
    let lab = or_skip!(lab(""));
    lab.generate("mia", &[]);
    for flag in ["--conv-fail", "--no-reply"] {
        let mut cmd = lab.driver();
        cmd.args(["--service", SVC, "--user", "mia", "--transactions", "20", flag]);
        let run = lab.run_timeout(&mut cmd, 120);
        let results = run.lines("result: ");
        assert_eq!(results.len(), 20, "{flag}: {run:?}");
        assert!(
            results.iter().all(|r| *r == "PAM_CONV_ERR"),
            "{flag}: {results:?}"
        );
        assert!(
            run.delays().iter().all(|&d| d == 0),
            "{flag}: a broken client is not a guess: {run:?}"
        );
    }
    let status = lab.status("mia");
    assert_eq!(
        (status["remaining"].as_u64(), status["failures"].as_u64()),
        (Some(10), Some(0))
    );
}

#[test]
fn a_memory_limit_is_a_clean_error_never_an_abort() {
    // Under a limit that leaves no room for Argon2id's 19 MiB (a local user
    // can set one before running setuid su), the host process must live on:
    // no abort, no output, a PAM error and a log line.
    let lab = or_skip!(lab("nodelay"));
    let codes = lab.generate("uma", &[]);
    lab.add_user("vic");
    // The driver's address space with the module loaded, the options and
    // the store read, but nothing hashed: a user name refused as invalid.
    let vm_peak =
        |login: &common::Login| -> u64 { login.lines("vmpeak-kib: ").last().unwrap().parse().unwrap() };
    let base = vm_peak(&lab.login(SVC, "bad/name", &[]));
    // Room for everything but the 21 MiB mapping Argon2id asks for.
    let limit = (base + 8 * 1024) * 1024;
    let limited = |user: &str, answer: &str| {
        let mut cmd = lab.login_cmd(SVC, user, &[answer]);
        #[allow(unsafe_code)]
        // SAFETY: runs in the forked child before exec; setrlimit is one
        // system call on values prepared before the fork.
        unsafe {
            use nix::sys::resource::{Resource, setrlimit};
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(move || setrlimit(Resource::RLIMIT_AS, limit, limit).map_err(std::io::Error::from));
        }
        lab.run(&mut cmd)
    };
    for (user, answer) in [
        ("uma", codes[0].as_str()),
        ("vic", "ABCDE-FGHJK"),
        ("no-such-account", "x"),
    ] {
        let login = limited(user, answer);
        assert_eq!(login.status, 1, "{user}: exited, not killed: {login:?}");
        assert_eq!(login.result(), "PAM_BUF_ERR", "{user}: {login:?}");
        assert!(
            login.logged("KiB of memory for Argon2id"),
            "{user}: a log line says why: {:?}",
            login.log
        );
    }
    // Nothing was consumed or counted; without the limit the code works.
    let status = lab.status("uma");
    assert_eq!(
        (status["remaining"].as_u64(), status["failures"].as_u64()),
        (Some(10), Some(0))
    );
    assert_eq!(lab.login(SVC, "uma", &[&codes[0]]).result(), "PAM_SUCCESS");
}
