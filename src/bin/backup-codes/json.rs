//! `--format json` output of every command but the sheets: one JSON text
//! per line, with the characters a terminal would act on escaped.
//!
//! Commands that report print one JSON array (`status`, `list`); commands
//! that act on users print one object per user per line as they go (JSON
//! Lines: `revoke`, `unlock`, `migrate`); `db init` prints one object. The
//! field names are part of the interface, listed in each command's manual
//! page: add fields, never rename or remove one.

use std::io::Write;

use serde::Serialize;
use zeroize::Zeroizing;

use pam_backup_codes::text::is_deceptive;

/// Prints `value` as one line of JSON on stdout.
pub(crate) fn print_line(value: &impl Serialize) -> std::io::Result<()> {
    let mut out = Zeroizing::new(Vec::new());
    serde_json::to_writer(&mut *out, value)?;
    let mut text = escape(&out);
    text.push('\n');
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// JSON text with every deceptive character escaped as `\uXXXX`: serde_json
/// leaves U+2028 or U+202E as they are, and a terminal shows them raw. They
/// can only stand inside JSON strings, where the escape means the same.
fn escape(json: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(json.len()));
    for c in String::from_utf8_lossy(json).chars() {
        if is_deceptive(c) && !c.is_ascii() {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deceptive_characters_are_escaped_and_the_json_means_the_same() {
        let raw = serde_json::to_vec(&["a\u{2028}b\u{202e}c", "plain é"]).unwrap();
        let text = escape(&raw);
        assert!(
            !text.contains('\u{2028}') && !text.contains('\u{202e}'),
            "{}",
            *text
        );
        let back: Vec<String> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ["a\u{2028}b\u{202e}c", "plain é"]);
    }
}
