//! The event table rendered for people: Markdown for docs/events.md, roff
//! for the manual pages and the journald message catalog. The shipped copies
//! are checked against these by tests, so the list cannot drift.

use std::fmt::Write as _;

use super::{Event, Field, Source, common_fields};

/// The line before the generated part of a Markdown or roff document.
pub const BEGIN: &str = "events:begin (generated from src/audit; do not edit by hand)";
/// The line after it.
pub const END: &str = "events:end";

fn events_of(source: Source) -> impl Iterator<Item = &'static super::Info> {
    Event::ALL
        .iter()
        .map(|e| e.info())
        .filter(move |i| i.source == source)
}

fn field_list(fields: &[Field]) -> String {
    fields.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
}

/// The Markdown tables of docs/events.md (events of both sources, then the
/// fields), between the marker comments.
pub fn markdown() -> String {
    let mut out = format!("<!-- {BEGIN} -->\n");
    for (source, title) in [
        (
            Source::Module,
            "Module events (logged under the host program: sshd, sudo, login)",
        ),
        (Source::Command, "Command events (logged as backup-codes[PID])"),
    ] {
        let _ = write!(
            out,
            "\n### {title}\n\nEvery line also carries, when known: {}.\n\n\
             | event | severity | MESSAGE_ID | fields | meaning |\n| --- | --- | --- | --- | --- |\n",
            field_list(common_fields(source))
        );
        for info in events_of(source) {
            let _ = writeln!(
                out,
                "| `{}` | {} | `{}` | {} | {} |",
                info.name,
                info.severity.name(),
                info.message_id,
                field_list(info.fields),
                info.description
            );
        }
    }
    out.push_str("\n### Fields\n\n| field | journal field | value |\n| --- | --- | --- |\n");
    for field in Field::ALL {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} |",
            field.name(),
            field.name().to_ascii_uppercase(),
            field.meaning()
        );
    }
    let _ = write!(out, "\n<!-- {END} -->\n");
    out
}

/// Escapes text for roff: backslashes, hyphens and a leading dot or quote.
fn roff(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    match text.chars().next() {
        Some('.' | '\'') => format!("\\&{text}"),
        _ => text,
    }
}

/// The roff list of `source`'s events and their fields, between marker
/// comments, for a LOGGING section (pam_backup_codes(8), backup-codes(8)).
pub fn roff_events(source: Source) -> String {
    let mut out = format!(".\\\" {BEGIN}\n");
    let _ = writeln!(
        out,
        ".PP\nEvery line also carries, when known: {}.",
        roff(&field_list(common_fields(source)))
    );
    for info in events_of(source) {
        let _ = writeln!(out, ".TP\n.B {}", roff(info.name));
        let _ = writeln!(
            out,
            "{} ({}; MESSAGE_ID {}).",
            roff(info.subject),
            info.severity.name(),
            info.message_id
        );
        if !info.fields.is_empty() {
            let _ = writeln!(out, "Fields: {}.", roff(&field_list(info.fields)));
        }
    }
    let _ = writeln!(out, ".\\\" {END}");
    out
}

/// The journald message catalog: one entry per event.
pub fn catalog() -> String {
    let mut out = String::from(
        "# journald message catalog of pam-backup-codes, generated from its event table\n\
         # (src/audit); installed in /usr/lib/systemd/catalog/. See journalctl(1) -x.\n",
    );
    for info in Event::ALL.iter().map(|e| e.info()) {
        let page = match info.source {
            Source::Module => "man:pam_backup_codes(8)",
            Source::Command => "man:backup-codes(8)",
        };
        let fields: Vec<String> = common_fields(info.source)
            .iter()
            .chain(info.fields)
            .map(|f| format!("{}=@{}@", f.name(), f.name().to_ascii_uppercase()))
            .collect();
        let _ = write!(
            out,
            "\n-- {}\nSubject: {} (event={})\nDefined-By: pam-backup-codes\nSupport: {page}\n\
             Documentation: {page}\n\n{}\n\n{}\n",
            info.message_id,
            info.subject,
            info.name,
            info.description,
            fields.join(" ")
        );
    }
    out
}

/// The part of `text` between the markers, markers included, if present once.
pub fn generated_part(text: &str) -> Option<&str> {
    let start = text.find(BEGIN)?;
    let start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let end = start + text[start..].find(END)?;
    let end = end + text[end..].find('\n').map_or(text.len() - end, |i| i + 1);
    (text[end..].find(BEGIN).is_none()).then(|| &text[start..end])
}
