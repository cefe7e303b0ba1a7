//! The sheet: one user's plain codes, as printable text or one JSON line,
//! written straight into one zeroised buffer.

use std::io::Write;

use serde::ser::{Serialize, SerializeSeq, Serializer};
use zeroize::Zeroizing;

use crate::args::Format;
use crate::{human_time, rfc3339};
use pam_backup_codes::code::PlainCode;
use pam_backup_codes::codeset::CodeSet;
use pam_backup_codes::username::UserName;

/// Rendering of one user's plain codes.
pub(crate) struct Sheet<'a> {
    pub(crate) user: &'a UserName,
    pub(crate) host: &'a str,
    pub(crate) format: Format,
}

impl Sheet<'_> {
    /// The sheet, written into one zeroised buffer reserved large enough up
    /// front: it never grows, so no copy of a code is left in freed memory.
    pub(crate) fn render(&self, set: &CodeSet, codes: &[PlainCode]) -> Zeroizing<Vec<u8>> {
        let capacity = Self::capacity(self.user.as_str().len() + self.host.len(), codes.len());
        let mut out = Zeroizing::new(Vec::with_capacity(capacity));
        // Writing to a Vec cannot fail, nor can serialising these types.
        let _ = match self.format {
            Format::Json => self.write_json(&mut out, set, codes),
            Format::Text => self.write_text(&mut out, set, codes),
        };
        out
    }

    /// An upper bound of a sheet's size: a code is at most 32 symbols and 7
    /// hyphens, JSON escapes at most six bytes for one, and the fixed text
    /// is well under a kilobyte.
    fn capacity(names: usize, codes: usize) -> usize {
        1024 + 6 * names + codes * 64
    }

    /// A sheet fit to print.
    fn write_text(&self, out: &mut Vec<u8>, set: &CodeSet, codes: &[PlainCode]) -> std::io::Result<()> {
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
    codes: Codes<'a>,
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
                "{{\"user\":\"alice\",\"host\":\"h\\\"1\",\"created\":\"{}\",\"alphabet\":\"{}\",\"length\":{},\"codes\":[{}]}}\n",
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
        for format in [Format::Text, Format::Json] {
            let sheet = Sheet {
                user: &user,
                host: &host,
                format,
            };
            let out = sheet.render(&set, &codes);
            let capacity = Sheet::capacity(UserName::MAX_LEN + 64, 100);
            assert_eq!(out.capacity(), capacity, "{format:?}: the buffer was reallocated");
        }
    }
}
