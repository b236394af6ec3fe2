#!/usr/bin/env python3
"""Build the GGUF fixtures the C++ tests compare against (tests/fixtures/gguf_v2).

A small random-weight DeepSeek-V2 checkpoint (with a query latent, so that llama.cpp loads it at
any layer count) is built with transformers' own DeepseekV2ForCausalLM, converted to GGUF BF16 by
llama.cpp's convert_hf_to_gguf.py (through ../shared/anchors/llamacpp/convert.py, which declares
our small BPE tokenizer as DeepSeek's) and quantized by llama.cpp's llama-quantize to Q4_K_M,
Q6_K, Q8_0 and Q4_0. For every file the reference logits are transformers' on the weights as
gguf-py dequantizes them from that file (tensor names mapped back, attn_k_b/attn_v_b joined back
into kv_b_proj), in float32 with eager attention:

    tests/fixtures/gguf_v2/
        model-<TYPE>.gguf         BF16, Q4_K_M, Q6_K, Q8_0, Q4_0
        ref.json                  input_ids, the types, versions
        ref_logits-<TYPE>.npy     float32 [len(input_ids), vocab]

usage: python tools/make_gguf_fixtures.py --llama-src DIR --quantize BIN --out DIR
       (needs torch, transformers, tokenizers and numpy; gguf-py is taken from DIR/gguf-py)
Deterministic given the versions (seeded generators).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
import transformers
from transformers import DeepseekV2ForCausalLM

TYPES = ["BF16", "Q4_K_M", "Q6_K", "Q8_0", "Q4_0"]
HERE = os.path.dirname(os.path.abspath(__file__))


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


CONFIG = dict(
    architectures=["DeepseekV2ForCausalLM"], model_type="deepseek_v2",
    hidden_size=256, intermediate_size=512, moe_intermediate_size=256,
    num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
    n_shared_experts=1, n_routed_experts=8, num_experts_per_tok=2, routed_scaling_factor=1.0,
    kv_lora_rank=128, q_lora_rank=96, qk_rope_head_dim=32, qk_nope_head_dim=64, v_head_dim=64,
    topk_method="greedy", n_group=1, topk_group=1, moe_layer_freq=1, first_k_dense_replace=1,
    norm_topk_prob=False, scoring_func="softmax", max_position_embeddings=2048,
    rope_theta=10000.0, rope_scaling=None, rms_norm_eps=1e-6, hidden_act="silu",
    tie_word_embeddings=False, torch_dtype="bfloat16", attention_bias=False,
    attention_dropout=0.0, initializer_range=0.02, use_cache=True)


def published_tensors(c: dict, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Random weights under the published checkpoint's names (one tensor per expert)."""
    def randn(*shape):
        return 0.06 * torch.randn(*shape, generator=gen)

    def norm(n):  # away from 1, so that a misread norm shows
        return 1.0 + 0.1 * torch.randn(n, generator=gen)

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


def save_checkpoint(folder: str, c: dict, tensors: dict, dtype) -> None:
    from safetensors.torch import save_file

    os.makedirs(folder, exist_ok=True)
    json.dump(c, open(os.path.join(folder, "config.json"), "w"), indent=1)
    save_file({k: v.to(dtype).contiguous() for k, v in tensors.items()},
              os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})


def make_checkpoint(hf_dir: str) -> dict:
    os.makedirs(hf_dir, exist_ok=True)
    bos, eos, vocab = write_tokenizer(hf_dir)
    c = dict(CONFIG, vocab_size=vocab, bos_token_id=bos, eos_token_id=eos)
    save_checkpoint(hf_dir, c, published_tensors(c, torch.Generator().manual_seed(0)),
                    torch.bfloat16)
    return c


