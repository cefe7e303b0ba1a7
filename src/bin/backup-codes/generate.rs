//! `backup-codes generate`: new sets, hashed on every core, shown once.
//!
//! For each user, in order: the plain codes are written to the sheet (if
//! `--output`), then the store file is replaced atomically, then the codes are
//! printed (if not `--output`). A failure at any step leaves the old set in
//! place and no sheet behind.
//!
//! Bulk runs: every thread of rayon's pool hashes one user at a time while
//! this thread writes the finished sets out in list order, so the cores never
//! wait for the disk ([`in_order`]). If the codes can no longer be printed (a
//! closed pipe), the run stops there: a set stored but never seen would lock
//! its user out.
//!
//! Each worker also renders the user's sheet into a zeroised buffer and,
//! with encryption, encrypts it to the user (`super::encrypt`): reading an
//! authorized_keys file and a public-key operation per user stay off the
//! writing thread, so bulk runs keep their speed-up.
//!
//! The parts: [`names`] (who), [`in_order`] (the ordered parallel executor),
//! [`output`] (where the codes go); the sheet is `super::sheet`'s, shared
//! with `renew` and `add`.

mod in_order;
mod names;
pub(crate) mod output;

use std::fmt;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

use clap::CommandFactory;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use time::OffsetDateTime;

use zeroize::Zeroizing;

use super::args::{Cli, GenerateArgs as Args};
use super::encrypt::{EncryptError, Encryption};
use super::sheet::Sheet;
use super::{Context, Problems, authlog, open_store};
use in_order::for_each_in_order;
use names::Listed;
use output::{Output, write_private};
use pam_backup_codes::audit::{Event, Field, Record};
use pam_backup_codes::code::{CodeFormat, FormatError, PlainCode};
use pam_backup_codes::codeset::{CodeSet, GenerateError};
use pam_backup_codes::kdf::Workspace;
use pam_backup_codes::store::{Edit, Store, StoreError};

pub(super) fn run(ctx: &Context, args: Args, problems: &mut Problems) {
    let defaults = &ctx.config.codes;
    let format = CodeFormat::new(
        args.alphabet.unwrap_or(defaults.alphabet),
        args.length.unwrap_or(defaults.length),
    )
    .map(|f| f.with_check_symbol(defaults.check_symbol && !args.no_check_symbol))
    .unwrap_or_else(|e| usage_error(&e));
    let count = args.count.unwrap_or(defaults.count);
    if !CodeFormat::COUNTS.contains(&count) {
        usage_error(&FormatError::Count(count));
    }
    let params = defaults.kdf();

    let mut listed: Vec<Listed> = args.users.iter().map(|name| Listed::argument(name)).collect();
    if let Some(source) = &args.users_from {
        match names::read_names(source) {
            Ok(more) => listed.extend(more),
            Err(e) => return problems.report(format_args!("{}: {e}", source.display())),
        }
    }
    let users = names::validate(&listed, args.allow_unknown, problems);
    if users.is_empty() {
        return;
    }
    let encryption = match Encryption::from_args(&args.encrypt) {
        Ok(encryption) => encryption,
        Err(e) => return problems.report(e),
    };
    let output = match (&encryption, args.output.as_deref()) {
        // Only ciphertext leaves the process: never a plain code on stdout.
        (Some(_), None) => usage_error(
            &"encrypted sheets are written to --output DIR, one USER.age per user; \
             with encryption no code is printed",
        ),
        (Some(_), Some(dir)) => Output::directory(dir),
        (None, path) => Output::choose(path, users.len()),
    };
    let output = match output {
        Ok(output) => output,
        Err(e) => return problems.report(e),
    };
    // Never made here: the package and `make install` create the real one,
    // and a typo in --store must not start a second store nobody reads.
    let Some(store) = open_store(ctx, problems) else {
        return;
    };
    let users = if args.replace {
        users
    } else {
        without_sets(&store, users, args.if_missing, problems)
    };
    if users.is_empty() {
        return;
    }
    if let Err(e) = output.private_stdout() {
        return problems.report(e);
    }
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "this host".to_owned());
    let mut stdout = io::stdout().lock();
    let progress = progress_bar(users.len());
    let mut stored = 0;
    let prompt = ctx.config.login.prompt.as_str();
    let handled = for_each_in_order(
        &users,
        Workspace::default,
        |workspace, user| {
            let generated = CodeSet::generate_in(workspace, format, count, params, OffsetDateTime::now_utc());
            prepare(
                &sheet_of(user, &host, &args, prompt),
                encryption.as_ref(),
                generated,
            )
        },
        |user, prepared| {
            let sheet = sheet_of(user, &host, &args, prompt);
            let flow = match provision(&store, &output, &sheet, prepared, args.replace, &mut stdout) {
                Ok(notes) => {
                    for note in notes {
                        progress.suspend(|| eprintln!("backup-codes: {user}: note: {note}"));
                    }
                    stored += 1;
                    ControlFlow::Continue(())
                }
                Err(e @ ProvisionError::Print(_)) => {
                    progress.suspend(|| problems.report(format_args!("{user}: {e}")));
                    ControlFlow::Break(())
                }
                Err(e @ ProvisionError::Exists { .. }) => {
                    progress.suspend(|| exists(user, &e, args.if_missing, problems));
                    ControlFlow::Continue(())
                }
                Err(e) => {
                    progress.suspend(|| {
                        problems.report(format_args!("{user}: {e}; the old set, if any, is unchanged"))
                    });
                    ControlFlow::Continue(())
                }
            };
            progress.inc(1);
            flow
        },
    );
    progress.finish_and_clear();
    if handled < users.len() {
        let after = handled
            .checked_sub(1)
            .map_or_else(|| "none".to_owned(), |last| users[last].to_string());
        problems.report(format_args!(
            "stopped: the {} users after {after} were not changed",
            users.len() - handled
        ));
    }
    if let Output::Dir(dir) = &output {
        eprintln!(
            "backup-codes: {stored} sheet{} written to {}",
            if stored == 1 { "" } else { "s" },
            dir.display()
        );
    }
}

