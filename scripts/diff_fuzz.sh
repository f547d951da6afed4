#!/usr/bin/env bash
# Randomized differential fuzz of treecached against stock memcached 1.6.18
# (tests/differential/random_diff.py): installs what is missing, builds the
# debug server if needed, then runs seeded random request sequences against
# both servers for SECONDS (default 300), one seed after another. Each
# unexplained mismatch is shrunk and saved as a case file under
# build/random-diff/ (replay it with tests/differential/diff_test.py --cases FILE).
# Exits non-zero if any unexplained mismatch was found.
#
# Usage: scripts/diff_fuzz.sh [SECONDS] [random_diff.py options...]
#   The base seed is printed; pass --base-seed N to rerun a range, --seed N
#   for one seed, --path-syntax to run treecached without --memcached-syntax,
#   --avoid FEATURE to look past a known mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=300
if (($# > 0)) && [[ "$1" =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi

bash scripts/install-deps.sh
if [[ ! -f build/debug/CMakeCache.txt ]]; then
  cmake --preset debug >/dev/null
fi
cmake --build build/debug -j2 --target treecached

# A new range of seeds each run unless the caller gives --base-seed or --seed.
seed_args=()
if ! [[ " $* " =~ \ --(base-)?seed[\ =] ]]; then
  base_seed=$(( $(date +%s) % 1000000 * 10 ))
  seed_args=(--base-seed "$base_seed")
  echo "diff_fuzz: ${seconds}s from base seed ${base_seed}"
fi
exec /usr/bin/python3 tests/differential/random_diff.py \
  --server-bin build/debug/server/treecached --seconds "$seconds" \
  "${seed_args[@]}" "$@"
