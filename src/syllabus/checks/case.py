"""Letter case: all lowercase, all capitals, how many words are written in capitals."""

from __future__ import annotations

import random
from dataclasses import dataclass

from syllabus.checks import vocab
from syllabus.checks.base import RELATIONS, Check, Relation, SampleContext, compare, register_check, times
from syllabus.checks.text import _WORD, phrase_pattern, words
from syllabus.errors import ConfigError

__all__ = ["CapitalWords", "Lowercase", "Uppercase", "count_capital_words"]


@register_check
@dataclass(frozen=True)
class Lowercase(Check):
    """No uppercase letter anywhere (any script with case: ``É`` fails, ``é`` passes).

    Text without cased letters (digits, Chinese) passes: there is nothing to lowercase.
    """

    name = "case.lowercase"

    def describe(self) -> str:
        return "Write your entire response in lowercase letters; do not use a single capital letter."

    def passes(self, response: str) -> bool:
        return response == response.lower()

    repair_order = 80

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        return response.lower()


@register_check
@dataclass(frozen=True)
class Uppercase(Check):
    """No lowercase letter anywhere."""

    name = "case.uppercase"

    def describe(self) -> str:
        return "Write your entire response in capital letters only, LIKE THIS."

    def passes(self, response: str) -> bool:
        return response == response.upper()

    repair_order = 80

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        return response.upper()


def count_capital_words(text: str) -> int:
    """Words of two or more letters whose letters are all capitals.

    Single letters do not count, so the pronoun "I" and the article "A" at the start of a
    sentence are not taken for emphasis (IFEval counts them).

    >>> count_capital_words("I think NASA and the U.S are GREAT, A-OK? Go!")
    4
    """
    count = 0
    for word in words(text):
        letters = [c for c in word if c.isalpha()]
        if len(letters) >= 2 and all(c.isupper() for c in letters):
            count += 1
    return count


@register_check
@dataclass(frozen=True)
class CapitalWords(Check):
    """The number of all-capital words (2+ letters) stands in ``relation`` to ``count``."""

    name = "case.capital_words"
    relation: Relation
    count: int

    def validate(self) -> None:
        if self.count < 1:
            raise ConfigError("case.capital_words needs count >= 1")

    def describe(self) -> str:
        return (
            "Use words written entirely in capital letters (like IMPORTANT) "
            f"{self.relation} {times(self.count)} in your response."
        )

    def passes(self, response: str) -> bool:
        return compare(count_capital_words(response), self.relation, self.count)

    def forbids(self, text: str) -> bool:
        return self.relation != "at least" and count_capital_words(text) > self.count

    repair_order = 30

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        # Too few: write topic words in capitals, as emphasis. Too many: the last ones
        # go back to normal case.
        have = count_capital_words(response)
        if have < self.count and self.relation != "at most":
            for word in vocab.emphasis_candidates(response, prompt)[: self.count - have]:
                response = phrase_pattern(word).sub(lambda m: m[0].upper(), response, count=1)
            return response
        matches = [m for m in _WORD.finditer(response) if count_capital_words(m[0])]
        for m in reversed(matches[self.count :]):
            response = response[: m.start()] + m[0].capitalize() + response[m.end() :]
        return response

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> CapitalWords:
        return cls(relation=rng.choice(RELATIONS), count=rng.randint(1, 6))
