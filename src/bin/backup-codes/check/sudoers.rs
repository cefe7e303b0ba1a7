//! sudo's choice of PAM service, read (never changed) from sudoers:
//! `Defaults[:USERS] pam_service=NAME` for `sudo CMD` and
//! `pam_login_service=NAME` for `sudo -i`, with `@include`/`#include` and
//! `@includedir`/`#includedir` followed as sudo does.

use std::fs;
use std::path::{Path, PathBuf};

/// One `Defaults` setting of a PAM service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Routing {
    /// Where it is: FILE:LINE.
    pub(crate) place: String,
    /// Whom it applies to: the list after `Defaults:`, or "" for everyone.
    pub(crate) users: String,
    /// `pam_service` or `pam_login_service`.
    pub(crate) setting: String,
    /// The service named.
    pub(crate) service: String,
}

/// A sudoers file that could not be read.
#[derive(Debug)]
pub(crate) struct Unreadable {
    /// The file.
    pub(crate) path: PathBuf,
    /// Why.
    pub(crate) source: std::io::Error,
}

/// Every PAM service setting in `sudoers` and the files it includes;
/// files that cannot be read are returned beside them.
pub(crate) fn routings(sudoers: &Path) -> (Vec<Routing>, Vec<Unreadable>) {
    let mut found = (Vec::new(), Vec::new());
    read(sudoers, 0, &mut found);
    found
}

fn read(path: &Path, depth: u32, found: &mut (Vec<Routing>, Vec<Unreadable>)) {
    // sudo stops at 128; this only ends loops.
    if depth > 16 {
        return;
    }
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(source) => {
            return found.1.push(Unreadable {
                path: path.to_owned(),
                source,
            });
        }
    };
    let base = path.parent().unwrap_or(Path::new("/"));
    let mut logical = String::new();
    let mut first = 0;
    for (index, line) in text.lines().enumerate() {
        if logical.is_empty() {
            first = index + 1;
        }
        if let Some(part) = line.strip_suffix('\\') {
            logical.push_str(part);
            continue;
        }
        logical.push_str(line);
        let line = std::mem::take(&mut logical);
        let line = line.trim();
        let mut words = line.split_whitespace();
        match words.next() {
            Some("@include" | "#include") => {
                if let Some(file) = words.next() {
                    read(&base.join(file), depth + 1, found);
                }
            }
            Some("@includedir" | "#includedir") => {
                if let Some(dir) = words.next() {
                    read_dir(&base.join(dir), depth, found);
                }
            }
            Some(word) if word == "Defaults" || word.starts_with("Defaults:") => {
                let place = format!("{}:{first}", path.display());
                let users = word.strip_prefix("Defaults:").unwrap_or_default();
                let rest = line[word.len()..].split('#').next().unwrap_or_default();
                for setting in rest.split(',') {
                    let Some((key, value)) = setting.split_once('=') else {
                        continue;
                    };
                    let key = key.trim();
                    if key == "pam_service" || key == "pam_login_service" {
                        found.0.push(Routing {
                            place: place.clone(),
                            users: users.to_owned(),
                            setting: key.to_owned(),
                            service: value.trim().trim_matches('"').to_owned(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
}

/// The files sudo reads from an include directory: sorted, none with a `.`
/// in its name or ending in `~`.
fn read_dir(dir: &Path, depth: u32, found: &mut (Vec<Routing>, Vec<Unreadable>)) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(source) => {
            return found.1.push(Unreadable {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            !name.contains('.') && !name.ends_with('~')
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for file in files {
        read(&file, depth + 1, found);
    }
}
