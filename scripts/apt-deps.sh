#!/usr/bin/env bash
# Install the Debian packages the build and tests need, only those missing.
# Runs as root (this machine kind); uses sudo when not root and available.
set -euo pipefail
pkgs=(build-essential pkg-config libcurl4-openssl-dev libmicrohttpd-dev
      libsqlite3-dev zlib1g-dev libjansson-dev libssl-dev clang
      libclang-rt-14-dev wrk sqlite3
      chromium chromium-driver
      libgnutls28-dev libpq-dev postgresql-15 haproxy mmdebstrap patchelf
      libzstd-dev openssl valgrind "$@")   # openssl: the install test's test CA;
      # valgrind: bench/bench_cpu.py profiles the sender with callgrind
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
echo "apt: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
