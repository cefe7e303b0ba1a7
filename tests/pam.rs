//! The module through real libpam (`pam_start_confdir`), against the freshly
//! built `.so`: results, messages, log lines and the store afterwards.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::{Lab, RunCli, bare, or_skip};

const SVC: &str = "bc-test";

/// The suite's lab: [`SVC`] is the module alone with `options`.
fn lab(options: &str) -> Lab {
    Lab::with_service(SVC, options)
}

#[test]
fn a_code_succeeds_once_and_status_names_service_and_host() {
    let lab = or_skip!(lab(""));
    let codes = lab.generate("alice", &[]);
    assert_eq!(codes.len(), 10);

    let first = lab.login(SVC, "alice", &[&codes[3]]);
    assert_eq!(first.result(), "PAM_SUCCESS", "{first:?}");
    assert_eq!(first.prompts(), ["Backup code: "]);
    assert_eq!(first.infos(), ["9 backup codes left."]);
    assert!(
        first.logged("user=alice service=bc-test rhost=192.0.2.7"),
        "{:?}",
        first.log
    );
    assert!(first.logged("event=code-accepted user=alice"), "{:?}", first.log);
    assert!(first.logged(" left=9"), "{:?}", first.log);

    let again = lab.login(SVC, "alice", &[&codes[3]]);
    assert_eq!(again.result(), "PAM_AUTH_ERR");
    assert!(again.delays().iter().all(|&d| d >= 1_000_000), "{again:?}");
    assert!(
        again.logged("RE-USE"),
        "re-use is a logged security event: {:?}",
        again.log
    );

    let status = lab.status("alice");
    assert_eq!(status["remaining"], 9);
    assert_eq!(status["total"], 10);
    let uses = status["uses"].as_array().unwrap();
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0]["service"], SVC);
    assert_eq!(uses[0]["rhost"], "192.0.2.7");

    // No plain code, with or without its hyphen, is anywhere in the store
    // or the logs.
    let file = fs::read_to_string(lab.user_file("alice")).unwrap();
    let logs = [first.log, again.log].concat().join("\n");
    for code in &codes {
        assert!(!file.contains(code.as_str()) && !file.contains(&bare(code)));
        assert!(!logs.contains(&bare(code)) && !logs.contains(code.as_str()));
    }
}

#[test]
fn typing_variants_are_accepted() {
    let lab = or_skip!(lab(""));
    let codes = lab.generate("bob", &["--count", "20"]);
    let lookalike = codes
        .iter()
        .find(|c| c.contains('0') || c.contains('1'))
        .expect("20 codes without a 0 or 1 is vanishingly unlikely")
        .clone();
    let others: Vec<&String> = codes.iter().filter(|c| **c != lookalike).collect();
    let variants = [
        others[0].to_lowercase(),
        bare(others[1]),
        format!("  {} {} ", &others[2][..3], &others[2][3..]),
        lookalike
            .replacen('0', "O", 1)
            .replacen('0', "o", 9)
            .replacen('1', "I", 1)
            .replacen('1', "l", 9),
    ];
    for variant in &variants {
        let login = lab.login(SVC, "bob", &[variant]);
        assert_eq!(login.result(), "PAM_SUCCESS", "variant {variant:?}: {login:?}");
    }
    assert_eq!(lab.status("bob")["remaining"], 16);
}

#[test]
fn wrong_empty_and_oversized_inputs_are_refused_and_consume_nothing() {
    let lab = or_skip!(lab("deny=0"));
    let codes = lab.generate("carol", &[]);
    let padded = |len: usize| format!("{}{}", codes[0], " ".repeat(len - codes[0].len()));
    let inputs = [
        "ZZZZZ-ZZZZZ".to_owned(),
        String::new(),
        padded(129),
        padded(100_000),
        format!("{}X", codes[0]),
        codes[0][..10].to_owned(),
    ];
    for input in &inputs {
        let login = lab.login(SVC, "carol", &[input]);
        assert_eq!(login.result(), "PAM_AUTH_ERR", "input of {} bytes", input.len());
    }
    let status = lab.status("carol");
    assert_eq!(status["remaining"], 10, "nothing consumed");
    assert_eq!(
        status["remote"]["in_a_row"],
        inputs.len(),
        "every refusal counted, none locked with deny=0"
    );
    assert_eq!(status["locked"], false);
    // 128 bytes are still considered: the same code padded to 128 works,
    // and the success resets the count.
    assert_eq!(lab.login(SVC, "carol", &[&padded(128)]).result(), "PAM_SUCCESS");
    let status = lab.status("carol");
    assert_eq!(status["remaining"], 9);
    assert_eq!(status["failures"], 0);
}

