"""Difficulty estimators: how hard each example is *for this student*.

Each is a pipeline step that writes a ``difficulty.*`` score (curricula read them):

- :class:`StudentLoss` — mean negative log-likelihood per token of the example's answer
  (``completion``, else ``reference``) given its prompt, under the student:
  ``difficulty.loss`` (higher is harder).
- :class:`PassAtK` — the student answers ``k`` times (sampled); the share of verified
  answers (attached checks and/or the reference, as :class:`VerifierScore` checks them) is
  ``difficulty.pass_rate`` (lower is harder) and ``difficulty.pass_any`` is pass@k.
- :class:`JudgeGap` — TAPIR's model-fitting difficulty: a judge rates the teacher's answer
  (the example's completion) and the student's own answer 1-10; ``difficulty.mfd`` is the
  teacher's rating minus the student's (higher is harder).

>>> from syllabus.llm.fake import EchoLLM
>>> [ex] = StudentLoss(EchoLLM())([Example.from_prompt("2+2?", completion="4")])
>>> ex.scores["difficulty.loss"] > 0
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from syllabus.errors import CapabilityError
from syllabus.llm.base import LLM, GenerateRequest, LoglikelihoodRequest, SamplingParams
from syllabus.pipeline.step import Batch, BatchMap
from syllabus.prompts import PromptTemplate
from syllabus.record import Example

__all__ = ["JudgeGap", "PassAtK", "StudentLoss"]

NS = "difficulty"


class StudentLoss(BatchMap):
    """``difficulty.loss``: the student's mean NLL per token of the answer (needs ``loglikelihood``)."""

    name = "student-loss"
    version = "1"

    def __init__(self, student: LLM, *, batch_size: int = 16):
        if not student.capabilities.loglikelihood:
            raise CapabilityError(
                f"{student.model_id} cannot score text (no loglikelihood); use hf:, builtin: or llamacpp:"
            )
        self.student, self.batch_size = student, batch_size

    def map_batch(self, batch: Batch) -> Iterable[Example]:
        todo = [(e, e.completion if e.completion else e.reference) for e in batch]
        scored = [(e, a) for e, a in todo if a]
        results = self.student.loglikelihood(
            [LoglikelihoodRequest(continuation=a, messages=tuple(e.messages)) for e, a in scored]
        )
        for (e, _), r in zip(scored, results, strict=True):
            e.set_score(NS, "loss", -r.logprob / max(r.n_tokens, 1))
            e.set_meta(NS, "loss_tokens", r.n_tokens)
        for e, a in todo:
            if not a:
                e.set_meta(NS, "skipped", "no completion or reference to score")
        return batch

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "student": self.student.model_id}


class PassAtK(BatchMap):
    """``difficulty.pass_rate`` and ``difficulty.pass_any`` from ``k`` sampled student answers."""

    name = "pass-at-k"
    version = "1"

    def __init__(
        self,
        student: LLM,
        *,
        k: int = 4,
        temperature: float = 0.8,
        max_tokens: int = 256,
        seed: int = 0,
        batch_size: int = 8,
    ):
        from syllabus.curate.scorers.verify import VerifierScore

        self.student, self.k, self.batch_size = student, k, batch_size
        self.params = SamplingParams(max_tokens=max_tokens, temperature=temperature, seed=seed)
        self.verifier = VerifierScore()

    def map_batch(self, batch: Batch) -> Iterable[Example]:
        requests = [
            GenerateRequest(messages=tuple(e.messages), params=self.params, sample_index=i)
            for e in batch
            for i in range(self.k)
        ]
        texts = [g.text for g in self.student.generate(requests)]
        for n, e in enumerate(batch):
            verdicts = []
            for text in texts[n * self.k : (n + 1) * self.k]:
                probe = replace(e, completion=text, scores={}, meta=dict(e.meta))
                self.verifier.map(probe)
                if "verify.pass" in probe.scores:
                    verdicts.append(probe.scores["verify.pass"])
            if verdicts:
                e.set_score(NS, "pass_rate", sum(verdicts) / len(verdicts))
                e.set_score(NS, "pass_any", float(any(verdicts)))
            else:
                e.set_meta(NS, "skipped", "nothing to verify: no checks and no reference")
        return batch

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "student": self.student.model_id,
            "k": self.k,
            "params": self.params.to_dict(),
        }


RATE = PromptTemplate(
    "difficulty-rate",
    user=(
        "Rate how well the answer responds to the instruction, from 1 (useless) to 10 (excellent). "
        "Reply with the number only.\n\nInstruction:\n{instruction}\n\nAnswer:\n{answer}\n\nRating:"
    ),
)
_NUMBER = re.compile(r"\b(10|[1-9])(?:\s*/\s*10)?\b")


def parse_rating(text: str) -> float | None:
    """The first rating 1-10 in a judge's reply, or None."""
    m = _NUMBER.search(text)
    return float(m.group(1)) if m else None


class JudgeGap(BatchMap):
    """TAPIR's MFD: ``judge(teacher answer) - judge(student answer)`` on a 1-10 scale."""

    name = "judge-gap"
    version = "1"

    def __init__(self, student: LLM, judge: LLM, *, max_tokens: int = 256, batch_size: int = 8):
        self.student, self.judge, self.batch_size = student, judge, batch_size
        self.answer_params = SamplingParams(max_tokens=max_tokens)
        self.rate_params = SamplingParams(max_tokens=8)

    def map_batch(self, batch: Batch) -> Iterable[Example]:
        todo = [e for e in batch if e.completion]
        student = [
            g.text
            for g in self.student.generate(
                [GenerateRequest(messages=tuple(e.messages), params=self.answer_params) for e in todo]
            )
        ]
        rate = [
            GenerateRequest(
                messages=tuple(RATE.render(instruction=e.prompt, answer=answer)),
                params=self.rate_params,
            )
            for e, s in zip(todo, student, strict=True)
            for answer in (e.completion or "", s)
        ]
        ratings = [parse_rating(g.text) for g in self.judge.generate(rate)]
        for i, (e, s) in enumerate(zip(todo, student, strict=True)):
            teacher_rating, student_rating = ratings[2 * i], ratings[2 * i + 1]
            e.set_meta(NS, "student_answer", s)
            if teacher_rating is None or student_rating is None:
                e.set_meta(NS, "error", "judge gave no rating 1-10")
                continue
            e.set_score(NS, "teacher_rating", teacher_rating)
            e.set_score(NS, "student_rating", student_rating)
            e.set_score(NS, "mfd", teacher_rating - student_rating)
        return batch

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "student": self.student.model_id,
            "judge": self.judge.model_id,
            "template": RATE.hash,
        }
