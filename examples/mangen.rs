//! Writes the manual pages of `backup-codes` from its clap definition, so they
//! say what `backup-codes --help` says: `backup-codes.8` and one page per
//! command (`backup-codes-generate.8`, ...). The Debian package runs it at
//! build time:
//!
//! ```text
//! cargo run --release --example mangen -- OUT_DIR
//! ```
//!
//! The main page gets sections clap does not know (exit status, files,
//! examples, see also), written here in roff.
//!
//! `cargo run --example mangen -- --docs` instead rewrites, in the source
//! tree, the parts of the documentation that are written from the module's
//! tables (options and results): the OPTIONS and RETURN VALUES sections of
//! `man/pam_backup_codes.8` and the two tables of `docs/design.md` and of
//! `docs/admin-guide.md` (`pam_backup_codes::docs`; `tests/docs.rs` fails while they differ).
#![allow(missing_docs)]

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_mangen::Man;
use pam_backup_codes::audit;

// The command line itself, shared with the binary (as rage does).
#[path = "../src/bin/backup-codes/args.rs"]
#[allow(dead_code)]
mod args;
use args::Cli;

const SECTION: &str = "8";
const MANUAL: &str = "System Administration";
const MAIN_ABOUT: &str = "manage single-use backup codes for pam_backup_codes(8)";
const MAIN_DESCRIPTION: &str = "backup-codes generates sets of single-use backup codes for \
pam_backup_codes(8), prints each set once and keeps only their Argon2id hashes in the store. \
It lists every user's set on one line each (list), shows what is left of each set, how old it \
is and where codes were used (status), lists the users who are running out (status --below), \
adds temporary codes that expire (add), revokes sets (also every set made before a restore: \
revoke --created-before), clears locks after too many failures, and checks the configuration \
and the store. It needs \
root for the real store; ordinary users renew their own set through sudo (renew).";
const SOURCE: &str = concat!("pam-backup-codes ", env!("CARGO_PKG_VERSION"));

/// The LOGGING section's introduction; the list of events follows, rendered
/// from the event table itself.
const LOGGING: &str = r#".SH LOGGING
Every command that changes a set, a lock or the schema logs an audit event
through
.BR syslog (3)
to the authpriv facility, as
.BR backup\-codes [\fIPID\fP]:
a message that starts with
.BI event= NAME
followed by
.IB key = value
fields (values with a space,
.BR = ,
a quote, a backslash or a control character in double quotes, escaped), with
who ran the command: the real uid and its name, the login uid, SUDO_USER and
the terminal. Where systemd\-journald runs, each event is also a native
journal entry with a fixed
.B MESSAGE_ID
and the fields upper\-cased; see
.BR pam_backup_codes (8)
for the module's events. The events, their usual severity and their fields:
"#;

