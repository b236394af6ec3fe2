#!/usr/bin/env python3
"""Evaluate a story model folder (issue 23): held-out bits per byte, whether "Tell me a story about
a X." names X, whether replies end by themselves, whether a sad/happy/funny request changes the tone,
and whether LatentChat's engine gives the same greedy text. Prints a compact JSON summary.

    python3 tools/eval_story_model.py --model DIR [DIR ...] [--json out.json] [--cli build/app/latentchat-cli]

(a) held-out: exactly as tools/train_model.py and `latentchat-cli perplexity` (whole file encoded
    without BOS, windows of 1023 tokens after BOS, every text token scored, float32 forward of the
    bf16 weights). The file: --heldout, else DIR/heldout.txt, else tests/fixtures/bundled_model/heldout.txt.
(b) greedy replies (float32, batched with left padding, up to --max-new tokens) to "Tell me a story
    about a X." for the 40 nouns of tools/eval_nouns.txt; a reply names X when it holds X or its plural
    as a word; ends = stopped by <|end|> or EOS. If DIR/train_requests.txt.xz exists (written by the
    trainer), it checks that no training request names one of the 40 nouns.
(c) tone: the same with "Tell me a {sad,happy,funny} story about a X." for the first --tone-nouns nouns;
    tone = lexicon happy - sad hits per 100 words, funny = funny-word hits per 100 words
    (tools/story_features.py); reported per request kind next to the plain request.
With several DIRs, "best" names the one with the lowest held-out bits per byte among those whose
noun rate is within 0.05 of the highest.
"""
import argparse
import json
import lzma
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import story_features as sf  # noqa: E402
from train_model import BOS, EOS, chat_text, heldout_nll, perplexity_windows  # noqa: E402
import sentencepiece as spm  # noqa: E402
from transformers import DeepseekV3ForCausalLM  # noqa: E402

TONES = ["sad", "happy", "funny"]


def load(model_dir: Path, device):
    model = DeepseekV3ForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    sp = spm.SentencePieceProcessor(model_file=str(model_dir / "tokenizer.model"))
    return model.to(device).eval(), sp


@torch.no_grad()
def greedy_batch(model, sp, prompts: list[str], max_new: int, device, batch: int = 64) -> list[dict]:
    """Greedy replies with a KV cache, many prompts at once (left padding)."""
    end_id = sp.piece_to_id("<|end|>")
    out = []
    for k in range(0, len(prompts), batch):
        chunk = prompts[k:k + batch]
        ids = [[BOS] + sp.encode(chat_text(p)) for p in chunk]
        L = max(map(len, ids))
        x = torch.tensor([[0] * (L - len(i)) + i for i in ids], device=device)
        mask = torch.tensor([[0] * (L - len(i)) + [1] * len(i) for i in ids], device=device)
        gen = model.generate(input_ids=x, attention_mask=mask, max_new_tokens=max_new, do_sample=False,
                             eos_token_id=[EOS, end_id], pad_token_id=0, top_p=None, top_k=None, temperature=None)
        for p, row in zip(chunk, gen[:, L:].tolist()):
            reply, ended = [], False
            for t in row:
                if t in (EOS, end_id):
                    ended = True
                    break
                reply.append(t)
            out.append({"prompt": p, "ids": reply, "reply": sp.decode(reply), "ended": ended, "tokens": len(reply)})
    return out


@torch.no_grad()
def greedy_one(model, sp, prompt: str, max_new: int, device) -> list[int]:
    """Unbatched greedy with a KV cache (no padding), for the comparison with the engine."""
    end_id = sp.piece_to_id("<|end|>")
    ids = [BOS] + sp.encode(chat_text(prompt))
    out = model(input_ids=torch.tensor([ids], device=device), use_cache=True)
    past, res = out.past_key_values, []
    nxt = int(out.logits[0, -1].argmax())
    while len(res) < max_new and nxt not in (EOS, end_id):
        res.append(nxt)
        out = model(input_ids=torch.tensor([[nxt]], device=device), past_key_values=past, use_cache=True)
        past, nxt = out.past_key_values, int(out.logits[0, -1].argmax())
    return res


