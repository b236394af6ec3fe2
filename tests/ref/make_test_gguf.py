"""GGUF files written by gguf-py (llama.cpp's own writer) for tests/test_gguf.cpp and
tests/test_gguf_tokenizer.cpp, and what gguf-py reads back from them.

    make_test_gguf.py metadata OUT_DIR
        all_types_v3.gguf    every metadata value type, arrays, tensors of several ggml types
        all_types_v2.gguf    the same as GGUF v2 with general.alignment 64
        split/model-0000K-of-00003.gguf   a split set (gguf-py's split writer)
        nested.gguf          a key holding an array of arrays (readers must refuse it)
        expected.json        per file: version, alignment, metadata (type and value), tensors
                             (name, ggml type, ne, byte offset in the file, size), and where each
                             field sits (for the hostile edits), all as gguf-py's GGUFReader reads
    make_test_gguf.py vocab TOKENIZER_DIR OUT.gguf PRE VOCAB_SIZE [glm]
        the tokenizer metadata llama.cpp's converter writes for a published tokenizer.json
        (get_vocab_base with HF tokenizers in place of transformers, gguf.SpecialVocab for merges,
        BOS/EOS and the chat template; `glm`: the extra ids of its _set_vocab_glm), no tensors;
        OUT.gguf.control.json lists the ids it marks control
    make_test_gguf.py bad_vocab OUT.gguf CASE
        a tiny vocabulary with one thing wrong (see bad_vocab)
    make_test_gguf.py tokenize TOKENIZER_JSON GGUF TEXTS_JSON
        one JSON line per text: {"ids": HF encode(text), "decoded": HF decode of those ids
        without the tokens the GGUF marks control (llama.cpp prints no text for them; read from
        GGUF.control.json, which `vocab` wrote with the file)}
    make_test_gguf.py config CONFIG_JSON OUT.gguf mla|legacy [EDITS_JSON]
        a deepseek2 file holding the metadata llama.cpp's converter (conversion/base.py and
        deepseek.py, glm.py) writes for that config.json (`legacy`: MLA heads as older
        converters wrote them, without the *_mla keys), then EDITS_JSON applied (apply_edits)
"""
import json
import os
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V


