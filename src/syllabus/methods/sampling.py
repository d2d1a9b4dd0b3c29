"""Sample-then-choose methods: self-consistency (majority or weighted vote) and best-of-N.

Both draw ``k`` samples of each request from the inner model in one batch (sample
indices ``0..k-1`` with the request's seed, so a rerun draws the same samples and the
request cache serves them).

>>> from syllabus.llm.fake import ScriptedLLM
>>> sc = SelfConsistency(ScriptedLLM(["The answer is 7.", "It is 8.", "The answer is 7."]), k=3)
>>> g = sc.generate([GenerateRequest.chat([{"role": "user", "content": "3+4?"}])])[0]
>>> g.text, g.requests, g.trace["votes"]
('The answer is 7.', 3, {'7': 2, '8': 1})
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from syllabus.errors import CapabilityError, ConfigError
from syllabus.llm.base import LLM, GenerateRequest, Generation
from syllabus.methods.answers import extract, majority, weighted
from syllabus.methods.base import Method, MethodGeneration, Spent, with_params
from syllabus.methods.rewards import TaskScorer, _ll_request, score_candidates

__all__ = ["BestOfN", "SelfConsistency", "draw_samples"]


def draw_samples(llm: LLM, requests: Sequence[GenerateRequest], k: int, temperature: float, top_p: float) -> list[list[Generation]]:
    """``k`` samples of every request, in one call to ``llm``.

    At ``temperature=0`` the samples are greedy, and sample 0 is the request unchanged
    (so one greedy sample is exactly the direct answer).
    """
    flat = []
    for r in requests:
        base = r if (temperature == r.params.temperature and top_p == r.params.top_p) else with_params(r, temperature=temperature, top_p=top_p)
        flat += [base if i == 0 else base.with_sample(base.sample_index + i) for i in range(k)]
    gens = llm.generate(flat)
    return [gens[i * k : (i + 1) * k] for i in range(len(requests))]


@dataclass
class SelfConsistencyOptions:
    """k: samples per question; temperature, top_p: their decoding; vote: majority, or
    weighted by each sample's probability under the model (exp of its mean token
    log-probability); answer: number or text (how answers are read and compared)."""

    k: int = 5
    temperature: float = 0.7
    top_p: float = 1.0
    vote: Literal["majority", "weighted"] = "majority"
    answer: Literal["number", "text"] = "number"


class SelfConsistency(Method):
    """Self-consistency: sample ``k`` reasoning paths, return one whose answer won the vote.

    The returned text is the first sample whose answer is the winner, unchanged, so the
    task reads the winner from it. Samples without an answer do not vote; when no sample
    has one, the first sample is returned.
    """

    name = "self-consistency"
    Options = SelfConsistencyOptions

    def validate(self) -> None:
        o = self.options
        if o.k < 1:
            raise ConfigError(f"self-consistency k={o.k}: give k >= 1")
        if o.temperature < 0 or not 0 < o.top_p <= 1:
            raise ConfigError("self-consistency: temperature must be >= 0 and top_p in (0, 1]")
        if o.vote == "weighted" and not self.base.capabilities.loglikelihood:
            raise CapabilityError(f"self-consistency vote=weighted needs log-likelihoods; {self.base.model_id} has none (use vote=majority)")

    def answer(self, requests: Sequence[GenerateRequest]) -> list[MethodGeneration]:
        o = self.options
        samples = draw_samples(self.inner, requests, o.k, o.temperature, o.top_p)
        weights: list[list[float]] = [[1.0] * o.k for _ in requests]
        lls = []
        if o.vote == "weighted":
            lls = self.base.loglikelihood([_ll_request(r, g.text) for r, gs in zip(requests, samples, strict=True) for g in gs])
            per_token = [math.exp(ll.logprob / max(1, ll.n_tokens)) for ll in lls]
            weights = [per_token[i * o.k : (i + 1) * o.k] for i in range(len(requests))]
        out = []
        for i, gens in enumerate(samples):
            spent = Spent().add(gens)
            if lls:
                spent.add(lls[i * o.k : (i + 1) * o.k])
            answers = [extract(g.text, o.answer) for g in gens]
            winner = majority(answers) if o.vote == "majority" else weighted(answers, weights[i])
            chosen = answers.index(winner) if winner is not None else 0
            votes = dict(Counter(a for a in answers if a is not None))
            out.append(
                spent.generation(
                    gens[chosen].text, self.model_id, finish_reason=gens[chosen].finish_reason,
                    answer=winner, votes=votes, answers=answers, weights=[round(w, 6) for w in weights[i]],
                )
            )
        return out


@dataclass
class BestOfNOptions:
    """n: candidates per question; temperature, top_p: their decoding; reward: loglik
    (the model's own mean token log-probability), judge (the model rates 1-10), random
    (a baseline) or task (the task's own scorer: verifier checks, or an oracle with the
    reference); metric: the task metric of reward=task (default its first); seed: of the
    random reward."""

    n: int = 4
    temperature: float = 0.7
    top_p: float = 1.0
    reward: Literal["loglik", "judge", "random", "task"] = "loglik"
    metric: str = ""
    seed: int = 0


class BestOfN(Method):
    """Best-of-N: sample ``n`` candidates, score each with a reward, return the best
    (ties: the earliest). A ``judge`` LLM given in Python replaces the model as rater."""

    name = "best-of-n"
    Options = BestOfNOptions
    accepts: ClassVar[tuple[str, ...]] = ("judge",)

    def __init__(self, inner: LLM, *, judge: LLM | None = None, **options: Any):
        self.judge = judge
        self.task_scorer: TaskScorer | None = None
        super().__init__(inner, **options)

    def bind_task(self, task: Any) -> None:
        super().bind_task(task)
        if self.options.reward == "task":
            self.task_scorer = TaskScorer(task, self.options.metric)

    def validate(self) -> None:
        if self.options.n < 1:
            raise ConfigError(f"best-of-n n={self.options.n}: give n >= 1")
        if self.options.reward == "loglik" and not self.base.capabilities.loglikelihood:
            raise CapabilityError(f"best-of-n reward=loglik needs log-likelihoods; {self.base.model_id} has none (use reward=judge)")

    @property
    def cache_id(self) -> str:
        judge = f",judge={self.judge.cache_id}" if self.judge is not None else ""
        return super().cache_id + judge

    def answer(self, requests: Sequence[GenerateRequest]) -> list[MethodGeneration]:
        o = self.options
        samples = draw_samples(self.inner, requests, o.n, o.temperature, o.top_p)
        spent = [Spent().add(gs) for gs in samples]
        flat_req = [r for r in requests for _ in range(o.n)]
        flat_text = [g.text for gs in samples for g in gs]
        flat_spent = [spent[i // o.n] for i in range(len(flat_text))]  # each candidate's calls count for its question
        scores = score_candidates(o.reward, self.base, flat_req, flat_text, flat_spent, judge=self.judge, seed=o.seed,
                                  task_scorer=self.task_scorer)
        out = []
        for i, gens in enumerate(samples):
            mine = scores[i * o.n : (i + 1) * o.n]
            best = max(range(o.n), key=lambda j: (mine[j], -j))
            out.append(spent[i].generation(gens[best].text, self.model_id, finish_reason=gens[best].finish_reason,
                                           chosen=best, scores=[round(s, 6) for s in mine]))
        return out
