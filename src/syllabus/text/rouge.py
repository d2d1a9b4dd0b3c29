"""ROUGE-L, and an exact novelty gate that avoids comparing every pair.

:func:`tokenize` and :func:`rouge_l` reproduce ``rouge_score``'s ``rougeL`` F-measure
(no stemmer) to the last bit, without depending on it::

    >>> tokenize("Write a POEM about the sea!")
    ['write', 'a', 'poem', 'about', 'the', 'sea']
    >>> round(rouge_l("write a poem about the sea", "write a short poem about a cat"), 4)
    0.6154

:class:`NoveltyIndex` is the Self-Instruct filter ("keep a new instruction only if its
ROUGE-L with every instruction already kept is at most 0.7") with the same decisions as
the brute-force loop but far fewer comparisons::

    >>> index = NoveltyIndex(threshold=0.7)
    >>> index.add("Write a poem about the sea.", key="a")
    >>> index.is_novel("Write a poem about the sea, please.")
    False
    >>> index.max_similarity("Write a poem about the sea, please.")
    (0.923076923076923, 'a')
    >>> index.is_novel("List three prime numbers.")
    True

Why it is exact: ROUGE-L's F-measure is ``2 * LCS / (la + lb)`` and ``LCS`` is at most the
multiset overlap of the two token bags, so a stored text can only beat the threshold ``t``
if that overlap reaches ``t * (la + lb) / 2``; that also bounds the length ratio. Tokens
are tagged with their occurrence number (the second "the" is a different element from
the first), which turns bag overlap into set overlap, and set-overlap joins have an exact
shortcut, prefix filtering: order elements by rarity; two sets whose overlap reaches
``alpha`` must share an element among the first ``len - alpha + 1`` of each. So only the
rarest ~half of each text's elements are indexed, a query only meets texts that share one
of its rare elements, and the exact LCS (bit-parallel) runs only for candidates whose
overlap bound survives. The rarity order is a snapshot of document frequencies, refreshed
whenever the index has doubled in size (every record is re-indexed under the new order,
so the shortcut stays exact and the cost stays linear overall).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Sequence

from syllabus.errors import ConfigError

__all__ = ["NoveltyIndex", "lcs_length", "rouge_l", "rouge_l_tokens", "tokenize"]

# rouge_score lowercases, replaces every run of characters outside [a-z0-9] with a space
# and keeps the non-empty pieces; finding the runs of [a-z0-9] is the same thing.
_TOKEN_RE = re.compile(r"[a-z0-9]+")
# Slack for float comparisons in the pruning bounds: pruning must never be stricter than
# the exact test, so every bound is loosened by this much.
_EPS = 1e-9


def tokenize(text: str) -> list[str]:
    """Lowercase ASCII-alphanumeric words, as ``rouge_score`` tokenises without a stemmer."""
    return _TOKEN_RE.findall(text.lower())


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence of two token sequences.

    Bit-parallel (Hyyrö 2004): one big-integer addition per token of the shorter
    sequence instead of a table of ``len(a) * len(b)`` cells.

    >>> lcs_length("abcbdab", "bdcaba")
    4
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    masks: dict[Hashable, int] = {}
    for i, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for token in b:
        match = masks.get(token)
        if match is not None:
            u = v & match
            v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def _fmeasure(lcs: int, len_a: int, len_b: int) -> float:
    # The same float operations as rouge_score (_score_lcs and scoring.fmeasure), so the
    # result is bit-identical; it is symmetric in a and b because + and * commute.
    if lcs == 0:
        return 0.0
    precision = lcs / len_b
    recall = lcs / len_a
    return 2 * precision * recall / (precision + recall)


def rouge_l_tokens(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """ROUGE-L F-measure of two token sequences (0.0 when either is empty)."""
    if not a or not b:
        return 0.0
    return _fmeasure(lcs_length(a, b), len(a), len(b))


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F-measure of two texts, equal to ``rouge_score``'s ``rougeL`` fmeasure."""
    return rouge_l_tokens(tokenize(a), tokenize(b))


