//! The command line of `backup-codes`, apart from what runs it so that
//! `examples/mangen.rs` can include this file and write the manual pages.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Parser, Subcommand, ValueEnum};
use pam_backup_codes::code::Alphabet;
use pam_backup_codes::store::location::Location;
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};

/// What `generate` and `add` say of encrypted sheets, after their own help
/// (a macro, so that `concat!` can join it to theirs).
macro_rules! encryption_help {
    () => {
        "\n\n\
Encrypted sheets: with --encrypt-to-ssh-key, --recipient or --recipients-file,
each user's sheet is encrypted with age (the format of age and rage) and
written to --output DIR as USER.age; no code is printed, and --output is
required. --encrypt-to-ssh-key reads the user's own ~/.ssh/authorized_keys
(the home directory from NSS, as sshd's StrictModes trusts it): the home
directory, ~/.ssh and the file must be owned by root or the user and not
writable by group or others, the file a regular file of at most 1 MiB; no
symbolic link is followed from / to the file (the home directory's path is
resolved first). A key file named elsewhere by AuthorizedKeysFile is not read.
Its ssh-ed25519 and ssh-rsa keys (2048 bits or more) are used, with or
without options; other key types and cert-authority lines are skipped with a
note; a user with no usable key is reported and left unchanged.
--recipient and --recipients-file add the same recipients (age1... or SSH
public keys) to every sheet: whoever holds one of those private keys can read
the sheet, so name only keys of the user or of an escrow you mean to have.
The user reads the sheet with `age -d -i ~/.ssh/id_ed25519 USER.age` (or rage).
The files are 0600, like every sheet: encryption keeps the codes from
whoever copies the file, and a private file keeps them also from whoever
later holds a leaked or weak private key; hand each file to its user."
    };
}

/// What `generate`, `add` and `renew` say of a sheet in JSON (a macro, so
/// that `concat!` can join it to their help).
macro_rules! sheet_json_help {
    () => {
        "\n\n\
With --format json, a sheet is one JSON object on one line: user, host,
created (RFC 3339), alphabet, length, check_symbol (true; absent when the
codes have no check symbol), expires (add: when the codes stop working),
label (when given), first_number (the number of the first code, the others
following in order: the numbers the text sheet prints and the log's
code_number names) and codes (each as the text sheet prints it)."
    };
}

/// Manage single-use backup codes for pam_backup_codes.
#[derive(Debug, Parser)]
#[command(name = "backup-codes", version, about, long_about = None)]
pub struct Cli {
    /// Store: a directory or a postgresql://USER@HOST[:PORT]/DB URI [default: from the config file, else /var/lib/pam-backup-codes]
    #[arg(long, global = true, value_name = "DIR|URI")]
    pub store: Option<Location>,
    /// Configuration file [default: /etc/security/pam_backup_codes.conf]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// For programs.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a new set for each user (an existing one is replaced only with --replace)
    Generate(GenerateArgs),
    /// Show codes left, each use (when, service, host), age, failures, last failure and lock state
    #[command(after_help = STATUS_HELP)]
    Status(StatusArgs),
    /// One line per user: codes left, age, lock and revocation (like passwd -S -a)
    #[command(after_help = LIST_HELP)]
    List(ListArgs),
    /// Replace your own codes, proving you hold them (for users, through sudo: `sudo backup-codes renew`)
    #[command(after_help = concat!("\
renew is run by an ordinary user through sudo. It replaces the set of the user
sudo authenticated (SUDO_UID, looked up in the user database), never a user
named on the command line, and prints the new sheet on the terminal: every old
code stops working at once. It takes no other user, store, configuration or
output: --store and --config are refused, any other option but --label and
--format is unknown.

A password alone never mints a sheet: renew spends one of the user's current
codes to prove they hold the sheet. It asks for one on the terminal (not
echoed; from standard input when that is not a terminal) and judges it as a
login does: a wrong or used code counts towards the lockout, and the code is
spent (logged with service backup-codes-renew) in the same locked step that
stores the new set, so both happen or neither does. When sudo's own
authentication has just spent one of the user's codes (the sudo recipe of
pam_backup_codes(8): the set records a use by service sudo within the last
minute), that code is the proof and renew asks for no second one.

It is refused, with one line saying why, for a user without codes, a revoked
set, while the codes are locked after too many failures, when no usable code
is left (ask an administrator for a new set), and when not run through sudo.
Each renewal and each refusal past the command line is logged to authpriv
with the user and the terminal. On a PostgreSQL (fleet) store the database
judges the code and stores the new set in one transaction; there only a code
typed to renew is a proof (the database cannot tell which host recorded a
use by sudo), so with the sudo recipe renew asks for a second code.

The package installs no sudo rule: copy
/usr/share/doc/libpam-backup-codes/examples/sudoers.d-backup-codes to
/etc/sudoers.d/backup-codes and remove the '#' before its rule (visudo -f
/etc/sudoers.d/backup-codes) to let every user renew, after typing their
password and a current code. The example keeps sheets out of sudo's I/O logs
(!log_output).

--format json prints the new sheet as one JSON object, with the same care as
the text sheet: on sudo's terminal, or into a file of the caller's made 0600
first; never into a log.", sheet_json_help!()))]
    Renew(RenewArgs),
    /// Add temporary codes to a user's set, keeping the codes they have
    #[command(after_help = concat!("\
The user's name is resolved through NSS to the account, as at login (a name
NSS does not know is refused unless --allow-unknown). The new codes are added
to the user's set (a user without a set, or with a revoked one, gets these
codes only) and printed once. They stop working at the time given
with --expires: a duration from now (30m, 8h, 2d, 1w, or combined: 1d12h) or
a date and time in UTC (2026-12-24, meaning 00:00 UTC that day,
'2026-12-24 18:00', or RFC 3339 such as 2026-12-24T18:00:00+01:00). An
expired code is refused like a wrong one, logged as expired, and not counted
as a failure. A set holds at most 100 codes, used and expired ones included;
a new set (generate --replace, renew) starts afresh. When stdout is a regular
file, it is made 0600 before the codes are added (a shell with umask 022 makes
`add ... > sheet.txt` 0644); if that fails, nothing is added.", sheet_json_help!(), encryption_help!()))]
    Add(AddArgs),
    /// Invalidate every code of users' sets; they stay enrolled and are refused until a new set
    #[command(after_help = REVOKE_HELP)]
    Revoke(RevokeArgs),
    /// Clear users' failures and locks, local and remote
    #[command(after_help = UNLOCK_HELP)]
    Unlock(UnlockArgs),
    /// Check the configuration, the store (ownership, modes and every file; for PostgreSQL the connection, schema version and what the login role can read), each /etc/pam.d stack that loads the module, sshd's settings for the members it asks for a code, and sudoers' PAM services
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// The fleet store's database (PostgreSQL)
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Import a file store (hashes, uses, tallies) into the PostgreSQL store; one line per user
    #[command(after_help = "\
