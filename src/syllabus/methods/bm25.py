"""A small Okapi BM25 index for choosing demonstrations similar to a query.

>>> index = BM25(["the cat sat on the mat", "stock prices fell sharply", "a cat and a dog"])
>>> index.top("where did the cat sit", 2)
[0, 2]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["BM25", "tokenize"]

_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased word and number tokens."""
    return _WORD.findall(text.lower())


class BM25:
    """Okapi BM25 over ``documents`` (k1 = 1.5, b = 0.75, the usual defaults).

    The IDF is the non-negative variant ``log(1 + (N - df + 0.5) / (df + 0.5))`` so a word
    in most documents still counts a little instead of subtracting.
    """

    def __init__(self, documents: Sequence[str], *, k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self.docs = [Counter(tokenize(d)) for d in documents]
        self.lengths = [sum(c.values()) for c in self.docs]
        self.avg_len = (sum(self.lengths) / len(self.lengths)) if self.docs else 0.0
        df: Counter[str] = Counter()
        for c in self.docs:
            df.update(c.keys())
        n = len(self.docs)
        self.idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in df.items()}

    def scores(self, query: str) -> list[float]:
        """The BM25 score of every document for ``query``."""
        terms = tokenize(query)
        out = []
        for counts, length in zip(self.docs, self.lengths, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / (self.avg_len or 1.0))
            s = 0.0
            for t in terms:
                tf = counts.get(t, 0)
                if tf:
                    s += self.idf[t] * tf * (self.k1 + 1) / (tf + norm)
            out.append(s)
        return out

    def top(self, query: str, k: int) -> list[int]:
        """Indices of the ``k`` best documents, best first (ties: lower index first)."""
        scores = self.scores(query)
        return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
