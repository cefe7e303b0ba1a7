//! What `make bench` measures: the verifiers (the real one and the naive
//! design), whole PAM transactions in a [`Lab`], a durable store write,
//! bulk generation, and the fleet store on a PostgreSQL on loopback.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use pam_backup_codes::code::{CodeFormat, normalize};
use pam_backup_codes::codeset::Hashing;
use pam_backup_codes::codeset::{CodeEntry, CodeSet, Match};
use pam_backup_codes::kdf::{Hash, KdfParams, Salt, Workspace, new_salt};
use pam_backup_codes::lockout::Lockout;
use pam_backup_codes::store::location::Location;
use pam_backup_codes::store::{DirStore, Judgement, Store};
use pam_backup_codes::trusted;
use pam_backup_codes::username::UserName;
use pam_backup_codes::verdict::{Attempt, Origin, Outcome, Policy};
use time::OffsetDateTime;

use crate::common::postgres::Fleet;
use crate::common::{Lab, target_dir};
use crate::stats::{Stats, rounds};

/// The real login path: one Argon2id, then every stored hash compared.
pub fn verify_real(set: &CodeSet, input: &[u8]) -> Match {
    match set.digest(input).unwrap() {
        Some(digest) => set.find(&digest),
        None => Match::None,
    }
}

/// The naive design: each code with its own salt, tried one by one.
pub struct NaiveSet {
    params: KdfParams,
    format: CodeFormat,
    codes: Vec<(Salt, Hash)>,
}

impl NaiveSet {
    /// `count` codes, each hashed under its own salt; returns the plain codes too.
    pub fn generate(params: KdfParams, count: usize) -> (Self, Vec<Vec<u8>>) {
        // Plain codes hashed as typed: no check symbol, which the real sets
        // strip before hashing.
        let format = CodeFormat::DEFAULT.with_check_symbol(false);
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
    pub fn verify(&self, input: &[u8]) -> Option<usize> {
        let normalized = normalize(input, self.format)?;
        self.codes
            .iter()
            .position(|(salt, hash)| *self.params.hash(salt, &normalized).unwrap() == *hash)
    }
}

/// A real set of one code, padded with `count - 1` other hashes in front of
/// it, so that the real code is compared last. Returns the set and the code.
pub fn padded_set(params: KdfParams, count: usize) -> (CodeSet, Vec<u8>) {
    let (mut set, plain) =
        CodeSet::generate(CodeFormat::DEFAULT, 1, params, OffsetDateTime::now_utc()).unwrap();
    let real = set.codes.remove(0);
    set.codes = (0..count - 1)
        .map(|i| {
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            CodeEntry {
                hash,
                used: None,
                expires: None,
            }
        })
        .collect();
    set.codes.push(real);
    (set, plain[0].as_bytes().to_vec())
}

/// Whether the build the bench runs from has every piece a PAM or bulk row
/// needs: the bench runs as `target/release/deps/bench-*`, next to them.
fn release_ready() -> Result<(), String> {
    let dir = target_dir();
    for needed in ["backup-codes", "libpam_backup_codes.so", "examples/pam-driver"] {
        if !dir.join(needed).exists() {
            return Err(format!(
                "{} is missing: run `make release`",
                dir.join(needed).display()
            ));
        }
    }
    Ok(())
}

fn need_root() -> Result<(), String> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err("needs root (the store must be root-owned)".into())
    }
}

const USER: &str = "benchuser";

/// A lab with two services: `bench`, the module alone (nodelay), and
/// `bench-permit`, pam_permit.so, for the driver's start-up.
pub struct Pam {
    lab: Lab,
    /// The codes of the bench user: the most a set may hold, one per run.
    pub codes: Vec<String>,
}

impl Pam {
    pub fn new() -> Result<Self, String> {
        need_root()?;
        release_ready()?;
        let lab = Lab::with_service("bench", "nodelay");
        lab.service("bench-permit", "auth required pam_permit.so\n");
        let codes = lab.generate(USER, &["--count", "100"]);
        Ok(Self { lab, codes })
    }

