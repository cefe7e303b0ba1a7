//! The module's options as data: one row per option (its name, the kind of
//! value it takes, its default, where it may be given, whether a fleet store
//! accepts it, and what it does). The pam.d parser (`config::args`) and the
//! configuration file ([`super::Config::parse`]) look names up here, and the
//! manual page's OPTIONS section and the tables of `docs/design.md` and
//! `docs/admin-guide.md` are rendered from it ([`man_options`],
//! [`markdown_options`]; `cargo run --example mangen -- --docs` rewrites
//! them, and `tests/docs.rs` fails when any drifts).

use super::Setting;
use crate::text::roff;

/// The kind of value an option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// No value on the pam.d line (`NAME`); `true` or `false` in the file.
    Flag,
    /// A whole number.
    Number,
    /// Text.
    Text,
    /// An absolute path.
    Path,
    /// A store: an absolute path or a `postgresql://` URI.
    Store,
}

/// Where an option may be given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Only as a pam.d argument.
    PamD,
    /// Only in the configuration file.
    Config,
    /// Both: a pam.d argument overrides the file.
    Both,
}

/// Whether an option may be given with a PostgreSQL (fleet) store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fleet {
    /// Allowed with either store.
    Allowed,
    /// Refused with a fleet store, whose database holds that policy
    /// (`backup-codes db policy`).
    Refused,
}

/// One option of the module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModuleOption {
    /// The name, as a pam.d argument and as a file key.
    pub name: &'static str,
    /// The value's placeholder in the documentation (`N`, `S`, `FILE`…);
    /// empty for a flag.
    pub arg: &'static str,
    /// What value it takes.
    pub kind: Kind,
    /// The default, as the documentation shows it.
    pub default: &'static str,
    /// Where it may be given.
    pub place: Place,
    /// The file's section that holds it (`None`: the top level).
    pub section: Option<&'static str>,
    /// Whether a fleet store accepts it.
    pub fleet: Fleet,
    /// The setting it sets, shared by the file and pam.d; `None` for the
    /// arguments that only steer the pam.d line itself.
    pub setting: Option<Setting>,
    /// One line for tables (Markdown code spans allowed).
    pub doc: &'static str,
    /// The manual's paragraph (roff), after the line.
    pub man: &'static str,
}

