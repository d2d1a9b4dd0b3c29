"""Scoring candidate answers: the rewards of best-of-N and the value functions of beam search.

A reward maps ``(requests, candidate texts)`` to one float per candidate (higher is
better) and counts its model calls in per-candidate :class:`Spent` totals:

* ``loglik``: the model's own mean log-probability per token of the candidate given the
  prompt (needs a backend with ``capabilities.loglikelihood``);
* ``judge``: a model rates the candidate from 1 to 10 (the plain model at the bottom of
  the chain, or the ``judge`` LLM a method was given);
* ``random``: a seeded uniform draw, the baseline any real reward should beat.

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

from syllabus.errors import CapabilityError, ConfigError
from syllabus.llm.base import LLM, GenerateRequest, LoglikelihoodRequest
from syllabus.methods.base import Spent, last_user_text
from syllabus.record import content_hash

__all__ = ["REWARDS", "judge_prompt", "score_candidates"]

REWARDS = ("loglik", "judge", "random")

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