    /// Runs the bench itself with `args` (`--child-...`), seeing the lab's
    /// accounts as the driver does; whether it succeeded.
    pub fn child(&self, args: &[&str]) -> bool {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(args);
        self.lab.with_lab_accounts(&mut cmd);
        cmd.status().is_ok_and(|s| s.success())
    }

    /// One driver run: its peak RSS in KiB, and whether it succeeded.
    pub fn run(&self, service: &str, answer: &str) -> (f64, bool) {
        let login = self.lab.login(service, USER, &[answer]);
        let rss = login
            .lines("maxrss-kib: ")
            .first()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(f64::NAN);
        (rss, login.result() == "PAM_SUCCESS")
    }
}

/// The steps a file-store login adds to the Argon2id, in-process, on the
/// lab's store (the NSS lookup needs a fresh process: see [`Pam::child`]).
pub struct FileSteps {
    store: DirStore,
    params: KdfParams,
    salt: Salt,
    workspace: std::cell::RefCell<Workspace>,
    /// A set of the default size, written for another user than the bench's.
    set: CodeSet,
    user: UserName,
}

impl FileSteps {
    pub fn new(pam: &Pam) -> Self {
        let params = KdfParams::default();
        let (set, _) = CodeSet::generate(CodeFormat::DEFAULT, 10, params, OffsetDateTime::now_utc()).unwrap();
        let steps = Self {
            store: DirStore::open(&pam.lab.store).unwrap(),
            params,
            salt: new_salt().unwrap(),
            workspace: std::cell::RefCell::default(),
            set,
            user: "benchwrite".parse().unwrap(),
        };
        // The workspace mapped and faulted in once, as the warm case is.
        steps.hash_warm();
        steps
    }

    /// The store path opened from `/`, each directory checked on its descriptor.
    pub fn walk(&self) {
        trusted::open_dir(self.store.path()).unwrap();
    }

    /// One Argon2id in a mapping of its own, as a login does: mapped,
    /// faulted in, wiped and unmapped.
    pub fn hash_fresh(&self) {
        self.params.hash(&self.salt, b"ABCDE12345").unwrap();
    }

    /// The same in memory mapped (and faulted in) once before.
    pub fn hash_warm(&self) {
        let mut workspace = self.workspace.borrow_mut();
        self.params
            .hash_in(&mut workspace, &self.salt, b"ABCDE12345")
            .unwrap();
    }

    /// The store's lock, then the set written durably (temporary file,
    /// fsync, rename, directory fsync).
    pub fn write(&self) {
        self.store
            .lock()
            .and_then(|lock| lock.write(&self.user, &self.set))
            .unwrap();
    }
}

