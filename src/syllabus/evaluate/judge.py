"""The pairwise judge: a prompt builder and its parser, kept side by side.

A judge model sees one instruction and two responses, labelled ``A`` (shown first) and
``B`` (shown second), and answers with a verdict line::

    Verdict: A        (or B, or tie)

:func:`build_judge_messages` writes that prompt; :func:`parse_verdict` reads the reply.
The parser never raises on what a model writes: an unreadable reply is a
:class:`Verdict` with ``label=None``, the raw text and the reason, so the caller can
count it and keep it (a failure is reported, never dropped in silence).

The labels are *positions*, not models: the caller decides which model's answer goes
first and maps the verdict back (see :mod:`syllabus.evaluate.tasks.pairwise`).

>>> messages = build_judge_messages("Name a prime number.", "7", "Nine.")
>>> messages[-1]["content"].count("[Response A]"), parse_judge_prompt(messages).second
(1, 'Nine.')
>>> parse_verdict("Verdict: B\\nIt names a prime.").label
'B'
>>> v = parse_verdict("Both are fine, I think.")
>>> v.label, v.error
(None, "no verdict: expected a line 'Verdict: A', 'Verdict: B' or 'Verdict: tie'")

A judge that exposes log-likelihoods can be asked for a *weighted* verdict instead: score
the two continuations in :data:`VERDICT_CONTINUATIONS` after the same prompt and turn
them into the probability that B is better (AlpacaEval's weighted judge, with
log-likelihoods in place of top-token log-probs):

>>> round(preference_for_second(-2.0, -2.0), 3), round(preference_for_second(-3.0, -1.0), 3)
(0.5, 0.881)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from syllabus.errors import DataError
from syllabus.record import Message, content_hash

__all__ = [
    "JUDGE_PROMPT_VERSION",
    "VERDICT_CONTINUATIONS",
    "JudgeInputs",
    "Label",
    "Verdict",
    "build_judge_messages",
    "instruction_text",
    "judge_prompt_hash",
    "parse_judge_prompt",
    "parse_verdict",
    "preference_for_second",
]

Label = Literal["A", "B", "tie"]

#: Bumped whenever the wording below changes: verdicts under another wording are other data.
JUDGE_PROMPT_VERSION = "1"

JUDGE_SYSTEM = (
    "You are an impartial judge of answers written by AI assistants. You compare two responses "
    "to the same instruction and say which one is better."
)

# Order and length are the two biases judges are known for; the prompt names both, and
# the pairwise task also judges both orders so position bias cancels whatever the judge does.
JUDGE_TEMPLATE = """\
Compare two responses to the instruction below.

The better response follows the instruction: it is correct, helpful, and does what was asked, \
including any format, style or length the instruction requests. Do not prefer a response \
because it is longer, and do not let the order of the responses matter. If the two are \
equally good, or equally bad, call it a tie.

[Instruction]
{instruction}

[Response A]
{first}
[End of Response A]

[Response B]
{second}
[End of Response B]

