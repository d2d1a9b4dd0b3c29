"""Prompt-only methods: zero-shot CoT, few-shot CoT with demonstration selection, SKiC.

They rewrite the request and make one call to the inner model.

>>> from syllabus.llm.fake import EchoLLM
>>> print(ZeroShotCoT(EchoLLM()).chat("What is 2+3?"))
What is 2+3?
<BLANKLINE>
Let's think step by step. End with the sentence "The answer is N."
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from syllabus.errors import ConfigError, DataError
from syllabus.llm.base import GenerateRequest
from syllabus.methods.base import (
    Method,
    MethodGeneration,
    Spent,
    append_to_prompt,
    last_user_text,
    replace_last_user_text,
)
from syllabus.record import Example, Message, content_hash

__all__ = ["Demo", "FewShot", "SKiC", "ZeroShotCoT", "count_steps", "load_demos", "select_demos"]

COT_TRIGGER = "Let's think step by step."
ANSWER_HINT = 'End with the sentence "The answer is N."'


class _OneCall(Method):
    """A method that rewrites each request and asks the inner model once."""

    def rewrite(self, request: GenerateRequest) -> GenerateRequest:
        raise NotImplementedError

    def answer(self, requests: Sequence[GenerateRequest]) -> list[MethodGeneration]:
        rewritten = [self.rewrite(r) for r in requests]
        out = []
        for r, g in zip(rewritten, self.inner.generate(rewritten), strict=True):
            inner = {"inner": g.trace} if isinstance(g, MethodGeneration) and g.trace else {}
            out.append(Spent().add(g).generation(g.text, self.model_id, finish_reason=g.finish_reason, **self.trace(r), **inner))
        return out

    def trace(self, request: GenerateRequest) -> dict[str, Any]:
        return {}


@dataclass
class CoTOptions:
    """trigger: the sentence added after the question; answer_hint: also ask for
    "The answer is N." (empty text: no hint)."""

    trigger: str = COT_TRIGGER
    answer_hint: str = ANSWER_HINT


class ZeroShotCoT(_OneCall):
    """Zero-shot chain of thought: the question, then "Let's think step by step." and a
    reminder of the answer format the task's extractor reads."""

    name = "cot"
    Options = CoTOptions

    def rewrite(self, request: GenerateRequest) -> GenerateRequest:
        suffix = " ".join(s for s in (self.options.trigger, self.options.answer_hint) if s)
        return append_to_prompt(request, "\n\n" + suffix)


# -- demonstrations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Demo:
    """One worked demonstration: a question and its (reasoned) answer."""

    question: str
    solution: str
    id: str = ""


def count_steps(solution: str) -> int:
    """Reasoning steps in a solution: its non-empty lines, or its sentences when it is one line.

    >>> count_steps("3 * 4 = 12. 12 + 5 = 17. The answer is 17."), count_steps("a\\n\\nb")
    (3, 2)
    """
    lines = [ln for ln in solution.splitlines() if ln.strip()]
    if len(lines) > 1:
        return len(lines)
    return len([s for s in re.split(r"(?<=[.!?])\s+", solution.strip()) if s])


def demos_from_examples(examples: Sequence[Example]) -> list[Demo]:
    """Demonstrations from examples that carry an answer (``completion`` or ``reference``)."""
    out = []
    for e in examples:
        users = [m["content"] for m in e.messages if m["role"] == "user"]
        solution = e.completion or e.reference
        if users and solution:
            out.append(Demo(users[-1], solution, e.id))
    return out


def load_demos(path: str | Path) -> list[Demo]:
    """Demonstrations from a JSONL file of examples (``messages`` + ``completion``/``reference``)."""
    from syllabus.jsonl import read_jsonl

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"pool={path}: no such file; give a JSONL file of examples with a completion or reference")
    demos = demos_from_examples(list(read_jsonl(path)))
    if not demos:
        raise DataError(f"{path}: no example has both a user message and a completion or reference")
    return demos


SELECTORS = ("random", "bm25", "complex", "confusing")


def confusion(question: str, embedder: Any) -> float:
    """I³C-Select's idea of a confusing problem: one whose least relevant condition is far
    from the rest, ``1 - min_i (s_q(i) + s_c(i)) / 2`` (see :mod:`syllabus.methods.i3c`).

    The paper's exact formula was not published; this is the same relevance I³C flags with.
    """
    from syllabus.methods.i3c import _problem_part, relevance, split_problem

    conditions, q = split_problem(_problem_part(question)[1])
    pairs = relevance(conditions, q, embedder)
    return 1.0 - min(((a + b) / 2 for a, b in pairs), default=1.0)


