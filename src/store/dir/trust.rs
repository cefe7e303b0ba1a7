//! What the file store trusts: its directory and every one above it, walked
//! from `/`, and each user file read under [`USER_FILE`], all by the crate's
//! one reader of trusted files ([`crate::trusted`]).

use super::MAX_FILE_SIZE;
use crate::store::StoreError;
use crate::trusted::{Problem, Rules, TrustError};

/// A user file: private to root (it tells who has codes and when they were
/// used), at most [`MAX_FILE_SIZE`] bytes.
pub const USER_FILE: Rules = Rules {
    private: true,
    max_size: MAX_FILE_SIZE,
};

impl From<TrustError> for StoreError {
    fn from(TrustError { path, problem }: TrustError) -> Self {
        match problem {
            // Along a trusted path: no store, so nobody has codes.
            Problem::Missing => Self::Missing { path },
            Problem::Io(action, source) => Self::Io { path, action, source },
            Problem::Untrusted(reason) => Self::Insecure {
                path,
                reason: reason.to_string(),
            },
        }
    }
}
