"""Decontamination: drop training records that overlap the evaluation tasks of a run.

A record is contaminated when its text (prompt, completion or both) shares a word
``ngram`` (13 by default, as in the GPT-3 and Llama reports) with any text of an
evaluation item: its prompt messages, its reference and completion, and the strings in
its meta (worked solutions, cloze forms). Words are lowercased runs of letters and
digits, so case, punctuation and spacing do not hide an overlap. Evaluation texts shorter
than ``ngram`` words but at least ``min_words`` long count as one n-gram of their own
length. Optionally, a record whose prompt embedding has cosine at least
``embedding_threshold`` with an item's prompt is dropped too (paraphrased test items).

A task may name which texts of an item are its content (``Task.contamination_texts``):
ifeval-lite's items are a base task plus check sentences shared with the training split by
construction, so only the base task counts.

N-grams that occur in many items of one task (in more than ``boilerplate_fraction`` of
them, and in more than 2; 1.0 turns this off) are the task's instructions, not its content ("Solve the math word problem
below. Work it out step by step..."), and are ignored: a generator using the same
wording is not contaminated by it.

Drops carry a fixed reason (``"contaminated (13-gram)"`` or ``"contaminated
(embedding)"``) and the detail in meta: ``decontam.task``, ``decontam.item`` (the
evaluation item's id), ``decontam.ngram`` (the overlapping words) or
``decontam.similarity``.

    >>> from syllabus.record import Example
    >>> step = Decontaminate(tasks=["mc"])
    >>> leak = Example.from_prompt("Quiz: what colour is the sky on a clear day? It is blue.", id="x")
    >>> list(step([leak])), leak.meta["decontam.item"], leak.meta["decontam.ngram"]
    ([], 'mc-sky', 'what colour is the sky on a clear day')
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syllabus.curate.dedup import FIELDS, example_text
from syllabus.curate.index import RunIndex, open_index
from syllabus.errors import ConfigError, did_you_mean
from syllabus.pipeline.step import Filter, StepContext
from syllabus.record import Example
from syllabus.text.rouge import tokenize

if TYPE_CHECKING:
    import numpy as np

    from syllabus.curate.embed import Embedder

__all__ = ["Decontaminate", "item_texts"]

# (task name, item id) of the evaluation item an n-gram came from.
Source = tuple[str, str]


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value (meta holds lists and dicts too)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def item_texts(example: Example) -> list[str]:
    """The texts of an evaluation item that training data must not contain."""
    texts = [m["content"] for m in example.messages]
    texts += [t for t in (example.reference, example.completion) if t]
    texts += list(_strings(example.meta))
    return texts


class Decontaminate(Filter):
    """Drop records that share a word n-gram (or, optionally, a near-identical prompt
    embedding) with the items of the named evaluation tasks.

    Options: ``tasks`` (task specs as ``syllabus evaluate`` takes them: ``"ifeval-lite"``,
    ``"gym:basic_arithmetic"``), ``ngram`` (13), ``min_words`` (8), ``boilerplate_fraction``
    (0.05), ``embedding_threshold`` (None: off; e.g. 0.9), ``embedder``, ``field``
    ("both": prompt and completion are searched for n-grams), ``index`` (run directory
    whose index caches embeddings). Tasks are loaded on first use.
    """

    name = "decontaminate"
    version = "1"

    def __init__(
        self,
        *,
        tasks: Sequence[str] = (),
        ngram: int = 13,
        min_words: int = 8,
        boilerplate_fraction: float = 0.05,
        embedding_threshold: float | None = None,
        embedder: str | Embedder = "builtin:all-minilm-l6-v2",
        field: str = "both",
        batch_size: int = 64,
        index: RunIndex | str | Path | None = None,
        round: str = "",
    ):
        from syllabus.evaluate.task import get_task

        if isinstance(tasks, str):
            tasks = [tasks]
        if not tasks:
            raise ConfigError("decontaminate needs tasks=[...]: the evaluation tasks whose items training data must not contain.")
        if ngram < 1 or min_words < 1:
            raise ConfigError(f"decontaminate options ngram={ngram} and min_words={min_words} must be positive (13 and 8 are usual).")
        if not 0.0 < boilerplate_fraction <= 1.0:
            raise ConfigError(f"decontaminate option boilerplate_fraction={boilerplate_fraction!r}: use a fraction in (0, 1].")
        if embedding_threshold is not None and not -1.0 <= embedding_threshold <= 1.0:
            raise ConfigError(f"decontaminate option embedding_threshold={embedding_threshold!r}: use a cosine in [-1, 1] or null.")
        if field not in FIELDS:
            raise ConfigError(f"decontaminate option field={field!r}: use one of {', '.join(FIELDS)}.{did_you_mean(field, FIELDS)}")
        self.task_specs = list(tasks)
        self._tasks = [get_task(spec) for spec in self.task_specs]  # unknown names fail here, early
        self.ngram, self.min_words = int(ngram), int(min(min_words, ngram))
        self.boilerplate_fraction = float(boilerplate_fraction)
        self.embedding_threshold = embedding_threshold
        self.field, self.batch_size = field, int(batch_size)
        self.index = open_index(index, round)
        self._embedder_spec = embedder
        self._embedder: Embedder | None = None
        self.reason = f"contaminated ({self.ngram}-gram)"
        self._grams: dict[int, dict[str, Source]] | None = None  # length -> words -> source
        self._item_ids: list[Source] = []
        self._item_vectors: np.ndarray | None = None
        self.ignored_boilerplate = 0

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "tasks": self.task_specs, "ngram": self.ngram, "min_words": self.min_words,
                "boilerplate_fraction": self.boilerplate_fraction, "embedding_threshold": self.embedding_threshold,
                "field": self.field}

    # -- the evaluation side ------------------------------------------------------------------
    def _build(self) -> None:
        grams: dict[int, dict[str, Source]] = defaultdict(dict)
        prompts: list[str] = []
        for spec, task in zip(self.task_specs, self._tasks):
            items = task.load()
            count: dict[tuple[int, str], int] = defaultdict(int)
            first: dict[tuple[int, str], Source] = {}
            for item in items:
                # Each item counts an n-gram once, however often its texts repeat it.
                texts = task.contamination_texts(item)
                texts = item_texts(item) if texts is None else texts
                for key in {k for text in texts for k in self._windows(tokenize(text), evaluation=True)}:
                    count[key] += 1
                    first.setdefault(key, (spec, item.id))
                prompts.append("\n".join(m["content"] for m in item.messages if m["role"] != "assistant"))
                self._item_ids.append((spec, item.id))
            common = max(2, self.boilerplate_fraction * len(items))
            for key, n in count.items():
                if n > common:
                    self.ignored_boilerplate += 1
                    continue
                length, words = key
                grams[length].setdefault(words, first[key])
        self._grams = dict(grams)
        if self.embedding_threshold is not None:
            self._item_vectors = self._embed(prompts)

    def _windows(self, words: list[str], *, evaluation: bool) -> Iterator[tuple[int, str]]:
        """(length, joined words) keys: every ``ngram`` window, or the whole text when an
        evaluation text is shorter than that but at least ``min_words`` long."""
        n = self.ngram
        if len(words) >= n:
            for i in range(len(words) - n + 1):
                yield n, " ".join(words[i : i + n])
        elif evaluation and len(words) >= self.min_words:
            yield len(words), " ".join(words)

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self._embedder is None:
            from syllabus.curate.embed import load_embedder

            spec = self._embedder_spec
            self._embedder = load_embedder(spec, cache=self.index) if isinstance(spec, str) else spec
        return self._embedder.encode(texts)

    # -- the training side ---------------------------------------------------------------------
    def _ngram_hit(self, text: str) -> tuple[str, Source] | None:
        assert self._grams is not None
        words = tokenize(text)
        for length, table in self._grams.items():
            for i in range(len(words) - length + 1):
                joined = " ".join(words[i : i + length])
                source = table.get(joined)
                if source is not None:
                    return joined, source
        return None

    def run(self, examples: Iterable[Example], ctx: StepContext) -> Iterator[Example]:
        import numpy as np

        if self._grams is None:
            self._build()
        it = iter(examples)
        while batch := list(islice(it, self.batch_size)):
            clean: list[Example] = []
            for example in batch:
                hit = self._ngram_hit(example_text(example, self.field))
                if hit is None:
                    clean.append(example)
                    continue
                words, (task, item) = hit
                example.set_meta("decontam", "task", task)
                example.set_meta("decontam", "item", item)
                example.set_meta("decontam", "ngram", words)
                ctx.exclude(example, self.name, self.reason)
            if self._item_vectors is None or not len(self._item_vectors) or not clean:
                yield from clean
                continue
            vectors = self._embed([example_text(e, "prompt") for e in clean])
            sims = vectors @ self._item_vectors.T
            best = np.argmax(sims, axis=1)
            for row, example in enumerate(clean):
                similarity = float(sims[row, best[row]])
                if similarity >= self.embedding_threshold:  # type: ignore[operator]
                    task, item = self._item_ids[int(best[row])]
                    example.set_meta("decontam", "task", task)
                    example.set_meta("decontam", "item", item)
                    example.set_meta("decontam", "similarity", round(similarity, 6))
                    ctx.exclude(example, self.name, "contaminated (embedding)")
                else:
                    yield example
