//! Who `generate` is for: names from the arguments and `--users-from`,
//! checked, each given once, in first-listed order.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead};
use std::path::Path;

use pam_backup_codes::username::UserName;

use crate::Problems;
use crate::resolve::{Unknown, resolve};

/// A user name as listed, and where, for messages.
pub(super) struct Listed {
    pub(super) name: String,
    /// `FILE:LINE` for names read with `--users-from`.
    pub(super) place: Option<String>,
}

impl Listed {
    /// A name given on the command line.
    pub(super) fn argument(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            place: None,
        }
    }
}

/// Reads names, one per line; blank lines and `#` comments are skipped.
pub(super) fn read_names(source: &Path) -> io::Result<Vec<Listed>> {
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

/// Parses the listed names and resolves each to its account's canonical
/// name through NSS, as the module does at login (`ALICE` and
/// `alice@corp.example` may be alice); reports invalid names, and names NSS
/// does not know unless `allow_unknown`; notes repeated ones. Returns each
/// user once, in first-listed order.
pub(super) fn validate(listed: &[Listed], allow_unknown: bool, problems: &mut Problems) -> Vec<UserName> {
    let mut users = Vec::new();
    let mut times: HashMap<UserName, usize> = HashMap::new();
    for Listed { name, place } in listed {
        let skip = |problems: &mut Problems, what: &dyn std::fmt::Display| match place {
            Some(place) => problems.report(format_args!("{place}: {name:?}: {what}; skipped")),
            None => problems.report(format_args!("{name:?}: {what}; skipped")),
        };
        let unknown = Unknown::from_flag(allow_unknown, "to enrol it anyway");
        let user = match resolve(name, unknown) {
            Ok(user) => user,
            Err(e) => {
                skip(problems, &e);
                continue;
            }
        };
        let seen = times.entry(user.clone()).or_default();
        *seen += 1;
        if *seen == 1 {
            users.push(user);
        }
    }
    for user in &users {
        if let Some(&n @ 2..) = times.get(user) {
            eprintln!("backup-codes: {user}: listed {n} times, given one set");
        }
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn names_are_checked_and_given_once() {
        let listed: Vec<Listed> = ["bob", "alice", "bad/name", "bob", "carol", "bob"]
            .into_iter()
            .map(Listed::argument)
            .collect();
        let mut problems = Problems::default();
        let users = validate(&listed, true, &mut problems);
        let names: Vec<&str> = users.iter().map(UserName::as_str).collect();
        assert_eq!(names, ["bob", "alice", "carol"]);
        assert_eq!(problems.0, 1, "only the invalid name is a problem");
    }

    #[test]
    fn names_nss_does_not_know_are_refused_unless_allowed() {
        let listed: Vec<Listed> = ["root", "no-such-user-pbc-test"]
            .into_iter()
            .map(Listed::argument)
            .collect();
        let mut problems = Problems::default();
        let users = validate(&listed, false, &mut problems);
        let names: Vec<&str> = users.iter().map(UserName::as_str).collect();
        assert_eq!((names, problems.0), (vec!["root"], 1));
    }
}
