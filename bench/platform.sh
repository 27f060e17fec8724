#!/usr/bin/env bash
# Platform mode at density, on this machine, in one run: APPS copies of
# examples/hello-rust deployed into one `wisp serve` (each its own app, name and host).
#
# - deploy: time per app of `PUT /v1/apps/NAME` (a folder on the host; the compile cache
#   warmed by one deploy first), median and mean over all APPS;
# - memory: the host's RSS empty, with APPS apps loaded and idle, and after they scaled
#   to zero (`--idle-unload`), per app above the empty host;
# - scale from zero: the first response of an app that was unloaded against a response
#   of the same app warm (fresh connection each, median of 50 apps);
# - one hot app among APPS idle ones: `wrk -t1 -c64` requests/s and the server's CPU us
#   per request, against `wisp up` serving the same app alone (server on CPU 0, wrk on
#   CPU 1, one after the other).
#
#   bench/platform.sh [APPS] [SECONDS]        (default 1000 apps, 10 s of wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
apps=${1:-1000}
duration=${2:-10}
need_packages wrk curl bc python3
build_host
(cd examples/hello-rust && cargo build -q --release --target wasm32-wasip2)
wisp=$PWD/target/release/wisp
app_dir=$PWD/examples/hello-rust

work=$(mktemp -d)
cleanup() {
    [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/cache"

rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# start_serve IDLE_SECONDS: `wisp serve` on CPU 0 with the bench's state; sets serve_pid,
# public, admin.
start_serve() {
    taskset -c 0 "$wisp" serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --state-dir "$work/state" --token bench --cache-dir "$work/cache" \
        --idle-unload "$1" >"$work/serve.out" 2>"$work/serve.err" &
    serve_pid=$!
    public="" admin=""
    for _ in $(seq 600); do
        public=$(sed -n 's#^Serving http://##p' "$work/serve.out")
        admin=$(sed -n 's#^Admin API http://##p' "$work/serve.out")
        [ -n "$public" ] && [ -n "$admin" ] && break
        sleep 0.1
    done
    [ -n "$admin" ] || { cat "$work/serve.err"; exit 1; }
}
stop_serve() {
    kill "$serve_pid"
    wait "$serve_pid" 2>/dev/null || true
    serve_pid=
}

# Python for what needs one process and a precise clock: deploying over one keep-alive
# connection, and timing single requests.
py() { python3 - "$@"; }

start_serve 0
sleep 0.5
empty_kib=$(rss_kib "$serve_pid")
deploy_stats=$(py "$admin" "$app_dir" "$apps" <<'EOF'
import http.client, json, statistics, sys, time
admin, path, apps = sys.argv[1], sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection(admin)
def deploy(i):
    body = json.dumps({"source": {"path": path}, "hosts": [f"app-{i}.bench"]})
    conn.request("PUT", f"/v1/apps/app-{i}", body, {"Authorization": "Bearer bench"})
    r = conn.getresponse(); text = r.read()
    if r.status not in (200, 201):
        sys.exit(f"deploy app-{i}: {r.status} {text!r}")
deploy(0)  # compiles once; the rest load from the compile cache
times = []
for i in range(1, apps):
    t = time.perf_counter(); deploy(i); times.append((time.perf_counter() - t) * 1000)
print(f"{statistics.median(times):.2f} {statistics.mean(times):.2f}")
EOF
)
read -r deploy_median deploy_mean <<<"$deploy_stats"
# Touch every app once (each has served), then let the host settle.
py "$public" "$apps" <<'EOF'
import http.client, sys
public, apps = sys.argv[1], int(sys.argv[2])
conn = http.client.HTTPConnection(public)
for i in range(apps):
    conn.request("GET", "/hello", headers={"Host": f"app-{i}.bench"})
    r = conn.getresponse(); r.read()
    assert r.status == 200, (i, r.status)
EOF
sleep 2
loaded_kib=$(rss_kib "$serve_pid")

# hot APP_HOST LABEL: wrk against one app's host; prints requests/s and CPU us/request.
hot() {
    local addr=$1 host=$2 label=$3 pid=$4
    taskset -c 1 wrk -t1 -c64 -d3s -H "Host: $host" "http://$addr/hello" >/dev/null 2>&1
    local t0 t1 out rps reqs errors
    t0=$(cpu_ticks "$pid")
    out=$(taskset -c 1 wrk -t1 -c64 -d"${duration}s" -H "Host: $host" "http://$addr/hello" 2>&1)
    t1=$(cpu_ticks "$pid")
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    reqs=$(awk '/requests in/{print $1}' <<<"$out")
    errors=$(grep -E "Socket errors|Non-2xx" <<<"$out" | tr '\n' ' ' || true)
    printf '%-52s %10s req/s %8.1f CPU us/request %s\n' "$label" "$rps" \
        "$(bc -l <<<"($t1-$t0)*1000000/$(getconf CLK_TCK)/$reqs")" "$errors"
}
hot_loaded=$(hot "$public" app-7.bench "one hot app among $apps loaded (wisp serve)" "$serve_pid")
stop_serve

# The same state again, now scaling idle apps to zero after 2 s.
start_serve 2
sleep 1
restored_kib=$(rss_kib "$serve_pid")
for _ in $(seq 100); do
    idle=$(curl -s -H 'Authorization: Bearer bench' "http://$admin/v1/apps" | grep -c '"status": "idle"' || true)
    [ "$idle" -ge "$apps" ] && break
    sleep 0.2
done
sleep 1
unloaded_kib=$(rss_kib "$serve_pid")
cold_stats=$(py "$public" <<'EOF'
import http.client, statistics, sys, time
public = sys.argv[1]
def get(i):
    conn = http.client.HTTPConnection(public)
    t = time.perf_counter()
    conn.request("GET", "/hello", headers={"Host": f"app-{i}.bench"})
    r = conn.getresponse(); r.read()
    took = (time.perf_counter() - t) * 1000
    assert r.status == 200, (i, r.status)
    conn.close()
    return took
cold, warm = [], []
for i in range(100, 150):
    cold.append(get(i)); warm.append(get(i))
print(f"{statistics.median(cold):.2f} {statistics.median(warm):.2f}")
EOF
)
read -r cold_ms warm_ms <<<"$cold_stats"
hot_idle=$(hot "$public" app-7.bench "one hot app among $apps scaled to zero (wisp serve)" "$serve_pid")
stop_serve

# Baseline: the same app alone under `wisp up`.
taskset -c 0 "$wisp" up -f "$app_dir" --listen 127.0.0.1:0 --cache-dir "$work/cache" \
    >"$work/up.out" 2>/dev/null &
up_pid=$!
up_addr=""
for _ in $(seq 100); do
    up_addr=$(sed -n 's#^Serving http://##p' "$work/up.out")
    [ -n "$up_addr" ] && break
    sleep 0.1
done
hot_alone=$(hot "$up_addr" "$up_addr" "the same app alone (wisp up)" "$up_pid")
kill "$up_pid"
wait "$up_pid" 2>/dev/null || true

mib() { bc -l <<<"scale=1; $1/1024"; }
per_app() { bc -l <<<"scale=3; ($1-$empty_kib)/1024/$apps"; }
rps_of() { awk '{for (i=1;i<=NF;i++) if ($(i+1)=="req/s") print $i}' <<<"$1"; }
echo "# bench/platform.sh $apps $duration — $(date -u +%F) $(git rev-parse --short HEAD) ($(nproc) CPUs)"
echo "deploy, compile cache warm:     median $deploy_median ms, mean $deploy_mean ms per app"
echo "RSS empty host:                 $(mib "$empty_kib") MiB"
echo "RSS $apps apps loaded, idle:    $(mib "$loaded_kib") MiB ($(per_app "$loaded_kib") MiB per app)"
echo "RSS $apps apps after restart:   $(mib "$restored_kib") MiB ($(per_app "$restored_kib") MiB per app)"
echo "RSS $apps apps scaled to zero:  $(mib "$unloaded_kib") MiB ($(per_app "$unloaded_kib") MiB per app)"
echo "first response, scaled to zero: median $cold_ms ms; warm: median $warm_ms ms; difference $(bc -l <<<"scale=2; $cold_ms-$warm_ms") ms"
echo "$hot_loaded"
echo "$hot_idle"
echo "$hot_alone"
echo "hot app among idle ones / alone: $(bc -l <<<"scale=3; $(rps_of "$hot_idle")/$(rps_of "$hot_alone")") (loaded: $(bc -l <<<"scale=3; $(rps_of "$hot_loaded")/$(rps_of "$hot_alone")"))"
