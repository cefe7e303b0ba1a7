//! The test harness, by concern: [`lab`] (the laboratory every integration
//! test and `make bench` works in), [`cli`] (one shape for what the
//! `backup-codes` CLI answered), [`system`] (real users, pam.d, sshd, sudo),
//! [`postgres`] (throwaway clusters) and [`recipes`] (the published
//! recipes). Here: the skip rule every crate shares.
//!
//! The laboratory: a
//! temporary store, a private PAM configuration directory holding the
//! freshly built module, a private syslog socket, the `backup-codes` CLI and
//! the `pam-driver` example, which runs real libpam transactions with
//! `pam_start_confdir`. One [`Lab`], one way to run a login
//! ([`Lab::login_cmd`] and [`Lab::run`]), one skip rule ([`skip_unless!`]).
//!
//! The module and the CLI resolve user names through NSS, so the lab has
//! accounts of its own: the users a test adds ([`Lab::add_user`];
//! [`Lab::generate`] adds its user), in a passwd-format file that a small
//! NSS source (`lab_nss.c`, built once with cc) answers from. Each CLI and
//! driver process the lab starts gets an nsswitch.conf naming that source
//! after `files`, bind-mounted over /etc/nsswitch.conf in a mount namespace
//! of its own, and finds the source through LD_LIBRARY_PATH. Nothing
//! changes in the host's view. (Not a bind mount over /etc/passwd: every
//! useradd or userdel elsewhere on the machine renames /etc/passwd, and the
//! kernel then detaches such a mount in every namespace.)
#![allow(missing_docs)]

use std::path::{Path, PathBuf};

/// One shape for what the `backup-codes` CLI answered.
pub mod cli;

/// The laboratory: a store, a PAM configuration, syslog, the driver.
pub mod lab;

/// A private mount namespace (also included by the `pam-driver` example).
pub mod namespace;

/// Real users, /etc/pam.d and sudoers entries, sshd, pamtester: the
/// end-to-end fixtures, used by the crates that log in as real users only.
#[allow(dead_code)]
pub mod system;

/// A throwaway PostgreSQL cluster, used by the fleet crates only.
#[allow(dead_code)]
pub mod postgres;

/// The published recipes, parsed from the files admins read, applied to
/// copies of the stock files in a private mount namespace; used by the
/// crates that follow a recipe only.
#[allow(dead_code)]
pub mod recipes;

/// The name of the function this is expanded in: the test's name.
#[allow(unused_macros)] // not every test crate uses it
macro_rules! test_name {
    () => {{
        fn here() {}
        let path = std::any::type_name_of_val(&here);
        let path = path.strip_suffix("::here").unwrap_or(path);
        path.rsplit("::").next().unwrap_or(path)
    }};
}
#[allow(unused_imports)] // not every test crate uses it
pub(crate) use test_name;

/// Returns from the test unless it can run: as root (the store must be
/// root-owned) and with the programs named installed. Outside CI it says
/// so on stderr, naming the test; under `CI=true` the test fails instead,
/// since CI must run everything. `needs = SLICE` names them all at once.
#[allow(unused_macros)] // not every test crate uses it
macro_rules! skip_unless {
    (needs = $needs:expr) => {
        if !$crate::common::can_run($crate::common::test_name!(), $needs) {
            return;
        }
    };
    ($($program:expr),* $(,)?) => {
        $crate::common::skip_unless!(needs = &[$($program),*])
    };
}
#[allow(unused_imports)] // not every test crate uses it
pub(crate) use skip_unless;

/// `value` (a lab, say), made only if the test can run; otherwise returns
/// from the test as [`skip_unless!`] does with the same programs.
#[allow(unused_macros)] // not every test crate uses it
macro_rules! or_skip {
    ($value:expr, needs = $needs:expr) => {{
        $crate::common::skip_unless!(needs = $needs);
        $value
    }};
    ($value:expr $(, $program:expr)* $(,)?) => {{
        $crate::common::skip_unless!($($program),*);
        $value
    }};
}
#[allow(unused_imports)] // not every test crate uses it
pub(crate) use or_skip;

#[allow(dead_code)] // not every test crate uses it
/// Whether a test that needs root and `needs` (programs, or
/// [`postgres::SERVER`]) can run here; see [`skip_unless!`].
pub fn can_run(test: &str, needs: &[&str]) -> bool {
    let met = |need: &str| match need {
        postgres::SERVER => postgres::server_available(),
        program => system::which(program).is_some(),
    };
    let mut missing: Vec<&str> = needs.iter().copied().filter(|n| !met(n)).collect();
    if !nix::unistd::geteuid().is_root() {
        missing.insert(0, "root");
    }
    if missing.is_empty() {
        return true;
    }
    assert!(
        !in_ci(),
        "{test}: CI runs need {missing:?} (run as root; tools/deps.sh installs the programs)"
    );
    eprintln!("{test}: SKIPPED, needs {missing:?} (run as root; `make deps-test` installs the programs)");
    false
}

#[allow(dead_code)] // not every test crate uses it
/// Whether this is a CI run (`CI=true`), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

#[allow(dead_code)] // not every test crate uses it
/// The directory holding the built binaries of this profile.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_backup-codes"))
        .parent()
        .expect("binary has a directory")
        .to_path_buf()
}

#[allow(unused_imports)] // not every test crate uses it
pub use cli::{CliRun, RunCli, codes, users};
pub use lab::*;
