#!/bin/sh
# make demo: a real PAM login with a backup code, its refused re-use and the
# status afterwards, all inside a temporary directory.
set -eu

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: needs root: the module trusts only a root-owned store (try: sudo make demo)" >&2
    exit 1
fi

# The release build, with a cargo new enough for the crate (Rust 1.89 or
# newer; Debian 12's own cargo is older). With a rustup toolchain, cargo lives
# in ~/.cargo/bin, which root's PATH under sudo does not hold: then build as
# the user behind sudo, with their toolchain, into this tree (never run a
# user's toolchain as root), and only the demo runs as root.
new_enough() {
    minor=$("$1" --version 2>/dev/null | sed -n 's/^cargo 1\.\([0-9]*\)\..*/\1/p')
    [ -n "$minor" ] && [ "$minor" -ge 89 ]
}
build="build --locked --release --lib --bins --examples"
cargo=${CARGO:-cargo}
user_home=
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    user_home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
fi
if new_enough "$cargo"; then
    # shellcheck disable=SC2086
    "$cargo" $build
elif [ -n "$user_home" ] && new_enough "$user_home/.cargo/bin/cargo"; then
    echo "demo: building as $SUDO_USER with $user_home/.cargo/bin/cargo"
    # shellcheck disable=SC2086
    runuser -u "$SUDO_USER" -- env HOME="$user_home" PATH="$user_home/.cargo/bin:$PATH" cargo $build || {
        echo "demo: the build as $SUDO_USER failed; if target/ belongs to root, run: chown -R $SUDO_USER target" >&2
        exit 1
    }
else
    found=$("$cargo" --version 2>/dev/null || echo "not found")
    echo "demo: needs cargo from Rust 1.89 or newer; $cargo: $found" >&2
    echo "demo: looked in \$CARGO, $HOME/.cargo/bin, PATH${user_home:+ and $user_home/.cargo/bin}." >&2
    echo "demo: install it with rustup (https://rustup.rs), then run sudo make demo, or name it: make demo CARGO=/path/to/cargo" >&2
    exit 1
fi

# The demo logs in as a real account (the module knows only names that
# NSS knows), with a store of its own: root, or the user behind sudo.
user=${SUDO_USER:-root}
bin=target/release
# An account NSS knows: the module refuses names that are none (root, here).
user=$(id -un)
work=$(mktemp -d /tmp/pam-backup-codes-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -m 0700 "$work/store" "$work/pam.d"
ln -s "$PWD/$bin/libpam_backup_codes.so" "$work/pam_backup_codes.so"
echo "auth required $work/pam_backup_codes.so store=$work/store" > "$work/pam.d/demo"
echo "auth required pam_deny.so" > "$work/pam.d/other"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
login() {
    "$bin/examples/pam-driver" --confdir "$work/pam.d" --service demo \
        --user "$user" --rhost 192.0.2.10 --answer "$1" --real-delay | grep -v '^maxrss\|^delay'
}

step "PAM service file (in $work/pam.d, not /etc/pam.d)"
cat "$work/pam.d/demo"

step "backup-codes generate $user"
"$bin/backup-codes" --store "$work/store" generate "$user" | tee "$work/sheet"
# A code as printed: XXXXX-XXXXX, then its check symbol (-C) on new sets.
code=$(grep -oE '[0-9A-Z]{5}-[0-9A-Z]{5}(-[0-9A-Z*~$=])?' "$work/sheet" | head -n 1)

step "login as $user from 192.0.2.10, typing $code"
login "$code" || true

step "the same code again: refused (after the 2 s failure delay)"
login "$code" || true

step "backup-codes status $user"
"$bin/backup-codes" --store "$work/store" status "$user"

step "the store file: Argon2id hashes only, no plaintext code"
ls -l "$work/store"
sed -n '1,25p' "$work/store/$user.toml"
if grep -q "$(echo "$code" | tr -d -)" "$work/store/$user.toml"; then
    echo "demo: the plain code is in the store!" >&2
    exit 1
fi
echo "..."
step "done; $work removed"
