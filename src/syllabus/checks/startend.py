"""How the response starts and ends.

Both compare ignoring case and collapsing whitespace (as IFEval does for endings), and
both insist on a word boundary: "In short" is not the start of "In shortage".
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from syllabus.checks import vocab
from syllabus.checks.base import Check, SampleContext, register_check
from syllabus.checks.text import normalize_space
from syllabus.errors import ConfigError

__all__ = ["EndWith", "StartWith"]


def _require_phrase(name: str, phrase: str) -> None:
    if not phrase.strip():
        raise ConfigError(f"{name} needs a non-empty phrase")


@register_check
@dataclass(frozen=True)
class StartWith(Check):
    """The response begins with ``phrase``."""

    name = "startend.start_with"
    phrase: str

    def validate(self) -> None:
        _require_phrase(self.name, self.phrase)

    def describe(self) -> str:
        end = "" if self.phrase.rstrip()[-1] in ".!?:" else "."
        return f"Begin your response with the words '{self.phrase}'{end}"

    def passes(self, response: str) -> bool:
        text = normalize_space(response).casefold()
        phrase = normalize_space(self.phrase).casefold()
        if not text.startswith(phrase):
            return False
        rest = text[len(phrase) :]
        return not (phrase[-1].isalnum() and rest[:1].isalnum())

    def required_texts(self) -> tuple[str, ...]:
        return (self.phrase,)

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> StartWith:
        return cls(phrase=rng.choice(vocab.START_PHRASES))


@register_check
@dataclass(frozen=True)
class EndWith(Check):
    """The response ends with ``phrase``; trailing whitespace is ignored, nothing else may follow."""

    name = "startend.end_with"
    phrase: str

    def validate(self) -> None:
        _require_phrase(self.name, self.phrase)

    def describe(self) -> str:
        return f"End your response with the exact phrase '{self.phrase}' and write nothing after it."

    def passes(self, response: str) -> bool:
        text = normalize_space(response).casefold()
        phrase = normalize_space(self.phrase).casefold()
        if not text.endswith(phrase):
            return False
        before = text[: len(text) - len(phrase)]
        return not (phrase[0].isalnum() and before[-1:].isalnum())

    def required_texts(self) -> tuple[str, ...]:
        return (self.phrase,)

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> EndWith:
        return cls(phrase=rng.choice(vocab.END_PHRASES))
