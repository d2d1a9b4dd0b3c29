"""Reading the final answer out of a reply, and voting over answers.

Voting methods compare *answers*, not texts. ``answer="number"`` (the default) reads a
reply the way the short-answer tasks do: the number after the first answer marker
(strict), else the last number (flexible); ``answer="text"`` takes the last non-empty
line, lower-cased, without surrounding punctuation. The method then returns a sample
whose own answer is the chosen one, unchanged, so the task's extractor reads that
answer from it and no method rewrites a reply into a format the model did not write.

>>> extract("So 3 + 4 = 7.\\nThe answer is 7.", "number"), extract("no idea", "number")
('7', None)
>>> majority(["7", "8", "7", None])
'7'
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from syllabus.errors import ConfigError

__all__ = ["ANSWER_KINDS", "extract", "majority", "weighted"]

ANSWER_KINDS = ("number", "text")


def extract(text: str, kind: str = "number") -> str | None:
    """The answer of one reply as a comparable string, or ``None`` when it has none."""
    if kind == "number":
        from syllabus.evaluate.extract import extract_flexible, extract_strict

        return extract_strict(text) or extract_flexible(text)
    if kind == "text":
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if not lines:
            return None
        last = re.sub(r"^(?:the\s+)?(?:final\s+)?answer(?:\s+is|\s*:)\s*", "", lines[-1], flags=re.IGNORECASE)
        return last.strip(" .!*\"'").lower() or None
    raise ConfigError(f"answer={kind!r}: use one of {', '.join(ANSWER_KINDS)}")


def majority(answers: Sequence[str | None]) -> str | None:
    """The most frequent answer (ties: the one seen first); ``None`` votes do not count."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == best)


def weighted(answers: Sequence[str | None], weights: Sequence[float]) -> str | None:
    """The answer with the largest total weight (ties: the one seen first).

    >>> weighted(["7", "8", "8"], [0.9, 0.2, 0.3])
    '7'
    """
    totals: dict[str, float] = {}
    for a, w in zip(answers, weights, strict=True):
        if a is not None and math.isfinite(w):
            totals[a] = totals.get(a, 0.0) + w
    if not totals:
        return majority(answers)
    best = max(totals.values())
    return next(a for a in answers if a is not None and totals.get(a) == best)
