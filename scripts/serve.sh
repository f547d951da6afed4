#!/usr/bin/env bash
# Installs what is missing, builds treecached (release) and runs it in the
# foreground on 127.0.0.1:11211. Extra arguments go to the server (-t, -m, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build build/release -j"$(nproc)" --target treecached
exec build/release/server/treecached -l 127.0.0.1 -p 11211 "$@"