def engine_ids(cli: str, model_dir: Path, prompt: str, max_new: int) -> list[int] | None:
    r = subprocess.run([cli, "generate", "--model", str(model_dir), "--chat", "--prompt", prompt, "--temperature", "0",
                        "--max-tokens", str(max_new), "--print-ids", "--threads", "1"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return None
    last = [ln for ln in r.stdout.strip().split("\n") if re.fullmatch(r"[0-9,]+", ln.strip())]
    return [int(t) for t in last[-1].split(",")] if last else []


def evaluate(model_dir: Path, args, device) -> dict:
    t0 = time.time()
    nouns = sf.read_noun_list(args.nouns)
    res = {"model": str(model_dir)}
    # training requests must not name an evaluation noun
    req_file = model_dir / "train_requests.txt.xz"
    if req_file.exists():
        excluded = sf.excluded_forms_of(nouns)
        with lzma.open(req_file, "rt", encoding="utf-8") as f:
            reqs = f.read().splitlines()
        res["train_requests"] = {"count": len(reqs), "naming_eval_nouns": sum(not sf.request_is_clean(q, excluded) for q in reqs)}
    else:
        res["train_requests"] = "no train_requests.txt.xz in the folder (not checked)"
    model, sp = load(model_dir, device)
    # (a) held-out bits per byte
    held = Path(args.heldout) if args.heldout else (model_dir / "heldout.txt" if (model_dir / "heldout.txt").exists()
                                                     else HERE.parent / "tests/fixtures/bundled_model/heldout.txt")
    hb = held.read_bytes()
    windows = perplexity_windows(sp.encode(hb.decode("utf-8")), 1024)
    nll, n = heldout_nll(model, windows, device, autocast=False, batch=8)
    res["heldout"] = {"file": str(held), "bytes": len(hb), "tokens": n, "nats_per_token": round(nll / n, 5),
                      "bits_per_byte": round(nll / math.log(2) / len(hb), 5)}
    # (b) + (c) greedy replies
    tone_nouns = nouns[:args.tone_nouns]
    prompts = [f"Tell me a story about {sf.article(x)}." for x in nouns]
    prompts += [f"Tell me a {t} story about {sf.article(x)}." for t in TONES for x in tone_nouns]
    replies = greedy_batch(model, sp, prompts, args.max_new, device)
    plain = replies[:len(nouns)]
    hits = [sf.names_noun(r["reply"], x) for r, x in zip(plain, nouns)]
    res["nouns"] = {"n": len(nouns), "named": sum(hits), "rate": round(sum(hits) / len(nouns), 3),
                    "missed": [x for x, h in zip(nouns, hits) if not h],
                    "ended_by_eos": round(sum(r["ended"] for r in plain) / len(plain), 3),
                    "mean_tokens": round(sum(r["tokens"] for r in plain) / len(plain), 1), "max_new": args.max_new}

    def tone_of(rs):
        sc = [sf.tone_scores(r["reply"]) for r in rs]
        return {"tone": round(sum(s["tone"] for s in sc) / len(sc), 2), "funny": round(sum(s["funny"] for s in sc) / len(sc), 2),
                "sad_words": round(sum(s["sad"] for s in sc) / len(sc), 2), "happy_words": round(sum(s["happy"] for s in sc) / len(sc), 2),
                "named": round(sum(sf.names_noun(r["reply"], x) for r, x in zip(rs, tone_nouns)) / len(rs), 3),
                "ended": round(sum(r["ended"] for r in rs) / len(rs), 3)}
    res["tone"] = {"nouns": tone_nouns, "plain": tone_of(plain[:len(tone_nouns)])}
    for i, t in enumerate(TONES):
        res["tone"][t] = tone_of(replies[len(nouns) + i * len(tone_nouns):len(nouns) + (i + 1) * len(tone_nouns)])
    res["tone"]["sad_minus_plain"] = round(res["tone"]["sad"]["tone"] - res["tone"]["plain"]["tone"], 2)
    res["tone"]["happy_minus_plain"] = round(res["tone"]["happy"]["tone"] - res["tone"]["plain"]["tone"], 2)
    res["tone"]["funny_minus_plain_funny"] = round(res["tone"]["funny"]["funny"] - res["tone"]["plain"]["funny"], 2)
    res["samples"] = [{"prompt": r["prompt"], "reply": r["reply"], "ended": r["ended"]}
                      for r in replies if r["prompt"] in args.show or r is replies[0]]
    # engine comparison
    if args.cli and Path(args.cli).exists():
        comp = []
        for p in args.engine_prompts:
            py = greedy_one(model.to("cpu"), sp, p, args.engine_max_new, torch.device("cpu"))
            eng = engine_ids(args.cli, model_dir, p, args.engine_max_new)
            if eng is None:
                comp.append({"prompt": p, "error": "latentchat-cli failed"})
                continue
            m = min(len(py), len(eng))
            first_diff = next((i for i in range(m) if py[i] != eng[i]), None)
            c = {"prompt": p, "python_tokens": len(py), "engine_tokens": len(eng), "same": py == eng,
                 "first_difference": first_diff}
            batched = [r for r in replies if r["prompt"] == p]
            if batched:  # the batched (left-padded) greedy reply used above agrees with the unbatched one
                c["batched_same"] = batched[0]["ids"][:len(py)] == py
            comp.append(c)
        model.to(device)
        res["engine"] = {"cli": args.cli, "max_new": args.engine_max_new, "prompts": comp,
                         "all_same": all(c.get("same") for c in comp)}
    res["seconds"] = round(time.time() - t0, 1)
    res["replies"] = replies
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", nargs="+", type=Path)
    ap.add_argument("--pick", nargs="+", default=[], metavar="JSON",
                    help="only choose the best of earlier --json results (prints BEST DIR)")
    ap.add_argument("--nouns", default=str(HERE / "eval_nouns.txt"))
    ap.add_argument("--heldout", default="")
    ap.add_argument("--max-new", type=int, default=400)
    ap.add_argument("--tone-nouns", type=int, default=10)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0)
    default_cli = HERE.parent / "build/app/latentchat-cli"
    ap.add_argument("--cli", default=str(default_cli) if default_cli.exists() else "",
                    help="latentchat-cli to compare greedy ids with ('' to skip)")
    ap.add_argument("--engine-prompts", nargs="*", default=["Tell me a story about a dog.", "Tell me a sad story about a cat.",
                                                            "Write a story with the words jump, tree, happy."])
    ap.add_argument("--engine-max-new", type=int, default=120)
    ap.add_argument("--show", nargs="*", default=["Tell me a story about a dog.", "Tell me a sad story about a dog.",
                                                  "Tell me a happy story about a dog.", "Tell me a funny story about a dog.",
                                                  "Tell me a story about a robot."])
    ap.add_argument("--json", default="", help="write the full results (all replies) here")
    args = ap.parse_args()
    if args.pick:
        rs = [json.loads(Path(j).read_text())["summary"]["models"][0] for j in args.pick if Path(j).exists()]
        assert rs, "none of the --pick files exists"
        top = max(r["nouns"]["rate"] for r in rs)
        best = min((r for r in rs if r["nouns"]["rate"] >= top - 0.05), key=lambda r: r["heldout"]["bits_per_byte"])
        for r in rs:
            print(f"{r['model']}: held-out {r['heldout']['bits_per_byte']} bits/byte, nouns {r['nouns']['rate']}, "
                  f"ended {r['nouns']['ended_by_eos']}, mean tokens {r['nouns']['mean_tokens']}, "
                  f"tone sad-plain {r['tone']['sad_minus_plain']}, happy-plain {r['tone']['happy_minus_plain']}, "
                  f"funny-plain {r['tone']['funny_minus_plain_funny']}")
        print(f"BEST {best['model']}")
        return 0
    assert args.model, "--model DIR is required"
    torch.set_flush_denormal(True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    results = [evaluate(d, args, device) for d in args.model]
    summary = []
    for r in results:
        s = {k: v for k, v in r.items() if k not in ("replies", "samples")}
        summary.append(s)
    out = {"models": summary}
    if len(results) > 1:
        top = max(r["nouns"]["rate"] for r in results)
        ok = [r for r in results if r["nouns"]["rate"] >= top - 0.05]
        out["best"] = min(ok, key=lambda r: r["heldout"]["bits_per_byte"])["model"]
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": out, "full": results}, indent=1) + "\n")
    for r in results:
        for s in r["samples"]:
            print(f"# {r['model']} | {s['prompt']} (ended {s['ended']})\n{s['reply'][:700]}\n", file=sys.stderr)
    print("{\"models\": [\n" + ",\n".join(json.dumps(s) for s in summary) + "\n]" +
          (f", \"best\": {json.dumps(out['best'])}" if "best" in out else "") + "}")
    if len(results) > 1:
        print(f"BEST {out['best']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
