"""Deduplication filters: exact, near-duplicate (MinHash LSH) and semantic (embeddings).

Each is a :class:`~syllabus.pipeline.step.Filter` that keeps the first record of a group
and drops later ones with a fixed reason (``"exact duplicate"``, ``"near duplicate
(minhash)"``, ``"near duplicate (semantic)"``); the dropped record's meta says which
record it duplicates and how similar they are::

    dedup.duplicate_of      id of the kept twin
    dedup.similarity        1.0 (exact), estimated Jaccard (MinHash) or cosine (semantic)
    dedup.duplicate_round   round of the twin, when it was kept in an earlier round

Dedup is global: a filter remembers what it kept across all shards it sees in one
process and, given ``index=`` (a :class:`~syllabus.curate.index.RunIndex` or a run
directory), across processes and rounds through ``runs/NAME/index/``. A shard that runs
again (resume after a crash) first forgets what its earlier attempt stored, so it never
finds its own records to be duplicates. Executors that run shards in several processes
at once see each other's records only once those shards have finished.

    >>> from syllabus.record import Example
    >>> rows = [Example.from_prompt("Name a prime.", completion="2", id="a"),
    ...         Example.from_prompt("name a PRIME!", completion=" 2 ", id="b")]
    >>> kept = list(ExactDedup()(rows))
    >>> [e.id for e in kept], rows[1].meta["dedup.duplicate_of"]
    (['a'], 'a')

Which text is compared: ``field="prompt"`` (all message contents), ``"completion"`` or
``"both"`` (default). Records whose compared text is empty are kept and not indexed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syllabus.curate.index import IndexEntry, RunIndex, open_index
from syllabus.errors import ConfigError, did_you_mean
from syllabus.pipeline.step import Drop, Filter, StepContext
from syllabus.record import Example

if TYPE_CHECKING:
    import numpy as np

    from syllabus.curate.embed import Embedder

__all__ = ["FIELDS", "ExactDedup", "MinHashDedup", "SemanticDedup", "example_text", "normalize", "shingles"]

FIELDS = ("prompt", "completion", "both")
_SPACES = re.compile(r"\s+")


class _PunctuationTable(dict[int, str | None]):
    """``str.translate`` table deleting Unicode punctuation (categories P*), filled lazily.

    Symbols such as + $ = stay, because "2+2" and "2=2" are different tasks. Each code
    point is classified once, on first sight, instead of all 1.1 million up front.
    """

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        value = None if unicodedata.category(char).startswith("P") else char
        self[code] = value
        return value


_PUNCTUATION = _PunctuationTable()


def normalize(text: str) -> str:
    """Casefold, delete punctuation, collapse whitespace: what exact dedup compares.

    >>> normalize("  Hello,   WORLD!\\n It's   me. ")
    'hello world its me'
    """
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold().translate(_PUNCTUATION)).strip()


def example_text(example: Example, field: str) -> str:
    """The text of ``example`` that dedup compares (see the module docstring)."""
    prompt = "\n".join(m["content"] for m in example.messages)
    if field == "prompt":
        return prompt
    if field == "completion":
        return example.completion or ""
    return f"{prompt}\n{example.completion or ''}"


def shingles(normalized: str, n: int) -> list[str]:
    """Word ``n``-grams of a normalised text (the whole text when it has fewer words).

    >>> shingles("a b c d", 3)
    ['a b c', 'b c d']
    """
    words = normalized.split()
    if len(words) <= n:
        return [" ".join(words)] if words else []
    return [" ".join(gram) for gram in zip(*(words[i:] for i in range(n)))]


def _check_field(field: str) -> str:
    if field not in FIELDS:
        raise ConfigError(f"dedup option field={field!r}: use one of {', '.join(FIELDS)}.{did_you_mean(field, FIELDS)}")
    return field


class _Dedup(Filter, ABC):
    """Shared machinery: which text, the run index, shard-rerun bookkeeping, flushing.

    Subclasses implement ``_load`` (entries from the index into memory), ``_forget_memory``
    and ``_flush_rows``, and either ``keep`` or ``run``.
    """

    kind = "dedup"

    def __init__(self, *, field: str = "both", index: RunIndex | str | Path | None = None, round: str = "", space: str | None = None):
        self.field = _check_field(field)
        self.index = open_index(index, round)
        self.round = self.index.round if self.index is not None else str(round)
        self.space = space or self._default_space()
        self._loaded = False
        self._present: set[tuple[str, int]] = set()  # (round, shard) with entries in memory
        self._pending: list[Any] = []
        self._shard = 0

    def _default_space(self) -> str:
        return f"{self.kind}:{self.field}"

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "field": self.field, "space": self.space, "round": self.round,
                "index": str(self.index.run_dir) if self.index is not None else None}

    def _begin(self, shard: int) -> None:
        if not self._loaded:
            if self.index is not None:
                self._load(self.index)
            self._loaded = True
        if (self.round, shard) in self._present:
            # This shard ran before (an interrupted attempt, or a rerun in this process):
            # what it stored must not count against its own records.
            self._forget_memory(self.round, shard)
            self._present.discard((self.round, shard))
            if self.index is not None:
                self.index.forget(self.space, self.round, shard)
        self._shard = shard

    def _finish(self) -> None:
        if self.index is not None and self._pending:
            self._flush_rows(self.index, self._pending)
        self._pending = []

    def run(self, examples: Iterable[Example], ctx: StepContext) -> Iterator[Example]:
        self._begin(ctx.shard)
        yield from super().run(examples, ctx)
        self._finish()

    def _mark_duplicate(self, example: Example, twin: IndexEntry, similarity: float) -> None:
        example.set_meta("dedup", "duplicate_of", twin[0])
        example.set_meta("dedup", "similarity", round(float(similarity), 6))
        if twin[1] != self.round:
            example.set_meta("dedup", "duplicate_round", twin[1])

    # What each kind of dedup keeps in memory and in the index.
    @abstractmethod
    def _load(self, index: RunIndex) -> None: ...

    @abstractmethod
    def _forget_memory(self, round: str, shard: int) -> None: ...

    @abstractmethod
    def _flush_rows(self, index: RunIndex, rows: list[Any]) -> None: ...


class ExactDedup(_Dedup):
    """Drop records whose normalised text (:func:`normalize`) was seen before.

    Options: ``field`` ("prompt" | "completion" | "both"), ``index`` (run directory or
    RunIndex, to share state across processes and rounds), ``round``.
    """

    name = "exact-dedup"
    kind = "exact"
    reason = "exact duplicate"

    def __init__(self, *, field: str = "both", index: RunIndex | str | Path | None = None, round: str = "", space: str | None = None):
        super().__init__(field=field, index=index, round=round, space=space)
        self._seen: dict[str, IndexEntry] = {}

    def _load(self, index: RunIndex) -> None:
        self._seen = index.exact_hashes(self.space)
        self._present = {(r, s) for _, r, s in self._seen.values()}

    def _forget_memory(self, round: str, shard: int) -> None:
        self._seen = {h: e for h, e in self._seen.items() if (e[1], e[2]) != (round, shard)}

    def _flush_rows(self, index: RunIndex, rows: list[Any]) -> None:
        index.add_exact(self.space, rows)

    def keep(self, example: Example) -> bool | Drop:
        if self.field == "both":
            # Prompt and completion normalised apart, so that text cannot move across the
            # boundary ("a b" + "c" is not "a" + "b c").
            parts = [normalize(example_text(example, "prompt")), normalize(example.completion or "")]
            text = "\x1f".join(parts) if any(parts) else ""
        else:
            text = normalize(example_text(example, self.field))
        if not text:
            return True
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
        twin = self._seen.get(digest)
        if twin is not None:
            self._mark_duplicate(example, twin, 1.0)
            return Drop(self.reason)
        self._seen[digest] = (example.id, self.round, self._shard)
        self._present.add((self.round, self._shard))
        if self.index is not None:
            self._pending.append((digest, example.id, self._shard, text))
        return True


class MinHashDedup(_Dedup):
    """Drop near-duplicates: estimated Jaccard similarity of word ``ngram`` shingles of the
    normalised text at least ``threshold`` with a record kept before.

    MinHash signatures (``num_perm`` permutations) go into a datasketch ``MinHashLSH``
    tuned for ``threshold``; its candidates are confirmed by the signatures' estimated
    Jaccard, and the most similar one is named as the twin. Because every candidate is
    confirmed, the bands are tuned to miss few true pairs (``false_negative_weight=0.9``;
    datasketch's default 0.5 finds under half of the pairs right at the threshold), at the
    price of checking more candidates.

    >>> from syllabus.record import Example
    >>> text = "Explain how photosynthesis turns light water and carbon dioxide into sugar"
    >>> rows = [Example.from_prompt(text, id="a"), Example.from_prompt(text + " please", id="b")]
    >>> [e.id for e in MinHashDedup(threshold=0.7, field="prompt")(rows)]
    ['a']
    """

    name = "minhash-dedup"
    kind = "minhash"
    reason = "near duplicate (minhash)"

    def __init__(
        self,
        *,
        threshold: float = 0.8,
        num_perm: int = 128,
        ngram: int = 3,
        seed: int = 1,
        false_negative_weight: float = 0.9,
        field: str = "both",
        index: RunIndex | str | Path | None = None,
        round: str = "",
        space: str | None = None,
    ):
        if not 0.0 < threshold <= 1.0:
            raise ConfigError(f"minhash-dedup option threshold={threshold!r}: use a Jaccard similarity in (0, 1], e.g. 0.8.")
        if num_perm < 16:
            raise ConfigError(f"minhash-dedup option num_perm={num_perm!r}: use at least 16 (128 is usual).")
        if ngram < 1:
            raise ConfigError(f"minhash-dedup option ngram={ngram!r}: use a positive number of words.")
        if not 0.0 < false_negative_weight < 1.0:
            raise ConfigError(f"minhash-dedup option false_negative_weight={false_negative_weight!r}: use a number in (0, 1).")
        self.threshold, self.num_perm, self.ngram, self.seed = float(threshold), int(num_perm), int(ngram), int(seed)
        self.false_negative_weight = float(false_negative_weight)
        super().__init__(field=field, index=index, round=round, space=space)
        self._lsh: Any = None
        self._scratch: Any = None
        self._entries: dict[int, tuple[IndexEntry, np.ndarray]] = {}
        self._next = 0

    def _default_space(self) -> str:
        # Signatures are comparable only under the same shingling and permutations.
        return f"minhash:{self.field}:n{self.ngram}:p{self.num_perm}:s{self.seed}"

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "threshold": self.threshold, "num_perm": self.num_perm, "ngram": self.ngram,
                "false_negative_weight": self.false_negative_weight}

    def _ensure_lsh(self) -> None:
        if self._lsh is None:
            from datasketch import MinHash, MinHashLSH

            # One scratch MinHash, cleared per record: building one per record (drawing or
            # parsing its permutations) costs more than hashing the record.
            # Shingles are hashed with crc32: 32 bits like datasketch's default (truncated
            # SHA-1) but one C call instead of a Python function around hashlib, and
            # datasketch mixes the value (fmix) before permuting it anyway.
            self._scratch = MinHash(self.num_perm, seed=self.seed, hashfunc=zlib.crc32)
            w = self.false_negative_weight
            self._lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm, weights=(1.0 - w, w))

    def _signature(self, grams: list[str]) -> Any:
        m = self._scratch
        m.clear()
        m.update_batch([g.encode("utf-8") for g in grams])
        return m

    def _insert(self, entry: IndexEntry, m: Any) -> None:
        import numpy as np

        # The LSH keeps only band hashes, computed here, so the scratch object may be reused.
        key = self._next
        self._next += 1
        self._lsh.insert(key, m, check_duplication=False)
        # Kept as uint32 (values are 32-bit): half the memory of datasketch's uint64.
        self._entries[key] = (entry, m.hashvalues.astype(np.uint32))
        self._present.add((entry[1], entry[2]))

    def _load(self, index: RunIndex) -> None:
        import numpy as np

        self._ensure_lsh()
        m = self._scratch
        for entry, blob in index.minhash_signatures(self.space):
            m.hashvalues = np.frombuffer(blob, dtype=np.uint32).astype(m.hashvalues.dtype)
            self._insert(entry, m)

    def _forget_memory(self, round: str, shard: int) -> None:
        for key in [k for k, (e, _) in self._entries.items() if (e[1], e[2]) == (round, shard)]:
            self._lsh.remove(key)
            del self._entries[key]

    def _flush_rows(self, index: RunIndex, rows: list[Any]) -> None:
        index.add_minhash(self.space, rows)

    def keep(self, example: Example) -> bool | Drop:
        import numpy as np

        self._ensure_lsh()
        grams = shingles(normalize(example_text(example, self.field)), self.ngram)
        if not grams:
            return True
        m = self._signature(grams)
        best, twin = -1.0, None
        for key in self._lsh.query(m):
            entry, values = self._entries[key]
            similarity = float(np.count_nonzero(values == m.hashvalues)) / self.num_perm
            if similarity > best or (similarity == best and twin is not None and key < twin[0]):
                best, twin = similarity, (key, entry)
        if twin is not None and best >= self.threshold:
            self._mark_duplicate(example, twin[1], best)
            return Drop(self.reason)
        self._insert((example.id, self.round, self._shard), m)
        if self.index is not None:
            self._pending.append((example.id, self._shard, self._entries[self._next - 1][1].tobytes()))
        return True


class SemanticDedup(_Dedup):
    """Drop records whose sentence embedding has cosine similarity at least ``threshold``
    with a record kept before (all-MiniLM-L6-v2 by default).

    Records are embedded ``batch_size`` at a time (and cached in the run index when one
    is given); decisions are still made one record at a time, in input order, so a
    batch's own duplicates are found too. ``embedder`` takes a spec (``"fake:bow"`` for
    tests and dry runs) or an embedder object.

    >>> from syllabus.record import Example
    >>> rows = [Example.from_prompt("How do I bake bread at home?", id="a"),
    ...         Example.from_prompt("how do i bake bread at home", id="b"),
    ...         Example.from_prompt("List three prime numbers.", id="c")]
    >>> [e.id for e in SemanticDedup(threshold=0.95, embedder="fake:bow", field="prompt")(rows)]
    ['a', 'c']
    """

    name = "semantic-dedup"
    kind = "semantic"
    reason = "near duplicate (semantic)"

    def __init__(
        self,
        *,
        threshold: float = 0.95,
        embedder: str | Embedder = "builtin:all-minilm-l6-v2",
        batch_size: int = 64,
        field: str = "both",
        index: RunIndex | str | Path | None = None,
        round: str = "",
        space: str | None = None,
    ):
        if not -1.0 <= threshold <= 1.0:
            raise ConfigError(f"semantic-dedup option threshold={threshold!r}: use a cosine similarity in [-1, 1], e.g. 0.95.")
        from syllabus.curate.embed import load_embedder

        self.threshold, self.batch_size = float(threshold), int(batch_size)
        index_obj = open_index(index, round)
        self.embedder = load_embedder(embedder, cache=index_obj) if isinstance(embedder, str) else embedder
        super().__init__(field=field, index=index_obj, round=round, space=space)
        self._entries: list[IndexEntry] = []
        self._matrix: np.ndarray | None = None  # rows [0, len(_entries)) are in use

    def _default_space(self) -> str:
        return f"semantic:{self.field}:{self.embedder.model_id}"

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "threshold": self.threshold, "embedder": self.embedder.model_id}

    def _append(self, entry: IndexEntry, vector: np.ndarray) -> None:
        import numpy as np

        n = len(self._entries)
        if self._matrix is None or n == len(self._matrix):
            grown = np.zeros((max(64, 2 * n), len(vector)), dtype=np.float32)
            if self._matrix is not None:
                grown[:n] = self._matrix[:n]
            self._matrix = grown
        self._matrix[n] = vector
        self._entries.append(entry)
        self._present.add((entry[1], entry[2]))

    def _load(self, index: RunIndex) -> None:
        entries, matrix = index.vectors(self.space)
        for entry, vector in zip(entries, matrix):
            self._append(entry, vector)

    def _forget_memory(self, round: str, shard: int) -> None:
        keep = [i for i, e in enumerate(self._entries) if (e[1], e[2]) != (round, shard)]
        if self._matrix is not None:
            self._matrix[: len(keep)] = self._matrix[keep]
        self._entries = [self._entries[i] for i in keep]

    def _flush_rows(self, index: RunIndex, rows: list[Any]) -> None:
        index.add_vectors(self.space, rows)

    def run(self, examples: Iterable[Example], ctx: StepContext) -> Iterator[Example]:
        import numpy as np

        self._begin(ctx.shard)
        it = iter(examples)
        while batch := list(islice(it, self.batch_size)):
            texts = [example_text(e, self.field) for e in batch]
            todo = [i for i, t in enumerate(texts) if t.strip()]
            vectors = self.embedder.encode([texts[i] for i in todo]) if todo else None
            rows = dict(zip(todo, range(len(todo))))
            # Similarities to everything kept before this batch, in one product.
            n = len(self._entries)
            before = vectors @ self._matrix[:n].T if vectors is not None and n else None
            kept_here: list[int] = []  # rows of this batch kept so far
            for i, example in enumerate(batch):
                if i not in rows:
                    yield example
                    continue
                v = vectors[rows[i]]
                best, twin = -2.0, None
                if before is not None:
                    j = int(np.argmax(before[rows[i]]))
                    best, twin = float(before[rows[i], j]), self._entries[j]
                if kept_here:
                    sims = vectors[kept_here] @ v
                    j = int(np.argmax(sims))
                    if float(sims[j]) > best:
                        best, twin = float(sims[j]), self._entries[n + j]
                if twin is not None and best >= self.threshold:
                    self._mark_duplicate(example, twin, best)
                    ctx.exclude(example, self.name, self.reason)
                    continue
                self._append((example.id, self.round, self._shard), v)
                kept_here.append(rows[i])
                if self.index is not None:
                    self._pending.append((example.id, self._shard, v))
                yield example
        self._finish()
