#!/usr/bin/env python3
"""Write a random-weight DeepSeek-V2 checkpoint in the published layout, for benchmarks.

    python3 tools/make_random_model.py --shape v2-lite --layers 4 --out /tmp/v2lite-4l
    python3 tools/make_random_model.py --shape tiny --out /tmp/tiny

Writes config.json (deepseek_v2, the published DeepSeek-V2-Lite spelling: rope_theta + rope_scaling
{"type": "yarn", ...}), generation_config.json and bfloat16 safetensors, sharded (default ~2 GB per
shard) with model.safetensors.index.json, exactly as a downloaded checkpoint looks.  There is no
tokenizer: the benchmark feeds token ids.

Weights are normal(0, 1) * 0.02 (RMSNorm weights are 1), rounded to bfloat16 (round to nearest even
on the top 16 bits of the float32).  NumPy only.  Tensors are generated chunk by chunk on several
threads and streamed to disk, so peak memory stays at a few hundred MB whatever the model size.
Deterministic for a given --seed (independent of --threads).

Only --verify needs more than NumPy: it loads the result with transformers' DeepseekV2ForCausalLM
(run it with a Python that has torch + transformers, e.g. /opt/refenv/bin/python) and fails on any
missing / unexpected / mismatched key.  Use a small variant for that (e.g. --layers 2 --vocab 1024).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

YARN_V2_LITE = {
    "beta_fast": 32,
    "beta_slow": 1,
    "factor": 40,
    "mscale": 0.707,
    "mscale_all_dim": 0.707,
    "original_max_position_embeddings": 4096,
    "type": "yarn",
}

SHAPES = {
    # deepseek-ai/DeepSeek-V2-Lite (27 layers in the real model).
    "v2-lite": dict(
        num_hidden_layers=27,
        vocab_size=102400,
        hidden_size=2048,
        num_attention_heads=16,
        q_lora_rank=None,
        kv_lora_rank=512,
        qk_rope_head_dim=64,
        qk_nope_head_dim=128,
        v_head_dim=128,
        intermediate_size=10944,
        moe_intermediate_size=1408,
        n_routed_experts=64,
        num_experts_per_tok=6,
        n_shared_experts=2,
        first_k_dense_replace=1,
        max_position_embeddings=163840,
        rope_scaling=YARN_V2_LITE,
    ),
    # The same structure at toy size, for quick checks of the tool and the loaders.
    "tiny": dict(
        num_hidden_layers=3,
        vocab_size=1024,
        hidden_size=128,
        num_attention_heads=4,
        q_lora_rank=None,
        kv_lora_rank=64,
        qk_rope_head_dim=16,
        qk_nope_head_dim=32,
        v_head_dim=32,
        intermediate_size=384,
        moe_intermediate_size=64,
        n_routed_experts=8,
        num_experts_per_tok=3,
        n_shared_experts=2,
        first_k_dense_replace=1,
        max_position_embeddings=163840,
        rope_scaling=YARN_V2_LITE,
    ),
}

BF16_ONE = 0x3F80
CHUNK = 1 << 22  # elements generated per task (16 MiB of float32)


# --------------------------------------------------------------------------------------------------
def make_config(shape: str, layers: int | None, vocab: int | None) -> dict:
    s = dict(SHAPES[shape])
    if layers is not None:
        s["num_hidden_layers"] = layers
    if vocab is not None:
        s["vocab_size"] = vocab
    # DeepSeek-V2's own ids when they fit in the vocabulary, else the usual 1 / 2.
    bos, eos = (100000, 100001) if s["vocab_size"] > 100001 else (1, 2)
    cfg = {
        "architectures": ["DeepseekV2ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "aux_loss_alpha": 0.001,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "first_k_dense_replace": s["first_k_dense_replace"],
        "hidden_act": "silu",
        "hidden_size": s["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": s["intermediate_size"],
        "kv_lora_rank": s["kv_lora_rank"],
        "max_position_embeddings": s["max_position_embeddings"],
        "model_type": "deepseek_v2",
        "moe_intermediate_size": s["moe_intermediate_size"],
        "moe_layer_freq": 1,
        "n_group": 1,
        "n_routed_experts": s["n_routed_experts"],
        "n_shared_experts": s["n_shared_experts"],
        "norm_topk_prob": False,
        "num_attention_heads": s["num_attention_heads"],
        "num_experts_per_tok": s["num_experts_per_tok"],
        "num_hidden_layers": s["num_hidden_layers"],
        "num_key_value_heads": s["num_attention_heads"],
        "pretraining_tp": 1,
        "q_lora_rank": s["q_lora_rank"],
        "qk_nope_head_dim": s["qk_nope_head_dim"],
        "qk_rope_head_dim": s["qk_rope_head_dim"],
        "rms_norm_eps": 1e-06,
        "rope_scaling": dict(s["rope_scaling"]),
        "rope_theta": 10000,
        "routed_scaling_factor": 1.0,
        "scoring_func": "softmax",
        "seq_aux": True,
        "tie_word_embeddings": False,
        "topk_group": 1,
        "topk_method": "greedy",
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "v_head_dim": s["v_head_dim"],
        "vocab_size": s["vocab_size"],
    }
    return cfg


def tensor_list(c: dict) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape, init) in the published layout; init is "normal" or "ones"."""
    H, n_h = c["hidden_size"], c["num_attention_heads"]
    d_nope, d_rope, d_v, d_c = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"]
    t = [("model.embed_tokens.weight", (c["vocab_size"], H), "normal")]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        t.append((p + "input_layernorm.weight", (H,), "ones"))
        if c["q_lora_rank"]:
            t += [
                (a + "q_a_proj.weight", (c["q_lora_rank"], H), "normal"),
                (a + "q_a_layernorm.weight", (c["q_lora_rank"],), "ones"),
                (a + "q_b_proj.weight", (n_h * (d_nope + d_rope), c["q_lora_rank"]), "normal"),
            ]
        else:
            t.append((a + "q_proj.weight", (n_h * (d_nope + d_rope), H), "normal"))
        t += [
            (a + "kv_a_proj_with_mqa.weight", (d_c + d_rope, H), "normal"),
            (a + "kv_a_layernorm.weight", (d_c,), "ones"),
            (a + "kv_b_proj.weight", (n_h * (d_nope + d_v), d_c), "normal"),
            (a + "o_proj.weight", (H, n_h * d_v), "normal"),
        ]
        m = p + "mlp."
        if i >= c["first_k_dense_replace"] and i % c["moe_layer_freq"] == 0:
            inter = c["moe_intermediate_size"]
            t.append((m + "gate.weight", (c["n_routed_experts"], H), "normal"))
            for e in range(c["n_routed_experts"]):
                q = f"{m}experts.{e}."
                t += [
                    (q + "gate_proj.weight", (inter, H), "normal"),
                    (q + "up_proj.weight", (inter, H), "normal"),
                    (q + "down_proj.weight", (H, inter), "normal"),
                ]
            si = inter * c["n_shared_experts"]
            t += [
                (m + "shared_experts.gate_proj.weight", (si, H), "normal"),
                (m + "shared_experts.up_proj.weight", (si, H), "normal"),
                (m + "shared_experts.down_proj.weight", (H, si), "normal"),
            ]
        else:
            t += [
                (m + "gate_proj.weight", (c["intermediate_size"], H), "normal"),
                (m + "up_proj.weight", (c["intermediate_size"], H), "normal"),
                (m + "down_proj.weight", (H, c["intermediate_size"]), "normal"),
            ]
        t.append((p + "post_attention_layernorm.weight", (H,), "ones"))
    t += [("model.norm.weight", (H,), "ones"), ("lm_head.weight", (c["vocab_size"], H), "normal")]
    return t


