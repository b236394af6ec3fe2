#!/usr/bin/env bash
# Configure never drops a required part silently: with each one hidden from CMake, configure must
# fail and name the Debian package that brings it (issue: the app and the tests vanished while
# ctest said "No tests were found" and exited 0).
#   tests/check_configure.sh SOURCE_DIR
set -uo pipefail
src=${1:?source dir}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
# package CMake would look for | the Debian package the message must name
cases=("Qt6Charts|qt6-charts-dev" "Qt6Widgets|qt6-base-dev" "Qt6Test|qt6-base-dev"
       "SQLite3|libsqlite3-dev" "nlohmann_json|nlohmann-json3-dev")
for c in "${cases[@]}"; do
    pkg=${c%%|*} deb=${c##*|}
    rm -rf "$tmp/b"
    if cmake -S "$src" -B "$tmp/b" -DLATENTCHAT_CUDA=OFF "-DCMAKE_DISABLE_FIND_PACKAGE_$pkg=TRUE" \
        >"$tmp/log" 2>&1; then
        echo "FAIL: configure succeeded without $pkg"
        failures=$((failures + 1))
    elif ! tr '\n' ' ' <"$tmp/log" | grep -q "apt-get *install [^\`]*$deb"; then
        echo "FAIL: without $pkg the error does not name $deb:"
        cat "$tmp/log"
        failures=$((failures + 1))
    fi
done
# The deliberate headless build configures without Qt Widgets/Charts.
rm -rf "$tmp/b"
cmake -S "$src" -B "$tmp/b" -DLATENTCHAT_CUDA=OFF -DLATENTCHAT_HEADLESS=ON \
    -DCMAKE_DISABLE_FIND_PACKAGE_Qt6Charts=TRUE >"$tmp/log" 2>&1 ||
    { echo "FAIL: -DLATENTCHAT_HEADLESS=ON needs Qt Charts"; failures=$((failures + 1)); }
[ "$failures" -eq 0 ] && echo "check_configure: ${#cases[@]} missing parts each stop configure by name"
exit "$((failures > 0))"
