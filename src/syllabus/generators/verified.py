"""``verified-skills``: teacher answers kept only when a rule says they are right.

Two kinds of instruction carry their own truth, so no judge is needed:

* **check instructions**: an everyday base task (the ``train`` split of the project's
  base tasks, the same file ifeval-lite evaluates on its ``test`` split, or the user's
  ``--prompts``) with one or two :mod:`syllabus.checks` attached: the prompt is the task
  followed by each check's ``describe()`` text, and the checks are stored in
  ``meta["checks"]`` in the form the curation scorer ``verify`` reads
  (``[{"name": ..., "params": {...}}]``);
* **arithmetic problems** written procedurally from this module's own templates (multi-step
  word problems and bracketed expressions) with the exact answer in ``Example.reference``
  and a worked solution in ``meta["verified.solution"]``. The templates, scenarios and
  number ranges differ from those of the ``arith-ic`` evaluation task (no named characters,
  three operations instead of two, larger numbers), so no evaluation item is ever taught.
* user prompts that already carry a ``reference`` or ``meta["checks"]`` are used as they are.

Every instruction is answered ``samples`` times at a temperature above 0 (rejection
sampling); each answer is verified (checks strict or loose, the number or text after the
answer marker against the reference) and only verified answers are kept (``keep: first``,
one per instruction, or ``keep: all``). The pass rate of each instruction is recorded in
``meta["verified.pass_rate"]`` (with ``verified.samples`` and ``verified.passed``); an
instruction with no verified answer is dropped with the reason ``no verified sample``, its
answers land in ``excluded/`` with their text, and its pass rate 0 is still counted in the
stats (``verified.pass_rate.0of4`` ...).

``repair: true`` (constraint repair): when no answer of an instruction verifies, the first
one that can be fixed is rewritten: for check instructions each failed check's own
``repair`` puts the format in (lowercase, bullets, a postscript, a word limit ...) around
the teacher's content; for arithmetic problems the problem's worked solution replaces the
answer. The rewritten answer is verified again, the teacher's text stays in
``meta["verified.original"]`` and ``meta["verified.repaired"]`` lists what was repaired, so
curation and reports can tell repaired rows from verified ones (stats:
``verified.repaired``). A weak teacher then still yields data at the cost of formats written
by rule rather than by the teacher.

Orca 2's strategies: the teacher answers under a system prompt chosen per task type
(:data:`STRATEGIES`, :data:`DEFAULT_ROUTES`): step by step for arithmetic, explain then
answer for "explain"/"compare" tasks, recall then generate for advice and how-to tasks, a
direct answer for writing tasks. The stored record keeps only the user prompt (prompt
erasure): the student learns to behave that way without being told to; ``meta`` says which
strategy was used.

    syllabus generate --generator verified-skills --teacher builtin:smollm2-135m-instruct \\
        --n 50 --set samples=4 --out runs/verified
    syllabus generate --generator verified-skills --teacher builtin:gemma-3-270m \\
        --out runs/verified-base    # no chat template: plain-text prompts (raw)

From Python::

    from syllabus.generators import run_generator
    result = run_generator("verified-skills", ["fake:echo"], "runs/v", n=10,
                           options={"samples": 2, "arithmetic_share": 1.0})
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import groupby
from typing import Any, Literal

from syllabus.errors import ConfigError
from syllabus.generators.base import GenerationRun, Generator, Plan
from syllabus.llm.base import LLM, SamplingParams
from syllabus.pipeline.step import Step, StepContext
from syllabus.pipeline.teacher import TeacherStep
from syllabus.prompts import PromptTemplate
from syllabus.record import Example, Message, content_hash

__all__ = [
    "ANSWER",
    "ANSWER_RAW",
    "ARITHMETIC_TEMPLATES",
    "DEFAULT_ROUTES",
    "STRATEGIES",
    "ArithmeticProblem",
    "KeepVerified",
    "StrategyAnswer",
    "VerifiedSkills",
    "VerifiedSkillsConfig",
    "make_arithmetic",
    "verify_sample",
]

NS = "verified"  # this generator's meta namespace

# ---------------------------------------------------------------------------------------
# Strategies (Orca 2): one system prompt per way of answering, chosen per task type
# ---------------------------------------------------------------------------------------

_OBEY = (
    "Follow every instruction in the request exactly, including any rule about format, "
    "length, letter case, punctuation or wording: those rules apply to your whole reply "
    "and come before this guidance."
)

#: The strategy system prompts the teacher answers under (never stored in a training record).
STRATEGIES: dict[str, str] = {
    "direct": (
        "You are a precise assistant. Reply with the answer itself: no greeting, no "
        "preamble and no closing remark. " + _OBEY
    ),
    "step-by-step": (
        "You are a careful problem solver. Solve the problem one step at a time: write each "
        "step on its own line, say what it computes and do the arithmetic explicitly. After "
        "the last step give the final answer in the form the problem asks for (if it asks for "
        "none, one final line 'The answer is X.' where X is the final answer), and then stop."
    ),
    "recall-then-generate": (
        "You are a knowledgeable assistant. Before answering, recall the facts and the "
        "common practical knowledge that matter for this request; open your reply with "
        "them in a sentence or two, then give the answer built on them. " + _OBEY
    ),
    "explain-then-answer": (
        "You are a patient teacher. First explain the reasoning or the mechanism behind "
        "the answer in plain words, then state the conclusion clearly. " + _OBEY
    ),
}

#: Task type -> strategy. Task types are the base tasks' categories, ``arithmetic`` for
#: the procedural problems and ``reference`` for user prompts with a reference answer;
#: any other type gets ``direct``. ``--set routes={story: explain-then-answer}`` overrides.
DEFAULT_ROUTES: dict[str, str] = {
    "arithmetic": "step-by-step",
    "reference": "step-by-step",
    "explain": "explain-then-answer",
    "compare": "explain-then-answer",
    "howto": "recall-then-generate",
    "tips": "recall-then-generate",
    "advice": "recall-then-generate",
    "describe": "direct",
    "story": "direct",
    "email": "direct",
    "product": "direct",
}
FALLBACK_STRATEGY = "direct"

#: The chat prompt: the strategy as the system turn, the instruction as the user turn.
ANSWER = PromptTemplate("verified-answer", system="{strategy}", user="{prompt}")
#: The plain-text prompt for base models (``raw``, the default for a teacher without a chat
#: template): no roles, a layout a base model continues.
ANSWER_RAW = PromptTemplate("verified-answer-raw", user="{strategy}\n\n### Request\n{prompt}\n\n### Response\n")
_RAW_STOP = "\n### "  # a base model that runs on starts the next block with it


# ---------------------------------------------------------------------------------------
# Arithmetic problems with exact answers
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerFormat:
    """How a problem asks for its final answer (``instruction``) and how a reply gives it.

    ``line`` is a solution's last line (``{answer}`` filled in); ``pattern`` must match the
    end of a reply, its group ``answer`` holding the number.

    >>> ANSWER_FORMATS["tags"].read("12 - 5 = 7\\n<answer>7</answer>"), ANSWER_FORMATS["tags"].read("7")
    ('7', None)
    """

    instruction: str
    line: str
    pattern: str

    def read(self, reply: str) -> str | None:
        """The number the reply gives in this format, or None when it does not follow it."""
        match = re.search(self.pattern, reply.strip(), re.IGNORECASE)
        return match.group("answer").replace(",", "") if match else None


_NUMBER = r"(?P<answer>-?\d[\d,]*(?:\.\d+)?)"
#: The answer formats an arithmetic problem can ask for (``--set answer_formats=[...]``).
#: Teaching several, each stated in the prompt, teaches the student to read the format
#: from the request instead of a habit that overrides other tasks' formats (a student
#: taught only "The answer is N." stopped using the <answer> tags a held-out task asked for).
ANSWER_FORMATS: dict[str, AnswerFormat] = {
    "sentence": AnswerFormat(
        'Finish with the sentence "The answer is N.", N being the result in digits.',
        "The answer is {answer}.",
        r"the answer is \$?" + _NUMBER + r"\.?$",
    ),
    "tags": AnswerFormat(
        "Put the final number inside <answer></answer> tags.",
        "<answer>{answer}</answer>",
        r"<answer>\s*" + _NUMBER + r"\s*</answer>$",
    ),
    "final-line": AnswerFormat(
        'Show your steps, then write a last line "Final answer: N".',
        "Final answer: {answer}",
        r"(?:^|\n)final answer: \$?" + _NUMBER + r"\.?$",
    ),
}


@dataclass(frozen=True)
class ArithmeticProblem:
    """A procedurally written problem: its text, exact answer and worked steps.

    ``steps`` are lines ``"a op b = c"`` (one per operation), so a test can redo them.
    With an ``answer_format`` (a key of :data:`ANSWER_FORMATS`) the text ends with that
    format's instruction and the solution with its line; without, the text states no
    format and the solution ends "The answer is N.".

    >>> p = ArithmeticProblem("t", "What is 2 + 3?", 5, ("2 + 3 = 5",), answer_format="tags")
    >>> p.prompt, p.solution
    ('What is 2 + 3? Put the final number inside <answer></answer> tags.', '2 + 3 = 5\\n<answer>5</answer>')
    """

    template: str
    text: str
    answer: int
    steps: tuple[str, ...]
    answer_format: str = ""

    @property
    def operations(self) -> int:
        return len(self.steps)

    @property
    def prompt(self) -> str:
        fmt = ANSWER_FORMATS.get(self.answer_format)
        return f"{self.text} {fmt.instruction}" if fmt else self.text

    @property
    def solution(self) -> str:
        fmt = ANSWER_FORMATS.get(self.answer_format)
        last = fmt.line.format(answer=self.answer) if fmt else f"The answer is {self.answer}."
        return "\n".join((*self.steps, last))


def _step(a: int, op: str, b: int) -> tuple[str, int]:
    value = {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]
    if op == "/" and a % b:  # templates draw numbers that divide exactly
        raise AssertionError(f"{a} / {b} is not exact")
    return f"{a} {op} {b} = {value}", value


def _chain(first: int, *ops: tuple[str, int]) -> tuple[int, tuple[str, ...]]:
    """Apply ``(op, operand)`` pairs left to right from ``first``; the value and the step lines."""
    value, lines = first, []
    for op, operand in ops:
        line, value = _step(value, op, operand)
        lines.append(line)
    return value, tuple(lines)


ArithmeticTemplate = Callable[[random.Random], ArithmeticProblem]
#: name -> template. Every word problem has three operations and no named characters
#: (``arith-ic``'s templates have two and name people), so the two sets never meet.
ARITHMETIC_TEMPLATES: dict[str, ArithmeticTemplate] = {}


def _template(fn: ArithmeticTemplate) -> ArithmeticTemplate:
    ARITHMETIC_TEMPLATES[fn.__name__.lstrip("_")] = fn
    return fn


@_template
def _warehouse(rng: random.Random) -> ArithmeticProblem:
    crates, per = rng.randint(4, 15), rng.randint(12, 48)
    shipped, arrived = rng.randint(10, crates * per - 10), rng.randint(10, 99)
    answer, steps = _chain(crates, ("*", per), ("-", shipped), ("+", arrived))
    return ArithmeticProblem(
        "warehouse",
        f"A warehouse holds {crates} crates with {per} jars in each crate. On Monday {shipped} "
        f"jars are shipped out, and on Tuesday a delivery of {arrived} jars arrives. How many "
        "jars are in the warehouse after the delivery?",
        answer,
        steps,
    )


@_template
def _concert(rng: random.Random) -> ArithmeticProblem:
    rows, seats = rng.randint(12, 40), rng.randint(15, 40)
    advance = rng.randint(rows * seats // 4, rows * seats // 2)
    door = rng.randint(10, rows * seats - advance - 1)
    answer, steps = _chain(rows, ("*", seats), ("-", advance), ("-", door))
    return ArithmeticProblem(
        "concert",
        f"A concert hall has {rows} rows with {seats} seats in each row. In advance, {advance} "
        f"tickets are sold, and {door} more are sold at the door, one seat per ticket. How many "
        "seats stay empty?",
        answer,
        steps,
    )


@_template
def _printer(rng: random.Random) -> ArithmeticProblem:
    rate, morning, afternoon = rng.randint(12, 60), rng.randint(5, 30), rng.randint(5, 30)
    spoiled = rng.randint(3, rate * 3)
    answer, steps = _chain(morning, ("+", afternoon), ("*", rate), ("-", spoiled))
    return ArithmeticProblem(
        "printer",
        f"An office printer prints {rate} pages per minute. It runs for {morning} minutes in the "
        f"morning and {afternoon} minutes in the afternoon. Of the printed pages, {spoiled} are "
        "misprints and are thrown away. How many good pages are printed that day?",
        answer,
        steps,
    )


@_template
def _water_tank(rng: random.Random) -> ArithmeticProblem:
    daily, days = rng.randint(15, 90), rng.randint(3, 9)
    start = daily * days + rng.randint(20, 300)
    refill = rng.randint(50, 400)
    line, used = _step(daily, "*", days)
    answer, rest = _chain(start, ("-", used), ("+", refill))
    return ArithmeticProblem(
        "water_tank",
        f"A water tank starts with {start} litres. Every day {daily} litres are used, for "
        f"{days} days. Then {refill} litres are pumped in. How many litres are in the tank now?",
        answer,
        (line, *rest),
    )


@_template
def _hikers(rng: random.Random) -> ArithmeticProblem:
    groups, per, team = rng.randint(3, 9), rng.randint(6, 15), rng.randint(3, 8)
    late = (-groups * per) % team + team * rng.randint(1, 4)  # the total divides into teams
    answer, steps = _chain(groups, ("*", per), ("+", late), ("/", team))
    return ArithmeticProblem(
        "hikers",
        f"There are {groups} groups of {per} hikers at a trailhead, and {late} more hikers arrive "
        f"later. Everyone is split into teams of {team}. How many teams are there?",
        answer,
        steps,
    )


@_template
def _flour(rng: random.Random) -> ArithmeticProblem:
    grams, sat, sun = 25 * rng.randint(6, 20), rng.randint(2, 9), rng.randint(2, 9)
    extra = rng.randint(20, 200)
    answer, steps = _chain(sat, ("+", sun), ("*", grams), ("+", extra))
    return ArithmeticProblem(
        "flour",
        f"One batch of bread dough needs {grams} grams of flour. A bakery makes {sat} batches on "
        f"Saturday and {sun} batches on Sunday, and uses another {extra} grams of flour to dust "
        "the tables. How many grams of flour does the bakery use over the weekend?",
        answer,
        steps,
    )


@_template
def _cycling(rng: random.Random) -> ArithmeticProblem:
    distance, days, weekend = rng.randint(4, 25), rng.randint(3, 6), rng.randint(10, 80)
    answer, steps = _chain(distance, ("*", 2), ("*", days), ("+", weekend))
    return ArithmeticProblem(
        "cycling",
        f"A cyclist rides {distance} kilometres to work and the same distance back home, {days} "
        f"days a week. On the weekend the cyclist rides another {weekend} kilometres. How many "
        "kilometres does the cyclist ride in one week?",
        answer,
        steps,
    )


@_template
def _orchard(rng: random.Random) -> ArithmeticProblem:
    rows, trees, kilos = rng.randint(3, 12), rng.randint(5, 20), rng.randint(8, 40)
    lost = rng.randint(5, rows * trees * kilos // 4)
    answer, steps = _chain(rows, ("*", trees), ("*", kilos), ("-", lost))
    return ArithmeticProblem(
        "orchard",
        f"An orchard has {rows} rows of cherry trees with {trees} trees in each row. Each tree "
        f"gives {kilos} kilograms of cherries, and {lost} kilograms are lost to rain. How many "
        "kilograms of cherries are left to sell?",
        answer,
        steps,
    )


@_template
def _parking(rng: random.Random) -> ArithmeticProblem:
    floors, spaces = rng.randint(3, 9), rng.randint(20, 80)
    arrived = rng.randint(floors * spaces // 3, floors * spaces - 1)
    left = rng.randint(5, arrived // 2)
    answer, steps = _chain(floors, ("*", spaces), ("-", arrived), ("+", left))
    return ArithmeticProblem(
        "parking",
        f"A parking garage has {floors} floors with {spaces} spaces on each floor. In the morning "
        f"{arrived} cars park there, and at noon {left} of them drive away. How many spaces are "
        "free after noon?",
        answer,
        steps,
    )


_ASK = ("Calculate {expr}.", "What is the value of {expr}?", "Evaluate {expr}.")


@_template
def _expression(rng: random.Random) -> ArithmeticProblem:
    shape = rng.randrange(4)
    if shape == 0:  # (a + b) * c - d
        a, b, c = rng.randint(12, 89), rng.randint(12, 89), rng.randint(2, 9)
        d = rng.randint(10, (a + b) * c - 1)
        expr = f"({a} + {b}) * {c} - {d}"
        answer, steps = _chain(a, ("+", b), ("*", c), ("-", d))
    elif shape == 1:  # a * b + c * d
        a, b, c, d = rng.randint(11, 49), rng.randint(2, 9), rng.randint(11, 49), rng.randint(2, 9)
        expr = f"{a} * {b} + {c} * {d}"
        (l1, x), (l2, y) = _step(a, "*", b), _step(c, "*", d)
        l3, answer = _step(x, "+", y)
        steps = (l1, l2, l3)
    elif shape == 2:  # (a - b) * c + d
        b = rng.randint(10, 60)
        a, c, d = b + rng.randint(3, 40), rng.randint(2, 9), rng.randint(10, 99)
        expr = f"({a} - {b}) * {c} + {d}"
        answer, steps = _chain(a, ("-", b), ("*", c), ("+", d))
    else:  # (a * b - c) / d, exact
        d, a, b = rng.randint(2, 9), rng.randint(11, 40), rng.randint(3, 9)
        quotient = rng.randint(1, a * b // d - 1)
        c = a * b - d * quotient
        expr = f"({a} * {b} - {c}) / {d}"
        answer, steps = _chain(a, ("*", b), ("-", c), ("/", d))
    return ArithmeticProblem("expression", rng.choice(_ASK).format(expr=expr), answer, steps)


def make_arithmetic(rng: random.Random, templates: Sequence[str] | None = None) -> ArithmeticProblem:
    """One problem from a template drawn with ``rng`` (the same seed gives the same problem).

    >>> p = make_arithmetic(random.Random(3))
    >>> p.solution.endswith(f"The answer is {p.answer}."), p.operations
    (True, 3)
    """
    names = sorted(ARITHMETIC_TEMPLATES) if templates is None else list(templates)
    return ARITHMETIC_TEMPLATES[rng.choice(names)](rng)


# ---------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------

Strategy = Literal["auto", "direct", "step-by-step", "recall-then-generate", "explain-then-answer"]


@dataclass
class VerifiedSkillsConfig:
    """Options of ``verified-skills`` (``--set KEY=VALUE``)."""

    arithmetic_share: float = field(
        default=0.5, metadata={"help": "share of instructions that are arithmetic problems (0..1)"}
    )
    samples: int = field(
        default=4, metadata={"help": "teacher answers per instruction (rejection sampling; needs temperature > 0)"}
    )
    keep: Literal["first", "all"] = field(
        default="first", metadata={"help": "keep the first verified answer of an instruction, or all of them"}
    )
    min_checks: int = field(default=1, metadata={"help": "fewest checks attached to a check instruction"})
    max_checks: int = field(default=2, metadata={"help": "most checks attached to a check instruction"})
    checks: list[str] = field(
        default_factory=list, metadata={"help": "check types to draw from (default: ifeval-lite's list)"}
    )
    check_mode: Literal["strict", "loose"] = field(
        default="strict", metadata={"help": "checks must pass strictly, or loosely (IFEval's loose variants)"}
    )
    extract: Literal["auto", "strict", "flexible"] = field(
        default="strict",
        metadata={
            "help": "numeric answers: after the answer marker (strict), also the last number (auto), or last number (flexible)"
        },
    )
    strategy: Strategy = field(
        default="auto", metadata={"help": "system-prompt strategy: auto (per task type) or one for all"}
    )
    routes: dict[str, str] = field(
        default_factory=dict, metadata={"help": "task type -> strategy overrides, e.g. {story: explain-then-answer}"}
    )
    erase_system: bool = field(
        default=True, metadata={"help": "store records without the strategy system prompt (Orca 2's prompt erasure)"}
    )
    raw: bool | None = field(
        default=None,
        metadata={"help": "plain-text prompts for base models (default: when the teacher has no chat template)"},
    )
    trim_truncated: bool = field(
        default=False,
        metadata={"help": "cut an answer that ran into max_tokens back to its last complete sentence"},
    )
    repair: bool = field(
        default=False,
        metadata={
            "help": "when no answer verifies: rewrite one with its checks' repairs, or use an arithmetic "
            "problem's worked solution (marked verified.repaired)"
        },
    )
    answer_formats: list[str] = field(
        default_factory=list,
        metadata={
            "help": "arithmetic problems ask for one of these answer formats, drawn per problem "
            f"({', '.join(ANSWER_FORMATS)}); empty: no format stated, answers end 'The answer is N.'"
        },
    )


# ---------------------------------------------------------------------------------------
# Steps: answer under a strategy, then verify and keep
# ---------------------------------------------------------------------------------------


class StrategyAnswer(TeacherStep):
    """Answer an instruction under the strategy in its ``meta["verified.strategy"]``, ``n`` times.

    The strategy's system prompt is sent to the teacher but, with ``erase=True``, never
    stored: each answer becomes a child record (``<id>-s<i>``) whose ``messages`` are the
    instruction's own (the user turn only). Every answer is a sample, even an empty one:
    verification, not parsing, decides which are kept, so the pass rate counts all ``n``.

    >>> from syllabus.llm.fake import ScriptedLLM
    >>> teacher = ScriptedLLM(["1 + 1 = 2\\nThe answer is 2."])
    >>> item = Example.from_prompt("What is 1 + 1?", id="q", meta={"verified.strategy": "step-by-step"})
    >>> [out] = StrategyAnswer(teacher)([item])
    >>> teacher.history[0].messages[0]["role"], out.messages
    ('system', [{'role': 'user', 'content': 'What is 1 + 1?'}])
    """

    name = "answer"
    version = "1"
    template = ANSWER

    def __init__(
        self,
        llm: LLM,
        params: SamplingParams | None = None,
        *,
        n: int = 1,
        batch_size: int = 16,
        origin: tuple[str, str] = ("", ""),
        erase: bool = True,
        raw: bool = False,
        trim_truncated: bool = False,
    ):
        params = params or SamplingParams()
        if raw and _RAW_STOP not in params.stop:
            # A base model does not stop by itself; the next "### " block is its end.
            params = replace(params, stop=(*params.stop, _RAW_STOP))
        super().__init__(
            llm,
            params,
            n=n,
            batch_size=batch_size,
            origin=origin,
            template=ANSWER_RAW if raw else ANSWER,
        )
        self.erase, self.raw, self.trim_truncated = erase, raw, trim_truncated

    def annotate(self, out: Example, generation: Any) -> None:
        """Also, with ``trim_truncated``, cut an answer that hit the token limit after its last
        complete sentence (a student trained on answers cut mid-word learns not to stop)."""
        super().annotate(out, generation)
        if self.trim_truncated and generation.finish_reason == "length" and out.completion:
            from syllabus.checks.text import sentence_spans

            spans = [(a, b) for a, b in sentence_spans(out.completion) if out.completion[a:b].rstrip().endswith((".", "!", "?"))]
            if spans:
                out.set_meta(NS, "untrimmed", out.completion)
                out.completion = out.completion[: spans[-1][1]].rstrip()

    def fields(self, example: Example) -> dict[str, Any]:
        return {"strategy": STRATEGIES[example.meta[f"{NS}.strategy"]], "prompt": example.prompt}

    def request(self, example: Example) -> list[Message] | str:
        messages = super().request(example)
        assert isinstance(messages, list)
        return messages[0]["content"] if self.raw else messages

    def parse(self, text: str, example: Example, sample: int) -> Example:
        out = example.derive(suffix=f"s{sample}", step=self.name)
        answer = text.split(_RAW_STOP, 1)[0] if self.raw else text
        out.completion = answer.strip()
        out.set_meta(NS, "instruction", example.id)
        out.set_meta(NS, "sample", sample)
        out.set_meta(NS, "erased_system", self.erase)
        if not self.erase:  # the ablation: the record keeps the strategy as its system turn
            out.messages = [{"role": "system", "content": STRATEGIES[example.meta[f"{NS}.strategy"]]}, *out.messages]
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "erase": self.erase, "raw": self.raw, "trim_truncated": self.trim_truncated}


def verify_sample(
    example: Example, *, check_mode: Literal["strict", "loose"] = "strict", extract: str = "strict"
) -> bool:
    """Whether an answer passes its instruction's checks and matches its reference.

    Scores it with the curation scorer :class:`~syllabus.curate.scorers.verify.VerifierScore`
    (so generation and curation agree; its ``verify.*`` scores stay on the record) and reads
    its verdicts: every attached check must pass (strictly, or loosely with
    ``check_mode="loose"``) and the answer must match the reference when there is one.
    An example with neither never passes. An arithmetic problem that states an answer
    format (``meta["verified.answer_format"]``) passes only when the reply ends in that
    format with the right number.

    >>> ex = Example.from_prompt("2 + 3?", completion="2 + 3 = 5\\nThe answer is 5.", reference="5")
    >>> verify_sample(ex), verify_sample(Example.from_prompt("2 + 3?", completion="5", reference="5"))
    (True, False)
    """
    from syllabus.curate.scorers.verify import VerifierScore, answer_matches

    # Verdicts left by an earlier scoring (e.g. of a curated input record) must not count.
    example.scores = {k: v for k, v in example.scores.items() if not k.startswith("verify.")}
    example.meta = {k: v for k, v in example.meta.items() if not k.startswith("verify.")}
    VerifierScore(extract=extract).map(example)  # type: ignore[arg-type]
    if example.meta.get("verify.error"):
        return False
    answer_format = ANSWER_FORMATS.get(str(example.meta.get(f"{NS}.answer_format", "")))
    if answer_format is not None:  # the stated format decides where the number is read
        given = answer_format.read(example.completion or "")
        return given is not None and answer_matches(given, str(example.reference), "flexible")[0]
    verdicts = []
    if "verify.checks_total" in example.scores:
        verdicts.append(example.scores[f"verify.checks_{check_mode}"] == 1.0)
    if "verify.answer_correct" in example.scores:
        verdicts.append(example.scores["verify.answer_correct"] == 1.0)
    return bool(verdicts) and all(verdicts)


class KeepVerified(Step):
    """Verify every answer of an instruction and keep the verified ones; record the pass rate.

    Reads the answers of one instruction as one consecutive group (the way
    :class:`StrategyAnswer` writes them). For each instruction: ``pass_rate = passed /
    samples`` (``samples`` is how many answers were asked for, so a missing answer counts
    as a failure) goes into every answer's meta, and the stats count instructions per
    pass count (``verified.pass_rate.2of4``), answers (``verified.answers``,
    ``verified.answers_passed``) and instructions (``verified.instructions``,
    ``verified.instructions_kept``). Drop reasons: ``no verified sample`` (every answer of
    an instruction whose answers all failed), ``failed verification`` (a failed answer of an
    instruction that has a verified one), ``extra verified sample`` (``keep="first"``: the
    verified answers after the first).

    >>> def answer(i, text):
    ...     return Example.from_prompt("2 + 2?", id=f"q-s{i}", completion=text, reference="4",
    ...                                meta={"verified.instruction": "q"})
    >>> group = [answer(0, "The answer is 5."), answer(1, "The answer is 4."), answer(2, "The answer is 4.")]
    >>> ctx = StepContext()
    >>> [(e.id, e.meta["verified.pass_rate"]) for e in KeepVerified(samples=4)(group, ctx)]
    [('q-s1', 0.5)]
    >>> ctx.counters["verified.pass_rate.2of4"], ctx.counters["verified.dropped.failed verification"]
    (1, 1)
    """

    name = "verified"
    version = "1"

    def __init__(
        self,
        samples: int,
        *,
        keep: Literal["first", "all"] = "first",
        check_mode: Literal["strict", "loose"] = "strict",
        extract: str = "strict",
        repair: bool = False,
    ):
        if keep not in ("first", "all"):
            raise ConfigError(f"--set keep must be first or all, got {keep!r}")
        self.samples, self.keep = samples, keep
        self.check_mode, self.extract = check_mode, extract
        self.repair = repair

    def run(self, examples: Iterable[Example], ctx: StepContext) -> Iterator[Example]:
        for _, group in groupby(examples, key=lambda e: e.meta.get(f"{NS}.instruction", e.id)):
            yield from self._judge(list(group), ctx)

    def _judge(self, group: list[Example], ctx: StepContext) -> Iterator[Example]:
        verdicts = [verify_sample(e, check_mode=self.check_mode, extract=self.extract) for e in group]
        passed, total = sum(verdicts), max(self.samples, len(group))
        rate = passed / total
        c = ctx.counters
        c[f"{self.name}.instructions"] += 1
        c[f"{self.name}.instructions_kept"] += int(passed > 0)
        c[f"{self.name}.answers"] += total
        c[f"{self.name}.answers_passed"] += passed
        c[f"{self.name}.pass_rate.{passed}of{total}"] += 1
        kept = 0
        if not passed and self.repair:
            fixed = self._repaired(group)
            if fixed is not None:
                c[f"{self.name}.repaired"] += 1
                verdicts[group.index(fixed)] = True
        for example, ok in zip(group, verdicts, strict=True):
            example.set_meta(NS, "pass_rate", rate)
            example.set_meta(NS, "samples", total)
            example.set_meta(NS, "passed", passed)
            example.set_meta(NS, "verdict", ok)
            if not any(verdicts):
                ctx.exclude(example, self.name, "no verified sample")
            elif not ok:
                ctx.exclude(example, self.name, "failed verification")
            elif self.keep == "first" and kept:
                ctx.exclude(example, self.name, "extra verified sample")
            else:
                kept += 1
                yield example

    def _repaired(self, group: list[Example]) -> Example | None:
        """The first answer of a failed instruction that a repair makes verify, rewritten in place.

        Check instructions: :func:`syllabus.checks.repair_all` rewrites the answer so each
        failed check passes (the teacher's content, the check's format). Arithmetic
        problems: the problem's worked solution replaces the answer. The teacher's own text
        stays in ``verified.original``; ``verified.repaired`` names what was repaired. The
        rewritten answer is verified again like any other.
        """
        from syllabus.checks import repair_all, verify

        for example in group:
            original = example.completion or ""
            checks = example.meta.get("checks")
            if checks and not (example.reference or "").strip():
                failed = [c["name"] for c in verify(checks, original)["checks"] if not c[self.check_mode]]
                text = repair_all(checks, original, prompt=example.prompt, mode=self.check_mode)
            elif example.meta.get(f"{NS}.solution"):
                failed, text = ["worked-solution"], str(example.meta[f"{NS}.solution"])
            else:
                continue
            if text is None:
                continue
            example.completion = text
            if verify_sample(example, check_mode=self.check_mode, extract=self.extract):
                example.set_meta(NS, "original", original)
                example.set_meta(NS, "repaired", failed)
                return example
            example.completion = original
        return None

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "samples": self.samples,
            "keep": self.keep,
            "check_mode": self.check_mode,
            "extract": self.extract,
            "repair": self.repair,
        }


# ---------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------


class VerifiedSkills(Generator):
    """Check instructions and arithmetic problems, answered by rejection sampling under Orca-2 strategies."""

    name = "verified-skills"
    version = "1"
    Config = VerifiedSkillsConfig
    default_temperature = 0.7

    # -- options ----------------------------------------------------------------------------
    def _validate(self, run: GenerationRun) -> None:
        cfg: VerifiedSkillsConfig = self.config
        if not 0.0 <= cfg.arithmetic_share <= 1.0:
            raise ConfigError(f"--set arithmetic_share must be within 0..1, got {cfg.arithmetic_share}")
        if cfg.samples < 1:
            raise ConfigError(f"--set samples must be >= 1, got {cfg.samples}")
        unknown = [f for f in cfg.answer_formats if f not in ANSWER_FORMATS]
        if unknown:
            raise ConfigError(f"--set answer_formats: unknown format {unknown[0]!r}; known: {', '.join(ANSWER_FORMATS)}")
        if cfg.samples > 1 and run.params.greedy:
            raise ConfigError(
                f"--set samples={cfg.samples} draws several answers per instruction, which needs "
                "sampling: give --temperature above 0 (e.g. 0.7) or --set samples=1"
            )
        if not 1 <= cfg.min_checks <= cfg.max_checks:
            raise ConfigError(
                f"need 1 <= min_checks <= max_checks, got --set min_checks={cfg.min_checks} max_checks={cfg.max_checks}"
            )
        for task_type, strategy in cfg.routes.items():
            if strategy not in STRATEGIES:
                from syllabus.errors import did_you_mean

                raise ConfigError(
                    f"--set routes: {task_type!r} -> unknown strategy {strategy!r}; known: "
                    f"{', '.join(STRATEGIES)}.{did_you_mean(str(strategy), STRATEGIES)}"
                )
        from syllabus.checks import CHECKS

        for name in cfg.checks:
            CHECKS.get(name)  # an unknown check type fails here, with a did-you-mean

    def strategy_for(self, task_type: str) -> str:
        """The strategy an instruction of ``task_type`` is answered under."""
        cfg: VerifiedSkillsConfig = self.config
        if cfg.strategy != "auto":
            return cfg.strategy
        return cfg.routes.get(task_type) or DEFAULT_ROUTES.get(task_type, FALLBACK_STRATEGY)

    # -- instructions -------------------------------------------------------------------------
    def _pool(self, run: GenerationRun) -> list[Example]:
        """Base tasks for check instructions: the user's prompts, else the base tasks' train split."""
        if run.inputs:
            return run.inputs
        from syllabus.evaluate.tasks.ifeval_lite import base_tasks

        # Only the train split: ifeval-lite evaluates on the test split's base tasks.
        return [
            Example.from_prompt(b.instruction, id=b.id, meta={"category": b.category, "keywords": list(b.keywords)})
            for b in base_tasks("train")
        ]

    def build_instructions(self, run: GenerationRun, round_: int, k: int) -> list[Example]:
        """``k`` instructions for round ``round_``, all drawn from ``run.rng("instructions", round_)``."""
        cfg: VerifiedSkillsConfig = self.config
        rng = run.rng("instructions", round_)
        pool = self._pool(run) if cfg.arithmetic_share < 1.0 else []
        out = []
        for i in range(k):
            if not pool or rng.random() < cfg.arithmetic_share:
                problem = make_arithmetic(rng)
                if cfg.answer_formats:
                    problem = replace(problem, answer_format=rng.choice(cfg.answer_formats))
                item = self._arithmetic(problem)
            else:
                item = self._from_base(rng.choice(pool), rng)
            item.id = f"vs-r{round_:02d}-{i:05d}-{content_hash([item.prompt, item.reference], 6)}"
            item.set_meta(NS, "strategy", self.strategy_for(item.meta[f"{NS}.task_type"]))
            item.meta.setdefault("source", f"syllabus:{self.name}")
            out.append(item)
        return out

    def _arithmetic(self, problem: ArithmeticProblem) -> Example:
        return Example.from_prompt(
            problem.prompt,
            reference=str(problem.answer),
            meta={
                "skill": "arithmetic",
                "difficulty": problem.operations,
                "tags": [problem.template],
                f"{NS}.kind": "arithmetic",
                f"{NS}.task_type": "arithmetic",
                f"{NS}.template": problem.template,
                f"{NS}.solution": problem.solution,
                **({f"{NS}.answer_format": problem.answer_format} if problem.answer_format else {}),
            },
        )

    def _from_base(self, base: Example, rng: random.Random) -> Example:
        category = str(base.meta.get("category") or base.meta.get("skill") or "")
        if base.meta.get("checks") or (base.reference or "").strip():
            # Already verifiable: the user's own checks or reference answer.
            out = base.derive(suffix="v", step=self.name)
            kind = "given"
            task_type = category or ("reference" if out.reference else "general")
        else:
            from syllabus.checks import SampleContext
            from syllabus.evaluate.tasks.ifeval_lite import DEFAULT_CHECKS, draw_checks

            cfg: VerifiedSkillsConfig = self.config
            keywords = tuple(str(w) for w in base.meta.get("keywords") or ())
            context = (
                SampleContext(prompt=base.prompt, keywords=keywords)
                if keywords
                else SampleContext.from_prompt(base.prompt)
            )
            names = cfg.checks or list(DEFAULT_CHECKS)
            drawn = draw_checks(rng, rng.randint(cfg.min_checks, cfg.max_checks), context, names)
            # The instruction is the task followed by each check's instruction (ifeval-lite's form).
            text = " ".join([base.prompt.strip(), *(c.describe() for c in drawn)])
            out = Example.from_prompt(
                text,
                meta={
                    "checks": [c.to_dict() for c in drawn],
                    "skill": "instruction-following",
                    "difficulty": len(drawn),
                    "tags": [c.name for c in drawn],
                    f"{NS}.base_id": base.id,
                    f"{NS}.base": base.prompt,
                },
                provenance={"parents": [base.id]},
            )
            kind, task_type = "checks", category or "general"
        out.set_meta(NS, "kind", kind)
        out.set_meta(NS, "task_type", task_type)
        return out

    # -- phases -------------------------------------------------------------------------------
    def _steps(self, run: GenerationRun) -> tuple[StrategyAnswer, KeepVerified]:
        self._validate(run)
        cfg: VerifiedSkillsConfig = self.config
        answer = StrategyAnswer(
            run.teacher,
            run.params,
            n=cfg.samples,
            batch_size=run.settings.batch_size,
            origin=self.origin,
            erase=cfg.erase_system,
            raw=self._raw(run),
            trim_truncated=cfg.trim_truncated,
        )
        keep = KeepVerified(cfg.samples, keep=cfg.keep, check_mode=cfg.check_mode, extract=cfg.extract, repair=cfg.repair)
        return answer, keep

    def _raw(self, run: GenerationRun) -> bool:
        cfg: VerifiedSkillsConfig = self.config
        return cfg.raw if cfg.raw is not None else not run.teacher.capabilities.chat_template

    def _expected_yield(self) -> float:
        """Kept records per instruction, guessed before any round ran (later rounds use the real yield)."""
        cfg: VerifiedSkillsConfig = self.config
        if cfg.repair:
            return 0.9  # most failed instructions are repaired
        return 0.5 if cfg.keep == "first" else max(0.5, 0.25 * cfg.samples)

    def generate(self, run: GenerationRun) -> list[Example]:
        steps = self._steps(run)
        return run.until(
            "respond",
            lambda round_, k: self.build_instructions(run, round_, k),
            list(steps),
            expected_yield=self._expected_yield(),
        )

    def plan(self, run: GenerationRun) -> Plan:
        answer, _ = self._steps(run)
        size = max(1, math.ceil(run.settings.n / self._expected_yield() * 1.1))  # until's first round
        cfg: VerifiedSkillsConfig = self.config
        return Plan.of(
            run,
            [("respond-r00", answer, self.build_instructions(run, 0, size))],
            notes=[
                (
                    f"round 0: {size} instructions x {cfg.samples} samples; later rounds only if "
                    f"fewer than {run.settings.n} answers are verified"
                ),
                "strategy system prompts are sent to the teacher and erased from the stored records"
                if cfg.erase_system
                else "strategy system prompts are kept in the stored records",
            ],
        )