class NoveltyIndex:
    """Texts seen so far; answers "is this text within ROUGE-L ``threshold`` of one of them?".

    ``is_novel(text)`` is True when the text's ROUGE-L F-measure with every stored text is
    at most ``threshold`` (Self-Instruct keeps an instruction when the maximum is <= 0.7),
    exactly as comparing against all of them would decide. ``max_similarity`` returns the
    highest score and the key of that text when it exceeds the threshold; below the
    threshold the pruned texts are not scored, so the returned score is then only the best
    of those compared (a lower bound, possibly 0.0 with key None).

    ``lcs_computations`` and ``candidates`` count the work done, for tests and benchmarks.

    >>> index = NoveltyIndex(0.7)
    >>> for i, t in enumerate(["Name a fruit.", "Sort a list of numbers in Python."]):
    ...     index.add(t, key=str(i))
    >>> index.add_if_novel("Sort a list of numbers in python!", key="2")
    False
    >>> len(index)
    2
    """

    #: The rarity order is first computed at this size, then at every doubling.
    first_snapshot = 32

    def __init__(self, threshold: float = 0.7):
        if not 0.0 < threshold <= 1.0:
            raise ConfigError(f"NoveltyIndex threshold must be in (0, 1], got {threshold!r}; Self-Instruct uses 0.7.")
        self.threshold = float(threshold)
        t = self.threshold - _EPS
        # Any pair above the threshold has len_y / len_x within [ratio, 1 / ratio] and an
        # overlap of at least min_share * len for each of the two lengths.
        self._ratio = t / (2.0 - t)
        self._texts: list[str] = []
        self._keys: list[str | None] = []
        self._tokens: list[tuple[int, ...]] = []
        self._elems: list[frozenset[int]] = []
        self._vocab: dict[str, int] = {}
        self._elem_ids: dict[tuple[int, int], int] = {}
        self._df: dict[int, int] = {}  # rarity snapshot: element id -> document frequency
        self._postings: dict[int, list[int]] = {}
        self._snapshot_size = 0
        self.lcs_computations = 0
        self.candidates = 0

    def __len__(self) -> int:
        return len(self._texts)

    def items(self) -> Iterator[tuple[str, str | None]]:
        """``(text, key)`` pairs in insertion order (what persistence stores)."""
        return zip(self._texts, self._keys)

    def add(self, text: str, key: str | None = None) -> None:
        """Store ``text`` (whatever its similarity) under ``key``."""
        tokens, elems = self._encode(text, grow=True)
        rid = len(self._texts)
        self._texts.append(text)
        self._keys.append(key)
        self._tokens.append(tokens)
        self._elems.append(frozenset(elems))
        if len(self._texts) >= max(self.first_snapshot, 2 * self._snapshot_size):
            self._resnapshot()
        else:
            self._index(rid, elems)

    def add_if_novel(self, text: str, key: str | None = None) -> bool:
        """Add ``text`` if it is novel; return whether it was added."""
        if not self.is_novel(text):
            return False
        self.add(text, key)
        return True

    def is_novel(self, text: str) -> bool:
        """True when no stored text has ROUGE-L F-measure above ``threshold`` with ``text``."""
        return self._search(text, stop_above_threshold=True)[0] <= self.threshold

    def max_similarity(self, text: str) -> tuple[float, str | None]:
        """``(score, key)`` of the most similar stored text; exact whenever above the threshold."""
        score, rid = self._search(text, stop_above_threshold=False)
        return score, (self._keys[rid] if rid is not None else None)

    # -- internals ---------------------------------------------------------------------

    def _encode(self, text: str, *, grow: bool) -> tuple[tuple[int, ...], list[int]]:
        """Token ids, and element ids (token, occurrence) sorted rarest first.

        A query does not grow the vocabulary: its unknown tokens cannot match anything,
        so they get fresh negative ids that no stored text has.
        """
        ids: list[int] = []
        elems: list[int] = []
        seen: dict[int, int] = {}
        unknown = -1
        for word in tokenize(text):
            tid = self._vocab.get(word)
            if tid is None:
                if grow:
                    tid = self._vocab[word] = len(self._vocab)
                else:
                    ids.append(unknown)
                    elems.append(unknown)
                    unknown -= 1
                    continue
            ids.append(tid)
            occurrence = seen.get(tid, 0)
            seen[tid] = occurrence + 1
            eid = self._elem_ids.get((tid, occurrence))
            if eid is None:
                if grow:
                    eid = self._elem_ids[(tid, occurrence)] = len(self._elem_ids)
                else:
                    eid = unknown
                    unknown -= 1
            elems.append(eid)
        elems.sort(key=self._rarity)
        return tuple(ids), elems

    def _rarity(self, eid: int) -> tuple[int, int]:
        # A fixed total order between snapshots: elements unseen at the last snapshot
        # count as rarest; ties break on the id, which never changes.
        return (self._df.get(eid, 0), eid)

    def _prefix_length(self, length: int) -> int:
        # Overlap any above-threshold partner must reach, minimised over partner lengths.
        need = max(1, int(-(-(self._ratio * length - _EPS) // 1)))
        return max(0, length - need + 1)

    def _index(self, rid: int, sorted_elems: list[int]) -> None:
        for eid in sorted_elems[: self._prefix_length(len(sorted_elems))]:
            self._postings.setdefault(eid, []).append(rid)

    def _resnapshot(self) -> None:
        df: dict[int, int] = {}
        for elems in self._elems:
            for eid in elems:
                df[eid] = df.get(eid, 0) + 1
        self._df = df
        self._postings = {}
        for rid, elems in enumerate(self._elems):
            self._index(rid, sorted(elems, key=self._rarity))
        self._snapshot_size = len(self._elems)

    def _search(self, text: str, *, stop_above_threshold: bool) -> tuple[float, int | None]:
        tokens, elems = self._encode(text, grow=False)
        length = len(tokens)
        if length == 0:
            return 0.0, None
        lo, hi = self._ratio * length - _EPS, length / self._ratio + _EPS
        query = frozenset(elems)
        floor = self.threshold - _EPS
        found: set[int] = set()
        candidates: list[tuple[int, int]] = []
        for eid in elems[: self._prefix_length(length)]:
            for rid in self._postings.get(eid, ()):
                if rid in found:
                    continue
                found.add(rid)
                other = len(self._tokens[rid])
                if not lo <= other <= hi:
                    continue
                bound = 2.0 * len(query & self._elems[rid]) / (length + other)
                if bound >= floor:
                    candidates.append((bound, rid))
        self.candidates += len(candidates)
        # Highest bound first: a gate stops at the first hit sooner, and the search can
        # stop once no remaining bound reaches the best score found.
        candidates.sort(key=lambda c: (-c[0], c[1]))
        best, best_rid = 0.0, None
        for bound, rid in candidates:
            if bound < best - _EPS:
                break
            self.lcs_computations += 1
            other = self._tokens[rid]
            score = _fmeasure(lcs_length(tokens, other), length, len(other))
            # Ties go to the earliest stored text, as a front-to-back scan would choose.
            if score > best or (score == best and best_rid is not None and rid < best_rid):
                best, best_rid = score, rid
                if stop_above_threshold and best > self.threshold:
                    break
        return best, best_rid
