#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite:
# unit, integration (real TCP), the differential test against stock
# memcached, and the real-client suite (pymemcache, libmemcached tools,
# memccapable). Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset debug >/dev/null
cmake --build build/debug -j"$(nproc)"
ctest --test-dir build/debug --output-on-failure -j2 --timeout 600
