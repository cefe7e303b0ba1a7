//! Argon2id hashing of codes and the constant-time search of a set.
//!
//! Every code of a set shares one salt, so a login costs exactly one Argon2id
//! evaluation however many codes the set holds; the resulting digest is then
//! compared with every stored hash, used ones included, without early exit.

mod memory;

use std::fmt;
use std::ops::RangeInclusive;

use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::code::FormatError;
use memory::{Blocks, OutOfMemory};
use rand::TryRng;
use rand::rngs::SysRng;
use serde::{Deserialize, Serialize};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

/// Bytes of salt per set.
pub const SALT_LEN: usize = 16;
/// Bytes of each stored hash.
pub const HASH_LEN: usize = 32;

/// A set's salt.
pub type Salt = [u8; SALT_LEN];
/// One stored hash, or the digest of an attempt.
pub type Hash = [u8; HASH_LEN];

/// What computes an attempt's digest (`None`: the input is no code of the
/// format), wiped when dropped: the Argon2id of a login, which the fleet
/// store runs on a thread of its own while it connects.
pub trait Hasher: FnOnce() -> Result<Option<Zeroizing<Hash>>, KdfError> + Send {}

impl<F: FnOnce() -> Result<Option<Zeroizing<Hash>>, KdfError> + Send> Hasher for F {}

/// Argon2id cost parameters, stored with every set so that old sets keep
/// working after the defaults change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes over memory.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        Self {
            m_cost: 19_456,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

/// Parameters outside the sane range, or a failure of the KDF or the CSPRNG.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KdfError {
    /// A cost parameter is out of range; a hostile file must not make a login
    /// allocate gigabytes.
    OutOfRange {
        /// `m_cost`, `t_cost` or `p_cost`.
        name: &'static str,
        /// The value found.
        value: u32,
        /// What is accepted.
        range: RangeInclusive<u32>,
    },
    /// The Argon2 implementation refused (should not happen after validation).
    Argon2(argon2::Error),
    /// The OS random number generator failed.
    Random(rand::rngs::SysError),
    /// The set's code format is invalid, so no input can be hashed as one
    /// of its codes (a set read from the store never has this).
    Format(FormatError),
    /// The memory for Argon2id could not be had (a memory limit).
    Memory {
        /// How many bytes were asked for.
        bytes: usize,
    },
}

impl From<OutOfMemory> for KdfError {
    fn from(e: OutOfMemory) -> Self {
        Self::Memory { bytes: e.bytes }
    }
}

impl fmt::Display for KdfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange { name, value, range } => write!(
                f,
                "Argon2id {name} = {value} is outside {}..={}",
                range.start(),
                range.end()
            ),
            Self::Argon2(reason) => write!(f, "Argon2id failed: {reason}"),
            Self::Random(reason) => write!(f, "the OS random number generator failed: {reason}"),
            Self::Format(e) => write!(f, "cannot hash for this set: {e}"),
            Self::Memory { bytes } => OutOfMemory { bytes: *bytes }.fmt(f),
        }
    }
}

impl std::error::Error for KdfError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::OutOfRange { .. } | Self::Memory { .. } => None,
            Self::Argon2(e) => Some(e),
            Self::Random(e) => Some(e),
            Self::Format(e) => Some(e),
        }
    }
}

impl KdfParams {
    /// Memory accepted, in KiB: 8 MiB to 256 MiB.
    pub const M_COST: RangeInclusive<u32> = 8 * 1024..=256 * 1024;
    /// Passes accepted.
    pub const T_COST: RangeInclusive<u32> = 1..=16;
    /// Lanes accepted.
    pub const P_COST: RangeInclusive<u32> = 1..=8;

    /// Checks every parameter against its sane range.
    pub fn validate(&self) -> Result<(), KdfError> {
        for (name, value, range) in [
            ("m_cost", self.m_cost, Self::M_COST),
            ("t_cost", self.t_cost, Self::T_COST),
            ("p_cost", self.p_cost, Self::P_COST),
        ] {
            if !range.contains(&value) {
                return Err(KdfError::OutOfRange { name, value, range });
            }
        }
        Ok(())
    }

    /// Hashes one normalised code: the single Argon2id evaluation of a login,
    /// in a mapping of its own (on huge pages where the kernel gives them,
    /// out of core dumps, wiped after use; see `kdf::memory`). Memory that
    /// cannot be had is [`KdfError::Memory`], never an abort.
    pub fn hash(&self, salt: &Salt, code: &[u8]) -> Result<Zeroizing<Hash>, KdfError> {
        self.hash_in(&mut Workspace::default(), salt, code)
    }

    /// Like [`hash`](Self::hash), but in `workspace`'s memory, which stays
    /// allocated for the next call: generating many sets on one thread then
    /// allocates (and page-faults in) `m_cost` KiB once, not once per code.
    pub fn hash_in(
        &self,
        workspace: &mut Workspace,
        salt: &Salt,
        code: &[u8],
    ) -> Result<Zeroizing<Hash>, KdfError> {
        let params = self.params()?;
        let needed = params.block_count();
        let memory = match &mut workspace.0 {
            Some(memory) if memory.len() >= needed => memory,
            // Never grown in place: the old memory is wiped and unmapped
            // when its replacement is in, so no copy is left behind.
            slot => slot.insert(Blocks::new(needed)?),
        };
        let blocks = memory.as_mut_slice().get_mut(..needed).ok_or(KdfError::Memory {
            bytes: needed.saturating_mul(size_of::<Block>()),
        })?;
        hash_with(params, blocks, salt, code)
    }

