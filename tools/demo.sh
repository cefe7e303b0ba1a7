#!/bin/sh
# make demo: a real PAM login with a backup code, its refused re-use and the
# status afterwards, all inside a temporary directory.
set -eu

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: needs root: the module trusts only a root-owned store (try: sudo make demo)" >&2
    exit 1
fi

bin=target/release
work=$(mktemp -d /tmp/pam-backup-codes-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -m 0700 "$work/store" "$work/pam.d"
ln -s "$PWD/$bin/libpam_backup_codes.so" "$work/pam_backup_codes.so"
echo "auth required $work/pam_backup_codes.so store=$work/store" > "$work/pam.d/demo"
echo "auth required pam_deny.so" > "$work/pam.d/other"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
login() {
    "$bin/examples/pam-driver" --confdir "$work/pam.d" --service demo \
        --user demo-user --rhost 192.0.2.10 --answer "$1" --real-delay | grep -v '^maxrss\|^delay'
}

step "PAM service file (in $work/pam.d, not /etc/pam.d)"
cat "$work/pam.d/demo"

step "backup-codes generate demo-user"
"$bin/backup-codes" --store "$work/store" generate demo-user | tee "$work/sheet"
code=$(grep -oE '[0-9A-Z]{5}-[0-9A-Z]{5}' "$work/sheet" | head -n 1)

step "login as demo-user from 192.0.2.10, typing $code"
login "$code" || true

step "the same code again: refused (after the 2 s failure delay)"
login "$code" || true

step "backup-codes status demo-user"
"$bin/backup-codes" --store "$work/store" status demo-user

step "the store file: Argon2id hashes only, no plaintext code"
ls -l "$work/store"
sed -n '1,25p' "$work/store/demo-user.toml"
if grep -q "$(echo "$code" | tr -d -)" "$work/store/demo-user.toml"; then
    echo "demo: the plain code is in the store!" >&2
    exit 1
fi
echo "..."
step "done; $work removed"
