//! The PAM glue: arguments, conversation, logging and result codes. The
//! decisions are the core's ([`crate::login`]); this module turns them into
//! PAM results and log priorities in one place, [`Failure::code`] and
//! [`Failure::priority`] side by side.

mod ffi;
pub mod results;

use std::ffi::CStr;
use std::fmt;

use pam::constants::{PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_SILENT, PAM_TEXT_INFO, PamFlag, PamResultCode};
use pam::conv::Conv;
use pam::items::{AuthTok, RHost, Service, User};
use pam::module::{PamHandle, PamHooks};
use pam::secret::SecretBytes;
use time::OffsetDateTime;

use crate::audit::{self, Event, Field, Record, Severity};
use crate::code;
use crate::codeset::{CodeNumber, Hashing};
use crate::config::CodeSettings;
use crate::config::args::{CodeSource, OptionError, Options};
use crate::kdf::KdfError;
use crate::lockout::LockedUntil;
use crate::login::{self, LoginError};
use crate::store::{Store, StoreError};
use crate::username::{ResolveError, UserName, UserNameError};
use crate::verdict::{Origin, Outcome, Previous, Refusal};

/// The delay libpam is asked for after a failure, in microseconds.
const FAIL_DELAY_USEC: u32 = 2_000_000;

/// The module, as pam-bindings sees it.
pub struct BackupCodes;

impl PamHooks for BackupCodes {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        let mut transaction = Transaction::new(pamh, flags);
        match transaction.authenticate(&args) {
            Ok(pass) => pass.code(),
            Err(failure) => transaction.refuse(&failure),
        }
    }

    fn sm_setcred(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        // Nothing to establish; PAM_IGNORE here would fail stacks in sshd
        // whose modules all ignore setcred.
        PamResultCode::PAM_SUCCESS
    }
}

/// How an authentication that did not fail ended.
enum Pass {
    Success,
    /// No codes and `nullok`.
    Ignore,
}

impl Pass {
    fn code(&self) -> PamResultCode {
        match self {
            Self::Success => PamResultCode::PAM_SUCCESS,
            Self::Ignore => PamResultCode::PAM_IGNORE,
        }
    }
}

/// Every way an authentication fails; [`Failure::code`] maps each to PAM.
enum Failure {
    Options(OptionError),
    User(String, UserNameError),
    NoUser(PamResultCode),
    Store(StoreError),
    Kdf(KdfError),
    Conversation(PamResultCode),
    Nss(ResolveError),
    NoAuthtok,
    NoCodes,
    /// NSS knows no account of this name: refused like a user without codes.
    NoAccount,
    Refused {
        refusal: Refusal,
        locked: bool,
    },
    /// A code (of this number) that expired at this instant: refused, not counted.
    Expired(OffsetDateTime, CodeNumber),
    /// A check symbol that does not match: refused, not hashed, not counted.
    Typo,
    Locked(LockedUntil),
}

impl Failure {
    fn code(&self) -> PamResultCode {
        use PamResultCode as R;
        match self {
            Self::Options(_) => R::PAM_SERVICE_ERR,
            Self::User(..) => R::PAM_USER_UNKNOWN,
            Self::NoUser(code) => match code {
                R::PAM_CONV_ERR | R::PAM_ABORT | R::PAM_BUF_ERR => R::PAM_CONV_ERR,
                _ => R::PAM_USER_UNKNOWN,
            },
            Self::Nss(ResolveError::Canonical { .. }) => R::PAM_USER_UNKNOWN,
            Self::Kdf(KdfError::Memory { .. }) => R::PAM_BUF_ERR,
            Self::Store(_) | Self::Kdf(_) | Self::Nss(_) => R::PAM_AUTHINFO_UNAVAIL,
            Self::Conversation(_) => R::PAM_CONV_ERR,
            Self::NoAuthtok
            | Self::NoCodes
            | Self::NoAccount
            | Self::Refused { .. }
            | Self::Expired(..)
            | Self::Typo => R::PAM_AUTH_ERR,
            Self::Locked(_) => R::PAM_MAXTRIES,
        }
    }

