#!/usr/bin/env bash
# One command for treecached vs stock memcached: installs what is missing
# (scripts/install-deps.sh, including memcached and gnuplot-nox), builds the
# release preset and runs bench/compare/compare.py. Arguments go to compare.py:
#
#   bench/compare/run.sh                  # -t 1 and -t 2, 3 rounds of 5 s per run
#   bench/compare/run.sh --quick          # 1 s per run
#   bench/compare/run.sh --rounds 5 --seconds 10 --threads 2 --profiles get-hit,set-p16
#
# See bench/compare/README.md for what the columns mean.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build build/release -j"$(nproc)" --target treecached treecached_bench
exec /usr/bin/python3 bench/compare/compare.py \
  --server-bin build/release/server/treecached \
  --bench-bin build/release/bench/load/treecached-bench "$@"
