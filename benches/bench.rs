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
//!   for reference a durable store write (fsync, rename, directory fsync) alone;
//! - the naive design, one salt per code tried one by one, for the ratio;
//! - `backup-codes generate` of 200 users x 10 codes on one thread and on all.
//!
//! Targets are reported, never asserted. The PAM and bulk rows need root (the
//! store must be root-owned) and the release build (`make release`).
//! Environment: `BENCH_RUNS` (default 7) and `BENCH_BULK_RUNS` (default 3; 0
//! leaves the bulk rows out).
//!
//! Run without `--bench` (as `cargo test --all-targets` does), it only checks,
//! with cheap parameters, that the verifiers it times find the right code.
// A benchmark program: a failed setup step ends the run with its message.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use pam_backup_codes::code::{CodeFormat, normalize};
use pam_backup_codes::codeset::{CodeEntry, CodeSet, Match};
use pam_backup_codes::kdf::{Hash, KdfParams, Salt, new_salt};
use pam_backup_codes::store::DirStore;
use pam_backup_codes::username::{UserName, UserNameError};
use time::OffsetDateTime;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        // Children of the bench itself, for the cold-process reference row.
        Some("--child-noop") => {}
        Some("--child-hash") => {
            KdfParams::default().hash(&[7; 16], b"ABCDE12345").unwrap();
        }
        _ if args.iter().any(|a| a == "--bench") => bench(),
        _ => self_check(),
    }
}

// ---------------------------------------------------------------- verifiers

/// The real login path: one Argon2id, then every stored hash compared.
fn verify_real(set: &CodeSet, input: &[u8]) -> Match {
    match set.digest(input).unwrap() {
        Some(digest) => set.find(&digest),
        None => Match::None,
    }
}

/// The naive design: each code with its own salt, tried one by one.
struct NaiveSet {
    params: KdfParams,
    format: CodeFormat,
    codes: Vec<(Salt, Hash)>,
}

impl NaiveSet {
    /// `count` codes, each hashed under its own salt; returns the plain codes too.
    fn generate(params: KdfParams, count: usize) -> (Self, Vec<Vec<u8>>) {
        let format = CodeFormat::DEFAULT;
        let plain = format.generate(count).unwrap();
        let codes = plain
            .iter()
            .map(|code| {
                let salt = new_salt().unwrap();
                (salt, *params.hash(&salt, code.as_bytes()).unwrap())
            })
            .collect();
        let plain = plain.iter().map(|c| c.as_bytes().to_vec()).collect();
        (
            Self {
                params,
                format,
                codes,
            },
            plain,
        )
    }

    /// The index of the matching code: one Argon2id per code tried.
    fn verify(&self, input: &[u8]) -> Option<usize> {
        let normalized = normalize(input, self.format)?;
        self.codes
            .iter()
            .position(|(salt, hash)| *self.params.hash(salt, &normalized).unwrap() == *hash)
    }
}

/// A real set of one code, padded with `count - 1` other hashes in front of
/// it, so that the real code is compared last. Returns the set and the code.
fn padded_set(params: KdfParams, count: usize) -> (CodeSet, Vec<u8>) {
    let (mut set, plain) =
        CodeSet::generate(CodeFormat::DEFAULT, 1, params, OffsetDateTime::now_utc()).unwrap();
    let real = set.codes.remove(0);
    set.codes = (0..count - 1)
        .map(|i| {
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            CodeEntry { hash, used: None }
        })
        .collect();
    set.codes.push(real);
    (set, plain[0].as_bytes().to_vec())
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

// ---------------------------------------------------------------- statistics

/// Median, min and max of a set of samples, in seconds.
#[derive(Clone, Copy)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of(samples: &[f64]) -> Self {
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Self {
            median,
            min: s[0],
            max: s[n - 1],
        }
    }
}

/// Times every job once per round, for `runs` rounds after a warm-up round,
/// so that a change of load on the machine hits every job alike. Returns the
/// samples of each job, in seconds.
fn rounds(runs: usize, jobs: &mut [&mut dyn FnMut()]) -> Vec<Vec<f64>> {
    let mut samples = vec![Vec::with_capacity(runs); jobs.len()];
    let n = jobs.len();
    for round in 0..=runs {
        // A different job goes first each round: the first after a pause
        // (a fork, a sleep) tends to be the slowest.
        for k in 0..n {
            let i = (round + k) % n;
            let start = Instant::now();
            jobs[i]();
            if round > 0 {
                samples[i].push(start.elapsed().as_secs_f64());
            }
        }
    }
    samples
}

