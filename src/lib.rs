//! pam-backup-codes: single-use backup codes for Linux-PAM.
//!
//! The crate has two halves. The core ([`code`], [`kdf`], [`codeset`],
//! [`lockout`], [`store`], [`login`], [`config`], [`username`]) knows nothing
//! of PAM and is shared by the PAM module and the `backup-codes` CLI. The PAM
//! glue lives in the private `module` module. `unsafe` code lives in two
//! small private modules only: `module::ffi` (the PAM entry points and two
//! libpam calls) and `memory` (Argon2 memory on huge pages).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
pub mod code;
pub mod codeset;
pub mod config;
pub mod kdf;
pub mod lockout;
pub mod login;
mod memory;
mod module;
pub mod store;
pub mod username;
