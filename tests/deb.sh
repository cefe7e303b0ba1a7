#!/bin/bash
# make test-deb: the Debian package on this very machine, as an administrator
# would use it. Installs target/debian/libpam-backup-codes_*.deb (built by
# `make deb`), generates codes with the installed /usr/sbin/backup-codes,
# logs in with pamtester through a service naming pam_backup_codes.so by its
# bare name, enables the pam-auth-update profile and logs in through
# common-auth, reinstalls, purges, and checks that everything is gone and
# /etc/pam.d/common-auth is byte for byte what it was.
#
# It changes the whole system's common-auth for a while, so `make test` runs
# it as its own step after `cargo test`, and a lock serialises it with any
# other run of it on this machine (other worktrees). Whatever happens, the
# EXIT trap purges the package, deletes the test user and the test services,
# and puts back anything it had to move aside.
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=libpam-backup-codes
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
MODULE=/usr/lib/$MULTIARCH/security/pam_backup_codes.so
CLI=/usr/sbin/backup-codes
CONF=/etc/security/pam_backup_codes.conf
PROFILE=/usr/share/pam-configs/backup-codes
STORE=/var/lib/pam-backup-codes
COMMON=/etc/pam.d/common-auth
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" -ne 0 ]; then
    if [ -n "${CI:-}" ]; then
        echo "test-deb: FAIL: CI runs must be root" >&2
        exit 1
    fi
    echo "test-deb: skipped, needs root (it installs and purges the package)" >&2
    exit 0
fi

deb=$(ls target/debian/${PKG}_*.deb 2>/dev/null | grep -v dbgsym || true)
if [ "$(printf '%s\n' "$deb" | grep -c .)" -ne 1 ]; then
    echo "test-deb: FAIL: expected one target/debian/${PKG}_*.deb (run make deb), found: ${deb:-none}" >&2
    exit 1
fi

exec 9>/tmp/pam-backup-codes-test-deb.lock
flock -w 1800 9

checks=0
fail() {
    echo "test-deb: FAIL: $*" >&2
    exit 1
}
ok() {
    checks=$((checks + 1))
    echo "test-deb: ok $checks - $*"
}

if dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -qv '^not-installed$'; then
    fail "$PKG is already installed here; this test installs and purges it: purge it first"
fi

tmp=$(mktemp -d /tmp/pam-backup-codes-test-deb.XXXXXX)
suffix=$$
user=pbc-deb-$suffix
svc_module=pbc-deb-module-$suffix
svc_common=pbc-deb-common-$suffix
saved=()