Start your reply with exactly one of these lines:
Verdict: A
Verdict: B
Verdict: tie
Then give at most one short sentence of reason."""

#: Continuations scored by a log-likelihood judge (the first line a generating judge writes).
VERDICT_CONTINUATIONS: dict[str, str] = {"A": "Verdict: A", "B": "Verdict: B"}

_SECTION = re.compile(
    r"\[Instruction\]\n(?P<instruction>.*?)\n\n\[Response A\]\n(?P<first>.*?)\n\[End of Response A\]\n\n"
    r"\[Response B\]\n(?P<second>.*?)\n\[End of Response B\]",
    re.DOTALL,
)


@dataclass(frozen=True)
class JudgeInputs:
    """What one judge prompt shows: the instruction and the two responses in order."""

    instruction: str
    first: str
    second: str


@dataclass(frozen=True)
class Verdict:
    """A parsed judge reply: ``label`` is ``"A"``, ``"B"``, ``"tie"``, or ``None`` with an ``error``.

    ``raw`` is the judge's text exactly as it came back.
    """

    label: Label | None
    raw: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.label is not None


def instruction_text(messages: Sequence[Message]) -> str:
    """The prompt side of an example as the judge reads it.

    A single user turn is shown as it is; anything longer (a system prompt, earlier
    turns) is shown with its roles, so the judge sees the whole request.

    >>> instruction_text([{"role": "user", "content": "Hi."}])
    'Hi.'
    >>> print(instruction_text([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi."}]))
    system: Be brief.
    user: Hi.
    """
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def build_judge_messages(instruction: str, first: str, second: str) -> list[Message]:
    """The judge's chat prompt: ``first`` is shown as Response A, ``second`` as Response B.

    >>> m = build_judge_messages("Say hi.", "hi", "hello")
    >>> [x["role"] for x in m], "[Response B]\\nhello\\n[End of Response B]" in m[1]["content"]
    (['system', 'user'], True)
    """
    user = JUDGE_TEMPLATE.format(instruction=instruction.strip(), first=first.strip(), second=second.strip())
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def parse_judge_prompt(messages: Sequence[Message]) -> JudgeInputs:
    """The inverse of :func:`build_judge_messages`: what a judge prompt shows.

    Rule-based judges (fakes in tests, a length-only baseline judge) read their inputs
    with it instead of re-implementing the layout.

    >>> parse_judge_prompt(build_judge_messages("Say hi.", "hi", "hello"))
    JudgeInputs(instruction='Say hi.', first='hi', second='hello')
    """
    user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    found = _SECTION.search(user)
    if found is None:
        raise DataError("not a pairwise judge prompt: the [Instruction] / [Response A] / [Response B] sections are missing")
    return JudgeInputs(found["instruction"], found["first"], found["second"])


def judge_prompt_hash() -> str:
    """A hash of the judge's wording, recorded with every report that used it."""
    return content_hash({"system": JUDGE_SYSTEM, "template": JUDGE_TEMPLATE, "version": JUDGE_PROMPT_VERSION})


# "Verdict: A", "**Verdict:** [[B]]", "verdict - Response A", "Final verdict: tie", and
# "the verdict is a tie" (group 2: "a" there is an article, not response A).
_VERDICT_LINE = re.compile(
    r"verdict\W*?(?:is\W*)?(?:(?:response|output|answer|assistant)\s*)?([a-z]+)\b(?:\s+(tie|draw)\b)?",
    re.IGNORECASE,
)
# A reply that is nothing but a label: "B", "[[A]]", "Response B.", "Tie".
_BARE = re.compile(r"^\W*(?:(?:response|output|answer|assistant)\s*)?([a-z]+)\W*$", re.IGNORECASE)

_WORDS: dict[str, Label] = {
    "a": "A",
    "b": "B",
    "tie": "tie",
    "draw": "tie",
    "equal": "tie",
    "equally": "tie",
    "same": "tie",
    "both": "tie",
    "neither": "tie",
}


def parse_verdict(text: str) -> Verdict:
    """Read a judge reply; never raises.

    Looks for ``Verdict: X`` anywhere (markdown and brackets around it are fine; ``tie``,
    ``draw``, ``equal``, ``both`` and ``neither`` all mean a tie). Several verdict lines
    must agree. A reply that is only a label (``B``, ``[[A]]``, ``Response B.``) is read
    too. Anything else is a failure with the reason.

    >>> [parse_verdict(t).label for t in ["Verdict: A", "**Verdict:** [[B]]", "verdict: Tie.", "[[A]]", "Response B"]]
    ['A', 'B', 'tie', 'A', 'B']
    >>> parse_verdict("Verdict: A\\nVerdict: B").error
    'conflicting verdicts: A, B'
    >>> parse_verdict("   ").error
    'empty judge output'
    """
    if not text.strip():
        return Verdict(None, text, "empty judge output")
    found: list[Label] = []
    unreadable: str | None = None
    for match in _VERDICT_LINE.finditer(text):
        label = "tie" if match[2] else _WORDS.get(match[1].lower())
        if label is None:
            # "my verdict is that ..." in a reason is prose, not a verdict: keep looking.
            unreadable = unreadable or match[0].strip()
        elif label not in found:
            found.append(label)
    if len(found) > 1:
        return Verdict(None, text, f"conflicting verdicts: {', '.join(found)}")
    if found:
        return Verdict(found[0], text)
    bare = _BARE.match(text.strip())
    if bare and bare[1].lower() in _WORDS:
        return Verdict(_WORDS[bare[1].lower()], text)
    if unreadable:
        return Verdict(None, text, f"unreadable verdict {unreadable!r}: expected A, B or tie")
    return Verdict(None, text, "no verdict: expected a line 'Verdict: A', 'Verdict: B' or 'Verdict: tie'")


def preference_for_second(logprob_a: float, logprob_b: float) -> float:
    """P(B is better) from the log-likelihoods of the two verdict continuations.

    A tie has no continuation of its own: the two probabilities are renormalised, so a
    judge that finds both equally likely gives 0.5.
    """
    if logprob_a == logprob_b:  # also both -inf: no information either way
        return 0.5
    # exp(lb) / (exp(la) + exp(lb)) = sigmoid(lb - la), written so exp never overflows.
    d = logprob_b - logprob_a
    if d >= 0:
        return 1.0 / (1.0 + math.exp(-d))
    e = math.exp(d)
    return e / (1.0 + e)
