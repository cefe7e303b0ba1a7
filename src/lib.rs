//! pam-backup-codes: single-use backup codes for Linux-PAM.
//!
//! The crate has two halves. The core knows nothing of PAM and is shared by
//! the PAM module and the `backup-codes` CLI (a binary of its own,
//! `src/bin/backup-codes/`, so the module sshd loads does not carry it). Its
//! layers, each using only those below it: [`login`] (one attempt); [`config`]
//! (the file, the pam.d parser, the options table); [`store`] (the interface
//! and its two backends); [`verdict`] and [`renewal`] (the judgements,
//! pure); [`codeset`],
//! [`lockout`] and [`record`]; [`kdf`], [`code`], [`username`], [`trusted`]
//! (the one reader of root-owned files) and [`text`] (sanitisers). [`docs`]
//! renders the documentation's tables. The PAM glue lives in the private
//! `pam_glue` (its result table is [`results`]). `unsafe` code lives in two
//! small private modules only: `pam_glue::ffi` (the PAM entry points and two
//! libpam calls) and `kdf::memory` (Argon2 memory on huge pages).

pub mod audit;
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
pub mod renewal;
pub mod store;
pub mod text;
pub mod trusted;
pub mod username;
pub mod verdict;
