#!/usr/bin/env bash
# The containerd shim on one node: the time from `ctr run` to the first 200 for an app
# pushed with `wisp registry push` (examples/hello-rust), with the node's compile cache
# cold (a fresh containerd: the shim compiles while creating the container) and warm (a
# second container of the same image), and the memory each idle running app costs with
# APPS containers running: the summed RSS and PSS (shared pages split among their users)
# of every process runwasi keeps for it (shim, helpers, the container's process). Each
# round starts a fresh containerd (Debian 13's 1.7, as the tests use); figures are the
# medians of ROUNDS rounds.
#
#   bench/shim.sh [ROUNDS] [APPS]        (default 5 rounds, 5 apps)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
rounds=${1:-5}
apps=${2:-5}
need_packages docker-registry curl bc
scripts/fetch-containerd >/dev/null
build_host containerd-shim-wisp
(cd examples/hello-rust && cargo build -q --release --target wasm32-wasip2)
bin=$PWD/target/containerd-debian13/usr/bin
wisp=$PWD/target/release/wisp

work=$(mktemp -d)
cleanup() {
    [ -n "${ctr_pid:-}" ] && stop_containerd
    kill "$registry_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$work/registry" "$port" >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry_pid=$!
until curl -fs "http://127.0.0.1:$port/v2/" >/dev/null; do sleep 0.1; done
image=127.0.0.1:$port/hello:v1
"$wisp" registry push -k -f examples/hello-rust "$image" >/dev/null

ctr() { "$bin/ctr" --address "$work/c/containerd.sock" -n bench "$@"; }
start_containerd() {
    rm -rf "$work/c" && mkdir -p "$work/c"
    printf 'version = 2\nroot = "%s/root"\nstate = "%s/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "%s/containerd.sock"\n[ttrpc]\n  address = "%s/containerd.sock.ttrpc"\n' \
        "$work/c" "$work/c" "$work/c" "$work/c" >"$work/c/config.toml"
    PATH=$PWD/target/release:$PATH "$bin/containerd" --config "$work/c/config.toml" >"$work/c/log" 2>&1 &
    ctr_pid=$!
    until ctr version >/dev/null 2>&1; do sleep 0.1; done
}
stop_containerd() {
    for id in $(ctr task ls -q 2>/dev/null); do
        ctr task kill -s SIGKILL "$id" >/dev/null 2>&1 || true
        ctr task delete -f "$id" >/dev/null 2>&1 || true
    done
    for id in $(ctr container ls -q 2>/dev/null); do ctr container delete "$id" >/dev/null 2>&1 || true; done
    kill "$ctr_pid" && wait "$ctr_pid" 2>/dev/null || true
    ctr_pid=
}
# run_to_200 ID PORT: ms from `ctr run -d` to a 200 from the container.
run_to_200() {
    local t0 deadline=$((SECONDS + 60))
    t0=$(date +%s.%N)
    ctr run -d --runtime io.containerd.wisp.v1 --net-host \
        --env "SPIN_HTTP_LISTEN_ADDR=127.0.0.1:$2" "$image" "$1" / >/dev/null
    until curl -fs -o /dev/null "http://127.0.0.1:$2/hello"; do
        ((SECONDS < deadline)) || { echo "container $1 never answered" >&2; return 1; }
        sleep 0.005
    done
    bc -l <<<"($(date +%s.%N)-$t0)*1000"
}
# mem_kib FIELD ID: the summed FIELD (Rss or Pss) of every process of container ID.
mem_kib() {
    local total=0 pid
    for pid in $(pgrep -f -- "-id $2 -address"); do
        total=$((total + $(awk -v f="$1:" '$1 == f {print $2}' "/proc/$pid/smaps_rollup")))
    done
    echo "$total"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: >"$work/cold"; : >"$work/warm"; : >"$work/rss"; : >"$work/pss"; : >"$work/procs"
for round in $(seq "$rounds"); do
    start_containerd
    ctr image pull --plain-http "$image" >/dev/null 2>&1
    run_to_200 "cold-$round" "$(free_port)" >>"$work/cold"
    run_to_200 "warm-$round" "$(free_port)" >>"$work/warm"
    for i in $(seq 3 "$apps"); do run_to_200 "idle-$round-$i" "$(free_port)" >/dev/null; done
    sleep 2
    # The first container's shim also built the compiler's engine: the later ones are
    # what each further app costs.
    for id in $(ctr task ls -q | grep -v "^cold-"); do
        mem_kib Rss "$id" >>"$work/rss"
        mem_kib Pss "$id" >>"$work/pss"
        pgrep -fc -- "-id $id -address" >>"$work/procs"
    done
    stop_containerd
done
printf 'hello-rust, %s rounds, %s apps per node (containerd %s)\n' "$rounds" "$apps" \
    "$("$bin/containerd" --version | awk '{print $3}')"
printf '%-40s %8.1f ms\n' "ctr run → first 200, cold node cache" "$(median <"$work/cold")"
printf '%-40s %8.1f ms\n' "ctr run → first 200, warm node cache" "$(median <"$work/warm")"
printf '%-40s %8s\n' "idle app: processes" "$(median <"$work/procs")"
printf '%-40s %8.1f MiB\n' "idle app: RSS, summed" "$(median <"$work/rss" | awk '{print $1/1024}')"
printf '%-40s %8.1f MiB\n' "idle app: PSS, summed" "$(median <"$work/pss" | awk '{print $1/1024}')"