With --format json, stdout has one JSON object per user per line (JSON Lines):
user, action (imported, replaced or skipped), remaining, total, failures,
revoked (true or false). Users that could not be imported are reported on
stderr only.")]
    Migrate {
        /// The store directory to import
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// Overwrite users already in the PostgreSQL store (default: skip them)
        #[arg(long)]
        replace: bool,
        /// Output format: a line per user, or one JSON object per user per line
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// The commands of `db`.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create or upgrade the schema (idempotent; run as the database owner) and grant ROLE only what a login needs
    #[command(after_help = "\
With --format json, stdout has one JSON object: store, action (created,
renewed or upgraded), schema_version, previous_version (null when created),
login_role, connection_limit (what --connection-limit set, -1 for none; null
without it).")]
    Init {
        /// The role the PAM module logs in as
        #[arg(long, value_name = "ROLE")]
        login_role: String,
        /// Set the login role's CONNECTION LIMIT (-1: none), so that one host cannot take every connection
        #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(-1..))]
        connection_limit: Option<i32>,
        /// Output format: a sentence, or one JSON object
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show the fleet's lockout policy, or set it (the owner); every host is judged by it
    #[command(after_help = "\
With --format json, stdout has one JSON object, the policy in force after
the command: store, deny, fail_interval (seconds), unlock_time (seconds, 0:
until unlock), max_age (days, 0: no limit).")]
    Policy(PolicyArgs),
}

/// The arguments of `db policy`: each changes one value, the others stay.
#[derive(Debug, Default, clap::Args)]
pub struct PolicyArgs {
    /// Failures within --fail-interval that lock a user's codes (0: never; at most 1000)
    #[arg(long, value_name = "N")]
    pub deny: Option<String>,
    /// Seconds within which --deny failures lock (at least 1)
    #[arg(long, value_name = "SECS")]
    pub fail_interval: Option<String>,
    /// Seconds a lock lasts (0: until `backup-codes unlock`)
    #[arg(long, value_name = "SECS")]
    pub unlock_time: Option<String>,
    /// Days a set works after it is made (0: no limit)
    #[arg(long, value_name = "DAYS")]
    pub max_age: Option<String>,
    /// Output format: a sentence, or one JSON object
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The arguments of `renew`.
#[derive(Debug, clap::Args)]
pub struct RenewArgs {
    /// A line printed at the top of the sheet (at most 60 characters)
    #[arg(long, value_name = "TEXT", value_parser = parse_label)]
    pub label: Option<String>,
    /// Output format: a printable sheet, or one JSON object
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The arguments of `add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The user to add codes for
    pub user: String,
    /// Codes to add
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Also enrol a name NSS does not know (the module refuses it until it is an account)
    #[arg(long)]
    pub allow_unknown: bool,
    /// When the codes stop working: a duration (30m, 8h, 2d, 1w) or a UTC date and time
    #[arg(long, value_name = "DURATION|DATE")]
    pub expires: Expires,
    /// Output format: a printable sheet, or one JSON object
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// A line printed at the top of the sheet (at most 60 characters)
    #[arg(long, value_name = "TEXT", value_parser = parse_label)]
    pub label: Option<String>,
    /// With encryption: the directory the sheet is written to, as USER.age
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub encrypt: EncryptArgs,
}

/// When temporary codes stop working, as given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expires {
    /// This long after the command runs.
    After(Duration),
    /// At this instant.
    At(OffsetDateTime),
}

impl Expires {
    /// The instant, for a command run at `now`.
    pub fn at(self, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            Self::After(duration) => now.saturating_add(duration),
            Self::At(at) => at,
        }
    }
}

impl FromStr for Expires {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(duration) = parse_duration(text) {
            return if duration.is_positive() {
                Ok(Self::After(duration))
            } else {
                Err("a duration must be longer than 0".to_owned())
            };
        }
        parse_instant(text).map(Self::At).ok_or_else(|| {
            format!(
                "{text:?} is neither a duration (30m, 8h, 2d, 1w, 1d12h) nor a date \
                 (2026-12-24, '2026-12-24 18:00', RFC 3339)"
            )
        })
    }
}

/// A date and time: `2026-12-24` (00:00 UTC), `2026-12-24 18:00[:30]`
/// (UTC, also with a `T`) or RFC 3339 with its offset; `None` if `text` is
/// none of these.
fn parse_instant(text: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    let minute_format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    let second_format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .or_else(|| {
            let text = text.replacen('T', " ", 1);
            PrimitiveDateTime::parse(&text, &second_format)
                .or_else(|_| PrimitiveDateTime::parse(&text, &minute_format))
                .ok()
                .map(PrimitiveDateTime::assume_utc)
        })
        .or_else(|| {
            Date::parse(text, &date_format)
                .ok()
                .map(|date| PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc())
        })
}

/// An instant given on the command line as a date (`--created-before`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instant(pub OffsetDateTime);

impl FromStr for Instant {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        parse_instant(text).map(Self).ok_or_else(|| {
            format!("{text:?} is not a date (2026-12-24, '2026-12-24 18:00' in UTC, or RFC 3339)")
        })
    }
}

/// `90s`, `30m`, `8h`, `2d`, `1w` and sums of them (`1d12h`); `None` if
/// `text` is not such a duration.
fn parse_duration(text: &str) -> Option<Duration> {
    if text.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let number: i64 = rest.get(..digits)?.parse().ok()?;
        let unit = rest.get(digits..digits + 1)?;
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 604_800,
            _ => return None,
        };
        total = total.checked_add(Duration::seconds(number.checked_mul(seconds)?))?;
        rest = rest.get(digits + 1..)?;
    }
    Some(total)
}

/// The longest `--label`, in characters: the sheet fits 72 columns.
pub const MAX_LABEL: usize = 60;

/// A label is one line of printable text that fits the sheet.
fn parse_label(text: &str) -> Result<String, String> {
    let text = text.trim();
    // No control, line-separator or bidi character: the label is printed
    // as it is, on a terminal too.
    if text.is_empty()
        || text.chars().count() > MAX_LABEL
        || text.chars().any(pam_backup_codes::text::is_deceptive)
    {
        return Err(format!(
            "a label is 1 to {MAX_LABEL} characters of printable text on one line"
        ));
    }
    Ok(text.to_owned())
}

/// The arguments of `generate`.
#[derive(Debug, clap::Args)]
#[command(after_help = concat!("\
Bulk provisioning: users come from the arguments, then from --users-from, one
name per line; blank lines and everything from '#' to the end of a line are
skipped. Each name is resolved through NSS to its account, whose canonical
name keys the store (ALICE may be alice), as the module does at login; a name
NSS does not know is refused unless --allow-unknown. A name listed twice gets
one set (noted on stderr). A user who has a set keeps it unless --replace (a
revoked set holds no valid code and is replaced). An invalid or unknown name, a
user with a set, or a user whose set cannot be stored, is reported and skipped;
the others are done and the exit status is 1. With --if-missing a user who has a
set is not a failure: it is noted on stderr, left alone, and the exit status is
0 when nothing else went wrong; nothing is printed for such a user, so empty
output means nothing changed (for configuration management). The store directory must exist.
Sets are hashed on every core (set RAYON_NUM_THREADS to use fewer). A progress
bar is shown on stderr when it is a terminal and stdout is not. When stdout is
a regular file, it is made 0600 before any code is written to it. With
--format json, stdout has one JSON object per user per line (JSON Lines).", sheet_json_help!(),
encryption_help!()))]
pub struct GenerateArgs {
    /// Users to generate codes for
    #[arg(required_unless_present = "users_from")]
    pub users: Vec<String>,
    /// Also read user names, one per line, from FILE ('-' for stdin)
    #[arg(long, value_name = "FILE|-")]
    pub users_from: Option<PathBuf>,
    /// Also enrol names NSS does not know (the module refuses them until they are accounts)
    #[arg(long)]
    pub allow_unknown: bool,
    /// Replace a user's existing set (its codes stop working at once); without it such users are left alone
    #[arg(long, conflicts_with = "if_missing")]
    pub replace: bool,
    /// Only for users without a set: the others are left alone and the exit status stays 0 (idempotent provisioning)
    #[arg(long)]
    pub if_missing: bool,
    /// Codes per set (1..=100) [default: 10, or the config file's]
    #[arg(long)]
    pub count: Option<usize>,
    /// Symbols per code (crockford 8..=32, digits 8..=20) [default: 10, or the config file's]
    #[arg(long)]
    pub length: Option<usize>,
    /// Alphabet: crockford or digits [default: crockford, or the config file's]
    #[arg(long)]
    pub alphabet: Option<Alphabet>,
    /// No Crockford check symbol after each code (crockford only; digits never have one) [default: a check symbol, or the config file's check_symbol]
    #[arg(long)]
    pub no_check_symbol: bool,
    /// Output format: a printable sheet, or one JSON object per user per line
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the codes to this 0600 file (one user) or into this directory, one 0600 sheet per user
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// A line printed at the top of each sheet (at most 60 characters)
    #[arg(long, value_name = "TEXT", value_parser = parse_label)]
    pub label: Option<String>,
    #[command(flatten)]
    pub encrypt: EncryptArgs,
}

/// Encrypting sheets to their users (`generate`, `add`).
#[derive(Debug, Default, clap::Args)]
pub struct EncryptArgs {
    /// Encrypt each sheet to the user's own ed25519 and RSA keys in ~/.ssh/authorized_keys, as --output DIR/USER.age
    #[arg(long)]
    pub encrypt_to_ssh_key: bool,
    /// Encrypt each sheet to this age (age1...) or SSH public key (repeatable)
    #[arg(long, value_name = "KEY")]
    pub recipient: Vec<String>,
    /// Encrypt each sheet to the age or SSH public keys in FILE, one per line (repeatable)
    #[arg(long, value_name = "FILE")]
    pub recipients_file: Vec<PathBuf>,
}

/// The manual text of `unlock`.
pub const UNLOCK_HELP: &str = "\
Each USER is resolved through NSS to its account, whose canonical name keys
the store (ALICE may be alice under SSSD or winbind with case_sensitive =
false), as the module does at login and as generate and add do. A name NSS
does not know is refused; with --allow-unknown it is taken as typed, so a set
stored under exactly that name (a departed account, or one enrolled with
generate --allow-unknown) can still be shown, revoked or unlocked.

With --format json, stdout has one JSON object per user per line (JSON Lines):
user, action (unlocked), failures_cleared. A user that fails is reported on
stderr only.";

/// The manual text of `status`.
pub const STATUS_HELP: &str = "\
With --below N only the users who need attention are listed: fewer than N
usable codes left (unused and unexpired), a set past max_age, locked codes,
a revoked set, or no codes at all. The exit status is then 0 if nobody is
listed, 1 if anyone is, and 2 if the store could not be read entirely (an
entry of the store that is no user file, a set that does not read, a name or
group NSS does not know or could not look up; each one is reported on stderr), so that cron or
a monitoring check can tell \"someone needs attention\" from \"could not
tell\". The text output is empty when nobody is listed.

--group G shows the members of G, besides any USER named: its member list and
the accounts whose primary group it is (as far as NSS enumerates accounts;
SSSD does not by default), those without a set included: the users a
pam_succeed_if ingroup G line asks for a code.

Each USER is resolved through NSS to its account, as at login; --allow-unknown
takes a name NSS does not know as typed.

With --format json, stdout has one JSON array, one object per user: user,
enrolled; for an enrolled user also created, age_days, alphabet, length,
check_symbol, total, remaining, usable, uses (at, code_number: the code's
number on the sheet, service, rhost, host), temporary (code_number, expires,
expired), expired, expiring, expires, failures, local and remote
(failures, in_a_row, locked, locked_until), locked, locked_until, last_failure,
revoked.";

/// The manual text of `list`.
pub const LIST_HELP: &str = "\
One line per user in the store, after a header: USER, LEFT (usable codes
of the set's total, as 7/10), AGE (whole days since the set was made, with
(expired) past max_age), LOCKED (no, local, remote or both) and REVOKED (no, or
the day it was revoked). Entries of the store that cannot be read are reported
on stderr and the exit status is 1.

With --format json, stdout has one JSON array, one object per user: user,
usable, total, created, age_days, expired, locked, locked_until (an RFC 3339
time, \"unlock\" for a lock only unlock lifts, or null), revoked (RFC 3339 or
null).";

/// The manual text of `revoke`.
pub const REVOKE_HELP: &str = "\
Each USER is resolved through NSS to its account, whose canonical name keys
the store, as at login: revoke ALICE revokes alice's set under a case-folding
NSS. A name NSS does not know is refused; with --allow-unknown it is taken as
typed (a departed account whose set is still in the store).

After restoring the store (or a point-in-time recovery of the database), codes
that were spent since the backup work again and sets revoked since then are
valid again. --created-before DATE revokes every set made before DATE (of the
USERs given, else of every user in the store): give the time the restore was
made, then generate new sets (status --below 1 lists who needs one). Sets
revoked already are left as they are. DATE is 2026-12-24 (00:00 UTC),
'2026-12-24 18:00' (UTC) or RFC 3339 (2026-12-24T18:00:00+01:00); a DATE in the
future is refused.

With --format json, stdout has one JSON object per user per line (JSON Lines):
user, action (revoked, already_revoked or unenrolled), created, revoked.";

/// The arguments of `status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Users to show [default: every user in the store]
    pub users: Vec<String>,
    /// Also show every member of this group, those without a set included
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Take names NSS does not know as typed (a set stored under exactly that name)
    #[arg(long)]
    pub allow_unknown: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// List only users with fewer than N usable codes (or expired or locked); exit 1 if any, 2 if not all could be read
    #[arg(long, value_name = "N")]
    pub below: Option<usize>,
}

/// The manual text of `check`.
pub const CHECK_HELP: &str = "\
What it checks, without --store and --config: the configuration file; each
/etc/pam.d line that loads the module (its arguments, as the module reads
them) and its store; each service whose auth stack loads the module, as
libpam runs it (include, substack and @include followed, -auth lines, and
the control values required, requisite, sufficient, optional and [value=action
...] with ok, done, die, bad, ignore, reset and jumps): a warning if one
authentication can run the module more than once (it would ask for, and
spend, more than one code). For sshd's stacks (the service sshd, or sshd-NAME
for an sshd started through a link of that name), every member of each group
named by a `pam_succeed_if ... ingroup G` line (its member list and the
accounts whose primary group it is), by its canonical name and, where NSS folds
case, in upper case: sshd itself is asked (sshd -T -C
user=U,host=192.0.2.1,addr=192.0.2.1) and a problem is reported unless each
member's AuthenticationMethods needs publickey and keyboard-interactive (the
Match block applies), with UsePAM and KbdInteractiveAuthentication on, and
unless password authentication is off for them (sshd answers the code prompt
with the typed password: a code typed at the password prompt would log in).
A group NSS does not know, or cannot look up, is a problem. In sudoers
(Defaults pam_service= and pam_login_service=, includes followed), each
account routed to a service that asks for a code is reported, with a warning
when `sudo -i` (pam_login_service, default sudo-i) or `sudo CMD`
(pam_service, default sudo) does not ask.

