"""Scoring candidate answers: the rewards of best-of-N and the value functions of beam search.

A reward maps ``(requests, candidate texts)`` to one float per candidate (higher is
better) and counts its model calls in per-candidate :class:`Spent` totals:

* ``loglik``: the model's own mean log-probability per token of the candidate given the
  prompt (needs a backend with ``capabilities.loglikelihood``);
* ``judge``: a model rates the candidate from 1 to 10 (the plain model at the bottom of
  the chain, or the ``judge`` LLM a method was given);
* ``random``: a seeded uniform draw, the baseline any real reward should beat;
* ``task``: the evaluated task's own scorer (:class:`TaskScorer`): verifier checks, or
  an oracle reference checker (an upper bound, not a method).

>>> from syllabus.llm.fake import EchoLLM
>>> from syllabus.llm.base import GenerateRequest
>>> r = GenerateRequest.chat([{"role": "user", "content": "2+2?"}])
>>> [round(x, 3) for x in score_candidates("loglik", EchoLLM(), [r, r], ["4", "four"], [Spent(), Spent()])]
[-0.693, -2.773]
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from syllabus.errors import CapabilityError, ConfigError
from syllabus.llm.base import LLM, GenerateRequest, LoglikelihoodRequest
from syllabus.methods.base import Spent, last_user_text
from syllabus.record import content_hash

__all__ = ["REWARDS", "TaskScorer", "judge_prompt", "score_candidates"]

REWARDS = ("loglik", "judge", "random", "task")

JUDGE_TEMPLATE = (
    "Below are a task and a proposed answer. Rate how likely the answer is correct and complete, "
    "on a scale from 1 (certainly wrong) to 10 (certainly right). Reply with the number only.\n\n"
    "Task:\n{question}\n\nProposed answer:\n{answer}\n\nRating (1-10):"
)


def judge_prompt(question: str, answer: str) -> str:
    return JUDGE_TEMPLATE.format(question=question, answer=answer)


def score_candidates(
    reward: str,
    llm: LLM,
    requests: Sequence[GenerateRequest],
    texts: Sequence[str],
    spent: Sequence[Spent],
    *,
    judge: LLM | None = None,
    seed: int = 0,
    task_scorer: TaskScorer | None = None,
) -> list[float]:
    """One score per candidate ``texts[i]`` answering ``requests[i]``; calls go into ``spent[i]``."""
    if reward == "loglik":
        if not llm.capabilities.loglikelihood:
            raise CapabilityError(f"reward=loglik needs a backend that scores log-likelihoods; {llm.model_id} cannot (use reward=judge)")
        lls = llm.loglikelihood([_ll_request(r, t) for r, t in zip(requests, texts, strict=True)])
        for s, ll in zip(spent, lls, strict=True):
            s.add(ll)
        return [ll.logprob / max(1, ll.n_tokens) for ll in lls]
    if reward == "judge":
        rater = judge or llm
        prompts = [
            GenerateRequest.chat([{"role": "user", "content": judge_prompt(last_user_text(r), t)}], max_tokens=8, temperature=0.0)
            for r, t in zip(requests, texts, strict=True)
        ]
        gens = rater.generate(prompts)
        for s, g in zip(spent, gens, strict=True):
            s.add(g)
        return [_rating(g.text) for g in gens]
    if reward == "random":
        return [random.Random(f"{seed}:{content_hash([last_user_text(r), t])}").random() for r, t in zip(requests, texts, strict=True)]
    if reward == "task":
        if task_scorer is None:
            raise ConfigError("reward=task scores with the evaluated task; it works under `syllabus eval` (or after bind_task)")
        return [task_scorer.score(r, t) for r, t in zip(requests, texts, strict=True)]
    raise ConfigError(f"reward={reward!r}: use one of {', '.join(REWARDS)}")


def _ll_request(request: GenerateRequest, text: str) -> LoglikelihoodRequest:
    if request.prompt is not None:
        return LoglikelihoodRequest(continuation=text, context=request.prompt)
    return LoglikelihoodRequest(continuation=text, messages=request.messages)


def _rating(text: str) -> float:
    """The first number in a judge's reply, clipped to 1..10; no number scores 0.

    >>> _rating(" 8/10"), _rating("I'd say 12"), _rating("good")
    (8.0, 10.0, 0.0)
    """
    m = re.search(r"\d+(?:\.\d+)?", text)
    return min(10.0, max(1.0, float(m.group()))) if m else 0.0



class TaskScorer:
    """The evaluated task's own scorer as a reward (``reward=task``).

    For a task with verifier checks (``ifeval-lite``) this is the checks; for a task with a
    reference answer (``arith-ic``) it is an **oracle** that knows the answer: best-of-N
    with it is an upper bound (it equals pass@N), never a method to report as a result.
    A request is matched to its example by the example's question: the last user
    message of the task's own request, found in the (possibly rewritten) request.

    >>> from syllabus.evaluate.tasks.arith_ic import ArithIC
    >>> task = ArithIC(n_base=1, variants=False)
    >>> scorer = TaskScorer(task, "strict_acc")
    >>> request = task.requests(task.load()[0])[0]
    >>> scorer.score(request, f"The answer is {task.load()[0].reference}."), scorer.score(request, "The answer is -1.")
    (1.0, 0.0)
    """

    def __init__(self, task: Any, metric: str = ""):
        self.task = task
        self.metric = metric or task.metrics[0]
        if self.metric not in task.metrics:
            raise ConfigError(f"reward metric={self.metric!r}: task {task.name!r} has {', '.join(task.metrics)}")
        self.by_question: dict[str, Any] = {}
        for example in task.load():
            for r in task.requests(example):
                if isinstance(r, GenerateRequest):
                    self.by_question.setdefault(last_user_text(r), example)

    def example_for(self, request: GenerateRequest) -> Any:
        text = last_user_text(request)
        found = self.by_question.get(text)
        if found is None:  # rewritten by an outer method: the question is inside it
            found = next((e for q, e in self.by_question.items() if q and q in text), None)
        if found is None:
            raise ConfigError(f"reward=task: no example of task {self.task.name!r} matches this request")
        return found

    def score(self, request: GenerateRequest, text: str) -> float:
        from syllabus.evaluate.task import Scored
        from syllabus.llm.base import Generation

        result = self.task.score(self.example_for(request), [Generation(text=text)])
        scores = result.scores if isinstance(result, Scored) else result
        return float(scores.get(self.metric, 0.0))
