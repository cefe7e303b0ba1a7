//! What the documentation promises about the project itself, checked
//! against the files that do it: README's table of what each make target
//! installs is `tools/deps.sh`'s, the documentation the Debian package
//! ships speaks to administrators, not to developers, and the links between
//! the documents lead somewhere.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::collections::BTreeSet;

use common::recipes::{doc_block, repo_file};

/// The packages of one group of `tools/deps.sh` (`BUILD="..."`).
fn deps_group(name: &str) -> BTreeSet<String> {
    let script = repo_file("tools/deps.sh");
    let start = script
        .find(&format!("\n{name}=\""))
        .unwrap_or_else(|| panic!("tools/deps.sh: no {name}="));
    let rest = &script[start + name.len() + 3..];
    let end = rest.find('"').unwrap();
    rest[..end].split_whitespace().map(str::to_owned).collect()
}

/// The packages README's table lists for the row naming `target`: every
/// code span of the row's second cell.
fn readme_row(target: &str) -> BTreeSet<String> {
    let readme = repo_file("README.md");
    let row = readme
        .lines()
        .find(|l| l.starts_with("| ") && l.split('|').nth(1).is_some_and(|c| c.contains(target)))
        .unwrap_or_else(|| panic!("README: no row for {target}"));
    let cell = row.split('|').nth(2).unwrap();
    cell.split('`')
        .skip(1)
        .step_by(2)
        .flat_map(str::split_whitespace)
        .map(str::to_owned)
        .collect()
}

#[test]
fn readme_says_exactly_what_each_target_installs() {
    let build = deps_group("BUILD");
    let test = deps_group("TEST");
    let deb = deps_group("DEB");
    assert_eq!(
        readme_row("`make demo`"),
        build,
        "make demo: the build group only"
    );
    let mut deb_row = readme_row("`make deb`");
    deb_row.extend(build.iter().cloned());
    assert_eq!(deb_row, &build | &deb, "make deb: build and deb");
    let mut test_row = readme_row("`make test`");
    test_row.extend(build.iter().cloned());
    test_row.extend(deb.iter().cloned());
    assert_eq!(test_row, &(&build | &deb) | &test, "make test: every group");
    // And the Makefile asks for those groups.
    let makefile = repo_file("Makefile");
    assert!(
        makefile.contains("demo: deps\n"),
        "make demo needs only `deps` (build)"
    );
    assert!(makefile.contains("deps:\n\t@sh tools/deps.sh build\n"));
}

#[test]
fn packaged_docs_speak_to_administrators() {
    let listed = repo_file("debian/libpam-backup-codes.docs");
    let listed: Vec<&str> = listed.split_whitespace().collect();
    assert!(
        !listed.contains(&"README.md"),
        "the developer README (make test, benchmarks) is not shipped"
    );
    for guide in ["docs/admin-guide.md", "docs/fleet.md"] {
        assert!(listed.contains(&guide), "the package ships {guide}");
    }
    let mut shipped: Vec<(String, String)> = listed
        .iter()
        .map(|name| ((*name).to_owned(), repo_file(name)))
        .collect();
    shipped.push((
        "debian/README.Debian".to_owned(),
        repo_file("debian/README.Debian"),
    ));
    for entry in
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pam.d-examples")).unwrap()
    {
        let name = format!("pam.d-examples/{}", entry.unwrap().file_name().to_string_lossy());
        let text = repo_file(&name);
        shipped.push((name, text));
    }
    shipped.push((
        "man/pam_backup_codes.8".to_owned(),
        repo_file("man/pam_backup_codes.8"),
    ));
    for (name, text) in &shipped {
        for developer in ["make test", "make bench", "cargo ", "SPEC", "tests/"] {
            assert!(!text.contains(developer), "{name} mentions {developer:?}");
        }
    }
}

/// The documents an administrator or contributor reads as Markdown.
const MARKDOWN: [&str; 6] = [
    "README.md",
    "docs/admin-guide.md",
    "docs/fleet.md",
    "docs/design.md",
    "docs/events.md",
    "benches/README.md",
];

/// GitHub's anchor for a heading: lower case, punctuation but `-` and `_`
/// dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of `text`'s headings (outside fenced blocks).
fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.push(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// Every relative link `](target)` of `text`.
fn links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target.to_owned()))
        .filter(|target| !target.contains("://"))
        .collect()
}

#[test]
fn every_link_between_the_docs_names_a_file_and_heading_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in MARKDOWN {
        let text = repo_file(doc);
        let dir = std::path::Path::new(doc).parent().unwrap();
        for link in links(&text) {
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                doc.to_owned()
            } else {
                dir.join(file).to_string_lossy().into_owned()
            };
            assert!(root.join(&target).exists(), "{doc}: ({link}): no {target}");
            if !fragment.is_empty() {
                assert!(
                    anchors(&repo_file(&target)).iter().any(|a| a == fragment),
                    "{doc}: ({link}): no heading #{fragment} in {target}"
                );
            }
        }
    }
}

#[test]
fn readme_stays_short_enough_to_finish() {
    let lines = repo_file("README.md").lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines: the detail belongs in docs/admin-guide.md"
    );
}

#[test]
fn guide_renew_rule_is_the_shipped_sudoers_rule() {
    let shipped: String = repo_file("pam.d-examples/sudoers.d-backup-codes")
        .lines()
        .filter_map(|l| {
            l.strip_prefix('#')
                .filter(|r| !r.is_empty() && !r.starts_with(' '))
        })
        .map(|r| format!("{r}\n"))
        .collect();
    assert_eq!(
        doc_block("docs/admin-guide.md", "remove the `#` before its three lines"),
        shipped,
        "docs/admin-guide.md's renew rule and pam.d-examples/sudoers.d-backup-codes (which tests/renew.rs runs) differ"
    );
}

#[test]
fn the_manual_and_design_tables_are_the_rendering_of_the_options_and_results_tables() {
    // The renderers leave a file without the heading alone: the guide must
    // keep its tables (under "### Options" and "### Results") to be checked.
    let guide = repo_file("docs/admin-guide.md");
    for header in [
        "### Options\n\n| option | default | where | meaning |",
        "### Results\n\n| situation | result | log priority |",
    ] {
        assert!(
            guide.contains(header),
            "docs/admin-guide.md: no generated table {header:?}"
        );
    }
    for (name, render) in pam_backup_codes::docs::FILES {
        let text = repo_file(name);
        assert!(
            render(&text) == text,
            "{name} differs from the options and results tables: run `cargo run --example mangen -- --docs`"
        );
    }
}
