//! The configuration file parser: no panic, and what it accepts validates.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::parse_config(data));
