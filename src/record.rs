//! What is recorded of a login: a code's use, or the last failure of a
//! tally. Below both the code set and the lockout, which each keep one.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A recorded use of a code, or a failure (a tally's `last_failure`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeUse {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The PAM service (sshd, sudo, login…).
    pub service: String,
    /// The remote host, if PAM knew one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rhost: Option<String>,
    /// The host of the attempt (the fleet store's `host_name`; the
    /// file store, which is this host's own, leaves it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}
