//! The pam.d argument parser: no panic, and what it accepts is in the options
//! table, validates, and reads the same twice.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::pam_args(data));
