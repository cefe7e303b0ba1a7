//! What the documentation promises about the project itself, checked
//! against the files that do it: README's table of what each make target
//! installs is `tools/deps.sh`'s, and the documentation the Debian package
//! ships speaks to administrators, not to developers.
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use std::collections::BTreeSet;

use common::recipes::{readme_block, repo_file};

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
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("debian/libpam-backup-codes.docs");
    assert!(
        !docs.exists() || !repo_file("debian/libpam-backup-codes.docs").contains("README.md"),
        "the developer README (make test, benchmarks) is not shipped"
    );
    let mut shipped = vec![(
        "debian/README.Debian".to_owned(),
        repo_file("debian/README.Debian"),
    )];
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

#[test]
fn readme_renew_rule_is_the_shipped_sudoers_rule() {
    let shipped: String = repo_file("debian/backup-codes.sudoers")
        .lines()
        .filter_map(|l| {
            l.strip_prefix('#')
                .filter(|r| !r.is_empty() && !r.starts_with(' '))
        })
        .map(|r| format!("{r}\n"))
        .collect();
    assert_eq!(
        readme_block("remove the `#` before its three lines"),
        shipped,
        "README's renew rule and debian/backup-codes.sudoers (which tests/renew.rs runs) differ"
    );
}

#[test]
fn the_manual_and_design_tables_are_the_rendering_of_the_options_and_results_tables() {
    for (name, render) in pam_backup_codes::docs::FILES {
        let text = repo_file(name);
        assert!(
            render(&text) == text,
            "{name} differs from the options and results tables: run `cargo run --example mangen -- --docs`"
        );
    }
}
