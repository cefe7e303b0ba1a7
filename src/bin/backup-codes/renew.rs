//! `backup-codes renew`: an ordinary user replaces their own set, through
//! sudo, without ever reading or editing the store.
//!
//! Whose set is decided by sudo alone: the uid sudo authenticated
//! (`SUDO_UID`, which sudo sets and a restricted rule does not let the user
//! override), looked up in the user database. Nothing on the command line
//! names a user, a store, a configuration or an output: `--store` and
//! `--config` are refused, and clap refuses anything else. The set is
//! replaced under the store lock only if it exists, is not locked and was
//! not revoked, and every outcome is logged to authpriv with the user and
//! the terminal.

use std::ffi::OsStr;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use time::OffsetDateTime;

use super::args::{Cli, RenewArgs};
use super::authlog;
use super::sheet::Sheet;
use pam_backup_codes::audit::{Event, Field, Record, Severity};
use pam_backup_codes::codeset::{CodeNumber, CodeSet};
use pam_backup_codes::config::Config;
use pam_backup_codes::lockout::LockedUntil;
use pam_backup_codes::renewal::{Proof, Renewal, SERVICE, SPENT_WITHIN};
use pam_backup_codes::store::Store;
use pam_backup_codes::username::UserName;
use pam_backup_codes::verdict::{Attempt, Origin, Outcome};
use zeroize::Zeroizing;

/// The PAM service whose recent spending of a code stands for the code
/// renew would ask for: sudo's own, with the sudo recipe.
const SUDO_SERVICE: &str = "sudo";

/// The user renewing: who sudo says they are.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Caller {
    pub uid: u32,
    pub user: UserName,
}

/// Why a renewal was refused before anything was read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum CallerError {
    /// Not running as root: the user ran it without sudo.
    NotRoot,
    /// Root, but not through sudo.
    NoSudo,
    /// `SUDO_UID` is not a number.
    BadSudoUid(String),
    /// The uid is not in the user database.
    UnknownUid(u32),
    /// The account's name cannot key the store.
    BadName(String, String),
    /// An option that could reach another store or configuration.
    Refused(&'static str),
}

impl fmt::Display for CallerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRoot => f.write_str(
                "renew needs sudo: run `sudo backup-codes renew` (an administrator may have to enable it)",
            ),
            Self::NoSudo => f.write_str(
                "renew is for users through sudo (SUDO_UID is not set); \
                 as root, give a user a new set with `backup-codes generate USER`",
            ),
            Self::BadSudoUid(text) => write!(f, "renew: SUDO_UID {text:?} is not a user id"),
            Self::UnknownUid(uid) => write!(f, "renew: uid {uid} is not in the user database"),
            Self::BadName(name, e) => write!(f, "renew: the account name {name:?} is not usable: {e}"),
            Self::Refused(option) => write!(
                f,
                "renew: {option} is refused: renew only replaces your own codes, \
                 in the store the system is configured with"
            ),
        }
    }
}

/// Refuses every global option that could reach another store or
/// configuration. The command's own options cannot (clap refuses others).
pub(super) fn refuse_options(cli: &Cli) -> Result<(), CallerError> {
    if cli.store.is_some() {
        return Err(CallerError::Refused("--store"));
    }
    if cli.config.is_some() {
        return Err(CallerError::Refused("--config"));
    }
    Ok(())
}

impl Caller {
    /// The caller from the effective uid, `SUDO_UID` and a user-database
    /// lookup by uid (`lookup`, so that tests need no real accounts).
    pub(super) fn resolve(
        euid: u32,
        sudo_uid: Option<&OsStr>,
        lookup: impl Fn(u32) -> Option<String>,
    ) -> Result<Self, CallerError> {
        if euid != 0 {
            return Err(CallerError::NotRoot);
        }
        let text = sudo_uid.ok_or(CallerError::NoSudo)?;
        let text = text.to_string_lossy();
        let uid: u32 = text
            .parse()
            .map_err(|_| CallerError::BadSudoUid(text.clone().into_owned()))?;
        let name = lookup(uid).ok_or(CallerError::UnknownUid(uid))?;
        let user = name
            .parse()
            .map_err(|e: pam_backup_codes::username::UserNameError| {
                CallerError::BadName(name, e.to_string())
            })?;
        Ok(Self { uid, user })
    }

    /// The caller of this process.
    fn of_this_process() -> Result<Self, CallerError> {
        Self::resolve(
            nix::unistd::geteuid().as_raw(),
            std::env::var_os("SUDO_UID").as_deref(),
            |uid| {
                nix::unistd::User::from_uid(uid.into())
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            },
        )
    }
}

