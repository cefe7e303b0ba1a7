//! pam-backup-codes: single-use backup codes for Linux-PAM.
//!
//! The crate has two halves. The core ([`code`], [`kdf`], [`codeset`],
//! [`lockout`], [`store`], [`login`], [`config`], [`username`]) knows nothing
//! of PAM and is shared by the PAM module and the `backup-codes` CLI. The PAM
//! glue lives in the private `module` module, whose `ffi` submodule holds the
//! crate's only `unsafe` code.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
pub mod code;
pub mod codeset;
pub mod config;
pub mod kdf;
pub mod lockout;
pub mod login;
mod module;
pub mod store;
pub mod username;