#[test]
fn nullok_ignores_users_without_codes_and_without_it_they_are_prompted() {
    let lab = or_skip!(lab(""));
    // The module decides nothing with nullok; pam_permit after it shows that.
    lab.service(
        "bc-nullok",
        "auth [success=done ignore=ignore default=die] MODULE store=STORE nullok\nauth required pam_permit.so\n",
    );
    lab.add_user("dave");
    let ignored = lab.login("bc-nullok", "dave", &[]);
    assert_eq!(ignored.result(), "PAM_SUCCESS");
    assert!(ignored.prompts().is_empty(), "no prompt with nullok: {ignored:?}");

    // Without nullok, a user without codes is indistinguishable: prompted, refused.
    let refused = lab.login(SVC, "dave", &["ABCDE-FGHJK"]);
    assert_eq!(refused.result(), "PAM_AUTH_ERR");
    assert_eq!(refused.prompts(), ["Backup code: "]);
    assert!(refused.delays().iter().all(|&d| d >= 1_000_000));
    assert!(lab.store_listing().is_empty(), "nothing created for dave");

    // nullok does not let a user who has codes in without one.
    let codes = lab.generate("dave", &[]);
    assert_eq!(
        lab.login("bc-nullok", "dave", &["ABCDE-FGHJK"]).result(),
        "PAM_AUTH_ERR"
    );
    assert_eq!(
        lab.login("bc-nullok", "dave", &[&codes[0]]).result(),
        "PAM_SUCCESS"
    );
}

#[test]
fn bad_options_fail_closed_with_service_err() {
    let lab = or_skip!(lab(""));
    lab.generate("erin", &[]);
    for options in [
        "nulok",
        "deny=lots",
        "deny",
        "nullok=yes",
        "store=relative/dir",
        "config=/nonexistent/x.conf",
    ] {
        lab.simple_service("bc-bad", options);
        let login = lab.login("bc-bad", "erin", &["ABCDE-FGHJK"]);
        assert_eq!(login.result(), "PAM_SERVICE_ERR", "option {options:?}: {login:?}");
        assert!(
            login.prompts().is_empty(),
            "no prompt before the options are sound"
        );
        assert!(
            login
                .log
                .iter()
                .any(|l| l.contains("option") || l.contains("config")),
            "{:?}",
            login.log
        );
    }
}

