# Shared by the bench scripts (sourced, not run): installs what they need and builds.

# Installs the Debian packages named (e.g. wrk, redis-server) where their command is missing.
need_packages() {
    local missing=()
    for pkg in "$@"; do
        command -v "$pkg" >/dev/null || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
}

# Builds `wisp` (plus any extra host packages named) in release mode.
build_host() {
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
    local args=(-p wisp-cli)
    for p in "$@"; do args+=(-p "$p"); done
    cargo build --release -q "${args[@]}"
}

# Builds one guest fixture from tests/guests for wasm32-wasip2; prints its .wasm path.
build_guest() {
    (cd tests/guests && cargo build -q --release --target wasm32-wasip2 -p "$1")
    echo "$PWD/tests/guests/target/wasm32-wasip2/release/${1//-/_}.wasm"
}

# wrk_cpu LABEL WISP APP URL_PATH CACHE_DIR DURATION [WISP FLAGS...]: serves APP with the
# binary WISP pinned to CPU 0, warms up 3 s, then runs `wrk -t1 -c64` on CPU 1 for
# DURATION seconds and prints requests/s and the server's CPU microseconds per request
# (from /proc/PID/stat), the figure that carries over between noisy machines.
wrk_cpu() {
    local label=$1 wisp=$2 app=$3 path=$4 cache=$5 duration=$6
    shift 6
    taskset -c 0 "$wisp" up -f "$app" --listen 127.0.0.1:0 --cache-dir "$cache" "$@" \
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
    printf '%-44s %10s req/s %8.1f CPU us/request %s\n' "$label" "$rps" \
        "$(bc -l <<<"($t1-$t0)*1000000/$(getconf CLK_TCK)/$reqs")" "$errors"
}
