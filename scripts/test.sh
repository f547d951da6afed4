#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite:
# unit, integration (real TCP), the differential test against stock
# memcached, the real-client suite (pymemcache, libmemcached tools,
# memccapable), the load generator's smoke test and a short soak; then the
# same suite under ASan+UBSan and under TSan, a clang build with
# -Wthread-safety -Werror (an access to a guarded field without its lock
# fails it), and each libFuzzer target for 60 s. Exits non-zero if anything
# fails.
#
# Usage: scripts/test.sh            everything above (what .ci/run runs)
#        scripts/test.sh PRESET     one build only: debug, release, asan or tsan
#        scripts/test.sh tsa        the thread-safety build only
set -euo pipefail
cd "$(dirname "$0")/.."

run_preset() {
  local preset="$1"
  echo "=== $preset: build and test ($(date -u +%H:%M:%S))"
  cmake --preset "$preset" >/dev/null
  cmake --build "build/$preset" -j"$(nproc)"
  ctest --test-dir "build/$preset" --output-on-failure -j2 --timeout 600
}

# Clang's thread-safety analysis over the server and its libraries (the
# annotations of storage/mutex.h); a build, nothing to run.
build_thread_safety() {
  echo "=== tsa: clang -Wthread-safety -Werror ($(date -u +%H:%M:%S))"
  cmake --preset tsa >/dev/null
  cmake --build build/tsa -j"$(nproc)"
}

case "${1:-all}" in
  all)
    bash scripts/install-deps.sh fuzz
    run_preset debug
    run_preset asan
    run_preset tsan
    build_thread_safety
    echo "=== fuzz: 60 s per target ($(date -u +%H:%M:%S))"
    bash scripts/fuzz.sh 60
    echo "=== all passed ($(date -u +%H:%M:%S))"
    ;;
  debug|release|asan|tsan)
    bash scripts/install-deps.sh
    run_preset "$1"
    ;;
  tsa)
    bash scripts/install-deps.sh fuzz
    build_thread_safety
    ;;
  *)
    echo "usage: $0 [debug|release|asan|tsan|tsa]" >&2
    exit 64
    ;;
esac