const MAIN_EXTRA: &str = r#".SH "EXIT STATUS"
.TP
.B 0
Success. Also
.B generate \-\-if\-missing
for users who have a set already (left as they are).
.TP
.B 1
A failure; one line per problem on standard error (for example a user without
codes, an insecure store, a configuration file that does not parse). Also
.B status \-\-below
when it lists anyone,
.B check
when it found a problem, and
.B renew
when it is refused.
.TP
.B 2
A usage error. Also
.B status \-\-below
when it could not read everything (a set that does not read, an entry of the
store that is no user's file, a name or group NSS does not know or could not look up; each is
reported on standard error), whether or not it lists anyone; and
.B check
when it could not check something (not root, a file it cannot read, sshd
failing), unless it found a problem, which is 1.
.SH "USER NAMES"
Every command resolves each USER through NSS to its account, whose canonical
name keys the store, as the module does at login: under SSSD or winbind with
.BR "case_sensitive = false" ,
.B revoke ALICE
revokes alice's set. A name NSS does not know is refused;
.B \-\-allow\-unknown
takes it as typed: generate and add enrol it (the module refuses it until it is
an account), status, revoke and unlock act on a set stored under exactly that
name (an account that is gone).
.SH "JSON OUTPUT"
With
.BR "\-\-format json" ,
commands that report print one JSON array
.RB ( status ,
.BR list );
commands that act on users print one JSON object per user per line, as they go
(JSON Lines:
.BR generate ,
.BR add ,
.BR revoke ,
.BR unlock ,
.BR migrate );
.B db init
and
.B check
print one object. A sheet of
.B generate
or
.B add
has user, host, created, alphabet, length, expires (temporary codes only), label
(if given) and codes. Times are RFC 3339 in UTC. Users that fail are reported on
standard error only, and the exit status says whether any did. The fields of
the other commands are listed in their pages; fields may be added, none is
renamed or removed.
.SH "BACKUP AND RESTORE"
The store holds which codes were spent and which sets were revoked. Restoring
a backup of it (or a point\-in\-time recovery of the PostgreSQL store) brings
back the state of that time: codes spent since then work again, and sets
revoked since then (a stolen sheet) are valid again. After a restore, revoke
every set made before it, then hand out new sets:
.PP
.EX
backup\-codes revoke \-\-created\-before "2026\-12\-06 10:00"
backup\-codes status \-\-below 1
.EE
.PP
Revoked users stay enrolled and are refused until they have a new set.
.SH FILES
.TP
.I /var/lib/pam\-backup\-codes/
The store: one file per user,
.IR user .toml,
owned by root, mode 0600, in a directory owned by root, mode 0700. It holds
Argon2id hashes of the codes, never the codes.
.TP
.I /etc/security/pam_backup_codes.conf
The optional configuration (TOML): the store, the module's defaults and what
.B generate
makes. Trusted only if owned by root and not writable by group or others.
Its
.B [postgresql]
section says how a PostgreSQL store
.RB ( "store = \(dqpostgresql://USER@HOST/DB\(dq" )
is reached:
.B password_file
(root, 0600),
.BR connect_timeout ,
.B host_name
and
.B ca_file
(over TCP both files are required: the server proves itself with TLS
verify\-full and SCRAM\-SHA\-256; a Unix socket in a trusted directory needs
neither).
.B check
prints how the server proved itself and warns when the database has no
synchronous standby.
.TP
.I /usr/share/doc/libpam\-backup\-codes/examples/sudoers.d\-backup\-codes
An example: the sudo rule that lets users run
.BR "backup\-codes renew" ,
commented out, and
.B !log_output
for
.BR backup\-codes ,
so that sudo's I/O logs never record a sheet. Copy it to
.I /etc/sudoers.d/backup\-codes
and edit the copy with
.BR "visudo \-f /etc/sudoers.d/backup\-codes" ;
the copy is yours, and the package never changes or deletes it.
The rule asks for the user's password every time; renew then takes one of the
user's current codes as well.
.TP
.I /usr/share/bash\-completion/completions/backup\-codes
.TQ
.I /usr/share/zsh/vendor\-completions/_backup\-codes
.TQ
.I /usr/share/fish/vendor_completions.d/backup\-codes.fish
Completion of commands and options in bash, zsh and fish.
.SH EXAMPLES
Print a sheet of ten codes for alice, to hand over once:
.PP
.EX
backup\-codes generate alice
.EE
.PP
Write a set to a 0600 file instead, as JSON:
.PP
.EX
backup\-codes generate alice \-\-format json \-\-output /root/alice\-codes.json
.EE
.PP
Provision everyone listed in a file, one JSON object per line:
.PP
.EX
backup\-codes generate \-\-users\-from staff.txt \-\-format json > sets.jsonl
.EE
.PP
Configuration management: a set for each user who has none, nothing printed
and exit status 0 for those who have one:
.PP
.EX
backup\-codes generate \-\-if\-missing \-\-format json \-\-output /root/sheets alice bob
.EE
.PP
One line per user (codes left, age, lock, revocation); the details of one;
clear a lock; revoke a stolen sheet; check the configuration and the store:
.PP
.EX
backup\-codes list
backup\-codes status alice
backup\-codes unlock alice
backup\-codes revoke alice
backup\-codes check
.EE
.PP
Who among the members of the group named in a pam_succeed_if ingroup line
has no set, or fewer than three codes left:
.PP
.EX
backup\-codes status \-\-group sshcodes \-\-below 3
.EE
.PP
A fleet store: create the schema as the database owner, granting the hosts'
role only the login functions (and at most 50 connections), set the fleet's
lockout policy, which every host is judged by (a host's pam.d line or
configuration file may not set one), then import a host's file store:
.PP
.EX
backup\-codes \-\-store postgresql://bc_owner@db.example.org/backup_codes \e
    db init \-\-login\-role pam_login \-\-connection\-limit 50
