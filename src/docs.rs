//! The parts of the documentation written from data: the OPTIONS and RETURN
//! VALUES sections of `man/pam_backup_codes.8` and the two tables of
//! `docs/design.md` and of `docs/admin-guide.md`, from [`crate::config::options`] and
//! [`crate::results`]. `cargo run --example mangen -- --docs` writes them;
//! `tests/docs.rs` fails while a file differs from what these return.

use crate::config::options::{man_options, markdown_options};
use crate::results::{man_results, markdown_results};

/// What renders a file's generated parts from its current text.
pub type Render = fn(&str) -> String;

/// Each file with generated parts (relative to the source tree) and its
/// renderer.
pub const FILES: [(&str, Render); 3] = [
    ("man/pam_backup_codes.8", module_man_page),
    ("docs/design.md", design),
    ("docs/admin-guide.md", admin_guide),
];

/// The manual page `page` with its OPTIONS and RETURN VALUES sections
/// rendered from the tables.
pub fn module_man_page(page: &str) -> String {
    let page = replace_man_section(page, ".SH OPTIONS\n", &man_options());
    replace_man_section(&page, ".SH \"RETURN VALUES\"\n", &man_results())
}

/// `docs/design.md` with the tables under "## Module options" and
/// "## Result codes" rendered from the tables.
pub fn design(text: &str) -> String {
    let text = replace_markdown_table(text, "## Module options\n", &markdown_options());
    replace_markdown_table(&text, "## Result codes\n", &markdown_results())
}

/// `docs/admin-guide.md` with the tables under "### Options" and
/// "### Results" rendered from the tables (the administrator's copy, so
/// that no hand copy can drift).
pub fn admin_guide(text: &str) -> String {
    let text = replace_markdown_table(text, "### Options\n", &markdown_options());
    replace_markdown_table(&text, "### Results\n", &markdown_results())
}

/// Replaces the body of the section that starts with `heading` (up to the
/// next `.SH`); the page is returned as it is without that heading.
fn replace_man_section(page: &str, heading: &str, body: &str) -> String {
    let Some(start) = page.find(heading).map(|i| i + heading.len()) else {
        return page.to_owned();
    };
    let end = page
        .get(start..)
        .and_then(|rest| rest.find("\n.SH ").map(|i| start + i + 1))
        .unwrap_or(page.len());
    format!("{}{body}{}", &page[..start], &page[end..])
}

/// Replaces the first Markdown table after `heading`.
fn replace_markdown_table(text: &str, heading: &str, table: &str) -> String {
    let Some(after) = text.find(heading).map(|i| i + heading.len()) else {
        return text.to_owned();
    };
    let Some(start) = text[after..].find("\n| ").map(|i| after + i + 1) else {
        return text.to_owned();
    };
    let mut end = start;
    for line in text[start..].split_inclusive('\n') {
        if !line.starts_with('|') {
            break;
        }
        end += line.len();
    }
    format!("{}{table}{}", &text[..start], &text[end..])
}
