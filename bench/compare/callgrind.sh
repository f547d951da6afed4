#!/usr/bin/env bash
# User-space instructions per request of a memcached-protocol server, counted
# by callgrind: repeatable where timings on a shared VM are not, so small
# hot-path changes can be measured. Kernel work (system calls, TCP) is not
# counted; bench/compare's user/kernel CPU split shows that side.
#
# Usage: bench/compare/callgrind.sh [SERVER_BIN]
#   SERVER_BIN defaults to build/release/server/treecached (built if needed);
#   /usr/bin/memcached works too. The server runs with one worker thread and is
#   preloaded with 10,000 keys of 100-byte values, then three workloads run,
#   4 connections each: pipelined gets (16 deep), pipelined sets, unpipelined gets.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/install-deps.sh profile
bench=build/release/bench/load/treecached-bench
server=${1:-build/release/server/treecached}
if [[ $# -eq 0 || ! -x $bench ]]; then
  cmake --preset release >/dev/null
  cmake --build build/release -j"$(nproc)" --target treecached treecached_bench >/dev/null
fi

work=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# memcached refuses to run as root without -u, and once it has switched to
# that user a root callgrind_control can no longer reach it: start it, and
# talk to it, as nobody.
run_as=()
if [[ $(basename "$server") == memcached* && $(id -u) == 0 ]]; then
  run_as=(runuser -u nobody --)
  chmod 777 "$work"
fi
# memcached also sets its descriptor limit to -c, soft and hard; valgrind
# allows that only when the hard limit it keeps for the program (12 below
# the real one) is exactly that value.
(
  ulimit -Sn 268 && ulimit -Hn 268
  exec "${run_as[@]}" valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
    "$server" -U 0 -l 127.0.0.1 -p "$port" -t 1 -m 1024 -c 256
) >"$work/server.log" 2>&1 &
trap 'pkill -f "valgrind.bin.* -p $port " 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
up=no
for _ in $(seq 150); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=yes; break; fi
  sleep 0.2
done
pid=$(pgrep -f "valgrind.bin.* -p $port " | head -1 || true)
if [[ $up != yes || -z $pid ]]; then
  echo "$server did not start under valgrind:" >&2
  grep -v '^==' "$work/server.log" >&2 || true
  exit 1
fi
"$bench" --port "$port" --preload --requests 1 --get-ratio 1 --connections 4 --timeout 60 >/dev/null

# measure NAME REQUESTS BENCH_ARGS...: zero the counters, run, dump, divide.
# The server acts on a request to zero or dump the next time it runs code, so
# both wait for that: memcached, idle, wakes once a second for its clock.
dumps=0
measure() {
  local name=$1 requests=$2
  shift 2
  "${run_as[@]}" callgrind_control --zero "$pid" >/dev/null 2>&1
  sleep 1.5
  "$bench" --port "$port" --connections 4 --timeout 60 --requests "$requests" "$@" >/dev/null
  "${run_as[@]}" callgrind_control --dump="$name" "$pid" >/dev/null 2>&1
  dumps=$((dumps + 1))
  local dump="$work/callgrind.out.$dumps" instructions
  for _ in $(seq 100); do
    [[ -s $dump ]] && grep -q '^totals:' "$dump" && break
    sleep 0.1
  done
  instructions=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
  printf '%-18s %12s instructions  %7.0f per request\n' "$name" "$instructions" \
    "$(echo "$instructions / $requests" | bc -l)"
}
echo "user-space instructions of $server (callgrind)"
measure get-pipelined-16 40000 --pipeline 16 --get-ratio 1
measure set-pipelined-16 40000 --pipeline 16 --get-ratio 0
measure get-unpipelined 20000 --pipeline 1 --get-ratio 1
