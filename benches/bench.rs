//! `make bench` (`cargo bench --bench bench`): what a login and a bulk
//! provisioning cost, against the targets of the design, as a Markdown table.
//!
//! Every figure is the median of several runs, with min and max:
//! - one Argon2id evaluation at the default parameters: the floor;
//! - verification through the real core (`CodeSet::digest` + `find`) with 10,
//!   100 and 1000 codes stored: one Argon2id whatever the count;
//! - one PAM transaction through libpam (`pam_start_confdir`, the release
//!   `examples/pam-driver`) consuming a code, fsyncs included; the process's
//!   start-up, measured with a `pam_permit.so` stack, is subtracted;
//! - the driver's peak RSS (`maxrss-kib`, VmHWM) during that transaction, and
//!   each step a file-store login adds to the floor (NSS lookup, store-path
//!   walk, Argon2 memory map + wipe, lock + durable write);
//! - the naive design, one salt per code tried one by one, for the ratio;
//! - `backup-codes generate` of 200 users x 10 codes on one thread and on all;
//! - the fleet store on a throwaway PostgreSQL on loopback: a PAM
//!   transaction, its two steps in-process (where the time goes), the same
//!   steps with 100,000 users in the database against 10, the server
//!   sessions of the login role while 64 logins sit at the prompt, and
//!   logins per second with 32 clients over 4 hosts against the file store.
//!
//! Targets are reported, never asserted. The PAM and bulk rows need root (the
//! store must be root-owned) and the release build (`make release`).
//! Environment: `BENCH_RUNS` (default 7), `BENCH_BULK_RUNS` (default 3; 0
//! leaves the bulk rows out), `BENCH_SCALE_USERS` (default 100000) and
//! `BENCH_PROMPTS` (default 64), smaller for a quick run.
//!
//! Run without `--bench` (as `cargo test --all-targets` does), it only checks,
//! with cheap parameters, that the verifiers it times find the right code.
// A benchmark program: a failed setup step ends the run with its message.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

//!
//! The parts: [`stats`] (medians, rounds, the table) and [`measure`] (what
//! is timed); PAM runs go through the test harness's [`common::Lab`].

use std::fs;
use std::process::Command;

use pam_backup_codes::codeset::{CodeSet, Match};
use pam_backup_codes::kdf::{KdfParams, new_salt};
use pam_backup_codes::username::UserName;

/// The integration tests' harness: the same lab, module and driver.
#[path = "../tests/common/mod.rs"]
mod common;
// In a folder of their own: Cargo would take benches/*.rs for benches.
#[path = "bench/measure.rs"]
mod measure;
#[path = "bench/stats.rs"]
mod stats;

use measure::{
    CLIENTS, FileSteps, FleetPam, FleetSteps, NaiveSet, Pam, bulk, padded_set, scale, throughput, verify_real,
};
use stats::{Stats, Table, Target, Unit, env_runs, rounds, show};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        // Children of the bench itself, for the cold-process reference row.
        Some("--child-noop") => {}
        Some("--child-hash") => {
            KdfParams::default().hash(&[7; 16], b"ABCDE12345").unwrap();
        }
        // A login's NSS lookup in a fresh process: the sources loaded, the name resolved.
        Some("--child-nss") => {
            let name: UserName = args[1].parse().unwrap();
            assert!(name.resolve().unwrap().is_some(), "NSS knows {}", name.as_str());
        }
        _ if args.iter().any(|a| a == "--bench") => bench(),
        _ => self_check(),
    }
}

fn self_check() {
    let cheap = KdfParams {
        m_cost: 8192,
        t_cost: 1,
        p_cost: 1,
    };
    for count in [1, 10, 1000] {
        let (set, code) = padded_set(cheap, count);
        assert_eq!(verify_real(&set, &code), Match::Unused(count - 1));
        assert_eq!(verify_real(&set, b"00000-00000"), Match::None);
    }
    let (naive, plain) = NaiveSet::generate(cheap, 3);
    for (i, code) in plain.iter().enumerate() {
        assert_eq!(naive.verify(code), Some(i), "the naive verifier finds code {i}");
    }
    assert_eq!(naive.verify(b"00000-00000"), None);
    println!("bench: verifiers checked; run `make bench` (cargo bench) to measure");
}

