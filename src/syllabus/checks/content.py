"""Detectable content: a postscript, fill-in fields in square brackets."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from syllabus.checks import vocab
from syllabus.checks.base import Check, SampleContext, register_check
from syllabus.checks.text import append_text
from syllabus.errors import ConfigError

__all__ = ["FillIns", "Postscript", "count_fill_ins"]


def _marker_pattern(marker: str) -> re.Pattern[str]:
    # "P.S." matches "P.S.", "p.s.", "P. S." at the start of a line, followed by some text.
    letters = [part for part in marker.split(".") if part]
    body = r"\.\s?".join(re.escape(letter) for letter in letters) + r"\."
    return re.compile(rf"^[ \t]*{body}[ \t]*\S", re.IGNORECASE | re.MULTILINE)


@register_check
@dataclass(frozen=True)
class Postscript(Check):
    """A line starts with ``marker`` (any case, optional space after each dot) and has text after it.

    ``P.S.`` is not satisfied by ``P.P.S.``, nor the other way round.
    """

    name = "content.postscript"
    marker: str = "P.S."

    def validate(self) -> None:
        if not re.fullmatch(r"(?:[A-Za-z]+\.)+", self.marker):
            raise ConfigError(f"content.postscript needs a marker like 'P.S.', got {self.marker!r}")

    def describe(self) -> str:
        return f"After your answer, add a postscript on its own line that starts with {self.marker}"

    def passes(self, response: str) -> bool:
        return bool(_marker_pattern(self.marker).search(response))

    def required_texts(self) -> tuple[str, ...]:
        return (self.marker,)

    repair_order = 50

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        return append_text(response, f"{self.marker} {vocab.POSTSCRIPT_TEXT}", own_line=True)

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> Postscript:
        return cls(marker=rng.choice(vocab.POSTSCRIPT_MARKERS))


# [text] not followed by "(" (a markdown link), not a footnote [^1] or citation [12],
# not a task-list box [ ] / [x].
_BRACKETED = re.compile(r"\[([^\[\]\n]+)\](?!\()")


def count_fill_ins(text: str) -> int:
    """Square-bracketed fill-in fields such as ``[name]`` or ``[your city]``.

    >>> count_fill_ins("Dear [name], see [this](http://x.org) and [1]. - [x] done [ your city ]")
    2
    """
    count = 0
    for match in _BRACKETED.finditer(text):
        inner = match.group(1).strip()
        if inner and not inner.isdigit() and not inner.startswith("^") and inner.lower() != "x":
            count += 1
    return count


@register_check
@dataclass(frozen=True)
class FillIns(Check):
    """At least ``count`` fill-in fields in square brackets (IFEval's template-field check)."""

    name = "content.fill_ins"
    count: int

    def validate(self) -> None:
        if self.count < 1:
            raise ConfigError("content.fill_ins needs count >= 1")

    def describe(self) -> str:
        fields = "field" if self.count == 1 else "fields"
        return (
            f"Include at least {self.count} fill-in {fields} in square brackets for the reader "
            "to complete, such as [name] or [date]."
        )

    def passes(self, response: str) -> bool:
        return count_fill_ins(response) >= self.count

    repair_order = 30

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        # One closing sentence with the missing fields: "Feel free to adapt this for [your name] on [date]."
        missing = self.count - count_fill_ins(response)
        phrases = list(vocab.FILL_IN_PHRASES[:missing])
        phrases += [f"and [detail {i}]" for i in range(len(phrases) + 1, missing + 1)]
        return append_text(response, vocab.FILL_IN_SENTENCE.format(" ".join(phrases)))

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> FillIns:
        return cls(count=rng.randint(1, 4))