backup\-codes db policy \-\-deny 5 \-\-fail\-interval 900 \-\-unlock\-time 900
backup\-codes migrate \-\-from /var/lib/pam\-backup\-codes
.EE
.PP
A helpdesk's one\-off code for alice, working for eight hours, her other codes
untouched:
.PP
.EX
backup\-codes add alice \-\-count 1 \-\-expires 8h
.EE
.PP
From cron: mail root the users with fewer than three usable codes left, or
whose set expired (max_age) or is locked (exit status 1), or when the store
could not be read entirely (exit status 2; cron mails the output itself):
.PP
.EX
backup\-codes status \-\-below 3 || mail \-s "backup codes" root
.EE
.PP
Run by alice herself, once an administrator has copied the example rule to
.I /etc/sudoers.d/backup\-codes
and enabled it there:
a new set for her, printed on her terminal, with a label on top:
.PP
.EX
sudo backup\-codes renew \-\-label "Home desk"
.EE
.PP
renew asks for one code of her current sheet (unless sudo itself just took
one): a password alone never mints a sheet.
.PP
Provision everyone in a file without seeing a single code: each sheet is
encrypted to the user's own SSH keys (ed25519 or RSA, from their
.IR ~/.ssh/authorized_keys )
and written, mode 0600, to
.IR /root/sheets/ user .age,
which the user opens with
.BR "age \-d \-i ~/.ssh/id_ed25519" :
.PP
.EX
backup\-codes generate \-\-users\-from staff.txt \-\-encrypt\-to\-ssh\-key \e
    \-\-output /root/sheets
age \-d \-i ~/.ssh/id_ed25519 alice.age
.EE
.SH "SEE ALSO"
.BR pam_backup_codes (8),
.BR pam\-auth\-update (8),
.BR pam.conf (5),
.BR sudoers (5)
"#;

fn page(cmd: clap::Command) -> Man {
    Man::new(cmd).section(SECTION).manual(MANUAL).source(SOURCE)
}

fn write_main(cmd: clap::Command, dir: &Path) -> io::Result<()> {
    let man = page(cmd);
    let mut out = File::create(dir.join(man.get_filename()))?;
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    out.write_all(LOGGING.as_bytes())?;
    out.write_all(audit::docs::roff_events(audit::Source::Command).as_bytes())?;
    out.write_all(MAIN_EXTRA.as_bytes())?;
    out.flush()
}

fn run(dir: &Path) -> io::Result<Vec<String>> {
    fs::create_dir_all(dir)?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    // Every command, and every command of a command (`db init`, `db policy`),
    // which the page of its parent names.
    let mut subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    while let Some(sub) = subs.pop() {
        let man = page(sub.clone());
        man.generate_to(dir)?;
        written.push(man.get_filename());
        subs.extend(sub.get_subcommands().filter(|s| !s.is_hide_set()));
    }
    written.push(page(cmd.clone()).get_filename());
    // `about` is the package's description ("PAM module and admin CLI ..."),
    // which --help shows; the page's NAME line describes the command alone.
    write_main(cmd.about(MAIN_ABOUT).long_about(MAIN_DESCRIPTION), dir)?;
    Ok(written)
}

/// Rewrites the generated parts of the module's manual page, of
/// docs/design.md and of docs/admin-guide.md; returns the files that changed.
fn write_docs() -> io::Result<Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut changed = Vec::new();
    for (name, render) in pam_backup_codes::docs::FILES {
        let path = root.join(name);
        let text = fs::read_to_string(&path)?;
        let new = render(&text);
        if new != text {
            fs::write(&path, new)?;
            changed.push(name.to_owned());
        }
    }
    Ok(changed)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args == ["--docs"] {
        return match write_docs() {
            Ok(changed) => {
                for name in changed {
                    println!("rewrote {name}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mangen: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let [dir] = args.as_slice() else {
        eprintln!("usage: mangen OUT_DIR | mangen --docs");
        return ExitCode::from(2);
    };
    match run(Path::new(dir)) {
        Ok(pages) => {
            for p in pages {
                println!("{dir}/{p}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mangen: {dir}: {e}");
            ExitCode::FAILURE
        }
    }
}
