"""LLM-judge scorers: a rubric judge with HoneyBee-style thresholds, and a pairwise judge.

:class:`RubricJudge` asks a judge model to score each response on several criteria, each
0-100 (by default HoneyBee's four: accuracy, relevance, completeness, reasonableness), in
one request per example. It writes ``judge.<criterion>``, ``judge.mean`` and ``judge.pass``
(1 when the mean is >= 95 and every criterion >= 90, HoneyBee's filter; both thresholds
are options). It is a scorer and never drops; a recipe filters with ``threshold``::

    steps:
      - {use: judge-rubric}
      - {use: threshold, score: judge.pass, op: ">=", value: 1}

The prompt builder and its parser come in pairs (:func:`build_rubric_messages`,
:func:`parse_rubric`); the parser never raises: an unreadable reply leaves the scores it
could not read out and keeps the reason and raw text in ``meta["judge.error"]`` and
``meta["judge.raw"]``.

:class:`PairwiseJudge` compares two responses to one instruction and asks twice, with the
responses in both orders; a win counts only when both orders agree, otherwise it is a tie,
so a judge that prefers a position cannot create a winner.

>>> from syllabus.llm.fake import ScriptedLLM
>>> from syllabus.record import Example
>>> judge = ScriptedLLM(["accuracy: 98\\nrelevance: 97\\ncompleteness: 96\\nreasonableness: 99"])
>>> [ex] = RubricJudge(judge)([Example.from_prompt("2+2?", completion="4")])
>>> ex.scores["judge.mean"], ex.scores["judge.pass"]
(97.5, 1.0)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from syllabus.errors import ConfigError, DataError
from syllabus.llm.base import LLM, GenerateRequest, SamplingParams
from syllabus.pipeline.step import Batch, BatchMap
from syllabus.record import Example, Message

__all__ = [
    "DEFAULT_CRITERIA",
    "PairwiseJudge",
    "PairwiseResult",
    "RubricJudge",
    "RubricReading",
    "build_rubric_messages",
    "parse_rubric",
    "parse_rubric_prompt",
]

NS = "judge"

#: HoneyBee's verifier criteria, with our own one-line definitions.
DEFAULT_CRITERIA: dict[str, str] = {
    "accuracy": "Everything the response states is correct: facts, numbers, code and reasoning.",
    "relevance": "The response addresses the instruction that was given, not a different or easier one.",
    "completeness": "The response does all that the instruction asks, with nothing required left out.",
    "reasonableness": "The response is coherent and sensible; its steps and claims hold together.",
}

RUBRIC_SYSTEM = "You are a strict, impartial grader of answers written by AI assistants."
RUBRIC_TEMPLATE = """\
Grade the response to the instruction below on each criterion, from 0 (fails it completely) \
to 100 (flawless). A response that dodges the question (a refusal without good reason, a \
restatement of the question, vague filler) fails every criterion. Do not reward length.

Criteria:
{criteria}

[Instruction]
{instruction}

[Response]
{response}
[End of Response]

