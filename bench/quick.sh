#!/usr/bin/env bash
# A quick side-by-side on this machine: time from `wisp up` to the first 200 (cold and
# warm compile cache), then requests/s and latency of the hello-world example under wrk
# next to a native hyper hello-world and the WASI 0.3 hello (spin-sdk 7), each server
# pinned to CPU 0 and wrk to CPU 1.
# Usage: bench/quick.sh [DURATION_SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
conns=${2:-64}
source bench/common.sh
need_packages wrk
build_host wisp-bench
(cd examples/hello-rust && cargo build -q --target wasm32-wasip2 --release)
(cd examples/hello-p3-rust && cargo build -q --target wasm32-wasip2 --release)
wisp=target/release/wisp
native=target/release/native-hello
app=examples/hello-rust
cache=$(mktemp -d)
trap 'rm -rf "$cache"; kill $(jobs -p) 2>/dev/null || true' EXIT

now_ms() { date +%s%3N; }
first_200_ms() { # $@: server command; prints ms from spawn to the first 200
    local start; start=$(now_ms)
    "$@" >/dev/null 2>&1 &
    local pid=$!
    until curl -sf -o /dev/null "http://127.0.0.1:3000/hello"; do sleep 0.005; done
    echo $(( $(now_ms) - start ))
    kill "$pid"; wait "$pid" 2>/dev/null || true
}
cold=$(first_200_ms "$wisp" up -f "$app" --listen 127.0.0.1:3000 --cache-dir "$cache")
warm=$(first_200_ms "$wisp" up -f "$app" --listen 127.0.0.1:3000 --cache-dir "$cache")
echo "wisp up -> first 200: cold cache ${cold} ms, warm cache ${warm} ms"

load() { # $1: name, $2: url, rest: server command
    local name=$1 url=$2; shift 2
    taskset -c 0 "$@" >/dev/null 2>&1 &
    local pid=$!
    until curl -sf -o /dev/null "$url"; do sleep 0.01; done
    taskset -c 1 wrk -t1 -c"$conns" -d2s "$url" >/dev/null  # warm-up
    local out; out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${duration}s" --latency "$url")
    local rps p50 p99
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    echo "| $name | $rps | $p50 | $p99 |"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}
echo
echo "wrk, ${conns} connections, ${duration}s, server on CPU 0, wrk on CPU 1"
echo "| server | requests/s | p50 | p99 |"
echo "| --- | --- | --- | --- |"
load "native hyper" "http://127.0.0.1:3001/hello" "$native" 127.0.0.1:3001
load "wisp (hello-rust)" "http://127.0.0.1:3000/hello" "$wisp" up -f "$app" --listen 127.0.0.1:3000 --cache-dir "$cache"
load "wisp (hello-p3-rust, WASI 0.3)" "http://127.0.0.1:3002/hello" "$wisp" up -f examples/hello-p3-rust --listen 127.0.0.1:3002 --cache-dir "$cache"
