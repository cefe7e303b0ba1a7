//! `backup-codes generate`: new sets, hashed on every core, shown once.
//!
//! For each user, in order: the plain codes are written to the sheet (if
//! `--output`), then the store file is replaced atomically, then the codes are
//! printed (if not `--output`). A failure at any step leaves the old set in
//! place and no sheet behind.
//!
//! Bulk runs: every thread of rayon's pool hashes one user at a time while
//! this thread writes the finished sets out in list order, so the cores never
//! wait for the disk. If the codes can no longer be printed (a closed pipe),
//! the run stops there: a set stored but never seen would lock its user out.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use clap::CommandFactory;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::args::{Cli, Format, GenerateArgs as Args};
use super::{Context, Problems, human_time, rfc3339, with_root_hint};
use pam_backup_codes::code::{CodeFormat, PlainCode};
use pam_backup_codes::codeset::{CodeSet, GenerateError};
use pam_backup_codes::kdf::Workspace;
use pam_backup_codes::store::Store;
use pam_backup_codes::username::UserName;

/// Where the plain codes go.
enum Output {
    Stdout,
    File(PathBuf),
    Dir(PathBuf),
}

/// A user name as listed, and where, for messages.
struct Listed {
    name: String,
    /// `FILE:LINE` for names read with `--users-from`.
    place: Option<String>,
}

