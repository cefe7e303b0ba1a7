//! The event list people read is the one in the code: docs/events.md, the
//! LOGGING section of pam_backup_codes(8) and the journald catalog are
//! rendered from `pam_backup_codes::audit` and must match it. After changing
//! the table, `PBC_WRITE_EVENT_DOCS=1 cargo test --test events_docs` rewrites
//! the generated parts.
#![cfg(test)]
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use pam_backup_codes::audit::{Event, Source, docs};

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn writing() -> bool {
    std::env::var_os("PBC_WRITE_EVENT_DOCS").is_some()
}

/// Checks (or rewrites) the generated part of `path`.
fn generated_part_is(path: &str, want: &str) {
    let file = repo(path);
    let text = std::fs::read_to_string(&file).unwrap();
    let part = docs::generated_part(&text).unwrap_or_else(|| panic!("{path}: no single generated part"));
    if writing() {
        std::fs::write(&file, text.replacen(part, want, 1)).unwrap();
        return;
    }
    assert_eq!(
        part, want,
        "{path} is not what src/audit says: PBC_WRITE_EVENT_DOCS=1 cargo test --test events_docs"
    );
}

#[test]
fn docs_events_md_lists_the_events_of_the_code() {
    generated_part_is("docs/events.md", &docs::markdown());
    let text = std::fs::read_to_string(repo("docs/events.md")).unwrap();
    for event in Event::ALL {
        let info = event.info();
        assert!(text.contains(&format!("| `{}` |", info.name)), "{}", info.name);
    }
    let design = std::fs::read_to_string(repo("docs/design.md")).unwrap();
    assert!(design.contains("](events.md)"), "design.md links docs/events.md");
}

#[test]
fn the_module_manual_lists_the_module_events() {
    generated_part_is("man/pam_backup_codes.8", &docs::roff_events(Source::Module));
    let page = std::fs::read_to_string(repo("man/pam_backup_codes.8")).unwrap();
    assert!(page.contains(".SH LOGGING") && page.contains("log_success="));
}

/// The catalog's entries: MESSAGE_ID to its text.
fn catalog_entries(text: &str) -> BTreeMap<String, String> {
    let mut entries = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(id) = line.strip_prefix("-- ") {
            if let Some((id, body)) = current.take() {
                assert!(entries.insert(id.clone(), body).is_none(), "{id} twice");
            }
            current = Some((id.trim().to_owned(), String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((id, body)) = current {
        assert!(entries.insert(id.clone(), body).is_none(), "{id} twice");
    }
    entries
}

#[test]
fn the_catalog_has_one_entry_per_event_and_no_other() {
    let path = repo("journald/pam-backup-codes.catalog");
    if writing() {
        std::fs::write(&path, docs::catalog()).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        docs::catalog(),
        "journald/pam-backup-codes.catalog is not what src/audit says"
    );
    let entries = catalog_entries(&text);
    assert_eq!(entries.len(), Event::ALL.len());
    for event in Event::ALL {
        let info = event.info();
        let body = entries
            .get(info.message_id)
            .unwrap_or_else(|| panic!("no catalog entry for {}", info.name));
        for key in ["Subject: ", "Defined-By: ", "Documentation: "] {
            assert_eq!(body.matches(key).count(), 1, "{}: {key}", info.name);
        }
        assert!(body.contains(&format!("event={}", info.name)));
    }
    for id in entries.keys() {
        assert!(
            Event::ALL.iter().any(|e| e.info().message_id == id),
            "catalog entry {id} is no event's"
        );
    }
}

#[test]
fn the_package_installs_the_catalog() {
    let rules = std::fs::read_to_string(repo("debian/rules")).unwrap();
    assert!(
        rules.contains("journald/pam-backup-codes.catalog")
            && rules.contains("/usr/lib/systemd/catalog/pam-backup-codes.catalog"),
        "debian/rules installs the catalog"
    );
}