# --------------------------------------------------------------------------------------------------
def f32_to_bf16(a: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 (nearest, ties to even) and return the uint16 bit patterns.
    Works in place on `a` (no NaN/Inf in our data)."""
    u = a.view(np.uint32)
    t = np.right_shift(u, 16)
    np.bitwise_and(t, 1, out=t)
    np.add(t, 0x7FFF, out=t)
    np.add(u, t, out=u)
    np.right_shift(u, 16, out=u)
    return u.astype("<u2")


def normal_chunk(seed: int, tensor_idx: int, chunk_idx: int, n: int, std: float) -> np.ndarray:
    rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence([seed, tensor_idx, chunk_idx])))
    a = rng.standard_normal(n, dtype=np.float32)
    a *= np.float32(std)
    return f32_to_bf16(a)


def ones_chunk(n: int) -> np.ndarray:
    return np.full(n, BF16_ONE, dtype="<u2")


def fmt_bytes(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.2f} MB"


def parse_size(s: str) -> int:
    s = s.strip().upper()
    for unit, mul in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3), ("GIB", 2**30), ("MIB", 2**20), ("KIB", 2**10)):
        if s.endswith(unit):
            return int(float(s[: -len(unit)]) * mul)
    return int(s)


def plan_shards(tensors, shard_bytes: int) -> list[list[int]]:
    shards, cur, size = [], [], 0
    for i, (_, shape, _) in enumerate(tensors):
        nbytes = 2 * int(np.prod(shape))
        if cur and size + nbytes > shard_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append(i)
        size += nbytes
    if cur:
        shards.append(cur)
    return shards


def write_shard(path: Path, tensors, idxs, seed: int, std: float, pool: ThreadPoolExecutor, threads: int) -> int:
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for i in idxs:
        name, shape, _ = tensors[i]
        nbytes = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    # One task per chunk of every tensor of the shard; at most 2*threads chunks in flight, written
    # in order, so memory stays bounded and small tensors (experts) still run in parallel.
    tasks = []
    for i in idxs:
        _, shape, init = tensors[i]
        n = int(np.prod(shape))
        for ci, s0 in enumerate(range(0, n, CHUNK)):
            m = min(CHUNK, n - s0)
            tasks.append((ones_chunk, (m,)) if init == "ones" else (normal_chunk, (seed, i, ci, m, std)))
    with open(path, "wb") as f:
        f.write(len(hjson).to_bytes(8, "little"))
        f.write(hjson)
        pending = []
        for fn, fargs in tasks:
            pending.append(pool.submit(fn, *fargs))
            if len(pending) >= 2 * threads:
                f.write(pending.pop(0).result().data)
        for fut in pending:
            f.write(fut.result().data)
    return offset


def generate(args) -> Path:
    cfg = make_config(args.shape, args.layers, args.vocab)
    tensors = tensor_list(cfg)
    total = sum(2 * int(np.prod(s)) for _, s, _ in tensors)
    n_params = total // 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out).free
    print(
        f"{args.shape}: {cfg['num_hidden_layers']} layers, vocab {cfg['vocab_size']}, "
        f"{n_params / 1e6:.1f} M parameters, {fmt_bytes(total)} of bfloat16 -> {out}"
    )
    if total + (64 << 20) > free:
        raise SystemExit(f"error: {out} has {free / 1e9:.1f} GB free, the checkpoint needs {total / 1e9:.1f} GB")

    # Remove what an earlier run may have left (only the files this tool writes).
    for p in out.iterdir():
        if p.name.startswith("model") and (p.suffix == ".safetensors" or p.name.endswith(".index.json")):
            p.unlink()
        elif p.name.endswith(".partial"):
            p.unlink()

    shards = plan_shards(tensors, args.shard_size)
    names = (
        ["model.safetensors"]
        if len(shards) == 1
        else [f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors" for k in range(len(shards))]
    )
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        for name, idxs in zip(names, shards):
            tmp = out / (name + ".partial")
            write_shard(tmp, tensors, idxs, args.seed, args.std, pool, args.threads)
            tmp.rename(out / name)
            done = sum(2 * int(np.prod(tensors[i][1])) for i in idxs)
            print(f"  {name}: {fmt_bytes(done)}")
    if len(shards) > 1:
        index = {
            "metadata": {"total_size": total},
            "weight_map": {tensors[i][0]: names[k] for k, idxs in enumerate(shards) for i in idxs},
        }
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (out / "generation_config.json").write_text(
        json.dumps({"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"]}, indent=2) + "\n"
    )
    dt = time.time() - t0
    print(f"wrote {fmt_bytes(total)} in {dt:.1f} s ({total / 1e9 / max(dt, 1e-9):.2f} GB/s), {len(shards)} shard(s)")
    return out


# --------------------------------------------------------------------------------------------------
def verify(folder: Path) -> None:
    """Load with transformers' DeepseekV2ForCausalLM; fail on any key problem; spot-check values."""
    import torch
    from transformers import DeepseekV2ForCausalLM

    model, info = DeepseekV2ForCausalLM.from_pretrained(
        folder, dtype=torch.bfloat16, output_loading_info=True, attn_implementation="eager"
    )
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise SystemExit(f"verify: loading info not clean: {problems}")
    # Compare a few tensors with the raw bytes of the file.
    index = folder / "model.safetensors.index.json"
    wmap = json.loads(index.read_text())["weight_map"] if index.exists() else None
    sd = model.state_dict()
    checked = 0
    for name in ["model.embed_tokens.weight", "lm_head.weight", "model.layers.0.self_attn.kv_b_proj.weight"]:
        fname = wmap[name] if wmap else "model.safetensors"
        with open(folder / fname, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
            a, b = header[name]["data_offsets"]
            f.seek(8 + n + a)
            raw = np.frombuffer(f.read(b - a), dtype="<u2")
        mine = sd[name].view(torch.int16).numpy().view(np.uint16).reshape(-1)
        if not np.array_equal(raw, mine):
            raise SystemExit(f"verify: {name} differs between file and loaded model")
        checked += 1
    experts = [k for k in sd if ".mlp.experts." in k]
    with torch.no_grad():
        ids = torch.tensor([[model.config.bos_token_id, 5, 6, 7]])
        logits = model(ids).logits.float()
    if not torch.isfinite(logits).all():
        raise SystemExit("verify: non-finite logits")
    print(
        f"verify: loaded into DeepseekV2ForCausalLM with no missing/unexpected/mismatched keys; "
        f"{len(sd)} state-dict entries ({len(experts)} fused expert tensors); {checked} tensors byte-identical; "
        f"forward OK, logits std {logits.std():.4f}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--out", type=Path, required=True, help="output folder (created)")
    ap.add_argument("--layers", type=int, help="number of layers (default: the shape's own: v2-lite 27, tiny 3)")
    ap.add_argument("--vocab", type=int, help="vocabulary size (default: the shape's own)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--std", type=float, default=0.02, help="standard deviation of the weights (default 0.02)")
    ap.add_argument("--shard-size", type=parse_size, default=parse_size("2GB"), help="max bytes per shard (2GB)")
    ap.add_argument("--threads", type=int, default=min(16, os.cpu_count() or 1))
    ap.add_argument("--verify", action="store_true", help="load the result with transformers (needs torch)")
    args = ap.parse_args()
    if args.layers is not None and args.layers < 1:
        ap.error("--layers must be >= 1")
    if args.vocab is not None and args.vocab < 3:
        ap.error("--vocab must be >= 3")
    folder = generate(args)
    if args.verify:
        verify(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
