"""Length and layout: words, sentences, paragraphs, the first word of a paragraph.

Words and sentences are counted by the rules in :mod:`syllabus.checks.text`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from syllabus.checks import vocab
from syllabus.checks.base import Check, Relation, SampleContext, compare, register_check
from syllabus.checks.text import (
    capitalize_first,
    count_sentences,
    count_words,
    keep_sentences,
    keep_words,
    plain_sentences,
    regroup,
    split_on_divider,
    split_paragraphs,
    words,
)
from syllabus.errors import ConfigError

__all__ = ["NthParagraphFirstWord", "Paragraphs", "Sentences", "Words", "ordinal"]

# Exact word and sentence counts are too fiddly to ask of anyone; only bounds are sampled
# (an exact count can still be built by hand).
_BOUNDS: tuple[Relation, ...] = ("at least", "at most")


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th`` ...

    >>> [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22)]
    ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd']
    """
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@register_check
@dataclass(frozen=True)
class Words(Check):
    """The word count stands in ``relation`` to ``count``."""

    name = "length.words"
    relation: Relation
    count: int

    def validate(self) -> None:
        if self.count < 1:
            raise ConfigError("length.words needs count >= 1")

    def describe(self) -> str:
        return f"Your response should be {self.relation} {self.count} words long."

    def measure(self, text: str) -> int:
        return count_words(text)

    def passes(self, response: str) -> bool:
        return compare(self.measure(response), self.relation, self.count)

    def forbids(self, text: str) -> bool:
        return self.relation != "at least" and count_words(text) > self.count

    repair_order = 20

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        # Too long: cut after the last sentence that fits. Too short: nothing to do.
        return keep_words(response, self.count) if self.relation != "at least" else None

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> Words:
        relation = rng.choice(_BOUNDS)
        count = rng.choice((20, 30, 50, 80, 100, 150) if relation == "at least" else (25, 40, 60, 80, 120, 200))
        return cls(relation=relation, count=count)


@register_check
@dataclass(frozen=True)
class Sentences(Check):
    """The sentence count stands in ``relation`` to ``count``."""

    name = "length.sentences"
    relation: Relation
    count: int

    def validate(self) -> None:
        if self.count < 1:
            raise ConfigError("length.sentences needs count >= 1")

    def describe(self) -> str:
        noun = "sentence" if self.count == 1 else "sentences"
        return f"Your response should contain {self.relation} {self.count} {noun}."

    def measure(self, text: str) -> int:
        return count_sentences(text)

    def passes(self, response: str) -> bool:
        return compare(self.measure(response), self.relation, self.count)

    def forbids(self, text: str) -> bool:
        return self.relation != "at least" and count_sentences(text) > self.count

    repair_order = 20

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        return keep_sentences(response, self.count) if self.relation != "at least" else None

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> Sentences:
        relation = rng.choice(_BOUNDS)
        return cls(relation=relation, count=rng.randint(2, 6) if relation == "at least" else rng.randint(1, 8))


@register_check
@dataclass(frozen=True)
class Paragraphs(Check):
    """Exactly ``count`` non-empty paragraphs separated by lines holding only ``***``.

    A divider before the first or after the last paragraph is tolerated; two dividers in a
    row (an empty paragraph) fail. ``***`` inside a line is not a divider.
    """

    name = "length.paragraphs"
    count: int

    def validate(self) -> None:
        if self.count < 1:
            raise ConfigError("length.paragraphs needs count >= 1")

    def describe(self) -> str:
        return (
            f"Write exactly {self.count} paragraphs, separated by a line that contains only "
            "the markdown divider ***."
        )

    def passes(self, response: str) -> bool:
        parts = split_on_divider(response, "***")
        if parts and not parts[0]:
            parts = parts[1:]
        if parts and not parts[-1]:
            parts = parts[:-1]
        return len(parts) == self.count and all(parts)

    repair_order = 40

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        groups = regroup(plain_sentences(response), self.count)
        return None if groups is None else "\n\n***\n\n".join(groups)

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> Paragraphs:
        return cls(count=rng.randint(2, 5))


def first_word(paragraph: str) -> str:
    """The first word of a paragraph, lowercased, markdown and quotes ignored."""
    found = words(paragraph)
    return found[0].casefold() if found else ""


@register_check
@dataclass(frozen=True)
class NthParagraphFirstWord(Check):
    """Exactly ``paragraphs`` blank-line-separated paragraphs; the ``nth`` one (1-based)
    starts with ``word`` (ignoring case, leading quotes and markdown)."""

    name = "length.nth_paragraph_first_word"
    paragraphs: int
    nth: int
    word: str

    def validate(self) -> None:
        if not 1 <= self.nth <= self.paragraphs:
            raise ConfigError(f"{self.name} needs 1 <= nth <= paragraphs, got nth={self.nth}, paragraphs={self.paragraphs}")
        if len(words(self.word)) != 1 or words(self.word)[0] != self.word:
            raise ConfigError(f"{self.name} needs a single word, got {self.word!r}")

    def describe(self) -> str:
        return (
            f"Write exactly {self.paragraphs} paragraphs separated by blank lines. "
            f"The {ordinal(self.nth)} paragraph must start with the word '{self.word}'."
        )

    def passes(self, response: str) -> bool:
        paragraphs = split_paragraphs(response)
        return len(paragraphs) == self.paragraphs and first_word(paragraphs[self.nth - 1]) == self.word.casefold()

    repair_order = 40

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        groups = regroup(plain_sentences(response), self.paragraphs)
        if groups is None:
            return None
        nth = groups[self.nth - 1]
        if first_word(nth) != self.word.casefold():  # "However the ..." (no comma: it may be forbidden)
            opening = nth if nth.split()[0] == "I" else nth[:1].lower() + nth[1:]
            groups[self.nth - 1] = f"{capitalize_first(self.word)} {opening}"
        return "\n\n".join(groups)

    def required_texts(self) -> tuple[str, ...]:
        return (self.word,)

    def conflicts_with(self, other: Check) -> bool:
        # The response's first word is fixed twice: by us (nth == 1) and by start_with.
        from syllabus.checks.startend import StartWith

        if isinstance(other, StartWith) and self.nth == 1 and first_word(other.phrase) != self.word.casefold():
            return True
        return super().conflicts_with(other)

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> NthParagraphFirstWord:
        paragraphs = rng.randint(2, 4)
        return cls(paragraphs=paragraphs, nth=rng.randint(1, paragraphs), word=rng.choice(vocab.FIRST_WORDS))