--pam-dir, --sshd-config and --sudoers check a staged configuration (or a
test's) instead of /etc/pam.d, sshd's default configuration and /etc/sudoers;
the module lines' stores and configuration files are the ones they name.

Exit status: 0 if nothing was found that needs fixing (warnings, settings
weaker than they could be, are allowed); 1 if any problem was found (the
module would refuse logins, or someone gets past the code); 2 if there was no
problem but something could not be checked (not root, a file that cannot be
read, sshd that fails to run). Text: ok: and note: lines on stdout, warnings,
problems and what could not be checked on stderr. --quiet prints only the
problems and what could not be checked: nothing at all when everything is
fine, for cron. With --format json, stdout has one JSON object: findings, each
with level (ok, note, warning, unchecked or problem), check (config, line,
stack, store, sshd, group, sudo or access), subject (a file and line, a service,
a store, a user or a group; may be empty) and message; problems and unchecked
(their counts). Problems are also told on stderr.";

/// The arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Output format: a line per finding, or one JSON object
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Only problems and what could not be checked (nothing when all is fine)
    #[arg(long, short)]
    pub quiet: bool,
    /// Read the PAM services from DIR instead of /etc/pam.d (a staged configuration)
    #[arg(long, value_name = "DIR")]
    pub pam_dir: Option<PathBuf>,
    /// Ask sshd about FILE (sshd -f FILE) instead of its default configuration
    #[arg(long, value_name = "FILE")]
    pub sshd_config: Option<PathBuf>,
    /// Read sudo's rules from FILE (and what it includes) instead of /etc/sudoers
    #[arg(long, value_name = "FILE")]
    pub sudoers: Option<PathBuf>,
}

