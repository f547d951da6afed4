#!/usr/bin/env bash
# Installs the Debian 12 packages treecached needs to build, test and
# benchmark. Runs apt-get only when something is missing. Needs root.
#
# Usage: scripts/install-deps.sh [fuzz|profile]   (fuzz: also clang and its
# libFuzzer and sanitizer runtimes, for the `fuzz` preset and scripts/fuzz.sh;
# profile: also valgrind and bc, for bench/compare/callgrind.sh)
set -euo pipefail

packages=(
  g++ cmake make pkg-config
  libevent-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  # Test oracles and real clients: stock memcached, Debian's Python with
  # pymemcache, and the libmemcached command-line tools (memccp, memccapable, ...).
  memcached python3 python3-pymemcache libmemcached-tools
  # libfaketime, for the test of TTLs across a step of the wall clock
  # (tests/integration/clock_step.py); test-only.
  faketime
  # bench/compare/run.sh plots with gnuplot.
  gnuplot-nox
)
if [[ "${1:-}" == fuzz ]]; then
  packages+=(clang libclang-rt-14-dev)
elif [[ "${1:-}" == profile ]]; then
  packages+=(valgrind bc)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "Installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
