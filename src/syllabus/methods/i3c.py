"""I³C: identify irrelevant conditions, let the model verify them, tell the solver to ignore them.

1. **Split** the problem into sentences: the last is the question, the others are the
   conditions. The problem is the last paragraph of the last user message (an
   instruction above it stays as it is), without a leading label such as ``Problem:``.
2. **Flag** conditions with low semantic relevance. With unit-length sentence embeddings,
   ``s_q(i)`` is the cosine of condition ``i`` with the question and ``s_c(i)`` its mean
   cosine with the other conditions. ``rule=threshold`` (the paper's rule) flags every
   condition with ``s_q < theta`` or ``s_c < theta``; ``theta`` depends on the encoder and
   the paper gives no value. ``rule=lowest`` (the default) needs no per-encoder threshold:
   it flags the one condition whose relevance ``(s_q + s_c) / 2`` is the lowest of the
   problem, if it lies at least ``margin`` below the mean relevance of the others. It
   assumes at most one irrelevant sentence per problem, as in GSM-IC.
3. **Verify** each flagged condition with the plain model (one short call each):
   is it relevant to answering the question? (``verify=false`` trusts the flags.)
4. **Instruct**: the conditions verified irrelevant are named in an instruction put before
   the prompt, and the inner method (direct, CoT, self-consistency, ...) solves it. With
   none, the instruction only says that irrelevant information may be ignored.

The embedder is any object with ``encode(texts) -> unit-length rows`` (see
:mod:`syllabus.curate.embed`), named by the option ``encoder`` or given in Python as
``I3C(llm, embedder=...)``; ``encoder=fake:bow`` is a bag-of-words for dry runs.

>>> from syllabus.curate.embed import HashingEmbedder
>>> problem = "Ana buys 3 pens at $2 each. The moon is far away. Ana buys a bag for $5. How much does Ana spend on pens and a bag?"
>>> split_problem(problem)[1]
'How much does Ana spend on pens and a bag?'
>>> [c for c, f in zip(split_problem(problem)[0], flag_conditions(problem, HashingEmbedder())) if f]
['The moon is far away.']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from syllabus.errors import ConfigError
from syllabus.llm.base import LLM, GenerateRequest
from syllabus.methods.base import Method, MethodGeneration, Spent, last_user_text, replace_last_user_text

__all__ = ["I3C", "flag_conditions", "relevance", "split_problem"]

# A sentence ends at . ! or ? followed by space and a capital, a digit or a quote; "$3.50"
# and "e.g. the" do not end one.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'$(])")
_LABEL = re.compile(r"^\s*(?:problem|question|q)\s*:\s*", re.IGNORECASE)

VERIFY_TEMPLATE = (
    "Question: {question}\nIs the condition \"{condition}\" needed to answer this question? "
    "It is needed if the answer would change without it. Reply with one word, Relevant or Irrelevant."
)
IGNORE_TEMPLATE = "Some sentences in this problem are irrelevant to its question and must be ignored: {conditions}\n\n"
NO_FLAG_INSTRUCTION = "Feel free to ignore irrelevant information given in the problem.\n\n"


def split_problem(text: str) -> tuple[list[str], str]:
    """``(conditions, question)`` of a problem text (its last sentence is the question)."""
    sentences = [s.strip() for s in _SENTENCE_END.split(_LABEL.sub("", text.strip())) if s.strip()]
    if not sentences:
        return [], ""
    return sentences[:-1], sentences[-1]


def _problem_part(message: str) -> tuple[str, str]:
    """``(head, problem)``: the last paragraph of a message is the problem."""
    parts = re.split(r"\n\s*\n", message.rstrip())
    head = message[: len(message.rstrip()) - len(parts[-1])]
    return head, parts[-1]


def relevance(conditions: Sequence[str], question: str, embedder: Any) -> list[tuple[float, float]]:
    """``(s_q, s_c)`` per condition: cosine with the question, mean cosine with the other conditions.

    With a single condition ``s_c`` is 1 (nothing to compare it with).
    """
    if not conditions:
        return []
    vectors = embedder.encode([*conditions, question])
    cond, q = vectors[:-1], vectors[-1]
    sims = cond @ cond.T
    n = len(conditions)
    out = []
    for i in range(n):
        s_c = float((sims[i].sum() - sims[i, i]) / (n - 1)) if n > 1 else 1.0
        out.append((float(cond[i] @ q), s_c))
    return out


def flag_conditions(problem: str, embedder: Any, *, rule: str = "lowest", theta: float = 0.2, margin: float = 0.05) -> list[bool]:
    """Whether each condition of ``problem`` is flagged as possibly irrelevant."""
    conditions, question = split_problem(problem)
    pairs = relevance(conditions, question, embedder)
    if rule == "threshold":
        return [min(s_q, s_c) < theta for s_q, s_c in pairs]
    if rule == "lowest":
        scores = [(s_q + s_c) / 2 for s_q, s_c in pairs]
        if len(scores) < 2:
            return [False] * len(scores)
        low = min(range(len(scores)), key=lambda i: scores[i])
        others = [s for i, s in enumerate(scores) if i != low]
        gap = sum(others) / len(others) - scores[low]
        return [i == low and gap >= margin for i in range(len(scores))]
    raise ConfigError(f"i3c rule={rule!r}: use lowest or threshold")


def _irrelevant(verdict: str) -> bool:
    """Whether a verification reply says the condition is irrelevant.

    >>> _irrelevant("Irrelevant."), _irrelevant("It is not relevant"), _irrelevant("Relevant")
    (True, True, False)
    """
    v = verdict.lower()
    return "irrelevant" in v or "not relevant" in v or "not needed" in v or v.strip().startswith("no")


@dataclass
class I3COptions:
    """encoder: the sentence encoder spec (builtin:all-minilm-l6-v2, fake:bow, hf:PATH);
    rule: lowest or threshold; theta: the threshold of rule=threshold; margin: how far below
    the others' mean the lowest relevance must be (rule=lowest); verify: ask the model to
    confirm each flagged condition (false: trust the flags)."""

    encoder: str = "builtin:all-minilm-l6-v2"
    rule: Literal["lowest", "threshold"] = "lowest"
    theta: float = 0.2
    margin: float = 0.05
    verify: bool = True


class I3C(Method):
    """I³C in front of any inner method (``i3c+cot``, ``i3c+self-consistency:k=8``).

    ``embedder`` given in Python (any object with ``encode``) replaces the ``encoder`` option.
    """

    name = "i3c"
    Options = I3COptions
    accepts: ClassVar[tuple[str, ...]] = ("embedder",)

    def __init__(self, inner: LLM, *, embedder: Any | None = None, **options: Any):
        super().__init__(inner, **options)
        self._embedder = embedder

    @property
    def embedder(self) -> Any:
        if self._embedder is None:  # loaded on first use: listing or validating loads no model
            from syllabus.curate.embed import load_embedder

            self._embedder = load_embedder(self.options.encoder)
        return self._embedder

    @property
    def cache_id(self) -> str:
        model = getattr(self._embedder, "model_id", None) if self._embedder is not None else None
        return super().cache_id + (f",encoder={model}" if model else "")

    def answer(self, requests: Sequence[GenerateRequest]) -> list[MethodGeneration]:
        o = self.options
        spent = [Spent() for _ in requests]
        flagged: list[list[str]] = []
        questions: list[str] = []
        for r in requests:
            conditions, question = split_problem(_problem_part(last_user_text(r))[1])
            flags = flag_conditions(" ".join([*conditions, question]), self.embedder, rule=o.rule, theta=o.theta, margin=o.margin)
            flagged.append([c for c, f in zip(conditions, flags, strict=True) if f])
            questions.append(question)
        verdicts: list[list[str]] = [[] for _ in requests]
        if o.verify:
            asks = [(i, c) for i, cs in enumerate(flagged) for c in cs]
            replies = self.base.generate([
                GenerateRequest.chat([{"role": "user", "content": VERIFY_TEMPLATE.format(question=questions[i], condition=c)}],
                                     max_tokens=16, temperature=0.0)
                for i, c in asks
            ]) if asks else []
            for (i, _), g in zip(asks, replies, strict=True):
                spent[i].add(g)
                verdicts[i].append(g.text)
            ignored = [[c for c, v in zip(cs, verdicts[i], strict=True) if _irrelevant(v)] for i, cs in enumerate(flagged)]
        else:
            ignored = flagged
        rewritten = []
        for r, ig in zip(requests, ignored, strict=True):
            instruction = IGNORE_TEMPLATE.format(conditions=" ".join(f'"{c}"' for c in ig)) if ig else NO_FLAG_INSTRUCTION
            rewritten.append(replace_last_user_text(r, instruction + last_user_text(r)))
        gens = self.inner.generate(rewritten)
        return [
            s.add(g).generation(g.text, self.model_id, finish_reason=g.finish_reason, flagged=f, verdicts=v, ignored=ig,
                                **({"inner": g.trace} if isinstance(g, MethodGeneration) and g.trace else {}))
            for s, g, f, v, ig in zip(spent, gens, flagged, verdicts, ignored, strict=True)
        ]