/// `backup-codes generate` of 200 users x 10 codes into fresh stores: one
/// thread, all threads, and the per-pair speed-up.
pub fn bulk(runs: usize) -> Result<Bulk, String> {
    need_root()?;
    release_ready()?;
    let lab = Lab::new();
    let dir = lab.path();
    let list = dir.join("users");
    let names: String = (0..200).map(|i| format!("bulk{i:03}\n")).collect();
    fs::write(&list, names).map_err(|e| e.to_string())?;
    let mut n = 0;
    // Returns wall time and CPU time.
    let mut generate = |threads: Option<&str>| -> Result<(f64, f64), String> {
        n += 1;
        let store = dir.join(format!("store{n}"));
        // generate never makes the store directory.
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&store)
            .map_err(|e| e.to_string())?;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-codes"));
        cmd.arg("--store")
            .arg(&store)
            .args([
                "generate",
                "--allow-unknown",
                "--count",
                "10",
                "--format",
                "json",
                "--users-from",
            ])
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
pub struct Bulk {
    pub one: Stats,
    pub all: Stats,
    pub speedup: Stats,
    /// CPU time over wall time with all threads: the cores actually had.
    pub busy: Stats,
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

// ------------------------------------------------------------ the fleet

/// A fleet on a throwaway PostgreSQL on loopback (tests/common/postgres.rs):
/// a host `bench-pg` (the module alone, nodelay), `bench-permit` for the
/// driver's start-up, and the bench user's 100 codes.
pub struct FleetPam {
    fleet: Fleet,
    pub codes: Vec<String>,
}

impl FleetPam {
    pub fn new() -> Result<Self, String> {
        need_root()?;
        release_ready()?;
        if crate::common::postgres::server_bin().is_none() {
            return Err("PostgreSQL's server is not installed (make deps-test)".into());
        }
        let fleet = Fleet::new();
        fleet.host("bench-pg", "nodelay", "");
        fleet.lab.service("bench-permit", "auth required pam_permit.so\n");
        let codes = fleet.generate(USER, &["--count", "100"]);
        Ok(Self { fleet, codes })
    }

    /// One driver run through `service`; whether it succeeded.
    pub fn run(&self, service: &str, answer: &str) -> bool {
        self.fleet.lab.login(service, USER, &[answer]).result() == "PAM_SUCCESS"
    }

    /// Logins held at the prompt at once: `count` drivers of another user
    /// through `bench-pg`, each answering from a FIFO once it prompts. With
    /// all of them at the prompt, the server sessions of the login role are
    /// counted `samples` times, 100 ms apart, after those of the
    /// connections made before the prompt have had up to 30 s to end. Then
    /// every login is answered and must succeed. Returns the counts.
    pub fn at_prompt(&self, count: usize, samples: usize) -> Vec<f64> {
        use std::io::Write;
        const WAITER: &str = "benchprompt";
        let codes = self.fleet.generate(WAITER, &["--count", &count.to_string()]);
        let lab = &self.fleet.lab;
        let (mut children, mut fifos) = (Vec::new(), Vec::new());
        for i in 0..count {
            let fifo = lab.path().join(format!("prompt{i}"));
            nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
            let mut cmd = lab.driver();
            cmd.args(["--service", "bench-pg", "--user", WAITER, "--answer-at-prompt"])
                .arg(&fifo);
            children.push(lab.spawn(&mut cmd));
            fifos.push(fifo);
        }
        // Opening a FIFO for writing returns once its driver opens it to
        // read: at the prompt.
        let answers: Vec<fs::File> = fifos
            .iter()
            .map(|fifo| fs::OpenOptions::new().write(true).open(fifo).unwrap())
            .collect();
        let query = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = '{}'",
            self.fleet.login
        );
        self.fleet.cluster.wait_for(&self.fleet.db, &query, "0", 30);
        let counts = (0..samples)
            .map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(100));
                self.fleet.sql(&query).trim().parse().unwrap_or(f64::NAN)
            })
            .collect();
        for (mut answer, code) in answers.into_iter().zip(&codes) {
            answer.write_all(code.as_bytes()).unwrap();
        }
        let (logins, _) = lab.finish_all(children, 600);
        let ok = logins.iter().filter(|l| l.result() == "PAM_SUCCESS").count();
        assert_eq!(ok, count, "every login held at the prompt succeeds");
        counts
    }
}

/// The store as the module opens it on a host of `fleet`, for the
/// in-process rows: the login role, its password file, the cluster's CA
/// (TLS verify-full, as every TCP store), SCRAM.
fn fleet_store(fleet: &Fleet) -> Store {
    let uri: Location = fleet.login_uri().parse().unwrap();
    Store::open(&uri, &fleet.pg_settings(Some("bench-pg"))).unwrap()
}

