//! The verdict on one login, free of PAM and of any store: the rules it is
//! judged by ([`Policy`]), where it comes from ([`Origin`]), the hashed
//! [`Attempt`], and what became of it ([`Outcome`], [`Refusal`]).
//! [`judge`] is the judgement itself over a [`crate::codeset::CodeSet`] read under a store's
//! lock; the file store calls it, the fleet store runs the same rules in SQL.

mod judge;

use std::fmt;

use time::OffsetDateTime;

use crate::codeset::{CodeNumber, Hashing, Lifetime};
use crate::kdf::Hash;
use crate::lockout::{LockedUntil, Lockout, Scope};
use crate::record::CodeUse;
use crate::text::{clip_field, escape_deceptive};
use crate::username::UserName;
pub use judge::judge;

/// Where a login comes from, recorded with the code it uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The PAM service.
    pub service: String,
    /// The remote host, if known.
    pub rhost: Option<String>,
}

impl Origin {
    /// An origin fit to be logged and recorded. Both names come from the
    /// application, the remote host often from the client: control
    /// characters are escaped (no forged log lines, no escape sequences on
    /// an admin's terminal) and each is cut to what the store file accepts
    /// (a longer one would make the file unreadable after one success).
    pub fn new(service: &str, rhost: Option<&str>) -> Self {
        let clean = |text: &str| clip_field(&escape_deceptive(text));
        Self {
            service: clean(service),
            rhost: rhost.filter(|h| !h.is_empty()).map(clean),
        }
    }

    /// The lockout scope: remote when PAM knew a remote host.
    pub fn scope(&self) -> Scope {
        if self.rhost.is_some() {
            Scope::Remote
        } else {
            Scope::Local
        }
    }

    /// The record of a use or a failure at `at`.
    fn event_at(&self, at: OffsetDateTime) -> CodeUse {
        CodeUse {
            at,
            service: self.service.clone(),
            rhost: self.rhost.clone(),
            host: None,
        }
    }
}

/// The rules a login is judged by, from options and config.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// The rate limit.
    pub lockout: Lockout,
    /// How long codes live.
    pub lifetime: Lifetime,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.lockout;
        write!(
            f,
            "deny {} within {} s, unlock_time {} s",
            l.deny, l.fail_interval, l.unlock_time
        )?;
        if l.deny == 0 {
            f.write_str(" (no lockout)")?;
        } else if l.unlock_time == 0 {
            f.write_str(" (until `backup-codes unlock`)")?;
        }
        match self.lifetime.max_age {
            Some(age) => write!(f, ", max_age {} days", age.whole_days()),
            None => f.write_str(", max_age 0 (no limit)"),
        }
    }
}

/// What became of an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The code was unused and is now durably marked used.
    Accepted {
        /// The number of the code spent, as its sheet prints it.
        code: CodeNumber,
        /// Codes left that still work (unused and unexpired).
        remaining: usize,
        /// The set is in the last tenth of its maximum age: its regular
        /// codes stop at this instant.
        ageing: Option<OffsetDateTime>,
        /// What happened before this login, told to the user.
        previous: Previous,
    },
    /// The code matched, but it expired. Refused like a wrong code, but not
    /// counted as a guess: whoever typed it held it.
    Expired {
        /// When it stopped working.
        at: OffsetDateTime,
        /// Its number, as its sheet prints it.
        code: CodeNumber,
    },
    /// No unused code matched; the failure was counted.
    Refused {
        /// Why.
        refusal: Refusal,
        /// This failure locked the codes.
        locked: bool,
    },
    /// The codes are locked; nothing was hashed or counted.
    Locked(LockedUntil),
    /// The input is shaped like a code of the set but its check symbol does
    /// not match: a typo, told apart before any hashing; nothing was sent to
    /// a store or counted. Never a store's answer (it is `login::attempt`'s own answer).
    Typo,
}

/// What a successful code login tells its user about the time before it
/// (as pam_lastlog and faillock tell it): the previous use of a code of the
/// set, and the failed code attempts since.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Previous {
    /// The latest earlier use of a code of this set; `None` if this is its
    /// first.
    pub used: Option<CodeUse>,
    /// Failed code attempts on record since then (or since the set was made
    /// or unlocked): as `status` counts them ([`crate::lockout::Tally::failures`]).
    pub failures: usize,
}

/// Why an attempt was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Nothing matched (or the user was removed meanwhile).
    Wrong,
    /// The code was valid once and was used then.
    Reused {
        /// When and where it was spent.
        used: CodeUse,
        /// Its number, as its sheet prints it.
        code: CodeNumber,
    },
    /// The set is revoked; `matched` names the code of it the input was,
    /// if any (someone holds the revoked sheet).
    Revoked {
        /// The number of the revoked set's code the input matched.
        matched: Option<CodeNumber>,
    },
}

/// One hashed attempt, to be judged under the store's lock.
#[derive(Clone, Copy, Debug)]
pub struct Attempt<'a> {
    /// Whose codes.
    pub user: &'a UserName,
    /// What the digest was made with.
    pub hashing: &'a Hashing,
    /// The digest of the typed code; `None` for input that cannot be a code.
    pub digest: Option<&'a Hash>,
    /// The rules, lockout and lifetime, of the file store; the fleet store
    /// judges by the database's policy table and ignores these.
    pub policy: &'a Policy,
    /// Where the login comes from.
    pub origin: &'a Origin,
}
