#!/bin/bash
# Install what biocrypt needs on Debian 12 (as root), then build and install
# the extension.  Set BIOCRYPT_WERROR=1 to make compiler warnings errors.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
# python3-nacl and python3-psycopg (psycopg 3): TAP 014 and test/drivers seal
# and bind probes as a Python application would (test/drivers' libpq test
# needs libpq-dev, a dependency of postgresql-server-dev-15); valgrind: make
# valgrind; git and unzip: test/dist.sh (make dist, the PGXN archive);
# postgresql-15-plproxy: TAP 021 (a gallery sharded with PL/Proxy)
PACKAGES="postgresql-15 postgresql-server-dev-15 libsodium-dev libipc-run-perl clang cppcheck pkg-config make gcc rsync python3-nacl python3-psycopg valgrind git unzip postgresql-15-plproxy"

if [ "$(id -u)" -ne 0 ]; then
	echo "install.sh: run as root (it installs packages and the extension)" >&2
	exit 2
fi
# apt-get update only when something is missing
missing=$(for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

make -C "$SRC" -s clean
make -C "$SRC" -s ${BIOCRYPT_WERROR:+PG_CFLAGS_EXTRA=-Werror}
make -C "$SRC" -s install
