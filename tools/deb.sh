#!/bin/bash
# make deb: builds the Debian package libpam-backup-codes into target/debian/
# and checks it with lintian.
#
# dpkg-buildpackage writes its results next to the source tree, so the build
# runs in a copy of the tree (the files git knows, tracked or new; outside
# git, everything but target/) at
# target/debian/pam-backup-codes-VERSION/; everything stays inside target/.
# CARGO_TARGET_DIR points back at this tree's target/, so the release build
# is shared with `make release`. Cargo comes from PATH (rustup); see
# debian/README.source.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/debian

version=$(dpkg-parsechangelog -S Version)
upstream=${version%-*}
src=$out/pam-backup-codes-$upstream

rm -rf "$out"
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done \
        | tar --null -T - -cf - | tar -C "$src" -xf -
else
    tar --exclude=./target --exclude=./.git -cf - . | tar -C "$src" -xf -
fi
# The upstream tarball a 3.0 (quilt) source package needs: the tree without debian/.
tar -C "$out" --exclude="pam-backup-codes-$upstream/debian" \
    -cJf "$out/pam-backup-codes_$upstream.orig.tar.xz" "pam-backup-codes-$upstream"

echo "deb: building in $src (log: $out/build.log)"
if ! (cd "$src" && CARGO_TARGET_DIR="$root/target" dpkg-buildpackage -us -uc) \
        >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    echo "deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
    exit 1
fi
rm -rf "$src"

changes=$(ls "$out"/pam-backup-codes_"$version"_*.changes)
echo "deb: lintian $changes"
lintian --fail-on error,warning --display-info "$changes" 2>&1 || status=$?
if [ "${status:-0}" -ne 0 ]; then
    echo "deb: lintian found errors or warnings (exit $status)" >&2
    exit 1
fi
ls -l "$out"/*.deb
