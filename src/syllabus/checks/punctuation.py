"""Punctuation: no commas."""

from __future__ import annotations

import re
from dataclasses import dataclass

from syllabus.checks.base import Check, register_check

__all__ = ["COMMAS", "NoComma", "without_commas"]

# The ASCII comma and the commas of other scripts; a model asked for "no commas" that
# switches to a full-width comma has not followed the instruction.
COMMAS = frozenset(",，、﹐﹑､،")


@register_check
@dataclass(frozen=True)
class NoComma(Check):
    """No comma of any script (``,`` ``，`` ``、`` ``،`` and their small forms)."""

    name = "punctuation.no_comma"

    def describe(self) -> str:
        return "Do not use any commas in your response."

    def passes(self, response: str) -> bool:
        return not any(c in COMMAS for c in response)

    def forbids(self, text: str) -> bool:
        return not self.passes(text)

    repair_order = 10

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        return without_commas(response)


_ANY_COMMA = "[" + "".join(sorted(COMMAS)) + "]"
_COMMA_REWRITES = (
    (re.compile(r"(?<=\d),(?=\d{3}(?!\d))"), ""),  # 1,000 -> 1000
    # A comma before a closing quote, the end of a line or a space just goes: "a, and b"
    # -> "a and b", "Hello," she said -> "Hello" she said.
    (re.compile(rf"[ \t]*{_ANY_COMMA}(?=[\s\"'”’)\]]|$)"), ""),
    (re.compile(rf"[ \t]*{_ANY_COMMA}[ \t]*"), " "),  # between two words: a,b -> a b
)


def without_commas(text: str) -> str:
    """``text`` with every comma taken out, spacing kept sensible.

    >>> without_commas("Well, it costs 1,000 euros, and that is fair,she said.")
    'Well it costs 1000 euros and that is fair she said.'
    """
    for pattern, replacement in _COMMA_REWRITES:
        text = pattern.sub(replacement, text)
    return text
