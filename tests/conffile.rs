//! The configuration file the Debian package installs as a conffile,
//! `debian/pam_backup_codes.conf`: the module must accept it as shipped, and
//! every value it shows (commented out) must be the real default.

use pam_backup_codes::config::{Config, Setting};

const SHIPPED: &str = include_str!("../debian/pam_backup_codes.conf");

/// The file with every commented-out `key = value` line made active.
fn uncommented(text: &str) -> (String, usize) {
    let mut keys = 0;
    let lines: Vec<&str> = text
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if rest.contains(" = ") && !rest.starts_with(' ') => {
                keys += 1;
                rest
            }
            _ => line,
        })
        .collect();
    (lines.join("\n"), keys)
}

#[test]
fn the_shipped_conffile_parses_to_the_defaults() {
    let config = Config::parse(SHIPPED).unwrap_or_else(|e| panic!("shipped conffile: {e}"));
    assert_eq!(config, Config::default());
}

#[test]
fn every_value_shown_in_the_conffile_is_the_default() {
    let (text, keys) = uncommented(SHIPPED);
    // store, 9 [login] keys, 6 [codes] keys, and [postgresql] connect_timeout
    // (its other keys have no default value): as in src/config.rs.
    assert_eq!(keys, 17, "commented-out keys in the conffile:\n{text}");
    let mut config = Config::parse(&text).unwrap_or_else(|e| panic!("uncommented conffile: {e}"));
    // It names the four policy settings (which a fleet store refuses), at
    // their default values.
    let mut given = std::mem::take(&mut config.policy_given);
    given.sort_by_key(|s| s.name());
    assert_eq!(
        given,
        [
            Setting::Deny,
            Setting::FailInterval,
            Setting::MaxAge,
            Setting::UnlockTime
        ]
    );
    assert_eq!(config, Config::default());
}
