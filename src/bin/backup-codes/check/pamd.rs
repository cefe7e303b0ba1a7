//! Reading /etc/pam.d as libpam does: logical lines, words, control values,
//! and a service's `auth` stack with `include`, `@include` and `substack`
//! followed.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// The module's file name, however the line names its directory.
pub(crate) const MODULE: &str = "pam_backup_codes.so";

/// What libpam does after a module returned (pam.conf(5), "actions").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// No effect on the stack's result.
    Ignore,
    /// The result is failure; the stack goes on.
    Bad,
    /// The result is failure; the stack ends.
    Die,
    /// The result is this module's, unless an earlier one failed.
    Ok,
    /// As `ok`, then the stack ends (unless an earlier module failed).
    Done,
    /// Forget the result so far.
    Reset,
    /// Skip the next N lines (of this stack, includes counted line by line).
    Jump(usize),
}

/// A line's control: the action for each return value it names, and for
/// the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Control {
    /// Return value name (`success`, `ignore`, `auth_err`, ...) to action.
    pub(crate) values: BTreeMap<String, Action>,
    /// For every value not named (`default=`; `bad` if not given).
    pub(crate) default: Action,
}

impl Control {
    /// Parses a control field: a keyword or the inside of `[...]`; None if
    /// libpam would not understand it.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let simple = |pairs: &[(&str, Action)], default| Control {
            values: pairs.iter().map(|(k, a)| ((*k).to_owned(), *a)).collect(),
            default,
        };
        Some(match text.to_ascii_lowercase().as_str() {
            "required" => simple(
                &[
                    ("success", Action::Ok),
                    ("new_authtok_reqd", Action::Ok),
                    ("ignore", Action::Ignore),
                ],
                Action::Bad,
            ),
            "requisite" => simple(
                &[
                    ("success", Action::Ok),
                    ("new_authtok_reqd", Action::Ok),
                    ("ignore", Action::Ignore),
                ],
                Action::Die,
            ),
            "sufficient" => simple(
                &[("success", Action::Done), ("new_authtok_reqd", Action::Done)],
                Action::Ignore,
            ),
            "optional" => simple(
                &[("success", Action::Ok), ("new_authtok_reqd", Action::Ok)],
                Action::Ignore,
            ),
            _ if text.contains('=') => {
                let mut control = simple(&[], Action::Bad);
                for pair in text.split_whitespace() {
                    let (value, action) = pair.split_once('=')?;
                    let action = match action.to_ascii_lowercase().as_str() {
                        "ignore" => Action::Ignore,
                        "bad" => Action::Bad,
                        "die" => Action::Die,
                        "ok" => Action::Ok,
                        "done" => Action::Done,
                        "reset" => Action::Reset,
                        n => Action::Jump(n.parse().ok().filter(|n| *n > 0)?),
                    };
                    let value = value.to_ascii_lowercase();
                    if value == "default" {
                        control.default = action;
                    } else {
                        control.values.insert(value, action);
                    }
                }
                control
            }
            _ => return None,
        })
    }

    /// The action for the return value `value`.
    pub(crate) fn action(&self, value: &str) -> Action {
        self.values.get(value).copied().unwrap_or(self.default)
    }
}

/// One entry of an auth stack, includes already inlined.
#[derive(Clone, Debug)]
pub(crate) enum Entry {
    /// A module line.
    Module {
        /// Its control.
        control: Control,
        /// The module's file name (`pam_unix.so`).
        module: String,
        /// Its arguments.
        args: Vec<String>,
        /// A `-auth` line: skipped if the module is not installed.
        optional_load: bool,
    },
    /// `auth substack NAME`: runs as one entry, as if `required`; `done`
    /// and `die` inside end only the substack.
    Substack(Vec<Entry>),
    /// A line libpam cannot use (unknown control, missing include): it
    /// fails the whole stack.
    Broken {
        /// Where it is.
        place: String,
        /// Why.
        reason: String,
    },
}

