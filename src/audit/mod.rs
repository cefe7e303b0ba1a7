//! Audit events: the one vocabulary of what the module and the CLI log.
//!
//! Every module outcome and every admin action is an [`Event`] with a stable
//! name, a fixed journald `MESSAGE_ID` and `key=value` [`Field`]s. A
//! [`Record`] renders as the syslog line `event=NAME key=value ...` (values
//! quoted so that none can forge another field or line: [`quote`]) and, where
//! systemd-journald runs, is also sent to the journal natively ([`journal`]).
//! The documentation (docs/events.md, the manual pages) and the journald
//! catalog are rendered from [`Event::ALL`] and [`Field::ALL`] ([`docs`]),
//! and tests hold the shipped copies to it.

pub mod docs;
pub mod journal;

use std::fmt::{self, Write as _};

/// A syslog severity; the facility is always authpriv.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// LOG_ALERT.
    Alert = 1,
    /// LOG_CRIT.
    Crit = 2,
    /// LOG_ERR.
    Err = 3,
    /// LOG_WARNING.
    Warning = 4,
    /// LOG_NOTICE.
    Notice = 5,
    /// LOG_INFO.
    Info = 6,
    /// LOG_DEBUG.
    Debug = 7,
}

impl Severity {
    /// The severities `log_success` accepts, by their syslog names.
    pub const NAMED: [(&'static str, Self); 6] = [
        ("alert", Self::Alert),
        ("crit", Self::Crit),
        ("err", Self::Err),
        ("warning", Self::Warning),
        ("notice", Self::Notice),
        ("info", Self::Info),
    ];

    /// The syslog(3) level number.
    pub const fn level(self) -> i32 {
        self as i32
    }

    /// The syslog name (`warning`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            _ => Self::NAMED
                .iter()
                .find(|(_, s)| *s == self)
                .map_or("notice", |(name, _)| name),
        }
    }

    /// The severity of this syslog name (`debug` is not one: a success is
    /// never hidden).
    pub fn named(name: &str) -> Option<Self> {
        Self::NAMED.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }
}

/// Who logs an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The PAM module, under the host program's name (sshd, sudo, login).
    Module,
    /// The `backup-codes` command, as `backup-codes[PID]`.
    Command,
}

/// Static description of one event, for logs, documentation and the catalog.
#[derive(Debug)]
pub struct Info {
    /// The stable name, `event=NAME`.
    pub name: &'static str,
    /// The journald MESSAGE_ID: 32 lower-case hex digits, fixed forever.
    pub message_id: &'static str,
    /// Who logs it.
    pub source: Source,
    /// Its usual severity (some outcomes log louder; see `description`).
    pub severity: Severity,
    /// One line: what happened.
    pub subject: &'static str,
    /// The fields it may carry, besides the common ones of its source.
    pub fields: &'static [Field],
    /// What it means and what to do, for the catalog and docs/events.md.
    pub description: &'static str,
}

macro_rules! events {
    ($( $(#[$doc:meta])* $variant:ident = ($name:literal, $id:literal, $source:ident, $severity:ident,
        $subject:literal, [$($field:ident),*], $description:literal); )*) => {
        /// Everything the module and the command log.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Event {
            $( $(#[$doc])* $variant, )*
        }

        impl Event {
            /// Every event, in the documentation's order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The event's description.
            pub fn info(self) -> &'static Info {
                match self {
                    $(Self::$variant => &Info {
                        name: $name,
                        message_id: $id,
                        source: Source::$source,
                        severity: Severity::$severity,
                        subject: $subject,
                        fields: &[$(Field::$field),*],
                        description: $description,
                    },)*
                }
            }
        }
    };
}

