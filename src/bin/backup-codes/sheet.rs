//! The sheet: one user's plain codes, as printable text or one JSON line,
//! written straight into one zeroised buffer. `generate`, `renew` and `add`
//! print it.
//!
//! The text sheet fits [`WIDTH`] columns, so it prints on any terminal and
//! any printer: an optional label on top, who and where the codes are for,
//! when they were made (and, for temporary codes, when they stop), where to
//! type one, and a box to tick per code.

use std::io::Write;

use serde::ser::{Serialize, SerializeSeq, Serializer};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::args::Format;
use crate::{human_time, rfc3339};
use pam_backup_codes::code::PlainCode;
use pam_backup_codes::codeset::{CodeNumber, CodeSet};
use pam_backup_codes::username::UserName;

/// The widest line of a text sheet, in columns.
pub(crate) const WIDTH: usize = 72;

/// Rendering of one user's plain codes.
pub(crate) struct Sheet<'a> {
    pub(crate) user: &'a UserName,
    pub(crate) host: &'a str,
    pub(crate) format: Format,
    /// Printed on top (`--label`).
    pub(crate) label: Option<&'a str>,
    /// The prompt the codes are typed at, as configured.
    pub(crate) prompt: &'a str,
    /// The codes are temporary ones that stop working at this instant (`add`).
    pub(crate) expires: Option<OffsetDateTime>,
}

impl Sheet<'_> {
    /// The sheet, written into one zeroised buffer reserved large enough up
    /// front: it never grows, so no copy of a code is left in freed memory.
    pub(crate) fn render(&self, set: &CodeSet, codes: &[PlainCode]) -> Zeroizing<Vec<u8>> {
        let names =
            self.user.as_str().len() + self.host.len() + self.label.map_or(0, str::len) + self.prompt.len();
        let capacity = Self::capacity(names, codes.len());
        let mut out = Zeroizing::new(Vec::with_capacity(capacity));
        // Writing to a Vec cannot fail, nor can serialising these types.
        let _ = match self.format {
            Format::Json => self.write_json(&mut out, set, codes),
            Format::Text => self.write_text(&mut out, set, codes),
        };
        out
    }

    /// An upper bound of a sheet's size: a code is at most 32 symbols and 7
    /// hyphens, JSON escapes at most six bytes for a byte of the names
    /// (user, host, label, prompt), wrapping adds at most one line break per
    /// byte of them, and the fixed text is well under a kilobyte.
    fn capacity(names: usize, codes: usize) -> usize {
        1024 + 6 * names + codes * 64
    }

    /// A sheet fit to print, at most [`WIDTH`] columns wide. Only the codes
    /// are secret: the text around them is composed apart, then copied in.
    fn write_text(&self, out: &mut Vec<u8>, set: &CodeSet, codes: &[PlainCode]) -> std::io::Result<()> {
        // Blocks of paragraphs, a blank line between blocks.
        let mut blocks: Vec<Vec<String>> = Vec::new();
        if let Some(label) = self.label {
            blocks.push(vec![label.to_owned()]);
        }
        let prompt = self.prompt.trim_end();
        blocks.push(match self.expires {
            None => vec![
                format!("Backup codes for {} on {}", self.user, self.host),
                format!(
                    "Generated {}. Each code works once; a new set replaces all of these.",
                    human_time(set.created)
                ),
            ],
            Some(expires) => vec![
                format!("Temporary backup codes for {} on {}", self.user, self.host),
                format!(
                    "Valid until {}. Each code works once; your other codes stay as they are.",
                    human_time(expires)
                ),
            ],
        });
        blocks.push(vec![if set.check_symbol {
            format!(
                "When you log in, type one code at the \"{prompt}\" prompt, its last \
                 symbol too (a check symbol: a typo is caught and not counted; the hyphens \
                 are optional), then tick its box. Keep this sheet safe."
            )
        } else {
            format!(
                "When you log in, type one code at the \"{prompt}\" prompt (the hyphen is \
                 optional), then tick its box. Keep this sheet safe."
            )
        }]);
        for block in &blocks {
            for paragraph in block {
                for line in wrap(paragraph, WIDTH) {
                    writeln!(out, "{line}")?;
                }
            }
            out.write_all(b"\n")?;
        }
        // Numbered as in the set (and as logins log them): added codes
        // continue after the set's.
        let first = first_number(set, codes).get();
        for (i, code) in codes.iter().enumerate() {
            writeln!(out, "  [ ] {:>3}.  {}", first + i, code.display().as_str())?;
        }
        out.write_all(b"\n")
    }

    /// One JSON object on one line (JSON Lines).
    fn write_json(&self, out: &mut Vec<u8>, set: &CodeSet, codes: &[PlainCode]) -> std::io::Result<()> {
        let sheet = JsonSheet {
            user: self.user.as_str(),
            host: self.host,
            created: rfc3339(set.created),
            alphabet: set.alphabet.to_string(),
            length: set.length,
            check_symbol: set.check_symbol,
            expires: self.expires.map(rfc3339),
            label: self.label,
            first_number: first_number(set, codes).get(),
            codes: Codes(codes),
        };
        serde_json::to_writer(&mut *out, &sheet)?;
        out.write_all(b"\n")
    }

    /// The sheet's file name in an output directory.
    pub(crate) fn file_name(&self) -> String {
        match self.format {
            Format::Json => format!("{}.json", self.user),
            Format::Text => format!("{}.txt", self.user),
        }
    }
}

