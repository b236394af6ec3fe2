#!/usr/bin/env python3
"""Train LatentChat's bundled default model: a small DeepseekV3ForCausalLM (MLA + DeepSeekMoE with
sigmoid routing and auxiliary-loss-free bias balancing) on TinyStories, from scratch, within a
wall-clock budget.

    python3 tools/train_model.py --stories .device-data/stories.txt.xz --out $OUT/model --minutes 8
    /opt/refenv/bin/python tools/train_model.py --tiny --out /tmp/tiny --minutes 2      # CPU smoke test

Steps: split the stories (tools/stories_split.py; 5% held out), train a SentencePiece BPE tokenizer
on the training split, build plain + chat-formatted examples, pack them into sequences, train with
AdamW (bf16 autocast on CUDA), evaluate the held-out set periodically and keep the best weights,
then save the model folder (bf16 safetensors in the published layout, config.json in the published
DeepSeek-V3 spelling, tokenizer, chat template), evaluate it exactly as `latentchat-cli perplexity`
does, and write train_log.json, loss_curve.png, sample replies and a reference fixture.
Loss is taken on every token (chat user turns included).

Chat requests (tools/story_features.py) are built from each story: its main nouns ("Tell me a story
about a X." in many phrasings), its named character, a sad/happy/funny tone taken from a small lexicon
score of the story, words that occur in it, one of its sentences, an Instruct summary when the corpus
has one; 3 per story, one chosen per epoch. No request names a noun of --exclude-nouns (the
evaluation's 40 nouns, tools/eval_nouns.txt); all requests are written to train_requests.txt.xz.
"""
import time

T0 = time.time()  # the --minutes budget counts from here (before the heavy imports)

import argparse, json, math, random, sys
from collections import Counter
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch
import transformers
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

torch.set_flush_denormal(True)  # CPU: denormal floats make small-model matmuls ~100x slower
sys.path.insert(0, str(Path(__file__).resolve().parent))
import stories_split  # noqa: E402
import story_features  # noqa: E402

