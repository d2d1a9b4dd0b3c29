"""A probe set: a few questions with answers, asked of a student with or without a demonstration.

Learning by Teaching and ARTE both score a teacher-written example by what it does *for a
student*: put the example before each probe question as a one-shot demonstration (an
earlier user turn and assistant reply), let the student answer greedily, and score the
answers. :class:`Probe` is that shared machinery:

- probe items come from a list of examples with references (``items``) or from an
  evaluation task by name (``task``: its ``load()``, ``requests()`` and ``score()`` are
  used as they are; generation tasks such as ``arith-ic`` fit best);
- the same items, in the same order, serve every demonstration, so scores are paired;
- every request of a batch of demonstrations goes to the student in one call.

Scoring an item without a task: 1 when the student's answer matches the reference
(:func:`syllabus.curate.scorers.verify.answer_matches`: numbers after an answer marker or
the last number; text exactly, case-insensitive), else 0. With ``measure="loglik"`` an
item's score is instead the mean per-token log-likelihood of its reference answer.

>>> from syllabus.llm.fake import FunctionLLM
>>> from syllabus.record import Example
>>> items = [Example.from_prompt("2+2?", reference="4"), Example.from_prompt("3+3?", reference="6")]
>>> # A student that answers right only when it has seen a demonstration (two user turns).
>>> student = FunctionLLM(lambda r: "6" if len(r.messages) > 1 else "0")
>>> probe = Probe(items=items)
>>> probe.scores(student, [None, Example.from_prompt("1+1?", completion="2")])
[[0.0, 0.0], [0.0, 1.0]]
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

from syllabus.errors import ConfigError, DataError
from syllabus.llm.base import (
    LLM,
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
    SamplingParams,
    render_plain,
)
from syllabus.record import Example, Message

__all__ = ["Measure", "Probe", "with_demonstration"]

Measure = Literal["accuracy", "loglik"]
Request = GenerateRequest | LoglikelihoodRequest


def _demo_turns(demo: Example) -> list[Message]:
    return [*[m for m in demo.messages if m["role"] != "system"], {"role": "assistant", "content": demo.completion or ""}]


def with_demonstration(request: Request, demo: Example | None) -> Request:
    """``request`` with ``demo`` (its prompt and completion) shown first.

    Chat requests get the demonstration as an earlier user/assistant exchange, after any
    system message; raw-text requests get it as plain text, then a blank line.

    >>> r = GenerateRequest(messages=({"role": "user", "content": "3+3?"},))
    >>> [m["role"] for m in with_demonstration(r, Example.from_prompt("1+1?", completion="2")).messages]
    ['user', 'assistant', 'user']
    """
    if demo is None:
        return request
    if request.messages is not None:
        system = [m for m in request.messages if m["role"] == "system"]
        rest = [m for m in request.messages if m["role"] != "system"]
        return replace(request, messages=(*system, *_demo_turns(demo), *rest))
    prefix = render_plain(demo.messages).removesuffix("assistant:") + f"assistant: {demo.completion or ''}\n\n"
    if isinstance(request, GenerateRequest):
        return replace(request, prompt=prefix + (request.prompt or ""))
    return replace(request, context=prefix + (request.context or ""))


class Probe:
    """A fixed set of probe items and how to score a student's answers to them.

    Args:
        items: examples (or their dicts) with ``reference`` answers.
        task: an evaluation task name instead (``"arith-ic"``), scored by its own ``score``.
        task_options: the task's settings (``{"n_base": 4, "variants": false}``).
        size: how many items to use (a seeded sample when the source has more).
        metric: the task metric that counts as the item's score (default: its first metric).
        measure: ``"accuracy"`` (answer the question, score it) or ``"loglik"`` (mean
            per-token log-likelihood of the reference answer; no generation).
        max_tokens: the student's answer budget (items without a task; greedy).
        seed: which items a sample picks.
        answer_template: the continuation scored with ``measure="loglik"``, e.g.
            ``"The answer is {reference}."`` for a task whose prompt asks for that form.
    """

    def __init__(
        self,
        *,
        items: Sequence[Example | Mapping[str, Any]] | None = None,
        task: str | None = None,
        task_options: Mapping[str, Any] | None = None,
        size: int = 8,
        metric: str | None = None,
        measure: Measure = "accuracy",
        max_tokens: int = 128,
        seed: int = 0,
        answer_template: str = "{reference}",
    ):
        if "{reference}" not in answer_template:
            raise ConfigError(f"answer_template must contain {{reference}}, got {answer_template!r}")
        self.answer_template = answer_template
        if (items is None) == (task is None):
            raise ConfigError("a probe needs exactly one of 'probe' (a list of examples with references) or 'task' (a task name)")
        if measure not in ("accuracy", "loglik"):
            raise ConfigError(f"probe measure must be 'accuracy' or 'loglik', got {measure!r}")
        if size < 1:
            raise ConfigError(f"probe size must be >= 1, got {size}")
        self.measure = measure
        self.params = SamplingParams(max_tokens=max_tokens, temperature=0.0)
        self.task = None
        if task is not None:
            from syllabus.evaluate.task import get_task

            self.task = get_task(task, **dict(task_options or {}))
            pool = self.task.load()
            self.metric = metric or (self.task.metrics[0] if self.task.metrics else None)
            if self.metric not in self.task.metrics:
                raise ConfigError(f"task {task!r} has no metric {self.metric!r}; its metrics: {', '.join(self.task.metrics)}")
        else:
            pool = [item if isinstance(item, Example) else Example.from_dict(dict(item)) for item in items or []]
            self.metric = None
        if measure == "loglik" or self.task is None:
            lacking = [e.id for e in pool if not (e.reference or "").strip()]
            if lacking:
                raise DataError(f"probe items need a reference answer; these have none: {', '.join(lacking[:5])}")
        if not pool:
            raise DataError("the probe set is empty")
        self.items = random.Random(seed).sample(pool, size) if len(pool) > size else list(pool)
        self._baseline: dict[str, list[float]] = {}

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]

    def overlaps(self, example: Example) -> bool:
        """Whether ``example`` asks one of the probe questions (its demonstration would give the answer away)."""
        prompt = example.prompt.strip()
        return any(item.prompt.strip() == prompt for item in self.items)

    # -- requests -----------------------------------------------------------------------------
    def _requests(self, item: Example) -> list[Request]:
        if self.measure == "loglik":
            # str.replace, not format: a reference may contain braces.
            answer = self.answer_template.replace("{reference}", item.reference or "")
            return [LoglikelihoodRequest(continuation=answer, messages=tuple(self._messages(item)))]
        if self.task is not None:
            return list(self.task.requests(item))
        return [GenerateRequest(messages=tuple(item.messages), params=self.params)]

    def _messages(self, item: Example) -> list[Message]:
        return self.task.prompt(item) if self.task is not None else list(item.messages)

    def _score(self, item: Example, outputs: Sequence[Generation | Loglikelihood]) -> float:
        if self.measure == "loglik":
            out = outputs[0]
            assert isinstance(out, Loglikelihood)
            return out.logprob / max(1, out.n_tokens)
        if self.task is not None:
            result = self.task.score(item, outputs)
            scores = result if isinstance(result, dict) else result.scores
            return float(scores.get(self.metric, 0.0)) if self.metric else 0.0
        from syllabus.curate.scorers.verify import answer_matches

        correct, _ = answer_matches(outputs[0].text, item.reference or "")  # type: ignore[union-attr]
        return float(correct)

    def scores(self, llm: LLM, demos: Sequence[Example | None]) -> list[list[float]]:
        """One row per demonstration (``None``: no demonstration), one score per item.

        All requests go to ``llm`` in one ``generate`` and/or one ``loglikelihood`` call.
        """
        plan: list[list[Request]] = []  # per (demo, item): its requests
        for demo in demos:
            for item in self.items:
                plan.append([with_demonstration(r, demo) for r in self._requests(item)])
        flat = [r for reqs in plan for r in reqs]
        gen_idx = [i for i, r in enumerate(flat) if isinstance(r, GenerateRequest)]
        ll_idx = [i for i, r in enumerate(flat) if isinstance(r, LoglikelihoodRequest)]
        outputs: list[Generation | Loglikelihood | None] = [None] * len(flat)
        if gen_idx:
            for i, g in zip(gen_idx, llm.generate([flat[i] for i in gen_idx]), strict=True):  # type: ignore[misc]
                outputs[i] = g
        if ll_idx:
            for i, ll in zip(ll_idx, llm.loglikelihood([flat[i] for i in ll_idx]), strict=True):  # type: ignore[misc]
                outputs[i] = ll
        rows: list[list[float]] = []
        pos = 0
        for d in range(len(demos)):
            row = []
            for j, item in enumerate(self.items):
                n = len(plan[d * len(self.items) + j])
                row.append(self._score(item, outputs[pos : pos + n]))  # type: ignore[arg-type]
                pos += n
            rows.append(row)
        return rows

    def baseline(self, llm: LLM) -> list[float]:
        """The student's item scores with no demonstration (computed once, then reused)."""
        if llm.cache_id not in self._baseline:
            self._baseline[llm.cache_id] = self.scores(llm, [None])[0]
        return self._baseline[llm.cache_id]

    def describe(self) -> dict[str, Any]:
        return {
            "task": self.task.name if self.task else None,
            "metric": self.metric,
            "measure": self.measure,
            "items": self.ids,
            "max_tokens": self.params.max_tokens,
        }
