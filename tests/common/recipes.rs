//! The recipes as published: read from the files an administrator reads
//! (`pam.d-examples/`, the manual page, README and `docs/`), never
//! restated in a test, and applied to copies of this machine's stock files,
//! which are mounted over the real ones in a private mount namespace that
//! only the test's clients see.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::Lab;

/// A file of the repository, as shipped.
pub fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// `text` for a test: in every line that is not a comment,
/// `pam_backup_codes.so` names the lab's freshly built module with `store=`
/// the lab's store, and each `(from, to)` word is replaced (a group name, a
/// service name). Nothing else changes.
pub fn for_lab(lab: &Lab, text: &str, words: &[(&str, &str)]) -> String {
    let module = format!("{} store={}", lab.module.display(), lab.store.display());
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
        } else {
            let mut line = line.replacen("pam_backup_codes.so", &module, 1);
            for (from, to) in words {
                line = line
                    .split(' ')
                    .map(|w| if w == *from { *to } else { w })
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            out.push_str(&line);
        }
        out.push('\n');
    }
    out
}

/// Where a snippet's lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Before,
    After,
}

/// Lines to add to stock files, as a `pam.d-examples/` snippet says:
/// `# Add to FILE[ and FILE], before|after the line "ANCHOR":` followed by
/// the lines themselves, to the end of the file.
#[derive(Debug, Clone)]
pub struct Snippet {
    pub targets: Vec<PathBuf>,
    pub place: Place,
    pub anchor: String,
    pub lines: String,
}

impl Snippet {
    /// Parses `pam.d-examples/NAME`.
    pub fn example(name: &str) -> Self {
        Self::parse(name, &repo_file(&format!("pam.d-examples/{name}")))
    }

    pub fn parse(name: &str, text: &str) -> Self {
        let mut lines = text.lines();
        let header = lines
            .by_ref()
            .find(|l| l.starts_with("# Add to "))
            .unwrap_or_else(|| panic!("{name}: no '# Add to FILE, ... the line \"...\":' line"));
        let rest = header.strip_prefix("# Add to ").unwrap();
        let (files, where_) = rest
            .split_once(", ")
            .unwrap_or_else(|| panic!("{name}: {header}"));
        let (place, quoted) = if let Some(q) = where_.strip_prefix("before the line ") {
            (Place::Before, q)
        } else if let Some(q) = where_.strip_prefix("after the line ") {
            (Place::After, q)
        } else {
            panic!("{name}: neither before nor after: {header}")
        };
        let anchor = quoted
            .strip_prefix('"')
            .and_then(|q| q.strip_suffix("\":"))
            .unwrap_or_else(|| panic!("{name}: the anchor is not quoted: {header}"));
        let body: Vec<&str> = lines.collect();
        assert!(
            body.iter().any(|l| !l.trim().is_empty()),
            "{name}: no lines to add"
        );
        Self {
            targets: files.split(" and ").map(PathBuf::from).collect(),
            place,
            anchor: anchor.to_owned(),
            lines: body.join("\n") + "\n",
        }
    }

    /// `stock` with `lines` added at the one line that reads like the anchor
    /// (whitespace between words does not matter, as in pam.d).
    pub fn apply(&self, stock: &str, lines: &str) -> String {
        let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
        let anchor = words(&self.anchor);
        let hits = stock.lines().filter(|l| words(l) == anchor).count();
        assert_eq!(hits, 1, "the anchor {anchor:?} must be one line of:\n{stock}");
        let mut out = String::new();
        for line in stock.lines() {
            let here = words(line) == anchor;
            if here && self.place == Place::Before {
                out.push_str(lines);
            }
            out.push_str(line);
            out.push('\n');
            if here && self.place == Place::After {
                out.push_str(lines);
            }
        }
        out
    }

    /// Each target's stock text from this machine with the lines added.
    pub fn applied(&self, lines: &str) -> Vec<(PathBuf, String)> {
        self.targets
            .iter()
            .map(|target| {
                let stock =
                    fs::read_to_string(target).unwrap_or_else(|e| panic!("stock {}: {e}", target.display()));
                (target.clone(), self.apply(&stock, lines))
            })
            .collect()
    }
}

