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
