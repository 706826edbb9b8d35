"""Deterministic answers of any size, shaped like a model's: prose, lists, now and then code.

The words are drawn at random (a fixed seed) from a vocabulary of made-up words with a
Zipf-like frequency, as in a natural language, so the text compresses about as well as
English prose does (zlib: 2.4 to 3 times). A repeated paragraph would compress a hundred
times and flatter anything that compresses (the saved transcript does).

Every answer starts with ``Lorem``, the marker a harness looks for to time the first
fragment on the page.
"""

from __future__ import annotations

import functools
import random

__all__ = ["MARKER", "answer"]

MARKER = "Lore"

_SYLLABLES = (
    "la", "re", "mi", "to", "sa", "ne", "ko", "ru", "di", "ve", "po", "ta", "li", "en", "ar",
    "qu", "is", "or", "um", "ex", "ca", "de", "fi", "go", "ha", "jo", "ma", "ni", "pe", "so",
)  # fmt: skip
_CODE = (
    "```python\n"
    "totals = sales.groupby('region')['amount'].sum()\n"
    "print(totals.sort_values(ascending=False).head(3))\n"
    "```\n\n"
)


@functools.cache
def _vocabulary() -> tuple[list[str], list[float]]:
    rng = random.Random(5)
    words = sorted(
        {"".join(rng.choices(_SYLLABLES, k=rng.randint(1, 4))) for _ in range(3000)},
    )
    rng.shuffle(words)
    return words, [rank**-0.7 for rank in range(1, len(words) + 1)]


def _sentence(rng: random.Random) -> str:
    words, weights = _vocabulary()
    chosen = rng.choices(words, weights, k=rng.randint(6, 18))
    text = " ".join(chosen)
    return text[0].upper() + text[1:] + rng.choice(".....?!")


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(3, 6))) + "\n\n"


def _list(rng: random.Random) -> str:
    words, weights = _vocabulary()
    items = []
    for _ in range(rng.randint(2, 5)):
        strong = rng.choices(words, weights)[0]
        items.append(f"- the **{strong}** {_sentence(rng).lower()}\n")
    return "".join(items) + "\n"


@functools.cache
def answer(size: int) -> str:
    """``size`` characters of Markdown: about 85% prose, 10% lists, 5% code."""
    rng = random.Random(size)
    parts, length = ["Lorem ipsum. "], 13
    while length < size:
        roll = rng.random()
        part = _CODE if roll < 0.03 else _list(rng) if roll < 0.15 else _paragraph(rng)
        parts.append(part)
        length += len(part)
    return "".join(parts)[:size]
