//! `backup-codes check`: finds what would make the module refuse logins,
//! and what lets someone around the code, before a service meets it. Run
//! it before `pam-auth-update --enable` and after any change to pam.d,
//! sshd_config or sudoers.
//!
//! Without `--store` and `--config` it checks the configuration file, the
//! store, and every /etc/pam.d service whose auth stack loads the module:
//! each module line's arguments and configuration as the module reads
//! them, its store, and the stack as libpam runs it (how many codes one
//! authentication can ask for and spend); for sshd's stacks, sshd's own
//! effective settings for each member of the groups the stack gates the
//! code on; and sudoers' `pam_service`/`pam_login_service`. With either
//! option it checks that configuration and store only (unless `--pam-dir`
//! is given too).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nix::unistd::User;

use pam_backup_codes::code::CodeFormat;
use pam_backup_codes::config::{Config, DEFAULT_PATH, PgSettings};
use pam_backup_codes::kdf::KdfParams;
use pam_backup_codes::line_settings;
use pam_backup_codes::store::location::Location;
use pam_backup_codes::store::{Store, StoreError};

mod findings;
pub(crate) mod group;
mod pamd;
mod paths;
mod sshd;
mod sudoers;

use crate::args::CheckArgs;
use crate::with_root_hint;
use findings::{Check, Findings, Level};
use pamd::{Entry, MODULE};

/// Where libpam reads the services from.
const PAM_DIR: &str = "/etc/pam.d";
/// Where sudo reads its rules from.
const SUDOERS: &str = "/etc/sudoers";
/// sudo's services when sudoers names none (Debian's build; `sudo -V`).
const SUDO_SERVICE: &str = "sudo";
/// The service of `sudo -i` when sudoers names none.
const SUDO_LOGIN_SERVICE: &str = "sudo-i";

/// Runs every check; returns the exit status: 0 fine (warnings allowed),
/// 1 a problem found, 2 something could not be checked.
pub fn run(store: Option<&Location>, config: Option<&Path>, args: &CheckArgs) -> ExitCode {
    let mut out = Findings::new(args.format, args.quiet);
    if !nix::unistd::geteuid().is_root() {
        out.add(
            Level::Unchecked,
            Check::Access,
            "",
            "not root: the store, sshd's settings and sudoers cannot all be read (run as root)",
        );
    }
    check_all(store, config, args, &mut out);
    out.finish()
}

fn check_all(store: Option<&Location>, config: Option<&Path>, args: &CheckArgs, out: &mut Findings) {
    // Each store once, with the settings that reach it.
    let mut stores: Vec<(Location, PgSettings)> = Vec::new();
    let place = config.unwrap_or(Path::new(DEFAULT_PATH)).display().to_string();
    match Config::load(config) {
        Ok(loaded) => {
            if let Some(setting) = loaded.fleet_policy_conflict() {
                out.add(
                    Level::Problem,
                    Check::Config,
                    &place,
                    format_args!(
                        "{} is set with a PostgreSQL store, whose policy is the database's: \
                         the module refuses every login that reads this file; remove it and set the \
                         fleet's with `backup-codes db policy`",
                        setting.name()
                    ),
                );
            }
            warn_weak_login(out, Check::Config, &place, loaded.login.deny);
            warn_weak_codes(
                out,
                Check::Config,
                &format!("{place} [codes], for new sets"),
                loaded.codes.format().ok(),
                loaded.codes.m_cost,
            );
            stores.push((store.cloned().unwrap_or(loaded.store), loaded.postgresql));
        }
        Err(e) => {
            let text = with_root_hint(&e);
            // Not root and not allowed to read it: not known to be wrong.
            if text.ends_with("(run as root)") {
                out.add(Level::Unchecked, Check::Config, &place, text);
            } else {
                out.add(
                    Level::Problem,
                    Check::Config,
                    &place,
                    format_args!("{text}: the module refuses every login that reads it"),
                );
            }
            stores.extend(store.map(|s| (s.clone(), PgSettings::default())));
        }
    }
    if (store.is_none() && config.is_none()) || args.pam_dir.is_some() {
        let dir = args.pam_dir.as_deref().unwrap_or(Path::new(PAM_DIR));
        let services = check_services(dir, out, &mut stores);
        check_sshd(&services, args.sshd_config.as_deref(), out);
        check_sudo(dir, &services, args.sudoers.as_deref(), out);
    }
    for (location, settings) in &stores {
        check_store(location, settings, out);
    }
}