impl Entry {
    /// Every module line, substacks included, in order.
    pub(crate) fn modules<'a>(entries: &'a [Entry], out: &mut Vec<&'a Entry>) {
        for entry in entries {
            match entry {
                Entry::Module { .. } => out.push(entry),
                Entry::Substack(inner) => Self::modules(inner, out),
                Entry::Broken { .. } => {}
            }
        }
    }
}

/// The auth stack of the service `name` in `dir`, as libpam assembles it.
pub(crate) fn auth_stack(dir: &Path, name: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    read_into(dir, name, 0, &mut entries);
    entries
}

/// libpam's include depth is much smaller; this only ends loops.
const MAX_DEPTH: u32 = 16;

fn read_into(dir: &Path, name: &str, depth: u32, entries: &mut Vec<Entry>) {
    let file = dir.join(name);
    let broken = |reason: String| Entry::Broken {
        place: file.display().to_string(),
        reason,
    };
    if depth > MAX_DEPTH {
        entries.push(broken("includes nest too deep (a loop?)".into()));
        return;
    }
    let text = match fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) => return entries.push(broken(format!("cannot read: {e}"))),
    };
    for (number, words) in logical_lines(&text) {
        let place = format!("{}:{number}", file.display());
        if words[0] == "@include" {
            match words.get(1) {
                Some(included) => read_into(dir, included, depth + 1, entries),
                None => entries.push(Entry::Broken {
                    place,
                    reason: "@include without a file".into(),
                }),
            }
            continue;
        }
        if !is_auth(&words) {
            continue;
        }
        match words[1].to_ascii_lowercase().as_str() {
            "include" => read_into(dir, &words[2], depth + 1, entries),
            "substack" => {
                let mut inner = Vec::new();
                read_into(dir, &words[2], depth + 1, &mut inner);
                entries.push(Entry::Substack(inner));
            }
            control => match Control::parse(control) {
                Some(control) => entries.push(Entry::Module {
                    control,
                    module: module_name(&words[2]),
                    args: words[3..].to_vec(),
                    optional_load: words[0].starts_with('-'),
                }),
                None => entries.push(Entry::Broken {
                    place,
                    reason: format!("control {:?} is not one libpam knows", words[1]),
                }),
            },
        }
    }
}

/// The file name of a module path.
fn module_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned())
}

/// The `auth` lines that load the module, as (line number, words): type,
/// control, module path, arguments.
pub(crate) fn module_lines(text: &str) -> Vec<(usize, Vec<String>)> {
    logical_lines(text)
        .into_iter()
        .filter(|(_, words)| is_auth(words) && module_name(&words[2]) == MODULE)
        .collect()
}

fn is_auth(words: &[String]) -> bool {
    words.len() >= 3 && words[0].trim_start_matches('-').eq_ignore_ascii_case("auth")
}

/// Each line of a pam.d file as libpam reads it, as (first line number,
/// words), blank and comment lines left out.
pub(crate) fn logical_lines(text: &str) -> Vec<(usize, Vec<String>)> {
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

/// The groups `pam_succeed_if` lines of the stack test with `ingroup`
/// (`user ingroup G`, `ingroup G1:G2`): whose members a gate sends to the
/// code.
pub(crate) fn ingroup_groups(entries: &[Entry]) -> Vec<String> {
    let mut modules = Vec::new();
    Entry::modules(entries, &mut modules);
    let mut groups = Vec::new();
    for entry in modules {
        let Entry::Module { module, args, .. } = entry else {
            continue;
        };
        if module != "pam_succeed_if.so" {
            continue;
        }
        for pair in args.windows(2) {
            if pair[0] == "ingroup" {
                groups.extend(pair[1].split(':').filter(|g| !g.is_empty()).map(str::to_owned));
            }
        }
    }
    groups.sort();
    groups.dedup();
    groups
}
