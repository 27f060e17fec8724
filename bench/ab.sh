#!/usr/bin/env bash
# A/B of two wisp binaries on the hello example (examples/hello-rust): a fresh instance
# per request and `--instance-reuse 1000`, the two binaries interleaved round by round so
# both see the same machine; the server on CPU 0, `wrk -t1 -c64` on CPU 1, CPU µs per
# request from /proc/PID/stat. Build the old one from another commit first, e.g.
#   git worktree add /tmp/wisp-old REV
#   (cd /tmp/wisp-old && CARGO_TARGET_DIR=/tmp/wisp-old-target cargo build --release -p wisp-cli)
# Usage: bench/ab.sh OLD_WISP NEW_WISP [ROUNDS] [DURATION_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1
new=$2
rounds=${3:-5}
duration=${4:-10}
source bench/common.sh
need_packages wrk bc
(cd examples/hello-rust && cargo build -q --target wasm32-wasip2 --release)
cache=$(mktemp -d)
trap 'rm -rf "$cache"; kill $(jobs -p) 2>/dev/null || true' EXIT
# Each binary keeps its own compile cache: their entries need not agree.
mkdir -p "$cache/old" "$cache/new"

for round in $(seq "$rounds"); do
    echo "round $round"
    for mode in fresh reuse; do
        flags=()
        [ "$mode" = reuse ] && flags=(--instance-reuse 1000)
        wrk_cpu "old, $mode" "$old" examples/hello-rust /hello "$cache/old" "$duration" "${flags[@]}"
        wrk_cpu "new, $mode" "$new" examples/hello-rust /hello "$cache/new" "$duration" "${flags[@]}"
    done
done
