"""Preference pairs for DPO, built three ways; each builder is a pipeline Step.

Every kept record is a child of its prompt (id ``<id>-pref<i>``) with ``meta["pref.chosen"]``,
``meta["pref.rejected"]`` and ``meta["pref.source"]``, the form
:func:`syllabus.formats.to_preference` exports and :func:`syllabus.train.dpo.train_dpo`
trains on. A prompt that yields no pair is dropped with a reason (the runner writes it to
``excluded/``), never silently.

- :class:`VerifiedSamplePairs` (``source="verifier"``): the student samples k answers to
  each prompt; each is verified against the example's attached checks and reference
  answer (:class:`~syllabus.curate.scorers.verify.VerifierScore`); a passing and a failing
  sample make a pair. Optionally, when no sample passes, the example's own (teacher)
  completion is the chosen one if it verifies.
- :class:`RefinementPairs` (``source="refinement"``, after SPaR): a failing student answer
  goes to a refiner model with the failed checks' descriptions and a request for the
  smallest edit that fixes them; a refinement that verifies gives the pair (refined,
  original). The two differ only where the instruction cares, which independent samples
  do not guarantee (SPaR's argument).
- :class:`JudgePairs` (``source="judge"``): two responses (by default the teacher's
  completion and the student's answer) compared by
  :class:`~syllabus.curate.scorers.judge.PairwiseJudge` in both orders; a preference that
  survives the swap gives a pair, a position-driven or tied verdict is dropped.

>>> from syllabus.llm.fake import FunctionLLM
>>> student = FunctionLLM(lambda r: ["the answer is 4", "the answer is 5"][r.sample_index % 2])
>>> ex = Example.from_prompt("2+2?", reference="4")
>>> [pair] = VerifiedSamplePairs(student, k=2)([ex])
>>> pair.meta["pref.chosen"], pair.meta["pref.rejected"], pair.meta["pref.source"]
('the answer is 4', 'the answer is 5', 'verifier')
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any

from syllabus.errors import ConfigError
from syllabus.llm.base import LLM, GenerateRequest, SamplingParams
from syllabus.methods.spar import Node, refinement_search
from syllabus.pipeline.step import Step, StepContext
from syllabus.prompts import PromptTemplate
from syllabus.record import Example

__all__ = ["JudgePairs", "RefinementPairs", "Verdict", "VerifiedSamplePairs", "verdict"]

NS = "pref"


# -- verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Whether ``text`` verifies for an example: ``passed`` is ``None`` when nothing can be checked.

    ``problems`` says in words what fails (a failed check's own instruction, or a wrong
    final answer): the refiner's guidance. ``checks_rate`` ranks partial fixes.
    """

    passed: bool | None
    problems: tuple[str, ...] = ()
    checks_rate: float = 0.0
    error: str | None = None


def verdict(example: Example, text: str, *, checks_key: str = "checks", extract: str = "auto") -> Verdict:
    """Verify ``text`` as ``example``'s answer with :class:`VerifierScore` (the example is not changed).

    >>> ex = Example.from_prompt("Say hi in lowercase.", meta={"checks": [{"name": "case.lowercase"}]})
    >>> verdict(ex, "hi").passed, verdict(ex, "Hi").problems
    (True, ('Write your entire response in lowercase letters; do not use a single capital letter.',))
    """
    from syllabus.checks import checks_from_meta
    from syllabus.curate.scorers.verify import VerifierScore

    probe = replace(example, completion=text, scores={}, meta=dict(example.meta))
    VerifierScore(checks_key=checks_key, extract=extract).map(probe)  # type: ignore[arg-type]
    if "verify.error" in probe.meta:
        return Verdict(None, error=str(probe.meta["verify.error"]))
    if "verify.pass" not in probe.scores:
        return Verdict(None, error="no checks and no reference to verify against")
    problems: list[str] = []
    failed = set(probe.meta.get("verify.failed_checks", []))
    if failed:
        problems += [c.describe() for c in checks_from_meta(example.meta, checks_key) if c.name in failed]
    if probe.scores.get("verify.answer_correct") == 0.0:
        problems.append(f"The final answer ({probe.meta.get('verify.answer') or 'none found'}) is not correct.")
    rate = probe.scores.get("verify.checks_rate", 1.0) + probe.scores.get("verify.answer_correct", 1.0)
    return Verdict(probe.scores["verify.pass"] == 1.0, tuple(problems), rate / 2)


# -- shared shape ---------------------------------------------------------------------------------


