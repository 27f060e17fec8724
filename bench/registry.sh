#!/usr/bin/env bash
# Distribution timings against a local docker-registry (plain HTTP, loopback), for the
# example apps: `wisp registry push`, `wisp registry pull` into an empty cache, and the
# time from `wisp up -f <ref>` to the first 200 with empty caches (pull + compile) and
# with warm ones (pinned digest: no registry request, components from the compile cache).
# Each figure is the median of ROUNDS runs.
#
#   bench/registry.sh [ROUNDS]        (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
rounds=${1:-5}
need_packages docker-registry curl
build_host
wisp=$PWD/target/release/wisp

work=$(mktemp -d)
trap 'kill $registry_pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry_pid=$!
until curl -fs "http://127.0.0.1:$port/v2/" >/dev/null; do sleep 0.1; done

# Seconds since $1 (a `date +%s.%N` reading), in milliseconds.
ms_since() { bc -l <<<"($(date +%s.%N)-$1)*1000"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# up_to_200 REF ROUTE OCI_CACHE COMPILE_CACHE [FLAGS...]: ms from launching `wisp up` to
# a 200 (given up after 60 s).
up_to_200() {
    local ref=$1 route=$2 oci=$3 compiled=$4 t0 out="$work/up.out"
    shift 4
    rm -rf "$work/state"
    t0=$(date +%s.%N)
    "$wisp" up -k -f "$ref" --listen "127.0.0.1:$((port + 1))" --oci-cache-dir "$oci" \
        --cache-dir "$compiled" --state-dir "$work/state" "$@" >"$out" 2>&1 &
    local pid=$!
    local deadline=$((SECONDS + 60))
    until curl -fs -o /dev/null "http://127.0.0.1:$((port + 1))$route"; do
        ((SECONDS < deadline)) || { cat "$out" >&2; kill $pid; return 1; }
        sleep 0.005
    done
    ms_since "$t0"
    kill $pid
    wait $pid 2>/dev/null || true
}

printf '%-18s %8s %10s %8s %14s %14s\n' app layers "push ms" "pull ms" "up→200 cold" "up→200 warm"
for example in hello-rust kv-counter-rust sqlite-todo-rust; do
    dir=examples/$example
    route=$(sed -n 's/^route = "\([^"]*\)".*/\1/p' "$dir/spin.toml" | head -1)
    route=${route%/...}
    [ -n "$route" ] || route=/
    # The todo list needs its table before GET /todos answers 200.
    flags=()
    [ -f "$dir/migration.sql" ] && flags=(--sqlite "@$dir/migration.sql")
    ref=127.0.0.1:$port/$example:v1
    "$wisp" build -f "$dir" >/dev/null 2>&1
    pushes=() pulls=() colds=() warms=() layers=""
    for _ in $(seq "$rounds"); do
        t0=$(date +%s.%N)
        out=$("$wisp" registry push -k -f "$dir" "$ref")
        pushes+=("$(ms_since "$t0")")
        layers=$(sed -n 's/.*(\([0-9]*\) layers).*/\1/p' <<<"$out")
        digest=$(sed -n 's/^Pushed with digest //p' <<<"$out")
        rm -rf "$work/oci" "$work/compiled"
        t0=$(date +%s.%N)
        "$wisp" registry pull -k --oci-cache-dir "$work/oci" "$ref" >/dev/null
        pulls+=("$(ms_since "$t0")")
        rm -rf "$work/oci" "$work/compiled"
        colds+=("$(up_to_200 "$ref" "$route" "$work/oci" "$work/compiled" "${flags[@]}")")
        warms+=("$(up_to_200 "127.0.0.1:$port/$example@$digest" "$route" "$work/oci" "$work/compiled" "${flags[@]}")")
    done
    printf '%-18s %8s %10.0f %8.0f %14.0f %14.0f\n' "$example" "$layers" \
        "$(printf '%s\n' "${pushes[@]}" | median)" "$(printf '%s\n' "${pulls[@]}" | median)" \
        "$(printf '%s\n' "${colds[@]}" | median)" "$(printf '%s\n' "${warms[@]}" | median)"
done