/// Every option, in the order the documentation lists them.
pub const OPTIONS: &[ModuleOption] = &[
    ModuleOption {
        name: "store",
        kind: Kind::Store,
        setting: Some(Setting::Store),
        default: "/var/lib/pam-backup-codes",
        arg: "DIR|URI",
        place: Place::Both,
        doc: "the store: an absolute path, or a `postgresql://` URI without a password",
        section: None,
        fleet: Fleet::Allowed,
        man: r#"A directory must be an absolute path. A PostgreSQL store shared by a fleet
of hosts is
.BI postgresql:// USER @ HOST [: PORT ]\:[, HOST2 [: PORT2 ]...]\:/ DB
.RB \:[ ?sslmode=\fImode\fP ]\:[ &target_session_attrs=read\-write ]\:[ &host=\fI/socket/dir\fP ].
A URI holding a password is refused: the password is read from
.B password_file
in the
.B [postgresql]
section of the configuration file, a root\-owned file of mode 0600. That
section also sets
.B connect_timeout
(seconds, default 3, bounding each connection attempt and then the statements
of each step of a login),
.B host_name
(recorded with each use and failure; default the hostname) and
.B ca_file
(the CA that signed the server's certificate).
.IP
The module believes a server only once it has proved itself. Over TCP,
loopback included, that is TLS with the certificate verified against
.B ca_file
.RB ( sslmode=verify\-full ,
the default, or
.BR verify\-ca ;
.B require
also verifies the chain and needs
.BR ca_file ;
.B disable
is refused over TCP), and a
.B password_file
for SCRAM\-SHA\-256: a server that lets the role in without a password
exchange, or asks for a cleartext or md5 password, is refused before the
password is sent. A Unix socket
.RB ( ?host=\fI/dir\fP )
is used only if every directory from
.I /
to it is owned by root or by the socket's owner and writable by no one else,
and the process answering (SO_PEERCRED) owns the socket; then peer or trust
authentication will do (with a
.BR password_file ,
SCRAM is insisted on there too). Several hosts are tried in order, each
address within
.BR connect_timeout ;
with
.B target_session_attrs=read\-write
a read\-only server (a standby) is skipped. No connection is held while the
user types: one short connection before the prompt, a new one after it (made
while the code is hashed). After a login of a user with a set, root keeps a
login hint in
.B hint_dir
(default
.IR /var/cache/pam\-backup\-codes ,
made 0700 if missing; an empty value keeps none): the set's code format, KDF
parameters and salt, no hash and no lock state. With a hint the user is
prompted at once and the one connection is made after the prompt; the
database still decides everything (a replaced set is hashed again, nothing
counted; a set that is gone is answered as no set). A hint can only cause a
prompt: one not owned by root or readable by others is ignored and logged.
.IP
The module logs in as a role that may only execute the login routines,
hashes the code once on the host, and has the database judge the digest in one
.B CALL
that takes the user's row lock and commits before it answers; it answers
PAM_SUCCESS only after that
.B CALL
returned. The lockout counts failures from every host, by the fleet's policy,
kept in the database and set with
.BR "backup\-codes db policy" :
with a PostgreSQL store,
.BR deny ,
.BR fail_interval ,
.B unlock_time
and
.B max_age
may not be set, in the arguments or the configuration file (the module
fails with PAM_SERVICE_ERR and a log line, and
.B backup\-codes check
reports it). Any database problem
gives PAM_AUTHINFO_UNAVAIL within the timeout, also with
.BR nullok ."#,
    },
    ModuleOption {
        name: "config",
        kind: Kind::Path,
        setting: None,
        default: "/etc/security/pam_backup_codes.conf",
        arg: "FILE",
        place: Place::PamD,
        doc: "another config file, an absolute path that must exist",
        section: None,
        fleet: Fleet::Allowed,
        man: r#"The default file is optional; a named one must exist."#,
    },
    ModuleOption {
        name: "nullok",
        kind: Kind::Flag,
        setting: Some(Setting::Nullok),
        default: "off",
        arg: "",
        place: Place::Both,
        doc: "a user without codes gets PAM_IGNORE instead of a prompt and PAM_AUTH_ERR",
        section: Some("login"),
        fleet: Fleet::Allowed,
        man: r#"Without it such a user is prompted like anyone else and refused, so that
the prompt does not tell who has codes. While the store directory does not
exist, every user is such a user."#,
    },
    ModuleOption {
        name: "use_first_pass",
        kind: Kind::Flag,
        setting: None,
        default: "off",
        arg: "",
        place: Place::PamD,
        doc: "the code is PAM_AUTHTOK from an earlier module; never prompt",
        section: None,
        fleet: Fleet::Allowed,
        man: r#"For example from
.B pam_google_authenticator
with
.BR forward_pass .
Without a token the module fails."#,
    },
    ModuleOption {
        name: "try_first_pass",
        kind: Kind::Flag,
        setting: None,
        default: "off",
        arg: "",
        place: Place::PamD,
        doc: "PAM_AUTHTOK if it looks like a code of the set, else prompt",
        section: None,
        fleet: Fleet::Allowed,
        man: r#"It looks like a code when it has the set's alphabet and length once
normalised. It excludes
.BR use_first_pass ."#,
    },
    ModuleOption {
        name: "prompt",
        kind: Kind::Text,
        setting: Some(Setting::Prompt),
        default: "Backup code: ",
        arg: "TEXT",
        place: Place::Both,
        doc: "1 to 256 bytes of printable text",
        section: Some("login"),
        fleet: Fleet::Allowed,
        man: r#"Write
.B [prompt=Backup code: ]
to include spaces in a PAM configuration line."#,
    },
    ModuleOption {
        name: "deny",
        kind: Kind::Number,
        setting: Some(Setting::Deny),
        default: "5",
        arg: "N",
        place: Place::Both,
        doc: "failures that lock a scope, at most 1000; 0 disables the lockout",
        section: Some("login"),
        fleet: Fleet::Refused,
        man: r#"The failures must fall within
.IR fail_interval .
.B deny=0
never locks, not even after 100 remote failures in a row, and ignores
failures already counted."#,
    },
    ModuleOption {
        name: "fail_interval",
        kind: Kind::Number,
        setting: Some(Setting::FailInterval),
        default: "900",
        arg: "S",
        place: Place::Both,
        doc: "the window the `deny` failures must fall in; at least 1",
        section: Some("login"),
        fleet: Fleet::Refused,
        man: r#".I deny
failures lock when the first and the last of them are at most this many
seconds apart;
.B deny=0
is the way to turn the lockout off."#,
    },
    ModuleOption {
        name: "unlock_time",
        kind: Kind::Number,
        setting: Some(Setting::UnlockTime),
        default: "900",
        arg: "S",
        place: Place::Both,
        doc: "how long a lock lasts after the last failure; 0 until `backup-codes unlock`",
        section: Some("login"),
        fleet: Fleet::Refused,
        man: r#".B unlock_time=0
keeps a lock until
.BR "backup\-codes unlock" ."#,
    },
    ModuleOption {
        name: "nodelay",
        kind: Kind::Flag,
        setting: Some(Setting::Nodelay),
        default: "off",
        arg: "",
        place: Place::Both,
        doc: "no pam_fail_delay after a failure",
        section: Some("login"),
        fleet: Fleet::Allowed,
        man: r#"Otherwise the module asks for a two\-second delay after each failure."#,
    },
    ModuleOption {
        name: "quiet",
        kind: Kind::Flag,
        setting: Some(Setting::Quiet),
        default: "off",
        arg: "",
        place: Place::Both,
        doc: "no last-use notice after a successful code login",
        section: Some("login"),
        fleet: Fleet::Allowed,
        man: r#"Otherwise a successful code login tells the user when, through which service
and from where the previous code of the set was used, and how many failed code
attempts are on record since, as
.BR pam_lastlog (8)
and
.BR faillock (8)
tell it. PAM_SILENT hides it too."#,
    },
    ModuleOption {
        name: "warn_below",
        kind: Kind::Number,
        setting: Some(Setting::WarnBelow),
        default: "3",
        arg: "N",
        place: Place::Both,
        doc: "warn after a success when fewer codes remain",
        section: Some("login"),
        fleet: Fleet::Allowed,
        man: r#"The message after a success always says how many codes remain."#,
    },
    ModuleOption {
        name: "max_age",
        kind: Kind::Number,
        setting: Some(Setting::MaxAge),
        default: "0",
        arg: "DAYS",
        place: Place::Both,
        doc: "days a set works after `created`, warning for the last tenth; 0 no limit, at most 36500",
        section: Some("login"),
        fleet: Fleet::Refused,
        man: r#"For the last tenth of that time each success warns that the codes will
stop working and when; after it, the set's codes are refused like expired
ones. Temporary codes made by
.B backup\-codes add \-\-expires
keep their own expiry. An expired code is refused with PAM_AUTH_ERR, logged
as expired, and not counted as a failure toward
.BR deny ."#,
    },
    ModuleOption {
        name: "debug",
        kind: Kind::Flag,
        setting: Some(Setting::Debug),
        default: "off",
        arg: "",
        place: Place::Both,
        doc: "more log lines",
        section: Some("login"),
        fleet: Fleet::Allowed,
        man: r#""#,
    },
    ModuleOption {
        name: "log_success",
        kind: Kind::Text,
        setting: Some(Setting::LogSuccess),
        default: "notice",
        arg: "SEVERITY",
        place: Place::Both,
        doc: "syslog severity of a success: alert, crit, err, warning, notice or info",
        section: Some("login"),
        fleet: Fleet::Allowed,
        man: r#"A break\-glass line may log its success louder, say
.BR log_success=warning ,
so that every use of it stands out (event
.BR code\-accepted )."#,
    },
];

/// The option of this name.
pub fn named(name: &str) -> Option<&'static ModuleOption> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// The row of a setting.
pub fn of(setting: Setting) -> Option<&'static ModuleOption> {
    OPTIONS.iter().find(|o| o.setting == Some(setting))
}

