"""A GGUF file of a checkpoint fixture (tests/fixtures/<name>), written by gguf-py as llama.cpp's
converter writes deepseek2 files: the converter's metadata (make_test_gguf.config_writer), its
tensor names, experts stacked per layer, and either the newer attention layout (attn_k_b, the
per-head W_UK transposed, and attn_v_b) or the older one (attn_kv_b).

    make_model_gguf.py FIXTURE_DIR OUT.gguf mla|legacy TYPE
        (with FIXTURE_DIR/tokenizer.json, its vocabulary and chat template as the converter
        writes them; else no vocabulary)
        TYPE: "source" keeps every tensor in the checkpoint's dtype (lossless); Q8_0, Q4_0, Q4_1,
        Q5_0 or Q5_1 quantize the 2-D and 3-D weights whose rows are a multiple of 32 with gguf-py
        (others stay as stored, as llama-quantize leaves rows it cannot quantize); norms stay F32.
    Also writes OUT.gguf.dequantized.safetensors: every tensor of the file as gguf-py dequantizes
    it, under the checkpoint's names in float32, with the fixture's config.json beside it
    (OUT.gguf.dequantized/), so the same weights can be run from a folder.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as Q

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_test_gguf import config_writer, finish  # noqa: E402


def read_safetensors(path):
    """name -> (float32 array, dtype name, raw bytes) for F32/F16/BF16 tensors."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[a:b]
        shape = info["shape"]
        if info["dtype"] == "F32":
            arr = np.frombuffer(raw, np.float32).reshape(shape)
        elif info["dtype"] == "F16":
            arr = np.frombuffer(raw, np.float16).reshape(shape).astype(np.float32)
        elif info["dtype"] == "BF16":
            bits = np.frombuffer(raw, np.uint16).astype(np.uint32) << 16
            arr = bits.view(np.float32).reshape(shape)
        else:
            sys.exit(f"{name}: dtype {info['dtype']} not handled")
        out[name] = (arr, info["dtype"], np.frombuffer(raw, np.uint8))
    return out


def gguf_names(hp, tensors, legacy):
    """(gguf name, float32 array, source dtype, is a weight matrix) in the converter's order."""
    def t(name):
        return tensors[name]

    out = [("token_embd.weight", *t("model.embed_tokens.weight")[:2], True)]
    nh, nope, v = hp["num_attention_heads"], hp["qk_nope_head_dim"], hp["v_head_dim"]
    for i in range(hp["num_hidden_layers"]):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        out.append((b + "attn_norm.weight", *t(p + "input_layernorm.weight")[:2], False))
        a = p + "self_attn."
        if hp.get("q_lora_rank"):
            out.append((b + "attn_q_a.weight", *t(a + "q_a_proj.weight")[:2], True))
            out.append((b + "attn_q_a_norm.weight", *t(a + "q_a_layernorm.weight")[:2], False))
            out.append((b + "attn_q_b.weight", *t(a + "q_b_proj.weight")[:2], True))
        else:
            out.append((b + "attn_q.weight", *t(a + "q_proj.weight")[:2], True))
        out.append((b + "attn_kv_a_mqa.weight", *t(a + "kv_a_proj_with_mqa.weight")[:2], True))
        out.append((b + "attn_kv_a_norm.weight", *t(a + "kv_a_layernorm.weight")[:2], False))
        kv_b, dt = t(a + "kv_b_proj.weight")[:2]
        if legacy:
            out.append((b + "attn_kv_b.weight", kv_b, dt, True))
        else:  # as conversion/deepseek.py splits it
            heads = kv_b.reshape(nh, nope + v, kv_b.shape[-1])
            k_b = np.ascontiguousarray(heads[:, :nope, :].transpose(0, 2, 1))
            v_b = np.ascontiguousarray(heads[:, nope:, :])
            out.append((b + "attn_k_b.weight", k_b, dt, True))
            out.append((b + "attn_v_b.weight", v_b, dt, True))
        out.append((b + "attn_output.weight", *t(a + "o_proj.weight")[:2], True))
        out.append((b + "ffn_norm.weight", *t(p + "post_attention_layernorm.weight")[:2], False))
        m = p + "mlp."
        if m + "gate.weight" not in tensors:
            for w in ("gate", "up", "down"):
                out.append((b + f"ffn_{w}.weight", *t(m + f"{w}_proj.weight")[:2], True))
            continue
        out.append((b + "ffn_gate_inp.weight", *t(m + "gate.weight")[:2], False))
        if m + "gate.e_score_correction_bias" in tensors:
            out.append((b + "exp_probs_b.bias", *t(m + "gate.e_score_correction_bias")[:2], False))
        for w in ("gate", "up", "down"):
            stacked = np.stack([t(m + f"experts.{e}.{w}_proj.weight")[0]
                                for e in range(hp["n_routed_experts"])])
            out.append((b + f"ffn_{w}_exps.weight", stacked, t(m + f"experts.0.{w}_proj.weight")[1],
                        True))
        if hp.get("n_shared_experts"):
            for w in ("gate", "up", "down"):
                out.append((b + f"ffn_{w}_shexp.weight", *t(m + f"shared_experts.{w}_proj.weight")[:2],
                            True))
    out.append(("output_norm.weight", *t("model.norm.weight")[:2], False))
    if "lm_head.weight" in tensors:
        out.append(("output.weight", *t("lm_head.weight")[:2], True))
    return out


