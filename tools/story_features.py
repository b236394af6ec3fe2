#!/usr/bin/env python3
"""Shared helpers for the story model: noun forms, a small tone lexicon, features derived from a
story, and the chat requests built from a story (tools/train_model.py) or asked of a model
(tools/eval_story_model.py).

Tone: a lexicon score, deliberately simple. happy/sad/funny counts are hits of the word lists below
per 100 words; `tone = happy - sad`. It is a cue, not a sentiment model.
"""
import random
import re
from pathlib import Path

WORD = re.compile(r"[a-z]+")
IRREGULAR_PLURALS = {"mouse": "mice", "fish": "fish", "sheep": "sheep", "child": "children", "man": "men",
                     "woman": "women", "foot": "feet", "tooth": "teeth", "goose": "geese", "leaf": "leaves",
                     "wolf": "wolves", "knife": "knives", "elf": "elves", "loaf": "loaves", "person": "people",
                     "deer": "deer", "ox": "oxen", "shelf": "shelves", "scarf": "scarves"}


def plural(noun: str) -> str:
    if noun in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[noun]
    if re.search(r"(s|x|z|ch|sh)$", noun):
        return noun + "es"
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + "s"


def forms(noun: str) -> set[str]:
    return {noun, plural(noun)}


def names_noun(text: str, noun: str) -> bool:
    """Whether the text names the noun (singular or plural, whole word, any case)."""
    words = set(WORD.findall(text.lower()))
    return bool(words & forms(noun))


def read_noun_list(path) -> list[str]:
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip().lower()
        if line:
            out.append(line)
    return out


# Tone lexicon (lower-case word forms).
HAPPY = set("""happy happily happier glad joy joyful smile smiled smiles smiling laugh laughed laughing laughs
fun excited cheer cheered cheerful yay hooray love loved loves hug hugged hugs proud delighted wonderful great
best celebrate celebrated party friends friend kind nice beautiful sunny bright thanked thank grateful enjoy
enjoyed play played together warm sweet""".split())
SAD = set("""sad sadly sadder cry cried cries crying tears tear lonely alone lost hurt hurts broke broken sorry
upset scared afraid angry mad miss missed sick died dead dark cold gone never bad worse worst pain ouch
frown frowned sob sobbed gloomy worried worry fear fell trouble""".split())
FUNNY = set("""funny silly giggle giggled giggles giggling laugh laughed laughing laughs joke jokes joked
tickle tickled goofy haha hehe silliest funniest clown prank silliness wiggle wiggled""".split())


def tone_scores(text: str) -> dict:
    words = WORD.findall(text.lower())
    n = max(1, len(words))
    h = sum(w in HAPPY for w in words) * 100.0 / n
    s = sum(w in SAD for w in words) * 100.0 / n
    f = sum(w in FUNNY for w in words) * 100.0 / n
    return {"happy": h, "sad": s, "funny": f, "tone": h - s}


def ending_tone(text: str) -> float:
    """happy - sad over the last ~40 words (where TinyStories decide the mood)."""
    words = WORD.findall(text.lower())[-40:]
    n = max(1, len(words))
    return (sum(w in HAPPY for w in words) - sum(w in SAD for w in words)) * 100.0 / n


# Concrete nouns used for training requests (the eval list is removed at run time).
REQUEST_NOUNS = sorted(set("""
cat kitten puppy bunny pig cow sheep goat chicken hen rooster pony donkey deer bee ant bug ladybug spider
worm snail caterpillar dragonfly tiger giraffe zebra hippo bear cub wolf snake lizard penguin seal whale
shark dolphin octopus crab starfish jellyfish dinosaur dragon unicorn mermaid fairy monster giant ghost
wizard witch knight prince king queen princess pirate robot alien superhero clown
tree flower garden park forest river lake pond beach sea ocean mountain hill cave castle house school
farm zoo shop store library playground sandbox swing slide bench fence gate door window roof bed blanket
pillow lamp clock mirror chair table sofa rug kitchen bathtub
toy teddy block puzzle crayon brush pencil picture drum guitar piano flute bell
ball kite boat ship plane rocket bike bicycle bus truck car train tractor wagon sled scooter
apple banana orange pear grape strawberry cherry carrot tomato pie cookie cake sandwich
egg lemon pumpkin
hat cap coat dress shirt sock shoe scarf crown ring necklace bag backpack
basket box jar cup bowl plate spoon bottle bucket shovel rope stick rock stone leaf shell feather
sun moon star cloud rainbow storm puddle
key map treasure coin gift present letter card balloon bubble candle ribbon button needle
sandcastle snowman nest egg web
""".split()))
NAMED = re.compile(r"\b(?:named|called) ([A-Z][a-z]+)")


THE_NOUNS = {"sun", "moon", "sea", "ocean", "wind", "rain", "snow", "sky"}


def article(word: str) -> str:
    if word in THE_NOUNS:
        return "the " + word
    return ("an " if word[0] in "aeiou" else "a ") + word


def story_nouns(story: str, allowed: set[str]) -> list[str]:
    words = set(WORD.findall(story.lower()))
    return sorted(w for w in allowed if forms(w) & words)


def story_features(story: str) -> dict:
    t = tone_scores(story)
    return {"dialogue": story.count('"') >= 2, "tone": t["tone"], "ending": ending_tone(story),
            "funny": t["funny"], "names": NAMED.findall(story)}