events! {
    /// A code was accepted and durably marked used.
    CodeAccepted = ("code-accepted", "1f9a7669ee0948da923da921f08f8d28", Module, Notice,
        "A backup code was used to log in", [CodeNumber, Left],
        "A user authenticated with a single-use backup code, which is now spent. \
         Logged at notice, or at the pam.d line's log_success severity (log_success=warning \
         on a break-glass line). Every event of this name is a login that bypassed the \
         usual second factor: alert on it if that is never expected.");
    /// A wrong code (counted as a failure).
    CodeRefused = ("code-refused", "7300371cef4f49efb4129b74169f7ee7", Module, Notice,
        "A wrong backup code was refused", [Locked, Reason],
        "The code typed matches no code of the user's set. The failure is counted; \
         locked=now says it locked the codes (then logged at warning).");
    /// A code that was already used.
    CodeReused = ("code-reused", "30cd80d7328a4182a545071d13265cc2", Module, Warning,
        "A spent backup code was tried again",
        [CodeNumber, UsedAt, UsedService, UsedRhost, Locked, Reason],
        "Somebody typed a code that was valid once and has been used (which one of the \
         sheet, when and from where are in the fields). The sheet may have been copied: talk to the user and replace \
         the set (backup-codes generate --replace).");
    /// A code of a revoked set, or any code for a revoked set.
    CodeRevoked = ("code-revoked", "d9467ce205114b96934c97c13f39690d", Module, Notice,
        "A login was refused: the user's codes are revoked",
        [CodeNumber, Matched, Locked, Reason],
        "The user's set is revoked. matched=yes means the code typed was one of the revoked \
         sheet's (logged at warning; code_number says which): whoever holds the revoked sheet \
         is trying it.");
    /// A code that expired.
    CodeExpired = ("code-expired", "c46bea7ee4164fc2a11a2f13e4b3023b", Module, Notice,
        "An expired backup code was refused", [CodeNumber, Expired, Reason],
        "The code matched but had expired (its own expiry or the set's max_age). \
         Not counted as a guess.");
    /// A typo: the check symbol does not match (counted as nothing).
    CodeTypo = ("code-typo", "29b01d2f2cd04afd9a571d5fddfe965d", Module, Info,
        "A backup code with a typo was refused", [Reason],
        "The input had the shape of a code of the user's set but its check symbol did not \
         match the symbols before it: a typo. Nothing was hashed, sent to a database or \
         counted, and the user was told. The check symbol is a function of the code, so \
         telling a typo apart tells a guesser nothing.");
    /// Refused without looking: the codes are locked.
    CodeLocked = ("code-locked", "d7e2f993e5324ef2a07d1f7a4eb07f03", Module, Notice,
        "A login was refused: the user's codes are locked", [Until, Reason],
        "Too many failures locked the codes; nothing was hashed or counted. \
         until=admin means only backup-codes unlock clears it.");
    /// The user has no set and no nullok: prompted and refused.
    NoCodes = ("no-codes", "304333975a184af8b461891b66a9f26c", Module, Notice,
        "A user without backup codes was refused", [Reason],
        "The account has no set and the line has no nullok: it was prompted like anyone \
         else and refused.");
    /// The user has no set and the line has nullok.
    NoCodesIgnored = ("no-codes-ignored", "420493c1a5d74d8980be9e13a9181fc0", Module, Info,
        "A user without backup codes was let through (nullok)", [Reason],
        "The account has no set and the line has nullok: the module returned PAM_IGNORE and \
         the rest of the stack decided.");
    /// The store directory does not exist: nobody has codes.
    StoreMissing = ("store-missing", "d2504b18951b4c838080407769b9d762", Module, Notice,
        "The store directory does not exist: nobody has backup codes", [Reason],
        "Along a trusted path the store directory is missing, so no user has codes on this \
         host; with nullok every user is let through. Check the store setting.");
    /// NSS does not know the name.
    UnknownUser = ("unknown-user", "d028bce78d0b4ca3b036a22751800387", Module, Notice,
        "A login for a name NSS does not know was refused", [Reason],
        "Prompted and refused like a user without codes, nullok or not.");
    /// The name given is not a valid user name, or there is none.
    InvalidUser = ("invalid-user", "810dd3e2794a44b1969557f135fd943d", Module, Err,
        "A login with an invalid user name was refused", [Reason],
        "The client sent a name that is not a portable user name (PAM_USER_UNKNOWN).");
    /// use_first_pass without a token from an earlier module.
    NoToken = ("no-token", "ce0a090abb1d4a42a28aa970753748bf", Module, Notice,
        "use_first_pass found no token to check", [Reason],
        "The line has use_first_pass but no earlier module set PAM_AUTHTOK.");
    /// The store could not be read or written.
    StoreError = ("store-error", "c340352cf4b042dfbd461040c5915059", Module, Err,
        "The backup code store could not be used", [Reason],
        "The store is unreadable, insecure, corrupt or cannot be written (the reason names \
         the path). The login was refused (PAM_AUTHINFO_UNAVAIL).");
    /// The PostgreSQL store could not be used.
    DatabaseError = ("database-error", "a455f9aa447b406992756cd9f25c6a66", Module, Err,
        "The fleet database could not be used", [Reason],
        "The PostgreSQL store was unreachable, did not prove itself, timed out or failed. \
         The login was refused (PAM_AUTHINFO_UNAVAIL).");
    /// A login hint file was not trusted or not understood.
    HintIgnored = ("hint-ignored", "c76a9d3627a74056bdf5e1a0519bd7f2", Module, Warning,
        "A login hint was ignored", [Reason],
        "The user's login hint (the fleet store's [postgresql] hint_dir) failed the trusted-file \
         rules (owner, mode, links, directory) or did not parse: it was not used, and the login \
         asked the database before the prompt, as without a hint. A hint can only let a login \
         prompt sooner, never skip a code; one that is not root's and private is a sign of \
         tampering. The next answer of the database rewrites it.");
    /// Something else on the host failed (NSS, memory for Argon2id).
    SystemError = ("system-error", "3bd975eb310b425d8989806579a43b5a", Module, Err,
        "A login failed on a host problem", [Reason],
        "NSS could not be asked, or Argon2id could not get its memory. The login was refused.");
    /// The pam.d line or the configuration file is wrong.
    ConfigError = ("config-error", "1b5f8e75368d48778d62186a0c2265b8", Module, Err,
        "The module's options or configuration file are wrong", [Reason],
        "Every login through this line is refused (PAM_SERVICE_ERR) until the pam.d \
         arguments or the configuration file are fixed; backup-codes check names the problem.");
    /// The conversation with the user failed.
    ConversationError = ("conversation-error", "9a261e7d591b47c1b8d5d54557249051", Module, Err,
        "The conversation with the user failed", [Reason],
        "The application could not prompt (no conversation function, or it failed): the \
         login was refused (PAM_CONV_ERR).");
    /// `generate`: a new set.
    SetGenerated = ("set-generated", "da85aa35b7a3413e9005aaee83de9009", Command, Notice,
        "A new set of backup codes was generated", [Count, Replaced],
        "An administrator generated a set; replaced=yes means an existing set was replaced \
         and its codes stopped working.");
    /// `add`: temporary codes added to a set.
    CodesAdded = ("codes-added", "4d8cdafaa536410da850b8744e438db6", Command, Notice,
        "Backup codes were added to a set", [Count, Expires],
        "An administrator added codes to a user's set, each valid until expires.");
    /// `revoke`: no code of the set works any longer.
    SetRevoked = ("set-revoked", "af1b925a6b494891a3f0c5c42ff9a7e8", Command, Notice,
        "A set of backup codes was revoked", [Created],
        "An administrator revoked a set (the user stays enrolled, with no valid code). \
         created is when the set was made (revoke --created-before revokes every set made \
         before a date).");
    /// `revoke --unenroll`: the user's set is gone.
    UserUnenrolled = ("user-unenrolled", "cdb30cf6fdf849b5b862d9042294ca3e", Command, Warning,
        "A user was unenrolled from backup codes", [],
        "An administrator removed the user's set. On a line with nullok the user now logs in \
         without this second factor.");
    /// `unlock`: failures and lock cleared.
    LockCleared = ("lock-cleared", "51c75ea7781443dc833a27781ba184e4", Command, Notice,
        "A user's backup code lock was cleared", [],
        "An administrator cleared the failures and the lock of a set.");
    /// `renew`: a user replaced their own set.
    SetRenewed = ("set-renewed", "3f421ffe023f4ece9be90c2182f63368", Command, Notice,
        "A user renewed their own set of backup codes", [CodeNumber, Count, Reason],
        "Self-service through sudo: the user replaced their own set. code_number is the \
         code of the old set that proved it: the one renew spent, or the one sudo's own \
         authentication had just spent.");
    /// `renew` refused.
    RenewRefused = ("renew-refused", "d8211332759d4930a1ce14ea9e4057fc", Command, Warning,
        "A self-service renewal was refused", [Reason],
        "renew refused the caller (wrong or missing code, locked codes, not through sudo).");
    /// `migrate`: one user's set copied into the fleet database.
    SetMigrated = ("set-migrated", "8fe9f40bf4cc47038b7892cbddaabe75", Command, Notice,
        "A set was migrated into the fleet database", [From, Replaced],
        "An administrator copied a user's set from a store directory into PostgreSQL.");
    /// `db init`: the schema was created or upgraded.
    SchemaInitialised = ("schema-initialised", "cba106dee11e431a9e01b89bd644c0eb", Command, Notice,
        "The fleet database schema was initialised", [Version, Role],
        "An administrator created or upgraded the schema and the login role's grants.");
    /// `db policy`: the fleet's lockout policy changed.
    PolicyChanged = ("policy-changed", "2f58cb574557462aab10d7ae27967a6e", Command, Warning,
        "The fleet's lockout policy was changed", [Deny, FailInterval, UnlockTime, MaxAge],
        "An administrator changed the lockout or lifetime policy every host of the fleet \
         applies. The fields are the new policy.");
}