def select_demos(
    pool: Sequence[Demo], query: str, k: int, how: str, *, seed: int = 0, confusions: Sequence[float] | None = None
) -> list[Demo]:
    """``k`` demonstrations for ``query`` from ``pool``.

    * ``random``: a seeded draw per query (the same query always gets the same demos);
    * ``bm25``: the ``k`` most similar questions by BM25, most similar last (nearest the query);
    * ``complex``: Complex-CoT, the ``k`` solutions with the most reasoning steps;
    * ``confusing``: I³C-Select, the ``k`` most confusing problems, by ``confusions`` (one
      :func:`confusion` per pool entry).

    A demo whose question is the query itself is never chosen.

    >>> pool = [Demo("a cat sat", "1."), Demo("dogs bark loud", "1. 2. 3."), Demo("a cat ran", "1. 2.")]
    >>> [d.question for d in select_demos(pool, "where the cat sat", 2, "bm25")]
    ['a cat ran', 'a cat sat']
    >>> [d.question for d in select_demos(pool, "q", 1, "complex")]
    ['dogs bark loud']
    """
    scores = dict(zip((d.id or d.question for d in pool), confusions or [], strict=False))
    pool = [d for d in pool if d.question.strip() != query.strip()]
    if k > len(pool):
        raise ConfigError(f"few-shot: k={k} but the demonstration pool has {len(pool)}; lower k or give a larger pool=")
    if how == "random":
        return random.Random(f"{seed}:{content_hash(query)}").sample(list(pool), k)
    if how == "bm25":
        from syllabus.methods.bm25 import BM25

        best = BM25([d.question for d in pool]).top(query, k)
        return [pool[i] for i in reversed(best)]
    if how == "complex":
        ranked = sorted(range(len(pool)), key=lambda i: (-count_steps(pool[i].solution), i))
        return [pool[i] for i in ranked[:k]]
    if how == "confusing":
        if confusions is None:
            raise ConfigError("few-shot select=confusing needs a confusion score per demonstration (FewShot computes them)")
        ranked = sorted(range(len(pool)), key=lambda i: (-scores[pool[i].id or pool[i].question], i))
        return [pool[i] for i in ranked[:k]]
    raise ConfigError(f"few-shot select={how!r}: use one of {', '.join(SELECTORS)}")


def with_demos(request: GenerateRequest, demos: Sequence[Demo]) -> GenerateRequest:
    """Demonstrations as earlier chat turns (after any system message), or as Q:/A: blocks
    before a raw prompt."""
    if request.prompt is not None:
        blocks = "".join(f"Q: {d.question}\nA: {d.solution}\n\n" for d in demos)
        return replace_last_user_text(request, blocks + request.prompt)
    messages = list(request.messages or ())
    system = [m for m in messages if m["role"] == "system"]
    rest = [m for m in messages if m["role"] != "system"]
    shots: list[Message] = []
    for d in demos:
        shots += [{"role": "user", "content": d.question}, {"role": "assistant", "content": d.solution}]
    from dataclasses import replace

    return replace(request, messages=(*system, *shots, *rest))


@dataclass
class FewShotOptions:
    """k: demonstrations per question; select: random, bm25, complex or confusing; pool: a
    JSONL file of worked examples (default: the evaluated task's own demonstration pool);
    seed: of the random draw; encoder: the sentence encoder of select=confusing."""

    k: int = 4
    select: Literal["random", "bm25", "complex", "confusing"] = "random"
    pool: str = ""
    seed: int = 0
    encoder: str = "builtin:all-minilm-l6-v2"


