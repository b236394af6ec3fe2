#!/usr/bin/env bash
# The layering of docs/design.md section 1, checked on every source file's includes:
#   core/ is plain C++: no Qt, no CUDA, nothing from ui/, app/ or kernels/;
#   within core, each folder includes only the folders below it:
#     base <- formats <- engine <- cpu;  base <- history;  base, formats <- hub;
#     base, hub <- remote (it uses hub's HTTP transfer);
#     session may use all of core;
#     server (the OpenAI-compatible server) uses session and what is below it;
#   ui/ and app/ include nothing from kernels/ but its public header kernels/kernel_bench.h.
# Prints every include that reaches where it must not and exits 1; exit 0 when none does.
#   tests/check_layers.sh [SOURCE_DIR]
set -uo pipefail
src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src" || exit 2
bad=0
report() {
    echo "$1: $2"
    bad=1
}

# Which core folders a core folder may include.
allowed_core() {
    case "$1" in
        base) echo "base" ;;
        formats) echo "base formats" ;;
        engine) echo "base formats engine" ;;
        cpu) echo "base formats engine cpu" ;;
        history) echo "base history" ;;
        hub) echo "base formats hub" ;;
        remote) echo "base hub remote" ;;
        session) echo "base formats engine cpu history hub remote session" ;;
        server) echo "base formats engine cpu history hub session server" ;;
        *) echo "" ;;
    esac
}

# Every #include of a file, as "LINE_NO:TARGET".
includes() { grep -nE '^\s*#\s*include\s*[<"]' "$1" | sed -E 's/^([0-9]+):\s*#\s*include\s*[<"]([^>"]+)[>"].*/\1:\2/'; }

checked=0
while IFS= read -r f; do
    checked=$((checked + 1))
    top=${f%%/*}
    folder=$(echo "$f" | cut -d/ -f2)
    while IFS=: read -r line target; do
        [ -n "$target" ] || continue
        where="$f:$line includes $target"
        case "$top" in
            core)
                case "$target" in
                    Q* | Qt*/* | cuda*.h | cuda/* | cublas* | *.cuh | kernels/* | ui/* | app/*)
                        report "$where" "core must stay free of Qt, CUDA, the kernels and the front ends"
                        continue ;;
                esac
                sub=${target%%/*}
                if [ "$sub" != "$target" ] && [ -d "core/$sub" ]; then
                    allowed=" $(allowed_core "$folder") "
                    [[ "$allowed" == *" $sub "* ]] ||
                        report "$where" "core/$folder may include only: $(allowed_core "$folder")"
                elif [[ "$target" == *.h && "$target" != */* && -f "core/$folder/$target" ]]; then
                    report "$where" "includes within core are qualified by folder (\"$folder/$target\")"
                fi
                ;;
            ui | app)
                case "$target" in
                    kernels/kernel_bench.h) [ "$top" = app ] || report "$where" "ui does not use the kernels" ;;
                    kernels/* | *.cuh | cuda_runtime*.h | backend_select.h | cuda_backend.h | device_query.h)
                        report "$where" "$top reaches the kernels only through core (engine/backend_factory.h)" ;;
                esac
                ;;
        esac
    done < <(includes "$f")
done < <(git ls-files -co --exclude-standard core ui app | grep -E '\.(h|hpp|cpp|cc|cu|cuh)$')

[ "$checked" -gt 0 ] || { echo "check_layers: no source files found under $src"; exit 2; }
[ "$bad" -eq 0 ] && echo "check_layers: $checked files, every include in its layer"
exit "$bad"