/// The users whose set may be replaced without `--replace`: those without
/// one, and those whose set is revoked (it holds no valid code). The others
/// are reported, and left as they are. (`provision` checks again under the
/// store's lock.)
fn without_sets(
    store: &Store,
    users: Vec<pam_backup_codes::username::UserName>,
    if_missing: bool,
    problems: &mut Problems,
) -> Vec<pam_backup_codes::username::UserName> {
    users
        .into_iter()
        .filter(|user| match store.read(user) {
            Ok(Some(set)) if set.revoked.is_none() => {
                let e = ProvisionError::Exists {
                    remaining: set.remaining(),
                    total: set.codes.len(),
                };
                exists(user, &e, if_missing, problems);
                false
            }
            Ok(_) => true,
            Err(e) => {
                problems.report(format_args!("{user}: {e}; nothing changed"));
                false
            }
        })
        .collect()
}

/// A user who has a set: a failure, or with `--if-missing` the state asked
/// for (noted on stderr only).
fn exists(user: &impl fmt::Display, e: &ProvisionError, if_missing: bool, problems: &mut Problems) {
    if if_missing {
        eprintln!("backup-codes: {user}: has a set already; left as it is (--if-missing)");
    } else {
        problems.report(format_args!("{user}: {e}"));
    }
}

/// A progress bar on stderr for `total` users, drawn only when stderr is a
/// terminal, stdout is not (the sheets printed there are the progress, and
/// a bar drawn between them on a shared terminal would break them up), and
/// there is more than one user.
fn progress_bar(total: usize) -> ProgressBar {
    use std::io::IsTerminal;
    if total < 2 || io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let rate = |state: &ProgressState, w: &mut dyn fmt::Write| {
        let _ = write!(w, "{:.1} users/s", state.per_sec());
    };
    let style = ProgressStyle::with_template("[{bar:30}] {pos}/{len} users, {rate}, {eta} left").map_or_else(
        |_| ProgressStyle::default_bar(),
        |style| style.progress_chars("#-").with_key("rate", rate),
    );
    ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr()).with_style(style)
}

fn usage_error(message: &impl fmt::Display) -> ! {
    Cli::command()
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}

/// Why a user was not provisioned.
#[derive(Debug)]
enum ProvisionError {
    /// The set could not be made; nothing changed.
    Generate(GenerateError),
    /// The sheet could not be encrypted to the user; nothing changed.
    Encrypt(EncryptError),
    /// The sheet could not be written; nothing changed.
    Sheet { path: PathBuf, source: io::Error },
    /// The set could not be stored; the old set and no sheet remain.
    Store(StoreError),
    /// The set was stored but its codes could not be printed: stop the run.
    Print(io::Error),
    /// The user has a set and `--replace` was not given; nothing changed.
    Exists { remaining: usize, total: usize },
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Generate(e) => write!(f, "{e}"),
            Self::Encrypt(e) => write!(f, "{e}"),
            Self::Sheet { path, source } => {
                write!(f, "{}: cannot write the sheet: {source}", path.display())
            }
            Self::Store(e) => write!(f, "{e}"),
            Self::Print(e) => write!(f, "stored, but printing the codes failed: {e}"),
            Self::Exists { remaining, total } => write!(
                f,
                "has a set already ({remaining} of {total} codes left); nothing changed (--replace replaces it)"
            ),
        }
    }
}

