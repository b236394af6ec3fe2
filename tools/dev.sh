#!/usr/bin/env bash
# LatentChat's two everyday commands on a Debian 12 machine (as root, or with sudo):
#   tools/dev.sh run [APP FLAGS]   install what is missing, build, start the app on the bundled model
#   tools/dev.sh test              install what is missing, build, run the whole test suite
#   tools/dev.sh sanitize          the whole test suite built with ASan+UBSan (build-asan)
#   tools/dev.sh fuzz [SECONDS]    every libFuzzer target for SECONDS (default 30; build-fuzz)
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
# The fuzz targets need clang with libFuzzer and the sanitizer runtimes (libclang-rt-14-dev, only
# recommended by clang on Debian 12); llvm brings llvm-symbolizer for readable stack traces.
fuzz_packages=(clang libclang-rt-14-dev llvm)

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
    sanitize)
        # The same suite with AddressSanitizer and UndefinedBehaviorSanitizer in every library and
        # test, in its own build folder. -O1 keeps it fast enough for CI. GCC warns
        # maybe-uninitialized falsely inside libstdc++ (std::regex, std::function) once
        # -fsanitize is on (its manual says sanitizers can cause such warnings), so that one
        # warning is off in this build only; every other warning is still an error.
        install_missing "${packages[@]}" "${test_packages[@]}"
        san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
        cmake -S . -B build-asan -DLATENTCHAT_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
            -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
            -DCMAKE_CXX_FLAGS="$san -Wno-maybe-uninitialized" -DCMAKE_C_FLAGS="$san" \
            -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
            -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined"
        cmake --build build-asan -j"$(nproc)"
        # The published tokenizers and references `test` fetched (the same pins): shared, not
        # fetched again.
        if [ -f build/testdata/READY ] && [ ! -e build-asan/testdata ]; then
            ln -s ../build/testdata build-asan/testdata
        fi
        # Any report ends the test that made it (halt_on_error); leaks are reported too. No
        # suppressions: the suite ran clean without any (2026-12-02).
        export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1"
        export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
        # test_bundled_model's held-out perplexity (55k tokens through the model) takes 13 CPU
        # minutes under ASan, past the tests' 300 s limits; its other cases run, and the
        # perplexity command runs on short texts in test_cli_commands and test_cli_errors.
        LATENTCHAT_REQUIRE_TEST_TOOLS=1 ctest --test-dir build-asan --output-on-failure \
            --no-tests=error -j"$(nproc)" -E '^test_bundled_model$'
        (cd build-asan/tests && ./test_bundled_model is_the_default_model \
            latentchat_model_names_a_model_or_a_folder_of_models tells_a_story_in_the_chat_format)
        ;;
    fuzz)
        install_missing "${packages[@]}" "${fuzz_packages[@]}"
        bash tools/fuzz.sh "${2:-30}"
        ;;
    *)
        echo "usage: tools/dev.sh run [app flags] | test | sanitize | fuzz [SECONDS]" >&2
        exit 2
        ;;
esac
