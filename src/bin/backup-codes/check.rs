//! `backup-codes check`: finds what would make the module refuse logins
//! before a service meets it. Run it before `pam-auth-update --enable`.
//!
//! Without `--store` and `--config` it checks the configuration file, the
//! store, and every `auth` line in /etc/pam.d that loads the module: its
//! arguments and configuration file as the module reads them, and its store.
//! With either option it checks that configuration and store only.

use std::fs;
use std::path::{Path, PathBuf};

use pam_backup_codes::code::CodeFormat;
use pam_backup_codes::config::{Config, DEFAULT_PATH, PgSettings};
use pam_backup_codes::kdf::KdfParams;
use pam_backup_codes::line_settings;
use pam_backup_codes::store::location::Location;
use pam_backup_codes::store::{Store, StoreError};

mod findings;

use crate::args::Format;
use crate::{Problems, with_root_hint};
use findings::{Findings, Level};

/// Where libpam reads the services from.
const PAM_DIR: &str = "/etc/pam.d";
/// The module's file name, however the line names its directory.
const MODULE: &str = "pam_backup_codes.so";

/// Runs every check; each problem is one line on stderr, and with
/// `--format json` every finding is in one JSON object on stdout.
pub fn run(store: Option<&Location>, config: Option<&Path>, format: Format, problems: &mut Problems) {
    let mut out = Findings::new(format, problems);
    check_all(store, config, &mut out);
    out.finish();
}

fn check_all(store: Option<&Location>, config: Option<&Path>, out: &mut Findings<'_>) {
    // Each store once, with the settings that reach it.
    let mut stores: Vec<(Location, PgSettings)> = Vec::new();
    match Config::load(config) {
        Ok(loaded) => {
            let place = config.unwrap_or(Path::new(DEFAULT_PATH)).display().to_string();
            if let Some(setting) = loaded.fleet_policy_conflict() {
                out.add(
                    Level::Problem,
                    format_args!(
                        "{place}: {} is set with a PostgreSQL store, whose policy is the database's: \
                         the module refuses every login that reads this file; remove it and set the \
                         fleet's with `backup-codes db policy`",
                        setting.name()
                    ),
                );
            }
            warn_weak_login(out, &place, loaded.login.deny);
            warn_weak_codes(
                out,
                &format!("{place} [codes], for new sets"),
                loaded.codes.format().ok(),
                loaded.codes.m_cost,
            );
            stores.push((store.cloned().unwrap_or(loaded.store), loaded.postgresql));
        }
        Err(e) => {
            out.add(
                Level::Problem,
                format_args!("{e}: the module refuses every login that reads it"),
            );
            stores.extend(store.map(|s| (s.clone(), PgSettings::default())));
        }
    }
    if store.is_none() && config.is_none() {
        for found in check_pam_lines(Path::new(PAM_DIR), out) {
            if !stores.contains(&found) {
                stores.push(found);
            }
        }
    }
    for (location, settings) in &stores {
        check_store(location, settings, out);
    }
}

/// Checks the arguments of every module line under `dir`; returns the
/// stores they use.
fn check_pam_lines(dir: &Path, out: &mut Findings<'_>) -> Vec<(Location, PgSettings)> {
    let mut files: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(e) => {
            out.add(
                Level::Problem,
                format_args!("{}: cannot list: {e}", dir.display()),
            );
            return Vec::new();
        }
    };
    files.sort();
    let mut stores = Vec::new();
    for file in files {
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) => {
                out.add(
                    Level::Problem,
                    format_args!("{}: cannot read: {e}", file.display()),
                );
                continue;
            }
        };
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let runs = runs_in_auth(dir, &name, 0);
        if runs > 1 {
            out.add(
                Level::Warning,
                format_args!(
                    "{}: the auth stack runs the module {runs} times \
                 (its own lines and those it includes): each login asks for, and spends, \
                 {runs} codes; with the common-auth profile on, add no line to services \
                 that include common-auth",
                    file.display()
                ),
            );
        }
        for (number, words) in module_lines(&text) {
            let place = format!("{}:{number}", file.display());
            let args: Vec<&str> = words[3..].iter().map(String::as_str).collect();
            match line_settings(&args) {
                Ok(settings) => {
                    out.add(
                        Level::Ok,
                        format_args!(
                            "{place}: {}, store {}",
                            if settings.nullok {
                                "users without codes are ignored (nullok)"
                            } else {
                                "users without codes are refused"
                            },
                            settings.store
                        ),
                    );
                    warn_weak_login(out, &place, settings.deny);
                    stores.push((settings.store, settings.postgresql));
                }
                Err(reason) => out.add(
                    Level::Problem,
                    format_args!("{place}: {reason}: the module refuses every login through this line"),
                ),
            }
        }
    }
    stores
}