/// Why a known caller's renewal was refused or failed.
enum Refusal {
    NoSet,
    Revoked,
    Locked(LockedUntil),
    /// No unused, unexpired code left to prove possession with.
    NoUsableCode,
    /// The code typed to renew was wrong or used (counted as a failure).
    WrongCode {
        locked: bool,
    },
    /// The code typed to renew matched, but it has expired.
    ExpiredCode,
    /// The code typed to renew has a check symbol that does not match
    /// (not hashed, not counted).
    Typo,
    /// No code could be read from the user.
    NoCode(std::io::Error),
    Failed(String),
    /// Renewed (spending the code of this number), but the sheet could not
    /// be printed.
    Unprinted(std::io::Error, Option<CodeNumber>),
}

/// How the caller proved possession, for the log.
enum Proved {
    /// A code typed to renew, of this number (if the store told it).
    Typed(Option<CodeNumber>),
    /// The code sudo's own authentication spent, of this number.
    FollowedSudo(Option<CodeNumber>),
}

/// Runs `renew`; prints the sheet or one line saying why not.
pub(super) fn run(cli: &Cli, args: &RenewArgs) -> ExitCode {
    let caller = match refuse_options(cli).and_then(|()| Caller::of_this_process()) {
        Ok(caller) => caller,
        Err(e) => {
            authlog::event(Record::new(Event::RenewRefused).with(
                Field::Reason,
                format!("renew refused for uid {}: {e}", nix::unistd::getuid()),
            ));
            eprintln!("backup-codes: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tty = tty_of_sudo().unwrap_or_else(|| "no terminal".to_owned());
    let who = format!("user {} (uid {}) on {tty}", caller.user, caller.uid);
    // The user and the terminal of the sudo that ran renew.
    let record = |event| {
        Record::new(event)
            .with(Field::User, &caller.user)
            .with(Field::Tty, &tty)
    };
    // A sheet redirected to a file of the caller's is made 0600 first (with
    // sudo's use_pty, stdout is sudo's terminal and this changes nothing).
    let private = crate::private_stdout::make_private(Some(caller.uid)).map_err(|e| {
        Refusal::Failed(format!(
            "stdout is a file that cannot be made private (mode 0600): {e}"
        ))
    });
    match private.and_then(|()| renew(&caller.user, args)) {
        Ok(proved) => {
            let (how, code) = match proved {
                Proved::Typed(code) => (
                    format!("spent a current code typed to renew, service={SERVICE}"),
                    code,
                ),
                Proved::FollowedSudo(code) => (
                    format!("sudo's authentication spent a current code, service={SUDO_SERVICE}"),
                    code,
                ),
            };
            authlog::event(record(Event::SetRenewed).with_some(Field::CodeNumber, code).with(
                Field::Reason,
                format!("{who}: renewed their backup codes ({how})"),
            ));
            ExitCode::SUCCESS
        }
        Err(refusal) => {
            let (log, tell) = match refusal {
                Refusal::NoSet => (
                    "has no backup codes to renew".to_owned(),
                    "you have no backup codes to renew; ask an administrator for a set".to_owned(),
                ),
                Refusal::Revoked => (
                    "the set was revoked by an administrator".to_owned(),
                    "your backup codes were revoked by an administrator; ask them for a new set".to_owned(),
                ),
                Refusal::Locked(until) => (
                    "codes locked after too many failures".to_owned(),
                    match until {
                        LockedUntil::Time(t) => format!(
                            "your backup codes are locked after too many failures until {}; \
                             renew is refused while they are",
                            super::human_time(t)
                        ),
                        LockedUntil::AdminUnlock => "your backup codes are locked after too many failures; \
                             ask an administrator to unlock them"
                            .to_owned(),
                    },
                ),
                Refusal::NoUsableCode => (
                    "no usable code left to prove possession of the sheet".to_owned(),
                    "renew takes one of your current codes, and you have none left; \
                     ask an administrator for a new set"
                        .to_owned(),
                ),
                Refusal::WrongCode { locked } => (
                    format!(
                        "wrong or used code (counted as a failure{})",
                        if locked { "; the codes are now locked" } else { "" }
                    ),
                    "that is not one of your current codes; nothing was renewed".to_owned(),
                ),
                Refusal::ExpiredCode => (
                    "an expired code".to_owned(),
                    "that code has expired; nothing was renewed".to_owned(),
                ),
                Refusal::Typo => (
                    "a code with a typo (its check symbol does not match; not counted)".to_owned(),
                    "that code has a typo (its last symbol does not match); it was not counted \
                     and nothing was renewed"
                        .to_owned(),
                ),
                Refusal::NoCode(e) => (
                    format!("no code was read: {e}"),
                    format!("renew takes one of your current codes, and none was read: {e}"),
                ),
                Refusal::Failed(e) => (e.clone(), format!("renew failed: {e}")),
                Refusal::Unprinted(e, code) => {
                    authlog::event(
                        record(Event::SetRenewed)
                            .at(Severity::Warning)
                            .with_some(Field::CodeNumber, code)
                            .with(
                                Field::Reason,
                                format!(
                                    "{who}: renewed their backup codes, but the sheet was not printed: {e}"
                                ),
                            ),
                    );
                    eprintln!(
                        "backup-codes: your new set is stored, but printing it failed ({e}): \
                         the old codes no longer work; ask an administrator for a new set"
                    );
                    return ExitCode::FAILURE;
                }
            };
            authlog::event(
                record(Event::RenewRefused).with(Field::Reason, format!("{who}: renew refused: {log}")),
            );
            eprintln!("backup-codes: {tell}");
            ExitCode::FAILURE
        }
    }
}

fn renew(user: &UserName, args: &RenewArgs) -> Result<Proved, Refusal> {
    let failed = |e: &dyn fmt::Display| Refusal::Failed(e.to_string());
    let config = Config::load(None).map_err(|e| failed(&e))?;
    let settings = &config.codes;
    let format = settings.format().map_err(|e| failed(&e))?;
    let store = Store::open(&config.store, &config.postgresql).map_err(|e| failed(&e))?;
    let policy = config.login.policy();
    // Refuse early, before prompting or hashing; the judgement that counts
    // is the store's, under its lock, in the step that writes the new set
    // (on a fleet, the database's, by its policy).
    let before = store
        .renewal_info(user, &policy, SUDO_SERVICE)
        .map_err(|e| failed(&e))?
        .ok_or(Refusal::NoSet)?;
    if before.revoked {
        return Err(Refusal::Revoked);
    }
    if let Some(until) = before.locked {
        return Err(Refusal::Locked(until));
    }
    // sudo's own authentication (the sudo recipe) may just have spent one
    // of the user's codes: that is the proof, and no second code is asked
    // (never on a fleet store, where a typed code is the only proof).
    let followed = before.spent;
    if !followed && before.usable == Some(0) {
        return Err(Refusal::NoUsableCode);
    }
    let typed = if followed {
        None
    } else {
        Some(read_code(&config.login.prompt).map_err(Refusal::NoCode)?)
    };
    let mut hashing = before.hashing;
    if typed
        .as_ref()
        .is_some_and(|code| hashing.is_typo(code.as_bytes()))
    {
        return Err(Refusal::Typo);
    }
    let (set, codes) = CodeSet::generate(format, settings.count, settings.kdf(), OffsetDateTime::now_utc())
        .map_err(|e| failed(&e))?;
    let origin = Origin::new(SERVICE, None);
    let mut outcome = None;
    // A set replaced by an administrator while we hashed costs a second
    // hash; a second replacement meanwhile is refused.
    for _ in 0..2 {
        let digest = match &typed {
            Some(code) => hashing.digest(code.as_bytes()).map_err(|e| failed(&e))?,
            None => None,
        };
        let proof = match &typed {
            Some(_) => Proof::Code(Attempt {
                user,
                hashing: &hashing,
                digest: digest.as_deref(),
                policy: &policy,
                origin: &origin,
            }),
            None => Proof::Spent {
                service: SUDO_SERVICE,
                within: SPENT_WITHIN,
                policy: &policy,
            },
        };
        match store.renew(user, &proof, &set).map_err(|e| failed(&e))? {
            Renewal::Rehash(new) => hashing = new,
            judged => {
                outcome = Some(judged);
                break;
            }
        }
    }
    let spent = match outcome {
        Some(Renewal::Renewed(code)) => code,
        Some(Renewal::NoSet) => return Err(Refusal::NoSet),
        Some(Renewal::Revoked) => return Err(Refusal::Revoked),
        Some(Renewal::Locked(until) | Renewal::Refused(Outcome::Locked(until))) => {
            return Err(Refusal::Locked(until));
        }
        Some(Renewal::Refused(Outcome::Expired { .. })) => return Err(Refusal::ExpiredCode),
        Some(Renewal::Refused(Outcome::Typo)) => return Err(Refusal::Typo),
        Some(Renewal::Refused(Outcome::Refused { locked, .. })) => {
            return Err(Refusal::WrongCode { locked });
        }
        Some(Renewal::NotSpent) => {
            return Err(Refusal::Failed(
                "the code sudo spent no longer proves anything (a minute has passed, \
                 or the set changed); run renew again"
                    .to_owned(),
            ));
        }
        Some(Renewal::Refused(Outcome::Accepted { .. }) | Renewal::Rehash(_)) | None => {
            return Err(Refusal::Failed(
                "the set changed twice while renewing; nothing was renewed".to_owned(),
            ));
        }
    };
    let proved = if typed.is_some() {
        Proved::Typed(spent)
    } else {
        Proved::FollowedSudo(spent)
    };
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "this host".to_owned());
    let sheet = Sheet {
        user,
        host: &host,
        format: args.format,
        label: args.label.as_deref(),
        prompt: &config.login.prompt,
        expires: None,
    };
    let text = sheet.render(&set, &codes);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&text)
        .and_then(|()| stdout.flush())
        .map_err(|e| Refusal::Unprinted(e, spent))?;
    Ok(proved)
}

/// The longest line read as a code: longer input is no code of any format.
const MAX_CODE_LINE: usize = 256;

/// Reads one code typed by the user. On a terminal: the prompt on stderr,
/// echo off while typing (restored after, also on a read error). Not on a
/// terminal (a script, `sudo -S`): one line of stdin, as `sudo -S` reads
/// the password. The line lives in a zeroised buffer.
fn read_code(prompt: &str) -> std::io::Result<Zeroizing<String>> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    let mut stderr = std::io::stderr();
    let prompt = prompt.trim_end();
    let _ = write!(stderr, "{prompt} (one from your current sheet) ");
    let _ = stderr.flush();
    let saved = if stdin.is_terminal() {
        let saved = tcgetattr(&stdin).map_err(std::io::Error::from)?;
        let mut quiet = saved.clone();
        // No echo; and no signals from the keyboard while it is off, so
        // that Ctrl-C cannot leave the terminal silent: it arrives as a
        // byte, which cancels (see `read_line`).
        quiet.local_flags.remove(LocalFlags::ECHO | LocalFlags::ISIG);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        tcsetattr(&stdin, SetArg::TCSAFLUSH, &quiet).map_err(std::io::Error::from)?;
        Some(saved)
    } else {
        None
    };
    let line = read_line(&mut stdin.lock());
    if let Some(saved) = saved {
        let _ = tcsetattr(&stdin, SetArg::TCSAFLUSH, &saved);
    } else {
        let _ = writeln!(stderr);
    }
    let line = line?;
    if line.trim().is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "an empty line or the end of input",
        ));
    }
    Ok(line)
}

