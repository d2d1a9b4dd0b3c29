"""Decoding sweeps: sample once per setting, score maj@1..k, pass@1..k and best-of-N from the same samples.

For each decoding setting (temperature x top_p) every example gets ``n`` samples in one
batch; each sample is scored by the task itself (its ``metric``, 1 = right). From those
same samples, for every ``m`` in ``1..n``:

* ``mean@1``: the mean single-sample score (what one sample gets on average);
* ``maj@m``: the score of the majority answer over the first ``m`` samples (a sample
  whose answer won, scored by the task, as self-consistency returns it);
* ``pass@m``: the unbiased estimate that at least one of ``m`` samples drawn from the
  ``n`` is right, ``1 - C(n-c, m) / C(n, m)`` with ``c`` right samples (Chen et al., 2021);
* ``bon@m`` (with ``reward="loglik"``): the score of the sample with the highest mean
  token log-probability among the first ``m``.

``maj@m`` uses the first ``m`` samples, in draw order, while ``pass@m`` averages over all
subsets of ``m``: so ``maj@m`` can exceed ``pass@m`` on one item (when the first samples
happen to be right) and is below it only in expectation over orderings.

>>> pass_at_k(n=4, c=1, k=2)
0.5
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syllabus.errors import CapabilityError, ConfigError
from syllabus.evaluate.task import Scored, Task
from syllabus.llm.base import LLM, GenerateRequest
from syllabus.methods.answers import extract, majority
from syllabus.methods.rewards import _ll_request
from syllabus.methods.sampling import draw_samples

__all__ = ["SweepResult", "pass_at_k", "render_sweep_svg", "sweep"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k from ``n`` samples of which ``c`` are right."""
    if k > n:
        raise ConfigError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


@dataclass
class SweepResult:
    """Per setting: each curve's mean and 95% interval per ``m``; per item: the raw numbers."""

    task: str
    metric: str
    n: int
    settings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "metric": self.metric, "n": self.n, "settings": self.settings}


def _score(task: Task, example: Any, text: str, metric: str) -> float:
    from syllabus.llm.base import Generation

    result = task.score(example, [Generation(text=text)])
    scores = result.scores if isinstance(result, Scored) else result
    if metric not in scores:
        raise ConfigError(f"sweep metric={metric!r}: task {task.name!r} scores {', '.join(scores)}")
    return float(scores[metric])