// ---------------------------------------------------------------- the table

enum Unit {
    Seconds,
    KiB,
    Ratio,
}

fn show(value: f64, unit: &Unit) -> String {
    match unit {
        Unit::Seconds if value >= 1.0 => format!("{value:.2} s"),
        Unit::Seconds => format!("{:.1} ms", value * 1e3),
        Unit::KiB => format!("{:.1} MiB", value / 1024.0),
        Unit::Ratio => format!("{value:.2}x"),
    }
}

/// A target: the ratio of the median to a reference, and the bound it should meet.
enum Target {
    /// Reported for comparison only.
    None { ratio: Option<f64> },
    /// median / reference <= bound.
    AtMost {
        bound: f64,
        reference: f64,
        text: String,
    },
    /// median / reference >= bound.
    AtLeast {
        bound: f64,
        reference: f64,
        text: String,
    },
}

struct Table {
    text: String,
}

impl Table {
    fn new() -> Self {
        let mut text = String::new();
        text += "| measurement | median | min | max | target | ratio | met |\n";
        text += "| --- | ---: | ---: | ---: | --- | ---: | --- |\n";
        Self { text }
    }

    fn row(&mut self, what: &str, stats: Stats, unit: Unit, target: Target) {
        let (target_text, ratio, met) = match target {
            Target::None { ratio } => ("-".to_owned(), ratio, "-"),
            Target::AtMost {
                bound,
                reference,
                text,
            } => {
                let ratio = stats.median / reference;
                (text, Some(ratio), if ratio <= bound { "met" } else { "NOT met" })
            }
            Target::AtLeast {
                bound,
                reference,
                text,
            } => {
                let ratio = stats.median / reference;
                (text, Some(ratio), if ratio >= bound { "met" } else { "NOT met" })
            }
        };
        let ratio = ratio.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
        let _ = writeln!(
            self.text,
            "| {what} | {} | {} | {} | {target_text} | {ratio} | {met} |",
            show(stats.median, &unit),
            show(stats.min, &unit),
            show(stats.max, &unit),
        );
        // Rows appear as they are measured; the whole table is printed at the end.
        eprintln!("bench: {what}: median {}", show(stats.median, &unit));
    }
}

fn env_runs(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
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
        }
        Err(e) => eprintln!("bench: PAM rows skipped: {e}"),
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
    match store_write(runs) {
        Ok(stats) => table.row(
            "for reference: durable store write (temp file, fsync, rename, dir fsync)",
            stats,
            Unit::Seconds,
            Target::None { ratio: None },
        ),
        Err(e) => eprintln!("bench: store write row skipped: {e}"),
    }

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

/// The release build's directory: this bench runs as `target/release/deps/bench-*`.
fn release_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("no target directory")?
        .to_path_buf();
    for needed in ["backup-codes", "libpam_backup_codes.so", "examples/pam-driver"] {
        if !dir.join(needed).exists() {
            return Err(format!(
                "{} is missing: run `make release`",
                dir.join(needed).display()
            ));
        }
    }
    Ok(dir)
}

fn need_root() -> Result<(), String> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err("needs root (the store must be root-owned)".into())
    }
}

/// A private store and PAM configuration directory for driver runs.
struct Pam {
    dir: tempfile::TempDir,
    release: PathBuf,
    codes: Vec<String>,
}

const USER: &str = "benchuser";