impl std::error::Error for ProvisionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Generate(e) => Some(e),
            Self::Encrypt(e) => Some(e),
            Self::Sheet { source, .. } | Self::Print(source) => Some(source),
            Self::Store(e) => Some(e),
            Self::Exists { .. } => None,
        }
    }
}

/// The sheet of `user`'s new set.
fn sheet_of<'a>(
    user: &'a pam_backup_codes::username::UserName,
    host: &'a str,
    args: &'a Args,
    prompt: &'a str,
) -> Sheet<'a> {
    Sheet {
        user,
        host,
        format: args.format,
        label: args.label.as_deref(),
        prompt,
        expires: None,
    }
}

/// A new set and its sheet, made on a worker thread.
struct Prepared {
    set: CodeSet,
    /// How many codes the sheet holds.
    count: usize,
    /// The plain sheet, or with encryption the age file.
    bytes: Zeroizing<Vec<u8>>,
    /// The sheet's file name in an output directory.
    file_name: String,
    /// What encryption skipped (keys of the user's it could not use).
    notes: Vec<String>,
}

/// Renders the sheet of a generated set and, with `encryption`, encrypts it
/// to the user. The plain codes are dropped (and zeroised) here.
fn prepare(
    sheet: &Sheet<'_>,
    encryption: Option<&Encryption>,
    generated: Result<(CodeSet, Vec<PlainCode>), GenerateError>,
) -> Result<Prepared, ProvisionError> {
    let (set, codes) = generated.map_err(ProvisionError::Generate)?;
    let plain = sheet.render(&set, &codes);
    let (bytes, file_name, notes) = match encryption {
        None => (plain, sheet.file_name(), Vec::new()),
        Some(encryption) => {
            let encrypted = encryption
                .encrypt(sheet.user.as_str(), &plain)
                .map_err(ProvisionError::Encrypt)?;
            (
                Zeroizing::new(encrypted.bytes),
                format!("{}.age", sheet.user),
                encrypted.notes,
            )
        }
    };
    Ok(Prepared {
        set,
        count: codes.len(),
        bytes,
        file_name,
        notes,
    })
}

/// Writes the sheet (if to a file), stores the set, prints the sheet (if to
/// stdout); returns the notes of encryption.
fn provision(
    store: &Store,
    output: &Output,
    sheet: &Sheet<'_>,
    prepared: Result<Prepared, ProvisionError>,
    replace: bool,
    stdout: &mut impl Write,
) -> Result<Vec<String>, ProvisionError> {
    let Prepared {
        set,
        count,
        bytes: text,
        file_name,
        notes,
    } = prepared?;
    let sheet_path = output.sheet_path(&file_name);
    if let Some(path) = &sheet_path {
        write_private(path, &text).map_err(|source| ProvisionError::Sheet {
            path: path.clone(),
            source,
        })?;
    }
    // Under the store's lock: a set that appeared since the check before
    // hashing is not replaced without --replace either.
    let mut replaced = false;
    let stored = store
        .edit(sheet.user, |old| match old {
            Some(old) if !replace && old.revoked.is_none() => (
                Edit::Keep,
                Err(ProvisionError::Exists {
                    remaining: old.remaining(),
                    total: old.codes.len(),
                }),
            ),
            old => {
                replaced = old.is_some();
                (Edit::Write(set), Ok(()))
            }
        })
        .map_err(ProvisionError::Store)
        .and_then(|stored| stored);
    if let Err(e) = stored {
        if let Some(path) = &sheet_path {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    authlog::event(
        Record::new(Event::SetGenerated)
            .with(Field::User, sheet.user)
            .with(Field::Count, count)
            .with(Field::Replaced, if replaced { "yes" } else { "no" }),
    );
    match (sheet_path, output) {
        (Some(path), Output::File(_)) => {
            eprintln!("{}: {count} codes written to {}", sheet.user, path.display());
            Ok(notes)
        }
        (Some(_), _) => Ok(notes),
        (None, _) => stdout
            .write_all(&text)
            .and_then(|()| stdout.flush())
            .map(|()| notes)
            .map_err(ProvisionError::Print),
    }
}
