"""``LearningByTeaching``: score an example by how much it teaches a student in context.

Learning by Teaching (Ning et al., 2024) judges a teacher's rationale by the exam score of
a student that sees it as its one in-context example. Here the "exam" is a small probe set
shared by all examples (see :mod:`syllabus.curate.scorers.probe`):

    lbt.accuracy = the student's mean score on the probe items with the example as a
                   one-shot demonstration (greedy)
    lbt.baseline = the same without any demonstration (computed once per step)
    lbt.gain     = lbt.accuracy - lbt.baseline

Same items, same order, same decoding for every example, so gains of two examples are a
paired comparison; ``meta["lbt.item_scores"]`` keeps the per-item scores for paired
statistics. A wrong or misleading demonstration can push ``gain`` below zero. Use probe
items that are *held out* from the data being scored (an example identical to a probe
item would hand the student the answer).

Cost: examples x probe items student calls; a batch of ``batch_size`` examples goes to the
student as one call.

>>> from syllabus.llm.fake import FunctionLLM
>>> from syllabus.record import Example
>>> probe = [{"id": "p1", "messages": [{"role": "user", "content": "5+5?"}], "reference": "10"}]
>>> # A toy student that copies the last number of the demonstration's answer.
>>> student = FunctionLLM(lambda r: r.messages[1]["content"] if len(r.messages) > 1 else "?")
>>> good = Example.from_prompt("4+6?", completion="10")
>>> [ex] = LearningByTeaching(student, probe=probe)([good])
>>> ex.scores["lbt.gain"]
1.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from syllabus.llm.base import LLM
from syllabus.pipeline.step import Batch, BatchMap
from syllabus.record import Example

__all__ = ["LearningByTeaching"]

NS = "lbt"


class LearningByTeaching(BatchMap):
    """Student accuracy on a probe set with the example as its demonstration, minus without.

    Args:
        llm: the student model.
        probe: probe items, each an Example dict with a ``reference`` answer.
        task: or an evaluation task name whose items (and scorer) form the probe.
        task_options: that task's settings (``{"n_base": 4, "variants": false}``).
        probe_size: how many items (a seeded sample of a larger source).
        metric: the task metric to use (default: the task's first metric).
        max_tokens: the student's answer budget for ``probe`` items.
        seed: which items the sample picks.
        batch_size: examples per student call.
    """

    name = "lbt"
    version = "1"

    def __init__(
        self,
        llm: LLM,
        *,
        probe: list[dict[str, Any]] | None = None,
        task: str | None = None,
        task_options: dict[str, Any] | None = None,
        probe_size: int = 8,
        metric: str | None = None,
        max_tokens: int = 128,
        seed: int = 0,
        batch_size: int = 8,
    ):
        from syllabus.curate.scorers.probe import Probe

        self.llm = llm
        self.probe = Probe(
            items=[p if not isinstance(p, Mapping) else dict(p) for p in probe] if probe is not None else None,
            task=task,
            task_options=task_options,
            size=probe_size,
            metric=metric,
            max_tokens=max_tokens,
            seed=seed,
        )
        self.batch_size = batch_size

    def map_batch(self, batch: Batch) -> Iterable[Example]:
        baseline = self.probe.baseline(self.llm)
        base = sum(baseline) / len(baseline)
        for ex, row in zip(batch, self.probe.scores(self.llm, batch), strict=True):
            accuracy = sum(row) / len(row)
            ex.set_score(NS, "accuracy", accuracy)
            ex.set_score(NS, "baseline", base)
            ex.set_score(NS, "gain", accuracy - base)
            ex.set_meta(NS, "item_scores", row)
            if self.probe.overlaps(ex):
                ex.set_meta(NS, "warning", "the example asks a probe question; its gain is not a fair measure")
        return batch

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "student": self.llm.model_id, "probe": self.probe.describe()}
