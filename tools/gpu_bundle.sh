#!/usr/bin/env bash
# Packs this machine's build of latentchat-cli, test_cuda_backend and bench_kernels, with the
# shared libraries they need beyond glibc/libstdc++, for the GPU machine (which has no Qt,
# SentencePiece or SQLite): .device/bundle.tar.xz, unpacked there into build/.
#   usage: tools/gpu_bundle.sh [BUILD_DIR]   (configure it with -DCMAKE_CUDA_ARCHITECTURES=90)
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
stage=$(mktemp -d)
mkdir -p "$stage/app" "$stage/tests" "$stage/lib"
cp "$build/app/latentchat-cli" "$stage/app/"
cp "$build/tests/test_cuda_backend" "$stage/tests/"
for bin in "$stage"/app/* "$stage"/tests/*; do
    ldd "$bin" | awk '/=> \//{print $3}'
done | sort -u | grep -v -E '/(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|librt)\.so' |
    xargs -I{} cp -L {} "$stage/lib/"
# Stripped and packed hard: the working tree, this bundle and the benchmark kit must travel
# together within the GPU machine's 64 MiB.
strip --strip-unneeded "$stage"/app/* "$stage"/tests/*
mkdir -p "$root/.device"
tar -C "$stage" -cf - . | xz -9e -T2 >"$root/.device/bundle.tar.xz"
rm -rf "$stage"
ls -la "$root/.device/bundle.tar.xz"