/// The lines of the first comment block shown indented (`#     text`) in
/// the comment that goes on from a line containing `marker`, without the
/// comment prefix.
pub fn indented_block(text: &str, marker: &str) -> String {
    let mut lines = text.lines().skip_while(|l| !l.contains(marker));
    assert!(lines.next().is_some(), "no line with {marker:?}");
    let block: Vec<&str> = lines
        .skip_while(|l| l.starts_with('#') && !l.starts_with("#     "))
        .map_while(|l| l.strip_prefix("#     "))
        .map(str::trim)
        .collect();
    assert!(!block.is_empty(), "nothing indented under {marker:?}");
    block.join("\n") + "\n"
}

/// The fenced block of the document `doc` (a path in the repository, such
/// as `docs/admin-guide.md`) that follows the first line containing
/// `marker`.
pub fn doc_block(doc: &str, marker: &str) -> String {
    let text = repo_file(doc);
    let mut lines = text.lines().skip_while(|l| !l.contains(marker));
    assert!(lines.next().is_some(), "{doc}: no line with {marker:?}");
    let mut lines = lines.skip_while(|l| !l.starts_with("```"));
    assert!(lines.next().is_some(), "{doc}: no block after {marker:?}");
    let block: Vec<&str> = lines.take_while(|l| !l.starts_with("```")).collect();
    block.join("\n") + "\n"
}

/// The example (`.EX` … `.EE`) of pam_backup_codes(8) that follows the first
/// line containing `marker`, as man shows it.
pub fn man_example(marker: &str) -> String {
    let page = repo_file("man/pam_backup_codes.8");
    let mut lines = page.lines().skip_while(|l| !l.contains(marker));
    assert!(
        lines.next().is_some(),
        "pam_backup_codes(8): no line with {marker:?}"
    );
    let mut lines = lines.skip_while(|l| *l != ".EX");
    assert!(
        lines.next().is_some(),
        "pam_backup_codes(8): no .EX after {marker:?}"
    );
    let block: Vec<String> = lines
        .take_while(|l| *l != ".EE")
        .map(|l| l.replace("\\-", "-").replace("\\e", "\\").replace("\\(dq", "\""))
        .collect();
    block.join("\n") + "\n"
}

/// Copies of stock files, bind-mounted over the real ones for the commands
/// made by [`Mounts::command`] only: each runs in a private mount namespace
/// (`unshare -m`), so the rest of the system never sees the change.
pub struct Mounts {
    dir: TempDir,
    binds: Vec<(PathBuf, PathBuf)>,
}

impl Mounts {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pam-backup-codes-etc.")
            .tempdir()
            .unwrap();
        Self {
            dir,
            binds: Vec::new(),
        }
    }

    /// `target` (an existing file) reads as `text`.
    pub fn file(&mut self, target: &Path, text: &str) -> &mut Self {
        let copy = self.dir.path().join(self.binds.len().to_string());
        fs::write(&copy, text).unwrap();
        fs::set_permissions(&copy, fs::Permissions::from_mode(0o644)).unwrap();
        self.binds.push((copy, target.to_owned()));
        self
    }

    /// `target` (an existing directory) holds a copy of its files plus
    /// `files` (name, text).
    pub fn dir(&mut self, target: &Path, files: &[(&str, &str)]) -> &mut Self {
        self.directory(target, true, files)
    }

    /// `target` (an existing directory) holds `files` (name, text) only.
    pub fn only(&mut self, target: &Path, files: &[(&str, &str)]) -> &mut Self {
        self.directory(target, false, files)
    }

    fn directory(&mut self, target: &Path, keep: bool, files: &[(&str, &str)]) -> &mut Self {
        let copy = self.dir.path().join(self.binds.len().to_string());
        fs::create_dir(&copy).unwrap();
        fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
        for entry in fs::read_dir(target).unwrap().filter(|_| keep) {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
            }
        }
        for (name, text) in files {
            fs::write(copy.join(name), text).unwrap();
            fs::set_permissions(copy.join(name), fs::Permissions::from_mode(0o644)).unwrap();
        }
        self.binds.push((copy, target.to_owned()));
        self
    }

    /// `program` in a private mount namespace with every bind in place.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "sh", "-ec"])
            .arg(
                "while [ \"$1\" != -- ]; do mount --bind \"$1\" \"$2\"; shift 2; done\n\
                 shift; exec \"$@\"",
            )
            .arg("sh");
        for (copy, target) in &self.binds {
            cmd.arg(copy).arg(target);
        }
        cmd.arg("--").arg(program);
        cmd
    }
}
