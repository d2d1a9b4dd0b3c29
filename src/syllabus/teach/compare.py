"""Paired before/after comparisons of two evaluations of the same held-out items.

Every metric with a per-item score is compared item by item (McNemar for 0/1 scores, the
paired bootstrap otherwise, :func:`syllabus.evaluate.stats.compare`). IFEval's pooled
instruction-level metrics have no per-item score: they are compared with
:func:`~syllabus.evaluate.stats.paired_ratio_bootstrap` over prompts, from each prompt's
passed and total checks.

>>> a = [Example.from_prompt("p", id=str(i), scores={"t.m": 0.0}) for i in range(4)]
>>> b = [Example.from_prompt("p", id=str(i), scores={"t.m": 1.0}) for i in range(4)]
>>> compare_metric(a, b, "t", "m").diff
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syllabus.evaluate.stats import PairedComparison, align, compare, paired_ratio_bootstrap
from syllabus.record import Example

__all__ = ["POOLED", "compare_eval_dirs", "compare_metric"]

#: Pooled metric -> the per-check score prefix it pools (``NS.strict.CHECK``).
POOLED = {"instruction_level_strict": "strict", "instruction_level_loose": "loose"}


def _counts(example: Example, namespace: str, mode: str) -> tuple[float, float]:
    values = [v for k, v in example.scores.items() if k.startswith(f"{namespace}.{mode}.")]
    return float(sum(values)), float(len(values))


def compare_metric(
    before: Sequence[Example], after: Sequence[Example], namespace: str, metric: str, *, lower_is_better: bool = False
) -> PairedComparison | None:
    """``after`` against ``before`` on ``metric``, paired by example id; None if not comparable."""
    pairs = align([{"id": e.id, "e": e} for e in before], [{"id": e.id, "e": e} for e in after])
    a = [r["e"] for r in pairs.a]
    b = [r["e"] for r in pairs.b]
    if not a:
        return None
    key = f"{namespace}.{metric}"
    if all(key in e.scores for e in a + b):
        return compare([e.scores[key] for e in a], [e.scores[key] for e in b], higher_is_better=not lower_is_better)
    if metric in POOLED:
        mode = POOLED[metric]
        ca = [_counts(e, namespace, mode) for e in a]
        cb = [_counts(e, namespace, mode) for e in b]
        if any(x[1] != y[1] for x, y in zip(ca, cb, strict=True)) or not sum(x[1] for x in ca):
            return None
        return paired_ratio_bootstrap([x[0] for x in ca], [y[0] for y in cb], [x[1] for x in ca])
    return None


def compare_eval_dirs(before: Path, after: Path) -> list[dict[str, Any]]:
    """Every metric of every task both evaluations ran, compared; one dict per (task, metric)."""
    import json

    from syllabus.jsonl import read_jsonl

    reports = [json.loads((d / "report.json").read_text()) for d in (before, after)]
    rows: list[dict[str, Any]] = []
    for task, section in reports[0]["tasks"].items():
        if task not in reports[1]["tasks"]:
            continue
        namespace = task.replace(".", "_")
        samples = [list(read_jsonl(d / "samples" / f"{namespace}.jsonl")) for d in (before, after)]
        lower = set(section.get("lower_is_better", []))
        for metric in section["metrics"]:
            result = compare_metric(samples[0], samples[1], namespace, metric, lower_is_better=metric in lower)
            if result is not None:
                rows.append({"task": task, "metric": metric, **result.to_dict()})
    return rows