    /// How loud the log line is: a re-used code, a revoked sheet's code or a
    /// new lock is a sign of attack (warning); an ordinary refusal is notice;
    /// a broken system (options, store, KDF, conversation) is an error.
    fn priority(&self) -> Severity {
        match self {
            Self::Refused {
                refusal: Refusal::Reused { .. } | Refusal::Revoked { matched: Some(_) },
                ..
            }
            | Self::Refused { locked: true, .. } => Severity::Warning,
            Self::Typo => Severity::Info,
            Self::Locked(_)
            | Self::NoCodes
            | Self::NoAccount
            | Self::Refused { .. }
            | Self::Expired(..)
            | Self::NoAuthtok => Severity::Notice,
            Self::Options(_)
            | Self::User(..)
            | Self::NoUser(_)
            | Self::Nss(_)
            | Self::Store(_)
            | Self::Kdf(_)
            | Self::Conversation(_) => Severity::Err,
        }
    }

    /// The audit event: its name, the fields this failure knows, and the
    /// text as `reason`.
    fn record(&self) -> Record {
        let at = |t: &OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| t.to_string())
        };
        let locked = |record: Record, locked: bool| {
            if locked {
                record.with(Field::Locked, "now")
            } else {
                record
            }
        };
        let record = match self {
            Self::Options(_) => Record::new(Event::ConfigError),
            Self::User(..) => Record::new(Event::InvalidUser),
            Self::NoUser(_) if self.code() == PamResultCode::PAM_CONV_ERR => {
                Record::new(Event::ConversationError)
            }
            Self::NoUser(_) => Record::new(Event::InvalidUser),
            Self::Nss(ResolveError::Canonical { .. }) => Record::new(Event::InvalidUser),
            Self::Store(StoreError::Database { .. }) => Record::new(Event::DatabaseError),
            Self::Store(_) => Record::new(Event::StoreError),
            Self::Kdf(_) | Self::Nss(_) => Record::new(Event::SystemError),
            Self::Conversation(_) => Record::new(Event::ConversationError),
            Self::NoAuthtok => Record::new(Event::NoToken),
            Self::NoCodes => Record::new(Event::NoCodes),
            Self::NoAccount => Record::new(Event::UnknownUser),
            Self::Refused { refusal, locked: now } => {
                let record = match refusal {
                    Refusal::Wrong => Record::new(Event::CodeRefused),
                    Refusal::Reused { used, code } => Record::new(Event::CodeReused)
                        .with(Field::CodeNumber, code)
                        .with(Field::UsedAt, at(&used.at))
                        .with(Field::UsedService, &used.service)
                        .with_some(Field::UsedRhost, used.rhost.as_deref()),
                    Refusal::Revoked { matched } => Record::new(Event::CodeRevoked)
                        .with(Field::Matched, if matched.is_some() { "yes" } else { "no" })
                        .with_some(Field::CodeNumber, *matched),
                };
                locked(record, *now)
            }
            Self::Expired(when, code) => Record::new(Event::CodeExpired)
                .with(Field::CodeNumber, code)
                .with(Field::Expired, at(when)),
            Self::Typo => Record::new(Event::CodeTypo),
            Self::Locked(LockedUntil::Time(until)) => {
                Record::new(Event::CodeLocked).with(Field::Until, at(until))
            }
            Self::Locked(LockedUntil::AdminUnlock) => {
                Record::new(Event::CodeLocked).with(Field::Until, "admin")
            }
        };
        record.at(self.priority()).with(Field::Reason, self)
    }

    /// A failure of the person at the keyboard, as opposed to the system.
    fn is_attempt(&self) -> bool {
        matches!(
            self,
            Self::NoAuthtok
                | Self::NoCodes
                | Self::NoAccount
                | Self::Refused { .. }
                | Self::Expired(..)
                | Self::Typo
                | Self::Locked(_)
        )
    }
}