class _PairStep(Step):
    """Batches of examples in, pair records out; prompts without a pair are excluded with a reason."""

    batch_size: int = 8

    def run(self, examples: Iterable[Example], ctx: StepContext) -> Iterator[Example]:
        it = iter(examples)
        while batch := list(islice(it, self.batch_size)):
            for example, result in zip(batch, self.pairs(batch), strict=True):
                if isinstance(result, str):
                    ctx.exclude(example, self.name, result)
                    continue
                for i, (chosen, rejected, extra) in enumerate(result):
                    yield _pair_record(example, i, chosen, rejected, self.source, self.name, extra)

    source: str = ""

    def pairs(self, batch: Sequence[Example]) -> list[list[tuple[str, str, dict[str, object]]] | str]:
        """For each example, its pairs ``(chosen, rejected, extra meta)`` or the reason it has none."""
        raise NotImplementedError


def _pair_record(example: Example, index: int, chosen: str, rejected: str, source: str, step: str, extra: dict[str, object]) -> Example:
    child = example.derive(suffix=f"pref{index}", step=step)
    child.meta.update({"pref.chosen": chosen, "pref.rejected": rejected, "pref.source": source})
    for key, value in extra.items():
        child.set_meta(NS, key, value)
    return child


def _sample(llm: LLM, examples: Sequence[Example], params: SamplingParams, k: int) -> list[list[str]]:
    """k answers per example, in one batch (sample indices 0..k-1 so a cache replays them)."""
    requests = [GenerateRequest(messages=tuple(e.messages), params=params, sample_index=i) for e in examples for i in range(k)]
    texts = [g.text for g in llm.generate(requests)]
    return [texts[j * k : (j + 1) * k] for j in range(len(examples))]


# -- 1. verifier outcomes on the student's own samples ------------------------------------------


class VerifiedSamplePairs(_PairStep):
    """Pair a passing with a failing sample of the student's own answers to a prompt.

    Options:
        k: samples per prompt (temperature must be > 0 so they differ).
        max_pairs: pairs per prompt at most (distinct passing x distinct failing samples, in order).
        teacher_fallback: when no sample passes, use the example's completion as chosen if it verifies.
        checks_key, extract: as in :class:`~syllabus.curate.scorers.verify.VerifierScore`.

    Example::

        Pipeline([VerifiedSamplePairs(load_llm("builtin:gemma-3-270m"), k=8)]).run(prompts, "runs/x/r01/02_pairs")
    """

    name = "pairs-verified"
    version = "1"
    source = "verifier"

    def __init__(self, student: LLM, *, k: int = 4, temperature: float = 0.8, max_tokens: int = 256, seed: int = 0,
                 max_pairs: int = 1, teacher_fallback: bool = True, checks_key: str = "checks", extract: str = "auto",
                 batch_size: int = 8):
        if k < 2:
            raise ConfigError(f"pairs-verified: k must be >= 2 (a pair needs two samples), got {k}")
        if temperature <= 0:
            raise ConfigError("pairs-verified: temperature must be > 0, or the k samples are the same answer")
        if max_pairs < 1:
            raise ConfigError(f"pairs-verified: max_pairs must be >= 1, got {max_pairs}")
        self.student, self.k, self.max_pairs, self.teacher_fallback = student, k, max_pairs, teacher_fallback
        self.params = SamplingParams(max_tokens=max_tokens, temperature=temperature, seed=seed)
        self.checks_key, self.extract, self.batch_size = checks_key, extract, batch_size

    def pairs(self, batch: Sequence[Example]) -> list[list[tuple[str, str, dict[str, object]]] | str]:
        return [self._pair(e, samples) for e, samples in zip(batch, _sample(self.student, batch, self.params, self.k), strict=True)]

    def _pair(self, example: Example, samples: list[str]) -> list[tuple[str, str, dict[str, object]]] | str:
        texts = list(dict.fromkeys(samples))  # identical samples would make identical pairs
        verdicts = [verdict(example, t, checks_key=self.checks_key, extract=self.extract) for t in texts]
        if any(v.passed is None for v in verdicts):
            return "unverifiable: no checks and no reference (or a malformed check)"
        good = [t for t, v in zip(texts, verdicts, strict=True) if v.passed]
        bad = [t for t, v in zip(texts, verdicts, strict=True) if not v.passed]
        info: dict[str, object] = {"samples": len(samples), "passed": len(good)}
        if not bad:
            return "every sample passes: no rejected answer"
        tried_teacher = not good and self.teacher_fallback and bool(example.completion)
        if tried_teacher and self._passes(example, example.completion or ""):
            good, info = [example.completion or ""], {**info, "chosen_from": "teacher"}
        if not good:
            return "no sample passes and the completion does not verify" if tried_teacher else "no sample passes"
        return [(c, r, info) for c, r in list(zip(good, bad))[: self.max_pairs]]

    def _passes(self, example: Example, text: str) -> bool:
        return verdict(example, text, checks_key=self.checks_key, extract=self.extract).passed is True

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "student": self.student.model_id, "k": self.k, "max_pairs": self.max_pairs,
                "temperature": self.params.temperature, "teacher_fallback": self.teacher_fallback}


