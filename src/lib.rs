//! pam-backup-codes: single-use backup codes for Linux-PAM.
//!
//! The crate has two halves. The core ([`code`], [`kdf`], [`codeset`],
//! [`lockout`], [`store`], [`login`], [`config`], [`username`]) knows nothing
//! of PAM and is shared by the PAM module and the `backup-codes` CLI (a
//! binary of its own, `src/bin/backup-codes/`, so the module sshd loads does
//! not carry it). The PAM glue lives in the private `pam_glue`. `unsafe` code
//! lives in two small private modules only: `pam_glue::ffi` (the PAM entry
//! points and two libpam calls) and `kdf::memory` (Argon2 memory on huge
//! pages).

pub mod code;
pub mod codeset;
pub mod config;
pub mod docs;
pub mod kdf;
pub mod lockout;
pub mod login;
mod pam_glue;
pub use config::args::{LineSettings, OptionError, line_settings};
pub use pam_glue::results;
pub mod record;
pub mod store;
pub mod text;
pub mod trusted;
pub mod username;
pub mod verdict;