class FewShot(_OneCall):
    """Few-shot chain of thought: ``k`` worked solutions before the question.

    The pool is a file (``pool=demos.jsonl``) or, under ``syllabus eval``, the task's own
    :meth:`~syllabus.evaluate.task.Task.fewshot_pool` (never the evaluated items).
    """

    name = "few-shot"
    Options = FewShotOptions
    accepts: ClassVar[tuple[str, ...]] = ("demos", "embedder")

    def __init__(self, inner: Any, *, demos: Sequence[Demo] | None = None, embedder: Any | None = None, **options: Any):
        super().__init__(inner, **options)
        self.pool: list[Demo] | None = list(demos) if demos is not None else (load_demos(self.options.pool) if self.options.pool else None)
        self._embedder = embedder
        self._confusions: list[float] | None = None

    def _confusion_scores(self) -> list[float] | None:
        """One confusion score per pool entry, computed once (select=confusing only)."""
        if self.options.select != "confusing" or self.pool is None:
            return None
        if self._confusions is None:
            if self._embedder is None:
                from syllabus.curate.embed import load_embedder

                self._embedder = load_embedder(self.options.encoder)
            self._confusions = [confusion(d.question, self._embedder) for d in self.pool]
        return self._confusions

    def validate(self) -> None:
        if self.options.k < 1:
            raise ConfigError(f"few-shot k={self.options.k}: give k >= 1")

    def bind_task(self, task: Any) -> None:
        super().bind_task(task)
        if not self.options.pool:
            self.pool = demos_from_examples(task.fewshot_pool())
            self._confusions = None
            if not self.pool:
                raise ConfigError(f"few-shot: task {task.name!r} has no demonstration pool; give pool=FILE.jsonl")

    def rewrite(self, request: GenerateRequest) -> GenerateRequest:
        if self.pool is None:
            raise ConfigError("few-shot needs demonstrations: give pool=FILE.jsonl (or run it under `syllabus eval`)")
        demos = select_demos(self.pool, last_user_text(request), self.options.k, self.options.select,
                             seed=self.options.seed, confusions=self._confusion_scores())
        return with_demos(request, demos)

    def trace(self, request: GenerateRequest) -> dict[str, Any]:
        return {"demos": [m["content"][:80] for m in request.messages or () if m["role"] == "assistant"]}


# -- SKiC --------------------------------------------------------------------------------

# The default skills context, for arithmetic word problems. Each skill has a name, what it
# does and a micro-example; the compositional exemplars cite the skills step by step.
ARITHMETIC_SKILLS = """Basic skills:
Skill <relevant>: keep only the sentences that the question depends on. Example: "Ana has 3 apples. Ana's shoe size is 38. How many apples does Ana have?" The shoe size is not needed.
Skill <add>: add two numbers. Example: 27 + 15 = 42.
Skill <subtract>: take one number from another. Example: 50 - 18 = 32.
Skill <multiply>: repeated addition of equal groups. Example: 4 boxes of 6 pens: 4 * 6 = 24.
Skill <divide>: share a number into equal parts. Example: 36 cards shared by 4 friends: 36 / 4 = 9.

Worked examples that compose the skills:
Problem: Kofi buys 3 pens that cost $4 each. Kofi's sister is 12 years old. Kofi also buys a ruler for $2. How many dollars does Kofi spend?
Solution: Using Skill <relevant>: the sister's age is not needed. Using Skill <multiply>: the pens cost 3 * 4 = 12 dollars. Using Skill <add>: with the ruler, 12 + 2 = 14 dollars. The answer is 14.

Problem: A baker makes 48 rolls and puts them into bags of 6. The baker sells 5 bags. How many bags are left?
Solution: Using Skill <divide>: 48 / 6 = 8 bags. Using Skill <subtract>: 8 - 5 = 3 bags are left. The answer is 3."""


@dataclass
class SKiCOptions:
    """skills: a text file with the skills and compositional exemplars (default: the
    built-in arithmetic skills); instruction: what the model is told to do with them."""

    skills: str = ""
    instruction: str = "Solve the problem below by composing the skills above; name each skill you use, as in the examples."


class SKiC(_OneCall):
    """Skills-in-Context: the basic skills and exemplars that compose them, in one context,
    before the question."""

    name = "skic"
    Options = SKiCOptions

    def __init__(self, inner: Any, **options: Any):
        super().__init__(inner, **options)
        if self.options.skills:
            path = Path(self.options.skills)
            if not path.exists():
                raise ConfigError(f"skic skills={path}: no such file; write the skills and exemplars as plain text")
            self.context = path.read_text(encoding="utf-8").strip()
        else:
            self.context = ARITHMETIC_SKILLS

    def rewrite(self, request: GenerateRequest) -> GenerateRequest:
        return replace_last_user_text(request, f"{self.context}\n\n{self.options.instruction}\n\n{last_user_text(request)}")
