#!/usr/bin/env bash
# LatentChat's two everyday commands on a Debian 12 machine (as root, or with sudo):
#   tools/dev.sh run    install what is missing, build, start the app on the bundled model
#   tools/dev.sh test   install what is missing, build, run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config git qt6-base-dev qt6-charts-dev libsentencepiece-dev
          nlohmann-json3-dev libsqlite3-dev)
# The packaging test's tools (lintian, validators, dpkg-shlibdeps); the test is skipped without them.
test_packages=(lintian desktop-file-utils appstream dpkg-dev fakeroot file)

install_missing() {
    local missing=()
    for p in "${packages[@]}"; do
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
        install_missing
        build
        shift
        exec build/app/latentchat "$@"
        ;;
    test)
        packages+=("${test_packages[@]}")
        install_missing
        build
        ctest --test-dir build --output-on-failure -j"$(nproc)"
        ;;
    *)
        echo "usage: tools/dev.sh run|test" >&2
        exit 2
        ;;
esac
