//! `backup-codes generate`: new sets, hashed on every core, shown once.
//!
//! For each user, in order: the plain codes are written to the sheet (if
//! `--output`), then the store file is replaced atomically, then the codes are
//! printed (if not `--output`). A failure at any step leaves the old set in
//! place and no sheet behind.

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use rayon::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{Cli, Context, Format, Problems, human_time, parse_users, rfc3339, with_root_hint};
use crate::code::{Alphabet, CodeFormat, PlainCode};
use crate::codeset::{CodeSet, GenerateError};
use crate::store::Store;
use crate::username::UserName;

/// Users hashed in parallel before their results are written out.
const BATCH: usize = 64;

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Users to generate codes for
    #[arg(required_unless_present = "users_from")]
    users: Vec<String>,
    /// Also read user names, one per line, from FILE ('-' for stdin; '#' starts a comment)
    #[arg(long, value_name = "FILE|-")]
    users_from: Option<PathBuf>,
    /// Codes per set (1..=100) [default: 10, or the config file's]
    #[arg(long)]
    count: Option<usize>,
    /// Symbols per code (crockford 8..=32, digits 8..=20) [default: 10, or the config file's]
    #[arg(long)]
    length: Option<usize>,
    /// Alphabet: crockford or digits [default: crockford, or the config file's]
    #[arg(long)]
    alphabet: Option<Alphabet>,
    /// Output format: a printable sheet, or one JSON object per user per line
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the codes to this 0600 file (one user) or into this directory, one 0600 sheet per user
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
}

/// Where the plain codes go.
enum Output {
    Stdout,
    File(PathBuf),
    Dir(PathBuf),
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
        usage_error(&crate::code::FormatError::Count(count).to_string());
    }
    let params = defaults.kdf();

    let mut names = args.users.clone();
    if let Some(source) = &args.users_from {
        match read_names(source) {
            Ok(more) => names.extend(more),
            Err(e) => return problems.report(format_args!("{}: {e}", source.display())),
        }
    }
    let users = parse_users(&names, problems);
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
    for batch in users.chunks(BATCH) {
        let sets: Vec<_> = batch
            .par_iter()
            .map(|_| CodeSet::generate(format, count, params, OffsetDateTime::now_utc()))
            .collect();
        for (user, result) in batch.iter().zip(sets) {
            let sheet = Sheet {
                user,
                host: &host,
                format: args.format,
            };
            if let Err(e) = provision(&store, &output, &sheet, result, &mut stdout) {
                problems.report(format_args!("{user}: {e}; the old set, if any, is unchanged"));
            }
        }
    }
}

fn usage_error(message: &str) -> ! {
    Cli::command()
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}

fn read_names(source: &Path) -> io::Result<Vec<String>> {
    let reader: Box<dyn BufRead> = if source == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        Box::new(io::BufReader::new(File::open(source)?))
    };
    let mut names = Vec::new();
    for line in reader.lines() {
        let line = line?;
        let name = line.split('#').next().unwrap_or("").trim();
        if !name.is_empty() {
            names.push(name.to_owned());
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
            Ok(Output::Dir(path.to_owned()))
        }
        Err(e) => Err(format!(
            "{}: cannot create the output directory: {e}",
            path.display()
        )),
    }
}

/// Rendering of one user's plain codes.
struct Sheet<'a> {
    user: &'a UserName,
    host: &'a str,
    format: Format,
}

impl Sheet<'_> {
    fn render(&self, set: &CodeSet, codes: &[PlainCode]) -> Zeroizing<String> {
        let shown: Vec<Zeroizing<String>> = codes.iter().map(PlainCode::display).collect();
        match self.format {
            Format::Json => {
                let list: Vec<&str> = shown.iter().map(|c| c.as_str()).collect();
                let mut line = Zeroizing::new(
                    json!({
                        "user": self.user.as_str(),
                        "host": self.host,
                        "created": rfc3339(set.created),
                        "alphabet": set.alphabet.to_string(),
                        "length": set.length,
                        "codes": list,
                    })
                    .to_string(),
                );
                line.push('\n');
                line
            }
            Format::Text => {
                let mut text = Zeroizing::new(format!(
                    "Backup codes for {} on {}\nGenerated {}. Each code works once; \
                     a new set replaces all of these.\n\n",
                    self.user,
                    self.host,
                    human_time(set.created)
                ));
                for (i, code) in shown.iter().enumerate() {
                    text.push_str(&format!("  {:>3}.  {}\n", i + 1, code.as_str()));
                }
                text.push('\n');
                text
            }
        }
    }

    fn file_name(&self) -> String {
        match self.format {
            Format::Json => format!("{}.json", self.user),
            Format::Text => format!("{}.txt", self.user),
        }
    }
}

fn provision(
    store: &Store,
    output: &Output,
    sheet: &Sheet<'_>,
    generated: Result<(CodeSet, Vec<PlainCode>), GenerateError>,
    stdout: &mut impl Write,
) -> Result<(), String> {
    let (set, codes) = generated.map_err(|e| e.to_string())?;
    let text = sheet.render(&set, &codes);
    let sheet_path = match output {
        Output::Stdout => None,
        Output::File(path) => Some(path.clone()),
        Output::Dir(dir) => Some(dir.join(sheet.file_name())),
    };
    if let Some(path) = &sheet_path {
        write_private(path, text.as_bytes())
            .map_err(|e| format!("{}: cannot write the sheet: {e}", path.display()))?;
    }
    let stored = store
        .lock()
        .and_then(|lock| lock.write(sheet.user, &set))
        .map_err(|e| e.to_string());
    if let Err(e) = stored {
        if let Some(path) = &sheet_path {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    match sheet_path {
        Some(path) => {
            eprintln!(
                "{}: {} codes written to {}",
                sheet.user,
                codes.len(),
                path.display()
            );
            Ok(())
        }
        None => stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("stored, but printing failed: {e}")),
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
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdf::KdfParams;

    #[test]
    fn names_file_skips_blanks_and_comments() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), "alice\n\n  bob  # the builder\n# carol\n").unwrap();
        assert_eq!(read_names(tmp.path()).unwrap(), vec!["alice", "bob"]);
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