def dequantized_state_dict(path: str, config: dict) -> dict[str, torch.Tensor]:
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(path)
    t = {}
    for tensor in reader.tensors:
        # gguf-py gives numpy arrays in the outermost-first shape
        t[tensor.name] = torch.from_numpy(
            np.array(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32))
    c = argparse.Namespace(**config)
    sd = {"model.embed_tokens.weight": t["token_embd.weight"],
          "model.norm.weight": t["output_norm.weight"],
          "lm_head.weight": t["output.weight"]}
    for i in range(c.num_hidden_layers):
        b, p = f"blk.{i}.", f"model.layers.{i}."
        sd[p + "input_layernorm.weight"] = t[b + "attn_norm.weight"]
        sd[p + "post_attention_layernorm.weight"] = t[b + "ffn_norm.weight"]
        sd[p + "self_attn.q_a_proj.weight"] = t[b + "attn_q_a.weight"]
        sd[p + "self_attn.q_a_layernorm.weight"] = t[b + "attn_q_a_norm.weight"]
        sd[p + "self_attn.q_b_proj.weight"] = t[b + "attn_q_b.weight"]
        sd[p + "self_attn.kv_a_proj_with_mqa.weight"] = t[b + "attn_kv_a_mqa.weight"]
        sd[p + "self_attn.kv_a_layernorm.weight"] = t[b + "attn_kv_a_norm.weight"]
        if b + "attn_kv_b.weight" in t:
            sd[p + "self_attn.kv_b_proj.weight"] = t[b + "attn_kv_b.weight"]
        else:  # k_b [n_h, d_c, nope] (W_UK transposed), v_b [n_h, v, d_c]
            k_b = t[b + "attn_k_b.weight"].transpose(1, 2)
            v_b = t[b + "attn_v_b.weight"]
            sd[p + "self_attn.kv_b_proj.weight"] = torch.cat([k_b, v_b], dim=1).reshape(
                -1, c.kv_lora_rank)
        sd[p + "self_attn.o_proj.weight"] = t[b + "attn_output.weight"]
        if i < c.first_k_dense_replace:
            for w in ("gate", "up", "down"):
                sd[p + f"mlp.{w}_proj.weight"] = t[b + f"ffn_{w}.weight"]
            continue
        sd[p + "mlp.gate.weight"] = t[b + "ffn_gate_inp.weight"]
        for w in ("gate", "up", "down"):
            stacked = t[b + f"ffn_{w}_exps.weight"]
            for e in range(c.n_routed_experts):
                sd[p + f"mlp.experts.{e}.{w}_proj.weight"] = stacked[e]
            sd[p + f"mlp.shared_experts.{w}_proj.weight"] = t[b + f"ffn_{w}_shexp.weight"]
    return sd


def reference_logits(config: dict, sd: dict, ids: list[int], work: str) -> np.ndarray:
    """transformers' logits on exactly these weights (loaded through from_pretrained, which maps
    the published names to whatever layout this transformers version keeps experts in)."""
    folder = os.path.join(work, "dequantized")
    save_checkpoint(folder, dict(config, torch_dtype="float32"), sd, torch.float32)
    model = DeepseekV2ForCausalLM.from_pretrained(folder, torch_dtype=torch.float32,
                                                  attn_implementation="eager").eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llama-src", required=True)
    ap.add_argument("--quantize", required=True, help="llama-quantize")
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default="/tmp/gguf-fixture-work")
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(a.llama_src, "gguf-py"))
    os.makedirs(a.out, exist_ok=True)
    hf_dir = os.path.join(a.work, "hf")
    config = make_checkpoint(hf_dir)
    convert = os.path.join(HERE, "..", "..", "shared", "anchors", "llamacpp", "convert.py")
    if not os.path.exists(convert):
        convert = os.environ["LC_CONVERT_PY"]
    bf16 = os.path.join(a.out, "model-BF16.gguf")
    subprocess.run([sys.executable, convert, a.llama_src, hf_dir, "--outfile", bf16,
                    "--outtype", "bf16"], check=True, stdout=subprocess.DEVNULL)
    for q in TYPES[1:]:
        subprocess.run([a.quantize, bf16, os.path.join(a.out, f"model-{q}.gguf"), q], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rng = np.random.default_rng(7)
    ids = [config["bos_token_id"]] + [int(x) for x in rng.integers(4, config["vocab_size"], 23)]
    for q in TYPES:
        sd = dequantized_state_dict(os.path.join(a.out, f"model-{q}.gguf"), config)
        logits = reference_logits(config, sd, ids, a.work)
        np.save(os.path.join(a.out, f"ref_logits-{q}.npy"), logits.astype(np.float32))
        print(q, "logits", logits.shape, float(np.abs(logits).mean()))
    json.dump({"input_ids": ids, "types": TYPES, "vocab_size": config["vocab_size"],
               "torch": torch.__version__, "transformers": transformers.__version__,
               "made_by": "tools/make_gguf_fixtures.py"},
              open(os.path.join(a.out, "ref.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
