"""Steps: ``Iterable[Example] -> Iterator[Example]``.

Three shapes cover every stage: :class:`Map` (one in, one out), :class:`Expand` (one in,
any number out, e.g. k samples of a prompt) and :class:`Filter` (keep, or drop *with a
reason*). :class:`BatchMap` hands a model a whole batch at a time. Dropped records are not
lost: the runner writes them to ``excluded/`` with the step name and the reason.

A custom step::

    class Lowercase(Map):
        name = "lowercase"

        def map(self, example):
            example.completion = (example.completion or "").lower()
            return example

    class NonEmpty(Filter):
        name = "nonempty"

        def keep(self, example):
            return True if example.completion else Drop("empty completion")

    Pipeline([Respond(llm), Lowercase(), NonEmpty()]).run(examples, "runs/x/r00/01_generate")

Any step also runs alone, outside a pipeline: ``list(NonEmpty()(examples))``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from syllabus.record import Example

__all__ = ["Batch", "BatchMap", "Drop", "Expand", "Filter", "Map", "Step", "StepContext"]


@dataclass(frozen=True)
class Drop:
    """A filter's verdict to drop an example; the reason is written to ``excluded/``."""

    reason: str


@dataclass
class StepContext:
    """What the runner gives a step: where dropped records go and counters for stats."""

    shard: int = 0
    excluded: list[Example] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)

    def exclude(self, example: Example, step: str, reason: str) -> None:
        example.meta["excluded.step"] = step
        example.meta["excluded.reason"] = reason
        self.excluded.append(example)
        self.counters[f"{step}.dropped"] += 1
        self.counters[f"{step}.dropped.{reason}"] += 1


class Step:
    """Base of every step. ``name`` and ``version`` go into provenance and stats."""

    name: str = "step"
    version: str = "1"

    def run(self, examples: Iterable[Example], ctx: StepContext) -> Iterator[Example]:
        raise TypeError(f"{type(self).__name__} must subclass Map, Expand, Filter or BatchMap, or override run()")

    def __call__(self, examples: Iterable[Example], ctx: StepContext | None = None) -> Iterator[Example]:
        return self.run(examples, ctx or StepContext())

    def describe(self) -> dict[str, object]:
        """Settings recorded in the stage's config and stats."""
        return {"name": self.name, "version": self.version}


class Map(Step):
    """One example in, one example out."""

    def map(self, example: Example) -> Example:
        return example

    def run(self, examples: Iterable[Example], ctx: StepContext) -> Iterator[Example]:
        for example in examples:
            yield self.map(example)


class Expand(Step):
    """One example in, zero or more out (samples, evolutions, sub-questions)."""

    def expand(self, example: Example) -> Iterable[Example]:
        yield example

    def run(self, examples: Iterable[Example], ctx: StepContext) -> Iterator[Example]:
        for example in examples:
            yield from self.expand(example)


class Filter(Step):
    """Keep an example (``True``) or drop it with a reason (``Drop("too short")``)."""

    def keep(self, example: Example) -> bool | Drop:
        return True

    def run(self, examples: Iterable[Example], ctx: StepContext) -> Iterator[Example]:
        for example in examples:
            verdict = self.keep(example)
            if verdict is True:
                yield example
            elif isinstance(verdict, Drop):
                ctx.exclude(example, self.name, verdict.reason)
            else:
                # A bare False would lose the reason; the contract is Drop(reason).
                raise TypeError(f"{type(self).__name__}.keep must return True or Drop(reason), got {verdict!r}")


Batch = list[Example]


class BatchMap(Step):
    """Like :class:`Map` but over batches of ``batch_size``, so a model sees a whole batch."""

    batch_size: int = 16

    def map_batch(self, batch: Batch) -> Iterable[Example]:
        return batch

    def run(self, examples: Iterable[Example], ctx: StepContext) -> Iterator[Example]:
        it = iter(examples)
        while batch := list(islice(it, self.batch_size)):
            yield from self.map_batch(batch)