Reply with exactly one line per criterion, in this form and order, and nothing else:
{form}"""

_SECTION = re.compile(r"\[Instruction\]\n(?P<instruction>.*?)\n\n\[Response\]\n(?P<response>.*?)\n\[End of Response\]", re.DOTALL)
# "accuracy: 90", "**Accuracy**: 90/100", "- Completeness = 85", "Relevance - 70".
_LINE = re.compile(
    r"^[\s*#>\-\d.)]*(?P<name>[a-z][a-z _/-]*?)[\s*_]*(?:\(0-100\))?[\s*_]*[:=\-\u2013]\s*[*\[\"']*\s*(?P<score>-?\d+(?:\.\d+)?)"
    r"(?P<out_of>\s*(?:/|out of)\s*10\b(?!0))?",
    re.IGNORECASE | re.MULTILINE,
)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def build_rubric_messages(instruction: str, response: str, criteria: Mapping[str, str] = DEFAULT_CRITERIA) -> list[Message]:
    """The judge's chat prompt for one response.

    >>> m = build_rubric_messages("Say hi.", "hi")
    >>> m[-1]["content"].splitlines()[-4:]
    ['accuracy: <0-100>', 'relevance: <0-100>', 'completeness: <0-100>', 'reasonableness: <0-100>']
    """
    user = RUBRIC_TEMPLATE.format(
        criteria="\n".join(f"- {name}: {definition}" for name, definition in criteria.items()),
        instruction=instruction.strip(),
        response=response.strip(),
        form="\n".join(f"{name}: <0-100>" for name in criteria),
    )
    return [{"role": "system", "content": RUBRIC_SYSTEM}, {"role": "user", "content": user}]


def parse_rubric_prompt(messages: Sequence[Message]) -> tuple[str, str]:
    """``(instruction, response)`` shown in a rubric prompt: how rule-based fake judges read it.

    >>> parse_rubric_prompt(build_rubric_messages("Say hi.", "hello"))
    ('Say hi.', 'hello')
    """
    user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    found = _SECTION.search(user)
    if found is None:
        raise DataError("not a rubric judge prompt: the [Instruction] / [Response] sections are missing")
    return found["instruction"], found["response"]


@dataclass(frozen=True)
class RubricReading:
    """What :func:`parse_rubric` read: ``scores`` per criterion found, and ``error`` if any is missing."""

    scores: dict[str, float]
    raw: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_rubric(text: str, criteria: Sequence[str] = tuple(DEFAULT_CRITERIA)) -> RubricReading:
    """Read a judge's reply; never raises.

    Accepts ``name: N`` lines (markdown, ``/100``, ``=`` or a dash are fine; ``N/10`` is
    read as a 10-point score and multiplied by 10) or a JSON object ``{"accuracy": 90, ...}``
    anywhere in the reply. Names match case-insensitively.
    Every criterion must have exactly one value in 0-100; otherwise the reading has an
    error and only the criteria it could read.

    >>> parse_rubric("**Accuracy**: 90/100\\nRelevance = 80\\n- completeness: 70\\nreasonableness - 60").scores
    {'accuracy': 90.0, 'relevance': 80.0, 'completeness': 70.0, 'reasonableness': 60.0}
    >>> parse_rubric('{"accuracy": 50, "relevance": "40", "completeness": 30, "reasonableness": 20}').ok
    True
    >>> parse_rubric("accuracy: 9/10\\nrelevance: 90/100\\ncompleteness: 8 out of 10\\nreasonableness: 7").scores
    {'accuracy': 90.0, 'relevance': 90.0, 'completeness': 80.0, 'reasonableness': 7.0}
    >>> parse_rubric("accuracy: 90\\nrelevance: 150").error
    'relevance: 150 is outside 0-100; missing completeness, reasonableness'
    """
    wanted = {_key(c): c for c in criteria}
    if not text.strip():
        return RubricReading({}, text, "empty judge output")
    found: dict[str, list[float]] = {}
    for obj in _json_objects(text):
        for name, value in obj.items():
            key = _key(str(name))
            number = _json_number(value)
            if key in wanted and number is not None:
                found.setdefault(wanted[key], []).append(number)
    if not found:
        for match in _LINE.finditer(text):
            key = _key(match["name"])
            if key in wanted:
                # "9/10": the judge used a 10-point scale; put it on ours.
                value = float(match["score"]) * (10 if match["out_of"] else 1)
                found.setdefault(wanted[key], []).append(value)
    scores: dict[str, float] = {}
    problems: list[str] = []
    for criterion in criteria:
        values = found.get(criterion, [])
        if not values:
            continue
        if len(set(values)) > 1:
            problems.append(f"{criterion}: conflicting values {', '.join(f'{v:g}' for v in values)}")
        elif not 0 <= values[0] <= 100:
            problems.append(f"{criterion}: {values[0]:g} is outside 0-100")
        else:
            scores[criterion] = values[0]
    missing = [c for c in criteria if c not in found]
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    return RubricReading(scores, text, "; ".join(problems) or None)


def _json_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _json_objects(text: str) -> Iterable[dict[str, Any]]:
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"\{", text)):
        try:
            obj, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            yield obj


class RubricJudge(BatchMap):
    """Score each response on several criteria (0-100) with a judge model.

    Options:
        criteria: names (definitions from :data:`DEFAULT_CRITERIA` when known) or a
            name -> definition mapping; default HoneyBee's four.
        mean_threshold, min_threshold: ``judge.pass`` is 1 when the mean is at least
            ``mean_threshold`` and every criterion at least ``min_threshold`` (95 and 90).
        max_tokens: the judge's reply budget (greedy decoding).

    Writes ``judge.<criterion>`` for each criterion read; when all are read, ``judge.mean``
    and ``judge.pass``. Always ``meta["judge.raw"]``; ``meta["judge.error"]`` when the reply
    could not be read in full.
    """

    name = "judge-rubric"
    version = "1"

    def __init__(
        self,
        llm: LLM,
        *,
        criteria: Sequence[str] | Mapping[str, str] | None = None,
        mean_threshold: float = 95.0,
        min_threshold: float = 90.0,
        max_tokens: int = 128,
        batch_size: int = 16,
    ):
        self.llm = llm
        self.criteria = _criteria(criteria)
        self.mean_threshold = float(mean_threshold)
        self.min_threshold = float(min_threshold)
        self.params = SamplingParams(max_tokens=max_tokens, temperature=0.0)
        self.batch_size = batch_size

    def map_batch(self, batch: Batch) -> Iterable[Example]:
        from syllabus.evaluate.judge import instruction_text

        requests = [
            GenerateRequest(
                messages=tuple(build_rubric_messages(instruction_text(ex.messages), ex.completion or "", self.criteria)),
                params=self.params,
            )
            for ex in batch
        ]
        for ex, generation in zip(batch, self.llm.generate(requests), strict=True):
            reading = parse_rubric(generation.text, tuple(self.criteria))
            ex.set_meta(NS, "raw", generation.text)
            for criterion, value in reading.scores.items():
                ex.set_score(NS, criterion, value)
            if not reading.ok:
                ex.set_meta(NS, "error", reading.error)
                continue
            values = list(reading.scores.values())
            mean = sum(values) / len(values)
            ex.set_score(NS, "mean", mean)
            ex.set_score(NS, "pass", float(mean >= self.mean_threshold and min(values) >= self.min_threshold))
        return batch

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "model": self.llm.model_id,
            "criteria": list(self.criteria),
            "mean_threshold": self.mean_threshold,
            "min_threshold": self.min_threshold,
        }


def _criteria(criteria: Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    if criteria is None:
        return dict(DEFAULT_CRITERIA)
    if isinstance(criteria, str):
        raise ConfigError("judge-rubric: criteria must be a list of names or a name -> definition mapping, not one string")
    items = dict(criteria) if isinstance(criteria, Mapping) else {c: DEFAULT_CRITERIA.get(_key(c), "") for c in criteria}
    out: dict[str, str] = {}
    for name, definition in items.items():
        key = _key(str(name))
        if not key or key in ("mean", "pass", "raw", "error"):
            raise ConfigError(f"judge-rubric: {name!r} cannot be a criterion name (it is empty or a reserved score name)")
        if not definition:
            raise ConfigError(f"judge-rubric: criterion {name!r} needs a definition: pass criteria as a name -> definition mapping")
        out[key] = str(definition)
    if not out:
        raise ConfigError("judge-rubric: criteria is empty")
    return out


# -- pairwise ------------------------------------------------------------------------------

Winner = Literal["first", "second", "tie"]


@dataclass(frozen=True)
class PairwiseResult:
    """The outcome of comparing two responses in both orders.

    ``winner`` is ``"first"``/``"second"`` only when both orders agree, ``"tie"`` when the
    judge said tie both times or the orders disagree (then ``consistent`` is false: the
    judge followed the position, not the content), and ``None`` when a reply was
    unreadable (``error`` says which). ``raw`` holds both replies, original order first.
    """

    winner: Winner | None
    consistent: bool
    raw: tuple[str, str]
    error: str | None = None


class PairwiseJudge:
    """Compare responses pairwise with position swap, reusing the evaluation judge's prompt.

    The prompt and verdict parser are :func:`syllabus.evaluate.judge.build_judge_messages`
    and :func:`~syllabus.evaluate.judge.parse_verdict`, the ones the ``pairwise`` evaluation
    task uses. Both orders of every pair go to the judge in one batch.

    >>> from syllabus.llm.fake import FunctionLLM
    >>> always_a = FunctionLLM(lambda request: "Verdict: A")      # a position-biased judge
    >>> PairwiseJudge(always_a).compare([("Name a prime.", "7", "9")])[0].winner
    'tie'
    """

    def __init__(self, llm: LLM, *, max_tokens: int = 64):
        self.llm = llm
        self.params = SamplingParams(max_tokens=max_tokens, temperature=0.0)

    def compare(self, pairs: Sequence[tuple[str, str, str]]) -> list[PairwiseResult]:
        """``pairs`` of ``(instruction, first, second)`` -> one :class:`PairwiseResult` each."""
        from syllabus.evaluate.judge import build_judge_messages, parse_verdict

        requests = []
        for instruction, first, second in pairs:
            for a, b in ((first, second), (second, first)):
                requests.append(GenerateRequest(messages=tuple(build_judge_messages(instruction, a, b)), params=self.params))
        replies = self.llm.generate(requests)
        results = []
        for i in range(len(pairs)):
            straight, swapped = parse_verdict(replies[2 * i].text), parse_verdict(replies[2 * i + 1].text)
            raw = (straight.raw, swapped.raw)
            if not straight.ok or not swapped.ok:
                reasons = [f"{order}: {v.error}" for order, v in (("original order", straight), ("swapped order", swapped)) if not v.ok]
                results.append(PairwiseResult(None, False, raw, "; ".join(reasons)))
                continue
            # In the swapped prompt "A" is the second response.
            one: Winner = {"A": "first", "B": "second", "tie": "tie"}[straight.label]  # type: ignore[index]
            two: Winner = {"A": "second", "B": "first", "tie": "tie"}[swapped.label]  # type: ignore[index]
            results.append(PairwiseResult(one if one == two else "tie", one == two, raw))
        return results