/// A service whose auth stack loads the module.
struct Service {
    /// Its file name in the pam.d directory.
    name: String,
    /// Its auth stack, includes followed.
    stack: Vec<Entry>,
}

/// Checks every service under `dir`: the arguments of each module line
/// (their stores are added to `stores`), and each stack that loads the
/// module as libpam runs it. Returns the services whose stack loads it.
fn check_services(
    dir: &Path,
    out: &mut Findings,
    stores: &mut Vec<(Location, PgSettings)>,
) -> BTreeMap<String, Service> {
    let mut services = BTreeMap::new();
    let mut files: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(e) => {
            out.add(
                Level::Unchecked,
                Check::Stack,
                &dir.display().to_string(),
                format_args!("cannot list: {e}"),
            );
            return services;
        }
    };
    files.sort();
    for file in files {
        let subject = file.display().to_string();
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) => {
                out.add(
                    Level::Unchecked,
                    Check::Stack,
                    &subject,
                    format_args!("cannot read: {e}"),
                );
                continue;
            }
        };
        for (number, words) in pamd::module_lines(&text) {
            check_line(&format!("{subject}:{number}"), &words[3..], out, stores);
        }
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let stack = pamd::auth_stack(dir, &name);
        let mut modules = Vec::new();
        Entry::modules(&stack, &mut modules);
        if !modules
            .iter()
            .any(|m| matches!(m, Entry::Module { module, .. } if module == MODULE))
        {
            continue;
        }
        check_stack(&subject, &stack, out);
        services.insert(name.clone(), Service { name, stack });
    }
    services
}

/// Checks one module line's arguments as the module reads them.
fn check_line(place: &str, args: &[String], out: &mut Findings, stores: &mut Vec<(Location, PgSettings)>) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match line_settings(&args) {
        Ok(settings) => {
            out.add(
                Level::Ok,
                Check::Line,
                place,
                format_args!(
                    "{}, store {}",
                    if settings.nullok {
                        "users without codes are ignored (nullok)"
                    } else {
                        "users without codes are refused"
                    },
                    settings.store
                ),
            );
            warn_weak_login(out, Check::Line, place, settings.deny);
            let found = (settings.store, settings.postgresql);
            if !stores.contains(&found) {
                stores.push(found);
            }
        }
        Err(reason) => out.add(
            Level::Problem,
            Check::Line,
            place,
            format_args!("{reason}: the module refuses every login through this line"),
        ),
    }
}

/// Checks a stack that loads the module as libpam runs it: how many times
/// one authentication can ask for a code, and lines libpam cannot use.
fn check_stack(subject: &str, stack: &[Entry], out: &mut Findings) {
    let mut broken = Vec::new();
    collect_broken(stack, &mut broken);
    for (place, reason) in broken {
        out.add(
            Level::Warning,
            Check::Stack,
            &place,
            format_args!("{reason}: libpam fails the auth stack of {subject} at this line"),
        );
    }
    match paths::most(stack) {
        None => out.add(
            Level::Unchecked,
            Check::Stack,
            subject,
            "the auth stack has too many ways through to follow them all",
        ),
        Some(most) if most.prompts > 1 => out.add(
            Level::Warning,
            Check::Stack,
            subject,
            format_args!(
                "the auth stack runs the module {} times in one authentication (its own \
                 lines and those it includes): each login asks for {} codes and can spend {}; \
                 with the common-auth profile on, add no line to services that include \
                 common-auth",
                most.prompts, most.prompts, most.spent
            ),
        ),
        Some(most) => out.add(
            Level::Ok,
            Check::Stack,
            subject,
            format_args!(
                "the auth stack asks for at most {} code per authentication",
                most.prompts
            ),
        ),
    }
}

fn collect_broken(stack: &[Entry], found: &mut Vec<(String, String)>) {
    for entry in stack {
        match entry {
            Entry::Broken { place, reason } => found.push((place.clone(), reason.clone())),
            Entry::Substack(inner) => collect_broken(inner, found),
            Entry::Module { .. } => {}
        }
    }
}

