#!/usr/bin/env bash
# check_layers.sh must catch each kind of include that breaks the layering, and pass a clean tree.
set -uo pipefail
check="$(cd "$(dirname "$0")" && pwd)/check_layers.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
cases=0

# A tree with one file holding `line`; check_layers must exit with `want` (0 or 1).
expect() {
    local want=$1 file=$2 line=$3
    cases=$((cases + 1))
    rm -rf "$tmp/t" && mkdir -p "$tmp/t" && cd "$tmp/t" || exit 2
    git init -q .
    mkdir -p core/base core/formats core/engine core/cpu core/history core/hub core/remote \
        core/session ui app kernels
    for d in base formats engine cpu history hub remote session; do echo '#pragma once' >"core/$d/x.h"; done
    mkdir -p "$(dirname "$file")"
    printf '%s\n' "$line" >>"$file"
    bash "$check" "$tmp/t" >"$tmp/out" 2>&1
    local got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL: $file with '$line': exit $got, expected $want"
        cat "$tmp/out"
        failures=$((failures + 1))
    fi
}

expect 0 core/engine/a.cpp '#include "formats/x.h"'
expect 0 core/session/a.cpp '#include "history/x.h"'
expect 0 app/cli/a.cpp '#include "kernels/kernel_bench.h"'
expect 0 ui/a.cpp '#include "engine/x.h"'
expect 0 core/remote/a.cpp '#include "hub/x.h"'
expect 0 core/session/a.cpp '#include "remote/x.h"'
expect 1 core/engine/a.cpp '#include <QString>'
expect 1 core/cpu/a.cpp '#include <cuda_runtime.h>'
expect 1 core/engine/a.cpp '#include "kernels/gemm.cuh"'
expect 1 core/formats/a.cpp '#include "engine/x.h"'
expect 1 core/engine/a.cpp '#include "cpu/x.h"'
expect 1 core/engine/a.cpp '#include "session/x.h"'
expect 1 core/history/a.cpp '#include "engine/x.h"'
expect 1 core/remote/a.cpp '#include "engine/x.h"'
expect 1 core/hub/a.cpp '#include "remote/x.h"'
expect 1 core/base/a.h '#include "formats/x.h"'
expect 1 core/engine/a.cpp '#include "x.h"'
expect 1 ui/a.cpp '#include "kernels/kernel_bench.h"'
expect 1 app/cli/a.cpp '#include "kernels/cuda_backend.h"'
expect 1 ui/a.cpp '#include "backend_select.h"'

[ "$failures" -eq 0 ] && echo "check_layers selftest: $cases cases pass"
exit "$((failures > 0))"