def add_all_value_types(w):
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.1)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "héllo, wörld \u4e2d\u6587 \U0001F600")
    w.add_uint64("test.u64", 18000000000000000000)
    w.add_int64("test.i64", -9000000000000000000)
    w.add_float64("test.f64", 2.718281828459045)
    w.add_key_value("test.arr_u8", [0, 1, 255], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("test.arr_i8", [-128, 0, 127], V.ARRAY, sub_type=V.INT8)
    w.add_key_value("test.arr_u16", [0, 65535], V.ARRAY, sub_type=V.UINT16)
    w.add_key_value("test.arr_i16", [-32768, 32767], V.ARRAY, sub_type=V.INT16)
    w.add_key_value("test.arr_u32", [1, 4294967295], V.ARRAY, sub_type=V.UINT32)
    w.add_key_value("test.arr_i32", [-5, 7, -2147483648], V.ARRAY, sub_type=V.INT32)
    w.add_key_value("test.arr_f32", [1.5, -0.25, 3.0e38], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("test.arr_bool", [True, False, True], V.ARRAY, sub_type=V.BOOL)
    w.add_key_value("test.arr_string", ["a", "", "ĠGGUF", "\u00e9"], V.ARRAY, sub_type=V.STRING)
    w.add_key_value("test.arr_u64", [0, 18446744073709551615], V.ARRAY, sub_type=V.UINT64)
    w.add_key_value("test.arr_i64", [-9223372036854775808, 9223372036854775807], V.ARRAY,
                    sub_type=V.INT64)
    w.add_key_value("test.arr_f64", [1e-300, -2.5], V.ARRAY, sub_type=V.FLOAT64)
    w.add_string("general.name", "gguf reader test")


def add_tensors(w, rng, prefix=""):
    """Tensors of plain, quantized and other ggml types; quantized data is random bytes."""
    def quant(name, qtype, rows, cols):
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        data = rng.integers(0, 256, size=(rows, cols // block * size), dtype=np.uint8)
        w.add_tensor(prefix + name, data, raw_dtype=qtype)

    w.add_tensor(prefix + "plain.f32", rng.standard_normal((3, 5)).astype(np.float32))
    w.add_tensor(prefix + "plain.f16", rng.standard_normal((2, 7)).astype(np.float16))
    bf16 = (rng.standard_normal((4, 6)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    w.add_tensor(prefix + "plain.bf16", bf16, raw_shape=(4, 6), raw_dtype=Q.BF16)
    w.add_tensor(prefix + "vector.f32", rng.standard_normal(9).astype(np.float32))
    w.add_tensor(prefix + "experts.f32", rng.standard_normal((2, 3, 4)).astype(np.float32))
    quant("q4_0", Q.Q4_0, 2, 64)
    quant("q8_0", Q.Q8_0, 3, 32)
    quant("q4_k", Q.Q4_K, 2, 256)
    quant("q6_k", Q.Q6_K, 1, 512)
    quant("q5_k", Q.Q5_K, 2, 256)
    quant("iq4_nl", Q.IQ4_NL, 2, 32)  # a type LatentChat does not compute with
    w.add_tensor(prefix + "ints.i32", np.arange(6, dtype=np.int32))


def finish(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def describe(path):
    """What gguf-py's reader finds in `path`, with the byte position of every field."""
    r = gguf.GGUFReader(path)
    out = {"metadata": {}, "tensors": [], "layout": {"keys": {}, "tensors": {}}}
    for name, f in r.fields.items():
        if name.startswith("GGUF."):
            if name == "GGUF.version":
                out["version"] = int(f.parts[f.data[0]][0])
            continue
        klen = int(f.parts[0][0])
        off = int(f.offset)
        pos = {"key_length": off, "type": off + 8 + klen, "value": off + 12 + klen}
        main = f.types[0]
        entry = {"type": main.name}
        if main == V.ARRAY:
            entry["element_type"] = f.types[-1].name
            pos["element_type"] = off + 12 + klen
            pos["count"] = off + 16 + klen
            vals = f.contents()
            if f.types[-1] in (V.FLOAT32, V.FLOAT64):
                vals = [float(x) for x in vals]
            elif f.types[-1] == V.BOOL:
                vals = [bool(x) for x in vals]
            elif f.types[-1] != V.STRING:
                vals = [int(x) for x in vals]
            entry["value"] = vals
        else:
            v = f.contents()
            entry["value"] = (float(v) if main in (V.FLOAT32, V.FLOAT64) else
                              bool(v) if main == V.BOOL else
                              v if main == V.STRING else int(v))
        out["metadata"][name] = entry
        out["layout"]["keys"][name] = pos
    data_start = None
    for t in r.tensors:
        f = t.field
        nlen = int(f.parts[0][0])
        off = int(f.offset)
        ne = [int(x) for x in t.shape]
        n_dims = len(ne)
        out["tensors"].append({"name": t.name, "ggml_type": int(t.tensor_type), "ne": ne,
                               "file_offset": int(t.data_offset), "nbytes": int(t.n_bytes)})
        out["layout"]["tensors"][t.name] = {
            "name_length": off, "n_dims": off + 8 + nlen, "dims": off + 12 + nlen,
            "type": off + 12 + nlen + 8 * n_dims, "offset": off + 16 + nlen + 8 * n_dims}
        data_start = int(r.data_offset)
    out["data_offset"] = data_start
    align = r.fields.get("general.alignment")
    out["alignment"] = int(align.contents()) if align else 32
    out["size"] = os.path.getsize(path)
    return out


def metadata(out_dir):
    rng = np.random.default_rng(5)
    os.makedirs(os.path.join(out_dir, "split"), exist_ok=True)
    expected = {}

    path = os.path.join(out_dir, "all_types_v3.gguf")
    w = gguf.GGUFWriter(path, "testarch")
    add_all_value_types(w)
    add_tensors(w, rng)
    finish(w)
    expected["all_types_v3.gguf"] = describe(path)

    path = os.path.join(out_dir, "all_types_v2.gguf")
    saved = gguf.gguf_writer.GGUF_VERSION
    gguf.gguf_writer.GGUF_VERSION = 2
    w = gguf.GGUFWriter(path, "testarch")
    w.add_custom_alignment(64)
    add_all_value_types(w)
    add_tensors(w, rng)
    finish(w)
    gguf.gguf_writer.GGUF_VERSION = saved
    expected["all_types_v2.gguf"] = describe(path)

    w = gguf.GGUFWriter(os.path.join(out_dir, "split", "model.gguf"), "testarch",
                        split_max_tensors=5)
    w.add_string("general.name", "split test")
    # Two tensors whose names differ in one letter, in the first and the last part.
    w.add_tensor("s.dupa.f32", rng.standard_normal(4).astype(np.float32))
    add_tensors(w, rng, prefix="s.")
    w.add_tensor("s.dupb.f32", rng.standard_normal(4).astype(np.float32))
    finish(w)
    for k in range(1, 4):
        name = f"model-{k:05d}-of-00003.gguf"
        expected["split/" + name] = describe(os.path.join(out_dir, "split", name))

    path = os.path.join(out_dir, "nested.gguf")
    w = gguf.GGUFWriter(path, "testarch")
    w.add_key_value("test.nested", [[1, 2], [3]], V.ARRAY, sub_type=V.ARRAY)
    finish(w)

    with open(os.path.join(out_dir, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False)


def looks_special(text):
    """The converter's does_token_look_special."""
    return (text in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
            or (text.startswith("<|") and text.endswith("|>"))
            or (text.startswith("<\uff5c") and text.endswith("\uff5c>"))
            or (text.startswith("<unused") and text.endswith(">")))


def vocab(tok_dir, out, pre, vocab_size, glm):
    w = gguf.GGUFWriter(out, "deepseek2")
    types = add_vocab(w, tok_dir, pre, vocab_size, glm)
    finish(w)
    # The control ids beside the file, for `tokenize` (GGUFReader takes seconds on 100k tokens).
    with open(out + ".control.json", "w", encoding="utf-8") as f:
        json.dump([i for i, t in enumerate(types) if t == gguf.TokenType.CONTROL], f)


def add_vocab(w, tok_dir, pre, vocab_size, glm):
    """The converter's tokenizer keys for tok_dir/tokenizer.json; returns the token types."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(tok_dir, "tokenizer.json"))
    reverse = {i: t for t, i in tok.get_vocab(with_added_tokens=True).items()}
    added = tok.get_added_tokens_decoder()  # id -> AddedToken
    added_contents = {a.content for a in added.values()}
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        token = reverse[i]
        if token in added_contents:
            if not added[i].normalized:
                token = tok.decode(tok.encode(token, add_special_tokens=False).ids,
                                   skip_special_tokens=False)
            if added[i].special or looks_special(token):
                types.append(gguf.TokenType.CONTROL)
            else:
                token = token.replace("\u2581", " ")
                types.append(gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
        tokens.append(token)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    special = gguf.SpecialVocab(tok_dir, load_merges=True)
    if glm:
        ids = {a.content: i for i, a in added.items()}
        special._set_special_token("bos", ids["[gMASK]"])
        special._set_special_token("eot", ids["<|user|>"])
        special._set_special_token("unk", ids["<|endoftext|>"])
        special._set_special_token("eom", ids["<|observation|>"])
    special.add_to_gguf(w)
    return types


def bad_vocab(out, case):
    """A tiny vocabulary with one thing wrong (`case`), else as the converter writes it."""
    tokens = ["a", "b", "ab", "Ġ", "<|end|>"]
    types = [1, 1, 1, 1, 3]
    merges = ["a b"]
    model, pre = "gpt2", "deepseek-v3"
    if case == "model":
        model = "llama"
    elif case == "pre":
        pre = "no-such-pre"
    elif case == "kimi":
        pre = "kimi-k2"
    elif case == "types":
        types = types[:-1]
    elif case == "type_value":
        types[1] = 9
    elif case == "merge_space":
        merges = ["ab"]
    elif case == "merge_unknown":
        merges = ["a c"]
    w = gguf.GGUFWriter(out, "deepseek2")
    w.add_tokenizer_model(model)
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    if case != "no_merges":
        w.add_token_merges(merges)
    w.add_eos_token_id(9 if case == "eos" else 4)
    finish(w)


def tokenize(tokenizer_json, gguf_path, texts_json):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(tokenizer_json)
    with open(gguf_path + ".control.json", encoding="utf-8") as f:
        control = set(json.load(f))
    with open(texts_json, encoding="utf-8") as f:
        texts = json.load(f)
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False).ids
        shown = [i for i in ids if i not in control]
        sys.stdout.write(json.dumps({"ids": ids, "decoded": tok.decode(
            shown, skip_special_tokens=False)}) + "\n")


def apply_edits(w, edits):
    """Edits after the converter's keys: ["set", KEY, TYPE, VALUE] (TYPE a GGUFValueType name,
    or ARRAY_<element type>) or ["drop", KEY]."""
    kv = w.kv_data[0]
    for edit in edits:
        if edit[0] == "drop":
            kv.pop(edit[1], None)
        elif edit[2].startswith("ARRAY_"):
            kv[edit[1]] = gguf.GGUFValue(edit[3], V.ARRAY, V[edit[2][6:]])
        else:
            kv[edit[1]] = gguf.GGUFValue(edit[3], V[edit[2]])


def config(config_json, out, legacy, edits):
    """What llama.cpp's converter writes for a DeepseekV2/V3/Glm4MoeLite config.json."""
    finish(config_writer(config_json, out, legacy, edits))


def config_writer(config_json, out, legacy, edits):
    """config()'s writer before it is written, for callers that add tensors."""
    with open(config_json, encoding="utf-8") as f:
        hp = json.load(f)
    w = gguf.GGUFWriter(out, "deepseek2")
    nextn = hp.get("num_nextn_predict_layers", 0) if hp["model_type"] == "glm4_moe_lite" else 0
    w.add_block_count(hp["num_hidden_layers"] + nextn)
    if nextn:
        w.add_nextn_predict_layers(nextn)
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(hp["num_attention_heads"])
    w.add_head_count_kv(hp["num_attention_heads"] if legacy else 1)
    rope = dict(hp.get("rope_parameters") or hp.get("rope_scaling") or {})
    if "type" in rope and "rope_type" not in rope:
        rope["rope_type"] = rope["type"]
    rope.setdefault("rope_theta", hp.get("rope_theta", 10000.0))
    if rope.get("rope_type") == "linear" and rope.get("factor") is not None:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(rope["factor"])
    elif rope.get("rope_type") == "yarn" and rope.get("factor") is not None:
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(rope["factor"])
        w.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])
        if rope.get("beta_fast") is not None:
            w.add_rope_scaling_yarn_beta_fast(rope["beta_fast"])
        if rope.get("beta_slow") is not None:
            w.add_rope_scaling_yarn_beta_slow(rope["beta_slow"])
    w.add_rope_freq_base(rope["rope_theta"])
    w.add_layer_norm_rms_eps(hp.get("rms_norm_eps", 1e-6))
    if hp.get("n_routed_experts") is not None:
        w.add_expert_count(hp["n_routed_experts"])
    if hp.get("num_experts_per_tok") is not None:
        w.add_expert_used_count(hp["num_experts_per_tok"])
    if hp.get("n_group") is not None:
        w.add_expert_group_count(hp["n_group"])
    if hp.get("topk_group") is not None:
        w.add_expert_group_used_count(hp["topk_group"])
    if hp.get("scoring_func") is not None:
        w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID if hp["scoring_func"] ==
                                 "sigmoid" else gguf.ExpertGatingFuncType.SOFTMAX)
    if hp.get("head_dim") is not None:
        w.add_key_length(hp["head_dim"])
        w.add_value_length(hp["head_dim"])
    # deepseek.py
    first_dense = hp.get("first_k_dense_replace")
    if first_dense is None:
        first_dense = 0 if hp.get("n_routed_experts") is not None else hp["num_hidden_layers"]
    w.add_leading_dense_block_count(first_dense)
    kv_lora = hp.get("kv_lora_rank", 512)
    w.add_vocab_size(hp["vocab_size"])
    if hp.get("q_lora_rank") is not None:
        w.add_q_lora_rank(hp["q_lora_rank"])
    w.add_kv_lora_rank(kv_lora)
    if legacy:
        w.add_key_length(hp["qk_nope_head_dim"] + hp["qk_rope_head_dim"])
        w.add_value_length(hp["v_head_dim"])
    else:
        w.add_key_length(kv_lora + hp["qk_rope_head_dim"])
        w.add_value_length(kv_lora)
        w.add_key_length_mla(hp["qk_nope_head_dim"] + hp["qk_rope_head_dim"])
        w.add_value_length_mla(hp["v_head_dim"])
    w.add_expert_feed_forward_length(hp.get("moe_intermediate_size", hp["intermediate_size"]))
    w.add_expert_shared_count(hp.get("n_shared_experts", 0))
    if hp.get("routed_scaling_factor") is not None:
        w.add_expert_weights_scale(hp["routed_scaling_factor"])
    if hp.get("norm_topk_prob"):
        w.add_expert_weights_norm(True)
    w.add_rope_dimension_count(hp["qk_rope_head_dim"])
    if rope.get("mscale_all_dim") is not None:
        w.add_rope_scaling_yarn_log_mul(0.1 * rope["mscale_all_dim"])
    eos = hp.get("eos_token_id")
    if isinstance(eos, list):
        eos = eos[0]
    if hp.get("bos_token_id") is not None:
        w.add_bos_token_id(hp["bos_token_id"])
    if eos is not None:
        w.add_eos_token_id(eos)
    apply_edits(w, edits)
    return w


def main():
    mode = sys.argv[1]
    if mode == "metadata":
        metadata(sys.argv[2])
    elif mode == "vocab":
        vocab(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), "glm" in sys.argv[6:])
    elif mode == "bad_vocab":
        bad_vocab(sys.argv[2], sys.argv[3])
    elif mode == "tokenize":
        tokenize(sys.argv[2], sys.argv[3], sys.argv[4])
    elif mode == "config":
        edits = json.loads(sys.argv[5]) if len(sys.argv) > 5 else []
        config(sys.argv[2], sys.argv[3], sys.argv[4] == "legacy", edits)
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
