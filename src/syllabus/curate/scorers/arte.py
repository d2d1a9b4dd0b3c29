"""``StudentPreference`` (ARTE): the student's preference for a teacher draft, by one-shot probing.

ARTE (Liu et al., 2024) aligns a teacher with what helps *this* student. Its signal, at
the scale this step runs:

1. A preference bank of held-out probe questions with answers.
2. Each candidate draft (an example: question + rationale) is put before every probe
   question as the student's single in-context demonstration; the student answers
   greedily; the draft's score is the student's accuracy. That accuracy is the student's
   "preference" for the draft.
3. Only the *discriminative* probe questions count. ARTE picks the top 40 of its bank with
   an item-response-theory criterion; here an item's discrimination is the correlation,
   across the drafts scored together, between the student's score on that item and its
   score on the rest of the bank (the classical IRT discrimination estimate, point-biserial
   for 0/1 scores). Items every draft gets right, or every draft gets wrong, discriminate
   nothing and drop out. ``select`` sets how many items are kept (``None``: all).
4. Drafts of the same question are ranked by preference (``arte.rank``, 1 = preferred) so
   chosen/rejected pairs for teacher DPO, or best-of-N selection, follow directly.

Because discrimination is estimated from the drafts themselves, the step reads all the
examples it is given (one shard under the runner) before scoring any of them.

Scores: ``arte.preference`` (mean item score over the selected items), ``arte.baseline``
(the student without a demonstration, same items), ``arte.gain`` (their difference),
``arte.rank`` (within the draft's group). ``meta["arte.items"]`` lists the selected items.
``measure="loglik"`` scores an item by the mean per-token log-likelihood of its reference
answer instead of by answering it: no generation, and it moves even when a tiny student's
accuracy does not.

>>> from syllabus.llm.fake import FunctionLLM
>>> from syllabus.record import Example
>>> bank = [{"id": f"q{i}", "messages": [{"role": "user", "content": f"{i}+{i}?"}], "reference": str(2 * i)} for i in range(1, 4)]
>>> # A toy student: a demonstration that shows its working ("=") makes it answer right.
>>> def student(r):
...     question = r.messages[-1]["content"]
...     return str(2 * int(question.split("+")[0])) if len(r.messages) > 1 and "=" in r.messages[1]["content"] else "?"
>>> drafts = [Example.from_prompt("2+5?", completion="2+5 = 7"), Example.from_prompt("2+5?", completion="7")]
>>> scored = list(StudentPreference(FunctionLLM(student), probe=bank)(drafts))
>>> [(e.scores["arte.preference"], e.scores["arte.rank"]) for e in scored]
[(1.0, 1.0), (0.0, 2.0)]
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from syllabus.errors import ConfigError
from syllabus.llm.base import LLM
from syllabus.pipeline.step import Step, StepContext
from syllabus.record import Example

__all__ = ["StudentPreference", "discrimination"]

NS = "arte"


def discrimination(matrix: Sequence[Sequence[float]]) -> list[float]:
    """Per item (column): the correlation of its scores with the rest score across rows.

    Rows are drafts, columns probe items. A constant column (item 0 below: every draft
    gets it right), or fewer than 3 rows, gives 0.

    >>> [round(d, 3) for d in discrimination([[1, 1, 0], [1, 1, 1], [1, 0, 0], [1, 0, 0]])]
    [0.0, 0.577, 0.577]
    """
    rows = len(matrix)
    cols = len(matrix[0]) if rows else 0
    out = []
    for j in range(cols):
        item = [float(r[j]) for r in matrix]
        rest = [sum(r) - r[j] for r in matrix]
        out.append(_correlation(item, rest) if rows >= 3 else 0.0)
    return out


def _correlation(a: Sequence[float], b: Sequence[float]) -> float:
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    if va == 0 or vb == 0:
        return 0.0
    return sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True)) / math.sqrt(va * vb)


class StudentPreference(Step):
    """ARTE's student preference for each draft: one-shot probe accuracy on discriminative items.

    Args:
        llm: the student model.
        probe: the preference bank, Example dicts with ``reference`` answers.
        task: or an evaluation task name whose items form the bank.
        task_options: that task's settings.
        probe_size: bank size (a seeded sample of a larger source).
        select: keep the ``select`` most discriminative items (ARTE: 40); ``None`` keeps all.
            Selection needs at least 3 drafts; with fewer, all items are kept.
        measure: ``"accuracy"`` (ARTE) or ``"loglik"`` (reference log-likelihood per token).
        group_key: a ``meta`` key naming each draft's question group for ``arte.rank``;
            default: drafts with the same prompt form a group.
        answer_template: the continuation scored with ``measure="loglik"`` (``"The answer is {reference}."``).
        metric, max_tokens, seed: as for :class:`~syllabus.curate.scorers.lbt.LearningByTeaching`.
        batch_size: drafts per student call.
    """

    name = "arte"
    version = "1"

    def __init__(
        self,
        llm: LLM,
        *,
        probe: list[dict[str, Any]] | None = None,
        task: str | None = None,
        task_options: dict[str, Any] | None = None,
        probe_size: int = 40,
        select: int | None = None,
        measure: str = "accuracy",
        group_key: str | None = None,
        metric: str | None = None,
        max_tokens: int = 128,
        seed: int = 0,
        answer_template: str = "{reference}",
        batch_size: int = 8,
    ):
        from syllabus.curate.scorers.probe import Probe

        if select is not None and select < 1:
            raise ConfigError(f"arte: select must be >= 1 or null, got {select}")
        self.llm = llm
        self.probe = Probe(
            items=[dict(p) for p in probe] if probe is not None else None,
            task=task,
            task_options=task_options,
            size=probe_size,
            metric=metric,
            measure=measure,  # type: ignore[arg-type]
            max_tokens=max_tokens,
            seed=seed,
            answer_template=answer_template,
        )
        self.select = select
        self.group_key = group_key
        self.batch_size = batch_size

    def run(self, examples: Iterable[Example], ctx: StepContext) -> Iterator[Example]:
        drafts = list(examples)
        if not drafts:
            return
        matrix: list[list[float]] = []
        for start in range(0, len(drafts), self.batch_size):
            matrix += self.probe.scores(self.llm, drafts[start : start + self.batch_size])
        baseline = self.probe.baseline(self.llm)
        columns = self._selected(matrix)
        ids = self.probe.ids
        base = sum(baseline[j] for j in columns) / len(columns)
        for ex, row in zip(drafts, matrix, strict=True):
            preference = sum(row[j] for j in columns) / len(columns)
            ex.set_score(NS, "preference", preference)
            ex.set_score(NS, "baseline", base)
            ex.set_score(NS, "gain", preference - base)
            ex.set_meta(NS, "items", [ids[j] for j in columns])
            if self.probe.overlaps(ex):
                ex.set_meta(NS, "warning", "the draft asks a probe question; its preference is not a fair measure")
        self._rank(drafts)
        yield from drafts

    def _selected(self, matrix: list[list[float]]) -> list[int]:
        n_items = len(matrix[0])
        if self.select is None or self.select >= n_items or len(matrix) < 3:
            return list(range(n_items))
        disc = discrimination(matrix)
        # Most discriminative first; ties by item order, so the choice is deterministic.
        order = sorted(range(n_items), key=lambda j: (-disc[j], j))
        return sorted(order[: self.select])

    def _rank(self, drafts: list[Example]) -> None:
        groups: dict[str, list[Example]] = defaultdict(list)
        for ex in drafts:
            key = ex.meta.get(self.group_key) if self.group_key else None
            groups[str(key) if key is not None else ex.prompt].append(ex)
        for members in groups.values():
            # Competition ranking: equal preferences share a rank (1, 1, 3).
            values = [ex.scores[f"{NS}.preference"] for ex in members]
            for ex, value in zip(members, values, strict=True):
                ex.set_score(NS, "rank", 1 + sum(v > value for v in values))

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "student": self.llm.model_id, "probe": self.probe.describe(), "select": self.select}