def source_type(dtype):
    return {"F32": Q.F32, "F16": Q.F16, "BF16": Q.BF16}[dtype]


def encode(arr, qtype):
    if qtype == Q.F32:
        return arr.astype(np.float32)
    if qtype == Q.F16:
        return arr.astype(np.float16)
    return gguf.quants.quantize(arr.astype(np.float32), qtype)


def main():
    fixture, out, layout, kind = sys.argv[1:5]
    hp = json.load(open(os.path.join(fixture, "config.json")))
    tensors = read_safetensors(os.path.join(fixture, "model.safetensors"))
    w = config_writer(os.path.join(fixture, "config.json"), out, layout == "legacy", [])
    if os.path.exists(os.path.join(fixture, "tokenizer.json")):  # the converter's vocabulary
        from make_test_gguf import add_vocab
        add_vocab(w, fixture, "deepseek-llm", hp["vocab_size"], False)
    else:
        w.add_tokenizer_model("gpt2")  # no vocabulary: these files are read for their weights
    dequantized = {}
    for name, arr, dt, is_weight in gguf_names(hp, tensors, layout == "legacy"):
        if not is_weight:
            qtype = Q.F32
        elif kind == "source" or arr.shape[-1] % 32 != 0:
            qtype = source_type(dt)
        else:
            qtype = Q[kind]
        data = encode(arr, qtype)
        w.add_tensor(name, data, raw_dtype=qtype)
        dequantized[name] = np.asarray(gguf.quants.dequantize(data, qtype), np.float32)
    finish(w)
    # The dequantized weights under the checkpoint's names, for a float run of the same model.
    folder = out + ".dequantized"
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    shutil.copy(os.path.join(fixture, "config.json"), folder)
    write_dequantized(hp, dequantized, tensors, layout == "legacy", folder)


def write_dequantized(hp, deq, tensors, legacy, folder):
    """The dequantized GGUF tensors back under the checkpoint's names (f32 safetensors)."""
    # Walk the checkpoint's names and take each one's values from the GGUF tensor it went to.
    result = {}
    nh, nope, v = hp["num_attention_heads"], hp["qk_nope_head_dim"], hp["v_head_dim"]
    rename = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
              "lm_head.weight": "output.weight"}
    for name in tensors:  # the checkpoint's names, each from the GGUF tensor it went to
        if name in rename:
            result[name] = deq[rename[name]]
            continue
        parts = name.split(".")
        i = int(parts[2])
        b = f"blk.{i}."
        rest = ".".join(parts[3:])
        simple = {"input_layernorm.weight": "attn_norm.weight",
                  "post_attention_layernorm.weight": "ffn_norm.weight",
                  "self_attn.q_proj.weight": "attn_q.weight",
                  "self_attn.q_a_proj.weight": "attn_q_a.weight",
                  "self_attn.q_a_layernorm.weight": "attn_q_a_norm.weight",
                  "self_attn.q_b_proj.weight": "attn_q_b.weight",
                  "self_attn.kv_a_proj_with_mqa.weight": "attn_kv_a_mqa.weight",
                  "self_attn.kv_a_layernorm.weight": "attn_kv_a_norm.weight",
                  "self_attn.o_proj.weight": "attn_output.weight",
                  "mlp.gate.weight": "ffn_gate_inp.weight",
                  "mlp.gate.e_score_correction_bias": "exp_probs_b.bias",
                  "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
                  "mlp.down_proj.weight": "ffn_down.weight",
                  "mlp.shared_experts.gate_proj.weight": "ffn_gate_shexp.weight",
                  "mlp.shared_experts.up_proj.weight": "ffn_up_shexp.weight",
                  "mlp.shared_experts.down_proj.weight": "ffn_down_shexp.weight"}
        if rest in simple:
            result[name] = deq[b + simple[rest]]
        elif rest == "self_attn.kv_b_proj.weight":
            if legacy:
                result[name] = deq[b + "attn_kv_b.weight"]
            else:
                k_b = deq[b + "attn_k_b.weight"].transpose(0, 2, 1)
                v_b = deq[b + "attn_v_b.weight"]
                result[name] = np.concatenate([k_b, v_b], axis=1).reshape(nh * (nope + v), -1)
        elif rest.startswith("mlp.experts."):
            e, w = int(parts[5]), parts[6].split("_")[0]
            result[name] = deq[b + f"ffn_{w}_exps.weight"][e]
        else:
            sys.exit(f"{name}: no GGUF tensor")
    write_safetensors(os.path.join(folder, "model.safetensors"), result)


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
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


if __name__ == "__main__":
    main()
