#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/ (all of our own making, a few hundred bytes each).
Run from anywhere: python3 fuzz/make_corpus.py. The files are committed; rerun only to change them."""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- safetensors -----------------------------------------------------------------------------
def safetensors(tensors, metadata=None, pad=True):
    header, blob = {}, b""
    for name, (dtype, shape, payload) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(payload)]}
        blob += payload
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob

put("safetensors", "bf16", safetensors({"w": ("BF16", [2, 3], b"\x80\x3f" * 6)}))
put("safetensors", "f32_meta", safetensors({"a.weight": ("F32", [4], struct.pack("<4f", 1, 2, 3, 4)),
                                            "b": ("I64", [1], struct.pack("<q", 7))}, {"format": "pt"}))
put("safetensors", "fp8_scale", safetensors({"w": ("F8_E4M3", [2, 2], b"\x38\x40\x48\x50"),
                                             "w_scale_inv": ("F32", [1, 1], struct.pack("<f", 0.5))}))
put("safetensors", "empty", safetensors({}))
put("safetensors", "scalar", safetensors({"s": ("F16", [], b"\x00\x3c"), "z": ("U8", [0], b"")}))
put("safetensors", "bad_offsets", struct.pack("<Q", 60) + b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,99]}}    ')

# --- config.json -----------------------------------------------------------------------------
base = {
    "architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2", "bos_token_id": 1,
    "eos_token_id": 2, "first_k_dense_replace": 1, "hidden_size": 64, "intermediate_size": 128,
    "kv_lora_rank": 32, "max_position_embeddings": 4096, "moe_intermediate_size": 32,
    "moe_layer_freq": 1, "n_group": 1, "n_routed_experts": 8, "n_shared_experts": 1,
    "norm_topk_prob": False, "num_attention_heads": 4, "num_experts_per_tok": 3,
    "num_hidden_layers": 3, "num_key_value_heads": 4, "q_lora_rank": None, "qk_nope_head_dim": 16,
    "qk_rope_head_dim": 8, "rms_norm_eps": 1e-6, "rope_scaling": None, "rope_theta": 10000,
    "routed_scaling_factor": 1.0, "scoring_func": "softmax", "tie_word_embeddings": False,
    "topk_group": 1, "topk_method": "greedy", "v_head_dim": 16, "vocab_size": 256}
put("config", "v2_moe.json", json.dumps(base))
v3 = dict(base, model_type="deepseek_v3", architectures=["DeepseekV3ForCausalLM"], q_lora_rank=24,
          scoring_func="sigmoid", topk_method="noaux_tc", n_group=2, topk_group=1, eos_token_id=[2, 3],
          rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1024,
                        "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
          quantization_config={"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128],
                               "activation_scheme": "dynamic"})
put("config", "v3_yarn_fp8.json", json.dumps(v3))
dense = dict(base, first_k_dense_replace=3, n_routed_experts=None, tie_word_embeddings=True)
put("config", "dense.json", json.dumps(dense))
put("config", "glm.json", json.dumps(dict(base, model_type="glm4_moe_lite", architectures=["Glm4MoeLiteForCausalLM"])))
put("config", "huge.json", json.dumps(dict(base, num_hidden_layers=10000000, eos_token_id=4294967297)))
put("config", "bad_number.json", '{"hidden_size": 1e400}')
put("config", "nested.json", "[" * 300 + "]" * 300)

# --- history import --------------------------------------------------------------------------
conv = {"title": "Hello \u00e9", "folder": "", "pinned": False, "model_id": "m", "created_ms": 1,
        "updated_ms": 3, "head": 2, "messages": [
            {"id": 1, "parent_id": None, "role": "user", "text": "Hi", "token_count": 0, "ttft_ms": 0,
             "tokens_per_s": 0, "model_id": "", "sampling": None, "created_ms": 1, "edited_ms": 0},
            {"id": 2, "parent_id": 1, "role": "assistant", "text": "Hello!", "token_count": 3,
             "ttft_ms": 12.5, "tokens_per_s": 40.0, "model_id": "m", "sampling": {"temperature": 0.7},
             "created_ms": 2, "edited_ms": 0}]}
branch = json.loads(json.dumps(conv))
branch["messages"].append(dict(branch["messages"][1], id=3, text="Other reply"))
branch["head"] = 3
put("history_import", "one.json", json.dumps({"format": "latentchat-conversation", "version": 1, "conversations": [conv]}))
put("history_import", "branch.json", json.dumps({"format": "latentchat-conversation", "version": 1, "conversations": [branch, conv]}))
put("history_import", "empty.json", '{"format":"latentchat-conversation","version":1,"conversations":[]}')
put("history_import", "cycle.json", json.dumps({"format": "latentchat-conversation", "version": 1, "conversations": [
    dict(conv, messages=[dict(conv["messages"][0], parent_id=2), conv["messages"][1]])]}))

# --- tokenizer.json --------------------------------------------------------------------------
vocab = {"<s>": 1, "</s>": 2, "<unk>": 0}
for i, ch in enumerate("Helowrd,!  'tsI20é"):
    vocab.setdefault(ch, len(vocab))
vocab.update({"He": len(vocab), "ll": len(vocab) + 1, "Hell": len(vocab) + 2})
added = [{"id": 1, "content": "<s>", "single_word": False, "lstrip": False, "rstrip": False,
          "normalized": False, "special": True},
         {"id": 2, "content": "</s>", "single_word": False, "lstrip": False, "rstrip": False,
          "normalized": False, "special": True}]
bpe = {"version": "1.0", "added_tokens": added, "normalizer": {"type": "NFC"},
       "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
           {"type": "Split", "pattern": {"Regex": "\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"},
            "behavior": "Isolated", "invert": False},
           {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
       "post_processor": None, "decoder": {"type": "ByteLevel"},
       "model": {"type": "BPE", "dropout": None, "unk_token": None, "fuse_unk": False,
                 "byte_fallback": False, "vocab": vocab, "merges": ["H e", "l l", "He ll"]}}
put("hf_tokenizer", "bpe_bytelevel.json", json.dumps(bpe))
sp = dict(bpe, normalizer={"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                                 {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
          pre_tokenizer=None,
          decoder={"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                                     {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})
sp["model"] = dict(bpe["model"], byte_fallback=True, unk_token="<unk>", fuse_unk=True,
                   vocab=dict(vocab, **{"<0x41>": len(vocab) + 3, "\u2581": len(vocab) + 4}),
                   merges=[["H", "e"], ["l", "l"]])
put("hf_tokenizer", "sentencepiece_bpe.json", json.dumps(sp))
wl = dict(bpe, pre_tokenizer={"type": "Whitespace"}, normalizer={"type": "Lowercase"},
          decoder=None, model={"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"})
put("hf_tokenizer", "wordlevel.json", json.dumps(wl))
put("hf_tokenizer", "metaspace.json", json.dumps(dict(bpe, pre_tokenizer={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True},
                                                     normalizer=None, decoder={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True})))

# --- chat templates (Jinja) ------------------------------------------------------------------
put("chat_template", "chatml.jinja",
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
put("chat_template", "llama2.jinja",
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")
put("chat_template", "deepseek.jinja",
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{{ bos_token }}{%- for message in messages -%}{%- if message['role'] == 'user' -%}"
    "{{ 'User: ' + message['content'] | trim + '\\n\\n' }}{%- elif message['role'] == 'assistant' -%}"
    "{{ 'Assistant: ' + message['content'] + eos_token }}{%- else -%}{{ message['content'] + '\\n\\n' }}"
    "{%- endif -%}{%- endfor -%}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")
put("chat_template", "features.jinja",
    "{% macro fmt(m, sep='|') %}{{ m.role|upper }}{{ sep }}{{ m.content|replace('a','b')|length }}{% endmacro %}"
    "{% set ns = namespace(n=0) %}{% for m in messages|selectattr('role','equalto','user')|list %}"
    "{% set ns.n = ns.n + 1 %}{{ fmt(m) }}{{ loop.last }}{% endfor %}{{ ns.n }}"
    "{{ messages|map(attribute='role')|join(',') }}{{ {'a': [1, 2.5, none, true]}|tojson }}"
    "{{ 'x' * 3 }}{{ range(3)|list }}{{ '%d'|format(4) if 1 is number else 'no' }}"
    "{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}{{ messages[-1].content[1:3] }}"
    "{{ additional_special_tokens[0] }}{# comment #}{% raw %}{{ raw }}{% endraw %}")
put("chat_template", "plain.jinja", "Hello {{ messages | length }}")

# --- GGUF ------------------------------------------------------------------------------------
T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64 = 4, 5, 6, 7, 8, 9, 10

def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b

def kv(key, t, v):
    out = gstr(key) + struct.pack("<I", t)
    if t == T_U32: out += struct.pack("<I", v)
    elif t == T_I32: out += struct.pack("<i", v)
    elif t == T_F32: out += struct.pack("<f", v)
    elif t == T_BOOL: out += struct.pack("<B", v)
    elif t == T_STR: out += gstr(v)
    elif t == T_ARR:
        et, items = v
        out += struct.pack("<IQ", et, len(items))
        for it in items:
            out += gstr(it) if et == T_STR else struct.pack({T_I32: "<i", T_F32: "<f", T_U32: "<I"}[et], it)
    return out

def gguf(kvs, tensors, version=3, align=32):
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k in kvs: out += kv(*k)
    data, infos = b"", b""
    for name, dims, ggml_type, payload in tensors:
        data += b"\0" * (-len(data) % align)
        infos += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", ggml_type, len(data))
        data += payload
    out += infos
    out += b"\0" * (-len(out) % align)
    return out + data

toks = ["<unk>", "<s>", "</s>", "H", "e", "l", "o", "\u0120", "w", "r", "d", "He", "ll"]
tok_kvs = [("tokenizer.ggml.model", T_STR, "gpt2"), ("tokenizer.ggml.pre", T_STR, "default"),
           ("tokenizer.ggml.tokens", T_ARR, (T_STR, toks)),
           ("tokenizer.ggml.token_type", T_ARR, (T_I32, [2, 3, 3] + [1] * (len(toks) - 3))),
           ("tokenizer.ggml.merges", T_ARR, (T_STR, ["H e", "l l"])),
           ("tokenizer.ggml.bos_token_id", T_U32, 1), ("tokenizer.ggml.eos_token_id", T_U32, 2),
           ("tokenizer.ggml.add_bos_token", T_BOOL, 1),
           ("tokenizer.chat_template", T_STR, "{% for m in messages %}{{ m.content }}{% endfor %}")]
arch_kvs = [("general.architecture", T_STR, "deepseek2"), ("general.name", T_STR, "tiny"),
            ("general.alignment", T_U32, 32),
            ("deepseek2.block_count", T_U32, 2), ("deepseek2.context_length", T_U32, 4096),
            ("deepseek2.embedding_length", T_U32, 64), ("deepseek2.feed_forward_length", T_U32, 128),
            ("deepseek2.attention.head_count", T_U32, 4), ("deepseek2.attention.head_count_kv", T_U32, 4),
            ("deepseek2.rope.freq_base", T_F32, 10000.0),
            ("deepseek2.attention.layer_norm_rms_epsilon", T_F32, 1e-6),
            ("deepseek2.attention.kv_lora_rank", T_U32, 32), ("deepseek2.attention.key_length", T_U32, 24),
            ("deepseek2.attention.value_length", T_U32, 16), ("deepseek2.rope.dimension_count", T_U32, 8),
            ("deepseek2.leading_dense_block_count", T_U32, 1), ("deepseek2.expert_count", T_U32, 4),
            ("deepseek2.expert_used_count", T_U32, 2), ("deepseek2.expert_shared_count", T_U32, 1),
            ("deepseek2.expert_feed_forward_length", T_U32, 32), ("deepseek2.vocab_size", T_U32, len(toks))]
f32 = struct.pack("<8f", *range(8))
q8_0 = struct.pack("<e", 0.5) + bytes(range(32))  # one Q8_0 block: f16 scale + 32 int8
put("gguf", "deepseek2_gpt2", gguf(arch_kvs + tok_kvs, [("token_embd.weight", [8], 0, f32), ("blk.0.attn_norm.weight", [32], 8, q8_0)]))
put("gguf", "tokenizer_only", gguf(tok_kvs, []))
put("gguf", "llama_spm", gguf([("general.architecture", T_STR, "llama"), ("tokenizer.ggml.model", T_STR, "llama"),
                               ("tokenizer.ggml.tokens", T_ARR, (T_STR, ["<unk>", "<s>", "</s>", "\u2581", "H", "e", "<0x41>"])),
                               ("tokenizer.ggml.scores", T_ARR, (T_F32, [0, 0, 0, -1, -2, -3, -4])),
                               ("tokenizer.ggml.token_type", T_ARR, (T_I32, [2, 3, 3, 1, 1, 1, 6]))],
                              [("output.weight", [2, 2], 0, struct.pack("<4f", 1, 2, 3, 4))]))
put("gguf", "v2_empty", gguf([("general.architecture", T_STR, "deepseek2")], [], version=2))
put("gguf", "truncated", gguf(arch_kvs, [("token_embd.weight", [8], 0, f32)])[:100])

# --- generation_config.json ------------------------------------------------------------------
put("generation_config", "ids.json", json.dumps({"bos_token_id": 1, "eos_token_id": [2, 3], "do_sample": True,
                                                 "temperature": 0.6, "top_p": 0.95}))
put("generation_config", "eos_int.json", '{"eos_token_id": 7, "_from_model_config": true}')
put("generation_config", "nulls.json", '{"bos_token_id": null, "eos_token_id": null}')
put("generation_config", "out_of_vocab.json", '{"eos_token_id": [255, 256]}')
put("generation_config", "unsigned.json", '{"bos_token_id": 18446744073709551615}')
put("generation_config", "float.json", '{"bos_token_id": 1.0, "eos_token_id": 2.5}')


# --- latent cache files (.lckv, core/engine/cache_file.h) --------------------------------------
# The fuzz target's cache: 2 layers, d_c 4, d_rope 2, at most 40 tokens, expected ids 1, 2, 3...
# The checksums are left 0: the input's last byte (3) asks the target to compute both.
def lckv(ids, fp=b"fuzz-fingerprint", layers=2, d_c=4, d_rope=2, version=1, element=1,
         payload=None, control=3):
    n = len(ids)
    if payload is None:
        payload = b"".join(struct.pack("<f", (l * 1000 + i) * 0.25) for l in range(layers)
                           for i in range(n * (d_c + d_rope)))
    head = b"LCKV" + struct.pack("<IIIIIIII", version, 0, element, layers, d_c, d_rope, n, len(fp)) + fp
    head += struct.pack("<%di" % n, *ids) + struct.pack("<QQ", len(payload), 0)
    header_bytes = len(head) + 8
    head = head[:8] + struct.pack("<I", header_bytes) + head[12:] + struct.pack("<Q", 0)
    return head + payload + bytes([control])

put("cache_file", "three", lckv([1, 2, 3]))
put("cache_file", "diverges", lckv([1, 2, 9, 4, 5]))
put("cache_file", "over_max", lckv(list(range(1, 46))))
put("cache_file", "empty", lckv([]))
put("cache_file", "other_model", lckv([1, 2], fp=b"another"))
put("cache_file", "other_shape", lckv([1, 2], layers=3))
put("cache_file", "version2", lckv([1], version=2))
put("cache_file", "bf16", lckv([1], element=2))
put("cache_file", "short_payload", lckv([1, 2, 3])[:-20] + b"\x03")
put("cache_file", "no_fixup", lckv([1, 2], control=0))

# --- hub JSON replies (core/hub/hub_json.h) ----------------------------------------------------
# First byte even: a tree listing page; odd: search results (bit 7: all models, not only MLA).
tree = [
    {"type": "file", "oid": "a" * 40, "size": 1234, "path": "config.json"},
    {"type": "file", "oid": "b" * 40, "size": 99, "path": "generation_config.json"},
    {"type": "directory", "oid": "c" * 40, "size": 0, "path": "Q4_K_M"},
    {"type": "file", "oid": "d" * 40, "size": 135,
     "lfs": {"oid": "e" * 64, "size": 4000000000, "pointerSize": 135}, "path": "model-00001-of-00002.safetensors"},
    {"type": "file", "oid": "f" * 40, "size": 135,
     "lfs": {"oid": "0" * 64, "size": 5, "pointerSize": 135}, "path": "model-00002-of-00002.safetensors"},
    {"type": "file", "oid": "1" * 40, "size": 777, "path": "model.safetensors.index.json"},
    {"type": "file", "oid": "2" * 40, "size": 135, "lfs": {"oid": "3" * 64, "size": 9000000000},
     "path": "Q4_K_M/DeepSeek-V2-Lite-Chat-Q4_K_M-00001-of-00002.gguf"},
    {"type": "file", "oid": "4" * 40, "size": 135, "lfs": {"oid": "5" * 64, "size": 10},
     "path": "Q4_K_M/DeepSeek-V2-Lite-Chat-Q4_K_M-00002-of-00002.gguf"},
    {"type": "file", "oid": "6" * 40, "size": 42, "path": "tokenizer.json"},
]
put("hub_json", "tree", b"\x00" + json.dumps(tree).encode())
put("hub_json", "tree_gguf", b"\x02" + json.dumps([
    {"type": "file", "size": 135, "lfs": {"oid": "7" * 64, "size": 123}, "path": "x-Q4_K_M.gguf"},
    {"type": "file", "size": 135, "lfs": {"oid": "8" * 64, "size": 456}, "path": "x-Q8_0.gguf"},
    {"type": "file", "size": 1e300, "path": "big"}]).encode())
put("hub_json", "tree_bad", b"\x04" + json.dumps([{"type": "file", "path": "a", "size": -1}, {"type": 5}]).encode())
put("hub_json", "link", b"\x06" + b'<http://hub.invalid/api/models/a/b/tree/main?cursor=xyz>; rel="next", <x>; rel=prev')
search = [
    {"id": "deepseek-ai/DeepSeek-V2-Lite-Chat", "downloads": 123456, "likes": 321,
     "config": {"model_type": "deepseek_v2", "architectures": ["DeepseekV2ForCausalLM"]},
     "tags": ["transformers", "deepseek_v2"]},
    {"id": "bartowski/DeepSeek-V2-Lite-Chat-GGUF", "downloads": 999, "likes": 3,
     "gguf": {"architecture": "deepseek2", "total": 15706484224}},
    {"id": "someone/llama", "downloads": 5, "likes": 0, "config": {"model_type": "llama"}},
    {"id": "someone/tagged", "tags": ["kimi_k2"], "downloads": 1.5e300, "likes": 18446744073709551615},
    {"id": 5}, "not an object",
]
put("hub_json", "search", b"\x01" + json.dumps(search).encode())
put("hub_json", "search_all", b"\x85" + json.dumps(search).encode())
put("hub_json", "search_nested", b"\x03" + b"[" * 300 + b"]" * 300)
