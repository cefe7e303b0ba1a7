//! Property tests for normalisation, the store parser, the pam.d argument
//! parser and the configuration file parser. The byte-level
//! bodies are the fuzz targets' (`fuzz/bodies.rs`); `PROPTEST_CASES` sets the
//! number of cases (256 in `make test`, far more in `make stress`).
#![cfg(test)]
#![allow(missing_docs)]

#[path = "../fuzz/bodies.rs"]
mod bodies;

use pam_backup_codes::code::{Alphabet, CodeFormat, normalize};
use pam_backup_codes::codeset::{CodeEntry, CodeSet, CodeUse, Kdf};
use pam_backup_codes::config::options::OPTIONS;
use pam_backup_codes::kdf::KdfParams;
use pam_backup_codes::lockout::{LastFailure, Tally};
use pam_backup_codes::text::MAX_FIELD_LEN;
use proptest::prelude::*;
use time::OffsetDateTime;

/// Bytes that look like what a person or an attacker would type: mostly
/// symbols, separators and look-alikes, sometimes anything.
fn typed() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        8 => prop::sample::select(b"0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyzOoIiLlUu -".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..140)
}

fn time() -> impl Strategy<Value = OffsetDateTime> {
    // Years 1970 to 9999, with nanoseconds.
    (0i64..253_402_300_799, 0u32..1_000_000_000).prop_map(|(s, ns)| {
        OffsetDateTime::from_unix_timestamp(s)
            .unwrap()
            .replace_nanosecond(ns)
            .unwrap()
    })
}

fn field() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..80)
        .prop_map(|chars| chars.into_iter().collect::<String>())
        .prop_filter("fits a field", |s| s.len() <= MAX_FIELD_LEN)
}

fn code_use() -> impl Strategy<Value = CodeUse> {
    (
        time(),
        field(),
        prop::option::of(field()),
        prop::option::of(field()),
    )
        .prop_map(|(at, service, rhost, host)| CodeUse {
            at,
            service,
            rhost,
            host,
        })
}

fn format() -> impl Strategy<Value = CodeFormat> {
    prop_oneof![
        (8usize..=32, any::<bool>()).prop_map(|(l, c)| CodeFormat::new(Alphabet::Crockford, l)
            .unwrap()
            .with_check_symbol(c)),
        (8usize..=20).prop_map(|l| CodeFormat::new(Alphabet::Digits, l).unwrap()),
    ]
}

/// Any set the parser must accept.
fn code_set() -> impl Strategy<Value = CodeSet> {
    let params =
        (KdfParams::M_COST, KdfParams::T_COST, KdfParams::P_COST).prop_map(|(m_cost, t_cost, p_cost)| {
            KdfParams {
                m_cost,
                t_cost,
                p_cost,
            }
        });
    let entry = (
        any::<[u8; 32]>(),
        prop::option::of(code_use()),
        prop::option::of(time()),
    )
        .prop_map(|(hash, used, expires)| CodeEntry { hash, used, expires });
    let times = || prop::collection::vec(time(), 0..20);
    let last_failure = prop::option::of(code_use()).prop_map(|last| {
        last.map(|u| LastFailure {
            at: u.at,
            service: u.service,
            rhost: u.rhost,
            host: u.host,
        })
    });
    let tally = (times(), times(), any::<u32>(), last_failure).prop_map(
        |(local, remote, remote_in_a_row, last_failure)| Tally {
            local,
            remote,
            remote_in_a_row,
            last_failure,
        },
    );
    (
        (time(), prop::option::of(time())),
        format(),
        params,
        any::<[u8; 16]>(),
        tally,
        prop::collection::vec(entry, 1..=100),
    )
        .prop_map(
            |((created, revoked), format, params, salt, tally, codes)| CodeSet {
                version: 1,
                created,
                revoked,
                alphabet: format.alphabet(),
                length: format.length(),
                check_symbol: format.check_symbol(),
                kdf: Kdf {
                    algorithm: "argon2id".into(),
                    version: 19,
                    params,
                    salt,
                },
                tally,
                codes,
            },
        )
}

/// A name an argument or a key might carry: every option of the table,
/// and some that are none.
fn option_name() -> impl Strategy<Value = String> {
    let known: Vec<String> = OPTIONS.iter().map(|o| o.name.to_owned()).collect();
    prop_oneof![
        4 => prop::sample::select(known),
        1 => "[a-z_]{1,16}",
    ]
}

/// A value an argument or a key might carry: numbers in and out of range,
/// paths, URIs, text with controls.
fn option_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0u32..2000).prop_map(|n| n.to_string()),
        Just(String::new()),
        "/[a-z/]{0,20}",
        "postgresql://[a-z]{1,8}(:[a-z]{1,8})?@[a-z.]{1,12}(:[0-9]{1,6})?/[a-z]{1,8}(\\?sslmode=[a-z-]{1,12})?",
        "\\PC{0,40}",
        "[ -~]{0,300}",
    ]
}