/// Whether sshd reads the service: `sshd`, or `sshd-NAME` (an sshd started
/// through a link of that name).
fn is_sshd(service: &str) -> bool {
    service == "sshd" || service.starts_with("sshd-")
}

/// For each sshd service that loads the module, asks sshd what each member
/// of the groups its stack gates the code on gets.
fn check_sshd(services: &BTreeMap<String, Service>, config: Option<&Path>, out: &mut Findings) {
    let sshd_services: Vec<&Service> = services.values().filter(|s| is_sshd(&s.name)).collect();
    if sshd_services.is_empty() {
        return;
    }
    let Some(program) = sshd::binary() else {
        let level = if config.is_some() {
            Level::Unchecked
        } else {
            Level::Note
        };
        return out.add(
            level,
            Check::Sshd,
            "sshd",
            "sshd is not installed: its settings are not checked",
        );
    };
    let mut checked = BTreeSet::new();
    for service in sshd_services {
        let groups = pamd::ingroup_groups(&service.stack);
        if groups.is_empty() {
            out.add(
                Level::Note,
                Check::Sshd,
                &service.name,
                "no pam_succeed_if ... ingroup gate before the code: sshd's settings are not \
                 checked per member",
            );
        }
        for group_name in groups {
            let members = match group::members(&group_name) {
                Ok(members) => members,
                Err(e @ group::GroupError::Enumerate { .. }) => {
                    out.add(Level::Unchecked, Check::Group, &group_name, e);
                    continue;
                }
                Err(e) => {
                    out.add(
                        Level::Problem,
                        Check::Group,
                        &group_name,
                        format_args!("{e} (named by the {} stack)", service.name),
                    );
                    continue;
                }
            };
            if members.is_empty() {
                out.add(
                    Level::Note,
                    Check::Group,
                    &group_name,
                    "no members: nobody is asked for a code",
                );
            }
            for member in members {
                if !checked.insert(member.name.clone()) {
                    continue;
                }
                for typed in spellings(&member) {
                    check_member(&program, config, &member.name, &typed, &group_name, out);
                }
            }
        }
    }
}

/// The names a client may type for `member`: its canonical name and, where
/// NSS folds case (SSSD, winbind), the upper-case spelling that reaches the
/// same account (sshd's `Match User` compares the typed name).
fn spellings(member: &User) -> Vec<String> {
    let mut names = vec![member.name.clone()];
    let upper = member.name.to_uppercase();
    if upper != member.name
        && User::from_name(&upper)
            .ok()
            .flatten()
            .is_some_and(|u| u.uid == member.uid)
    {
        names.push(upper);
    }
    names
}

/// Asks sshd about one member, logging in as `typed`.
fn check_member(
    program: &Path,
    config: Option<&Path>,
    member: &str,
    typed: &str,
    group: &str,
    out: &mut Findings,
) {
    let subject = if typed == member {
        member.to_owned()
    } else {
        format!("{member} (typed as {typed})")
    };
    match sshd::effective(program, config, typed) {
        Err(e) => out.add(Level::Unchecked, Check::Sshd, &subject, e),
        Ok(settings) => {
            let found = sshd::judge(&settings);
            if found.is_empty() {
                out.add(
                    Level::Ok,
                    Check::Sshd,
                    &subject,
                    format_args!("member of {group}: sshd asks for the key, then the code (publickey,keyboard-interactive)"),
                );
            }
            for problem in found {
                out.add(
                    Level::Problem,
                    Check::Sshd,
                    &subject,
                    format_args!("member of {group}: {problem}"),
                );
            }
        }
    }
}