/// Adds `users` users of 10 codes each (random salts and hashes, never
/// matched) to `fleet`'s database, in one `INSERT ... SELECT` per table as
/// the owner, then `ANALYZE`: a large fleet without a CLI run per user.
fn bulk_load(fleet: &Fleet, users: usize) -> Result<(), String> {
    let sql = format!(
        "INSERT INTO backup_codes.sets (user_name, created, alphabet, length, m_cost, t_cost, p_cost, salt) \
         SELECT 'bulk' || g, now(), 'crockford', 10, 19456, 2, 1, decode(md5(g::text), 'hex') \
         FROM generate_series(1, {users}) g; \
         INSERT INTO backup_codes.codes (user_name, seq, hash) \
         SELECT 'bulk' || g, s, sha256(int4send(g) || int4send(s)) \
         FROM generate_series(1, {users}) g, generate_series(0, 9) s; \
         ANALYZE backup_codes.sets; ANALYZE backup_codes.codes;"
    );
    fleet.cluster.try_sql(&fleet.owner, &fleet.db, &sql).map(|_| ())
}

/// The two steps of a fleet login, in-process on the login role: what they
/// add to the Argon2id.
pub struct FleetSteps {
    store: Store,
    user: UserName,
    hashing: Hashing,
}

impl FleetSteps {
    pub fn new(pam: &FleetPam) -> Self {
        Self::of(&pam.fleet)
    }

    fn of(fleet: &Fleet) -> Self {
        // The fleet's policy, not the host's, decides: no lockout, so that
        // the wrong digests judged here never lock the set.
        fleet.cli_ok(&["db", "policy", "--deny", "0"]);
        let store = fleet_store(fleet);
        let user: UserName = USER.parse().unwrap();
        let hashing = Self::info(&store, &user);
        let steps = Self { store, user, hashing };
        steps.judge();
        steps
    }

    fn info(store: &Store, user: &UserName) -> Hashing {
        let origin = Origin::new("bench", None);
        store
            .login_info(user, &Self::policy(), &origin)
            .unwrap()
            .expect("the bench user has a set")
            .hashing
    }

    /// No lockout: the wrong codes of the judge step must not lock.
    fn policy() -> Lockout {
        Lockout {
            deny: 0,
            ..Lockout::default()
        }
    }

    /// BEGIN, `judge` (a wrong digest, counted), COMMIT, close.
    fn judge(&self) {
        let origin = Origin::new("bench", None);
        let digest = [0u8; 32];
        let attempt = Attempt {
            user: &self.user,
            hashing: &self.hashing,
            digest: Some(&digest),
            policy: &Policy {
                lockout: Self::policy(),
                ..Policy::default()
            },
            origin: &origin,
        };
        let judged = self.store.judge(&attempt).unwrap();
        assert!(matches!(judged, Judgement::Judged(Outcome::Refused { .. })));
    }

    /// The step after the prompt as a login runs it (`login::attempt`): one
    /// Argon2id with the connection made beside it, then the judgement
    /// (input that is no code: hashed as the dummy, counted), COMMIT, close.
    pub fn after_prompt(&self) {
        let origin = Origin::new("bench", None);
        let policy = Policy {
            lockout: Self::policy(),
            ..Policy::default()
        };
        let outcome =
            pam_backup_codes::login::attempt(&self.store, &self.user, &self.hashing, b"x", &policy, &origin)
                .unwrap()
                .expect("a set");
        assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");
    }

    /// A login without its Argon2id: connect and `login_info`, then the
    /// judgement on a connection of its own. Returns the two durations, seconds.
    pub fn run(&self) -> (f64, f64) {
        let start = Instant::now();
        Self::info(&self.store, &self.user);
        let fetched = start.elapsed().as_secs_f64();
        self.judge();
        (fetched, start.elapsed().as_secs_f64() - fetched)
    }
}

/// Logins per second with `CLIENTS` at once over 4 hosts, one code each of
/// one user: on the file store (4 services of one lab) and on the fleet
/// store (4 hosts of one database).
pub struct Throughput {
    pub file: Stats,
    pub fleet: Stats,
}

pub const CLIENTS: usize = 32;
const HOSTS: [&str; 4] = ["tp1", "tp2", "tp3", "tp4"];