impl ModuleOption {
    /// How it is written on a pam.d line: `NAME` or `NAME=ARG`.
    pub fn usage(&self) -> String {
        if self.arg.is_empty() {
            self.name.to_owned()
        } else {
            format!("{}={}", self.name, self.arg)
        }
    }

    fn where_given(&self) -> &'static str {
        match self.place {
            Place::PamD => "pam.d only",
            Place::Config => "config file only",
            Place::Both => "pam.d and config file",
        }
    }

    fn file_key(&self) -> String {
        match self.section {
            Some(section) => format!("[{section}] {}", self.name),
            None => self.name.to_owned(),
        }
    }
}

/// The table of `docs/design.md` and `docs/admin-guide.md` (Markdown).
pub fn markdown_options() -> String {
    let mut out = String::from("| option | default | where | meaning |\n| --- | --- | --- | --- |\n");
    for o in OPTIONS {
        let default = match o.kind {
            Kind::Flag | Kind::Number => o.default.to_owned(),
            _ => format!("`{}`", o.default),
        };
        let fleet = match o.fleet {
            Fleet::Allowed => "",
            Fleet::Refused => "; refused with a PostgreSQL store",
        };
        let place = match o.place {
            Place::PamD => "pam.d".to_owned(),
            Place::Config => format!("file `{}`", o.file_key()),
            Place::Both => format!("both, file `{}`", o.file_key()),
        };
        // A `|` in a cell, code span or not, is escaped (GitHub's tables).
        let usage = o.usage().replace('|', "\\|");
        out += &format!("| `{usage}` | {default} | {place} | {}{fleet} |\n", o.doc);
    }
    out
}

