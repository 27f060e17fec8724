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
# - fairness: one app's p99 at 16 connections alone and while another app is flooded
#   with requests that loop until their timeout;
# - one hot app among APPS idle ones: `wrk -t1 -c64` requests/s and the server's CPU us
#   per request, against `wisp up` serving the same app alone (both servers on CPU 0,
#   wrk on CPU 1, loaded in turn for 3 rounds; the median rounds compared).
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
probe=$(build_guest probe)
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
cold_stats=$(py "$public" "$apps" <<'EOF'
import http.client, statistics, sys, time
public, apps = sys.argv[1], int(sys.argv[2])
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
for i in range(apps // 2, apps // 2 + min(50, apps // 2)):
    cold.append(get(i)); warm.append(get(i))
print(f"{statistics.median(cold):.2f} {statistics.median(warm):.2f}")
EOF
)
read -r cold_ms warm_ms <<<"$cold_stats"
# Baseline beside it: the same app alone under `wisp up`, also on CPU 0; the two are
# loaded in turn, ROUNDS times, and the medians compared.
taskset -c 0 "$wisp" up -f "$app_dir" --listen 127.0.0.1:0 --cache-dir "$work/cache" \
    >"$work/up.out" 2>/dev/null &
up_pid=$!
up_addr=""
for _ in $(seq 100); do
    up_addr=$(sed -n 's#^Serving http://##p' "$work/up.out")
    [ -n "$up_addr" ] && break
    sleep 0.1
done
rounds=3
for round in $(seq $rounds); do
    hot "$public" app-7.bench "one hot app among $apps idle (wisp serve)" "$serve_pid" >>"$work/hot-serve"
    hot "$up_addr" "$up_addr" "the same app alone (wisp up)" "$up_pid" >>"$work/hot-up"
    # The dashboard open: its sampler reads all apps' counters every second.
    taskset -c 1 curl -sN -H 'Authorization: Bearer bench' "http://$admin/v1/events" >/dev/null &
    watch_pid=$!
    hot "$public" app-7.bench "the same, dashboard event stream open" "$serve_pid" >>"$work/hot-watched"
    kill "$watch_pid" 2>/dev/null || true
done
kill "$up_pid"
wait "$up_pid" 2>/dev/null || true

# Fairness: app B (the probe's hello) at 16 connections, alone and while app A (the
# probe's infinite loop) is flooded by 64 connections whose every request spins until
# the 30 s timeout.
for ab in a b; do
    curl -fs -X PUT -H 'Authorization: Bearer bench' "http://$admin/v1/apps/fair-$ab" \
        -d "{\"source\": {\"path\": \"$probe\"}, \"hosts\": [\"fair-$ab.bench\"]}" >/dev/null
done
# p99 HOST: wrk's 99th percentile latency at 16 connections, in ms.
p99() {
    taskset -c 1 wrk -t1 -c16 -d"${duration}s" --latency -H "Host: $1" "http://$public/" 2>&1 |
        awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) sub(/ms$/,"",v); else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}'
}
taskset -c 1 wrk -t1 -c16 -d2s -H "Host: fair-b.bench" "http://$public/" >/dev/null 2>&1
b_alone=$(p99 fair-b.bench)
taskset -c 1 wrk -t1 -c64 -d"$((duration + 4))s" --timeout 60s -H "Host: fair-a.bench" \
    "http://$public/?op=loop" >/dev/null 2>&1 &
flood_pid=$!
sleep 2
b_flooded=$(p99 fair-b.bench)
wait "$flood_pid" 2>/dev/null || true
stop_serve
# median_line FILE: the line with the median requests/s.
median_line() { awk '{for (i=1;i<=NF;i++) if ($(i+1)=="req/s") print $i"\t"$0}' "$1" | sort -n | sed -n "$(((rounds+1)/2))p" | cut -f2-; }
hot_idle=$(median_line "$work/hot-serve")
hot_alone=$(median_line "$work/hot-up")
hot_watched=$(median_line "$work/hot-watched")

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
echo "hot app, $rounds interleaved rounds of ${duration} s each (median round shown):"
echo "$hot_idle"
echo "$hot_alone"
echo "$hot_watched"
echo "hot app among idle ones / alone: $(bc -l <<<"scale=3; $(rps_of "$hot_idle")/$(rps_of "$hot_alone")") requests/s"
echo "fairness: app B p99 at 16 connections alone $b_alone ms; with app A flooded by looping requests $b_flooded ms ($(bc -l <<<"scale=2; $b_flooded/$b_alone")x)"
echo "all rounds:"
cat "$work/hot-serve" "$work/hot-up" "$work/hot-watched"
