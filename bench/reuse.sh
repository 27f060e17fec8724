#!/usr/bin/env bash
# Instance reuse, measured: for the WASI 0.2 hello (examples/hello-rust) and the WASI 0.3
# hello (examples/hello-p3-rust), a fresh instance per request against
# `--instance-reuse 1000`, interleaved round by round so both see the same machine. The
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
    taskset -c 0 target/release/wisp up -f "$app" --listen 127.0.0.1:0 --cache-dir "$cache" "$@" \
        >"$cache/out" 2>/dev/null &
    local pid=$! addr=""
    for _ in $(seq 100); do
        addr=$(sed -n 's#^Serving http://##p' "$cache/out")
        [ -n "$addr" ] && break
        sleep 0.1
    done
    taskset -c 1 wrk -t1 -c64 -d3s "http://$addr$path" >/dev/null 2>&1
    local t0 t1 out
    t0=$(awk '{print $14+$15}' /proc/$pid/stat)
    out=$(taskset -c 1 wrk -t1 -c64 -d"${duration}s" "http://$addr$path" 2>&1)
    t1=$(awk '{print $14+$15}' /proc/$pid/stat)
    kill $pid
    wait $pid 2>/dev/null || true
    local rps reqs errors
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    reqs=$(awk '/requests in/{print $1}' <<<"$out")
    errors=$(grep -E "Socket errors|Non-2xx" <<<"$out" | tr '\n' ' ' || true)
    printf '%-34s %10s req/s %8.1f CPU us/request %s\n' "$label" "$rps" \
        "$(bc -l <<<"($t1-$t0)*1000000/$(getconf CLK_TCK)/$reqs")" "$errors"
}

for round in $(seq "$rounds"); do
    echo "round $round"
    measure "WASI 0.2 hello, fresh" examples/hello-rust /hello
    measure "WASI 0.2 hello, --instance-reuse 1000" examples/hello-rust /hello --instance-reuse 1000
    measure "WASI 0.3 hello, fresh" examples/hello-p3-rust /hello/x
    measure "WASI 0.3 hello, --instance-reuse 1000" examples/hello-p3-rust /hello/x --instance-reuse 1000
done
