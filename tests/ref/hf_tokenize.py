"""Reference ids from HF `tokenizers`, for tests/test_hf_tokenizer.cpp.

    hf_tokenize.py TOKENIZER_JSON TEXTS_JSON

TEXTS_JSON is a JSON list of strings. Prints one JSON object per text, one per line:
{"ids": encode(text, add_special_tokens=False).ids, "decoded": decode(ids)} (decode skips
special tokens, its default).
"""
import json
import sys

from tokenizers import Tokenizer


def main():
    tokenizer = Tokenizer.from_file(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        texts = json.load(f)
    out = sys.stdout
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        out.write(json.dumps({"ids": ids, "decoded": tokenizer.decode(ids)}) + "\n")


if __name__ == "__main__":
    main()