BOS, EOS = 1, 2
SPECIALS = ["<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
CHAT_TEMPLATE = {
    "bos": True,
    "system": "<|system|>{content}<|end|>\n",
    "user": "<|user|>{content}<|end|>\n",
    "assistant": "<|assistant|>{content}<|end|>\n",
    "generation_prompt": "<|assistant|>",
    "stop": ["<|end|>"],
    "default_system": "",
}
SAMPLE_PROMPTS = ["Tell me a story about a cat.", "Can you tell me a story about Lily?",
                  "Write a short story about a dog and a ball.", "Tell me a story about a dragon.",
                  "Tell me a story about a little boy named Tom who finds a box."]


def log(msg: str) -> None:
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


# ------------------------------------------------------------------------------------------------
# Model shapes and hyper-parameters
# ------------------------------------------------------------------------------------------------
FULL = dict(vocab_size=4096, hidden_size=256, num_hidden_layers=6, num_attention_heads=8, q_lora_rank=128,
            kv_lora_rank=64, qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32, intermediate_size=768,
            moe_intermediate_size=256, n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
            n_group=1, topk_group=1)
TINY = dict(vocab_size=1024, hidden_size=64, num_hidden_layers=3, num_attention_heads=4, q_lora_rank=32,
            kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, intermediate_size=128,
            moe_intermediate_size=32, n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
            n_group=1, topk_group=1)
COMMON = dict(first_k_dense_replace=1, routed_scaling_factor=1.0, norm_topk_prob=True, hidden_act="silu",
              max_position_embeddings=1024, rms_norm_eps=1e-6, initializer_range=0.02, bos_token_id=BOS,
              eos_token_id=EOS, tie_word_embeddings=False, attention_bias=False, rope_interleave=True,
              num_key_value_heads=None, num_mtp_layers=0,
              rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
# Tuned on the H200 (probe runs of 12-20 epochs): the corpus is small (~1.1M tokens/epoch), the model
# memorises it after ~10 epochs, so: strong decoupled weight decay, a high learning rate with an EMA
# of the weights, at most 16 epochs, and the best held-out checkpoint (raw or EMA) is kept.
HPARAMS_FULL = dict(seq_len=1024, batch_size=16, lr=2e-3, min_lr_ratio=0.1, warmup_steps=60, weight_decay=1.0,
                    betas=(0.9, 0.95), grad_clip=1.0, bias_update_rate=1e-3, ema=0.98, max_epochs=16,
                    chat_fraction=0.6, requests_per_story=3, subject_prob=0.4, dropout=0.0, log_every=10, n_evals=40, reserve_s=80.0)
HPARAMS_TINY = dict(HPARAMS_FULL, seq_len=128, batch_size=8, lr=3e-3, warmup_steps=20, ema=0.9, log_every=5,
                    n_evals=6, reserve_s=35.0)


def add_residual_dropout(model, p: float) -> list:
    """Dropout on the output of every attention and MLP block before it joins the residual stream
    (GPT-2 style; transformers' DeepseekV3 has none). Active in train() only; no effect on the saved model."""
    if p <= 0:
        return []

    def attn_hook(module, args, output):
        if not module.training:
            return output
        return (torch.nn.functional.dropout(output[0], p, True),) + tuple(output[1:])

    def mlp_hook(module, args, output):
        return torch.nn.functional.dropout(output, p, True) if module.training else output
    hs = []
    for layer in model.model.layers:
        hs.append(layer.self_attn.register_forward_hook(attn_hook))
        hs.append(layer.mlp.register_forward_hook(mlp_hook))
    return hs


def build_model_config(shape: dict) -> DeepseekV3Config:
    cfg = DeepseekV3Config(**shape, **COMMON)
    cfg.num_key_value_heads = cfg.num_attention_heads
    return cfg


# ------------------------------------------------------------------------------------------------
# Tokenizer
# ------------------------------------------------------------------------------------------------
def train_tokenizer(train_stories: list[str], vocab: int, path: Path) -> spm.SentencePieceProcessor:
    import io
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(train_stories), model_writer=buf, model_type="bpe", vocab_size=vocab,
        byte_fallback=True, character_coverage=1.0, unk_id=0, bos_id=BOS, eos_id=EOS, pad_id=-1,
        normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=False,
        split_digits=True, user_defined_symbols=SPECIALS, allow_whitespace_only_pieces=True,
        input_sentence_size=0, shuffle_input_sentence=False, max_sentence_length=1 << 16,
        num_threads=1, seed_sentencepiece_size=1000000, minloglevel=2)
    path.write_bytes(buf.getvalue())
    sp = spm.SentencePieceProcessor(model_file=str(path))
    assert sp.get_piece_size() == vocab and sp.bos_id() == BOS and sp.eos_id() == EOS and sp.unk_id() == 0
    for s in train_stories[:20] + ["a\nb\n\nc  d", "<|user|>Hi<|end|>\n<|assistant|>"]:
        assert sp.decode(sp.encode(s)) == s, f"tokenizer does not round-trip {s[:60]!r}"
    return sp


# ------------------------------------------------------------------------------------------------
# Training examples: plain stories and chat-formatted stories with a request built from the story
# ------------------------------------------------------------------------------------------------
def chat_text(user: str, reply: str | None = None) -> str:
    text = CHAT_TEMPLATE["user"].replace("{content}", user) + CHAT_TEMPLATE["generation_prompt"]
    return text if reply is None else text + reply + "<|end|>\n"


def epoch_stream(plain: list[list[int]], chat: list[list[list[int]]], epoch: int, seed: int, chat_fraction: float,
                 subject_prob: float = 0.0):
    """One epoch of training tokens: every story once, in a seeded order, plain or chat (seeded choice);
    a chat example uses the story's first request (its subject request) with probability subject_prob,
    else one of its requests at random (seeded, so epochs vary the request)."""
    rng = random.Random(seed * 1000003 + epoch)
    order = list(range(len(plain)))
    rng.shuffle(order)
    stream = []
    for i in order:
        if rng.random() < chat_fraction:
            stream += chat[i][0] if rng.random() < subject_prob else rng.choice(chat[i])
        else:
            stream += plain[i]
    return stream


def batches(plain, chat, hp, seed, device):
    """Endless batches [B, seq_len] of packed examples (documents may straddle sequence boundaries)."""
    B, L = hp["batch_size"], hp["seq_len"]
    epoch, buf = 0, []
    while True:
        buf += epoch_stream(plain, chat, epoch, seed, hp["chat_fraction"], hp["subject_prob"])
        epoch += 1
        while len(buf) >= B * L:
            x = torch.tensor(buf[:B * L], dtype=torch.long).view(B, L)
            del buf[:B * L]
            yield epoch, x.to(device, non_blocking=True)


# ------------------------------------------------------------------------------------------------
# MoE routing: count tokens per expert (forward hooks on the routers), auxiliary-loss-free balancing
# ------------------------------------------------------------------------------------------------
class RouterCounter:
    def __init__(self, model):
        self.gates = [(i, layer.mlp.gate) for i, layer in enumerate(model.model.layers) if hasattr(layer.mlp, "gate")]
        self.counts = {i: torch.zeros(g.num_experts, device=g.weight.device) for i, g in self.gates}
        self.handles = [g.register_forward_hook(self._hook(i)) for i, g in self.gates]
        self.enabled = True

    def _hook(self, i):
        def fn(module, args, output):
            if not self.enabled:
                return
            idx = output[2].reshape(-1)
            self.counts[i] += torch.bincount(idx, minlength=module.num_experts).to(self.counts[i].dtype)
        return fn

    def reset(self):
        for c in self.counts.values():
            c.zero_()

    @torch.no_grad()
    def update_biases(self, u: float):
        """bias -= u * sign(load - mean_load) for each MoE layer, from this step's counts."""
        for i, g in self.gates:
            load = self.counts[i]
            g.e_score_correction_bias -= u * torch.sign(load - load.mean())

    def summary(self) -> dict:
        out = {}
        for i, _ in self.gates:
            c = self.counts[i].double().cpu().numpy()
            out[f"layer_{i}"] = {"counts": [int(x) for x in c], "max_over_mean": round(float(c.max() / max(c.mean(), 1e-9)), 4),
                                 "min_over_mean": round(float(c.min() / max(c.mean(), 1e-9)), 4)}
        return out


# ------------------------------------------------------------------------------------------------
# Held-out evaluation, exactly as `latentchat-cli perplexity` (windows of ctx-1 text tokens after BOS)
# ------------------------------------------------------------------------------------------------
def perplexity_windows(ids: list[int], ctx: int) -> list[list[int]]:
    per = ctx - 1
    return [[BOS] + ids[s:s + per] for s in range(0, len(ids), per)]


@torch.no_grad()
def heldout_nll(model, windows: list[list[int]], device, autocast: bool, batch: int = 16) -> tuple[float, int]:
    """Total NLL (nats, float64 log-softmax of the float logits) and number of scored tokens."""
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    groups = {}
    for w in windows:
        groups.setdefault(len(w), []).append(w)
    for length, ws in sorted(groups.items()):
        for k in range(0, len(ws), batch):
            x = torch.tensor(ws[k:k + batch], dtype=torch.long, device=device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                logits = model(input_ids=x, use_cache=False).logits
            lp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
            total += float(-lp.gather(-1, x[:, 1:, None]).sum())
            n += x[:, 1:].numel()
    model.train(was_training)
    return total, n


# ------------------------------------------------------------------------------------------------
# Saving: published layout, config.json in the published DeepSeek-V3 spelling
# ------------------------------------------------------------------------------------------------
def published_config(cfg: DeepseekV3Config) -> dict:
    c = cfg.to_dict()
    keys = ["attention_bias", "first_k_dense_replace", "hidden_act", "hidden_size", "initializer_range",
            "intermediate_size", "kv_lora_rank", "max_position_embeddings", "moe_intermediate_size", "n_group",
            "n_routed_experts", "n_shared_experts", "norm_topk_prob", "num_attention_heads", "num_experts_per_tok",
            "num_hidden_layers", "num_key_value_heads", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
            "rms_norm_eps", "rope_interleave", "routed_scaling_factor", "tie_word_embeddings", "topk_group",
            "v_head_dim", "vocab_size"]
    out = {k: c[k] for k in keys}
    out.update(architectures=["DeepseekV3ForCausalLM"], model_type="deepseek_v3", attention_dropout=0.0,
               bos_token_id=BOS, eos_token_id=EOS, ep_size=1, moe_layer_freq=1, num_nextn_predict_layers=0,
               pretraining_tp=1, rope_scaling=None, rope_theta=int(c["rope_parameters"]["rope_theta"]),
               scoring_func="sigmoid", topk_method="noaux_tc", torch_dtype="bfloat16",
               transformers_version=transformers.__version__, use_cache=True)
    return dict(sorted(out.items()))


def save_model_folder(model, cfg, out: Path) -> None:
    """bf16 weights (the router bias stays float32, as transformers keeps it), published names."""
    import copy
    m = copy.deepcopy(model).to("cpu").to(torch.bfloat16)
    for layer, src in zip(m.model.layers, model.model.layers):
        if hasattr(layer.mlp, "gate"):
            layer.mlp.gate.e_score_correction_bias = src.mlp.gate.e_score_correction_bias.detach().float().cpu().clone()
    m.save_pretrained(out, max_shard_size="1GB")
    (out / "config.json").write_text(json.dumps(published_config(cfg), indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps({"bos_token_id": BOS, "eos_token_id": EOS}, indent=2) + "\n")
    (out / "chat_template.json").write_text(json.dumps(CHAT_TEMPLATE, indent=2) + "\n")
    from safetensors import safe_open
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        names = set(f.keys())
    moe = [i for i, l in enumerate(model.model.layers) if hasattr(l.mlp, "gate")]
    for i in moe:
        for e in range(cfg.n_routed_experts):
            for p in ("gate", "up", "down"):
                assert f"model.layers.{i}.mlp.experts.{e}.{p}_proj.weight" in names, f"missing expert tensor layer {i} expert {e}"
        assert f"model.layers.{i}.mlp.gate.e_score_correction_bias" in names


def load_saved(out: Path, device) -> DeepseekV3ForCausalLM:
    model, info = DeepseekV3ForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager",
                                                        output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    assert not bad, f"reloading {out} is not clean: {bad}"
    return model.to(device).eval()


# ------------------------------------------------------------------------------------------------
# Samples and the reference fixture
# ------------------------------------------------------------------------------------------------
@torch.no_grad()
def sample_reply(model, sp, prompt: str, seed: int, device, max_new: int = 200, temperature=0.8, top_k=40) -> str:
    ids = [BOS] + sp.encode(chat_text(prompt))
    end_id = sp.piece_to_id("<|end|>")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    out = []
    for _ in range(max_new):  # full recomputation: short sequences, simple and cache-independent
        logits = model(input_ids=torch.tensor([ids + out], device=device), use_cache=False).logits[0, -1].float().cpu()
        v, i = torch.topk(logits / temperature, top_k)
        nxt = int(i[torch.multinomial(torch.softmax(v, -1), 1, generator=gen)])
        if nxt in (end_id, EOS):
            break
        out.append(nxt)
    return sp.decode(out)


@torch.no_grad()
def write_fixture(model_cpu, sp, folder: Path, seed: int) -> dict:
    ids = [BOS] + sp.encode(chat_text("Tell me a story about a cat."))
    logits = model_cpu(input_ids=torch.tensor([ids]), use_cache=False).logits[0].float()
    seq, margins = list(ids), []
    for _ in range(16):
        last = model_cpu(input_ids=torch.tensor([seq]), use_cache=False).logits[0, -1].float()
        top2 = torch.topk(last, 2)
        margins.append(float(top2.values[0] - top2.values[1]))
        seq.append(int(top2.indices[0]))
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "ref_logits.npy", logits.numpy().astype(np.float32))
    ref = {"fixture": "default_model", "model_type": "deepseek_v3", "input_ids": ids, "greedy_ids": seq[len(ids):],
           "dtype": "bfloat16", "transformers_version": transformers.__version__,
           "torch_version": torch.__version__.split("+")[0], "min_greedy_margin": round(min(margins), 6),
           "greedy_margins": [round(m, 6) for m in margins], "max_abs_logit": round(float(logits.abs().max()), 6),
           "seed": seed, "config_spelling": "published", "prompt": "Tell me a story about a cat.",
           "notes": "model = the parent folder; logits: float32 eager attention on the CPU with the bf16 weights, one "
                    "forward over input_ids; greedy_ids: argmax with full recomputation"}
    (folder / "ref.json").write_text(json.dumps(ref, indent=1) + "\n")
    return ref


def plot_curve(points: list[dict], path: Path, best_tokens: int) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    tr = [(p["tokens"], p["train_loss"]) for p in points if "train_loss" in p]
    ho = [(p["tokens"], p["heldout_loss"]) for p in points if "heldout_loss" in p]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(*zip(*tr), label="train (nats/token)", lw=1)
    ema = [(p["tokens"], p["heldout_loss_ema"]) for p in points if "heldout_loss_ema" in p]
    if ho:
        ax.plot(*zip(*ho), "o-", label="held-out (nats/token, bf16 autocast)", ms=3)
    if ema:
        ax.plot(*zip(*ema), "s-", label="held-out, EMA weights", ms=3)
    ax.axvline(best_tokens, color="gray", ls=":", lw=1, label="kept checkpoint")
    ax.set_xlabel("training tokens"); ax.set_ylabel("loss"); ax.set_ylim(top=min(8.5, max(l for _, l in tr)))
    ax.grid(alpha=0.3); ax.legend(); ax.set_title("LatentChat default model (DeepSeek-V3 MLA + MoE)")
    fig.tight_layout(); fig.savefig(path, dpi=110); plt.close(fig)
    return True


# ------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stories", default="/work/shared/data/tinystories/stories.txt.xz",
                    help="stories.txt[.xz] (<|endoftext|>-separated) or corpus.jsonl[.xz] from tools/collect_stories.py")
    ap.add_argument("--exclude-nouns", type=Path, default=Path(__file__).resolve().parent / "eval_nouns.txt",
                    help="nouns (and their plurals) that no training request may contain (the evaluation's)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget for the whole script")
    ap.add_argument("--steps", type=int, default=0, help="fix the number of optimizer steps (default: fit the budget)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--tiny", action="store_true", help="tiny model on ~300 KB of text (CPU smoke test)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--experts", default=None, help="transformers experts implementation (default: its choice)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override a hyper-parameter or model shape entry (experiments), e.g. lr=1e-3 hidden_size=192")
    args = ap.parse_args()
    deadline = T0 + args.minutes * 60
    hp = dict(HPARAMS_TINY if args.tiny else HPARAMS_FULL)
    shape = dict(TINY if args.tiny else FULL)
    for kv in args.set:
        k, v = kv.split("=", 1)
        target = hp if k in hp else shape
        assert k in target, f"unknown key {k}"
        target[k] = type(target[k])(float(v)) if isinstance(target[k], (int, float)) else v
    device = torch.device(args.device)
    use_bf16 = device.type == "cuda"
    random.seed(args.seed); np.random.seed(args.seed); torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = False
    timings = {}
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, device {gpu}, budget {args.minutes} min")

    # --- data and tokenizer ---
    t = time.time()
    if ".jsonl" in str(args.stories):
        import lzma
        opener = lzma.open if str(args.stories).endswith(".xz") else open
        with opener(args.stories, "rt", encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    else:
        records = [{"story": s, "src": "base"} for s in stories_split.read_stories(args.stories)]
    if args.tiny:
        keep, size = [], 0
        for r in records:
            if size > 300_000:
                break
            keep.append(r); size += len(r["story"])
        records = keep
    stories = [r["story"] for r in records]
    # Held out: base-corpus stories by the split rule only (extra sources never enter the held-out set;
    # tools/collect_stories.py already dropped their copies of held-out stories).
    train_recs = [r for r in records if not (r.get("src", "base") == "base" and stories_split.is_heldout(r["story"]))]
    held_stories = [r["story"] for r in records if r.get("src", "base") == "base" and stories_split.is_heldout(r["story"])]
    train_stories = [r["story"] for r in train_recs]
    heldout_path = out / "heldout.txt"
    heldout_path.write_bytes(stories_split.heldout_text(held_stories).encode("utf-8"))
    sp = train_tokenizer(train_stories, shape["vocab_size"], out / "tokenizer.model")
    excluded_nouns = story_features.read_noun_list(args.exclude_nouns)
    excluded = story_features.excluded_forms_of(excluded_nouns)
    allowed = [n for n in story_features.REQUEST_NOUNS if n not in excluded]
    req_rng = random.Random(args.seed)
    story_ids = [sp.encode(s) for s in train_stories]
    plain = [[BOS] + ids + [EOS] for ids in story_ids]
    requests = [story_features.story_requests(r, allowed, excluded, req_rng, k=hp["requests_per_story"])
                for r in train_recs]
    flat_requests = [q for qs in requests for q in qs]
    bad = [q for q in flat_requests if not story_features.request_is_clean(q, excluded)]
    assert not bad, f"requests name an excluded noun: {bad[:3]}"
    end_ids = sp.encode("<|end|>\n")
    chat = [[[BOS] + sp.encode(chat_text(q)) + ids + end_ids + [EOS] for q in qs] for qs, ids in zip(requests, story_ids)]
    for k in range(0, len(train_stories), max(1, len(train_stories) // 25)):  # piecewise = whole-text encoding
        whole = [BOS] + sp.encode(chat_text(requests[k][0], train_stories[k])) + [EOS]
        assert whole == chat[k][0], f"piecewise chat encoding differs for example {k}"
    import lzma
    with lzma.open(out / "train_requests.txt.xz", "wt", encoding="utf-8") as f:
        f.write("".join(q.replace("\n", " ") + "\n" for q in flat_requests))
    req_kinds = Counter(" ".join(q.split()[:3]) for q in flat_requests)
    held_bytes = heldout_path.read_bytes()
    held_ids = sp.encode(held_bytes.decode("utf-8"))
    windows = perplexity_windows(held_ids, min(COMMON["max_position_embeddings"], 1024))
    if not args.tiny and len(held_bytes) != 221_545:
        log(f"WARNING: the held-out file has {len(held_bytes)} bytes, not the 221,545 of the reference split")
    n_plain = sum(map(len, plain))
    n_chat = sum(sum(map(len, c)) / len(c) for c in chat)
    epoch_tokens = int(n_plain * (1 - hp["chat_fraction"]) + n_chat * hp["chat_fraction"])
    timings["data_and_tokenizer_s"] = round(time.time() - t, 1)
    log(f"{len(stories)} stories: {len(train_stories)} train ({n_plain} tokens plain), {len(held_stories)} held out "
        f"({len(held_bytes)} bytes, {len(held_ids)} tokens, {len(windows)} windows); tokenizer+data "
        f"{timings['data_and_tokenizer_s']} s; {len(flat_requests)} requests ({len(set(flat_requests))} distinct, none naming "
        f"the {len(excluded_nouns)} excluded nouns), e.g. {requests[0]!r}; most common starts {req_kinds.most_common(5)}")

    # --- model ---
    cfg = build_model_config(shape)
    extra = {"experts_implementation": args.experts} if args.experts else {}
    model = DeepseekV3ForCausalLM._from_config(cfg, attn_implementation="sdpa" if use_bf16 else "eager",
                                               **extra).to(device)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    n_active = n_params - sum(p.numel() for n, p in model.named_parameters() if ".experts." in n) * \
        (1 - cfg.num_experts_per_tok / cfg.n_routed_experts)
    log(f"DeepseekV3ForCausalLM: {n_params:,} parameters ({n_active:,.0f} active per token), "
        f"experts implementation {model.config._experts_implementation}")
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "gate.weight" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "gate.weight" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}], lr=hp["lr"], betas=hp["betas"],
                            fused=device.type == "cuda")
    counter = RouterCounter(model)
    dropout_hooks = add_residual_dropout(model, hp["dropout"])

    # --- training ---
    train_end = deadline - hp["reserve_s"]
    tokens_per_step = hp["batch_size"] * hp["seq_len"]
    max_steps = int(hp["max_epochs"] * epoch_tokens / tokens_per_step)
    total_steps = args.steps or max_steps  # fitted to the budget after timing the first steps
    eval_every = max(1, total_steps // hp["n_evals"])
    points, best = [], {"loss": float("inf"), "step": 0, "state": None, "weights": "raw"}
    data = batches(plain, chat, hp, args.seed, device)

    def lr_at(step):
        if step < hp["warmup_steps"]:
            return hp["lr"] * (step + 1) / hp["warmup_steps"]
        frac = min(1.0, (step - hp["warmup_steps"]) / max(1, total_steps - hp["warmup_steps"]))
        return hp["lr"] * (hp["min_lr_ratio"] + (1 - hp["min_lr_ratio"]) * 0.5 * (1 + math.cos(math.pi * frac)))

    params = [p for p in model.parameters()]
    ema = [p.detach().clone() for p in params] if hp["ema"] > 0 else None

    @torch.no_grad()
    def evaluate(step):
        """Held-out loss of the current weights (and of their EMA); keeps the best state seen."""
        te = time.time()
        counter.enabled = False
        variants = [("raw", None)] + ([("ema", ema)] if ema is not None and step > 0 else [])
        rec = {"step": step, "tokens": step * tokens_per_step}
        for name, weights in variants:
            if weights is not None:
                backup = [p.detach().clone() for p in params]
                torch._foreach_copy_(params, weights)
            nll, n = heldout_nll(model, windows, device, autocast=use_bf16)
            loss = nll / n
            rec["heldout_loss" if name == "raw" else "heldout_loss_ema"] = round(loss, 5)
            if loss < best["loss"]:
                best.update(loss=loss, step=step, weights=name,
                            state={k: v.detach().clone() for k, v in model.state_dict().items()})
            if weights is not None:
                torch._foreach_copy_(params, backup)
        counter.enabled = True
        rec["heldout_bpb"] = round(rec["heldout_loss"] * n / math.log(2) / len(held_bytes), 5)
        points.append(rec)
        log(f"step {step:5d}  held-out {rec['heldout_loss']:.4f} nats/token (EMA {rec.get('heldout_loss_ema', float('nan')):.4f})  "
            f"{rec['heldout_bpb']:.4f} bits/byte  (best {best['loss']:.4f} @ {best['step']} {best['weights']}; "
            f"eval {time.time() - te:.1f} s)")
        return time.time() - te

    t_train = time.time()
    eval_time = evaluate(0)
    step, epoch, timing_start, run_loss = 0, 0, None, []
    while step < total_steps and time.time() < train_end:
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        epoch, x = next(data)
        counter.reset()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(input_ids=x, use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.size(-1)),
                                                 x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), hp["grad_clip"])
        opt.step()
        counter.update_biases(hp["bias_update_rate"])
        if ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(ema, params, 1.0 - hp["ema"])
        run_loss.append(loss.detach())
        step += 1
        if step == 5:
            if device.type == "cuda":
                torch.cuda.synchronize()
            timing_start = time.time()
        if step == 25 and not args.steps:
            if device.type == "cuda":
                torch.cuda.synchronize()
            step_time = (time.time() - timing_start) / 20
            left = train_end - time.time()
            # left = (total - 25) * step_time + n_evals * eval_time
            total_steps = min(max_steps, 25 + int(max(0.0, left - hp["n_evals"] * eval_time) / step_time * 0.97))
            eval_every = max(1, total_steps // hp["n_evals"])
            log(f"step time {step_time * 1000:.1f} ms, eval {eval_time:.1f} s -> {total_steps} steps "
                f"({total_steps * tokens_per_step / epoch_tokens:.1f} epochs, at most {hp['max_epochs']}), eval every {eval_every}")
        if step % hp["log_every"] == 0:
            tl = float(torch.stack(run_loss).mean()); run_loss = []
            loads = counter.counts[counter.gates[-1][0]]
            points.append({"step": step, "tokens": step * tokens_per_step, "train_loss": round(tl, 5),
                           "lr": lr_at(step), "grad_norm": round(float(gnorm), 4), "epoch": epoch})
            if step % (hp["log_every"] * 5) == 0:
                log(f"step {step:5d}/{total_steps}  epoch {epoch}  train {tl:.4f}  "
                    f"lr {lr_at(step):.2e}  |g| {float(gnorm):.2f}  last-layer load max/mean "
                    f"{float(loads.max() / loads.mean()):.2f}")
        if eval_every and step % eval_every == 0:
            evaluate(step)
    if not points or points[-1].get("step") != step or "heldout_loss" not in points[-1]:
        evaluate(step)
    timings["train_s"] = round(time.time() - t_train, 1)
    log(f"training stopped at step {step} ({step * tokens_per_step:,} tokens, epoch {epoch}) after "
        f"{timings['train_s']} s; best held-out {best['loss']:.4f} at step {best['step']} ({best['weights']} weights)")

    # --- save the best weights, reload as published, evaluate exactly like latentchat-cli ---
    t = time.time()
    model.load_state_dict(best["state"])
    for h in dropout_hooks:
        h.remove()
    for h in counter.handles:
        h.remove()
    save_model_folder(model, cfg, out)
    final = load_saved(out, device)
    # The saved folder must give the same logits as the in-memory model rounded to bf16.
    probe = torch.tensor([windows[0][:64]], device=device)
    rounded = DeepseekV3ForCausalLM._from_config(cfg, attn_implementation="eager").to(device).eval()
    rounded.load_state_dict({k: (v if "e_score_correction_bias" in k else v.to(torch.bfloat16).float())
                             for k, v in best["state"].items()})
    with torch.no_grad():
        diff = float((final(input_ids=probe).logits - rounded(input_ids=probe).logits).abs().max())
    assert diff < 1e-4, f"reloaded logits differ from the bf16-rounded model by {diff}"
    del rounded
    counter = RouterCounter(final)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    nll, n_scored = heldout_nll(final, windows, device, autocast=False, batch=8)
    loads = counter.summary()
    for h in counter.handles:
        h.remove()
    nats, bpb = nll / n_scored, nll / math.log(2) / len(held_bytes)
    worst = max(v["max_over_mean"] for v in loads.values())
    timings["save_and_eval_s"] = round(time.time() - t, 1)
    log(f"final held-out (float32, bf16 weights, ctx 1024): {nats:.4f} nats/token, {bpb:.4f} bits/byte over "
        f"{n_scored} tokens / {len(held_bytes)} bytes; expert load max/mean worst {worst:.3f}; reload diff {diff:.1e}")

    # --- samples, fixture, log ---
    t = time.time()
    samples = [{"prompt": p, "reply": sample_reply(final, sp, p, args.seed + k, device, max_new=40 if args.tiny else 200),
                "sampling": "temperature 0.8, top-k 40, seed %d" % (args.seed + k)} for k, p in enumerate(SAMPLE_PROMPTS)]
    for s in samples:
        log(f"sample: {s['prompt']!r} -> {s['reply'][:300]!r}")
    timings["samples_s"] = round(time.time() - t, 1)
    t = time.time()
    ref = write_fixture(final.to("cpu"), sp, out / "fixture", args.seed)
    timings["fixture_s"] = round(time.time() - t, 1)
    t = time.time()
    plotted = plot_curve(points, out / "loss_curve.png", best["step"] * tokens_per_step)
    timings["plot_s"] = round(time.time() - t, 1)
    log(f"timings: {timings}")
    size = sum(f.stat().st_size for f in [out / "model.safetensors", out / "tokenizer.model"])
    train_log = {
        "model_config": published_config(cfg), "parameters": n_params, "active_parameters_per_token": int(n_active),
        "hyper_parameters": {**hp, "optimizer": "AdamW (no decay on norms and routers)", "schedule": "linear warmup + cosine to min_lr_ratio",
                             "loss": "cross-entropy on every token (plain and chat examples, user turns included)",
                             "precision": "bf16 autocast, float32 master weights" if use_bf16 else "float32 (CPU)",
                             "balancing": "aux-loss-free: after each step bias -= u*sign(load-mean), u=bias_update_rate"},
        "seed": args.seed, "tiny": args.tiny, "steps": step, "planned_steps": total_steps, "epochs": epoch,
        "tokens_seen": step * tokens_per_step, "train_tokens_per_epoch": epoch_tokens,
        "wall_time_s": round(time.time() - T0, 1), "timings": timings, "device": gpu,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "sentencepiece": spm.__version__},
        "split_rule": stories_split.SPLIT_RULE, "stories": {"train": len(train_stories), "heldout": len(held_stories),
                                                            "sources": dict(Counter(r.get("src", "base") for r in records))},
        "requests": {"file": "train_requests.txt.xz", "count": len(flat_requests), "distinct": len(set(flat_requests)),
                     "excluded_nouns": excluded_nouns, "naming_excluded": 0, "per_story": hp["requests_per_story"]},
        "best_step": best["step"], "best_weights": best["weights"], "loss_curve": points,
        "heldout": {"file": "heldout.txt", "bytes": len(held_bytes), "tokens_scored": n_scored, "ctx": 1024,
                    "nats_per_token": round(nats, 6), "perplexity": round(math.exp(nats), 4), "bits_per_byte": round(bpb, 6),
                    "method": "as latentchat-cli perplexity: whole file encoded without BOS, windows of 1023 tokens each "
                              "after BOS, every text token scored; float32 forward of the bf16 weights"},
        "expert_loads_heldout": loads, "expert_load_worst_max_over_mean": worst,
        "samples": samples, "fixture_greedy_ids": ref["greedy_ids"], "loss_curve_png": plotted,
        "model_and_tokenizer_bytes": size,
    }
    (out / "train_log.json").write_text(json.dumps(train_log, indent=1) + "\n")
    log(f"wrote {out}: {n_params:,} parameters, model+tokenizer {size / 1e6:.2f} MB, held-out {bpb:.4f} bits/byte; "
        f"total {time.time() - T0:.1f} s")
    for f in out.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)
    if size > 40e6:
        log("WARNING: model.safetensors + tokenizer.model exceed 40 MB")
    if worst > 2.0:
        log("WARNING: expert load max/mean above 2 on the held-out set")
    return 0


if __name__ == "__main__":
    sys.exit(main())
