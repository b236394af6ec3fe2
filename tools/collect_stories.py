#!/usr/bin/env python3
"""Build the training corpus for tools/train_model.py: the given TinyStories subset plus any extra
TinyStories files fetched from public sources, normalised, deduplicated, with the held-out stories
(and any copy of one) kept out of the extra material.

    python3 tools/collect_stories.py --out .device-data/corpus.jsonl.xz \
        [--extra FILE:FORMAT[:LABEL] ...]

FORMAT is one of
  eot       stories separated by lines holding `<|endoftext|>` (TinyStories-train.txt, V2-GPT4 files)
  instruct  TinyStories-Instruct text: records separated by `<|endoftext|>`, each with optional
            `Features:`, `Words:`, `Summary:`, `Random sentence:` lines (any order) and a `Story:` field
            that runs to the end of the record
  jsonl     one JSON object per line with "story" or "text" (and optional summary/words/features)
Raw files stay where they are (e.g. under .device-data/raw/, ignored by git): third-party data is
never committed; this script only reads it.

Output: xz-compressed JSON lines, one record per story: {"story", "src"} plus "summary", "words",
"features", "sentence" when the source has them. The base corpus comes first, in its own order and
with its exact text, so tools/stories_split.py's rule gives the same held-out set (261 stories,
221,545 bytes); records with src != "base" are always training material.

Normalisation (the same as /work/shared/data/tinystories/SOURCES.md): straight quotes, dashes,
ellipsis, spaces; zero-width characters and BOMs removed; CRLF -> LF; runs of spaces/tabs collapsed,
lines stripped; 3+ newlines -> one blank line; non-ASCII stories dropped. Dedup key: the text with
every whitespace run as one space. Extra stories are also dropped when their first 100 characters
(same key) equal a held-out story's.
"""
import argparse
import json
import lzma
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stories_split  # noqa: E402

TRANS = {"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
         "\u2013": "-", "\u2014": " - ", "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2007": " ",
         "\u200b": "", "\u200c": "", "\u200d": "", "\ufeff": "", "\u2060": ""}


def normalise(text: str) -> str:
    for a, b in TRANS.items():
        text = text.replace(a, b)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[ \t]+", " ", ln).strip() for ln in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def parse_eot(raw: str):
    for part in raw.split("<|endoftext|>"):
        if part.strip():
            yield {"story": part}


FIELD = re.compile(r"^(Features|Words|Summary|Random sentence|Story):[ \t]*(.*)$")


def parse_instruct(raw: str):
    for part in raw.split("<|endoftext|>"):
        rec, story_lines, in_story = {}, [], False
        for line in part.split("\n"):
            m = FIELD.match(line.strip()) if not in_story else None
            if m and not in_story:
                name, val = m.group(1), m.group(2).strip()
                if name == "Story":
                    in_story = True
                    if val:
                        story_lines.append(val)
                elif name == "Features":
                    rec["features"] = [f.strip() for f in val.split(",") if f.strip()]
                elif name == "Words":
                    rec["words"] = [w.strip() for w in val.split(",") if w.strip()]
                elif name == "Summary":
                    rec["summary"] = val
                else:
                    rec["sentence"] = val
            elif in_story:
                # a field line after the story (field order varies): stop the story there
                m2 = FIELD.match(line.strip())
                if m2 and m2.group(1) != "Story":
                    in_story = False
                    name, val = m2.group(1), m2.group(2).strip()
                    rec[{"Features": "features", "Words": "words", "Summary": "summary",
                         "Random sentence": "sentence"}[name]] = (
                        [x.strip() for x in val.split(",") if x.strip()] if name in ("Features", "Words") else val)
                else:
                    story_lines.append(line)
        if story_lines and "\n".join(story_lines).strip():
            rec["story"] = "\n".join(story_lines)
            yield rec


def parse_jsonl(raw: str):
    for line in raw.splitlines():
        if line.strip():
            o = json.loads(line)
            rec = {"story": o.get("story") or o.get("text") or ""}
            for k in ("summary", "words", "features", "sentence"):
                if o.get(k):
                    rec[k] = o[k]
            yield rec


PARSERS = {"eot": parse_eot, "instruct": parse_instruct, "jsonl": parse_jsonl}


def read_raw(path: str) -> str:
    opener = lzma.open if path.endswith(".xz") else open
    with opener(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="/work/shared/data/tinystories/stories.txt.xz")
    ap.add_argument("--extra", nargs="*", default=[], metavar="FILE:FORMAT[:LABEL]")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()

    base = stories_split.read_stories(args.base)
    train, held = stories_split.split_stories(base)
    held_keys = {key(s) for s in held}
    held_prefix = {key(s)[:100] for s in held}
    seen = set()
    records, report = [], []
    for s in base:
        assert normalise(s) == s, "the base corpus is expected to be normalised already"
        seen.add(key(s))
        records.append({"story": s, "src": "base"})
    report.append({"source": args.base, "format": "base", "taken": len(base), "heldout": len(held),
                   "heldout_bytes": len(stories_split.heldout_text(held).encode())})
    for spec in args.extra:
        path, fmt, *label = spec.split(":")
        label = label[0] if label else Path(path).name
        c = Counter()
        for rec in PARSERS[fmt](read_raw(path)):
            c["parsed"] += 1
            s = normalise(rec["story"])
            if not s.isascii():
                c["dropped_non_ascii"] += 1
                continue
            k = key(s)
            if k in held_keys or k[:100] in held_prefix:
                c["dropped_heldout_copy"] += 1
                continue
            if k in seen:
                c["dropped_duplicate"] += 1
                continue
            seen.add(k)
            rec = {**rec, "story": s, "src": label}
            for f in ("summary", "sentence"):
                if f in rec:
                    rec[f] = normalise(rec[f])
                    if not rec[f].isascii():
                        del rec[f]
            records.append(rec)
            c["taken"] += 1
        report.append({"source": path, "format": fmt, "label": label, **c})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r, ensure_ascii=True) + "\n" for r in records).encode()
    with lzma.open(args.out, "wb", preset=9 | lzma.PRESET_EXTREME) as f:
        f.write(data)
    n_extra = sum(r["src"] != "base" for r in records)
    print(json.dumps({"out": str(args.out), "records": len(records), "extra": n_extra,
                      "story_bytes": sum(len(r["story"]) for r in records), "jsonl_bytes": len(data),
                      "xz_bytes": args.out.stat().st_size, "with_summary": sum("summary" in r for r in records),
                      "sources": report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