impl From<LoginError> for Failure {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Store(e) => Self::Store(e),
            LoginError::Kdf(e) => Self::Kdf(e),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Options(e) => write!(f, "{e}"),
            Self::User(name, e) => write!(f, "invalid user name \"{name}\": {e}"),
            Self::NoUser(code) => write!(f, "cannot get the user name: {code:?}"),
            Self::Store(e) => write!(f, "store problem: {e}"),
            Self::Kdf(e) => write!(f, "{e}"),
            Self::Conversation(code) => write!(f, "conversation failed: {code:?}"),
            Self::NoAuthtok => f.write_str("use_first_pass, but no earlier module set a token"),
            Self::Nss(e) => write!(f, "{e}"),
            Self::NoCodes => f.write_str("authentication failure: the user has no backup codes"),
            Self::NoAccount => f.write_str("authentication failure: no such account (unknown to NSS)"),
            Self::Refused { refusal, locked } => {
                match refusal {
                    Refusal::Reused { used, .. } => write!(
                        f,
                        "RE-USE of a backup code used at {} via {} from {}",
                        used.at,
                        used.service,
                        used.rhost.as_deref().unwrap_or("(local)"),
                    )?,
                    Refusal::Revoked { matched: Some(_) } => {
                        f.write_str("refused: a code of the REVOKED set was tried")?;
                    }
                    Refusal::Revoked { matched: None } => {
                        f.write_str("authentication failure: the backup codes are revoked")?;
                    }
                    Refusal::Wrong => f.write_str("authentication failure: wrong backup code")?,
                }
                if *locked {
                    f.write_str("; codes now locked")?;
                }
                Ok(())
            }
            Self::Expired(at, _) => write!(
                f,
                "authentication failure: expired backup code (expired {}; not counted as a guess)",
                at.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|_| at.to_string())
            ),
            Self::Typo => f.write_str(
                "authentication failure: the code's check symbol does not match (a typo; not counted)",
            ),
            Self::Locked(LockedUntil::Time(until)) => {
                write!(f, "refused: codes locked after too many failures until {until}")
            }
            Self::Locked(LockedUntil::AdminUnlock) => {
                f.write_str("refused: codes locked after too many failures until `backup-codes unlock`")
            }
        }
    }
}

/// One call into the module: the handle, and what is known so far.
struct Transaction<'h> {
    pamh: &'h mut PamHandle,
    silent: bool,
    nodelay: bool,
    debug: bool,
    /// The fields known so far (user, account, service, rhost, host), for
    /// every event of this call.
    context: Record,
    /// The severity of a success (`log_success`).
    log_success: Severity,
}

impl<'h> Transaction<'h> {
    fn new(pamh: &'h mut PamHandle, flags: PamFlag) -> Self {
        Self {
            pamh,
            silent: flags & PAM_SILENT != 0,
            nodelay: false,
            debug: false,
            context: Record::new(Event::ConfigError),
            log_success: Severity::Notice,
        }
    }

