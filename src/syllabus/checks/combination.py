"""Combined shapes: two alternative responses, repeating the request before answering."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from syllabus.checks.base import Check, SampleContext, register_check
from syllabus.checks.text import normalize_space
from syllabus.errors import ConfigError

__all__ = ["RepeatPrompt", "TwoResponses"]

# Exactly six asterisks: a run of seven or more is not the separator.
_SEPARATOR = re.compile(r"(?<!\*)\*{6}(?!\*)")


@register_check
@dataclass(frozen=True)
class TwoResponses(Check):
    """Two different, non-empty responses separated by one ``******`` (six asterisks)."""

    name = "combination.two_responses"

    def describe(self) -> str:
        return (
            "Give two different responses. Separate them with a line of six asterisks "
            "(******) and use that separator only once."
        )

    def passes(self, response: str) -> bool:
        parts = [normalize_space(p) for p in _SEPARATOR.split(response)]
        return len(parts) == 2 and all(parts) and parts[0].casefold() != parts[1].casefold()


_DOUBLE_QUOTES = str.maketrans("", "", "\"“”„«»")


def _comparable(text: str) -> str:
    # Word for word means the words: case, spacing and double quotes put around the
    # repeated request do not matter.
    return normalize_space(text.translate(_DOUBLE_QUOTES)).casefold()


@register_check
@dataclass(frozen=True)
class RepeatPrompt(Check):
    """The response starts with ``prompt`` word for word (case, spacing and double quotes
    aside) and then goes on with an answer."""

    name = "combination.repeat_prompt"
    prompt: str

    def validate(self) -> None:
        if not self.prompt.strip():
            raise ConfigError("combination.repeat_prompt needs the prompt to repeat")

    def describe(self) -> str:
        return (
            "Before answering, repeat the request below word for word, with nothing written "
            f"before it; then give your answer. The request: {self.prompt.strip()}"
        )

    def passes(self, response: str) -> bool:
        text, prompt = _comparable(response), _comparable(self.prompt)
        return text.startswith(prompt) and bool(text[len(prompt) :].strip())

    def required_texts(self) -> tuple[str, ...]:
        return (self.prompt,)

    repair_order = 64  # last of the openings: nothing may come before the request

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        return f"{self.prompt.strip()}\n\n{response.strip()}" if response.strip() else None

    @classmethod
    def applicable(cls, context: SampleContext) -> bool:
        return bool(context.prompt.strip())

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> RepeatPrompt:
        if not cls.applicable(context):
            raise ConfigError("combination.repeat_prompt can only be sampled with a prompt in the context")
        return cls(prompt=context.prompt.strip())
