#!/usr/bin/env bash
# On the GPU machine: LatentChat and llama.cpp side by side on the same GGUF files.
#   tools/gguf_side_by_side.sh KIT RES [LAYERS]
# KIT holds llama.cpp.tgz and ../shared/anchors/llamacpp's scripts (get.sh packs the tarball where
# PyPI is reachable); RES collects logs and JSON. Steps (each skipped when its output exists):
#   1. build llama.cpp (CUDA, sm_90; its CPU backend for this host's ISA) while a random 27-layer
#      DeepSeek-V2-Lite-shaped model is made and converted to GGUF BF16 (anchors' scripts);
#   2. llama-quantize it to Q8_0 and Q4_K_M; the small test fixtures (tools/make_gguf_fixtures.py);
#   3. test_cuda_backend; our tokenizer against llama-tokenize on the file;
#   4. per file: llama-bench and `latentchat-cli bench` on the GPU, then both on the CPU with 16
#      threads (llama.cpp with CUDA_VISIBLE_DEVICES= so that it cannot offload).
# Writes RES/DONE at the end (RES/FAILED with the step on error).
set -uo pipefail
kit=$(cd "$1" && pwd); res=$2; layers=${3:-27}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${LLAMACPP_WORK:-/tmp/llamacpp}
mkdir -p "$work" "$res"
log() { echo "[$(date +%T)] $*" | tee -a "$res/steps.log"; }
fail() { log "FAILED: $*"; echo "$*" >"$res/FAILED"; exit 1; }
cli="$root/build/app/latentchat-cli"
threads=16

build_llamacpp() {
    [ -x "$work/build/bin/llama-bench" ] && return 0
    cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER=OFF >"$res/llamacpp-cmake.log" 2>&1 &&
        cmake --build "$work/build" --target llama-bench llama-quantize llama-tokenize \
            -j"$(nproc)" >"$res/llamacpp-build.log" 2>&1
}

model=/dev/shm/v2lite-$layers
bf16=/dev/shm/v2lite-$layers-BF16.gguf
q8=$work/v2lite-$layers-Q8_0.gguf
q4=$work/v2lite-$layers-Q4_K_M.gguf

log "start: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader); $(lscpu | grep 'Model name' | sed 's/ \+/ /g')"
lscpu >"$res/lscpu.txt"
[ -d "$work/src" ] || { mkdir -p "$work/src" && tar -xzf "$kit/llama.cpp.tgz" -C "$work/src"; }
build_llamacpp &
build_pid=$!
if [ ! -s "$q4" ] && [ ! -s "$bf16" ]; then
    log "model: $layers layers"
    python3 "$kit/make_model.py" "$model" --layers "$layers" >>"$res/steps.log" 2>&1 || fail "make_model"
    log "convert to GGUF BF16"
    python3 "$kit/convert.py" "$work/src" "$model" --outfile "$bf16.part" --outtype bf16 \
        >"$res/convert.log" 2>&1 || fail "convert"
    mv "$bf16.part" "$bf16"
    rm -rf "$model"
fi
wait $build_pid || fail "llama.cpp build (see llamacpp-build.log)"
log "llama.cpp built"
for q in Q8_0 Q4_K_M; do
    out=$work/v2lite-$layers-$q.gguf
    [ -s "$out" ] && continue
    log "llama-quantize $q"
    "$work/build/bin/llama-quantize" "$bf16" "$out.part" "$q" "$threads" >"$res/quantize-$q.log" 2>&1 ||
        fail "llama-quantize $q"
    mv "$out.part" "$out"
done
rm -f "$bf16"
ls -la "$work"/*.gguf >>"$res/steps.log"

if [ ! -s "$res/gguf_fixtures.tar" ]; then
    log "test fixtures"
    LC_CONVERT_PY=$kit/convert.py python3 "$root/tools/make_gguf_fixtures.py" \
        --llama-src "$work/src" --quantize "$work/build/bin/llama-quantize" \
        --out /tmp/gguf_v2 >"$res/fixtures.log" 2>&1 &&
        tar -C /tmp -cf "$res/gguf_fixtures.tar" gguf_v2 || log "fixtures failed (see fixtures.log)"
fi

log "test_cuda_backend"
"$root/build/tests/test_cuda_backend" >"$res/test_cuda_backend.log" 2>&1
log "test_cuda_backend rc=$? $(grep -E '^Totals' "$res/test_cuda_backend.log")"

log "tokenizer: ours against llama-tokenize"
text="Hello world! The cat sat on the mat, 3.14159 times. 你好，世界。 def f(x): return x**2"
"$work/build/bin/llama-tokenize" -m "$q4" -p "$text" --ids --log-disable 2>/dev/null | tail -1 \
    >"$res/tokenize-llamacpp.txt"
"$cli" tokenize --model "$q4" --text "$text" >"$res/tokenize-ours.txt" 2>&1

for q in Q4_K_M Q8_0; do
    f=$work/v2lite-$layers-$q.gguf
    log "GPU $q: llama-bench"
    "$work/build/bin/llama-bench" -m "$f" -ngl 99 -fa 1 -p 512 -n 128 -r 3 -o json \
        >"$res/llamacpp-gpu-$q.json" 2>"$res/llamacpp-gpu-$q.err"
    log "GPU $q: latentchat"
    "$cli" bench --model "$f" --device cuda --depths 0,4096 --prompt-len 512 --gen 128 \
        >"$res/ours-gpu-$q.json" 2>"$res/ours-gpu-$q.err"
    log "GPU $q: $(grep -h 'depth' "$res/ours-gpu-$q.err" | tr '\n' ' ')"
done
for q in Q4_K_M Q8_0; do
    f=$work/v2lite-$layers-$q.gguf
    log "CPU $q: llama-bench -t $threads"
    CUDA_VISIBLE_DEVICES= "$work/build/bin/llama-bench" -m "$f" -ngl 0 -t "$threads" -p 512 \
        -n 64 -r 2 -o json >"$res/llamacpp-cpu-$q.json" 2>"$res/llamacpp-cpu-$q.err"
    log "CPU $q: latentchat --threads $threads"
    "$cli" bench --model "$f" --device cpu --threads "$threads" --depths 0 --prompt-len 512 \
        --gen 64 >"$res/ours-cpu-$q.json" 2>"$res/ours-cpu-$q.err"
    log "CPU $q: $(grep -h 'depth' "$res/ours-cpu-$q.err" | tr '\n' ' ')"
done
log "done"
touch "$res/DONE"