    fn authenticate(&mut self, args: &[&CStr]) -> Result<Pass, Failure> {
        let args: Vec<&str> = args
            .iter()
            .map(|a| {
                a.to_str()
                    .map_err(|_| Failure::Options(OptionError::Unknown(a.to_string_lossy().into_owned())))
            })
            .collect::<Result<_, _>>()?;
        let (service, rhost) = self.raw_origin();
        // Logged as PAM has them (the event's quoting escapes them once);
        // the store keeps its own escaped and clipped form.
        let shown = |text: &str| text.chars().take(256).collect::<String>();
        self.context.set(Field::Service, shown(&service));
        if let Some(rhost) = rhost.as_deref().filter(|r| !r.is_empty()) {
            self.context.set(Field::Rhost, shown(rhost));
        }
        let origin = Origin::new(&service, rhost.as_deref());
        if let Some(host) = audit::host_name() {
            self.context.set(Field::Host, host);
        }
        let options = Options::parse(&args).map_err(Failure::Options)?;
        self.nodelay = options.login.nodelay;
        self.debug = options.login.debug;
        self.log_success = options.login.log_success;
        let typed = self.user()?;
        self.context.set(Field::User, &typed);
        // The store is keyed by the account, not by what the client typed.
        let account = typed.resolve().map_err(Failure::Nss)?;
        if let Some(user) = account.as_ref().filter(|&user| *user != typed) {
            self.context.set(Field::Account, user);
        }

        let store = match Store::open(&options.store, &options.postgresql) {
            Ok(store) => store,
            // No store directory: nobody has codes (nullok ignores everyone,
            // otherwise everyone is prompted and refused). Logged, since it
            // switches the codes off for every user of the stack.
            Err(e @ StoreError::Missing { .. }) => {
                self.log(
                    Record::new(Event::StoreMissing)
                        .with(Field::Reason, format!("{e}: nobody has backup codes")),
                );
                return self.no_set(None, &options, account.is_some());
            }
            Err(e) => return Err(Failure::Store(e)),
        };
        let policy = options.login.policy();
        let Some(user) = account else {
            // Asked like for an account (the same round trip on a fleet
            // store); whatever the store says about the typed name is unused.
            store
                .login_info(&typed, &policy.lockout, &origin)
                .map_err(Failure::Store)?;
            return self.no_set(Some(&store), &options, false);
        };
        // A login hint (fleet store) lets a user with a set be prompted at
        // once; it can only cause a prompt (see `store::postgres::hint`).
        if let Some(hinted) = self.hint(&store, &user) {
            return self.hinted(&store, &user, &hinted, &options, &origin);
        }
        let info = store
            .login_info(&user, &policy.lockout, &origin)
            .map_err(Failure::Store)?;
        let Some(info) = info else {
            return self.no_set(Some(&store), &options, true);
        };
        if let Some(until) = info.locked {
            return Err(Failure::Locked(until));
        }
        let input = self.read_code(&options, Some(&info.hashing))?;
        let input = input.as_ref().map_or(&[][..], SecretBytes::as_bytes);
        // The time of the attempt is taken when it is judged, under the store
        // lock (see `login::attempt`), not when the code was asked for.
        match login::attempt(&store, &user, &info.hashing, input, &policy, &origin)? {
            Some(outcome) => self.judged(outcome, &options),
            // Unenrolled while the user typed: as a user without a set.
            None => self.absent(&options),
        }
    }

    /// The hashing of `user`'s login hint, if the store keeps hints and has
    /// one it trusts; a hint that is not trusted or not understood is
    /// logged and not used.
    fn hint(&mut self, store: &Store, user: &UserName) -> Option<Hashing> {
        match store.hint(user) {
            Ok(hinted) => hinted,
            Err(e) => {
                self.log(Record::new(Event::HintIgnored).with(Field::Reason, e.to_string()));
                None
            }
        }
    }

    /// A login prompted on a hint, judged by the store: without a
    /// connection before the prompt; the database decides everything after
    /// it, as if it had been asked first. A set that is gone is answered as
    /// a user without a set (after the prompt), a lock as a lock.
    fn hinted(
        &mut self,
        store: &Store,
        user: &UserName,
        hinted: &Hashing,
        options: &Options,
        origin: &Origin,
    ) -> Result<Pass, Failure> {
        let policy = options.login.policy();
        let input = self.read_code(options, Some(hinted))?;
        let input = input.as_ref().map_or(&[][..], SecretBytes::as_bytes);
        let mut hashing = hinted.clone();
        // A typo by the hint's format: the store's own says whether it is
        // one (the set may have been replaced by one of another format).
        if hinted.is_typo(input) {
            let info = store
                .login_info(user, &policy.lockout, origin)
                .map_err(Failure::Store)?;
            let Some(info) = info else {
                return self.absent(options);
            };
            if let Some(until) = info.locked {
                return Err(Failure::Locked(until));
            }
            hashing = info.hashing;
        }
        match login::attempt(store, user, &hashing, input, &policy, origin)? {
            Some(outcome) => self.judged(outcome, options),
            None => self.absent(options),
        }
    }

