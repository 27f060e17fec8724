#!/usr/bin/env bash
# Key-value through a guest, SQLite against Redis in the same run. Two figures each:
#  - ops/s inside one request: the spin-sdk guest does N sets then N gets via
#    fermyon:spin/key-value@2.0.0 (median of 3);
#  - requests/s under wrk of one get or one set per request (fresh instance each),
#    server on CPU 0, wrk on CPU 1.
# Usage: bench/kv.sh [N] [DURATION_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000}
duration=${2:-5}
source bench/common.sh
need_packages wrk redis-server
build_host
guest=$(build_guest spin-app)

work=$(mktemp -d)
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
redis_pid=$!
trap 'kill $redis_pid $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/spin.toml" <<TOML
spin_manifest_version = 2
[application]
name = "kv-bench"
[[trigger.http]]
route = "/..."
component = "app"
[component.app]
source = "$guest"
key_value_stores = ["default", "redis"]
TOML
printf '[key_value_store.redis]\ntype = "redis"\nurl = "redis://127.0.0.1:%s"\n' "$redis_port" > "$work/rc.toml"
taskset -c 0 target/release/wisp up -f "$work/spin.toml" --listen 127.0.0.1:3002 \
    --runtime-config-file "$work/rc.toml" --state-dir "$work/state" --cache-dir "$work/cache" >/dev/null 2>&1 &
until curl -sf -o /dev/null "http://127.0.0.1:3002/.well-known/spin/health"; do sleep 0.05; done

median() { sort -n | sed -n 2p; }
echo "| backend | sets/s in one request | gets/s in one request | get requests/s | set requests/s |"
echo "| --- | --- | --- | --- | --- |"
for store in default redis; do
    runs=$(for _ in 1 2 3; do curl -sf "http://127.0.0.1:3002/?op=kv-bench&store=$store&n=$n"; echo; done)
    sets=$(awk '{print $1}' <<<"$runs" | median)
    gets=$(awk '{print $2}' <<<"$runs" | median)
    curl -sf -o /dev/null "http://127.0.0.1:3002/?op=kv-set&store=$store&key=k&value=v"
    rps() { taskset -c 1 wrk -t1 -c16 -d"${duration}s" "$1" | awk '/Requests\/sec/ {printf "%.0f", $2}'; }
    get_rps=$(rps "http://127.0.0.1:3002/?op=kv-get&store=$store&key=k")
    set_rps=$(rps "http://127.0.0.1:3002/?op=kv-set&store=$store&key=k&value=v")
    name=$([ "$store" = default ] && echo "SQLite (default)" || echo "Redis")
    echo "| $name | $sets | $gets | $get_rps | $set_rps |"
done