pub fn throughput(runs: usize) -> Result<Throughput, String> {
    need_root()?;
    release_ready()?;
    if crate::common::postgres::server_bin().is_none() {
        return Err("PostgreSQL's server is not installed (make deps-test)".into());
    }
    let lab = Lab::new();
    let fleet = Fleet::new();
    for host in HOSTS {
        lab.simple_service(host, "nodelay");
        fleet.host(host, "nodelay", "");
    }
    let race = |lab: &Lab, codes: &[String]| -> f64 {
        let start = Instant::now();
        let children: Vec<_> = codes
            .iter()
            .enumerate()
            .map(|(i, code)| lab.spawn(&mut lab.login_cmd(HOSTS[i % HOSTS.len()], USER, &[code])))
            .collect();
        let (logins, _) = lab.finish_all(children, 600);
        let elapsed = start.elapsed().as_secs_f64();
        let ok = logins.iter().filter(|l| l.result() == "PAM_SUCCESS").count();
        assert_eq!(ok, codes.len(), "every login succeeds");
        codes.len() as f64 / elapsed
    };
    // One code more per host: each host logs the user in once, untimed,
    // after the set is made, as in the steady state between replacements
    // (on the fleet, the host's login hint then names the current set; the
    // first login after a replacement costs a second Argon2id).
    let count = (CLIENTS + HOSTS.len()).to_string();
    let warm = |lab: &Lab, codes: &[String]| {
        for (host, code) in HOSTS.iter().zip(codes) {
            assert_eq!(
                lab.login(host, USER, &[code]).result(),
                "PAM_SUCCESS",
                "warm-up on {host}"
            );
        }
    };
    let (mut file, mut db) = (Vec::new(), Vec::new());
    // A warm-up round, then `runs` rounds, the order alternating.
    for round in 0..=runs {
        let file_codes = lab.generate(USER, &["--count", &count]);
        let fleet_codes = fleet.generate(USER, &["--count", &count]);
        warm(&lab, &file_codes);
        warm(&fleet.lab, &fleet_codes);
        let (file_codes, fleet_codes) = (&file_codes[HOSTS.len()..], &fleet_codes[HOSTS.len()..]);
        let (f, d) = if round % 2 == 0 {
            let f = race(&lab, file_codes);
            (f, race(&fleet.lab, fleet_codes))
        } else {
            let d = race(&fleet.lab, fleet_codes);
            (race(&lab, file_codes), d)
        };
        if round > 0 {
            file.push(f);
            db.push(d);
        }
    }
    Ok(Throughput {
        file: Stats::of(&file),
        fleet: Stats::of(&db),
    })
}

/// A fleet login's database work (connect, `login_info`; connect, judge,
/// `COMMIT`) in-process, with 10 users in the database and with `users`
/// users of 10 codes each, timed in the same rounds, `reps` logins a sample.
pub struct Scale {
    pub small: Stats,
    pub large: Stats,
}

pub fn scale(pam: &FleetPam, users: usize, runs: usize, reps: usize) -> Result<Scale, String> {
    let large = Fleet::new();
    large.generate(USER, &[]);
    bulk_load(&large, users)?;
    // Ten users on the PAM rows' fleet: the bench user and 9 more.
    bulk_load(&pam.fleet, 9)?;
    let (small_steps, large_steps) = (FleetSteps::of(&pam.fleet), FleetSteps::of(&large));
    let many = |steps: &FleetSteps| {
        for _ in 0..reps {
            steps.run();
        }
    };
    let samples = rounds(
        runs,
        &mut [&mut || many(&small_steps), &mut || many(&large_steps)],
    );
    let per_login = |s: &[f64]| Stats::of(&s.iter().map(|t| t / reps as f64).collect::<Vec<_>>());
    Ok(Scale {
        small: per_login(&samples[0]),
        large: per_login(&samples[1]),
    })
}