    /// The store says the user has no set, after a prompt on a hint: the
    /// answer to a user without a set (an Argon2id was spent already).
    fn absent(&mut self, options: &Options) -> Result<Pass, Failure> {
        if options.login.nullok {
            return Ok(self.ignore_without_set());
        }
        Err(Failure::NoCodes)
    }

    /// `nullok` for an account without a set: logged, and ignored.
    fn ignore_without_set(&mut self) -> Pass {
        self.log(Record::new(Event::NoCodesIgnored).with(Field::Reason, "no backup codes; ignored (nullok)"));
        Pass::Ignore
    }

    /// The PAM answer to a judged attempt.
    fn judged(&mut self, outcome: Outcome, options: &Options) -> Result<Pass, Failure> {
        match outcome {
            Outcome::Accepted {
                code,
                remaining,
                ageing,
                previous,
            } => {
                self.log(
                    Record::new(Event::CodeAccepted)
                        .at(self.log_success)
                        .with(Field::CodeNumber, code)
                        .with(Field::Left, remaining),
                );
                if !options.login.quiet
                    && let Some(text) = previous_text(&previous)
                {
                    self.say(PAM_TEXT_INFO, &text);
                }
                self.tell_remaining(remaining, options.login.warn_below);
                if let Some(end) = ageing {
                    self.tell_ageing(end);
                }
                Ok(Pass::Success)
            }
            Outcome::Refused { refusal, locked } => Err(Failure::Refused { refusal, locked }),
            Outcome::Expired { at, code } => Err(Failure::Expired(at, code)),
            Outcome::Locked(until) => Err(Failure::Locked(until)),
            Outcome::Typo => Err(Failure::Typo),
        }
    }

    /// Nothing to judge: an account without a set (`is_account`) is ignored
    /// with `nullok`; otherwise it, and a name NSS does not know (`nullok`
    /// or not), is prompted like anyone else, at the cost of a real attempt
    /// (one Argon2id evaluation, and a durable write under the lock of the
    /// `store` if there is one), and refused.
    fn no_set(
        &mut self,
        store: Option<&Store>,
        options: &Options,
        is_account: bool,
    ) -> Result<Pass, Failure> {
        if is_account && options.login.nullok {
            return Ok(self.ignore_without_set());
        }
        let input = self.read_code(options, None)?;
        let input = input.as_ref().map_or(&[][..], SecretBytes::as_bytes);
        login::without_set(store, &options.codes, input, OffsetDateTime::now_utc())?;
        Err(if is_account {
            Failure::NoCodes
        } else {
            Failure::NoAccount
        })
    }

    /// Logs a failure, asks for the delay, tells the user what they may know,
    /// and returns the PAM result.
    fn refuse(&mut self, failure: &Failure) -> PamResultCode {
        self.log(failure.record());
        if failure.is_attempt() && !self.nodelay {
            ffi::fail_delay(self.pamh, FAIL_DELAY_USEC);
        }
        if let Failure::Locked(until) = failure {
            let text = match until {
                LockedUntil::Time(t) => {
                    // Rounded up, so that "in 15 min" is never too early.
                    let seconds = (*t - OffsetDateTime::now_utc()).whole_seconds().max(1);
                    let minutes = (seconds + 59) / 60;
                    format!("Backup codes are locked after too many failures; try again in {minutes} min.")
                }
                LockedUntil::AdminUnlock => {
                    "Backup codes are locked after too many failures; ask an administrator.".to_owned()
                }
            };
            self.say(PAM_ERROR_MSG, &text);
        }
        if let Failure::Typo = failure {
            // Told once, then refused: the next attempt is the user's, with
            // the printed sheet in hand (a re-prompt here would differ
            // between a prompt and a token from an earlier module).
            self.say(
                PAM_ERROR_MSG,
                "That code has a typo (its last symbol does not match); it was not counted. Try again.",
            );
        }
        failure.code()
    }

