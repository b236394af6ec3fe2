#!/usr/bin/env python3
"""Makes the tokenizer test fixture in tests/fixtures/tokenizer/.

Trains tiny SentencePiece BPE models (Llama-style settings: identity normalisation, byte
fallback, whitespace kept) on the start of the TinyStories text plus a few non-ASCII lines,
then writes Python sentencepiece's encodings of a set of strings as the reference the C++
tokenizer must reproduce exactly, and a chat_template.json.

Usage: /opt/refenv/bin/python tools/make_tokenizer_fixture.py [--stories PATH] [--out DIR]
"""
import argparse
import io
import json
import lzma
import os
import pathlib

import sentencepiece as spm

ROOT = pathlib.Path(__file__).resolve().parent.parent

SPECIALS = ["<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]

EXTRA_TEXT = """\
The café on the corner sells crème brûlée and naïve piñatas.
Tokyo is 東京 and Kyoto is 京都. ☕ coffee, ☕ tea.
Straße, smörgåsbord, jalapeño, façade, résumé, déjà vu.
"""

STRINGS = [
    "Hello world",
    "Once upon a time, there was a little girl named Lily. She loved to play outside.",
    "  leading and trailing spaces  ",
    "Punctuation! Does it work? Yes: (1, 2, 3); \"quotes\" & 'apostrophes'... #42 @home",
    "café ☕ 東京",
    "emoji 😀👍🏽 and more 🎉",
    "",
    "<|user|>Hi there!<|end|>\n<|assistant|>Hello, how can I help?<|end|>",
    "tabs\tand\nnewlines\n\nand  double  spaces",
    "Ünïcödé ñ Ωμέγα Привет مرحبا",
    "<|system|>",
    "x",
]

CHAT_TEMPLATE = {
    "bos": True,
    "system": "<|system|>{content}<|end|>\n",
    "user": "<|user|>{content}<|end|>\n",
    "assistant": "<|assistant|>{content}<|end|>\n",
    "generation_prompt": "<|assistant|>",
    "stop": ["<|end|>"],
    "default_system": "You are a helpful assistant.",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stories", default="/work/shared/data/tinystories/stories.txt.xz")
    ap.add_argument("--bytes", type=int, default=200000)
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "tokenizer"))
    args = ap.parse_args()

    with lzma.open(args.stories, "rb") as f:
        text = f.read(args.bytes).decode("utf-8", errors="ignore")
    lines = [l for l in text.splitlines() if l.strip()]
    lines += EXTRA_TEXT.splitlines()

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type="bpe",
        vocab_size=400,
        byte_fallback=True,
        character_coverage=0.9995,
        normalization_rule_name="identity",
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        split_digits=True,
        user_defined_symbols=SPECIALS,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    (out / "tokenizer.model").write_bytes(model.getvalue())

    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    cases = []
    for s in STRINGS:
        ids = sp.encode(s)
        cases.append({"text": s, "ids": ids, "decoded": sp.decode(ids)})
    expected = {
        "vocab_size": sp.get_piece_size(),
        "bos_id": sp.bos_id(),
        "eos_id": sp.eos_id(),
        "unk_id": sp.unk_id(),
        "specials": {p: sp.piece_to_id(p) for p in SPECIALS},
        "byte_pieces": {f"<0x{b:02X}>": sp.piece_to_id(f"<0x{b:02X}>") for b in (0x0A, 0xE2, 0xF0)},
        "cases": cases,
    }
    with open(out / "expected.json", "w", encoding="utf-8") as f:
        # One case per line keeps the file short and its diffs readable.
        head = {k: v for k, v in expected.items() if k != "cases"}
        f.write(json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "cases": [\n')
        f.write(",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n ]\n}\n")
    json.loads((out / "expected.json").read_text(encoding="utf-8"))  # stays valid JSON
    with open(out / "chat_template.json", "w", encoding="utf-8") as f:
        json.dump(CHAT_TEMPLATE, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(f"wrote {out}: model {len(model.getvalue())} bytes, vocab {sp.get_piece_size()}")

    # A second model with SentencePiece's default whitespace handling (extra whitespace
    # removed, so every leading space of a text is dropped on decode; identity normalisation
    # keeps the file small) and full character coverage (multi-byte characters as whole
    # pieces): the streaming decoder must follow its leading-space rules too.
    alt = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=alt,
        model_type="bpe",
        vocab_size=420,
        byte_fallback=True,
        character_coverage=1.0,
        normalization_rule_name="identity",
        remove_extra_whitespaces=True,
        user_defined_symbols=SPECIALS,
        num_threads=1,
        minloglevel=2,
    )
    (out / "strip_ws").mkdir(exist_ok=True)
    (out / "strip_ws" / "tokenizer.model").write_bytes(alt.getvalue())
    print(f"wrote {out / 'strip_ws'}: model {len(alt.getvalue())} bytes")


if __name__ == "__main__":
    main()
