#!/usr/bin/env bash
# On the GPU machine: LatentChat and llama.cpp side by side on the same GGUF files.
#   tools/gguf_side_by_side.sh KIT RES
# KIT (made where PyPI is reachable; see README "GGUF against llama.cpp") holds:
#   llama-src.tar.xz  llama.cpp's source from the llama-cpp-python source release that
#               ../shared/anchors packs, built here with CUDA (sm_90, native CPU flags) while the
#               model is written; or llama/ with a build's llama-bench, llama-quantize and their
#               libraries (GPU_LLAMA=1: a CUDA build, whose llama-bench then also runs on the GPU)
#   gguf-py/    llama.cpp's Python package (from the same source)
#   make_model.py  ../shared/anchors/llamacpp's (its V2_LITE config)
#   deepseek-v2/   the published DeepSeek-V2 tokenizer.json and tokenizer_config.json
# Steps, each logged to RES/steps.log, figures in RES/*.json:
#   1. a random 27-layer DeepSeek-V2-Lite-shaped GGUF BF16 (tools/make_v2lite_gguf.py), quantized
#      by llama-quantize to Q8_0 and Q4_K_M (16 threads);
#   2. per file: both engines on the CPU with 16 threads (llama.cpp with CUDA_VISIBLE_DEVICES= so
#      that it cannot offload), then `latentchat-cli bench` (and llama-bench with GPU_LLAMA=1) on
#      the GPU;
#   3. test_cuda_backend, if the machine is still ours.
# Writes RES/DONE at the end (RES/FAILED naming the step on error).
set -uo pipefail
kit=$(cd "$1" && pwd); res=$2
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$res"
log() { echo "[$(date +%T)] $*" | tee -a "$res/steps.log"; }
fail() { log "FAILED: $*"; echo "$*" >"$res/FAILED"; exit 1; }
cli="$root/build/app/latentchat-cli"
llama="$kit/llama"
export LD_LIBRARY_PATH="$llama:$root/build/lib:${LD_LIBRARY_PATH:-}"
export PYTHONPATH="$kit/gguf-py:${PYTHONPATH:-}"
threads=16
work=/dev/shm/gguf
mkdir -p "$work"
bf16=$work/v2lite-27-BF16.gguf

if [ ! -x "$llama/llama-bench" ] && [ -f "$kit/llama-src.tar.xz" ]; then
    # CUDA build in the background (about 5 min on 16 cores) while the model is written
    log "llama.cpp: building llama-bench and llama-quantize (CUDA, sm_90)"
    lsrc=/tmp/llama-src lbuild=/tmp/llama-build
    mkdir -p "$lsrc" && tar -xJf "$kit/llama-src.tar.xz" -C "$lsrc"
    (cmake -S "$lsrc" -B "$lbuild" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON \
        -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=ON -DGGML_CUDA_NCCL=OFF -DLLAMA_CURL=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF &&
        cmake --build "$lbuild" --target llama-bench llama-quantize -j"$(nproc)") \
        >"$res/llama-build.log" 2>&1 &
    build_pid=$!
    llama=$lbuild/bin
    export LD_LIBRARY_PATH="$llama:$LD_LIBRARY_PATH"
    GPU_LLAMA=1
fi
log "start: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader); $(lscpu | grep 'Model name' | sed 's/ \+/ /g')"
lscpu >"$res/lscpu.txt"
if [ ! -s "$bf16" ] && [ ! -s "$work/v2lite-27-Q8_0.gguf" ]; then
    log "model: 27 layers, BF16"
    "${PYTHON:-python3}" "$root/tools/make_v2lite_gguf.py" "$bf16" --anchors "$kit" \
        --tokenizer "$kit/deepseek-v2" ${SHRINK:+--shrink} >"$res/make_model.log" 2>&1 ||
        fail "make_v2lite_gguf"
fi
if [ -n "${build_pid:-}" ]; then
    wait "$build_pid" || { tail -30 "$res/llama-build.log" >>"$res/steps.log"; fail "llama.cpp build"; }
    log "llama.cpp built"
fi
for q in Q4_K_M Q8_0; do
    f=$work/v2lite-27-$q.gguf
    if [ ! -s "$f" ]; then
        log "llama-quantize $q"
        "$llama/llama-quantize" "$bf16" "$f" "$q" "$threads" >"$res/quantize-$q.log" 2>&1 ||
            fail "llama-quantize $q"
    fi
done
rm -f "$bf16"  # 31 GB of /dev/shm back before anything is measured
# WAIT_FILE: other work shares the machine until that file appears (e.g. a training run on the
# GPU while llama.cpp builds); nothing is measured before it.
if [ -n "${WAIT_FILE:-}" ]; then
    log "waiting for $WAIT_FILE"
    for _ in $(seq 900); do [ -e "$WAIT_FILE" ] && break; sleep 1; done
    log "quiet: $(ls "$WAIT_FILE" 2>/dev/null || echo 'gave up waiting')"
fi
cpu_bench() {  # llama.cpp's repacked CPU buffers crashed on some builds: then without them
    CUDA_VISIBLE_DEVICES= "$llama/llama-bench" -m "$1" -ngl 0 -t "$threads" -p 512 -n 32 -r 1 \
        -o json "${@:2}" >"$res/llamacpp-cpu-$q.json" 2>"$res/llamacpp-cpu-$q.err"
}
# One file at a time, so that a run cut short still has whole rows.
for q in Q4_K_M Q8_0; do
    f=$work/v2lite-27-$q.gguf
    log "CPU $q: llama-bench -t $threads"
    cpu_bench "$f" || {
        cp "$res/llamacpp-cpu-$q.err" "$res/llamacpp-cpu-repack-$q.err"
        log "llama-bench failed ($(tail -1 "$res/llamacpp-cpu-$q.err")); again with --repack 0"
        cpu_bench "$f" --repack 0
    }
    log "CPU $q: $(grep -o '"avg_ts": [0-9.]*' "$res/llamacpp-cpu-$q.json" | tr '\n' ' ')"
    log "CPU $q: latentchat --threads $threads"
    "$cli" bench --model "$f" --device cpu --threads "$threads" --depths 0 --prompt-len 512 \
        --gen 32 --membench-mb 4096 >"$res/ours-cpu-$q.json" 2>"$res/ours-cpu-$q.err"
    log "CPU $q: $(grep -h 'depth' "$res/ours-cpu-$q.err" | tr '\n' ' ')"
    if [ "${GPU_LLAMA:-0}" = 1 ]; then
        log "GPU $q: llama-bench"
        "$llama/llama-bench" -m "$f" -ngl 99 -fa 1 -p 512 -n 128 -r 2 -o json \
            >"$res/llamacpp-gpu-$q.json" 2>"$res/llamacpp-gpu-$q.err"
    fi
    log "GPU $q: latentchat"
    "$cli" bench --model "$f" --device cuda --depths 0 --prompt-len 512 --gen 128 \
        >"$res/ours-gpu-$q.json" 2>"$res/ours-gpu-$q.err"
    log "GPU $q: $(grep -h 'depth' "$res/ours-gpu-$q.err" | tr '\n' ' ')"
done
rm -f "$bf16"
touch "$res/BENCH_DONE"
[ "${SKIP_TESTS:-0}" = 1 ] && { log "done"; touch "$res/DONE"; exit 0; }
log "test_cuda_backend"
"$root/build/tests/test_cuda_backend" >"$res/test_cuda_backend.log" 2>&1
log "test_cuda_backend rc=$? $(grep -E '^Totals' "$res/test_cuda_backend.log")"
log "done"
touch "$res/DONE"