macro_rules! fields {
    ($( $(#[$doc:meta])* $variant:ident = ($name:literal, $meaning:literal); )*) => {
        /// A field of an event line, `name=value` (in the journal, `NAME=value`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Field {
            $( $(#[$doc])* $variant, )*
        }

        impl Field {
            /// Every field, in the order a line carries them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The name in a syslog line (lower case).
            pub const fn name(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// What the value is, for the documentation.
            pub const fn meaning(self) -> &'static str {
                match self { $(Self::$variant => $meaning,)* }
            }
        }
    };
}

fields! {
    /// The user name as given.
    User = ("user", "the user name as typed (module) or given on the command line");
    /// The canonical account, when it differs.
    Account = ("account", "the account NSS resolved the name to, when it differs from user");
    /// The PAM service.
    Service = ("service", "the PAM service (sshd, sudo, login, ...)");
    /// The remote host.
    Rhost = ("rhost", "the remote host PAM reported (absent for local logins)");
    /// This host.
    Host = ("host", "the host that logged the event");
    /// The number of the code on its sheet.
    CodeNumber = ("code_number", "the number of the code on the user's sheet (1 is the first; \
        added codes continue the count); never the code itself");
    /// Codes left.
    Left = ("left", "codes still valid after this use");
    /// Whether the failure locked the codes.
    Locked = ("locked", "`now` when this failure locked the codes");
    /// Whether a revoked code was typed.
    Matched = ("matched", "`yes` when the code typed was one of the revoked set's");
    /// When a reused code was spent.
    UsedAt = ("used_at", "when the reused code was spent (RFC 3339)");
    /// Where a reused code was spent.
    UsedService = ("used_service", "the PAM service through which the reused code was spent");
    /// From where a reused code was spent.
    UsedRhost = ("used_rhost", "the remote host from which the reused code was spent");
    /// When a code expired.
    Expired = ("expired", "when the code stopped working (RFC 3339)");
    /// Until when codes are locked.
    Until = ("until", "when a lock ends (RFC 3339), or `admin` for backup-codes unlock");
    /// How many codes.
    Count = ("count", "codes in the new set, or codes added");
    /// Whether a set was replaced.
    Replaced = ("replaced", "`yes` when an existing set was replaced");
    /// Until when added codes work.
    Expires = ("expires", "when the added codes stop working (RFC 3339)");
    /// When the revoked set was made.
    Created = ("created", "when the revoked set was generated (RFC 3339)");
    /// The source directory of a migration.
    From = ("from", "the store directory migrated from");
    /// A schema version.
    Version = ("version", "the schema version now in the database");
    /// The login role.
    Role = ("role", "the PostgreSQL login role granted the login functions");
    /// Policy: deny.
    Deny = ("deny", "failures that lock (0: never)");
    /// Policy: fail_interval.
    FailInterval = ("fail_interval", "seconds within which deny failures lock");
    /// Policy: unlock_time.
    UnlockTime = ("unlock_time", "seconds a lock lasts (0: until unlock)");
    /// Policy: max_age.
    MaxAge = ("max_age", "days a set works (0: no limit)");
    /// The real uid of the command.
    ByUid = ("by_uid", "the real uid that ran the command");
    /// The user name of that uid.
    By = ("by", "the user name of by_uid");
    /// The audit login uid.
    ByLoginUid = ("by_loginuid", "the login uid of the session (who logged in before any sudo or su)");
    /// SUDO_USER.
    SudoUser = ("sudo_user", "SUDO_USER, when the command ran through sudo");
    /// The controlling terminal.
    Tty = ("tty", "the terminal of the command's standard input");
    /// Free text.
    Reason = ("reason", "a human-readable explanation (always last)");
}

/// The fields every event of `source` carries when known, before its own.
pub fn common_fields(source: Source) -> &'static [Field] {
    match source {
        Source::Module => &[
            Field::User,
            Field::Account,
            Field::Service,
            Field::Rhost,
            Field::Host,
        ],
        Source::Command => &[
            Field::User,
            Field::Host,
            Field::ByUid,
            Field::By,
            Field::ByLoginUid,
            Field::SudoUser,
            Field::Tty,
        ],
    }
}

impl Event {
    /// The stable name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The event of this name.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.name() == name)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One event as it happened: its fields in [`Field::ALL`] order.
#[derive(Clone, Debug)]
pub struct Record {
    /// What happened.
    pub event: Event,
    /// How loud.
    pub severity: Severity,
    fields: Vec<(Field, String)>,
}

impl Record {
    /// An event at its usual severity, with no fields yet.
    pub fn new(event: Event) -> Self {
        Self {
            event,
            severity: event.info().severity,
            fields: Vec::new(),
        }
    }

    /// Logged at `severity` instead.
    #[must_use]
    pub fn at(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Sets `field` (replacing an earlier value); kept in [`Field::ALL`] order.
    #[must_use]
    pub fn with(mut self, field: Field, value: impl fmt::Display) -> Self {
        self.set(field, value);
        self
    }

    /// Sets `field` if `value` is some.
    #[must_use]
    pub fn with_some(self, field: Field, value: Option<impl fmt::Display>) -> Self {
        match value {
            Some(value) => self.with(field, value),
            None => self,
        }
    }

    /// Sets `field` in place.
    pub fn set(&mut self, field: Field, value: impl fmt::Display) {
        let value = value.to_string();
        let rank = |f: Field| Field::ALL.iter().position(|&g| g == f);
        self.fields.retain(|(f, _)| *f != field);
        let at = self
            .fields
            .iter()
            .position(|(f, _)| rank(*f) > rank(field))
            .unwrap_or(self.fields.len());
        self.fields.insert(at, (field, value));
    }

    /// The value of `field`, if set.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v.as_str())
    }

    /// The fields set, in order.
    pub fn fields(&self) -> impl Iterator<Item = (Field, &str)> {
        self.fields.iter().map(|(f, v)| (*f, v.as_str()))
    }

    /// The syslog line: `event=NAME key=value ...`, each value quoted as
    /// [`quote`] does, so the line is one line whatever the values hold.
    pub fn line(&self) -> String {
        let mut line = format!("event={}", self.event.name());
        for (field, value) in &self.fields {
            let _ = write!(line, " {}={}", field.name(), quote(value));
        }
        line
    }
}

/// A value as it appears after `key=`: as it is when it is non-empty and holds
/// no space, `=`, quote, backslash or character to escape; otherwise in
/// double quotes, with `"` and `\` backslash-escaped and control characters,
/// white space other than the plain space, line separators and bidirectional
/// overrides ([`crate::text::is_deceptive`]) written as `\n`, `\t`, `\r` or
/// `\u{XX}`. A parser splitting on spaces outside quotes thus gets back
/// exactly the fields that were written, one event is one line, and no
/// value displays in another order than it reads.
pub fn quote(value: &str) -> String {
    let escaped = |c: char| c != ' ' && (c.is_whitespace() || crate::text::is_deceptive(c));
    let plain = |c: char| !(c == ' ' || c == '=' || c == '"' || c == '\\' || escaped(c));
    if !value.is_empty() && value.chars().all(plain) {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            ' ' => out.push(' '),
            c if escaped(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Splits an event line back into its name and fields, undoing [`quote`];
/// `None` if it is not one. For tests and log readers.
pub fn parse_line(line: &str) -> Option<(String, Vec<(String, String)>)> {
    let start = line.find("event=")?;
    let mut rest = &line[start..];
    let mut pairs = Vec::new();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        if key.is_empty() || key.contains(' ') {
            return None;
        }
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            unquote(quoted)?
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        pairs.push((key.to_owned(), value));
        rest = match after.strip_prefix(' ') {
            Some(next) => next,
            None if after.is_empty() => after,
            None => return None,
        };
    }
    let (first, value) = pairs.first()?;
    (first == "event").then(|| (value.clone(), pairs[1..].to_vec()))
}

/// The rest of a quoted value after its opening quote: the value, and what
/// follows the closing quote.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    let rest = &text[i + 2..];
                    let hex = rest.strip_prefix('{')?.split_once('}')?.0;
                    out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                    for _ in 0..hex.len() + 2 {
                        chars.next();
                    }
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// This host's name, for the `host` field.
pub fn host_name() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_stay_plain_and_others_are_quoted() {
        assert_eq!(quote("alice"), "alice");
        assert_eq!(quote("192.0.2.7"), "192.0.2.7");
        assert_eq!(quote("é"), "é");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("a=b"), "\"a=b\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(quote("back\\slash"), "\"back\\\\slash\"");
        assert_eq!(
            quote("x\ny\t\r\0\u{1b}\u{2028}"),
            "\"x\\ny\\t\\r\\u{0}\\u{1b}\\u{2028}\""
        );
        assert_eq!(quote("evil\u{202e}moc"), "\"evil\\u{202e}moc\"");
    }

    #[test]
    fn no_value_can_forge_a_field_or_a_line() {
        let hostile = [
            "alice rhost=10.0.0.1",
            "x\" event=code-accepted user=\"root",
            "a\nsshd[1]: event=code-accepted user=root",
            "\\\" user=root",
            "\0",
            "=",
            " ",
            "\\",
            "\\u{41}",
            "a\u{2066}b\u{202e}c",
        ];
        for value in hostile {
            let record = Record::new(Event::CodeRefused)
                .with(Field::User, value)
                .with(Field::Reason, value);
            let line = record.line();
            assert!(!line.contains('\n') && !line.contains('\0'), "{line:?}");
            let (name, fields) = parse_line(&line).unwrap_or_else(|| panic!("{line:?}"));
            assert_eq!(name, "code-refused");
            assert_eq!(
                fields,
                vec![
                    ("user".to_owned(), value.to_owned()),
                    ("reason".to_owned(), value.to_owned())
                ],
                "{line}"
            );
        }
    }

    #[test]
    fn fields_keep_the_documented_order_and_one_value_each() {
        let record = Record::new(Event::CodeAccepted)
            .with(Field::Left, 3)
            .with(Field::Service, "sshd")
            .with(Field::User, "bob")
            .with(Field::User, "alice");
        assert_eq!(
            record.line(),
            "event=code-accepted user=alice service=sshd left=3"
        );
    }

    #[test]
    fn names_and_message_ids_are_unique_and_well_formed() {
        let mut names = std::collections::BTreeSet::new();
        let mut ids = std::collections::BTreeSet::new();
        for event in Event::ALL {
            let info = event.info();
            assert!(names.insert(info.name), "{} twice", info.name);
            assert!(ids.insert(info.message_id), "{} twice", info.message_id);
            assert!(
                info.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                info.name
            );
            assert_eq!(info.message_id.len(), 32, "{}", info.name);
            assert!(
                info.message_id
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "{}",
                info.name
            );
            assert_eq!(Event::named(info.name), Some(*event));
        }
        for field in Field::ALL {
            assert!(field.name().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }

    #[test]
    fn severities_by_name() {
        assert_eq!(Severity::named("warning"), Some(Severity::Warning));
        assert_eq!(Severity::named("debug"), None);
        assert_eq!(Severity::named("WARNING"), None);
        for (name, severity) in Severity::NAMED {
            assert_eq!(severity.name(), name);
        }
    }
}
