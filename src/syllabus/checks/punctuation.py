"""Punctuation: no commas."""

from __future__ import annotations

from dataclasses import dataclass

from syllabus.checks.base import Check, register_check

__all__ = ["COMMAS", "NoComma"]

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
