#!/usr/bin/env bash
# Soak: good and faulty requests at high concurrency for a while, sampling the host's
# RSS and open file descriptors once a second. RSS swings with the memory bombs in
# flight, so it compares medians: passes when the median RSS of the last 30 samples is
# within 10% + 16 MiB of the first 30 after warm-up, and the most fds in the last 30
# within 32 of the most in the first 30.
# Usage: bench/soak.sh [DURATION_SECONDS (default 600)] [GOOD_CONNECTIONS (default 64)]
# Writes the samples to bench/results/soak-<date>.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-600}
conns=${2:-64}
warmup=10
source bench/common.sh
need_packages wrk
build_host
probe=$(build_guest probe)

work=$(mktemp -d)
cat > "$work/spin.toml" <<TOML
spin_manifest_version = 2
[application]
name = "soak"
[[trigger.http]]
route = "/good/..."
component = "good"
[[trigger.http]]
route = "/bad/..."
component = "bad"
[component.good]
source = "$probe"
[component.bad]
source = "$probe"
[component.bad.limits]
memory = "16MiB"
timeout = "500ms"
max_instances = 32
TOML
port=3004
taskset -c 0 target/release/wisp up -f "$work/spin.toml" --listen 127.0.0.1:$port \
    --state-dir "$work/state" --cache-dir "$work/cache" --log-max-size 1MiB >/dev/null 2>&1 &
pid=$!
trap 'kill $pid $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
until curl -sf -o /dev/null "http://127.0.0.1:$port/.well-known/spin/health"; do sleep 0.05; done

base="http://127.0.0.1:$port"
wrk_pids=()
# wrk runs a little past the sampling window so every sample is taken under load.
load() {
    taskset -c 1 wrk -t1 -c"$2" -d"$((duration + warmup + 5))s" "$base$1" > "$work/wrk$3.txt" 2>&1 &
    wrk_pids+=($!)
}
load "/good/" "$conns" 1
load "/bad/?op=trap" 8 2
load "/bad/?op=membomb" 4 3
load "/bad/?op=loop" 4 4
load "/bad/?op=noresponse" 4 5
load "/bad/?op=partial" 4 6

sample() { # rss_kib fds
    echo "$(awk '/VmRSS/ {print $2}' /proc/$pid/status) $(ls /proc/$pid/fd | wc -l)"
}
mkdir -p bench/results
csv="bench/results/soak-$(date +%Y%m%d-%H%M%S).csv"
echo "second,rss_kib,fds" > "$csv"
sleep "$warmup"
for ((sec = 1; sec <= duration; sec++)); do
    read -r rss fds < <(sample)
    echo "$sec,$rss,$fds" >> "$csv"
    sleep 1
done
wait "${wrk_pids[@]}" 2>/dev/null || true
read -r rss_idle fds_idle < <(sample)

window() { # $1: head|tail, $2: column -> "median max"
    "$1" -n 30 < <(tail -n +2 "$csv") | cut -d, -f"$2" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)], v[NR]}'
}
read -r rss0 _ < <(window head 2)
read -r rss1 _ < <(window tail 2)
read -r _ fds0 < <(window head 3)
read -r _ fds1 < <(window tail 3)

echo "duration: ${duration}s after ${warmup}s warm-up; samples in $csv"
for i in 1 2 3 4 5 6; do
    printf '%-22s %s\n' "$(grep -o 'http://[^ ]*' "$work/wrk$i.txt" | head -1 | sed "s|$base||")" \
        "$(awk '/requests in/ {n=$1} /Requests\/sec/ {r=$2} /Socket errors/ {e=$0} END {print n " requests, " r " req/s" (e ? "; " e : "")}' "$work/wrk$i.txt")"
done
echo "RSS (median of 30 samples): ${rss0} KiB after warm-up -> ${rss1} KiB at the end under load (peak $(tail -n +2 "$csv" | cut -d, -f2 | sort -n | tail -1) KiB); ${rss_idle} KiB idle after"
echo "fds (max of 30 samples): ${fds0} after warm-up -> ${fds1} at the end under load; ${fds_idle} idle after"
kill -0 $pid 2>/dev/null || { echo "FAIL: wisp died"; exit 1; }
if (( rss1 <= rss0 * 11 / 10 + 16384 && fds1 <= fds0 + 32 )); then
    echo "PASS"
else
    echo "FAIL: resources grew"
    exit 1
fi