/// The arguments of `list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Output format: one line per user, or one JSON array
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The arguments of `revoke`.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// Users whose codes to revoke [default with --created-before: every user in the store]
    #[arg(required_unless_present = "created_before")]
    pub users: Vec<String>,
    /// Remove the users from the store instead: with `nullok` they then log in without a code
    #[arg(long, conflicts_with = "created_before")]
    pub unenroll: bool,
    /// Revoke only sets made before this date (after restoring a backup)
    #[arg(long, value_name = "DATE")]
    pub created_before: Option<Instant>,
    /// Take names NSS does not know as typed (a set stored under exactly that name)
    #[arg(long)]
    pub allow_unknown: bool,
    /// Output format: a line per user, or one JSON object per user per line
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The arguments of `unlock`.
#[derive(Debug, clap::Args)]
pub struct UnlockArgs {
    /// Users to unlock
    #[arg(required = true)]
    pub users: Vec<String>,
    /// Take names NSS does not know as typed (a set stored under exactly that name)
    #[arg(long)]
    pub allow_unknown: bool,
    /// Output format: a line per user, or one JSON object per user per line
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn expiries_are_durations_or_utc_dates() {
        let after = |text: &str| text.parse::<Expires>().unwrap();
        assert_eq!(after("90s"), Expires::After(Duration::seconds(90)));
        assert_eq!(after("30m"), Expires::After(Duration::minutes(30)));
        assert_eq!(after(" 8h "), Expires::After(Duration::hours(8)));
        assert_eq!(after("1w"), Expires::After(Duration::weeks(1)));
        assert_eq!(after("1d12h"), Expires::After(Duration::hours(36)));
        assert_eq!(after("2026-12-24"), Expires::At(datetime!(2026-12-24 0:00 UTC)));
        assert_eq!(
            after("2026-12-24 18:00"),
            Expires::At(datetime!(2026-12-24 18:00 UTC))
        );
        assert_eq!(
            after("2026-12-24T18:00:30"),
            Expires::At(datetime!(2026-12-24 18:00:30 UTC))
        );
        assert_eq!(
            after("2026-12-24T18:00:00+01:00"),
            Expires::At(datetime!(2026-12-24 17:00 UTC))
        );
        let now = datetime!(2026-12-01 12:00 UTC);
        assert_eq!(after("2h").at(now), datetime!(2026-12-01 14:00 UTC));
        for bad in [
            "",
            "0s",
            "0h0m",
            "5x",
            "h",
            "10",
            "1.5h",
            "-1d",
            "2026-13-01",
            "tomorrow",
        ] {
            let e = bad.parse::<Expires>().unwrap_err();
            assert!(!e.contains('\n'), "{e}");
        }
        // Far too long to be a time at all: refused, not wrapped around.
        assert!("99999999999999999w".parse::<Expires>().is_err());
    }

    #[test]
    fn labels_are_one_short_printable_line() {
        assert_eq!(parse_label("  Work laptop ").unwrap(), "Work laptop");
        assert!(parse_label(&"x".repeat(MAX_LABEL)).is_ok());
        for bad in [
            "",
            "   ",
            "a\nb",
            "tab\there",
            "\u{1b}[2J",
            "a\u{2028}b",
            "\u{202e}lebal",
        ] {
            assert!(parse_label(bad).is_err(), "{bad:?}");
        }
        assert!(parse_label(&"x".repeat(MAX_LABEL + 1)).is_err());
    }
}