/// The `auth` lines that load the module, as (line number, words): type,
/// control, module path, arguments.
fn module_lines(text: &str) -> Vec<(usize, Vec<String>)> {
    logical_lines(text)
        .into_iter()
        .filter(|(_, words)| is_auth(words) && loads_module(words))
        .collect()
}

fn is_auth(words: &[String]) -> bool {
    words.len() >= 3 && words[0].trim_start_matches('-').eq_ignore_ascii_case("auth")
}

fn loads_module(words: &[String]) -> bool {
    words.len() >= 3 && Path::new(&words[2]).file_name().is_some_and(|n| n == MODULE)
}

/// How many times the auth stack of the service `name` in `dir` runs the
/// module, following `@include`, `include` and `substack` as libpam does.
fn runs_in_auth(dir: &Path, name: &str, depth: u32) -> usize {
    // libpam stops at a much smaller depth too; this only ends loops.
    if depth > 16 || name.contains('/') {
        return 0;
    }
    let Ok(text) = fs::read_to_string(dir.join(name)) else {
        return 0;
    };
    logical_lines(&text)
        .iter()
        .map(|(_, words)| match words.first().map(String::as_str) {
            Some("@include") if words.len() >= 2 => runs_in_auth(dir, &words[1], depth + 1),
            _ if is_auth(words) && (words[1] == "include" || words[1] == "substack") => {
                runs_in_auth(dir, &words[2], depth + 1)
            }
            _ if is_auth(words) && loads_module(words) => 1,
            _ => 0,
        })
        .sum()
}

/// Each line of a pam.d file as libpam reads it, as (first line number,
/// words), blank and comment lines left out.
fn logical_lines(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    let mut logical = String::new();
    let mut first = 0;
    for (index, line) in text.lines().enumerate() {
        if logical.is_empty() {
            first = index + 1;
        }
        // A backslash at the end continues the line, as libpam reads it.
        match line.strip_suffix('\\') {
            Some(part) => {
                logical.push_str(part);
                logical.push(' ');
                continue;
            }
            None => logical.push_str(line),
        }
        let code = logical.split('#').next().unwrap_or_default();
        let words = words(code);
        if !words.is_empty() {
            found.push((first, words));
        }
        logical.clear();
    }
    found
}

/// Splits a pam.d line into words as libpam does: a word opening with `[`
/// runs to the matching `]` (`\]` is a literal one) and loses the brackets.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(c) = chars.next() else {
            return words;
        };
        let mut word = String::new();
        if c == '[' {
            while let Some(c) = chars.next() {
                match c {
                    '\\' if chars.peek() == Some(&']') => word.push(chars.next().unwrap_or(']')),
                    ']' => break,
                    c => word.push(c),
                }
            }
        } else {
            word.push(c);
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                word.push(c);
            }
        }
        words.push(word);
    }
}