/// The JSON form of a sheet; the fields in this order.
#[derive(serde::Serialize)]
struct JsonSheet<'a> {
    user: &'a str,
    host: &'a str,
    created: String,
    alphabet: String,
    length: usize,
    /// Each code ends with a Crockford check symbol (absent when not).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    check_symbol: bool,
    /// For temporary codes: when they stop working.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'a str>,
    /// The number of the first code (the others follow in order), as the
    /// text sheet and the log's `code_number` count them.
    first_number: usize,
    codes: Codes<'a>,
}

/// The number of the first of `codes`, which are the newest of `set`'s (all
/// of a new set, or the ones `add` appended).
fn first_number(set: &CodeSet, codes: &[PlainCode]) -> CodeNumber {
    CodeNumber::of_index(set.codes.len().saturating_sub(codes.len()))
}

/// The columns `c` takes on a terminal, as Unicode's East Asian Width
/// tables count them (two for wide and fullwidth characters and emoji, none
/// for a combining mark); a control character, never printed raw, counts one.
fn columns(c: char) -> usize {
    unicode_width::UnicodeWidthChar::width(c).unwrap_or(1)
}

/// `text` in lines of at most `width` columns, broken at spaces, and inside
/// a word only when the word alone is wider (a long user or host name).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let word_width: usize = word.chars().map(columns).sum();
        if used > 0 && used + 1 + word_width > width {
            lines.push(std::mem::take(&mut line));
            used = 0;
        }
        if used > 0 {
            line.push(' ');
            used += 1;
        }
        for c in word.chars() {
            if used + columns(c) > width {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            line.push(c);
            used += columns(c);
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The codes as JSON strings, each in its printed form; the printed form
/// lives in a zeroised string only while it is serialised.
struct Codes<'a>(&'a [PlainCode]);

impl Serialize for Codes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for code in self.0 {
            seq.serialize_element(code.display().as_str())?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pam_backup_codes::code::{Alphabet, CodeFormat};
    use pam_backup_codes::kdf::KdfParams;
    use time::OffsetDateTime;

    /// `count` codes of `length` crockford symbols, cheaply hashed.
    fn sample(length: usize, count: usize) -> (CodeSet, Vec<PlainCode>) {
        let format = CodeFormat::new(Alphabet::Crockford, length).unwrap();
        let cheap = KdfParams {
            m_cost: 8192,
            t_cost: 1,
            p_cost: 1,
        };
        CodeSet::generate(format, count, cheap, OffsetDateTime::now_utc()).unwrap()
    }

    #[test]
    fn sheets_hold_every_code() {
        let (set, codes) = sample(10, 3);
        let user: UserName = "alice".parse().unwrap();
        for format in [Format::Text, Format::Json] {
            let text = Sheet {
                user: &user,
                host: "h",
                format,
                label: None,
                prompt: "Backup code: ",
                expires: None,
            }
            .render(&set, &codes);
            let text = String::from_utf8_lossy(&text);
            for code in &codes {
                assert!(text.contains(code.display().as_str()));
            }
        }
    }

    #[test]
    fn the_json_sheet_is_one_line_with_its_fields_in_order() {
        let (set, codes) = sample(10, 3);
        let user: UserName = "alice".parse().unwrap();
        let sheet = Sheet {
            user: &user,
            host: "h\"1",
            format: Format::Json,
            label: None,
            prompt: "Backup code: ",
            expires: None,
        };
        let text = sheet.render(&set, &codes);
        let text = std::str::from_utf8(&text).unwrap();
        let shown: Vec<String> = codes
            .iter()
            .map(|c| format!("{:?}", c.display().as_str()))
            .collect();
        assert_eq!(
            text,
            format!(
                "{{\"user\":\"alice\",\"host\":\"h\\\"1\",\"created\":\"{}\",\"alphabet\":\"{}\",\"length\":{},\"first_number\":1,\"codes\":[{}]}}\n",
                rfc3339(set.created),
                set.alphabet,
                set.length,
                shown.join(",")
            )
        );
    }

    #[test]
    fn the_buffer_never_grows() {
        let (set, codes) = sample(32, 100);
        let user: UserName = "a".repeat(UserName::MAX_LEN).parse().unwrap();
        let host = "\u{7}".repeat(64);
        let label = "\u{2028}".repeat(60);
        let prompt = "\"".repeat(256);
        for format in [Format::Text, Format::Json] {
            let sheet = Sheet {
                user: &user,
                host: &host,
                format,
                label: Some(&label),
                prompt: &prompt,
                expires: Some(OffsetDateTime::now_utc()),
            };
            let out = sheet.render(&set, &codes);
            let capacity = Sheet::capacity(UserName::MAX_LEN + 64 + label.len() + 256, 100);
            assert_eq!(out.capacity(), capacity, "{format:?}: the buffer was reallocated");
        }
    }

    /// Every line of a text sheet, and its width in columns.
    fn widths(sheet: &Sheet<'_>, set: &CodeSet, codes: &[PlainCode]) -> (String, usize) {
        let text = String::from_utf8(sheet.render(set, codes).to_vec()).unwrap();
        let widest = text
            .lines()
            .map(|l| l.chars().map(columns).sum::<usize>())
            .max()
            .unwrap();
        (text, widest)
    }

    #[test]
    fn the_text_sheet_fits_72_columns_with_a_label_a_prompt_and_boxes() {
        // The widest codes there are, the longest names and label.
        let (set, codes) = CodeSet::generate(
            CodeFormat::new(pam_backup_codes::code::Alphabet::Crockford, 32).unwrap(),
            100,
            KdfParams {
                m_cost: 8192,
                t_cost: 1,
                p_cost: 1,
            },
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let long_user: UserName = "b".repeat(UserName::MAX_LEN).parse().unwrap();
        let alice: UserName = "alice".parse().unwrap();
        let host = "h".repeat(64);
        let wide_label = "\u{8a3c}".repeat(crate::args::MAX_LABEL);
        for (user, label, prompt) in [
            (&alice, "Work laptop, drawer 2", "Backup code: "),
            (
                &long_user,
                wide_label.as_str(),
                "Code de secours à usage unique, s'il vous plaît: ",
            ),
        ] {
            let sheet = Sheet {
                user,
                host: &host,
                format: Format::Text,
                label: Some(label),
                prompt,
                expires: None,
            };
            let (text, widest) = widths(&sheet, &set, &codes);
            assert!(widest <= WIDTH, "{widest} columns:\n{text}");
            let first = text.lines().next().unwrap();
            assert!(label.starts_with(first), "the label is on top:\n{text}");
            assert!(
                text.contains(&format!("\"{}\" prompt", prompt.trim_end())) || user == &long_user,
                "{text}"
            );
            let boxes = text.lines().filter(|l| l.starts_with("  [ ] ")).count();
            assert_eq!(boxes, 100, "{text}");
            for code in &codes {
                assert!(text.contains(code.display().as_str()));
            }
        }
        let sheet = Sheet {
            user: &alice,
            host: "h",
            format: Format::Text,
            label: None,
            prompt: "Backup code: ",
            expires: None,
        };
        // The newest code alone (as `add` prints the codes it appended):
        // numbered as in the set.
        let (text, _) = widths(&sheet, &set, &codes[99..]);
        assert!(text.starts_with("Backup codes for alice on h\n"), "{text}");
        assert!(text.contains("at the \"Backup code:\" prompt"), "{text}");
        assert!(
            text.contains(&format!("  [ ] 100.  {}\n", codes[99].display().as_str())),
            "{text}"
        );
        assert_eq!(text.matches("  [ ] ").count(), 1, "{text}");
    }

    #[test]
    fn temporary_codes_say_when_they_stop() {
        let (set, codes) = sample(10, 3);
        let user: UserName = "alice".parse().unwrap();
        let expires = time::macros::datetime!(2026-12-24 18:00 UTC);
        let mut sheet = Sheet {
            user: &user,
            host: "h",
            format: Format::Text,
            label: None,
            prompt: "Backup code: ",
            expires: Some(expires),
        };
        let (text, _) = widths(&sheet, &set, &codes);
        assert!(
            text.starts_with("Temporary backup codes for alice on h\n"),
            "{text}"
        );
        assert!(text.contains("Valid until 2026-12-24 18:00:00 UTC."), "{text}");
        sheet.format = Format::Json;
        let json = sheet.render(&set, &codes);
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["expires"], "2026-12-24T18:00:00Z");
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_inside_overlong_words() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("abcdefgh ij", 3), ["abc", "def", "gh", "ij"]);
        assert_eq!(
            wrap("\u{8a3c}\u{8a3c}\u{8a3c}", 4),
            ["\u{8a3c}\u{8a3c}", "\u{8a3c}"]
        );
        assert_eq!(wrap("", 72), Vec::<String>::new());
    }
}