# -- 2. SPaR-style refinements ---------------------------------------------------------------------

REFINE = PromptTemplate(
    "pairs-refine",
    user=(
        "A response to the task below fails some of the task's requirements. Fix it with the smallest "
        "possible edits: change only what the listed problems need, keep every other word as it is, and do "
        "not add comments about the changes.\n\nTask:\n{task}\n\nResponse:\n{response}\n\nProblems:\n{problems}\n\n"
        "Write only the corrected response."
    ),
)


class RefinementPairs(_PairStep):
    """SPaR-style pairs: (a verified minimal refinement of a failing answer, the failing answer).

    The student's answer is the example's ``completion`` (e.g. after ``Respond(student)``),
    or, given ``student``, its greedy answer. The search is
    :func:`~syllabus.methods.spar.refinement_search` (breadth-first, one node kept per level):
    each round the refiner proposes ``branch`` edits of the current answer; the first that
    verifies wins; otherwise the one that fixes the most becomes the next round's answer,
    for at most ``depth`` rounds. ``min_similarity`` (difflib ratio, 0..1) drops
    refinements that rewrote rather than edited the answer.

    Example::

        steps = [Respond(student_llm), RefinementPairs(teacher_llm, depth=2, branch=3)]
    """

    name = "pairs-refine"
    version = "1"
    source = "refinement"

    def __init__(self, refiner: LLM, *, student: LLM | None = None, depth: int = 2, branch: int = 2,
                 temperature: float = 0.7, max_tokens: int = 512, seed: int = 0, min_similarity: float = 0.0,
                 checks_key: str = "checks", extract: str = "auto", batch_size: int = 8):
        if depth < 1 or branch < 1:
            raise ConfigError(f"pairs-refine: depth and branch must be >= 1, got {depth} and {branch}")
        if not 0 <= min_similarity <= 1:
            raise ConfigError(f"pairs-refine: min_similarity must be in [0, 1], got {min_similarity}")
        self.refiner, self.student, self.depth, self.branch = refiner, student, depth, branch
        # One greedy proposal is all a branch of 1 can use; more need sampling to differ.
        self.params = SamplingParams(max_tokens=max_tokens, temperature=temperature if branch > 1 else 0.0, seed=seed)
        self.min_similarity, self.checks_key, self.extract, self.batch_size = min_similarity, checks_key, extract, batch_size

    def pairs(self, batch: Sequence[Example]) -> list[list[tuple[str, str, dict[str, object]]] | str]:
        if self.student is not None:
            answers = [s[0] for s in _sample(self.student, batch, SamplingParams(max_tokens=self.params.max_tokens), 1)]
        else:
            answers = [e.completion for e in batch]
        out: list[list[tuple[str, str, dict[str, object]]] | str] = ["" for _ in batch]
        todo: list[int] = []  # example indices whose answer fails: the roots of a search
        for i, (example, answer) in enumerate(zip(batch, answers, strict=True)):
            if answer is None:
                out[i] = "no student answer (completion) to refine"
                continue
            v = self._verify(example, answer)
            if v.passed is None:
                out[i] = "unverifiable: no checks and no reference (or a malformed check)"
            elif v.passed:
                out[i] = "student answer already passes: nothing to refine"
            else:
                todo.append(i)

        def judge(items: list[tuple[int, str]]) -> list[tuple[float, bool, dict[str, Any]]]:
            verdicts = []
            for k, text in items:
                i = todo[k]
                v = self._verify(batch[i], text)
                if not v.passed or not text:  # an empty refinement is no fix, whatever the checks say
                    verdicts.append((v.checks_rate if text else -math.inf, False, {"verdict": v}))
                    continue
                similarity = round(difflib.SequenceMatcher(None, answers[i] or "", text).ratio(), 4)
                if similarity < self.min_similarity:  # a rewrite, not an edit: neither a pair nor a step
                    verdicts.append((-math.inf, False, {"verdict": v}))
                else:
                    verdicts.append((v.checks_rate, True, {"verdict": v, "similarity": similarity}))
            return verdicts

        def propose(items: list[tuple[int, Node]]) -> list[list[str]]:
            requests = [
                GenerateRequest(messages=tuple(self._prompt(batch[todo[k]], node.text, node.info["verdict"])),
                                params=self.params, sample_index=b)
                for k, node in items for b in range(self.branch)
            ]
            texts = [g.text.strip() for g in self.refiner.generate(requests)]
            return [texts[n * self.branch : (n + 1) * self.branch] for n in range(len(items))]

        # Each level keeps its best node (keep=1), repeats included, so a round that fixes nothing
        # refines the same answer again.
        results = refinement_search([answers[i] or "" for i in todo], propose, judge, breadth=self.branch,
                                    depth=self.depth, search="bfs", keep=1, dedup=False)
        for i, r in zip(todo, results, strict=True):
            if r.pair() is not None:
                info: dict[str, object] = {"rounds": r.best.depth, "edit_similarity": r.best.info["similarity"]}
                out[i] = [(r.best.text, answers[i] or "", info)]
            else:
                why = " (or every one rewrote the answer)" if self.min_similarity else ""
                out[i] = "no refinement verified" + why
        return out

    def _verify(self, example: Example, text: str) -> Verdict:
        return verdict(example, text, checks_key=self.checks_key, extract=self.extract)

    @staticmethod
    def _prompt(example: Example, answer: str, v: Verdict) -> list[dict[str, str]]:
        problems = "\n".join(f"- {p}" for p in v.problems) or "- The response does not meet the task's requirements."
        return REFINE.render(task=example.prompt, response=answer, problems=problems)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "refiner": self.refiner.model_id, "depth": self.depth, "branch": self.branch,
                "min_similarity": self.min_similarity, "prompt": REFINE.hash}


