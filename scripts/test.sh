#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite:
# unit, integration (real TCP), the differential test against stock
# memcached, and the real-client suite (pymemcache, libmemcached tools,
# memccapable). Exits non-zero if anything fails.
#
# Usage: scripts/test.sh [debug|release|asan|tsan]   (default: debug)
set -euo pipefail
cd "$(dirname "$0")/.."

preset="${1:-debug}"
case "$preset" in
  debug|release|asan|tsan) ;;
  *) echo "usage: $0 [debug|release|asan|tsan]" >&2; exit 64 ;;
esac

bash scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build "build/$preset" -j"$(nproc)"
ctest --test-dir "build/$preset" --output-on-failure -j2 --timeout 600
