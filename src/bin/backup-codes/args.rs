//! The command line of `backup-codes`, apart from what runs it so that
//! `examples/mangen.rs` can include this file and write the manual pages.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use pam_backup_codes::code::Alphabet;
use pam_backup_codes::store::location::Location;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a new set for each user (an existing one is replaced only with --replace)
    Generate(GenerateArgs),
    /// Show codes left, each use (when, service, host), failures, last failure and lock state
    Status {
        /// Users to show [default: every user in the store]
        users: Vec<String>,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Invalidate every code of users' sets; they stay enrolled and are refused until a new set
    Revoke {
        /// Users whose codes to revoke
        #[arg(required = true)]
        users: Vec<String>,
        /// Remove the users from the store instead: with `nullok` they then log in without a code
        #[arg(long)]
        unenroll: bool,
    },
    /// Clear users' failures and locks, local and remote
    Unlock {
        /// Users to unlock
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Check the configuration, the store (ownership, modes and every file; for PostgreSQL the connection, schema version and what the login role can read) and each /etc/pam.d line that loads the module
    Check,
    /// The fleet store's database (PostgreSQL)
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Import a file store (hashes, uses, tallies) into the PostgreSQL store; one line per user
    Migrate {
        /// The store directory to import
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// Overwrite users already in the PostgreSQL store (default: skip them)
        #[arg(long)]
        replace: bool,
    },
}

/// The commands of `db`.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create or upgrade the schema (idempotent; run as the database owner) and grant ROLE only what a login needs
    Init {
        /// The role the PAM module logs in as
        #[arg(long, value_name = "ROLE")]
        login_role: String,
    },
}

/// The arguments of `generate`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Bulk provisioning: users come from the arguments, then from --users-from, one
name per line; blank lines and everything from '#' to the end of a line are
skipped. Each name is resolved through NSS to its account, whose canonical
name keys the store (ALICE may be alice), as the module does at login; a name
NSS does not know is refused unless --allow-unknown. A name listed twice gets
one set (noted on stderr). A user who has a set keeps it unless --replace (a
revoked set holds no valid code and is replaced). An invalid or unknown name, a
user with a set, or a user whose set cannot be stored, is reported and skipped;
the others are done and the exit status is 1. The store directory must exist.
Sets are hashed on every core (set RAYON_NUM_THREADS to use fewer). A progress
bar is shown on stderr when it is a terminal and stdout is not. When stdout is
a regular file, it is made 0600 before any code is written to it. With
--format json, stdout has one JSON object per user per line (JSON Lines).")]
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
    #[arg(long)]
    pub replace: bool,
    /// Codes per set (1..=100) [default: 10, or the config file's]
    #[arg(long)]
    pub count: Option<usize>,
    /// Symbols per code (crockford 8..=32, digits 8..=20) [default: 10, or the config file's]
    #[arg(long)]
    pub length: Option<usize>,
    /// Alphabet: crockford or digits [default: crockford, or the config file's]
    #[arg(long)]
    pub alphabet: Option<Alphabet>,
    /// Output format: a printable sheet, or one JSON object per user per line
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the codes to this 0600 file (one user) or into this directory, one 0600 sheet per user
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}
