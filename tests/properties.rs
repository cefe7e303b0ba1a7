//! Property tests for normalisation and the store parser. The byte-level
//! bodies are the fuzz targets' (`fuzz/bodies.rs`); `PROPTEST_CASES` sets the
//! number of cases (256 in `make test`, far more in `make stress`).
#![cfg(test)]
#![allow(missing_docs)]

#[path = "../fuzz/bodies.rs"]
mod bodies;

use pam_backup_codes::code::{Alphabet, CodeFormat, normalize};
use pam_backup_codes::codeset::{CodeEntry, CodeSet, CodeUse, Kdf};
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
        (8usize..=32).prop_map(|l| CodeFormat::new(Alphabet::Crockford, l).unwrap()),
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
}