def request_is_clean(request: str, excluded_forms: set[str]) -> bool:
    return not (set(WORD.findall(request.lower())) & excluded_forms)


def excluded_forms_of(nouns) -> set[str]:
    out = set()
    for n in nouns:
        out |= forms(n)
    return out


SUBJECT_TEMPLATES = ["Tell me a story about {a}.", "Can you tell me a story about {a}?", "I want a story about {a}.",
                     "Please tell me a story about {a}.", "Write a story about {a}.", "Tell me a short story about {a}.",
                     "Could you write a short story about {a}?", "A story about {a}, please.",
                     "Tell me a bedtime story about {a}.", "Make up a story about {a}.", "Story about {a}?",
                     "tell me a story about {a}", "I would like a story about {a}.", "Write a little story about {a}."]
TONE_WORDS = {"happy": ["happy", "cheerful", "joyful", "nice happy"], "sad": ["sad", "sad little", "gloomy"],
              "funny": ["funny", "silly"]}
TONE_TEMPLATES = ["Tell me a {t} story about {a}.", "Can you tell me a {t} story about {a}?", "Write a {t} story about {a}.",
                  "I want a {t} story about {a}.", "Tell me a {t} story."]


def story_requests(rec: dict, allowed: list[str], excluded: set[str], rng: random.Random, k: int = 3) -> list[str]:
    """k chat requests this story answers (each checked against the excluded forms); the first is a
    subject request ("Tell me a story about a X.", X the earliest-named noun the story repeats) when
    the story has one."""
    story = rec["story"]
    nouns = story_nouns(story, set(allowed))
    # Prefer nouns the story is about: the ones it repeats most.
    low = story.lower()
    counts = {n: sum(len(re.findall(rf"\b{f}\b", low)) for f in forms(n)) for n in nouns}
    first = {n: min((m.start() for f in forms(n) for m in re.finditer(rf"\b{f}\b", low)), default=len(low)) for n in nouns}
    nouns.sort(key=lambda n: -counts[n])
    # The subject: a noun the story repeats, the earliest mentioned first (what it is about, named early).
    main = sorted([n for n in nouns if counts[n] >= 2], key=lambda n: first[n])[:3] or nouns[:2]
    feats = story_features(story)
    cands: list[str] = []
    for n in main:
        cands.append(rng.choice(SUBJECT_TEMPLATES).format(a=article(n)))
    if len(main) >= 2:
        cands.append(f"Write a short story about {article(main[0])} and {article(main[1])}.")
    for name in feats["names"][:1]:
        cands.append(rng.choice([f"Tell me a story about {name}.", f"Can you tell me a story about {name}?",
                                 f"Write a story about a character named {name}."]))
        if main:
            cands.append(f"Tell me a story about {name} and {article(main[0])}.")
    tone = None
    if "BadEnding" in (rec.get("features") or []) or feats["ending"] <= -2.5 or feats["tone"] <= -1.5:
        tone = "sad"
    elif feats["funny"] >= 0.8:
        tone = "funny"
    elif feats["ending"] >= 5.0 and feats["tone"] >= 3.0:
        tone = "happy"
    if tone:
        a = article(main[0]) if main else "someone"
        cands += [rng.choice(TONE_TEMPLATES).format(t=rng.choice(TONE_WORDS[tone]), a=a)] * 2
    words = rec.get("words") or []
    if not words and nouns:
        verbs = [w for w in ("jump", "run", "play", "share", "help", "find", "look", "climb", "swim", "fly", "dance",
                             "sing", "hide", "smile", "cry", "laugh", "build", "fix", "eat") if re.search(rf"\b{w}", low)]
        pool = nouns[:4] + verbs[:2]
        rng.shuffle(pool)
        words = pool[:3]
    if len(words) >= 2:
        ws = ", ".join(words)
        cands.append(rng.choice([f"Write a story with the words {ws}.", f"Tell me a story that uses the words: {ws}.",
                                 f"Can you write a story using {ws}?", f"Words: {ws}. Write a story."]))
    if rec.get("summary"):
        cands.append(rng.choice(["Write a story about this: ", "Tell me a story where ", "Story idea: "]) + rec["summary"])
    sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+", story) if 25 <= len(s.strip()) <= 120 and '"' not in s]
    if rec.get("sentence"):
        sents = [rec["sentence"]]
    if sents:
        s = rng.choice(sents)
        cands.append(rng.choice([f'Write a story that has this sentence in it: "{s}"', f"Tell me a story that includes: {s}"]))
    if feats["dialogue"]:
        cands.append(rng.choice(["Tell me a story with some dialogue" + (f" about {article(main[0])}." if main else "."),
                                 "Write a story where the characters talk to each other."]))
    cands = [c for c in cands if request_is_clean(c, excluded)]
    rng.shuffle(cands)
    out = []
    if main:  # element 0: a plain subject request (train_model.py's subject_prob picks it more often)
        out.append(rng.choice(SUBJECT_TEMPLATES).format(a=article(main[0])))
    for c in cands:
        if c not in out:
            out.append(c)
        if len(out) == k:
            break
    generic = ["Tell me a story.", "Can you tell me a short story?", "Tell me a bedtime story.", "I want to hear a story."]
    while len(out) < k:
        out.append(rng.choice(generic))
    return out
