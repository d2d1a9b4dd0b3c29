"""How the response starts and ends.

Both compare ignoring case and collapsing whitespace (as IFEval does for endings), and
both insist on a word boundary: "In short" is not the start of "In shortage".
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from syllabus.checks import vocab
from syllabus.checks.base import Check, SampleContext, register_check
from syllabus.checks.text import (
    append_text,
    capitalize_first,
    normalize_space,
    prepend_text,
    sentence_spans,
)
from syllabus.errors import ConfigError

__all__ = ["EndWith", "StartWith"]


def _require_phrase(name: str, phrase: str) -> None:
    if not phrase.strip():
        raise ConfigError(f"{name} needs a non-empty phrase")


def _core(phrase: str) -> str:
    return normalize_space(phrase).strip(" .,;:!?")


# First words that are lowercased when a phrase runs on into the sentence ("In short the ...").
_LOWER_OPENERS = frozenset(
    re.findall(
        r"\w+",
        "a an the it its this that these those there they we you he she our my your their "
        "when while if because since most many some all each every one to in on at for",
    )
)


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

    repair_order = 62

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        phrase, body = self.phrase.strip(), response.strip()
        # The answer opens with the phrase in other punctuation ("Sure, ..." for "Sure."):
        # swap the opening for the phrase.
        core = _core(phrase)
        if body[: len(core)].casefold() == core.casefold() and not body[len(core) : len(core) + 1].isalnum():
            body = capitalize_first(body[len(core) :].lstrip(" \t.,;:!?-–—"))
        if phrase[-1].isalnum():
            if len(phrase.split()) == 1:
                phrase += "!"  # "Sure! The answer ..."
            elif body.split(maxsplit=1)[0].lower() in _LOWER_OPENERS and not prepend_text("", body).startswith("\n"):
                return f"{phrase} {body[0].lower()}{body[1:]}"  # "In short the answer ..."
            else:
                phrase += ":"  # "In short: Ice floats ..." (the next word may be a name)
        return prepend_text(phrase, body)

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

    repair_order = 50

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        text = response.strip()
        # The last sentence already is the phrase in other punctuation ("Hope this helps!"):
        # replace it rather than say it twice.
        spans = sentence_spans(text)
        if spans and _core(text[spans[-1][0] :]).casefold() == _core(self.phrase).casefold():
            text = text[: spans[-1][0]]
        return append_text(text, self.phrase.strip())

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> EndWith:
        return cls(phrase=rng.choice(vocab.END_PHRASES))
