"""The text the benchmarks crawl and classify: beat terms in ordinary news prose, as titles and HTML summaries."""

from __future__ import annotations

import random

WORDS = (
    "cartel border patrol seizure fentanyl port entry smuggling tunnel sicarios plaza extortion migrants "
    "asylum shelter customs inspection officers federal prosecutors indictment network laundering Sinaloa "
    "Jalisco Sonora Chihuahua Tamaulipas Nogales Laredo checkpoint trafficking weapons rifles ammunition "
    "attack designation terrorist financing sanctions Treasury authorities investigation arrests police"
).split()


# Ordinary news prose around the beat's terms: real summaries are not lists of keywords (and a keyword salad
# makes the rule engine check proximity on every word).
COMMON = (
    "the a of to and in that for on with as said was were by at from officials on tuesday wednesday week "
    "last year after before people local state federal government told reporters according statement report "
    "city town region area near where which while during more than about other their its has have had been "
    "would could also new two three four five hundred thousand million early late morning night since when"
).split()


def _word(rng: random.Random) -> str:
    return rng.choice(WORDS) if rng.random() < 0.12 else rng.choice(COMMON)


def summary(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(3, 6)):
        words = [_word(rng) for _ in range(rng.randint(25, 45))]
        link = f'<a href="/topic/{rng.choice(WORDS)}">{words[0]}</a>'
        paragraphs.append(f"<p>{' '.join(words[1:])} {link} <em>{rng.choice(WORDS)}</em>.</p>")
    return "".join(paragraphs)


def title(rng: random.Random) -> str:
    return " ".join(_word(rng) for _ in range(9))


def crawl_length_items(n: int, rng: random.Random) -> list[dict]:
    """Items as bench/crawl.py's feeds carry them: a 9-word title and 3-6 paragraphs of HTML (about 1 KB)."""
    return [{"title": title(rng), "summary": summary(rng), "lang": "en"} for _ in range(n)]
