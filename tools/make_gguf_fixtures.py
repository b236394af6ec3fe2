#!/usr/bin/env python3
"""Build the GGUF fixtures the C++ tests compare against (tests/fixtures/gguf_v2), in two steps.

    make_gguf_fixtures.py make --quantize LLAMA_QUANTIZE --out DIR     (any machine; numpy,
        tokenizers, gguf-py: the test venv of tools/fetch_test_data.sh)
  A small random-weight DeepSeek-V2 checkpoint (with a query latent, so that llama.cpp loads it at
  any layer count; a byte-level BPE tokenizer and a chat template of its own) is written by
  gguf-py as llama.cpp's converter lays deepseek2 files out (tests/ref/make_model_gguf.py: the
  converter's metadata and vocabulary keys, attn_k_b/attn_v_b, stacked experts) in BF16, then
  quantized by llama.cpp's own llama-quantize to Q4_K_M, Q6_K, Q8_0 and Q4_0.

    make_gguf_fixtures.py reference --out DIR      (torch and transformers: the GPU machine)
  For every file, transformers' DeepseekV2ForCausalLM (float32, eager attention) on the weights
  gguf-py dequantizes from that file (names mapped back, attn_k_b/attn_v_b joined into
  kv_b_proj) gives ref_logits-<TYPE>.npy [len(input_ids), vocab].

    tests/fixtures/gguf_v2/
        model-<TYPE>.gguf         Q4_K_M, Q6_K, Q8_0, Q4_0 (model-BF16.gguf, their source, is
                                  not committed: the lossless path is test_gguf_model's own)
        config.json               the checkpoint's (for the reference step)
        gguf_ref.json             input_ids, the types, versions (not ref.json: test_fixtures
                                  runs every folder with one as a safetensors checkpoint)
        ref_logits-<TYPE>.npy
Deterministic (seeded generators).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

TYPES = ["BF16", "Q4_K_M", "Q6_K", "Q8_0", "Q4_0"]
HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "..", "tests", "ref")

CONFIG = dict(
    architectures=["DeepseekV2ForCausalLM"], model_type="deepseek_v2",
    hidden_size=256, intermediate_size=256, moe_intermediate_size=256,
    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
    n_shared_experts=1, n_routed_experts=4, num_experts_per_tok=2, routed_scaling_factor=1.0,
    kv_lora_rank=128, q_lora_rank=96, qk_rope_head_dim=32, qk_nope_head_dim=64, v_head_dim=64,
    topk_method="greedy", n_group=1, topk_group=1, moe_layer_freq=1, first_k_dense_replace=1,
    norm_topk_prob=False, scoring_func="softmax", max_position_embeddings=2048,
    rope_theta=10000.0, rope_scaling=None, rms_norm_eps=1e-6, hidden_act="silu",
    tie_word_embeddings=False, torch_dtype="bfloat16", attention_bias=False,
    attention_dropout=0.0, initializer_range=0.02, use_cache=True)


def write_tokenizer(out: str) -> tuple[int, int, int]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"]
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "park", "sun"]
    rng = np.random.default_rng(1)
    text = [" ".join(rng.choice(words, 12)) + "." for _ in range(400)]
    tok.train_from_iterator(text, trainer)
    tok.save(os.path.join(out, "tokenizer.json"))
    template = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}<｜User｜>"
                "{{ m['content'] }}{% else %}<｜Assistant｜>{{ m['content'] }}{{ eos_token }}"
                "{% endif %}{% endfor %}{% if add_generation_prompt %}<｜Assistant｜>{% endif %}")
    json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": specials[0],
               "eos_token": specials[1], "add_bos_token": True, "chat_template": template},
              open(os.path.join(out, "tokenizer_config.json"), "w"), indent=1)
    return tok.token_to_id(specials[0]), tok.token_to_id(specials[1]), tok.get_vocab_size()


def published_tensors(c: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random weights under the published checkpoint's names (one tensor per expert)."""
    def randn(*shape):
        return (0.06 * rng.standard_normal(shape)).astype(np.float32)

    def norm(n):  # away from 1, so that a misread norm shows
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    h, nh = c["hidden_size"], c["num_attention_heads"]
    qk = c["qk_nope_head_dim"] + c["qk_rope_head_dim"]
    t = {"model.embed_tokens.weight": randn(c["vocab_size"], h), "model.norm.weight": norm(h),
         "lm_head.weight": randn(c["vocab_size"], h)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = norm(h)
        t[p + "post_attention_layernorm.weight"] = norm(h)
        a = p + "self_attn."
        t[a + "q_a_proj.weight"] = randn(c["q_lora_rank"], h)
        t[a + "q_a_layernorm.weight"] = norm(c["q_lora_rank"])
        t[a + "q_b_proj.weight"] = randn(nh * qk, c["q_lora_rank"])
        t[a + "kv_a_proj_with_mqa.weight"] = randn(c["kv_lora_rank"] + c["qk_rope_head_dim"], h)
        t[a + "kv_a_layernorm.weight"] = norm(c["kv_lora_rank"])
        t[a + "kv_b_proj.weight"] = randn(nh * (c["qk_nope_head_dim"] + c["v_head_dim"]),
                                          c["kv_lora_rank"])
        t[a + "o_proj.weight"] = randn(h, nh * c["v_head_dim"])

        def mlp(prefix, inter):
            t[prefix + "gate_proj.weight"] = randn(inter, h)
            t[prefix + "up_proj.weight"] = randn(inter, h)
            t[prefix + "down_proj.weight"] = randn(h, inter)

        if i < c["first_k_dense_replace"]:
            mlp(p + "mlp.", c["intermediate_size"])
            continue
        t[p + "mlp.gate.weight"] = randn(c["n_routed_experts"], h)
        for e in range(c["n_routed_experts"]):
            mlp(p + f"mlp.experts.{e}.", c["moe_intermediate_size"])
        mlp(p + "mlp.shared_experts.", c["moe_intermediate_size"] * c["n_shared_experts"])
    return t


def write_bf16_safetensors(path: str, tensors: dict[str, np.ndarray]) -> None:
    import struct
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        bits = np.ascontiguousarray(tensors[name], np.float32).view(np.uint32)
        data = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16).tobytes()
        header[name] = {"dtype": "BF16", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def make(quantize: str, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as hf_dir:
        bos, eos, vocab = write_tokenizer(hf_dir)
        c = dict(CONFIG, vocab_size=vocab, bos_token_id=bos, eos_token_id=eos)
        json.dump(c, open(os.path.join(hf_dir, "config.json"), "w"), indent=1)
        write_bf16_safetensors(os.path.join(hf_dir, "model.safetensors"),
                               published_tensors(c, np.random.default_rng(0)))
        bf16 = os.path.join(out, "model-BF16.gguf")
        subprocess.run([sys.executable, os.path.join(REF, "make_model_gguf.py"), hf_dir, bf16,
                        "mla", "source"], check=True)
        for extra in (bf16 + ".dequantized",):
            subprocess.run(["rm", "-rf", extra], check=True)
    for q in TYPES[1:]:
        subprocess.run([quantize, bf16, os.path.join(out, f"model-{q}.gguf"), q], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.remove(bf16)  # the source of the four; the lossless path has a test of its own
    json.dump(c, open(os.path.join(out, "config.json"), "w"), indent=1)
    rng = np.random.default_rng(7)
    ids = [bos] + [int(x) for x in rng.integers(4, vocab, 23)]
    json.dump({"input_ids": ids, "types": TYPES[1:], "vocab_size": vocab,
               "made_by": "tools/make_gguf_fixtures.py"},
              open(os.path.join(out, "gguf_ref.json"), "w"), indent=1)


def dequantized_state_dict(path: str, c: dict) -> dict:
    """gguf-py's dequantization of every tensor, under the checkpoint's names."""
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize

    t = {tensor.name: torch.from_numpy(np.array(dequantize(tensor.data, tensor.tensor_type),
                                                dtype=np.float32))
         for tensor in GGUFReader(path).tensors}
    sd = {"model.embed_tokens.weight": t["token_embd.weight"],
          "model.norm.weight": t["output_norm.weight"], "lm_head.weight": t["output.weight"]}
    for i in range(c["num_hidden_layers"]):
        b, p = f"blk.{i}.", f"model.layers.{i}."
        sd[p + "input_layernorm.weight"] = t[b + "attn_norm.weight"]
        sd[p + "post_attention_layernorm.weight"] = t[b + "ffn_norm.weight"]
        a = p + "self_attn."
        sd[a + "q_a_proj.weight"] = t[b + "attn_q_a.weight"]
        sd[a + "q_a_layernorm.weight"] = t[b + "attn_q_a_norm.weight"]
        sd[a + "q_b_proj.weight"] = t[b + "attn_q_b.weight"]
        sd[a + "kv_a_proj_with_mqa.weight"] = t[b + "attn_kv_a_mqa.weight"]
        sd[a + "kv_a_layernorm.weight"] = t[b + "attn_kv_a_norm.weight"]
        k_b = t[b + "attn_k_b.weight"].transpose(1, 2)  # [n_h, d_c, nope] -> W_UK [n_h, nope, d_c]
        sd[a + "kv_b_proj.weight"] = torch.cat([k_b, t[b + "attn_v_b.weight"]], dim=1).reshape(
            -1, c["kv_lora_rank"]).contiguous()
        sd[a + "o_proj.weight"] = t[b + "attn_output.weight"]
        if i < c["first_k_dense_replace"]:
            for w in ("gate", "up", "down"):
                sd[p + f"mlp.{w}_proj.weight"] = t[b + f"ffn_{w}.weight"]
            continue
        sd[p + "mlp.gate.weight"] = t[b + "ffn_gate_inp.weight"]
        for w in ("gate", "up", "down"):
            for e in range(c["n_routed_experts"]):
                sd[p + f"mlp.experts.{e}.{w}_proj.weight"] = t[b + f"ffn_{w}_exps.weight"][e]
            sd[p + f"mlp.shared_experts.{w}_proj.weight"] = t[b + f"ffn_{w}_shexp.weight"]
    return sd


def reference(out: str) -> None:
    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import DeepseekV2ForCausalLM

    c = json.load(open(os.path.join(out, "config.json")))
    ref = json.load(open(os.path.join(out, "gguf_ref.json")))
    for q in ref["types"]:
        sd = dequantized_state_dict(os.path.join(out, f"model-{q}.gguf"), c)
        with tempfile.TemporaryDirectory() as folder:
            json.dump(dict(c, torch_dtype="float32"), open(os.path.join(folder, "config.json"), "w"))
            save_file({k: v.contiguous() for k, v in sd.items()},
                      os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
            model = DeepseekV2ForCausalLM.from_pretrained(
                folder, torch_dtype=torch.float32, attn_implementation="eager").eval()
            with torch.no_grad():
                logits = model(torch.tensor([ref["input_ids"]])).logits[0].float().numpy()
        np.save(os.path.join(out, f"ref_logits-{q}.npy"), logits.astype(np.float32))
        print(q, logits.shape, float(np.abs(logits).mean()))
    ref.update(torch=torch.__version__, transformers=transformers.__version__)
    json.dump(ref, open(os.path.join(out, "gguf_ref.json"), "w"), indent=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["make", "reference"])
    ap.add_argument("--quantize", help="llama-quantize (make)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    sys.path.insert(0, REF)
    if a.step == "make":
        make(a.quantize, a.out)
    else:
        reference(a.out)


if __name__ == "__main__":
    main()