def sweep(
    llm: LLM,
    task: Task,
    *,
    n: int = 8,
    temperatures: Sequence[float] = (0.7,),
    top_ps: Sequence[float] = (1.0,),
    metric: str | None = None,
    answer: str = "number",
    reward: str | None = None,
    out_dir: str | Path | None = None,
) -> SweepResult:
    """Run the sweep; with ``out_dir`` also write ``sweep.json`` and ``sweep.svg`` there."""
    from syllabus.evaluate.stats import mean_ci

    if n < 1:
        raise ConfigError(f"sweep n={n}: give n >= 1")
    if reward not in (None, "loglik"):
        raise ConfigError(f"sweep reward={reward!r}: use loglik or leave it out")
    if reward == "loglik" and not llm.capabilities.loglikelihood:
        raise CapabilityError(f"sweep reward=loglik needs log-likelihoods; {llm.model_id} has none")
    metric = metric or task.metrics[0]
    examples = task.load()[: task.limit] if task.limit is not None else task.load()
    requests = []
    for e in examples:
        rs = [r for r in task.requests(e) if isinstance(r, GenerateRequest)]
        if len(rs) != 1:
            raise ConfigError(f"sweep needs a generation task with one request per example; {task.name!r} is not")
        requests.append(rs[0])
    result = SweepResult(task.name, metric, n)
    for temperature in temperatures:
        for top_p in top_ps:
            samples = draw_samples(llm, requests, n, float(temperature), float(top_p))
            weights: list[list[float]] = []
            if reward == "loglik":
                lls = llm.loglikelihood([_ll_request(r, g.text) for r, gs in zip(requests, samples, strict=True) for g in gs])
                per = [ll.logprob / max(1, ll.n_tokens) for ll in lls]
                weights = [per[i * n : (i + 1) * n] for i in range(len(requests))]
            curves: dict[str, list[list[float]]] = {"mean@1": [], "maj": [], "pass": [], **({"bon": []} if reward else {})}
            tokens = []
            for i, (example, gens) in enumerate(zip(examples, samples, strict=True)):
                scores = [_score(task, example, g.text, metric) for g in gens]
                answers = [extract(g.text, answer) for g in gens]
                right = sum(s == 1.0 for s in scores)
                curves["mean@1"].append([sum(scores) / n])
                maj_row, pass_row, bon_row = [], [], []
                for m in range(1, n + 1):
                    winner = majority(answers[:m])
                    maj_row.append(scores[answers.index(winner)] if winner is not None else scores[0])
                    pass_row.append(pass_at_k(n, right, m))
                    if reward:
                        best = max(range(m), key=lambda j: (weights[i][j], -j))
                        bon_row.append(scores[best])
                curves["maj"].append(maj_row)
                curves["pass"].append(pass_row)
                if reward:
                    curves["bon"].append(bon_row)
                tokens.append(sum(g.prompt_tokens + g.completion_tokens for g in gens))
            summary: dict[str, Any] = {"temperature": float(temperature), "top_p": float(top_p), "tokens_per_item": sum(tokens) / max(1, len(tokens))}
            for name, rows in curves.items():
                width = len(rows[0]) if rows else 0
                summary[name] = [mean_ci([r[m] for r in rows], method="bootstrap").to_dict() for m in range(width)]
            result.settings.append(summary)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        from syllabus.jsonl import write_text_atomic

        write_text_atomic(out / "sweep.json", json.dumps(result.to_dict(), indent=2) + "\n")
        write_text_atomic(out / "sweep.svg", render_sweep_svg(result))
    return result


_COLORS = {"maj": "#3b6fb6", "pass": "#d9822b", "bon": "#2e9e5b"}


def render_sweep_svg(result: SweepResult, width: int = 420, height: int = 220) -> str:
    """One small chart per setting: maj@m, pass@m (and bon@m) against m, with CI whiskers."""
    e = html.escape
    charts = []
    left, right, top, bottom = 40, 90, 24, 30
    n = result.n

    def x(m: int) -> float:
        return left + ((m - 1) / max(1, n - 1)) * (width - left - right)

    def y(v: float) -> float:
        return top + (1 - v) * (height - top - bottom)

    for index, s in enumerate(result.settings):
        parts = [
            f'<svg y="{index * height}" width="{width}" height="{height}">',
            (f'<text x="{left}" y="14" font-size="12" font-weight="bold">{e(result.task)} · {e(result.metric)} · '
             f'T={s["temperature"]:g}, top_p={s["top_p"]:g}</text>'),
            f'<text x="2" y="{y(1) + 4:.1f}" font-size="10">1</text><text x="2" y="{y(0) + 4:.1f}" font-size="10">0</text>',
            f'<text x="{(left + width - right) / 2:.0f}" y="{height - 6}" font-size="10" text-anchor="middle">samples m (1..{n})</text>',
        ]
        for row, name in enumerate(c for c in ("maj", "pass", "bon") if c in s):
            color = _COLORS[name]
            points = [(x(m + 1), y(est["value"])) for m, est in enumerate(s[name])]
            parts.append(f'<polyline points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in points)}" fill="none" stroke="{color}" stroke-width="2"/>')
            for m, est in enumerate(s[name]):
                if est.get("low") is not None:
                    parts.append(f'<line x1="{x(m + 1):.1f}" x2="{x(m + 1):.1f}" y1="{y(est["low"]):.1f}" y2="{y(est["high"]):.1f}" stroke="{color}" opacity="0.4"/>')
            parts.append(f'<text x="{width - right + 8}" y="{top + 14 * (row + 1)}" font-size="11" fill="{color}">{name}@m</text>')
        parts.append("</svg>")
        charts.append("".join(parts))
    total = height * max(1, len(charts))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total}" role="img">\n'
            + "\n".join(charts) + "\n</svg>\n")
