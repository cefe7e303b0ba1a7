//! Invariants 1 (exactly once) and 8 (rate limit) of docs/design.md under concurrent
//! logins: many PAM transactions at once, each in its own `pam-driver`
//! process, against one user file.
//!
//! `make test` runs a few rounds; `make stress` sets `STRESS_ROUNDS`.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::collections::HashMap;
use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Lab, or_skip, rounds};
use pam_backup_codes::codeset::CodeSet;

const SVC: &str = "bc-race";
const PROCESSES: usize = 32;

/// The suite's lab: [`SVC`] is the module alone with `options`.
fn lab(options: &str) -> Lab {
    Lab::with_service(SVC, options)
}

/// Starts `answers.len()` drivers at once, one answer each, and returns their
/// results and every log line.
fn race(lab: &Lab, user: &str, answers: &[String]) -> (Vec<String>, Vec<String>) {
    let children: Vec<_> = answers
        .iter()
        .map(|answer| lab.spawn(&mut lab.login_cmd(SVC, user, &[answer])))
        .collect();
    let (logins, log) = lab.finish_all(children, 300);
    (logins.iter().map(|l| l.result().to_owned()).collect(), log)
}

fn count(results: &[String], name: &str) -> usize {
    results.iter().filter(|r| *r == name).count()
}

#[test]
fn one_code_in_32_simultaneous_logins_succeeds_exactly_once() {
    let lab = or_skip!(lab("nodelay deny=0"));
    let rounds = rounds(3);
    let mut codes = Vec::new();
    let mut used_before = 0;
    for round in 0..rounds {
        if round % 100 == 0 {
            codes = lab.generate("alice", &["--count", "100"]);
            used_before = 0;
        }
        let code = &codes[round % 100];
        let (results, log) = race(&lab, "alice", &vec![code.clone(); PROCESSES]);
        assert_eq!(count(&results, "PAM_SUCCESS"), 1, "round {round}: {results:?}");
        assert_eq!(
            count(&results, "PAM_AUTH_ERR"),
            PROCESSES - 1,
            "round {round}: {results:?}"
        );
        let successes = log.iter().filter(|l| l.contains("event=code-accepted ")).count();
        let reuses = log.iter().filter(|l| l.contains("RE-USE")).count();
        assert_eq!((successes, reuses), (1, PROCESSES - 1), "round {round}: {log:?}");

        used_before += 1;
        let status = lab.status("alice");
        assert_eq!(status["remaining"], 100 - used_before, "round {round}");
        assert_eq!(
            status["uses"].as_array().unwrap().len(),
            used_before,
            "round {round}"
        );
    }
    eprintln!("same_code: {rounds} rounds of {PROCESSES} processes, one success each");
}

#[test]
fn different_codes_of_one_user_at_once_all_succeed_and_are_all_marked() {
    let lab = or_skip!(lab("nodelay"));
    let rounds = rounds(2).min(20);
    for round in 0..rounds {
        let codes = lab.generate("bob", &["--count", &PROCESSES.to_string()]);
        let (results, log) = race(&lab, "bob", &codes);
        assert_eq!(
            count(&results, "PAM_SUCCESS"),
            PROCESSES,
            "round {round}: {results:?}"
        );
        let status = lab.status("bob");
        assert_eq!(status["remaining"], 0, "round {round}");
        let uses = status["uses"].as_array().unwrap();
        assert_eq!(uses.len(), PROCESSES, "round {round}: every success is recorded");
        assert!(
            uses.iter()
                .all(|u| u["service"] == SVC && u["rhost"] == "192.0.2.7")
        );
        // Each success reported a distinct count of codes left: no two
        // logins saw the same version of the file.
        let mut left: Vec<usize> = log
            .iter()
            .filter(|l| l.contains("event=code-accepted "))
            .filter_map(|l| l.split(" left=").nth(1))
            .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
            .collect();
        left.sort_unstable();
        assert_eq!(left, (0..PROCESSES).collect::<Vec<_>>(), "round {round}");
        // And they are all spent now.
        let (again, _) = race(&lab, "bob", &codes[..4]);
        assert_eq!(count(&again, "PAM_AUTH_ERR"), 4);
    }
}

#[test]
fn concurrent_failures_are_all_counted() {
    let lab = or_skip!(lab("nodelay deny=0"));
    lab.generate("carol", &[]);
    let wrong: Vec<String> = (0..PROCESSES).map(|i| format!("ZZZZZ-ZZ{i:03}")).collect();
    let (results, _) = race(&lab, "carol", &wrong);
    assert_eq!(count(&results, "PAM_AUTH_ERR"), PROCESSES, "{results:?}");
    assert_eq!(
        lab.status("carol")["remote"]["in_a_row"],
        PROCESSES,
        "deny=0 counts every failure in a row"
    );

    // A large deny keeps every one, and does not lock below it.
    lab.simple_service(SVC, "nodelay deny=1000");
    let (results, _) = race(&lab, "carol", &wrong);
    assert_eq!(count(&results, "PAM_AUTH_ERR"), PROCESSES);
    let status = lab.status("carol");
    assert_eq!(status["remote"]["failures"], PROCESSES);
    assert_eq!(status["remote"]["in_a_row"], 2 * PROCESSES);
    let judged = lab.login(SVC, "carol", &["ZZZZZ-ZZZZZ"]);
    assert_eq!(judged.result(), "PAM_AUTH_ERR", "not locked below deny");
}

