//! The bodies of the fuzz targets, shared with `tests/properties.rs`, which
//! runs them under proptest in `make test` (and for longer in `make stress`).
//! Each takes arbitrary bytes and panics if an invariant breaks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pam_backup_codes::code::{self, Alphabet, CodeFormat, MAX_INPUT_LEN};
use pam_backup_codes::codeset::CodeSet;
use pam_backup_codes::config::Config;
use pam_backup_codes::config::args::Options;
use pam_backup_codes::config::options::{self, Place};

/// Every format worth telling apart: both alphabets, shortest and longest.
pub fn formats() -> Vec<CodeFormat> {
    [
        (Alphabet::Crockford, 8),
        (Alphabet::Crockford, 10),
        (Alphabet::Crockford, 32),
        (Alphabet::Digits, 8),
        (Alphabet::Digits, 20),
    ]
    .into_iter()
    .map(|(alphabet, length)| CodeFormat::new(alphabet, length).unwrap())
    .collect()
}

/// What normalisation must do, written the plain way: drop spaces and
/// hyphens, upper-case, map O to 0 and I, L to 1, accept only the alphabet.
pub fn reference_normalize(input: &[u8], format: CodeFormat) -> Option<Vec<u8>> {
    if input.len() > MAX_INPUT_LEN {
        return None;
    }
    let symbols: &[u8] = match format.alphabet() {
        Alphabet::Crockford => b"0123456789ABCDEFGHJKMNPQRSTVWXYZ",
        Alphabet::Digits => b"0123456789",
    };
    let mut out = Vec::new();
    for &b in input {
        let c = match b.to_ascii_uppercase() {
            b' ' | b'-' => continue,
            b'O' => b'0',
            b'I' | b'L' => b'1',
            c => c,
        };
        if !symbols.contains(&c) {
            return None;
        }
        out.push(c);
    }
    (out.len() == format.length()).then_some(out)
}

/// `normalize` agrees with the reference on any bytes, and what it returns
/// is canonical: normalising it again changes nothing.
pub fn normalize(data: &[u8]) {
    for format in formats() {
        let got = code::normalize(data, format).map(|z| z.to_vec());
        assert_eq!(
            got,
            reference_normalize(data, format),
            "{:?} as {format:?}",
            data.escape_ascii().to_string()
        );
        if let Some(canonical) = got {
            assert_eq!(code::normalize(&canonical, format).as_deref(), Some(&canonical));
        }
    }
}

/// The store parser never panics; whatever it accepts, it writes back in a
/// form it reads as the same set.
pub fn parse_store(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(set) = CodeSet::parse(text) {
        let written = set
            .to_toml()
            .unwrap_or_else(|e| panic!("accepted {text:?}, but cannot write it back: {e}"));
        let again = CodeSet::parse(&written)
            .unwrap_or_else(|e| panic!("accepted {text:?}, but not its own output {written:?}: {e}"));
        assert_eq!(again, set);
        assert!(set.codes.len() <= 100 && set.remaining() <= set.codes.len());
    }
}

/// The pam.d argument parser, on any line: the bytes split at whitespace,
/// as libpam splits a line (no config file is read: the defaults stand in).
/// It never panics; what it accepts names only options of the table that
/// pam.d may carry, passes the configuration's validation, and reads the
/// same when every argument is given twice (the last one wins).
pub fn pam_args(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let args: Vec<&str> = line.split_whitespace().collect();
    let Ok(options) = Options::over(Config::default(), &args) else {
        return;
    };
    for arg in &args {
        let name = arg.split_once('=').map_or(*arg, |(name, _)| name);
        let known = options::named(name).is_some_and(|o| o.place != Place::Config);
        assert!(
            known,
            "accepted {arg:?}, which the options table does not give pam.d"
        );
    }
    let config = Config {
        store: options.store.clone(),
        login: options.login.clone(),
        codes: options.codes.clone(),
        postgresql: options.postgresql.clone(),
        policy_given: Vec::new(),
    };
    if let Err(e) = config.validate() {
        panic!("accepted {args:?}, but the result does not validate: {e}");
    }
    let twice: Vec<&str> = args.iter().chain(&args).copied().collect();
    match Options::over(Config::default(), &twice) {
        Ok(again) => assert_eq!(again, options, "{args:?} given twice"),
        Err(e) => panic!("accepted {args:?} but not twice: {e}"),
    }
}

/// The configuration file parser, on any bytes: it never panics, and what
/// it accepts passes its own validation and reads the same again.
pub fn parse_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text) {
        if let Err(e) = config.validate() {
            panic!("accepted {text:?}, but it does not validate: {e}");
        }
        assert_eq!(Config::parse(text).ok(), Some(config), "{text:?} read twice");
    }
}
