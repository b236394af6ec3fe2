#!/usr/bin/env bash
# LatentChat's two everyday commands on a Debian 12 machine (as root, or with sudo):
#   tools/dev.sh run [APP FLAGS]   install what is missing, build, start the app on the bundled model
#   tools/dev.sh test              install what is missing, build, run the whole test suite
# Proven on a clean Debian 12 root by tools/fresh_root_check.sh (README: "The two commands").
set -euo pipefail
cd "$(dirname "$0")/.."

# Everything configure, build and `run` need. qt6-charts-dev only recommends libqt6opengl6-dev, yet
# its CMake config requires Qt6OpenGL: without it configure stops (see CMakeLists.txt).
packages=(build-essential cmake pkg-config git qt6-base-dev qt6-charts-dev libqt6opengl6-dev
          libsentencepiece-dev nlohmann-json3-dev libsqlite3-dev libpcre2-dev libicu-dev
          libcurl4-openssl-dev libssl-dev libcpp-httplib-dev)
# What the tests need on top: the packaging test's tools (lintian, validators, dpkg-shlibdeps), and
# python3-venv for tools/fetch_test_data.sh (published tokenizers and the Python references).
test_packages=(lintian desktop-file-utils appstream dpkg-dev fakeroot file python3-venv)

install_missing() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "Installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() {
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
    cmake --build build -j"$(nproc)"
}

case "${1:-}" in
    run)
        install_missing "${packages[@]}"
        build
        shift
        exec build/app/latentchat "$@"
        ;;
    test)
        install_missing "${packages[@]}" "${test_packages[@]}"
        build
        # Every test must run: no tests found is an error, and a test that skips because a tool
        # this script installs is missing fails instead (LATENTCHAT_REQUIRE_TEST_TOOLS).
        log=$(mktemp)
        trap 'rm -f "$log"' EXIT
        status=0
        LATENTCHAT_REQUIRE_TEST_TOOLS=1 ctest --test-dir build --output-on-failure --no-tests=error \
            -j"$(nproc)" 2>&1 | tee "$log" || status=$?
        [ "$status" -ne 0 ] && exit "$status"
        if grep -q "(Skipped)\|(Not Run)\|(Disabled)" "$log"; then
            echo "dev.sh test: some tests did not run (listed above); every test must run" >&2
            exit 1
        fi
        ;;
    *)
        echo "usage: tools/dev.sh run [app flags] | tools/dev.sh test" >&2
        exit 2
        ;;
esac
