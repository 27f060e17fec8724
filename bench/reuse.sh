#!/usr/bin/env bash
# Instance reuse, measured: for the WASI 0.2 hello (examples/hello-rust) and the WASI 0.3
# hello (examples/hello-p3-rust), a fresh instance per request against
# `--instance-reuse 1000` (and, for WASI 0.3, with `--instance-concurrency 16`: one
# instance serving up to 16 requests at a time), interleaved round by round so all see
# the same machine. The
# server is pinned to CPU 0 and `wrk -t1 -c64` to CPU 1; each line gives requests/s and
# the server's CPU microseconds per request (from /proc/PID/stat), the figure that
# carries over between noisy machines.
# Usage: bench/reuse.sh [ROUNDS] [DURATION_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
duration=${2:-10}
source bench/common.sh
need_packages wrk bc
build_host
(cd examples/hello-rust && cargo build -q --target wasm32-wasip2 --release)
(cd examples/hello-p3-rust && cargo build -q --target wasm32-wasip2 --release)
cache=$(mktemp -d)
trap 'rm -rf "$cache"; kill $(jobs -p) 2>/dev/null || true' EXIT

# measure LABEL APP URL_PATH [WISP FLAGS...]
measure() {
    local label=$1 app=$2 path=$3
    shift 3
    wrk_cpu "$label" target/release/wisp "$app" "$path" "$cache" "$duration" "$@"
}

for round in $(seq "$rounds"); do
    echo "round $round"
    measure "WASI 0.2 hello, fresh" examples/hello-rust /hello
    measure "WASI 0.2 hello, --instance-reuse 1000" examples/hello-rust /hello --instance-reuse 1000
    measure "WASI 0.3 hello, fresh" examples/hello-p3-rust /hello/x
    measure "WASI 0.3 hello, --instance-reuse 1000" examples/hello-p3-rust /hello/x --instance-reuse 1000
    measure "WASI 0.3 hello, reuse 1000, concurrency 16" examples/hello-p3-rust /hello/x \
        --instance-reuse 1000 --instance-concurrency 16
done