/// One line, byte by byte (nothing past the newline is taken from a pipe
/// the caller shares), at most [`MAX_CODE_LINE`] bytes kept, into a
/// buffer that never grows. Ctrl-C (a byte while the terminal sends no
/// signals) cancels.
fn read_line(input: &mut impl std::io::Read) -> std::io::Result<Zeroizing<String>> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_CODE_LINE));
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) if byte[0] == 0x03 => {
                return Err(std::io::Error::other("cancelled with Ctrl-C"));
            }
            Ok(_) if bytes.len() < MAX_CODE_LINE => bytes.push(byte[0]),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    zeroize::Zeroize::zeroize(&mut byte);
    let text = std::str::from_utf8(&bytes).unwrap_or("").trim_end_matches('\r');
    let mut line = Zeroizing::new(String::with_capacity(text.len()));
    line.push_str(text);
    Ok(line)
}

/// The terminal the user ran sudo from: the controlling terminal of the
/// outermost sudo process above this one. (With `use_pty`, sudo runs the
/// command on a new pseudo-terminal, so this process's own terminal is not
/// the user's.) Ancestors are followed only while they are root-run `sudo`
/// processes; a user's process of that name is not trusted.
fn tty_of_sudo() -> Option<String> {
    let mut pid = std::os::unix::process::parent_id();
    let mut tty = None;
    for _ in 0..8 {
        let Some(process) = Process::read(pid) else { break };
        if process.comm != "sudo" || process.euid != 0 {
            break;
        }
        tty = Some(process.tty);
        pid = process.ppid;
    }
    tty.map(|dev| match dev {
        0 => "no terminal".to_owned(),
        dev => tty_name(dev),
    })
}

