#!/bin/bash
# make test-deb: the package's autopkgtest (debian/tests/) on this very
# machine, against what `make deb` built into target/debian/:
#   autopkgtest --ignore-restrictions=breaks-testbed DEB DSC -- null
# The test changes the system's common-auth for a while and purges the
# package, so `make test` runs it after cargo test, holding
# /tmp/pbc-system.lock. Around it, this script keeps the files of an earlier
# `make install` (or a store in use) aside, purges the package whatever
# happened, and checks that /etc/pam.d/common-auth and /etc/pam.d/sudo (where
# the test adds a line that loads the module) are byte for byte what they
# were before the installation.
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=libpam-backup-codes
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
COMMON=/etc/pam.d/common-auth
SUDO_PAM=/etc/pam.d/sudo
out=target/debian

if [ "$(id -u)" -ne 0 ]; then
    if [ -n "${CI:-}" ]; then
        echo "test-deb: FAIL: CI runs must be root" >&2
        exit 1
    fi
    echo "test-deb: skipped, needs root (it installs and purges the package)" >&2
    exit 0
fi

fail() {
    echo "test-deb: FAIL: $*" >&2
    exit 1
}
deb=$(ls "$out"/${PKG}_*.deb 2>/dev/null || true)
dsc=$(ls "$out"/pam-backup-codes_*.dsc 2>/dev/null || true)
[ "$(printf '%s\n' "$deb" | grep -c .)" -eq 1 ] && [ "$(printf '%s\n' "$dsc" | grep -c .)" -eq 1 ] ||
    fail "expected one $out/${PKG}_*.deb and one .dsc (run make deb), found: ${deb:-no deb} ${dsc:-no dsc}"
if dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -qv '^not-installed$'; then
    fail "$PKG is already installed here; this test installs and purges it: purge it first"
fi

tmp=$(mktemp -d /tmp/pam-backup-codes-test-deb.XXXXXX)
saved=()
cleanup() {
    local status=$?
    set +e
    # First sudo: the purge is refused while it loads the module.
    if [ -f "$tmp/sudo" ] && ! cmp -s "$tmp/sudo" "$SUDO_PAM"; then
        echo "test-deb: FAIL: $SUDO_PAM is not what it was before the installation; restored" >&2
        cat "$tmp/sudo" >"$SUDO_PAM"
        status=1
    fi
    if dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -qv '^not-installed$'; then
        echo "test-deb: cleanup: purging $PKG" >&2
        dpkg --purge "$PKG" >"$tmp/purge.log" 2>&1 || cat "$tmp/purge.log" >&2
        status=1
    fi
    if [ -f "$tmp/common-auth" ] && ! cmp -s "$tmp/common-auth" "$COMMON"; then
        echo "test-deb: FAIL: $COMMON is not what it was before the installation; restored" >&2
        cat "$tmp/common-auth" >"$COMMON"
        status=1
    fi
    for path in "${saved[@]}"; do
        rm -rf "$path"
        mv "$path.test-deb-saved" "$path" && echo "test-deb: restored $path" >&2
    done
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
cp -p "$COMMON" "$tmp/common-auth"
cp -p "$SUDO_PAM" "$tmp/sudo"

# The package would replace these and its purge delete them: keep them aside.
for path in "/usr/lib/$MULTIARCH/security/pam_backup_codes.so" /usr/sbin/backup-codes \
    /etc/security/pam_backup_codes.conf /usr/share/pam-configs/backup-codes \
    /var/lib/pam-backup-codes /etc/sudoers.d/backup-codes; do
    if [ -e "$path" ] || [ -L "$path" ]; then
        mv "$path" "$path.test-deb-saved"
        saved+=("$path")
        echo "test-deb: moved $path aside until the end of the test"
    fi
done

# autopkgtest's apt-get calls wait for the dpkg lock like ours do.
printf 'DPkg::Lock::Timeout "600";\n' >"$tmp/apt.conf"
results=$out/autopkgtest
rm -rf "$results"
echo "test-deb: autopkgtest $(basename "$deb") $(basename "$dsc") -- null (log: $results/log)"
status=0
APT_CONFIG=$tmp/apt.conf autopkgtest --ignore-restrictions=breaks-testbed \
    --output-dir "$results" "$deb" "$dsc" -- null >"$tmp/autopkgtest.out" 2>&1 || status=$?
grep -E '^(ok [0-9]+ - |install-login-purge: )' "$results/log" 2>/dev/null | sed 's/^/test-deb: /' || true
if [ "$status" -ne 0 ] || ! grep -qE '^install-login-purge +PASS' "$results/summary"; then
    tail -n 40 "$tmp/autopkgtest.out" >&2
    fail "autopkgtest exited $status; summary: $(cat "$results/summary" 2>/dev/null)"
fi
echo "test-deb: autopkgtest: $(tr '\n' ' ' <"$results/summary")"