    fn user(&mut self) -> Result<UserName, Failure> {
        // Read the raw item first: pam-bindings' get_user refuses non-UTF-8
        // with PAM_SYSTEM_ERR, and such a name is simply an invalid one.
        let invalid = |raw: &[u8], e| {
            let shown: String = raw.escape_ascii().to_string().chars().take(64).collect();
            Failure::User(shown, e)
        };
        if let Ok(Some(User(raw))) = self.pamh.get_item::<User>() {
            return UserName::parse(raw.to_bytes()).map_err(|e| invalid(raw.to_bytes(), e));
        }
        let name = self.pamh.get_user(None).map_err(Failure::NoUser)?;
        UserName::parse(name.as_bytes()).map_err(|e| invalid(name.as_bytes(), e))
    }

    /// PAM_SERVICE (empty if unset) and PAM_RHOST, as the application set them.
    fn raw_origin(&self) -> (String, Option<String>) {
        let service = self
            .pamh
            .get_item::<Service>()
            .ok()
            .flatten()
            .map(|s| s.0.to_string_lossy().into_owned());
        let rhost = self
            .pamh
            .get_item::<RHost>()
            .ok()
            .flatten()
            .map(|s| s.0.to_string_lossy().into_owned());
        (service.unwrap_or_default(), rhost)
    }

    /// The typed code, by prompt or from PAM_AUTHTOK as the options say.
    /// `None` is an empty answer.
    fn read_code(
        &mut self,
        options: &Options,
        set: Option<&Hashing>,
    ) -> Result<Option<SecretBytes>, Failure> {
        let token = match options.source {
            CodeSource::Prompt => None,
            CodeSource::UseFirstPass | CodeSource::TryFirstPass => self
                .pamh
                .get_item::<AuthTok>()
                .ok()
                .flatten()
                .map(|t| t.to_owned_secret()),
        };
        match (options.source, token) {
            (CodeSource::UseFirstPass, Some(token)) => return Ok(Some(token)),
            (CodeSource::UseFirstPass, None) => return Err(Failure::NoAuthtok),
            (CodeSource::TryFirstPass, Some(token))
                if looks_like_code(set, &options.codes, token.as_bytes()) =>
            {
                return Ok(Some(token));
            }
            _ => {}
        }
        let conv = match self.pamh.get_item::<Conv>() {
            Ok(Some(conv)) => conv,
            Ok(None) => return Err(Failure::Conversation(PamResultCode::PAM_CONV_ERR)),
            Err(code) => return Err(Failure::Conversation(code)),
        };
        conv.send(PAM_PROMPT_ECHO_OFF, &options.login.prompt)
            .map_err(Failure::Conversation)
    }

    fn tell_remaining(&mut self, remaining: usize, warn_below: u32) {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let text = if remaining == 0 {
            "That was your last backup code. Ask for a new set now.".to_owned()
        } else if remaining < warn_below as usize {
            format!(
                "Warning: only {remaining} backup code{} left. Ask for a new set soon.",
                plural(remaining)
            )
        } else {
            format!("{remaining} backup code{} left.", plural(remaining))
        };
        self.say(PAM_TEXT_INFO, &text);
    }

    /// The `max_age` warning: the set is in the last tenth of its life.
    fn tell_ageing(&mut self, end: OffsetDateTime) {
        // Rounded up: "in 2 days" is never later than the truth.
        let seconds = (end - OffsetDateTime::now_utc()).whole_seconds().max(0);
        let when = match (seconds + 86_399) / 86_400 {
            0 | 1 => "within a day".to_owned(),
            days => format!("in {days} days"),
        };
        self.say(
            PAM_TEXT_INFO,
            &format!(
                "Warning: your backup codes stop working on {} UTC ({when}). Ask for a new set soon.",
                end.date()
            ),
        );
    }

