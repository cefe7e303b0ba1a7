//! The module's results as data: each situation, the PAM result it gives
//! and the priority it is logged at. `Failure::code` and
//! `Failure::priority` decide; this table says it once for the manual's
//! RETURN VALUES, `docs/design.md` and `docs/admin-guide.md` (rendered by [`man_results`] and
//! [`markdown_results`]; `tests/docs.rs` fails when a copy drifts, and a
//! unit test of the glue checks the table against the code).

use crate::text::roff;

/// One situation and its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResultRow {
    /// What happened (Markdown code spans allowed).
    pub situation: &'static str,
    /// The PAM result.
    pub result: &'static str,
    /// The syslog priority of its log line.
    pub priority: &'static str,
}

const fn row(situation: &'static str, result: &'static str, priority: &'static str) -> ResultRow {
    ResultRow {
        situation,
        result,
        priority,
    }
}

/// Every situation, most common first.
pub const RESULTS: &[ResultRow] = &[
    row(
        "an unused code matched and was marked used durably",
        "PAM_SUCCESS",
        "notice",
    ),
    row(
        "wrong or empty code, or no PAM_AUTHTOK with `use_first_pass`",
        "PAM_AUTH_ERR",
        "notice",
    ),
    row(
        "an expired code (`add --expires`, `max_age`): not counted",
        "PAM_AUTH_ERR",
        "notice",
    ),
    row(
        "a code whose check symbol does not match (a typo): told, not hashed, not counted",
        "PAM_AUTH_ERR",
        "info",
    ),
    row(
        "a used code, or a code of a revoked set",
        "PAM_AUTH_ERR",
        "warning",
    ),
    row("the failure that locks a scope", "PAM_AUTH_ERR", "warning"),
    row(
        "user without codes, a name NSS does not know, or no store directory (nobody has codes); no `nullok` (after the prompt)",
        "PAM_AUTH_ERR",
        "notice",
    ),
    row(
        "user without codes, or no store directory (nobody has codes); `nullok`",
        "PAM_IGNORE",
        "debug, with `debug`",
    ),
    row(
        "locked (a message says until when, or to ask an administrator)",
        "PAM_MAXTRIES",
        "notice",
    ),
    row(
        "store unreadable, insecure, corrupt, too large, unwritable; database unreachable, slow, refusing, or its `COMMIT` answer lost; NSS or KDF failure (also with `nullok`)",
        "PAM_AUTHINFO_UNAVAIL",
        "err",
    ),
    row(
        "no memory for the KDF (a memory limit, RLIMIT_AS)",
        "PAM_BUF_ERR",
        "err",
    ),
    row("invalid user name", "PAM_USER_UNKNOWN", "err"),
    row(
        "bad option or config file, or a lockout or `max_age` option with a PostgreSQL store",
        "PAM_SERVICE_ERR",
        "err",
    ),
    row("conversation failed", "PAM_CONV_ERR", "err"),
];

/// The table of `docs/design.md` and `docs/admin-guide.md` (Markdown).
pub fn markdown_results() -> String {
    let mut out = String::from("| situation | result | log priority |\n| --- | --- | --- |\n");
    for r in RESULTS {
        out += &format!("| {} | {} | {} |\n", r.situation, r.result, r.priority);
    }
    out
}

/// The RETURN VALUES section of `pam_backup_codes(8)` (roff, without its
/// `.SH`): each result once, with its situations.
pub fn man_results() -> String {
    let mut out = String::new();
    let mut seen: Vec<&str> = Vec::new();
    for r in RESULTS {
        if seen.contains(&r.result) {
            continue;
        }
        seen.push(r.result);
        let situations: Vec<String> = RESULTS
            .iter()
            .filter(|s| s.result == r.result)
            .map(|s| roff(s.situation))
            .collect();
        let mut text = situations.join("; ");
        if let Some(first) = text.get(..1) {
            text = first.to_uppercase() + text.get(1..).unwrap_or_default();
        }
        out += &format!(".TP\n.B {}\n{text}.\n", r.result);
    }
    out
}