/// The OPTIONS section of `pam_backup_codes(8)` (roff, without its `.SH`).
pub fn man_options() -> String {
    let mut out = String::from(
        "Arguments in the PAM configuration override the configuration file.\n\
         An unknown or malformed argument makes the module fail with PAM_SERVICE_ERR\n\
         and a log line.\n",
    );
    for o in OPTIONS {
        out += ".TP\n";
        if o.arg.is_empty() {
            out += &format!(".B {}\n", roff(o.name));
        } else {
            out += &format!(".BI {}= {}\n", roff(o.name), roff(o.arg));
        }
        let mut line = roff(o.doc);
        if let Some(first) = line.get(..1) {
            line = first.to_uppercase() + line.get(1..).unwrap_or_default();
        }
        let default = match o.kind {
            Kind::Flag => String::new(),
            _ => format!(" (default \\(lq{}\\(rq)", roff(o.default)),
        };
        out += &format!("{line}{default}; {}.\n", o.where_given());
        if o.fleet == Fleet::Refused {
            out += "Refused with a PostgreSQL store, whose policy is the database's.\n";
        }
        if !o.man.is_empty() {
            out += o.man;
            out += "\n";
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn every_setting_has_one_row_and_the_rows_defaults_are_the_codes() {
        let config = Config::default();
        let login = &config.login;
        for setting in Setting::ALL {
            let rows = OPTIONS.iter().filter(|o| o.setting == Some(setting)).count();
            assert_eq!(rows, 1, "{setting:?}");
        }
        let actual = |name: &str| match name {
            "store" => config.store.to_string(),
            "nullok" | "nodelay" | "debug" | "quiet" => {
                let on = match name {
                    "nullok" => login.nullok,
                    "nodelay" => login.nodelay,
                    "quiet" => login.quiet,
                    _ => login.debug,
                };
                if on { "on" } else { "off" }.to_owned()
            }
            "prompt" => login.prompt.clone(),
            "deny" => login.deny.to_string(),
            "fail_interval" => login.fail_interval.to_string(),
            "unlock_time" => login.unlock_time.to_string(),
            "warn_below" => login.warn_below.to_string(),
            "max_age" => login.max_age.to_string(),
            "log_success" => login.log_success.name().to_owned(),
            "config" => crate::config::DEFAULT_PATH.to_owned(),
            _ => "off".to_owned(),
        };
        for o in OPTIONS {
            assert_eq!(o.default, actual(o.name), "{}", o.name);
            assert_eq!(o.kind == Kind::Flag, o.arg.is_empty(), "{}", o.name);
            assert_eq!(o.setting.is_none(), o.place == Place::PamD, "{}", o.name);
        }
    }
}