cleanup() {
    local status=$?
    set +e
    if dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -qv '^not-installed$'; then
        echo "test-deb: cleanup: purging $PKG" >&2
        dpkg --purge "$PKG" >"$tmp/cleanup-purge.log" 2>&1 || cat "$tmp/cleanup-purge.log" >&2
    fi
    if [ -f "$tmp/common-auth" ] && ! cmp -s "$tmp/common-auth" "$COMMON"; then
        echo "test-deb: cleanup: restoring $COMMON" >&2
        cat "$tmp/common-auth" >"$COMMON"
        status=1
    fi
    rm -f "/etc/pam.d/$svc_module" "/etc/pam.d/$svc_common"
    if getent passwd "$user" >/dev/null; then
        userdel "$user" || echo "test-deb: cleanup: could not delete user $user" >&2
    fi
    for path in "${saved[@]}"; do
        rm -rf "$path"
        mv "$path.test-deb-saved" "$path" && echo "test-deb: cleanup: restored $path" >&2
    done
    rm -rf "$tmp"
    if [ "$status" -eq 0 ]; then
        echo "test-deb: all $checks checks passed"
    else
        echo "test-deb: FAILED after $checks checks" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# Files of an earlier `make install` (or a store in use) would be replaced by
# the package and deleted by the purge: keep them aside until the end.
for path in "$MODULE" "$CLI" "$CONF" "$PROFILE" "$STORE"; do
    if [ -e "$path" ] || [ -L "$path" ]; then
        mv "$path" "$path.test-deb-saved"
        saved+=("$path")
        echo "test-deb: moved $path aside until the end of the test"
    fi
done
cp -p "$COMMON" "$tmp/common-auth"

# converse SERVICE USER [PROMPT ANSWER]...: runs `pamtester SERVICE USER
# authenticate`, waits for each PROMPT in turn and answers it, then closes
# its input (an unexpected further prompt reads end of file and fails).
# Sets $transcript (everything pamtester printed) and $result (its status).
# libpam_misc reads an answer with a single read(), so answers are written
# only once their prompt has been seen.
converse() {
    local service=$1 who=$2
    shift 2
    local seen="" c
    transcript=""
    coproc PAMTESTER { exec timeout 120 pamtester "$service" "$who" authenticate 2>&1; }
    local out=${PAMTESTER[0]} in=${PAMTESTER[1]} pid=$PAMTESTER_PID
    while [ $# -ge 2 ]; do
        local prompt=$1 answer=$2
        shift 2
        seen=""
        while [[ "$seen" != *"$prompt" ]]; do
            if ! IFS= read -r -N 1 -t 60 -u "$out" c; then
                transcript+=$seen
                exec {in}>&-
                wait "$pid" || true
                fail "$service/$who: no prompt '$prompt'; pamtester said: $transcript"
            fi
            seen+=$c
        done
        transcript+=$seen
        printf '%s\n' "$answer" >&"$in"
    done
    exec {in}>&-
    transcript+=$(cat <&"$out")
    result=0
    wait "$pid" || result=$?
}

# expect_login WHAT STATUS PROMPTS [PROMPT ANSWER]...: a login whose exit
# status is STATUS (0 success) and in which exactly PROMPTS prompts appear.
expect_login() {
    local what=$1 want=$2 prompts=$3
    shift 3
    converse "$@"
    local n
    n=$(grep -o -e 'Password: ' -e 'Backup code: ' <<<"$transcript" | wc -l)
    if [ "$want" -eq 0 ]; then
        [ "$result" -eq 0 ] || fail "$what: refused (status $result): $transcript"
    else
        [ "$result" -ne 0 ] || fail "$what: accepted, expected a refusal: $transcript"
    fi
    [ "$n" -eq "$prompts" ] || fail "$what: $n prompts, expected $prompts: $transcript"
    ok "$what"
}

remaining() {
    "$CLI" status "$user" --format json | grep -oE '"remaining":[0-9]+' | cut -d: -f2
}
expect_remaining() {
    local n
    n=$(remaining)
    [ "$n" = "$1" ] || fail "$user has $n codes left, expected $1"
    ok "$1 codes left"
}
mode_of() { stat -c '%U:%G %a' "$1"; }

# --- install -------------------------------------------------------------
dpkg -i "$deb" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "dpkg -i $deb"; }
ok "dpkg -i $(basename "$deb")"
[ "$(mode_of "$MODULE")" = "root:root 644" ] || fail "$MODULE: $(mode_of "$MODULE")"
[ "$(mode_of "$CLI")" = "root:root 755" ] || fail "$CLI: $(mode_of "$CLI")"
[ "$(mode_of "$STORE")" = "root:root 700" ] || fail "$STORE: $(mode_of "$STORE")"
[ -f "$PROFILE" ] || fail "no $PROFILE"
dpkg-query -W -f='${Conffiles}\n' "$PKG" | grep -q " $CONF " || fail "$CONF is not a conffile"
for page in pam_backup_codes backup-codes backup-codes-generate backup-codes-status \
    backup-codes-renew backup-codes-add backup-codes-revoke backup-codes-unlock backup-codes-check; do
    [ -f "/usr/share/man/man8/$page.8.gz" ] || fail "no manual page $page(8)"
done
[ -f "/usr/share/doc/$PKG/examples/common-auth" ] || fail "no pam.d examples in /usr/share/doc/$PKG/examples"
[ -f "/usr/share/doc/$PKG/README.Debian" ] || [ -f "/usr/share/doc/$PKG/README.Debian.gz" ] ||
    fail "no README.Debian in /usr/share/doc/$PKG"
[ ! -e "/usr/share/doc/$PKG/README.md.gz" ] || fail "the developer README (make test, benchmarks) is shipped"
ok "module 0644, CLI 0755, store root:root 0700, profile, conffile, 9 manual pages, examples"
SUDOERS=/etc/sudoers.d/backup-codes
[ "$(mode_of "$SUDOERS")" = "root:root 440" ] || fail "$SUDOERS: $(mode_of "$SUDOERS")"
dpkg-query -W -f='${Conffiles}\n' "$PKG" | grep -q " $SUDOERS " || fail "$SUDOERS is not a conffile"
visudo -cf "$SUDOERS" >/dev/null || fail "visudo refuses $SUDOERS"
if grep -v '^#' "$SUDOERS" | grep -q '[^[:space:]]'; then fail "$SUDOERS enables a rule by default"; fi
ok "$SUDOERS: root:root 0440, a conffile, parses, its rule commented out"
cmp -s "$tmp/common-auth" "$COMMON" || fail "installing changed $COMMON (the profile is Default: no)"
ok "common-auth unchanged by the installation"
"$CLI" check >"$tmp/check.out" 2>&1 || { cat "$tmp/check.out" >&2; fail "backup-codes check"; }
ok "backup-codes check accepts the shipped conffile and the new store"

# --- a test user with a password and codes from the installed CLI ---------
useradd --no-create-home --shell /usr/sbin/nologin "$user"
password="Pw!$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "$user:$password" | chpasswd
"$CLI" generate "$user" >"$tmp/sheet"
mapfile -t codes < <(grep -oE '\b[0-9A-Z]{5}-[0-9A-Z]{5}\b' "$tmp/sheet")
[ "${#codes[@]}" -eq 10 ] || fail "the sheet has ${#codes[@]} codes, expected 10"
[ "$(mode_of "$STORE/$user.toml")" = "root:root 600" ] || fail "$STORE/$user.toml: $(mode_of "$STORE/$user.toml")"
ok "backup-codes generate $user: 10 codes, $STORE/$user.toml root:root 0600"

# --- the module by its bare name, with the shipped conffile ----------------
printf 'auth required pam_backup_codes.so\naccount required pam_permit.so\n' >"/etc/pam.d/$svc_module"
expect_login "bare-name service: a code" 0 1 "$svc_module" "$user" "Backup code: " "${codes[0]}"
grep -q "9 backup codes left." <<<"$transcript" || fail "no '9 backup codes left.' message: $transcript"
expect_login "bare-name service: the same code again" 1 1 "$svc_module" "$user" "Backup code: " "${codes[0]}"
expect_remaining 9

# --- through common-auth, with the pam-auth-update profile ----------------
# The profile is Additional: after a right password, a user who has a set
# needs a code as well; a wrong password ends at pam_deny before any code.
echo '@include common-auth' >"/etc/pam.d/$svc_common"
expect_login "common-auth, profile off: the password alone" 0 1 \
    "$svc_common" "$user" "Password: " "$password"

pam-auth-update --enable backup-codes
line=$(grep pam_backup_codes "$COMMON" || true)
[[ "$line" =~ ^auth[[:space:]]+required[[:space:]]+pam_backup_codes\.so\ nullok$ ]] ||
    fail "pam-auth-update --enable wrote: '$line'"
order=$(grep -v '^#' "$COMMON" | grep -oE 'pam_[a-z_]+\.so' | tr '\n' ' ')
[ "$order" = "pam_unix.so pam_deny.so pam_permit.so pam_backup_codes.so pam_cap.so " ] ||
    [ "$order" = "pam_unix.so pam_deny.so pam_permit.so pam_backup_codes.so " ] ||
    fail "order in $COMMON: $order"
example=$(grep -v -e '^#' -e '^$' pam.d-examples/common-auth)
[ "$(tr -s ' \t' ' ' <<<"$line")" = "$(tr -s ' \t' ' ' <<<"$example")" ] ||
    fail "the profile's line '$line' is not pam.d-examples/common-auth: '$example'"
ok "pam-auth-update --enable: '$line' after pam_permit, as in pam.d-examples/common-auth"

expect_login "profile on: the password, then a code" 0 2 \
    "$svc_common" "$user" "Password: " "$password" "Backup code: " "${codes[1]}"
grep -q "8 backup codes left." <<<"$transcript" || fail "no '8 backup codes left.' message: $transcript"
expect_remaining 8
expect_login "profile on: a wrong password ends before the code prompt" 1 1 \
    "$svc_common" "$user" "Password: " "wrong password"
expect_login "profile on: a code instead of the password" 1 1 \
    "$svc_common" "$user" "Password: " "${codes[2]}"
expect_remaining 8
expect_login "profile on: the password, then a wrong code" 1 2 \
    "$svc_common" "$user" "Password: " "$password" "Backup code: " "00000-00000"
expect_login "profile on: the password, then a used code" 1 2 \
    "$svc_common" "$user" "Password: " "$password" "Backup code: " "${codes[1]}"
expect_login "profile on: the password, then no code" 1 2 \
    "$svc_common" "$user" "Password: " "$password" "Backup code: " ""
expect_remaining 8
"$CLI" status "$user" --format json | grep -q '"failures":3' ||
    fail "expected 3 failures: $("$CLI" status "$user" --format json)"
ok "3 failed codes counted, none for the wrong password or the code alone"

# The upgrade path: prerm upgrade keeps the profile, postinst puts the
# store's mode right, the codes stay.
chmod 0755 "$STORE"
dpkg -i "$deb" >"$tmp/reinstall.log" 2>&1 || { cat "$tmp/reinstall.log" >&2; fail "reinstall"; }
grep -q pam_backup_codes "$COMMON" || fail "reinstalling dropped the profile from $COMMON"
[ "$(mode_of "$STORE")" = "root:root 700" ] || fail "$STORE after reinstall: $(mode_of "$STORE")"
ok "reinstall: the profile stays enabled, the store is back to 0700"
expect_remaining 8

# A revoked user stays enrolled: nullok does not let the password alone in.
"$CLI" revoke "$user"
expect_login "profile on, revoked set: the password, then any code, refused" 1 2 \
    "$svc_common" "$user" "Password: " "$password" "Backup code: " "${codes[3]}"
# A user without codes is not affected by the profile (nullok).
"$CLI" revoke --unenroll "$user"
expect_login "profile on, no codes: the password alone (nullok)" 0 1 \
    "$svc_common" "$user" "Password: " "$password"
expect_login "profile on, no codes: a wrong password" 1 1 \
    "$svc_common" "$user" "Password: " "wrong password"
"$CLI" generate "$user" >/dev/null

# --- purge -----------------------------------------------------------------
dpkg --purge "$PKG" >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log" >&2; fail "dpkg --purge"; }
for path in "$MODULE" "$CLI" "$CONF" "$PROFILE" "$STORE"; do
    if [ -e "$path" ] || [ -L "$path" ]; then fail "$path is still there after the purge"; fi
done
ok "purge: module, CLI, conffile, profile and store are gone"
if grep -q pam_backup_codes /etc/pam.d/common-*; then fail "pam_backup_codes still in /etc/pam.d/common-*"; fi
cmp "$tmp/common-auth" "$COMMON" || fail "$COMMON differs from before the test"
ok "purge: $COMMON is byte-identical to before"
expect_login "after the purge: the password still works" 0 1 \
    "$svc_common" "$user" "Password: " "$password"