impl Pam {
    fn new() -> Result<Self, String> {
        need_root()?;
        let release = release_dir()?;
        let dir = bench_dir()?;
        let store = dir.path().join("store");
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&store)
            .map_err(|e| e.to_string())?;
        let confdir = dir.path().join("pam.d");
        fs::create_dir(&confdir).map_err(|e| e.to_string())?;
        let module = release.join("libpam_backup_codes.so");
        fs::write(
            confdir.join("bench"),
            format!(
                "auth required {} store={} nodelay\n",
                module.display(),
                store.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        fs::write(confdir.join("bench-permit"), "auth required pam_permit.so\n")
            .map_err(|e| e.to_string())?;
        fs::write(confdir.join("other"), "auth required pam_deny.so\n").map_err(|e| e.to_string())?;
        // Default parameters, the most codes a set may hold: one per run.
        let out = Command::new(release.join("backup-codes"))
            .arg("--store")
            .arg(&store)
            .args(["generate", "--count", "100", "--format", "json", USER])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "generate failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        let codes = value["codes"]
            .as_array()
            .ok_or("no codes")?
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        Ok(Self { dir, release, codes })
    }

    /// One driver run: its peak RSS in KiB, and whether it succeeded.
    fn run(&self, service: &str, answer: &str) -> (f64, bool) {
        let out = Command::new(self.release.join("examples/pam-driver"))
            .arg("--confdir")
            .arg(self.dir.path().join("pam.d"))
            .args([
                "--service",
                service,
                "--user",
                USER,
                "--rhost",
                "192.0.2.1",
                "--answer",
                answer,
            ])
            .stderr(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let rss = stdout
            .lines()
            .find_map(|l| l.strip_prefix("maxrss-kib: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(f64::NAN);
        (rss, stdout.contains("result: PAM_SUCCESS"))
    }
}

/// `DirLock::write` of a 10-code set: what marking a code used costs on
/// top of the hash, on the disk that holds the temporary directory.
fn store_write(runs: usize) -> Result<Stats, String> {
    need_root()?;
    let dir = bench_dir()?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())?;
    let store = DirStore::open(dir.path()).map_err(|e| e.to_string())?;
    let cheap = KdfParams {
        m_cost: 8192,
        t_cost: 1,
        p_cost: 1,
    };
    let (set, _) = CodeSet::generate(CodeFormat::DEFAULT, 10, cheap, OffsetDateTime::now_utc())
        .map_err(|e| e.to_string())?;
    let user: UserName = USER.parse().map_err(|e: UserNameError| e.to_string())?;
    let samples = rounds(
        runs,
        &mut [&mut || {
            store.lock().and_then(|lock| lock.write(&user, &set)).unwrap();
        }],
    );
    Ok(Stats::of(&samples[0]))
}

/// A temporary directory for one benchmark, removed when dropped.
fn bench_dir() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("pam-backup-codes-bench.")
        .tempdir()
        .map_err(|e| e.to_string())
}

/// `backup-codes generate` of 200 users x 10 codes into fresh stores: one
/// thread, all threads, and the per-pair speed-up.
fn bulk(runs: usize) -> Result<Bulk, String> {
    need_root()?;
    let release = release_dir()?;
    let dir = bench_dir()?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())?;
    let list = dir.path().join("users");
    let names: String = (0..200).map(|i| format!("bulk{i:03}\n")).collect();
    fs::write(&list, names).map_err(|e| e.to_string())?;
    let mut n = 0;
    // Returns wall time and CPU time.
    let mut generate = |threads: Option<&str>| -> Result<(f64, f64), String> {
        n += 1;
        let store = dir.path().join(format!("store{n}"));
        let mut cmd = Command::new(release.join("backup-codes"));
        cmd.arg("--store")
            .arg(&store)
            .args(["generate", "--count", "10", "--format", "json", "--users-from"])
            .arg(&list);
        cmd.env_remove("RAYON_NUM_THREADS");
        if let Some(threads) = threads {
            cmd.env("RAYON_NUM_THREADS", threads);
        }
        let cpu = children_cpu_seconds();
        let start = Instant::now();
        let out = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| e.to_string())?;
        let elapsed = start.elapsed().as_secs_f64();
        let cpu = children_cpu_seconds() - cpu;
        if !out.status.success() {
            return Err(format!(
                "generate failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let _ = fs::remove_dir_all(&store);
        Ok((elapsed, cpu))
    };
    let (mut one, mut all, mut speedup, mut busy) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (t1, _) = generate(Some("1"))?;
        let (tn, cpu) = generate(None)?;
        one.push(t1);
        all.push(tn);
        speedup.push(t1 / tn);
        busy.push(cpu / tn);
    }
    Ok(Bulk {
        one: Stats::of(&one),
        all: Stats::of(&all),
        speedup: Stats::of(&speedup),
        busy: Stats::of(&busy),
    })
}

/// Bulk generation timings.
struct Bulk {
    one: Stats,
    all: Stats,
    speedup: Stats,
    /// CPU time over wall time with all threads: the cores actually had.
    busy: Stats,
}

/// User + system CPU time of the children waited for so far, in seconds
/// (/proc/self/stat cutime + cstime, in USER_HZ ticks, 100 on Linux).
fn children_cpu_seconds() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses, start at field 3.
    let rest = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    match (fields.get(16 - 3), fields.get(17 - 3)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}