# -- 3. judge preferences ------------------------------------------------------------------------------


class JudgePairs(_PairStep):
    """Pairs from a pairwise judge's position-consistent preference between two responses.

    The first response is the example's ``completion`` (the teacher's answer); the second is
    ``meta[second_key]`` or, given ``student``, the student's greedy answer. Both orders go
    to the judge (:class:`~syllabus.curate.scorers.judge.PairwiseJudge`); the pair is kept
    only when both orders name the same winner. Ties, swap-inconsistent verdicts and
    unreadable replies are dropped, each with its own reason.

    Example::

        JudgePairs(load_llm("openai:gpt-4o-mini"), student=load_llm("builtin:gemma-3-270m"))
    """

    name = "pairs-judge"
    version = "1"
    source = "judge"

    def __init__(self, judge: LLM, *, student: LLM | None = None, second_key: str = "difficulty.student_answer",
                 max_tokens: int = 256, batch_size: int = 8):
        from syllabus.curate.scorers.judge import PairwiseJudge

        self.judge, self.student, self.second_key, self.batch_size = PairwiseJudge(judge), student, second_key, batch_size
        self.params = SamplingParams(max_tokens=max_tokens)

    def pairs(self, batch: Sequence[Example]) -> list[list[tuple[str, str, dict[str, object]]] | str]:
        if self.student is not None:
            seconds: list[str | None] = [s[0] for s in _sample(self.student, batch, self.params, 1)]
        else:
            seconds = [e.meta.get(self.second_key) for e in batch]
        out: list[list[tuple[str, str, dict[str, object]]] | str] = ["" for _ in batch]
        todo = []
        for i, (example, second) in enumerate(zip(batch, seconds, strict=True)):
            if not example.completion:
                out[i] = "no first response (completion)"
            elif not second:
                out[i] = f"no second response (meta {self.second_key!r} or a student)"
            elif example.completion.strip() == str(second).strip():
                out[i] = "the two responses are identical"
            else:
                todo.append(i)
        results = self.judge.compare([(batch[i].prompt, batch[i].completion or "", str(seconds[i])) for i in todo])
        for i, result in zip(todo, results, strict=True):
            first, second = batch[i].completion or "", str(seconds[i])
            if result.winner is None:
                out[i] = "judge reply unreadable"
            elif not result.consistent:
                out[i] = "judge inconsistent under position swap"
            elif result.winner == "tie":
                out[i] = "judge: tie"
            else:
                chosen, rejected = (first, second) if result.winner == "first" else (second, first)
                winner = "teacher" if result.winner == "first" else "student"
                out[i] = [(chosen, rejected, {"winner": winner, "judge_raw": list(result.raw)})]
        return out

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "judge": self.judge.llm.model_id, "second_key": self.second_key,
                "student": self.student.model_id if self.student else None}
