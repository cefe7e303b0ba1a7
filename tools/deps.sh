#!/bin/sh
# Installs the Debian packages one make target needs, when missing:
#   tools/deps.sh build   what builds the crate and runs libpam (make build, make demo)
#   tools/deps.sh test    that, and the end-to-end tools of make test
#   tools/deps.sh deb     that, and what builds, checks and tests the Debian package
# As root it runs apt-get itself; otherwise it names what to install.
set -eu

BUILD="build-essential pkg-config libpam0g-dev libpam-modules libpam-runtime"
TEST="pamtester openssh-server openssh-client sudo libpam-google-authenticator oathtool
util-linux procps postgresql openssl pgbouncer age"
# deb: make deb (python3 runs tools/copyright.py, unshare is util-linux's)
# and test-deb (autopkgtest publishes the .deb with apt-ftparchive; the
# test's own Depends: pamtester, passwd).
DEB="lintian debhelper dpkg-dev fakeroot python3 xz-utils util-linux autopkgtest apt-utils
pamtester passwd"

case "${1:-build}" in
    build) PACKAGES="$BUILD" ;;
    test) PACKAGES="$BUILD $TEST $DEB" ;;
    deb) PACKAGES="$BUILD $DEB" ;;
    *) echo "deps: unknown group '$1' (build, test or deb)" >&2; exit 2 ;;
esac

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages:$missing" >&2
    echo "deps: run as root, or: sudo apt-get install$missing" >&2
    exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps the package scripts from starting system services
# (sshd, the PostgreSQL cluster) on this machine; the tests run their own
# daemons (a throwaway PostgreSQL cluster among them).
cleanup_policy=false
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    cleanup_policy=true
fi
apt-get install -y -qq --no-install-recommends $missing >/dev/null || status=$?
if $cleanup_policy; then rm -f /usr/sbin/policy-rc.d; fi
exit "${status:-0}"