pub(super) fn run(ctx: &Context, args: Args, problems: &mut Problems) {
    let defaults = &ctx.config.codes;
    let format = CodeFormat::new(
        args.alphabet.unwrap_or(defaults.alphabet),
        args.length.unwrap_or(defaults.length),
    )
    .unwrap_or_else(|e| usage_error(&e.to_string()));
    let count = args.count.unwrap_or(defaults.count);
    if !CodeFormat::COUNTS.contains(&count) {
        usage_error(&pam_backup_codes::code::FormatError::Count(count).to_string());
    }
    let params = defaults.kdf();

    let mut listed: Vec<Listed> = args
        .users
        .iter()
        .map(|name| Listed {
            name: name.clone(),
            place: None,
        })
        .collect();
    if let Some(source) = &args.users_from {
        match read_names(source) {
            Ok(more) => listed.extend(more),
            Err(e) => return problems.report(format_args!("{}: {e}", source.display())),
        }
    }
    let users = validate(&listed, problems);
    if users.is_empty() {
        return;
    }
    let output = match choose_output(args.output.as_deref(), users.len()) {
        Ok(output) => output,
        Err(e) => return problems.report(e),
    };
    let store = match Store::open_or_create(&ctx.store_path) {
        Ok(store) => store,
        Err(e) => return problems.report(with_root_hint(e)),
    };
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "this host".to_owned());
    let mut stdout = io::stdout().lock();
    let progress = progress_bar(users.len());
    let mut stored = 0;
    let handled = for_each_in_order(
        &users,
        Workspace::default,
        |workspace, _| CodeSet::generate_in(workspace, format, count, params, OffsetDateTime::now_utc()),
        |user, generated| {
            let sheet = Sheet {
                user,
                host: &host,
                format: args.format,
            };
            let flow = match provision(&store, &output, &sheet, generated, &mut stdout) {
                Ok(()) => {
                    stored += 1;
                    ControlFlow::Continue(())
                }
                Err(ProvisionError::User(e)) => {
                    progress.suspend(|| {
                        problems.report(format_args!("{user}: {e}; the old set, if any, is unchanged"))
                    });
                    ControlFlow::Continue(())
                }
                Err(ProvisionError::Output(e)) => {
                    progress.suspend(|| problems.report(format_args!("{user}: {e}")));
                    ControlFlow::Break(())
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

/// A progress bar on stderr for `total` users, drawn only when stderr is a
/// terminal and there is more than one user.
fn progress_bar(total: usize) -> ProgressBar {
    if total < 2 {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("[{bar:30}] {pos}/{len} users, {per_sec}, {eta} left")
        .map_or_else(
            |_| ProgressStyle::default_bar(),
            |style| style.progress_chars("#-"),
        );
    ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr()).with_style(style)
}

/// Parses the listed names, reporting invalid ones and noting repeated ones;
/// returns each valid user once, in first-listed order.
fn validate(listed: &[Listed], problems: &mut Problems) -> Vec<UserName> {
    let mut users = Vec::new();
    let mut times: HashMap<UserName, usize> = HashMap::new();
    for Listed { name, place } in listed {
        match name.parse::<UserName>() {
            Ok(user) => {
                let seen = times.entry(user.clone()).or_default();
                *seen += 1;
                if *seen == 1 {
                    users.push(user);
                }
            }
            Err(e) => match place {
                Some(place) => problems.report(format_args!("{place}: {name:?}: {e}; skipped")),
                None => problems.report(format_args!("{name:?}: {e}; skipped")),
            },
        }
    }
    for user in &users {
        if let Some(&n @ 2..) = times.get(user) {
            eprintln!("backup-codes: {user}: listed {n} times, given one set");
        }
    }
    users
}

/// Runs `work` on every item, on every thread of rayon's pool, and hands the
/// results to `sink` on this thread in the items' order as they come in.
/// Stops taking new items once `sink` breaks. Returns how many items `sink`
/// saw. Each worker keeps a state made by `init` (its Argon2id memory).
///
/// Workers take the next item from a shared counter rather than splitting
/// the list, so results arrive nearly in order and few wait to be handed on.
fn for_each_in_order<T: Sync, S, R: Send>(
    items: &[T],
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, &T) -> R + Sync,
    mut sink: impl FnMut(&T, R) -> ControlFlow<()>,
) -> usize {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // Bounded: if the sink is slow (a slow pipe, a slow disk), workers wait.
    let (tx, rx) = mpsc::sync_channel(2 * rayon::current_num_threads());
    std::thread::scope(|scope| {
        let (next, stop, init, work) = (&next, &stop, &init, &work);
        scope.spawn(move || {
            // Inside the spawned thread, so that this thread is free to write.
            rayon::broadcast(|_| {
                let mut state = init();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    if tx.send((i, work(&mut state, item))).is_err() {
                        break;
                    }
                }
            });
        });
        let mut waiting = BTreeMap::new();
        let mut handed = 0;
        for (i, result) in rx {
            waiting.insert(i, result);
            while let Some(result) = waiting.remove(&handed) {
                let flow = sink(&items[handed], result);
                handed += 1;
                if flow.is_break() {
                    stop.store(true, Ordering::Relaxed);
                    return handed;
                }
            }
        }
        handed
    })
}

fn usage_error(message: &str) -> ! {
    Cli::command()
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}

/// Reads names, one per line; blank lines and `#` comments are skipped.
fn read_names(source: &Path) -> io::Result<Vec<Listed>> {
    let (reader, label): (Box<dyn BufRead>, String) = if source == Path::new("-") {
        (Box::new(io::stdin().lock()), "stdin".to_owned())
    } else {
        let file = File::open(source)?;
        (Box::new(io::BufReader::new(file)), source.display().to_string())
    };
    let mut names = Vec::new();
    for (number, line) in reader.lines().enumerate() {
        let line = line?;
        let name = line.split('#').next().unwrap_or("").trim();
        if !name.is_empty() {
            names.push(Listed {
                name: name.to_owned(),
                place: Some(format!("{label}:{}", number + 1)),
            });
        }
    }
    Ok(names)
}

fn choose_output(path: Option<&Path>, users: usize) -> Result<Output, String> {
    let Some(path) = path else {
        return Ok(Output::Stdout);
    };
    if users == 1 && !path.is_dir() {
        return Ok(Output::File(path.to_owned()));
    }
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(Output::Dir(path.to_owned())),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {
            private_dir(path)?;
            Ok(Output::Dir(path.to_owned()))
        }
        Err(e) => Err(format!(
            "{}: cannot create the output directory: {e}",
            path.display()
        )),
    }
}

/// An existing directory for sheets must be ours and closed to others:
/// whoever can write to it can take the sheets away.
fn private_dir(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let euid = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != euid {
        return Err(format!(
            "{}: refused as output directory: not a directory owned by uid {euid}",
            path.display()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{}: refused as output directory: mode {:04o} lets group or others write to it",
            path.display(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// Rendering of one user's plain codes.
struct Sheet<'a> {
    user: &'a UserName,
    host: &'a str,
    format: Format,
}

impl Sheet<'_> {
    /// The sheet, written straight into one zeroised buffer of its final
    /// size: no temporary copy of a code is left behind in freed memory.
    fn render(&self, set: &CodeSet, codes: &[PlainCode]) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(512 + codes.len() * 48));
        // Writing to a String cannot fail.
        let _ = match self.format {
            Format::Json => self.render_json(&mut out, set, codes),
            Format::Text => self.render_text(&mut out, set, codes),
        };
        out
    }

    /// A sheet fit to print.
    fn render_text(&self, out: &mut String, set: &CodeSet, codes: &[PlainCode]) -> std::fmt::Result {
        use std::fmt::Write as _;
        write!(
            out,
            "Backup codes for {} on {}\nGenerated {}. Each code works once; \
             a new set replaces all of these.\n\n",
            self.user,
            self.host,
            human_time(set.created)
        )?;
        for (i, code) in codes.iter().enumerate() {
            writeln!(out, "  {:>3}.  {}", i + 1, code.display().as_str())?;
        }
        out.write_str("\n")
    }

    /// One JSON object on one line. The codes are `[0-9A-Z-]` and need no
    /// escaping; the other strings go through serde_json.
    fn render_json(&self, out: &mut String, set: &CodeSet, codes: &[PlainCode]) -> std::fmt::Result {
        use std::fmt::Write as _;
        let quoted = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
        write!(
            out,
            "{{\"user\":{},\"host\":{},\"created\":{},\"alphabet\":{},\"length\":{},\"codes\":[",
            quoted(self.user.as_str()),
            quoted(self.host),
            quoted(&rfc3339(set.created)),
            quoted(&set.alphabet.to_string()),
            set.length
        )?;
        for (i, code) in codes.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(out, "{sep}\"{}\"", code.display().as_str())?;
        }
        out.write_str("]}\n")
    }

    fn file_name(&self) -> String {
        match self.format {
            Format::Json => format!("{}.json", self.user),
            Format::Text => format!("{}.txt", self.user),
        }
    }
}

/// Why a user was not provisioned.
enum ProvisionError {
    /// This user only; the old set is unchanged and the run goes on.
    User(String),
    /// The set was stored but its codes could not be printed: stop the run.
    Output(String),
}

fn provision(
    store: &Store,
    output: &Output,
    sheet: &Sheet<'_>,
    generated: Result<(CodeSet, Vec<PlainCode>), GenerateError>,
    stdout: &mut impl Write,
) -> Result<(), ProvisionError> {
    let (set, codes) = generated.map_err(|e| ProvisionError::User(e.to_string()))?;
    let text = sheet.render(&set, &codes);
    let sheet_path = match output {
        Output::Stdout => None,
        Output::File(path) => Some(path.clone()),
        Output::Dir(dir) => Some(dir.join(sheet.file_name())),
    };
    if let Some(path) = &sheet_path {
        write_private(path, text.as_bytes())
            .map_err(|e| ProvisionError::User(format!("{}: cannot write the sheet: {e}", path.display())))?;
    }
    let stored = store.put(sheet.user, set);
    if let Err(e) = stored {
        if let Some(path) = &sheet_path {
            let _ = std::fs::remove_file(path);
        }
        return Err(ProvisionError::User(e.to_string()));
    }
    match (sheet_path, output) {
        (Some(path), Output::File(_)) => {
            eprintln!(
                "{}: {} codes written to {}",
                sheet.user,
                codes.len(),
                path.display()
            );
            Ok(())
        }
        (Some(_), _) => Ok(()),
        (None, _) => stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| ProvisionError::Output(format!("stored, but printing the codes failed: {e}"))),
    }
}