/// Reports sudoers' routing of accounts to services that ask for a code,
/// and warns where `sudo -i` would skip the code.
fn check_sudo(dir: &Path, services: &BTreeMap<String, Service>, sudoers: Option<&Path>, out: &mut Findings) {
    let path = sudoers.unwrap_or(Path::new(SUDOERS));
    let (routings, unreadable) = sudoers::routings(path);
    for problem in unreadable {
        // No sudo installed: nothing to check, unless asked to.
        if problem.path == path && problem.source.kind() == ErrorKind::NotFound && sudoers.is_none() {
            return;
        }
        out.add(
            Level::Unchecked,
            Check::Sudo,
            &problem.path.display().to_string(),
            format_args!("cannot read: {}", problem.source),
        );
    }
    let asks = |service: &str| services.contains_key(service);
    // The setting for everyone (`Defaults`), then per user list.
    let global = |setting: &str, fallback: &str| {
        routings
            .iter()
            .rfind(|r| r.users.is_empty() && r.setting == setting)
            .map_or_else(|| fallback.to_owned(), |r| r.service.clone())
    };
    let mut lists: Vec<&str> = routings.iter().map(|r| r.users.as_str()).collect();
    lists.sort();
    lists.dedup();
    for users in lists {
        let find = |setting: &str, fallback: String| {
            routings
                .iter()
                .rfind(|r| r.users == users && r.setting == setting)
                .map_or((fallback, None), |r| (r.service.clone(), Some(r.place.clone())))
        };
        let (service, place) = find("pam_service", global("pam_service", SUDO_SERVICE));
        let (login, login_place) = find(
            "pam_login_service",
            global("pam_login_service", SUDO_LOGIN_SERVICE),
        );
        if !asks(&service) && !asks(&login) {
            continue;
        }
        let who = if users.is_empty() {
            "everyone".to_owned()
        } else {
            users.to_owned()
        };
        let subject = place.or(login_place).unwrap_or_default();
        for (setting, name) in [("pam_service", &service), ("pam_login_service", &login)] {
            if !dir.join(name.as_str()).is_file() {
                out.add(
                    Level::Problem,
                    Check::Sudo,
                    &subject,
                    format_args!(
                        "{setting} for {who} is {name}, which {} does not have: \
                         libpam uses \"other\" instead",
                        dir.display()
                    ),
                );
            }
        }
        out.add(
            Level::Note,
            Check::Sudo,
            &subject,
            format_args!(
                "sudo for {who}: `sudo CMD` uses the service {service} ({}), `sudo -i` uses {login} ({})",
                if asks(&service) {
                    "asks for a code"
                } else {
                    "no code"
                },
                if asks(&login) {
                    "asks for a code"
                } else {
                    "no code"
                },
            ),
        );
        if asks(&service) != asks(&login) {
            let (with, without) = if asks(&service) {
                ("`sudo CMD`", "`sudo -i`")
            } else {
                ("`sudo -i`", "`sudo CMD`")
            };
            out.add(
                Level::Warning,
                Check::Sudo,
                &subject,
                format_args!(
                    "{with} asks {who} for a code but {without} does not ({} = {}): set \
                     pam_service and pam_login_service to the same code service",
                    if asks(&service) {
                        "pam_login_service"
                    } else {
                        "pam_service"
                    },
                    if asks(&service) { &login } else { &service },
                ),
            );
        }
    }
}

/// Checks one store: trusted, no stray entries, every set valid.
fn check_store(location: &Location, settings: &PgSettings, out: &mut Findings) {
    let subject = location.to_string();
    let store = match Store::open(location, settings) {
        Ok(store) => store,
        Err(e @ StoreError::Missing { .. }) => {
            out.add(
                Level::Note,
                Check::Store,
                &subject,
                format_args!(
                    "{e}: nobody has codes there (a nullok line ignores everyone, \
                 any other line refuses everyone)"
                ),
            );
            return;
        }
        Err(e) => {
            // Not root: the store's permissions were not checked, only ours.
            let level = if nix::unistd::geteuid().is_root() {
                Level::Problem
            } else {
                Level::Unchecked
            };
            return out.add(level, Check::Store, &subject, with_root_hint(e));
        }
    };
    let report = match store.check() {
        Ok(report) => report,
        Err(e) => return out.add(Level::Problem, Check::Store, &subject, e),
    };
    if let Some(transport) = &report.transport {
        out.add(
            Level::Note,
            Check::Store,
            &subject,
            format_args!("transport: {transport}"),
        );
    }
    for warning in &report.warnings {
        out.add(Level::Warning, Check::Store, &subject, warning);
    }
    let clean = report.problems.is_empty();
    for problem in report.problems {
        out.add(Level::Problem, Check::Store, &subject, problem);
    }
    for user in store.users().unwrap_or_default() {
        if let Ok(Some(set)) = store.read(&user) {
            warn_weak_codes(
                out,
                Check::Store,
                &format!("{user}'s set"),
                set.format().ok(),
                set.kdf.params.m_cost,
            );
        }
    }
    if clean {
        out.add(Level::Ok, Check::Store, &subject, report.summary);
    }
}