    /// Shows a message unless PAM_SILENT; a failed message is not a failure.
    fn say(&mut self, style: pam::constants::PamMessageStyle, text: &str) {
        if self.silent {
            return;
        }
        if let Ok(Some(conv)) = self.pamh.get_item::<Conv>() {
            let _ = conv.send(style, text);
        }
    }

    /// Logs an event with the call's context fields: to syslog (authpriv,
    /// through pam_syslog) and, where journald runs, to the journal.
    fn log(&self, event: Record) {
        let mut record = self.context.clone();
        record.event = event.event;
        record.severity = event.severity;
        for (field, value) in event.fields() {
            record.set(field, value);
        }
        let line = record.line();
        ffi::syslog(self.pamh, record.severity, &line);
        audit::journal::send(&record, "pam_backup_codes", &line);
    }
}

/// The last-use notice after a success ("Last backup code used 2026-12-01
/// 09:14 UTC via sshd from 203.0.113.5 on web-2; 3 failed attempts
/// since."), or `None` when there is nothing to tell (the set's first code,
/// no failure). The fields were escaped and clipped when they were recorded.
fn previous_text(previous: &Previous) -> Option<String> {
    let failures = match previous.failures {
        0 => "no failed attempts".to_owned(),
        1 => "1 failed attempt".to_owned(),
        n => format!("{n} failed attempts"),
    };
    let Some(used) = &previous.used else {
        return (previous.failures > 0)
            .then(|| format!("First backup code of this set; {failures} before it."));
    };
    let at = used.at.to_offset(time::UtcOffset::UTC);
    let when = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    let mut text = format!(
        "Last backup code used {} UTC via {}",
        at.format(&when).unwrap_or_else(|_| at.to_string()),
        used.service
    );
    if let Some(rhost) = &used.rhost {
        text += &format!(" from {rhost}");
    }
    if let Some(host) = &used.host {
        text += &format!(" on {host}");
    }
    Some(format!("{text}; {failures} since."))
}

/// Without a set, the configured format stands in, as for the decoy hash.
fn looks_like_code(set: Option<&Hashing>, settings: &CodeSettings, token: &[u8]) -> bool {
    let format = set.map_or_else(|| settings.format(), Hashing::format);
    format.is_ok_and(|f| code::normalize(token, f).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Every failure's result and log priority is a row of the documented
    /// table ([`results::RESULTS`]).
    #[test]
    fn every_failure_gives_a_result_the_table_documents() {
        let failures = [
            Failure::Options(OptionError::Unknown("x".into())),
            Failure::User("..".into(), UserNameError::BadStart),
            Failure::NoUser(PamResultCode::PAM_CONV_ERR),
            Failure::Store(StoreError::Missing {
                path: PathBuf::from("/nowhere"),
            }),
            Failure::Kdf(KdfError::Memory { bytes: 1 }),
            Failure::Conversation(PamResultCode::PAM_CONV_ERR),
            Failure::NoAuthtok,
            Failure::NoCodes,
            Failure::NoAccount,
            Failure::Refused {
                refusal: Refusal::Wrong,
                locked: false,
            },
            Failure::Refused {
                refusal: Refusal::Wrong,
                locked: true,
            },
            Failure::Expired(OffsetDateTime::UNIX_EPOCH, CodeNumber::of_index(0)),
            Failure::Typo,
            Failure::Locked(LockedUntil::AdminUnlock),
        ];
        for failure in failures {
            let result = format!("{:?}", failure.code());
            let priority = format!("{:?}", failure.priority()).to_lowercase();
            assert!(
                results::RESULTS
                    .iter()
                    .any(|r| r.result == result && r.priority == priority),
                "{failure}: {result} at {priority} is not in the table"
            );
        }
    }
}
