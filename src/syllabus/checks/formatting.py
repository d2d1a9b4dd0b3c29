"""Detectable format: lists, highlights, sections, a title, JSON, quotation, fixed options."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from syllabus.checks import vocab
from syllabus.checks.base import Check, SampleContext, register_check
from syllabus.checks.text import (
    normalize_space,
    phrase_pattern,
    plain_sentences,
    regroup,
    split_sentences,
    strip_code_fence,
    words,
)
from syllabus.errors import ConfigError

__all__ = [
    "Bullets",
    "Highlights",
    "JsonFormat",
    "NumberedList",
    "Options",
    "Quoted",
    "Sections",
    "Title",
    "as_list",
    "count_bullets",
    "count_highlights",
    "count_numbered",
    "make_title",
]

# A markdown bullet: "-", "*" or "+" then whitespace then text, at any indentation.
# "---" (a rule), "***" (a divider), "**bold**" and "-5" are not bullets.
_BULLET = re.compile(r"^[ \t]*[-*+][ \t]+\S", re.MULTILINE)
_NUMBERED = re.compile(r"^[ \t]*\d+[.)][ \t]+\S", re.MULTILINE)


def count_bullets(text: str) -> int:
    """Markdown bullet items, nested ones included; "•" is not markdown and does not count.

    >>> count_bullets("* one\\n- two\\n  + nested\\n---\\n**bold**\\n-5 degrees\\n• dot")
    3
    """
    return len(_BULLET.findall(text))


def count_numbered(text: str) -> int:
    """Numbered items, ``1.`` or ``1)`` at the start of a line; ``3.5`` is a number, not an item.

    >>> count_numbered("1. a\\n2) b\\n3.5 is a number\\n 10. c")
    3
    """
    return len(_NUMBERED.findall(text))


_INTRO = re.compile(r"^<<[^<>\n]+>>$|:$")  # a title line, or a line that announces the list
_OUTRO = re.compile(r"^(?:p\.\s?)+s\.", re.IGNORECASE)  # a postscript stays after the list


def _frame(text: str) -> tuple[list[str], list[str], list[str]]:
    """The sentences of ``text`` as (opening lines, body, closing lines)."""
    units = plain_sentences(re.sub(r":[ \t]*\n", ":\n\n", text))  # a line ending in ":" stands alone
    head: list[str] = []
    tail: list[str] = []
    while len(units) > 1 and _INTRO.search(units[0]):
        head.append(units.pop(0))
    while len(units) > 1 and _OUTRO.match(units[-1]):
        tail.insert(0, units.pop())
    return head, units, tail


def _assemble(head: list[str], parts: list[str], tail: list[str]) -> str:
    return "\n\n".join(p for p in ["\n\n".join(head), "\n".join(parts), "\n\n".join(tail)] if p)


def as_list(text: str, count: int, marker: Callable[[int], str]) -> str | None:
    """The sentences of ``text`` as exactly ``count`` list items (joined or split to fit),
    each line opening with ``marker(i)``; a title or an announcing line ("Tips:") stays
    above the list, a postscript below it. ``None`` when there is too little text.

    >>> print(as_list("Here are two tips:\\nSleep well. Eat well. Walk daily.", 2, lambda i: "*"))
    Here are two tips:
    <BLANKLINE>
    * Sleep well. Eat well.
    * Walk daily.
    """
    head, body, tail = _frame(text)
    groups = regroup(body, count)
    if groups is None:
        return None
    return _assemble(head, [f"{marker(i)} {g}" for i, g in enumerate(groups, 1)], tail)


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


@register_check
@dataclass(frozen=True)
class Bullets(Check):
    """Exactly ``count`` markdown bullet items (``-``, ``*`` or ``+``)."""

    name = "format.bullets"
    count: int

    def validate(self) -> None:
        if self.count < 1:
            raise ConfigError("format.bullets needs count >= 1")

    def describe(self) -> str:
        return (
            f"Your answer must contain exactly {self.count} markdown bullet "
            f"{_plural(self.count, 'point', 'points')}, each on its own line starting with '- ' or '* '."
        )

    def passes(self, response: str) -> bool:
        return count_bullets(response) == self.count

    repair_order = 40

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        return as_list(response, self.count, lambda i: "*")

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> Bullets:
        return cls(count=rng.randint(2, 6))


@register_check
@dataclass(frozen=True)
class NumberedList(Check):
    """Exactly ``count`` numbered items (``1.`` or ``1)`` at the start of a line)."""

    name = "format.numbered"
    count: int

    def validate(self) -> None:
        if self.count < 1:
            raise ConfigError("format.numbered needs count >= 1")

    def describe(self) -> str:
        return (
            f"Give your answer as a numbered list with exactly {self.count} "
            f"{_plural(self.count, 'item', 'items')} (1., 2., ...), one per line."
        )

    def passes(self, response: str) -> bool:
        return count_numbered(response) == self.count

    repair_order = 40

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        return as_list(response, self.count, lambda i: f"{i}.")

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> NumberedList:
        return cls(count=rng.randint(2, 6))


# Markdown emphasis: *text* or **text**, with no space just inside the asterisks, so a
# bullet "* item" or a product "2 * 3 * 4" is not a highlight.
_SINGLE = re.compile(r"(?<![*\\])\*(?=[^\s*])[^*\n]*?(?<=[^\s*])\*(?!\*)")
_DOUBLE = re.compile(r"(?<![*\\])\*\*(?=[^\s*])[^*\n]*?(?<=[^\s*])\*\*(?!\*)")


def count_highlights(text: str) -> int:
    """Highlighted spans in markdown emphasis, ``*like this*`` or ``**like this**``.

    >>> count_highlights("* item\\n*one* and **two** but not 2 * 3 * 4 or ** spaced **")
    2
    """
    return len(_SINGLE.findall(text)) + len(_DOUBLE.findall(text))


@register_check
@dataclass(frozen=True)
class Highlights(Check):
    """At least ``count`` highlighted spans (``*text*`` or ``**text**``)."""

    name = "format.highlights"
    count: int

    def validate(self) -> None:
        if self.count < 1:
            raise ConfigError("format.highlights needs count >= 1")

    def describe(self) -> str:
        return (
            f"Highlight at least {self.count} {_plural(self.count, 'part', 'parts')} of your answer "
            "with markdown, for example *an important phrase*."
        )

    def passes(self, response: str) -> bool:
        return count_highlights(response) >= self.count

    repair_order = 30

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        # Emphasise words already there, the prompt's topic words first: "*floats*".
        missing = self.count - count_highlights(response)
        for word in vocab.emphasis_candidates(response, prompt):
            if missing == 0:
                break
            taken = [m.span() for p in (_SINGLE, _DOUBLE, _TITLE, _BRACKETS) for m in p.finditer(response)]
            for m in phrase_pattern(word).finditer(response):
                if not any(a <= m.start() < b for a, b in taken):
                    response = f"{response[: m.start()]}*{m[0]}*{response[m.end() :]}"
                    missing -= 1
                    break
        return response if missing == 0 else None

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> Highlights:
        return cls(count=rng.randint(1, 4))


@register_check
@dataclass(frozen=True)
class Sections(Check):
    """Exactly ``count`` lines start with ``marker`` and a number (``SECTION 1``, ``## Part 2``).

    The marker matches in any case and may follow markdown heading or bold marks; the
    numbers themselves are not checked for order.
    """

    name = "format.sections"
    count: int
    marker: str = "SECTION"

    def validate(self) -> None:
        if self.count < 1:
            raise ConfigError("format.sections needs count >= 1")
        if not re.fullmatch(r"[^\W\d_]+", self.marker):
            raise ConfigError(f"format.sections needs a one-word marker, got {self.marker!r}")

    def describe(self) -> str:
        return (
            f"Divide your response into exactly {self.count} sections. Start each section with a "
            f"line of the form '{self.marker} X', numbering them {self.marker} 1, {self.marker} 2, and so on."
        )

    def passes(self, response: str) -> bool:
        pattern = re.compile(rf"^[ \t#*_]*{re.escape(self.marker)}[ \t]+\d+\b", re.IGNORECASE | re.MULTILINE)
        return len(pattern.findall(response)) == self.count

    def required_texts(self) -> tuple[str, ...]:
        return tuple(f"{self.marker} {i}" for i in range(1, self.count + 1))

    repair_order = 40

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        head, body, tail = _frame(response)
        groups = regroup(body, self.count)
        if groups is None:
            return None
        parts = [f"{self.marker} {i}\n{g}" for i, g in enumerate(groups, 1)]
        return "\n\n".join(["\n\n".join(head), "\n\n".join(parts), "\n\n".join(tail)]).strip()

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> Sections:
        return cls(count=rng.randint(2, 4), marker=rng.choice(vocab.SECTION_MARKERS))


_TITLE = re.compile(r"<<([^<>\n]+)>>")
_BRACKETS = re.compile(r"\[[^\[\]\n]*\]|`[^`\n]*`")


# Words that open a request ("Explain why ...", "Write me a short ...") and say nothing of the topic.
_REQUEST_WORDS = frozenset(
    re.findall(
        r"\w+",
        "write explain describe give list tell suggest summarize summarise create compose draft name share "
        "outline compare offer provide recommend discuss plan me us a an the some short brief quick please "
        "can could would you help",
    )
)
_SMALL_WORDS = frozenset(re.findall(r"\w+", "a an the and or but of on in to for with at by from as is are was it its"))


def make_title(prompt: str, response: str = "", max_words: int = 6) -> str:
    """A short title: the topic of the prompt's first sentence, else the response's first words.

    >>> make_title("Explain why ice floats on water. Do not use commas.")
    'Why Ice Floats on Water'
    >>> make_title("", "Autumn leaves turn red because the green fades.")
    'Autumn Leaves Turn Red'
    """
    for source, skip in ((prompt, _REQUEST_WORDS), (response, frozenset({"sure", "here", "okay", "ok", "yes"}))):
        first = next(iter(split_sentences(source)), "")
        found = words(first)
        while found and found[0].lower() in skip:
            found.pop(0)
        found = found[:max_words]
        while found and (found[-1].lower() in _SMALL_WORDS or found[-1].lower() in vocab.STOPWORDS):
            found.pop()
        if found:
            return " ".join(
                w if i and w.lower() in _SMALL_WORDS else w[:1].upper() + w[1:] for i, w in enumerate(found)
            )
    return "Answer"


@register_check
@dataclass(frozen=True)
class Title(Check):
    """A title in double angle brackets, ``<<like this>>``, with some text inside."""

    name = "format.title"

    def describe(self) -> str:
        return "Give your response a title wrapped in double angle brackets, such as <<a short title>>."

    def passes(self, response: str) -> bool:
        return any(match.strip() for match in _TITLE.findall(response))

    repair_order = 60

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        return f"<<{make_title(prompt, response)}>>\n\n{response.strip()}"


@register_check
@dataclass(frozen=True)
class JsonFormat(Check):
    """The whole response parses as a JSON object or array, alone or as one fenced block.

    A bare scalar (``"yes"``, ``42``) is valid JSON but not what "format it as JSON"
    asks for, so it fails (IFEval accepts it).
    """

    name = "format.json"

    def describe(self) -> str:
        return (
            "Format your entire response as valid JSON (an object or an array). You may put it "
            "in a ```json code block, but write nothing outside the JSON."
        )

    def passes(self, response: str) -> bool:
        try:
            value = json.loads(strip_code_fence(response))
        except ValueError:
            return False
        return isinstance(value, (dict, list))

    repair_order = 70

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        # One line: a "\n" escape would glue "n" to the next word ("\nRiver" hides "river").
        return json.dumps({"answer": normalize_space(strip_code_fence(response))}, ensure_ascii=False)


_QUOTE_PAIRS = (('"', '"'), ("“", "”"), ("„", "“"), ("«", "»"))


@register_check
@dataclass(frozen=True)
class Quoted(Check):
    """The whole response (ends stripped) sits inside one pair of double quotation marks.

    Straight ``"..."`` and typographic ``“...”``, ``„...“`` and ``«...»`` all count.
    """

    name = "format.quoted"

    def describe(self) -> str:
        return "Wrap your entire response in double quotation marks."

    def passes(self, response: str) -> bool:
        text = response.strip()
        return len(text) > 2 and any(text[0] == a and text[-1] == b for a, b in _QUOTE_PAIRS) and bool(text[1:-1].strip())

    repair_order = 70

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        return f'"{response.strip()}"'


def _normalize_option(text: str) -> str:
    # Forgive what does not change the choice: case, spacing, surrounding quotes or
    # markdown, a final full stop.
    text = normalize_space(text).strip("\"'“”‘’*_` ")
    return text.rstrip(".!").strip().casefold()


@register_check
@dataclass(frozen=True)
class Options(Check):
    """The response is exactly one of ``options`` and nothing else.

    Case, surrounding whitespace, quotes, markdown emphasis and a final full stop are
    ignored. IFEval passes any response that merely contains an option; here a one-line
    preamble or closing remark is forgiven only by the loose score.
    """

    name = "format.options"
    options: tuple[str, ...]

    def validate(self) -> None:
        normalized = [_normalize_option(o) for o in self.options]
        if len(self.options) < 2 or not all(normalized) or len(set(normalized)) != len(normalized):
            raise ConfigError(f"format.options needs two or more distinct options, got {self.options!r}")

    def describe(self) -> str:
        listed = ", ".join(f"'{o}'" for o in self.options)
        return f"Answer with exactly one of the following options and nothing else: {listed}."

    def passes(self, response: str) -> bool:
        return _normalize_option(response) in {_normalize_option(o) for o in self.options}

    def conflicts_with(self, other: Check) -> bool:
        # The response is one option: a conflict if the other check forbids every option.
        return all(other.forbids(option) for option in self.options) or super().conflicts_with(other)

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> Options:
        return cls(options=rng.choice(vocab.OPTION_SETS))
