#!/usr/bin/env bash
# Installs what is missing, builds the libFuzzer targets (the `fuzz` preset:
# clang, ASan + UBSan), writes the seed corpus from the differential test
# cases and runs every target for SECONDS (default 60), all at once. The
# corpus each target grows is kept in build/fuzz/corpus/<target>, so later
# runs start from it; tests/fuzz/regressions is replayed first every time.
# store_fuzz reads Store operations, not protocol bytes: it starts from
# tests/fuzz/store_seeds and tests/fuzz/regressions-store instead, without
# the dictionary.
# Prints executions and coverage per target; exits non-zero if any target
# found a crash, a sanitizer report, a leak or a timeout (the input is saved
# as build/fuzz/artifacts/<target>-crash-...; replay it with
# `build/fuzz/tests/fuzz/<target> FILE`).
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (targets: parser_fuzz request_fuzz store_fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(parser_fuzz request_fuzz store_fuzz)
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [SECONDS] [TARGET...]" >&2
  exit 64
fi

bash scripts/install-deps.sh fuzz
cmake --preset fuzz >/dev/null
cmake --build build/fuzz -j"$(nproc)" --target "${targets[@]}"

build=build/fuzz
max_len=16384
rm -rf "$build/seeds"
/usr/bin/python3 tests/fuzz/make_seeds.py "$build/seeds" --max-bytes "$max_len"
mkdir -p "$build/artifacts" "$build/logs"

pids=()
for target in "${targets[@]}"; do
  mkdir -p "$build/corpus/$target"
  if [[ "$target" == store_fuzz ]]; then
    extra=()
    inputs=(tests/fuzz/store_seeds tests/fuzz/regressions-store)
  else
    extra=(-dict=tests/fuzz/memcache.dict)
    inputs=("$build/seeds" tests/fuzz/regressions)
  fi
  "$build/tests/fuzz/$target" \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=30 -rss_limit_mb=2560 \
    "${extra[@]}" -print_final_stats=1 -artifact_prefix="$build/artifacts/$target-" \
    "$build/corpus/$target" "${inputs[@]}" \
    >"$build/logs/$target.log" 2>&1 &
  pids+=($!)
done

status=0
for i in "${!targets[@]}"; do
  target="${targets[$i]}"
  log="$build/logs/$target.log"
  if wait "${pids[$i]}"; then
    # "#123456 DONE cov: 1234 ft: 5678 corp: ..." and "Done 123456 runs in 60 second(s)"
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
    runs=$(sed -nE 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1 executions in \2 s/p' "$log" | tail -1)
    cov=$(sed -nE 's/.* (cov: [0-9]+ ft: [0-9]+ corp: [^ ]+).*/\1/p' <<<"$done_line")
    echo "$target: OK, $runs, $cov (log: $log)"
  else
    status=1
    echo "$target: FAILED (log: $log)"
    grep -E 'ERROR: |fuzz invariant violated|SUMMARY|Test unit written to' "$log" | head -20 || true
  fi
done
exit "$status"
