#!/usr/bin/env bash
# Runs every libFuzzer target (fuzz/README.md) for SECONDS each, from its seed corpus.
#   tools/fuzz.sh [SECONDS] [BUILD_DIR]      defaults: 30, build-fuzz
# Configures and builds BUILD_DIR with clang (the whole library under ASan+UBSan) when needed,
# prints the inputs each target ran, and exits non-zero on any finding (crash, sanitizer report,
# an exception other than lc::Error, a timeout, running out of memory). A finding's reproducer is
# left in BUILD_DIR/fuzz-findings/<target>/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
build=${2:-$root/build-fuzz}
jobs=$(nproc 2>/dev/null || echo 2)

targets=(safetensors config generation_config gguf history_import hf_tokenizer chat_template
         cache_file hub_json)
declare -A max_len=([safetensors]=4096 [config]=4096 [generation_config]=1024 [gguf]=8192
                    [history_import]=8192 [hf_tokenizer]=8192 [chat_template]=4096
                    [cache_file]=4096 [hub_json]=8192)
# The server's request bodies (core/server/openai_request.h).
targets+=(openai_request)
max_len[openai_request]=8192

if [[ ! -f $build/CMakeCache.txt ]]; then
    CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DLATENTCHAT_FUZZ=ON -DLATENTCHAT_HEADLESS=ON \
        -DLATENTCHAT_CUDA=OFF -DLATENTCHAT_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fsanitize=fuzzer-no-link" >/dev/null
fi
cmake --build "$build" -j"$jobs" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in "${targets[@]}"; do
    work=$(mktemp -d)  # new inputs go here; the committed seeds stay as they are
    findings=$build/fuzz-findings/$t
    mkdir -p "$findings"
    log=$build/fuzz-$t.log
    set +e
    "$build/fuzz/fuzz_$t" "$work" "$root/fuzz/corpus/$t" -max_total_time="$seconds" \
        -max_len="${max_len[$t]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$findings/" >"$log" 2>&1
    rc=$?
    set -e
    rm -rf "$work"
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || true)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    if [[ $rc -eq 0 ]]; then
        printf '%-16s ok       %12s inputs in %ss   %s\n' "$t" "${runs:-?}" "$seconds" "$last"
    else
        printf '%-16s FINDING  %12s inputs (exit %d), log %s, reproducer in %s\n' \
            "$t" "${runs:-?}" "$rc" "$log" "$findings"
        grep -E 'ERROR|runtime error|terminate|SUMMARY|Test unit written' "$log" | head -5 || true
        failed+=("$t")
    fi
done
if ((${#failed[@]})); then
    echo "findings in: ${failed[*]}"
    exit 1
fi
echo "all ${#targets[@]} targets clean"