/// Creates a new 0600 file (never following or replacing anything) and syncs it.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if written.is_err() {
        // Never leave half a sheet behind.
        let _ = std::fs::remove_file(path);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use pam_backup_codes::kdf::KdfParams;

    #[test]
    fn names_file_skips_blanks_and_comments() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), "alice\n\n  bob  # the builder\n# carol\n\t\n").unwrap();
        let listed = read_names(tmp.path()).unwrap();
        let names: Vec<&str> = listed.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
        let place = format!("{}:3", tmp.path().display());
        assert_eq!(listed[1].place.as_deref(), Some(place.as_str()));
    }

    #[test]
    fn results_are_handed_on_in_order() {
        let items: Vec<u64> = (0..500).collect();
        let mut seen = Vec::new();
        let handed = for_each_in_order(
            &items,
            || (),
            |(), &i| {
                // Uneven work, so that results finish out of order.
                std::thread::sleep(std::time::Duration::from_micros((i * 7919) % 500));
                i * 2
            },
            |&item, result| {
                assert_eq!(result, item * 2);
                seen.push(item);
                ControlFlow::Continue(())
            },
        );
        assert_eq!(handed, 500);
        assert_eq!(seen, items);
    }

    #[test]
    fn a_break_stops_the_work() {
        let items: Vec<u32> = (0..10_000).collect();
        let worked = AtomicUsize::new(0);
        let handed = for_each_in_order(
            &items,
            || (),
            |(), _| {
                worked.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(1));
            },
            |&item, ()| {
                if item == 9 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        assert_eq!(handed, 10);
        // Past the break, only what was queued or in flight was worked on:
        // a few items per thread, unless a stalled worker let others run
        // ahead. Without the stop, all 10,000 (10 s of work) would be.
        let worked = worked.into_inner();
        assert!(worked < 1_000, "{worked} items worked on after a break at 10");
    }

    #[test]
    fn names_are_checked_and_given_once() {
        let listed: Vec<Listed> = ["bob", "alice", "bad/name", "bob", "carol", "bob"]
            .iter()
            .map(|name| Listed {
                name: (*name).to_owned(),
                place: None,
            })
            .collect();
        let mut problems = Problems::default();
        let users = validate(&listed, &mut problems);
        let names: Vec<&str> = users.iter().map(UserName::as_str).collect();
        assert_eq!(names, ["bob", "alice", "carol"]);
        assert_eq!(problems.0, 1, "only the invalid name is a problem");
    }

    #[test]
    fn sheets_hold_every_code() {
        let (set, codes) = CodeSet::generate(
            CodeFormat::DEFAULT,
            3,
            KdfParams::default(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let user: UserName = "alice".parse().unwrap();
        for format in [Format::Text, Format::Json] {
            let text = Sheet {
                user: &user,
                host: "h",
                format,
            }
            .render(&set, &codes);
            for code in &codes {
                assert!(text.contains(code.display().as_str()));
            }
        }
    }
}
