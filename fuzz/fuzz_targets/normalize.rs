//! Normalisation of typed codes, against a plain reference implementation.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::normalize(data));