#[test]
fn untrusted_or_corrupt_store_is_authinfo_unavail_and_untouched() {
    let lab = or_skip!(lab(""));
    let codes = lab.generate("frank", &[]);
    let file = lab.user_file("frank");
    let original = fs::read(&file).unwrap();
    let check = |what: &str, reason: &str| {
        let before = fs::read(&file).ok();
        let login = lab.login(SVC, "frank", &[&codes[0]]);
        assert_eq!(login.result(), "PAM_AUTHINFO_UNAVAIL", "{what}: {login:?}");
        assert_eq!(fs::read(&file).ok(), before, "{what}: file changed");
        assert!(
            login
                .log
                .iter()
                .any(|l| l.contains(reason) && l.contains(lab.store.to_str().unwrap())),
            "{what}: log should name the path and say {reason:?}: {:?}",
            login.log
        );
    };

    lab.chmod(&lab.store, 0o770);
    check("group-writable directory", "writable");
    lab.chmod(&lab.store, 0o700);

    std::os::unix::fs::chown(&lab.store, Some(65534), None).unwrap();
    check("directory not owned by root", "owned");
    std::os::unix::fs::chown(&lab.store, Some(0), None).unwrap();

    std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
    check("file not owned by root", "owned");
    std::os::unix::fs::chown(&file, Some(0), None).unwrap();

    lab.chmod(&file, 0o644);
    check("file mode 0644", "accessible");
    lab.chmod(&file, 0o600);

    let elsewhere = lab.path().join("elsewhere.toml");
    fs::rename(&file, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
    check("symlinked file", "symbolic link");
    assert_eq!(
        fs::read(&elsewhere).unwrap(),
        original,
        "symlink target untouched"
    );
    fs::remove_file(&file).unwrap();
    fs::rename(&elsewhere, &file).unwrap();

    fs::write(&file, b"version = 1\ncodes = [ { hash = \"garbage\" } ]\n").unwrap();
    check("corrupt file", "");
    fs::write(&file, &original).unwrap();

    // Put right, the same code works: nothing was consumed on the way.
    assert_eq!(lab.login(SVC, "frank", &[&codes[0]]).result(), "PAM_SUCCESS");
    assert_eq!(fs::metadata(&file).unwrap().mode() & 0o7777, 0o600);
}

#[test]
fn invalid_user_names_are_user_unknown_and_touch_nothing() {
    let lab = or_skip!(lab(""));
    lab.generate("grace", &[]);
    let before = lab.store_listing();
    let parent_before: Vec<_> = fs::read_dir(lab.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let long = "a".repeat(300);
    for user in ["../x", ".x", "-x", "a/b", "grace\n", &long] {
        let login = lab.login(SVC, user, &["ABCDE-FGHJK"]);
        assert_eq!(login.result(), "PAM_USER_UNKNOWN", "user {user:?}: {login:?}");
        assert!(login.prompts().is_empty(), "no prompt for {user:?}");
    }
    // An empty name: libpam asks for one, the answer is empty.
    let mut cmd = lab.driver();
    cmd.args(["--service", SVC, "--user", "", "--answer", ""]);
    let empty = lab.run(&mut cmd);
    assert_eq!(empty.result(), "PAM_USER_UNKNOWN", "{empty:?}");
    assert_eq!(lab.store_listing(), before);
    let parent_after: Vec<_> = fs::read_dir(lab.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        parent_before.len(),
        parent_after.len(),
        "nothing created beside the store"
    );
}

#[test]
fn use_first_pass_takes_the_token_of_an_earlier_module() {
    let lab = or_skip!(lab(""));
    let codes = lab.generate("heidi", &[]);
    // pam_unix asks first and leaves what was typed in PAM_AUTHTOK; heidi has
    // no system account, so it fails, and `optional` lets the stack go on.
    lab.service(
        "bc-first",
        "auth optional pam_unix.so\nauth required MODULE store=STORE use_first_pass\n",
    );
    let login = lab.login("bc-first", "heidi", &[&codes[0]]);
    assert_eq!(login.result(), "PAM_SUCCESS", "{login:?}");
    assert_eq!(
        login.prompts().len(),
        1,
        "one prompt only (pam_unix's): {login:?}"
    );
    assert_eq!(
        lab.login("bc-first", "heidi", &[&codes[0]]).result(),
        "PAM_AUTH_ERR"
    );

    // use_first_pass with nothing before it: refused, never prompted.
    lab.simple_service("bc-alone", "use_first_pass");
    let alone = lab.login("bc-alone", "heidi", &[&codes[1]]);
    assert_eq!(alone.result(), "PAM_AUTH_ERR");
    assert!(alone.prompts().is_empty());

    // try_first_pass: a token that is not a code (a password) means a prompt of our own.
    lab.service(
        "bc-try",
        "auth optional pam_unix.so\nauth required MODULE store=STORE try_first_pass\n",
    );
    let tried = lab.login("bc-try", "heidi", &["not a code!", &codes[1]]);
    assert_eq!(tried.result(), "PAM_SUCCESS", "{tried:?}");
    assert_eq!(tried.prompts().len(), 2);
    let direct = lab.login("bc-try", "heidi", &[&codes[2]]);
    assert_eq!(direct.result(), "PAM_SUCCESS", "{direct:?}");
    assert_eq!(direct.prompts().len(), 1);
}

#[test]
fn conversation_failures_are_conv_err() {
    let lab = or_skip!(lab(""));
    let codes = lab.generate("ivan", &[]);
    for flag in ["--conv-fail", "--no-reply"] {
        let mut cmd = lab.driver();
        cmd.args(["--service", SVC, "--user", "ivan", flag, "--answer", &codes[0]]);
        let login = lab.run(&mut cmd);
        assert_eq!(login.result(), "PAM_CONV_ERR", "{flag}: {login:?}");
    }
    assert_eq!(lab.status("ivan")["remaining"], 10);
    assert_eq!(
        lab.status("ivan")["failures"],
        0,
        "a broken client is not a guess"
    );
}

#[test]
fn lockout_after_deny_failures_and_unlock() {
    let lab = or_skip!(lab("deny=3 unlock_time=600"));
    let codes = lab.generate("judy", &[]);
    for _ in 0..3 {
        assert_eq!(lab.login(SVC, "judy", &["ZZZZZ-ZZZZZ"]).result(), "PAM_AUTH_ERR");
    }
    let locked = lab.login(SVC, "judy", &[&codes[0]]);
    assert_eq!(locked.result(), "PAM_MAXTRIES", "{locked:?}");
    assert!(locked.prompts().is_empty(), "no prompt while locked");
    assert!(locked.errors().iter().any(|e| e.contains("locked")), "{locked:?}");
    assert!(locked.logged("locked"));
    // status judges with the config file's policy (deny=5 here), not the
    // pam.d line's: it shows the failures.
    let status = lab.status("judy");
    assert_eq!(status["remote"]["failures"], 3);
    assert!(status["last_failure"]["at"].is_string());

    let out = lab.cli().args(["unlock", "judy"]).run_cli();
    assert!(out.success());
    assert_eq!(lab.status("judy")["failures"], 0);
    assert_eq!(lab.login(SVC, "judy", &[&codes[0]]).result(), "PAM_SUCCESS");

    // A success resets the count: two failures, a success, two failures: not locked.
    for attempt in [
        "ZZZZZ-ZZZZZ",
        "ZZZZZ-ZZZZZ",
        &codes[1],
        "ZZZZZ-ZZZZZ",
        "ZZZZZ-ZZZZZ",
    ] {
        lab.login(SVC, "judy", &[attempt]);
    }
    assert_eq!(lab.login(SVC, "judy", &[&codes[2]]).result(), "PAM_SUCCESS");
}

#[test]
fn messages_count_down_and_silent_suppresses_them() {
    let lab = or_skip!(lab(""));
    let codes = lab.generate("mallory", &["--count", "3"]);
    assert_eq!(
        lab.login(SVC, "mallory", &[&codes[0]]).infos(),
        ["Warning: only 2 backup codes left. Ask for a new set soon."]
    );
    let mut cmd = lab.driver();
    cmd.args([
        "--service",
        SVC,
        "--user",
        "mallory",
        "--silent",
        "--answer",
        &codes[1],
    ]);
    let silent = lab.run(&mut cmd);
    assert_eq!(silent.result(), "PAM_SUCCESS");
    assert!(silent.infos().is_empty(), "PAM_SILENT: {silent:?}");
    // The silent login was local (no remote host): the notice says no "from".
    let last = lab.login(SVC, "mallory", &[&codes[2]]);
    let infos = last.infos();
    assert_eq!(infos.len(), 2, "{last:?}");
    assert!(
        infos[0].starts_with("Last backup code used ")
            && infos[0].ends_with(" UTC via bc-test; no failed attempts since."),
        "{last:?}"
    );
    assert_eq!(infos[1], "That was your last backup code. Ask for a new set now.");
}

#[test]
fn setcred_succeeds_and_nodelay_asks_for_no_delay() {
    let lab = or_skip!(lab("nodelay"));
    let codes = lab.generate("niaj", &[]);
    let mut cmd = lab.driver();
    cmd.args([
        "--service",
        SVC,
        "--user",
        "niaj",
        "--setcred",
        "--answer",
        &codes[0],
    ]);
    let login = lab.run(&mut cmd);
    assert_eq!(login.lines("setcred: "), ["PAM_SUCCESS"]);
    let wrong = lab.login(SVC, "niaj", &["ZZZZZ-ZZZZZ"]);
    assert_eq!(wrong.result(), "PAM_AUTH_ERR");
    assert!(wrong.delays().iter().all(|&d| d == 0), "nodelay: {wrong:?}");
}

#[test]
fn config_file_sets_defaults_and_arguments_override_it() {
    let lab = or_skip!(lab(""));
    let config = lab.path().join("backup-codes.conf");
    fs::write(&config, "[login]\nprompt = \"Recovery code: \"\ndeny = 2\n").unwrap();
    lab.chmod(&config, 0o644);
    let codes = lab.generate("olivia", &[]);
    lab.simple_service("bc-conf", &format!("config={}", config.display()));
    let login = lab.login("bc-conf", "olivia", &[&codes[0]]);
    assert_eq!(login.prompts(), ["Recovery code: "]);
    assert_eq!(login.result(), "PAM_SUCCESS");

    lab.simple_service(
        "bc-conf",
        &format!("config={} [prompt=Code please: ]", config.display()),
    );
    assert_eq!(
        lab.login("bc-conf", "olivia", &[&codes[1]]).prompts(),
        ["Code please: "]
    );

    // A config file anyone could have written is not trusted.
    lab.chmod(&config, 0o666);
    lab.simple_service("bc-conf", &format!("config={}", config.display()));
    assert_eq!(
        lab.login("bc-conf", "olivia", &[&codes[2]]).result(),
        "PAM_SERVICE_ERR"
    );
    assert_eq!(
        fs::metadata(&lab.store).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

#[test]
fn a_user_without_codes_is_treated_like_one_with_the_configured_format() {
    let lab = or_skip!(lab(""));
    let config = lab.path().join("digits.conf");
    fs::write(&config, "[codes]\nalphabet = \"digits\"\nlength = 8\n").unwrap();
    lab.service(
        "bc-digits",
        &format!(
            "auth optional pam_unix.so\nauth required MODULE store=STORE try_first_pass config={}\n",
            config.display()
        ),
    );
    // Someone with a digits set typing 8 digits at pam_unix's prompt is not
    // asked again; neither is someone without codes (no disclosure).
    let codes = lab.generate("quinn", &["--config", config.to_str().unwrap()]);
    assert_eq!(codes[0].replace('-', "").len(), 8);
    for user in ["quinn", "rupert"] {
        let login = lab.login("bc-digits", user, &["12345678"]);
        assert_eq!(login.result(), "PAM_AUTH_ERR", "{user}: {login:?}");
        assert_eq!(login.prompts().len(), 1, "{user}: {login:?}");
    }
}

#[test]
fn control_characters_in_the_remote_host_are_escaped_everywhere() {
    let lab = or_skip!(lab(""));
    let codes = lab.generate("sybil", &[]);
    let mut cmd = lab.driver();
    cmd.args(["--service", SVC, "--user", "sybil", "--answer", &codes[0]])
        .args(["--rhost", "evil\nJan  1 00:00:00 host sshd: forged\x1b[2J"]);
    let login = lab.run(&mut cmd);
    assert_eq!(login.result(), "PAM_SUCCESS", "{login:?}");
    let line = login
        .log
        .iter()
        .find(|l| l.contains("left"))
        .expect("a success line");
    assert!(!line.contains('\n') && !line.contains('\x1b'), "{line:?}");
    assert!(line.contains("evil\\nJan"), "{line:?}");
    let rhost = lab.status("sybil")["uses"][0]["rhost"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(rhost, "evil\\nJan  1 00:00:00 host sshd: forged\\u{1b}[2J");
    let text = lab.cli().arg("status").run_cli();
    assert!(
        !text.stdout.contains('\x1b'),
        "no escape sequence reaches the terminal"
    );
}

/// `codes[i]` with one symbol of the code changed (its check symbol then
/// does not match).
fn with_typo(code: &str) -> String {
    let mut typo = code.to_owned().into_bytes();
    typo[1] = if typo[1] == b'7' { b'8' } else { b'7' };
    String::from_utf8(typo).unwrap()
}

#[test]
fn a_code_login_tells_the_previous_use_and_the_failures_since() {
    let lab = or_skip!(lab("deny=0"));
    let codes = lab.generate("trent", &[]);
    let first = lab.login(SVC, "trent", &[&codes[0]]);
    assert_eq!(first.result(), "PAM_SUCCESS", "{first:?}");
    assert_eq!(
        first.infos(),
        ["9 backup codes left."],
        "nothing before the first"
    );
    for _ in 0..3 {
        assert_eq!(
            lab.login(SVC, "trent", &["00000-00000-0"]).result(),
            "PAM_AUTH_ERR"
        );
    }
    let used_at = lab.status("trent")["uses"][0]["at"].as_str().unwrap().to_owned();
    // "2026-12-06T03:14:15Z" as the notice writes it: "2026-12-06 03:14 UTC".
    let minute = format!("{} {} UTC", &used_at[..10], &used_at[11..16]);
    let second = lab.login(SVC, "trent", &[&codes[1]]);
    assert_eq!(second.result(), "PAM_SUCCESS", "{second:?}");
    assert_eq!(
        second.infos(),
        [
            format!("Last backup code used {minute} via {SVC} from 192.0.2.7; 3 failed attempts since.")
                .as_str(),
            "8 backup codes left."
        ],
        "{second:?}"
    );

    // `quiet` hides it (PAM_SILENT hides every message: see
    // messages_count_down_and_silent_suppresses_them).
    lab.simple_service("bc-quiet", "quiet deny=0");
    let quiet = lab.login("bc-quiet", "trent", &[&codes[2]]);
    assert_eq!(quiet.result(), "PAM_SUCCESS", "{quiet:?}");
    assert_eq!(quiet.infos(), ["7 backup codes left."], "{quiet:?}");
}

#[test]
fn a_typo_is_told_apart_counts_nothing_and_the_code_typed_right_logs_in() {
    let lab = or_skip!(lab(""));
    let codes = lab.generate("ursula", &[]);
    // The sheet shows the check symbol as a group of its own.
    assert_eq!(codes[0].len(), 13, "{}", codes[0]);
    assert_eq!(codes[0].as_bytes()[11], b'-');
    assert_eq!(lab.status("ursula")["check_symbol"], true);
    let typo = with_typo(&codes[0]);
    let told = lab.login(SVC, "ursula", &[&typo]);
    assert_eq!(told.result(), "PAM_AUTH_ERR", "{told:?}");
    assert!(
        told.errors().iter().any(|e| e.contains("typo")),
        "the user is told: {told:?}"
    );
    assert!(told.logged("event=code-typo"), "{:?}", told.log);
    let status = lab.status("ursula");
    assert_eq!(status["failures"], 0, "a typo counts nothing");
    assert_eq!(status["last_failure"], serde_json::Value::Null);
    assert_eq!(status["remaining"], 10);
    let right = lab.login(SVC, "ursula", &[&codes[0]]);
    assert_eq!(right.result(), "PAM_SUCCESS", "{right:?}");
    assert_eq!(
        right.infos(),
        ["9 backup codes left."],
        "no failure to tell: {right:?}"
    );
}

#[test]
fn a_set_without_check_symbols_still_logs_in() {
    let lab = or_skip!(lab(""));
    let codes = lab.generate("victor", &["--no-check-symbol"]);
    assert_eq!(codes[0].len(), 11, "{}", codes[0]);
    // The file is what builds before the check symbol wrote.
    let file = fs::read_to_string(lab.user_file("victor")).unwrap();
    assert!(!file.contains("check_symbol"), "{file}");
    assert_eq!(lab.status("victor")["check_symbol"], false);
    let login = lab.login(SVC, "victor", &[&codes[0]]);
    assert_eq!(login.result(), "PAM_SUCCESS", "{login:?}");
    // A code with one symbol more is no code of this set: wrong, counted.
    let longer = lab.login(SVC, "victor", &[&format!("{}-0", codes[1])]);
    assert_eq!(longer.result(), "PAM_AUTH_ERR");
    assert_eq!(lab.status("victor")["failures"], 1);
}

#[test]
fn try_first_pass_never_judges_a_password_or_a_typo_as_a_code() {
    let lab = or_skip!(lab(""));
    let codes = lab.generate("wendy", &[]);
    lab.service(
        "bc-try-shape",
        "auth optional pam_unix.so\nauth required MODULE store=STORE try_first_pass\n",
    );
    // A password of a code's alphabet and length (without a check symbol),
    // and a code with a typo: neither is judged; the module prompts.
    let typo = with_typo(&codes[1]);
    for (token, code) in [("ABCDE-FGHJK", &codes[0]), (typo.as_str(), &codes[1])] {
        let login = lab.login("bc-try-shape", "wendy", &[token, code]);
        assert_eq!(login.prompts().len(), 2, "{token}: {login:?}");
        assert_eq!(login.result(), "PAM_SUCCESS", "{token}: {login:?}");
        assert!(
            !login.logged("event=code-typo"),
            "not judged at all: {:?}",
            login.log
        );
        assert_eq!(lab.status("wendy")["failures"], 0, "{token}: nothing counted");
    }
    // A code of the set, check symbol and all, is taken without a prompt.
    let direct = lab.login("bc-try-shape", "wendy", &[&codes[2]]);
    assert_eq!(direct.result(), "PAM_SUCCESS", "{direct:?}");
    assert_eq!(direct.prompts().len(), 1, "{direct:?}");
}