/// Checks one store: trusted, no stray entries, every set valid.
fn check_store(location: &Location, settings: &PgSettings, out: &mut Findings<'_>) {
    let store = match Store::open(location, settings) {
        Ok(store) => store,
        Err(e @ StoreError::Missing { .. }) => {
            out.add(
                Level::Note,
                format_args!(
                    "{e}: nobody has codes there (a nullok line ignores everyone, \
                 any other line refuses everyone)"
                ),
            );
            return;
        }
        Err(e) => return out.add(Level::Problem, with_root_hint(e)),
    };
    let report = match store.check() {
        Ok(report) => report,
        Err(e) => return out.add(Level::Problem, e),
    };
    if let Some(transport) = &report.transport {
        println!("transport: {transport}");
    }
    for warning in &report.warnings {
        eprintln!("backup-codes: warning: {warning}");
    }
    let clean = report.problems.is_empty();
    for problem in report.problems {
        out.add(Level::Problem, problem);
    }
    for user in store.users().unwrap_or_default() {
        if let Ok(Some(set)) = store.read(&user) {
            warn_weak_codes(
                out,
                &format!("{user}'s set"),
                set.format().ok(),
                set.kdf.params.m_cost,
            );
        }
    }
    if clean {
        out.add(Level::Ok, report.summary);
    }
}

/// Warns (without failing) about a lockout weaker than NIST SP 800-63B asks.
fn warn_weak_login(out: &mut Findings<'_>, place: &str, deny: u32) {
    if deny == 0 {
        out.add(
            Level::Warning,
            format_args!(
                "{place}: deny = 0: the lockout is off, and NIST SP 800-63B \
             asks to limit failed attempts (this module: deny within fail_interval, and 100 \
             remote failures in a row)"
            ),
        );
    }
}

/// Warns (without failing) about codes weaker than the default format and
/// Argon2id memory below the default (OWASP's baseline).
fn warn_weak_codes(out: &mut Findings<'_>, what: &str, format: Option<CodeFormat>, m_cost: u32) {
    let default_bits = CodeFormat::DEFAULT.bits();
    if let Some(format) = format.filter(|f| f.bits() < default_bits) {
        out.add(
            Level::Warning,
            format_args!(
                "{what}: codes of {:.1} bits, weaker than the default \
             {default_bits:.1} ({} {} symbols)",
                format.bits(),
                format.length(),
                format.alphabet()
            ),
        );
    }
    let default_m = KdfParams::default().m_cost;
    if m_cost < default_m {
        out.add(
            Level::Warning,
            format_args!("{what}: Argon2id m_cost = {m_cost} KiB, below the default {default_m} KiB"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_that_includes_the_module_twice_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| fs::write(dir.path().join(name), text).unwrap();
        write(
            "common-auth",
            "auth [success=1 default=ignore] pam_unix.so nullok\n\
             auth requisite pam_deny.so\nauth required pam_permit.so\n\
             auth required pam_backup_codes.so nullok\n",
        );
        write(
            "login",
            "@include common-auth\nauth required pam_backup_codes.so nullok\n",
        );
        write("su", "auth sufficient pam_rootok.so\n@include common-auth\n");
        write(
            "sshd",
            "auth substack common-auth\naccount required pam_backup_codes.so\n",
        );
        write("loop", "@include loop\n");
        let runs = |name| runs_in_auth(dir.path(), name, 0);
        assert_eq!(
            (runs("common-auth"), runs("login"), runs("su"), runs("sshd")),
            (1, 2, 1, 1)
        );
        assert_eq!(runs("loop"), 0);
        assert_eq!(runs("missing"), 0);
    }

    #[test]
    fn module_lines_are_read_as_libpam_reads_them() {
        let text = "# comment pam_backup_codes.so\n\
                    auth required pam_unix.so\n\
                    auth [success=done default=die] /lib/security/pam_backup_codes.so \\\n  \
                    nullok [prompt=Code \\] please: ] # trailing\n\
                    account required pam_backup_codes.so\n\
                    -auth optional pam_backup_codes.so store=/srv\n\
                    @include common-auth\n";
        let lines = module_lines(text);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].0, 3);
        assert_eq!(
            lines[0].1[1..],
            [
                "success=done default=die",
                "/lib/security/pam_backup_codes.so",
                "nullok",
                "prompt=Code ] please: "
            ]
        );
        assert_eq!(lines[1].0, 6);
        assert_eq!(lines[1].1[3..], ["store=/srv"]);
    }
}