/// Warns (without failing) about a lockout weaker than NIST SP 800-63B asks.
fn warn_weak_login(out: &mut Findings, check: Check, place: &str, deny: u32) {
    if deny == 0 {
        out.add(
            Level::Warning,
            check,
            place,
            format_args!(
                "deny = 0: the lockout is off, and NIST SP 800-63B \
             asks to limit failed attempts (this module: deny within fail_interval, and 100 \
             remote failures in a row)"
            ),
        );
    }
}

/// Warns (without failing) about codes weaker than the default format and
/// Argon2id memory below the default (OWASP's baseline). The bits per code
/// are those of the random symbols only: a check symbol is a function of
/// them and adds none (nor does it remove any).
fn warn_weak_codes(out: &mut Findings, check: Check, what: &str, format: Option<CodeFormat>, m_cost: u32) {
    let default_bits = CodeFormat::DEFAULT.bits();
    if let Some(format) = format.filter(|f| f.bits() < default_bits) {
        out.add(
            Level::Warning,
            check,
            what,
            format_args!(
                "codes of {:.1} bits, weaker than the default \
             {default_bits:.1} ({} {} symbols{})",
                format.bits(),
                format.length(),
                format.alphabet(),
                if format.check_symbol() {
                    " and a check symbol, which adds no bits"
                } else {
                    ""
                }
            ),
        );
    }
    let default_m = KdfParams::default().m_cost;
    if m_cost < default_m {
        out.add(
            Level::Warning,
            check,
            what,
            format_args!("Argon2id m_cost = {m_cost} KiB, below the default {default_m} KiB"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian's stock common-auth, as pam-auth-update writes it.
    const COMMON_AUTH: &str = "auth [success=1 default=ignore] pam_unix.so nullok\n\
                               auth requisite pam_deny.so\nauth required pam_permit.so\n";

    /// The lines a shipped recipe adds (everything after its `# Add to`).
    fn recipe(name: &str) -> String {
        let text = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("pam.d-examples")
                .join(name),
        )
        .unwrap();
        let (_, lines) = text.split_once("\n# Add to ").unwrap();
        lines.split_once('\n').unwrap().1.to_owned()
    }

    fn most_in(files: &[(&str, &str)], service: &str) -> paths::Most {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        paths::most(&pamd::auth_stack(dir.path(), service)).unwrap()
    }

    fn prompts(files: &[(&str, &str)], service: &str) -> usize {
        most_in(files, service).prompts
    }

    #[test]
    fn every_shipped_recipe_asks_for_one_code() {
        let profile = format!("{COMMON_AUTH}{}", recipe("common-auth"));
        let sshd = |lines: &str| format!("{lines}@include common-auth\naccount required pam_nologin.so\n");
        let login = format!(
            "auth optional pam_faildelay.so\n@include common-auth\n{}",
            recipe("login")
        );
        let sudo = format!("@include common-auth\n{}", recipe("sudo"));
        for example in ["sshd-key-then-code", "sshd-totp-or-code"] {
            let stack = sshd(&recipe(example));
            for common in [COMMON_AUTH, profile.as_str()] {
                let most = most_in(&[("sshd", &stack), ("common-auth", common)], "sshd");
                assert_eq!((most.prompts, most.spent), (1, 1), "{example}");
            }
        }
        for (name, stack) in [("login", &login), ("sudo", &sudo)] {
            assert_eq!(
                prompts(&[(name, stack), ("common-auth", COMMON_AUTH)], name),
                1,
                "{name}"
            );
            // The recipe and the profile together: the warned-about case.
            let twice = most_in(&[(name, stack), ("common-auth", &profile)], name);
            assert_eq!((twice.prompts, twice.spent), (2, 2), "{name} + profile");
        }
        let service = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("pam.d-examples/sudo-backup-codes"),
        )
        .unwrap();
        assert_eq!(
            prompts(&[("sudo-backup-codes", &service)], "sudo-backup-codes"),
            1
        );
    }

    #[test]
    fn control_values_are_followed_as_libpam_does() {
        let module = "pam_backup_codes.so";
        // `done` ends the stack only if no earlier module failed: after a
        // failed `required` line the next code prompt still runs.
        let after_failure = format!(
            "auth required pam_unix.so\nauth [success=done default=die] {module}\nauth required {module}\n"
        );
        assert_eq!(prompts(&[("s", &after_failure)], "s"), 2);
        let after_success = format!("auth [success=done default=die] {module}\nauth required {module}\n");
        assert_eq!(prompts(&[("s", &after_success)], "s"), 1);
        // A jump over the second line; `die` and `requisite` end the stack.
        let jump = format!(
            "auth [success=1 default=ignore] {module}\nauth required {module}\nauth required pam_permit.so\n"
        );
        assert_eq!(prompts(&[("s", &jump)], "s"), 2, "a failure does not jump");
        let die = format!("auth [success=1 default=die] {module}\nauth required {module}\n");
        assert_eq!(prompts(&[("s", &die)], "s"), 1);
        let requisite =
            format!("auth requisite {module}\nauth sufficient pam_permit.so\nauth required {module}\n");
        assert_eq!(
            prompts(&[("s", &requisite)], "s"),
            1,
            "pam_permit succeeds: sufficient ends it"
        );
        // `done` in a substack ends the substack only; `include` inlines.
        let sub = format!("auth [success=done default=die] {module}\n");
        let parent = format!("auth substack sub\nauth required {module}\n");
        assert_eq!(prompts(&[("sub", &sub), ("p", &parent)], "p"), 2);
        let included = format!("auth include sub\nauth required {module}\n");
        assert_eq!(prompts(&[("sub", &sub), ("p", &included)], "p"), 1);
        // `reset` forgets a failure, so `done` ends the stack again.
        let reset = format!(
            "auth required pam_unix.so\nauth [default=reset] pam_env.so\nauth [success=done default=die] {module}\nauth required {module}\n"
        );
        assert_eq!(prompts(&[("s", &reset)], "s"), 1);
        // A loop of includes ends; a missing file contributes nothing.
        assert_eq!(prompts(&[("loop", "@include loop\n")], "loop"), 0);
    }

    #[test]
    fn a_service_that_includes_the_module_twice_is_found() {
        let common = format!("{COMMON_AUTH}auth required pam_backup_codes.so nullok\n");
        let files = [
            ("common-auth", common.as_str()),
            (
                "login",
                "@include common-auth\nauth required pam_backup_codes.so nullok\n",
            ),
            ("su", "auth sufficient pam_rootok.so\n@include common-auth\n"),
            (
                "sshd",
                "auth substack common-auth\naccount required pam_backup_codes.so\n",
            ),
            (
                "opt",
                "-auth optional pam_systemd_home.so\n@include common-auth\n",
            ),
        ];
        let counts: Vec<usize> = ["common-auth", "login", "su", "sshd", "opt"]
            .iter()
            .map(|name| prompts(&files, name))
            .collect();
        assert_eq!(counts, [1, 2, 1, 1, 1]);
    }

    #[test]
    fn ingroup_gates_are_found() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("sshd"),
            "auth [success=ignore default=1] pam_succeed_if.so quiet user ingroup codes:ops\n\
             auth [success=done default=die] pam_backup_codes.so\n\
             auth requisite pam_succeed_if.so uid >= 1000\n",
        )
        .unwrap();
        assert_eq!(
            pamd::ingroup_groups(&pamd::auth_stack(dir.path(), "sshd")),
            ["codes", "ops"]
        );
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
        let lines = pamd::module_lines(text);
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

    #[test]
    fn sshd_settings_are_judged() {
        let settings = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let good = [
            ("authenticationmethods", "publickey,keyboard-interactive:pam"),
            ("usepam", "yes"),
            ("kbdinteractiveauthentication", "yes"),
            ("passwordauthentication", "no"),
        ];
        assert!(sshd::judge(&settings(&good)).is_empty());
        let mut open = good;
        open[0].1 = "any";
        open[3].1 = "yes";
        let found = sshd::judge(&settings(&open));
        assert_eq!(found.len(), 2, "{found:?}");
        let mut either = good;
        either[0].1 = "publickey,keyboard-interactive publickey";
        assert!(sshd::judge(&settings(&either))[0].contains("without the code"));
    }
}
