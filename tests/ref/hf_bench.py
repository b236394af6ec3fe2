"""HF `tokenizers`' single-thread encoding speed, to compare with `latentchat-cli tokenize --bench`.

    hf_bench.py TOKENIZER_JSON TEXT_FILE

Prints JSON: bytes, tokens, mb_per_s (best run after a first one that fills the cache).
"""
import json
import os
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"  # before tokenizers starts its thread pool
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from tokenizers import Tokenizer  # noqa: E402


def main():
    tokenizer = Tokenizer.from_file(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8", newline="") as f:  # keep \r\n as they are
        text = f.read()
    size = len(text.encode("utf-8"))
    t0 = time.perf_counter()
    tokens = len(tokenizer.encode(text, add_special_tokens=False).ids)
    first = time.perf_counter() - t0
    best, runs, start = first, 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - start < 1.0:
        t0 = time.perf_counter()
        tokenizer.encode(text, add_special_tokens=False)
        best = min(best, time.perf_counter() - t0)
        runs += 1
    print(json.dumps({"bytes": size, "tokens": tokens, "runs": runs + 1,
                      "first_run_mb_per_s": size / 1e6 / first, "mb_per_s": size / 1e6 / best},
                     indent=2))


if __name__ == "__main__":
    main()
