# pam-backup-codes: the two commands are `make demo` and `make test`.
# cargo: CARGO=... if given, else rustup's in $(HOME)/.cargo/bin (root's PATH
# does not hold it, and Debian 12's own cargo is too old), else cargo on PATH.
# For sudo make demo without either, see tools/demo.sh.
CARGO     ?= $(or $(wildcard $(HOME)/.cargo/bin/cargo),$(shell command -v cargo 2>/dev/null),cargo)
MULTIARCH := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
PAMDIR    ?= /usr/lib/$(MULTIARCH)/security
SBINDIR   ?= /usr/local/sbin
STOREDIR  ?= /var/lib/pam-backup-codes
MANDIR    ?= /usr/local/share/man
BASHCOMPDIR ?= /usr/local/share/bash-completion/completions
ZSHCOMPDIR  ?= /usr/local/share/zsh/site-functions
FISHCOMPDIR ?= /usr/local/share/fish/vendor_completions.d
CATALOGDIR  ?= /usr/local/lib/systemd/catalog
DESTDIR   ?=

.PHONY: all deps deps-test deps-deb build release demo test test-deb deb copyright lint install uninstall bench stress clean

all: release

# Debian packages each target needs (apt-get, when root): see tools/deps.sh.
deps:
	@sh tools/deps.sh build

deps-test:
	@sh tools/deps.sh test

deps-deb:
	@sh tools/deps.sh deb

build: deps
	$(CARGO) build --locked --all-targets

release: deps
	$(CARGO) build --locked --release --lib --bins --examples

# Only the build dependencies; the release build is made by tools/demo.sh
# (as the user behind sudo when root has no cargo), then the demo runs.
demo: deps
	@CARGO="$(CARGO)" sh tools/demo.sh

test: deps-test
	CARGO="$(CARGO)" python3 tools/copyright.py --check
	$(CARGO) build --locked --all-targets
	$(CARGO) test --locked --all-targets
	$(MAKE) test-deb

# The Debian source package (with the crates vendored) and, built from it
# with no network, the binary packages, into target/debian/; then lintian.
deb: deps-deb
	@CARGO="$(CARGO)" bash tools/deb.sh

# debian/copyright from `cargo metadata`: run after changing Cargo.lock
# (`make test` fails while a crate has no stanza).
copyright:
	CARGO="$(CARGO)" python3 tools/copyright.py

# The package's autopkgtest on this machine: installs it system-wide, logs in
# through it (common-auth too) and purges it. Its own step, after cargo test,
# under the lock that keeps other system-wide tests away.
test-deb: deb
	flock /tmp/pbc-system.lock bash tests/deb.sh

# Long runs of the hardening tests (not in CI): STRESS_ROUNDS rounds of
# concurrent logins and of SIGKILLs during a login, PROPTEST_CASES cases of
# each property test. `make test` runs the same tests briefly.
STRESS_ROUNDS  ?= 300
PROPTEST_CASES ?= 20000
stress: deps-test
	$(CARGO) build --locked --all-targets
	STRESS_ROUNDS=$(STRESS_ROUNDS) $(CARGO) test --locked --test concurrency --test crash \
		-- --test-threads=1 --nocapture
	PROPTEST_CASES=$(PROPTEST_CASES) $(CARGO) test --locked --release --test properties

lint: deps
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Release-mode measurements against the design's targets (benches/README.md).
# Run as root: the PAM and bulk rows need a root-owned store.
bench: release
	$(CARGO) bench --locked --bench bench

install: release
	target/release/examples/mangen target/gen/man
	target/release/examples/completions target/gen/completions
	install -D -m 0644 target/release/libpam_backup_codes.so $(DESTDIR)$(PAMDIR)/pam_backup_codes.so
	install -D -m 0755 target/release/backup-codes $(DESTDIR)$(SBINDIR)/backup-codes
	install -d -m 0700 $(DESTDIR)$(STOREDIR)
	install -D -m 0644 man/pam_backup_codes.8 $(DESTDIR)$(MANDIR)/man8/pam_backup_codes.8
	install -m 0644 target/gen/man/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -D -m 0644 target/gen/completions/backup-codes.bash $(DESTDIR)$(BASHCOMPDIR)/backup-codes
	install -D -m 0644 target/gen/completions/_backup-codes $(DESTDIR)$(ZSHCOMPDIR)/_backup-codes
	install -D -m 0644 target/gen/completions/backup-codes.fish $(DESTDIR)$(FISHCOMPDIR)/backup-codes.fish
	install -D -m 0644 journald/pam-backup-codes.catalog $(DESTDIR)$(CATALOGDIR)/pam-backup-codes.catalog
	@echo "Installed. Nothing in /etc/pam.d was changed: see docs/admin-guide.md, 'The safe order'."
	@echo "Run journalctl --update-catalog where systemd-journald runs (the events' catalog)."

uninstall:
	rm -f $(DESTDIR)$(PAMDIR)/pam_backup_codes.so $(DESTDIR)$(SBINDIR)/backup-codes
	rm -f $(DESTDIR)$(MANDIR)/man8/pam_backup_codes.8 $(DESTDIR)$(MANDIR)/man8/backup-codes*.8
	rm -f $(DESTDIR)$(BASHCOMPDIR)/backup-codes $(DESTDIR)$(ZSHCOMPDIR)/_backup-codes
	rm -f $(DESTDIR)$(FISHCOMPDIR)/backup-codes.fish $(DESTDIR)$(CATALOGDIR)/pam-backup-codes.catalog
	@echo "The store $(STOREDIR) was kept; remove it yourself if you mean to."

clean:
	$(CARGO) clean
