#!/bin/sh
# Installs the Debian packages the build and the tests need, when missing.
# As root it runs apt-get itself; otherwise it names what to install.
set -eu

PACKAGES="build-essential pkg-config libpam0g-dev libpam-modules libpam-runtime
pamtester openssh-server openssh-client sudo libpam-google-authenticator oathtool
lintian debhelper dpkg-dev fakeroot util-linux procps"

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
# (sshd) on this machine; the tests run their own daemons.
cleanup_policy=false
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    cleanup_policy=true
fi
apt-get install -y -qq --no-install-recommends $missing >/dev/null || status=$?
if $cleanup_policy; then rm -f /usr/sbin/policy-rc.d; fi
exit "${status:-0}"