/// What /proc says of a process.
struct Process {
    comm: String,
    ppid: u32,
    tty: u32,
    euid: u32,
}

impl Process {
    fn read(pid: u32) -> Option<Self> {
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let stat = std::fs::read_to_string(proc.join("stat")).ok()?;
        // "PID (COMM) STATE PPID PGRP SESSION TTY_NR ...": COMM may hold
        // spaces and parentheses, so split at the last ')'.
        let (head, tail) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_owned();
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let ppid = fields.get(1)?.parse().ok()?;
        let tty = fields.get(4)?.parse::<i64>().ok()?;
        let status = std::fs::read_to_string(proc.join("status")).ok()?;
        let euid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(Self {
            comm,
            ppid,
            tty: u32::try_from(tty).ok()?,
            euid,
        })
    }
}

/// A terminal's name from its device number, as `ps` shows it.
fn tty_name(dev: u32) -> String {
    let major = (dev >> 8) & 0xfff;
    let minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    match major {
        136..=143 => format!("/dev/pts/{}", minor + (major - 136) * 256),
        4 if minor < 64 => format!("/dev/tty{minor}"),
        4 => format!("/dev/ttyS{}", minor - 64),
        _ => format!("terminal {major}:{minor}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn lookup(uid: u32) -> Option<String> {
        match uid {
            1000 => Some("alice".to_owned()),
            1001 => Some("bad/name".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn the_caller_is_who_sudo_authenticated() {
        let uid = |s: &str| Some(OsString::from(s));
        let alice = Caller::resolve(0, uid("1000").as_deref(), lookup).unwrap();
        assert_eq!((alice.uid, alice.user.as_str()), (1000, "alice"));
        assert_eq!(
            Caller::resolve(1000, uid("1000").as_deref(), lookup),
            Err(CallerError::NotRoot),
            "SUDO_UID means nothing unless sudo made us root"
        );
        assert_eq!(Caller::resolve(0, None, lookup), Err(CallerError::NoSudo));
        assert_eq!(
            Caller::resolve(0, uid("alice").as_deref(), lookup),
            Err(CallerError::BadSudoUid("alice".into()))
        );
        assert_eq!(
            Caller::resolve(0, uid("-1").as_deref(), lookup),
            Err(CallerError::BadSudoUid("-1".into()))
        );
        assert_eq!(
            Caller::resolve(0, uid("4242").as_deref(), lookup),
            Err(CallerError::UnknownUid(4242))
        );
        assert!(matches!(
            Caller::resolve(0, uid("1001").as_deref(), lookup),
            Err(CallerError::BadName(..))
        ));
        for e in [
            CallerError::NotRoot,
            CallerError::NoSudo,
            CallerError::Refused("--store"),
        ] {
            let line = e.to_string();
            assert!(line.contains("sudo") || line.contains("refused"), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn a_code_is_one_bounded_line_and_nothing_after_it_is_taken() {
        let mut input = std::io::Cursor::new(b"ABCDE-FGHJK\r\nnext line\n".to_vec());
        assert_eq!(read_line(&mut input).unwrap().as_str(), "ABCDE-FGHJK");
        assert_eq!(input.position(), 13, "stopped at the newline");
        assert_eq!(read_line(&mut input).unwrap().as_str(), "next line");
        assert_eq!(read_line(&mut input).unwrap().as_str(), "", "end of input");
        let long = vec![b'A'; 10_000];
        let line = read_line(&mut std::io::Cursor::new(long)).unwrap();
        assert_eq!(line.len(), MAX_CODE_LINE);
        assert!(read_line(&mut std::io::Cursor::new(b"ABC\x03DEF\n".to_vec())).is_err());
        // Not UTF-8: no code, read as an empty line.
        assert_eq!(
            read_line(&mut std::io::Cursor::new(b"\xff\xfe\n".to_vec()))
                .unwrap()
                .as_str(),
            ""
        );
    }

    #[test]
    fn terminal_names_follow_the_device_numbers() {
        assert_eq!(tty_name((136 << 8) | 3), "/dev/pts/3");
        assert_eq!(tty_name((137 << 8) | 1), "/dev/pts/257");
        assert_eq!(tty_name((4 << 8) | 2), "/dev/tty2");
        assert_eq!(tty_name((4 << 8) | 64), "/dev/ttyS0");
        // pts 300: minor 300 = 0x12c, the low byte in bits 0-7, the rest from bit 20.
        assert_eq!(tty_name((136 << 8) | 0x2c | (0x100 << 12)), "/dev/pts/300");
    }

    #[test]
    fn this_process_is_read_from_proc() {
        let me = Process::read(std::process::id()).unwrap();
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
        assert_eq!(me.euid, nix::unistd::geteuid().as_raw());
    }
}
