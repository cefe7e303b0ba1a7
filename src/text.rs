//! Text that comes from outside (the PAM application, the client, an admin's
//! arguments) made fit to be recorded, logged or shown on a terminal. One
//! place, so that the module and the CLI escape and cut alike.

/// The longest service or remote host name recorded with a use, in bytes.
pub const MAX_FIELD_LEN: usize = 255;

/// `text` cut to at most [`MAX_FIELD_LEN`] bytes, at a character boundary,
/// so that what is recorded with a use is always accepted when read back.
pub fn clip_field(text: &str) -> String {
    let mut end = text.len().min(MAX_FIELD_LEN);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_owned()
}

/// `text` with every [`is_deceptive`] character escaped (`\n`, `\u{1b}`,
/// `\u{202e}`, …).
pub fn escape_deceptive(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_deceptive(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that must not reach a log or a terminal as they are: controls
/// (line breaks, escape sequences), line and paragraph separators, and the
/// bidirectional overrides and isolates that make text display in another
/// order than it reads ("Trojan Source").
pub fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{061c}' | '\u{200e}' | '\u{200f}' // bidi marks
            | '\u{202a}'..='\u{202e}' // bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}' // bidi isolates
        )
}

/// Documentation text (Markdown code spans allowed) as roff for a manual
/// page: code spans in bold, `-` and `\` escaped.
pub fn roff(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        let part = part.replace('\\', "\\e").replace('-', "\\-");
        if i % 2 == 1 {
            out += &format!("\\fB{part}\\fR");
        } else {
            out += &part;
        }
    }
    out
}
