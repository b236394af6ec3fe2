#!/usr/bin/env python3
"""Deterministic train / held-out split of the TinyStories corpus (stories.txt[.xz]).

Corpus format: stories separated by a line holding exactly `<|endoftext|>`
(story, "\\n<|endoftext|>\\n", next story, ...; the file ends with "\\n").

Split rule (no seed, no order dependence): a story is HELD OUT when
    int(sha1(story_text_utf8).hexdigest(), 16) % 20 == 0
i.e. about 5% of the stories. Everything else is the training split. The rule depends only on
each story's own text, so it is stable if the corpus is re-ordered or extended.

heldout.txt format: every held-out story (in corpus order) followed by "\\n\\n", i.e.
    story1 + "\\n\\n" + story2 + "\\n\\n" + ... + storyN + "\\n\\n"
(no `<|endoftext|>` markers: they would be scored as ordinary text by `latentchat-cli perplexity`).

Usage:
    python3 tools/stories_split.py --stories /work/shared/data/tinystories/stories.txt.xz --heldout heldout.txt
Importable: read_stories(path), split_stories(stories) -> (train, heldout), heldout_text(heldout).
"""
import argparse
import hashlib
import lzma
import sys

SEPARATOR = "\n<|endoftext|>\n"
HOLDOUT_MODULUS = 20  # 1 in 20 = 5%
SPLIT_RULE = "held out iff int(sha1(story utf-8).hexdigest(), 16) % 20 == 0; heldout.txt = each held-out story + '\\n\\n'"


def read_stories(path: str) -> list[str]:
    """The stories of the corpus file (plain or .xz), in file order, without separators."""
    opener = lzma.open if str(path).endswith(".xz") else open
    with opener(path, "rb") as f:
        text = f.read().decode("utf-8")
    parts = text.split("\n<|endoftext|>\n")
    stories = [p.strip("\n") for p in parts]
    return [s for s in stories if s.strip()]


def is_heldout(story: str) -> bool:
    return int(hashlib.sha1(story.encode("utf-8")).hexdigest(), 16) % HOLDOUT_MODULUS == 0


def split_stories(stories: list[str]) -> tuple[list[str], list[str]]:
    train, heldout = [], []
    for s in stories:
        (heldout if is_heldout(s) else train).append(s)
    return train, heldout


def heldout_text(heldout: list[str]) -> str:
    return "".join(s + "\n\n" for s in heldout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stories", default="/work/shared/data/tinystories/stories.txt.xz")
    ap.add_argument("--heldout", required=True, help="output file for the held-out stories")
    ap.add_argument("--train", default="", help="optional output file for the training stories (same format)")
    args = ap.parse_args()
    stories = read_stories(args.stories)
    train, heldout = split_stories(stories)
    with open(args.heldout, "wb") as f:
        f.write(heldout_text(heldout).encode("utf-8"))
    if args.train:
        with open(args.train, "wb") as f:
            f.write(heldout_text(train).encode("utf-8"))
    n_bytes = len(heldout_text(heldout).encode("utf-8"))
    print(f"{len(stories)} stories: {len(train)} train, {len(heldout)} held out ({n_bytes} bytes) -> {args.heldout}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