    /// The validated Argon2 parameters: nothing is allocated before this.
    fn params(&self) -> Result<Params, KdfError> {
        self.validate()?;
        Params::new(self.m_cost, self.t_cost, self.p_cost, Some(HASH_LEN)).map_err(KdfError::Argon2)
    }
}

/// One Argon2id v1.3 evaluation in `memory` (at least `params.block_count()` blocks).
fn hash_with(
    params: Params,
    memory: &mut [Block],
    salt: &Salt,
    code: &[u8],
) -> Result<Zeroizing<Hash>, KdfError> {
    let mut out = Zeroizing::new([0u8; HASH_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(code, salt, &mut out[..], memory)
        .map_err(KdfError::Argon2)?;
    Ok(out)
}

/// Argon2id working memory reused by [`KdfParams::hash_in`], grown when a
/// set needs more; out of core dumps, wiped when replaced or dropped.
#[derive(Default)]
pub struct Workspace(Option<Blocks>);

/// A fresh random salt from the OS CSPRNG.
pub fn new_salt() -> Result<Salt, KdfError> {
    let mut salt = [0u8; SALT_LEN];
    SysRng.try_fill_bytes(&mut salt).map_err(KdfError::Random)?;
    Ok(salt)
}

/// The index of the stored hash equal to `digest`, comparing with every one
/// in constant time and without early exit.
pub fn find_match<'a>(digest: &Hash, stored: impl IntoIterator<Item = &'a Hash>) -> Option<usize> {
    let mut found = subtle::Choice::from(0);
    let mut index = 0u64;
    for (i, hash) in stored.into_iter().enumerate() {
        let equal = digest.ct_eq(hash);
        index = u64::conditional_select(&index, &(i as u64), equal);
        found |= equal;
    }
    bool::from(found).then_some(index as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_is_deterministic_per_salt() {
        let params = KdfParams::default();
        let salt = new_salt().unwrap();
        let a = params.hash(&salt, b"ABCDE12345").unwrap();
        let b = params.hash(&salt, b"ABCDE12345").unwrap();
        let c = params.hash(&salt, b"ABCDE12346").unwrap();
        let other = params.hash(&new_salt().unwrap(), b"ABCDE12345").unwrap();
        assert_eq!(*a, *b);
        assert_ne!(*a, *c);
        assert_ne!(*a, *other);
    }

    #[test]
    fn a_reused_workspace_gives_the_same_hashes() {
        let salt = new_salt().unwrap();
        let cheap = KdfParams {
            m_cost: 8192,
            t_cost: 1,
            p_cost: 1,
        };
        let mut workspace = Workspace::default();
        // Growing, shrinking and growing again, with old contents left behind.
        for params in [cheap, KdfParams::default(), cheap, KdfParams::default()] {
            let fresh = params.hash(&salt, b"ABCDE12345").unwrap();
            let reused = params.hash_in(&mut workspace, &salt, b"ABCDE12345").unwrap();
            assert_eq!(*fresh, *reused);
        }
        let zero = KdfParams { m_cost: 0, ..cheap };
        assert!(matches!(
            zero.hash_in(&mut workspace, &salt, b"x"),
            Err(KdfError::OutOfRange { .. })
        ));
    }

    #[test]
    fn known_answer() {
        // Argon2id v1.3, m=19456 t=2 p=1, 32-byte output, from the reference
        // implementation (argon2-cffi's hash_secret_raw).
        let digest = KdfParams::default()
            .hash(b"somesaltsomesalt", b"password")
            .unwrap();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "2b5dc4054886ec957ef59c73b661c54dd6fb274590b278f657c6d96aac8fa6d1"
        );
    }

    #[test]
    fn out_of_range_parameters_are_refused_before_allocating() {
        let salt = [0u8; SALT_LEN];
        for params in [
            KdfParams {
                m_cost: 4 * 1024 * 1024,
                ..KdfParams::default()
            },
            KdfParams {
                m_cost: 1024,
                ..KdfParams::default()
            },
            KdfParams {
                t_cost: 0,
                ..KdfParams::default()
            },
            KdfParams {
                t_cost: 1000,
                ..KdfParams::default()
            },
            KdfParams {
                p_cost: 0,
                ..KdfParams::default()
            },
            KdfParams {
                p_cost: 64,
                ..KdfParams::default()
            },
        ] {
            assert!(matches!(
                params.hash(&salt, b"x"),
                Err(KdfError::OutOfRange { .. })
            ));
        }
    }

    #[test]
    fn find_match_finds_any_position() {
        let hashes: Vec<Hash> = (0u8..10).map(|i| [i; HASH_LEN]).collect();
        for i in 0u8..10 {
            assert_eq!(find_match(&[i; HASH_LEN], &hashes), Some(usize::from(i)));
        }
        assert_eq!(find_match(&[42; HASH_LEN], &hashes), None);
        assert_eq!(find_match(&[0; HASH_LEN], &[]), None);
    }
}
