#!/bin/bash
# make deb: the source package and, built from it offline, the binary
# packages, into target/debian/; then lintian (pedantic, info tags too).
#
#  1. The tree (the files git knows, tracked or new; outside git, everything
#     but target/) becomes pam-backup-codes_V.orig.tar.xz (without debian/),
#     and `cargo vendor --locked` of Cargo.lock's crates the component
#     pam-backup-codes_V.orig-vendor.tar.xz, less the prebuilt binaries that
#     some crates ship for other systems (tools/prune-vendor.py).
#     debian/copyright must have a stanza for every vendored crate
#     (tools/copyright.py --check).
#  2. dpkg-source -b makes the .dsc; dpkg-source -x unpacks it afresh, and
#     dpkg-buildpackage -us -uc -b builds there with no network (unshare -n)
#     and an empty CARGO_HOME: debian/rules must find everything in the
#     source package. With rustup's cargo (not /usr/bin/cargo), -d skips the
#     Build-Depends check, which cannot see it (debian/README.source).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/debian

version=$(dpkg-parsechangelog -S Version)
upstream=${version%-*}
epoch=$(dpkg-parsechangelog -S Timestamp)
name=pam-backup-codes-$upstream

say() { echo "deb: $*"; }
die() {
    echo "deb: $*" >&2
    exit 1
}

# The toolchain: $CARGO (the Makefile's: rustup's if there is one), else cargo
# on PATH. Its directory goes first on PATH for the build, so that rustc is
# its sibling (rustup's proxies), not an older one elsewhere on PATH.
cargo=$(command -v "${CARGO:-cargo}") || die "no cargo (CARGO=${CARGO:-}; debian/README.source)"
export CARGO=$cargo

rm -rf "$out"
mkdir -p "$out"
stage=$(mktemp -d "$out/stage.XXXXXX")
src=$stage/$name
mkdir "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done \
        | tar --null -T - -cf - | tar -C "$src" -xf -
else
    tar --exclude=./target --exclude=./.git --exclude=./vendor -cf - . | tar -C "$src" -xf -
fi
[ ! -e "$src/vendor" ] || die "the tree has a vendor/ of its own; move it away"

say "cargo vendor (log: $out/vendor.log)"
"$cargo" vendor --locked --versioned-dirs "$src/vendor" >"$out/vendor.log" 2>&1 ||
    { tail -n 20 "$out/vendor.log" >&2; die "cargo vendor failed"; }
python3 tools/prune-vendor.py "$src/vendor" >>"$out/vendor.log"
python3 tools/copyright.py --check --vendor "$src/vendor"

# Reproducible tarballs: sorted, root-owned, dated by the changelog.
tarball() { # OUTPUT PARENT DIR [TAR OPTIONS...]: PARENT/DIR as OUTPUT
    local output=$1 parent=$2 dir=$3
    shift 3
    tar -C "$parent" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
        "$@" -cf - "$dir" | xz -T0 -6 >"$output"
}
tarball "$out/pam-backup-codes_$upstream.orig.tar.xz" "$stage" "$name" \
    --exclude="$name/debian" --exclude="$name/vendor"
tarball "$out/pam-backup-codes_$upstream.orig-vendor.tar.xz" "$src" vendor
say "vendored $(ls "$src/vendor" | wc -l) crates," \
    "$(du -sh "$src/vendor" | cut -f1) unpacked," \
    "$(du -h "$out/pam-backup-codes_$upstream.orig-vendor.tar.xz" | cut -f1) as orig-vendor.tar.xz"

(cd "$out" && dpkg-source -b "$src" >"$out/source.log" 2>&1) ||
    { cat "$out/source.log" >&2; die "dpkg-source -b failed"; }
rm -rf "$stage"
dsc=$out/pam-backup-codes_$version.dsc
say "source package $(basename "$dsc")"

build=$out/$name
(cd "$out" && dpkg-source -x "$dsc" "$build" >"$out/unpack.log" 2>&1) ||
    { cat "$out/unpack.log" >&2; die "dpkg-source -x failed"; }

flags=(-us -uc -b)
if [ "$cargo" != /usr/bin/cargo ]; then
    flags+=(-d)
    say "cargo is $cargo, not Debian's: dpkg-buildpackage -d"
fi
# unshare -n needs root; elsewhere a user namespace gives the same.
if [ "$(id -u)" -eq 0 ]; then offline=(unshare --net); else offline=(unshare --map-current-user --net); fi
cargo_home=$(mktemp -d "$out/cargo-home.XXXXXX")

say "dpkg-buildpackage ${flags[*]} with no network (log: $out/build.log)"
if ! (cd "$build" && PATH=$(dirname "$cargo"):$PATH CARGO_HOME=$cargo_home \
        "${offline[@]}" dpkg-buildpackage "${flags[@]}") \
        >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    die "dpkg-buildpackage failed; the whole log is $out/build.log"
fi
[ -z "$(ls -A "$cargo_home")" ] || die "the build wrote to CARGO_HOME $cargo_home, not its own"
rm -rf "$build" "$cargo_home"

changes=$(ls "$out"/pam-backup-codes_"$version"_*.changes)
say "lintian --pedantic -I $(basename "$dsc") $(basename "$changes")"
# spelling-error-in-binary is suppressed: in Rust binaries it reads machine
# code as text (lengH, userA: the bytes of inlined string comparisons), a
# different false positive in each build, which no stable override can name.
lintian --pedantic --display-info --fail-on error,warning,info,pedantic \
    --suppress-tags spelling-error-in-binary "$dsc" "$changes" 2>&1 ||
    die "lintian found tags; fix them, or override them with a reason"
ls -l "$out"/*.deb