/// A pam.d line: arguments of known and unknown names, with and without
/// values.
fn pam_line() -> impl Strategy<Value = String> {
    prop::collection::vec((option_name(), prop::option::of(option_value())), 0..8).prop_map(|args| {
        args.into_iter()
            .map(|(name, value)| match value {
                Some(v) => format!("{name}={}", v.replace(char::is_whitespace, "")),
                None => name,
            })
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// A configuration file: keys of the table (and others) with values of
/// every TOML type, in the sections the file has.
fn config_text() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0u32..2000).prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        option_value().prop_map(|v| format!("{v:?}")),
        Just("[1, 2]".to_owned()),
    ];
    let section = prop::sample::select(vec!["", "[login]\n", "[codes]\n", "[postgresql]\n"]);
    let codes_key = prop::sample::select(vec![
        "count",
        "length",
        "alphabet",
        "m_cost",
        "t_cost",
        "p_cost",
        "password_file",
        "connect_timeout",
        "host_name",
        "ca_file",
    ]);
    let key = prop_oneof![option_name(), codes_key.prop_map(str::to_owned)];
    prop::collection::vec((section, key, value), 0..8).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(section, key, value)| format!("{section}{key} = {value}\n"))
            .collect()
    })
}

proptest! {
    #[test]
    fn normalize_agrees_with_the_reference_on_any_bytes(data in prop::collection::vec(any::<u8>(), 0..200)) {
        bodies::normalize(&data);
    }

    #[test]
    fn normalize_agrees_with_the_reference_on_typed_input(data in typed()) {
        bodies::normalize(&data);
    }

    #[test]
    fn any_way_of_typing_a_code_normalises_to_it(
        format in format(),
        seed in prop::collection::vec(any::<u8>(), 32),
        noise in prop::collection::vec((0u8..6, any::<u8>()), 32),
    ) {
        let symbols: &[u8] = match format.alphabet() {
            Alphabet::Crockford => b"0123456789ABCDEFGHJKMNPQRSTVWXYZ",
            Alphabet::Digits => b"0123456789",
        };
        let code: Vec<u8> = seed.iter().take(format.length()).map(|b| symbols[usize::from(*b) % symbols.len()]).collect();
        // Lower case, look-alikes, spaces and hyphens, as a person types.
        let mut typed = Vec::new();
        for (c, (how, _)) in code.iter().zip(&noise) {
            match (how, c) {
                (0, b'0') => typed.push(b'o'),
                (1, b'0') => typed.push(b'O'),
                (0, b'1') => typed.push(b'l'),
                (1, b'1') => typed.push(b'I'),
                (2, c) => typed.push(c.to_ascii_lowercase()),
                (3, c) => typed.extend([b' ', *c]),
                (4, c) => typed.extend([*c, b'-']),
                (_, c) => typed.push(*c),
            }
        }
        // The check symbol, if the format has one, last (not part of the
        // normalised code: the hash covers the code without it).
        if format.check_symbol() {
            typed.extend([b'-', pam_backup_codes::code::check_symbol(&code)]);
        }
        let got = normalize(&typed, format).map(|z| z.to_vec());
        prop_assert_eq!(got, Some(code));
    }

    #[test]
    fn any_valid_set_round_trips(set in code_set()) {
        let text = set.to_toml().unwrap();
        prop_assert_eq!(CodeSet::parse(&text).unwrap(), set);
        bodies::parse_store(text.as_bytes());
    }

    #[test]
    fn the_parser_survives_any_bytes(data in prop::collection::vec(any::<u8>(), 0..2000)) {
        bodies::parse_store(&data);
    }

    #[test]
    fn the_parser_survives_damaged_valid_files(
        set in code_set(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..8),
    ) {
        let mut bytes = set.to_toml().unwrap().into_bytes();
        for (at, how, byte) in edits {
            let i = at.index(bytes.len() + 1);
            match how {
                0 if i < bytes.len() => bytes[i] = byte,
                1 if i < bytes.len() => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
        }
        bodies::parse_store(&bytes);
    }

    #[test]
    fn pam_arguments_never_panic_and_what_is_accepted_is_in_the_table(line in pam_line()) {
        bodies::pam_args(line.as_bytes());
    }

    #[test]
    fn pam_arguments_of_any_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..300)) {
        bodies::pam_args(&data);
    }

    #[test]
    fn config_files_never_panic_and_what_is_accepted_validates(text in config_text()) {
        bodies::parse_config(text.as_bytes());
    }

    #[test]
    fn config_files_of_any_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2000)) {
        bodies::parse_config(&data);
    }
}