// ---------------------------------------------------------------- the runs

fn bench() {
    let runs = env_runs("BENCH_RUNS", 7);
    // BENCH_BULK_RUNS=0 leaves the (slowest) bulk rows out.
    let bulk_runs = std::env::var("BENCH_BULK_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let params = KdfParams::default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut table = Table::new();
    let at_most = |bound: f64, reference: f64, text: &str| Target::AtMost {
        bound,
        reference,
        text: text.to_owned(),
    };

    // The floor, one Argon2id at the default parameters, and the real
    // verifier however many codes are stored, timed in the same rounds.
    let salt = new_salt().unwrap();
    let mut floor_job = || {
        params.hash(&salt, b"ABCDE12345").unwrap();
    };
    let sets: Vec<(usize, CodeSet, Vec<u8>)> = [10, 100, 1000]
        .into_iter()
        .map(|count| {
            let (set, code) = padded_set(params, count);
            (count, set, code)
        })
        .collect();
    let mut verify_jobs: Vec<Box<dyn FnMut()>> = sets
        .iter()
        .map(|(count, set, code)| -> Box<dyn FnMut()> {
            Box::new(move || assert_eq!(verify_real(set, code), Match::Unused(count - 1)))
        })
        .collect();
    let mut jobs: Vec<&mut dyn FnMut()> = vec![&mut floor_job];
    jobs.extend(verify_jobs.iter_mut().map(|job| job.as_mut() as &mut dyn FnMut()));
    let samples = rounds(runs, &mut jobs);
    let floor = Stats::of(&samples[0]);
    let (m, t, p) = (params.m_cost, params.t_cost, params.p_cost);
    table.row(
        &format!("Argon2id m={m} t={t} p={p}, one evaluation (the floor)"),
        floor,
        Unit::Seconds,
        Target::None { ratio: Some(1.0) },
    );
    for ((count, _, _), samples) in sets.iter().zip(&samples[1..]) {
        table.row(
            &format!("verify, {count} codes stored (digest + find)"),
            Stats::of(samples),
            Unit::Seconds,
            at_most(1.05, floor.median, "<= 1.05x floor"),
        );
    }

    // A whole PAM transaction and its peak memory, against the start-up of
    // the same driver with a pam_permit.so stack, and a floor of the moment.
    match Pam::new() {
        Ok(pam) => {
            let mut codes = pam.codes.iter();
            let (mut rss, mut startup_rss) = (Vec::new(), Vec::new());
            let failures = std::cell::Cell::new(0);
            let samples = rounds(
                runs,
                &mut [
                    &mut || {
                        let (r, ok) = pam.run("bench-permit", "x");
                        startup_rss.push(r);
                        failures.set(failures.get() + usize::from(!ok));
                    },
                    &mut || {
                        let code = codes.next().expect("100 codes, at most 99 runs");
                        let (r, ok) = pam.run("bench", code);
                        rss.push(r);
                        failures.set(failures.get() + usize::from(!ok));
                    },
                    &mut floor_job,
                ],
            );
            assert_eq!(failures.get(), 0, "every driver run succeeds");
            let startup = Stats::of(&samples[0]);
            let transaction: Vec<f64> = samples[1].iter().map(|t| t - startup.median).collect();
            let floor_now = Stats::of(&samples[2]).median;
            table.row(
                "PAM transaction via libpam: code consumed, fsync'd (driver run minus start-up)",
                Stats::of(&transaction),
                Unit::Seconds,
                at_most(
                    1.15,
                    floor_now,
                    &format!(
                        "<= 1.15x floor (floor in these rounds: {})",
                        show(floor_now, &Unit::Seconds)
                    ),
                ),
            );
            let bound = f64::from(m + 8 * 1024);
            table.row(
                "peak RSS of that transaction (pam-driver VmHWM)",
                Stats::of(&rss),
                Unit::KiB,
                at_most(
                    1.0,
                    bound,
                    &format!("<= m_cost + 8 MiB = {}", show(bound, &Unit::KiB)),
                ),
            );
            table.row(
                "for reference: pam-driver start-up (pam_permit.so stack)",
                startup,
                Unit::Seconds,
                Target::None { ratio: None },
            );
            table.row(
                "for reference: its peak RSS",
                Stats::of(&startup_rss),
                Unit::KiB,
                Target::None { ratio: None },
            );
            file_steps(&mut table, &pam, runs, &mut floor_job);
        }
        Err(e) => eprintln!("bench: PAM rows skipped: {e}"),
    }
    // The fleet store: a PAM transaction against PostgreSQL on loopback, the
    // two steps that make its difference (in-process, each with the
    // connection of its own), and logins per second with 32
    // clients over 4 hosts against the file store.
    match FleetPam::new() {
        Ok(pam) => {
            let steps = FleetSteps::new(&pam);
            let mut codes = pam.codes.iter();
            let failures = std::cell::Cell::new(0);
            let (mut fetch, mut judge) = (Vec::new(), Vec::new());
            let samples = rounds(
                runs,
                &mut [
                    &mut || failures.set(failures.get() + usize::from(!pam.run("bench-permit", "x"))),
                    &mut || {
                        let code = codes.next().expect("100 codes, at most 99 runs");
                        failures.set(failures.get() + usize::from(!pam.run("bench-pg", code)));
                    },
                    &mut || {
                        let (f, j) = steps.run();
                        fetch.push(f);
                        judge.push(j);
                    },
                    &mut || steps.after_prompt(),
                    &mut floor_job,
                ],
            );
            assert_eq!(failures.get(), 0, "every driver run succeeds");
            let startup = Stats::of(&samples[0]).median;
            let transaction: Vec<f64> = samples[1].iter().map(|t| t - startup).collect();
            let floor_now = Stats::of(&samples[4]).median;
            // The warm-up round is not in `samples`; drop it here too.
            let (fetch, judge) = (&fetch[1..], &judge[1..]);
            table.row(
                "fleet: PAM transaction against PostgreSQL on loopback (driver run minus start-up)",
                Stats::of(&transaction),
                Unit::Seconds,
                at_most(
                    1.4,
                    floor_now,
                    &format!(
                        "<= 1.4x floor (floor in these rounds: {})",
                        show(floor_now, &Unit::Seconds)
                    ),
                ),
            );
            table.row(
                "fleet, where the time goes: connect (TCP, TLS verify-full, SCRAM), login_info, close, in-process",
                Stats::of(fetch),
                Unit::Seconds,
                Target::None {
                    ratio: Some(Stats::of(fetch).median / floor_now),
                },
            );
            table.row(
                "fleet, where the time goes: connect again, BEGIN, judge, COMMIT (WAL flush), close, in-process",
                Stats::of(judge),
                Unit::Seconds,
                Target::None {
                    ratio: Some(Stats::of(judge).median / floor_now),
                },
            );
            let after = Stats::of(&samples[3]);
            table.row(
                "fleet, after the prompt as a login runs it: Argon2id with the connection made beside it, judge, COMMIT, close, in-process",
                after,
                Unit::Seconds,
                Target::None {
                    ratio: Some(after.median / floor_now),
                },
            );
            fleet_scale(&mut table, &pam, runs);
            let prompts = env_runs("BENCH_PROMPTS", 64);
            let sessions = pam.at_prompt(prompts, 5);
            table.row(
                &format!(
                    "fleet: server sessions of the login role with {prompts} logins at the prompt at once"
                ),
                Stats::of(&sessions),
                Unit::Count,
                Target::Exactly {
                    value: 0.0,
                    text: "0 (every sample)".to_owned(),
                },
            );
        }
        Err(e) => eprintln!("bench: fleet rows skipped: {e}"),
    }
    match throughput(runs.min(5)) {
        Ok(tp) => {
            table.row(
                &format!("file store: logins/s, {CLIENTS} clients at once over 4 services"),
                tp.file,
                Unit::PerSecond,
                Target::None { ratio: None },
            );
            table.row(
                &format!("fleet: logins/s, {CLIENTS} clients at once over 4 hosts"),
                tp.fleet,
                Unit::PerSecond,
                Target::AtLeast {
                    bound: 0.8,
                    reference: tp.file.median,
                    text: ">= 0.8x the file store".to_owned(),
                },
            );
        }
        Err(e) => eprintln!("bench: fleet throughput rows skipped: {e}"),
    }

    // A fresh process pays for its Argon2id memory with page faults: what a
    // login in a new sshd or sudo process costs, without PAM.
    let exe = std::env::current_exe().unwrap();
    let child = |arg: &str| {
        let status = Command::new(&exe).arg(arg).status().unwrap();
        assert!(status.success());
    };
    let samples = rounds(
        runs,
        &mut [&mut || child("--child-noop"), &mut || child("--child-hash")],
    );
    let spawn = Stats::of(&samples[0]).median;
    let cold: Vec<f64> = samples[1].iter().map(|t| t - spawn).collect();
    table.row(
        "for reference: one Argon2id in a fresh process (minus its start-up)",
        Stats::of(&cold),
        Unit::Seconds,
        Target::None {
            ratio: Some(Stats::of(&cold).median / floor.median),
        },
    );
    // The naive design, a wrong code: every failed login tries every code.
    let naive: Vec<(usize, NaiveSet)> = [10, 100]
        .into_iter()
        .map(|count| (count, NaiveSet::generate(params, count).0))
        .collect();
    let mut naive_jobs: Vec<Box<dyn FnMut()>> = naive
        .iter()
        .map(|(_, set)| -> Box<dyn FnMut()> {
            Box::new(move || assert_eq!(set.verify(b"00000-00000"), None))
        })
        .collect();
    let mut jobs: Vec<&mut dyn FnMut()> = vec![&mut floor_job];
    jobs.extend(naive_jobs.iter_mut().map(|job| job.as_mut() as &mut dyn FnMut()));
    let samples = rounds(runs, &mut jobs);
    let floor_now = Stats::of(&samples[0]).median;
    for ((count, _), samples) in naive.iter().zip(&samples[1..]) {
        let stats = Stats::of(samples);
        table.row(
            &format!("naive: salt per code, {count} codes, wrong code"),
            stats,
            Unit::Seconds,
            Target::None {
                ratio: Some(stats.median / floor_now),
            },
        );
    }

    // Bulk generation.
    match if bulk_runs == 0 {
        Err("BENCH_BULK_RUNS=0".to_owned())
    } else {
        bulk(bulk_runs)
    } {
        Ok(bulk) => {
            table.row(
                "generate 200 users x 10 codes, RAYON_NUM_THREADS=1",
                bulk.one,
                Unit::Seconds,
                Target::None { ratio: None },
            );
            table.row(
                &format!("generate 200 users x 10 codes, all {cores} threads"),
                bulk.all,
                Unit::Seconds,
                Target::None { ratio: None },
            );
            let text = if cores >= 2 {
                ">= 1.8x on 2 cores"
            } else {
                ">= 1.8x (needs 2 cores)"
            };
            table.row(
                "speed-up, one thread / all threads (per run pair)",
                bulk.speedup,
                Unit::Ratio,
                Target::AtLeast {
                    bound: 1.8,
                    reference: 1.0,
                    text: text.to_owned(),
                },
            );
            table.row(
                "for reference: cores busy with all threads (CPU time / wall time)",
                bulk.busy,
                Unit::Ratio,
                Target::None { ratio: None },
            );
        }
        Err(e) => eprintln!("bench: bulk rows skipped: {e}"),
    }

    println!(
        "pam-backup-codes benchmark: {cores} cores, load average at start {}; \
         medians of {runs} runs ({bulk_runs} for bulk) after a warm-up; each ratio is to the \
         floor timed in the same rounds",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!();
    print!("{}", table.text);
}

/// The steps a file-store login adds to the floor, each timed with the
/// floor in the same rounds: the NSS lookup in a fresh process (a child
/// resolving the bench user minus a child doing nothing, both seeing the
/// lab's accounts), the store-path walk, the Argon2 memory's map, first
/// touch, wipe and unmap (a hash in a fresh mapping minus one in memory
/// mapped before), and the lock with the durable write.
fn file_steps(table: &mut Table, pam: &Pam, runs: usize, floor_job: &mut dyn FnMut()) {
    let steps = FileSteps::new(pam);
    let failures = std::cell::Cell::new(0);
    let child = |args: &[&str]| failures.set(failures.get() + usize::from(!pam.child(args)));
    let (mut noop, mut nss) = (Vec::new(), Vec::new());
    let (mut fresh, mut warm) = (Vec::new(), Vec::new());
    let time = |job: &mut dyn FnMut()| {
        let start = std::time::Instant::now();
        job();
        start.elapsed().as_secs_f64()
    };
    // Pairs timed back to back inside one job, so that their difference
    // sees one moment of the machine.
    let samples = rounds(
        runs,
        &mut [
            floor_job,
            &mut || {
                // Which child goes first alternates: the first after a
                // pause tends to be the slower.
                if noop.len() % 2 == 0 {
                    noop.push(time(&mut || child(&["--child-noop"])));
                    nss.push(time(&mut || child(&["--child-nss", "benchuser"])));
                } else {
                    nss.push(time(&mut || child(&["--child-nss", "benchuser"])));
                    noop.push(time(&mut || child(&["--child-noop"])));
                }
            },
            &mut || steps.walk(),
            &mut || {
                fresh.push(time(&mut || steps.hash_fresh()));
                warm.push(time(&mut || steps.hash_warm()));
            },
            &mut || steps.write(),
        ],
    );
    assert_eq!(failures.get(), 0, "every child run succeeds");
    let floor_now = Stats::of(&samples[0]).median;
    // The warm-up round's pairs are not in `samples`: drop them too.
    let minus =
        |a: &[f64], b: &[f64]| -> Vec<f64> { a[1..].iter().zip(&b[1..]).map(|(x, y)| x - y).collect() };
    let rows = [
        (
            "file store step: NSS lookup, fresh process (child resolving the user minus a no-op child)",
            minus(&nss, &noop),
        ),
        (
            "file store step: store-path walk from / (trusted::open_dir), in-process",
            samples[2].clone(),
        ),
        (
            "file store step: Argon2 memory map + first touch + wipe + unmap (fresh mapping minus reused), in-process",
            minus(&fresh, &warm),
        ),
        (
            "file store step: lock + durable write (temp file, fsync, rename, dir fsync), in-process",
            samples[4].clone(),
        ),
    ];
    for (what, samples) in rows {
        let stats = Stats::of(&samples);
        table.row(
            what,
            stats,
            Unit::Seconds,
            Target::None {
                ratio: Some(stats.median / floor_now),
            },
        );
    }
}

/// The fleet's database work per login with a large database against
/// the same with 10 users (BENCH_SCALE_USERS, default 100,000 users of 10
/// codes each).
fn fleet_scale(table: &mut Table, pam: &FleetPam, runs: usize) {
    let users = env_runs("BENCH_SCALE_USERS", 100_000);
    match scale(pam, users, runs, 5) {
        Ok(s) => {
            table.row(
                "fleet: connect + login_info + connect + judge + COMMIT, 10 users in the database, in-process",
                s.small,
                Unit::Seconds,
                Target::None { ratio: None },
            );
            table.row(
                &format!(
                    "fleet: the same with {users} users and {} codes in the database",
                    users * 10
                ),
                s.large,
                Unit::Seconds,
                Target::AtMost {
                    bound: 1.1,
                    reference: s.small.median,
                    text: "<= 1.1x the same with 10 users".to_owned(),
                },
            );
        }
        Err(e) => eprintln!("bench: fleet scale rows skipped: {e}"),
    }
}