#[test]
fn concurrent_failures_lock_after_exactly_deny() {
    let lab = or_skip!(lab("nodelay deny=5"));
    let rounds = rounds(2).min(50);
    for round in 0..rounds {
        let codes = lab.generate("dave", &[]);
        let wrong = vec!["ZZZZZ-ZZZZZ".to_owned(); PROCESSES];
        let (results, log) = race(&lab, "dave", &wrong);
        // Exactly `deny` attempts are judged and counted; every later one
        // finds the lock, under the store lock, and is refused unjudged.
        assert_eq!(count(&results, "PAM_AUTH_ERR"), 5, "round {round}: {results:?}");
        assert_eq!(
            count(&results, "PAM_MAXTRIES"),
            PROCESSES - 5,
            "round {round}: {results:?}"
        );
        assert_eq!(
            log.iter().filter(|l| l.contains("codes now locked")).count(),
            1,
            "{log:?}"
        );
        let status = lab.status("dave");
        assert_eq!(status["failures"], 5);
        assert_eq!(status["locked"], true);
        // Locked: even the right code is refused.
        assert_eq!(lab.login(SVC, "dave", &[&codes[0]]).result(), "PAM_MAXTRIES");
    }
}

/// Every version of the file a reader can see parses, and any two versions
/// with the same salt hold the same hashes: never a mix of two sets.
fn watch_file(path: &std::path::Path, stop: &AtomicBool) -> (usize, usize) {
    let mut hashes_by_salt: HashMap<String, Vec<String>> = HashMap::new();
    let mut reads = 0;
    while !stop.load(Ordering::Relaxed) {
        let text = fs::read_to_string(path).expect("the file is always there (rename is atomic)");
        let set = CodeSet::parse(&text).unwrap_or_else(|e| panic!("a reader saw a bad file: {e}\n{text}"));
        let salt = format!("{:?}", set.kdf.salt);
        let hashes: Vec<String> = set.codes.iter().map(|c| format!("{:?}", c.hash)).collect();
        let first = hashes_by_salt.entry(salt).or_insert_with(|| hashes.clone());
        assert_eq!(
            *first, hashes,
            "two versions with one salt but different hashes: a mix"
        );
        reads += 1;
    }
    (reads, hashes_by_salt.len())
}

#[test]
fn generate_racing_logins_never_mixes_sets() {
    let lab = or_skip!(lab("nodelay deny=0"));
    let rounds = rounds(2).min(50);
    let (mut won, mut lost) = (0, 0);
    for round in 0..rounds {
        let start = std::time::Instant::now();
        let old = lab.generate("erin", &["--count", "16"]);
        // Logins start one after another while the set is replaced; the last
        // four only once the first replacement is done, so they must lose.
        let gap = start.elapsed() * 3 / 2 / old.len() as u32;
        let stop = AtomicBool::new(false);
        let replaced = AtomicBool::new(false);
        let file = lab.user_file("erin");
        let (results, new_sets, (reads, versions)) = std::thread::scope(|s| {
            let watcher = s.spawn(|| watch_file(&file, &stop));
            let logins = s.spawn(|| {
                let children: Vec<_> = old
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        std::thread::sleep(gap);
                        while i >= old.len() - 4 && !replaced.load(Ordering::Relaxed) {
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        }
                        lab.spawn(&mut lab.login_cmd(SVC, "erin", &[c]))
                    })
                    .collect();
                lab.finish_all(children, 300).0
            });
            // Replace the set twice while the logins run.
            let first = lab.generate("erin", &["--count", "16"]);
            replaced.store(true, Ordering::Relaxed);
            let new_sets = vec![first, lab.generate("erin", &["--count", "16"])];
            let logins = logins.join().unwrap();
            stop.store(true, Ordering::Relaxed);
            let results: Vec<String> = logins.iter().map(|l| l.result().to_owned()).collect();
            (results, new_sets, watcher.join().unwrap())
        });
        // An old code either won against the old set or lost against a new
        // one; nothing else (a corrupt or unreadable file would be
        // PAM_AUTHINFO_UNAVAIL).
        let ok = count(&results, "PAM_SUCCESS");
        let refused = count(&results, "PAM_AUTH_ERR");
        assert_eq!(ok + refused, old.len(), "round {round}: {results:?}");
        // The old and the last set at least (a loaded machine may not schedule
        // the watcher while the middle one lives).
        assert!(versions >= 2, "the watcher saw {versions} sets");
        assert!(
            refused >= 4,
            "round {round}: logins started after the replacement lost"
        );
        (won, lost) = (won + ok, lost + refused);

        // The file now holds the last set, untouched by the old codes: no use
        // recorded, at most one failure per refused old code.
        let status = lab.status("erin");
        assert_eq!(status["total"], 16);
        assert_eq!(
            status["remaining"], 16,
            "round {round}: an old code marked a new set"
        );
        assert!(status["failures"].as_u64().unwrap() <= refused as u64);
        // The middle set is gone, the last one works.
        assert_eq!(
            lab.login(SVC, "erin", &[&new_sets[0][0]]).result(),
            "PAM_AUTH_ERR"
        );
        assert_eq!(lab.login(SVC, "erin", &[&new_sets[1][0]]).result(), "PAM_SUCCESS");
        eprintln!(
            "generate_race round {round}: {ok} old codes won, {refused} lost, {reads} reads of {versions} versions"
        );
    }
    // Logins started until well after the first replacement: both happened.
    assert!(
        won > 0 && lost > 0,
        "the race was not run: {won} won, {lost} lost"
    );
}
