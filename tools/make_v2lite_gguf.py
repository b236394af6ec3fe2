#!/usr/bin/env python3
"""Writes a random-weight GGUF BF16 file with DeepSeek-V2-Lite's shapes directly, as llama.cpp's
converter lays such a file out (its deepseek2 metadata, the published DeepSeek-V2 vocabulary, the
newer attention layout attn_k_b/attn_v_b, stacked experts), for the side-by-side benchmark with
llama.cpp (tools/gguf_side_by_side.sh). It replaces make_model.py + convert_hf_to_gguf.py there
(one 31 GB write instead of three) to save GPU-machine time; llama.cpp loads and quantizes it.

usage: make_v2lite_gguf.py OUT.gguf --anchors DIR --tokenizer DIR [--layers 27] [--seed 0]
  DIR of --anchors: ../shared/anchors/llamacpp (make_model.py's V2_LITE config);
  --tokenizer: a folder with DeepSeek-V2's tokenizer.json and tokenizer_config.json.
Needs torch (a GPU makes the noise fast), tokenizers and gguf-py on PYTHONPATH.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

try:
    import torch
except Exception:  # a machine without a working torch: numpy's noise (slower)
    torch = None

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "ref"))


def anchor_config(make_model_py):
    """make_model.py's V2_LITE dict, read without importing the script (it needs torch)."""
    import ast
    tree = ast.parse(open(make_model_py).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "V2_LITE":
            scope = {}
            exec(compile(ast.Module([node], []), make_model_py, "exec"), {"dict": dict}, scope)
            return scope["V2_LITE"]
    raise SystemExit(f"{make_model_py}: no V2_LITE")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--anchors", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--layers", type=int, default=27)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shrink", action="store_true",
                    help="small widths (27 layers still), to check the file with llama.cpp quickly")
    a = ap.parse_args()
    V2_LITE = anchor_config(os.path.join(a.anchors, "make_model.py"))
    import gguf  # noqa: E402
    from gguf import GGMLQuantizationType as Q  # noqa: E402
    from make_test_gguf import add_vocab, config_writer, finish  # noqa: E402

    c = dict(V2_LITE, num_hidden_layers=a.layers)
    if a.shrink:
        c.update(hidden_size=256, intermediate_size=512, moe_intermediate_size=256,
                 n_routed_experts=8, num_experts_per_tok=2, num_attention_heads=2,
                 num_key_value_heads=2, kv_lora_rank=128)
    with tempfile.TemporaryDirectory() as tmp:
        config_json = os.path.join(tmp, "config.json")
        json.dump(c, open(config_json, "w"))
        w = config_writer(config_json, a.out, False, [])
    w.add_name("DeepSeek-V2-Lite-shaped random weights")
    add_vocab(w, a.tokenizer, "deepseek-llm", c["vocab_size"], False)
    # add_vocab's SpecialVocab has added tokenizer_config.json's chat template.

    if torch is not None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        gen = torch.Generator(device=device).manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    def noise(*shape):  # float32, std 0.02
        if torch is None:
            return (rng.standard_normal(shape, np.float32) * 0.02).astype(np.float32)
        return (torch.randn(*shape, generator=gen, device=device) * 0.02).cpu().numpy()

    def add(name, *shape, ones=False):
        if ones:
            w.add_tensor(name, np.ones(shape, np.float32), raw_dtype=Q.F32)
            return
        if torch is None:
            bits = noise(*shape).view(np.uint32)  # to bf16, round to nearest even
            bf16 = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
        else:
            t = (torch.randn(*shape, generator=gen, device=device) * 0.02).to(torch.bfloat16)
            bf16 = t.view(torch.int16).cpu().numpy().view(np.uint16)
        w.add_tensor(name, bf16, raw_dtype=Q.BF16)

    h, nh, nope, rope, v = (c["hidden_size"], c["num_attention_heads"], c["qk_nope_head_dim"],
                            c["qk_rope_head_dim"], c["v_head_dim"])
    d_c, n_exp, inter = c["kv_lora_rank"], c["n_routed_experts"], c["moe_intermediate_size"]
    add("token_embd.weight", c["vocab_size"], h)
    for i in range(a.layers):
        b = f"blk.{i}."
        add(b + "attn_norm.weight", h, ones=True)
        add(b + "attn_q.weight", nh * (nope + rope), h)
        add(b + "attn_kv_a_mqa.weight", d_c + rope, h)
        add(b + "attn_kv_a_norm.weight", d_c, ones=True)
        add(b + "attn_k_b.weight", nh, d_c, nope)
        add(b + "attn_v_b.weight", nh, v, d_c)
        add(b + "attn_output.weight", h, nh * v)
        add(b + "ffn_norm.weight", h, ones=True)
        if i < c["first_k_dense_replace"]:
            add(b + "ffn_gate.weight", c["intermediate_size"], h)
            add(b + "ffn_up.weight", c["intermediate_size"], h)
            add(b + "ffn_down.weight", h, c["intermediate_size"])
            continue
        w.add_tensor(b + "ffn_gate_inp.weight", noise(n_exp, h), raw_dtype=Q.F32)
        add(b + "ffn_gate_exps.weight", n_exp, inter, h)
        add(b + "ffn_up_exps.weight", n_exp, inter, h)
        add(b + "ffn_down_exps.weight", n_exp, h, inter)
        shared = inter * c["n_shared_experts"]
        add(b + "ffn_gate_shexp.weight", shared, h)
        add(b + "ffn_up_shexp.weight", shared, h)
        add(b + "ffn_down_shexp.weight", h, shared)
    add("output_norm.weight", h, ones=True)
    add("output.weight", c["vocab_size"], h)
    finish(w)
    print(f"{a.out}: {a.layers} layers, {os.path.getsize(a.out) / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
