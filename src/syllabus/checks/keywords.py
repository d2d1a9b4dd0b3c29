"""Keywords: words that must appear, how often, words that must not, letter counts.

Keywords match whole words, ignoring case and spacing: ``river`` counts in "River" and
"river's" but not in "riverside". IFEval matches substrings; whole words keep a forbidden
"art" from failing a response that says "start".
"""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass

from syllabus.checks import vocab
from syllabus.checks.base import RELATIONS, Check, Relation, SampleContext, compare, register_check, times
from syllabus.checks.text import append_text, capitalize_first, count_phrase, phrase_pattern, sentence_spans
from syllabus.errors import ConfigError

__all__ = ["ForbiddenWords", "IncludeKeywords", "KeywordFrequency", "LetterFrequency", "without_word"]

_COMMON_LETTERS = "abcdeghilmnoprstuwy"
_RARE_LETTERS = "jqxz"


def _quoted_list(items: tuple[str, ...], conjunction: str) -> str:
    quoted = [f"'{item}'" for item in items]
    if len(quoted) <= 2:
        return f" {conjunction} ".join(quoted)
    return ", ".join(quoted[:-1]) + f", {conjunction} {quoted[-1]}"


def _pick(words: list[str] | tuple[str, ...]) -> int:
    # Which wording of vocab.MENTIONS: fixed by the words, so a repair is deterministic.
    return zlib.crc32(" ".join(words).encode("utf-8"))


def _match_case(model: str, word: str) -> str:
    if model.isupper() and len(model) > 1:
        return word.upper()
    return capitalize_first(word) if model[:1].isupper() else word


def _tidy(text: str) -> str:
    # After a word is taken out: no space before punctuation, no doubled spaces.
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
    return re.sub(r"(?<=\S)[ \t]{2,}", " ", text)


def without_word(text: str, word: str) -> str:
    """``text`` without ``word`` (any case): a filler with a plain replacement gets it
    (:data:`~syllabus.checks.vocab.REPLACEMENTS`), any other is left out, with a comma that
    followed it; an article before it is fixed ("a very open" -> "an open").

    >>> without_word("Basically, it is a very open and very important idea.", "very")
    'Basically, it is an open and important idea.'
    >>> without_word("Basically, a good idea.", "basically"), without_word("An important step.", "important")
    ('A good idea.', 'An essential step.')
    """
    replacement = vocab.REPLACEMENTS.get(word.lower())
    tail = "" if replacement else r",?[ \t]*(?P<next>\w?)"
    pattern = re.compile(rf"(?:(?<!\w)(?P<art>an?)\s+)?(?P<w>{phrase_pattern(word).pattern}){tail}", re.IGNORECASE)

    def swap(m: re.Match[str]) -> str:
        if replacement:
            new = following = _match_case(m["w"], replacement)
        else:  # the next word takes over a capital the left-out word had at a sentence start
            new = following = m["next"].upper() if m["w"][:1].isupper() and not m["art"] else m["next"]
        if not m["art"]:
            return new
        article = "an" if following[:1].lower() in tuple("aeiou") else "a"
        return f"{_match_case(m['art'], article)} {new}"

    return _tidy(pattern.sub(swap, text))


def _keywords(context: SampleContext) -> tuple[str, ...]:
    return context.keywords or vocab.KEYWORDS


def _nonempty_words(name: str, items: tuple[str, ...]) -> None:
    if not items or any(not item.strip() for item in items):
        raise ConfigError(f"{name} needs one or more non-empty words")


@register_check
@dataclass(frozen=True)
class IncludeKeywords(Check):
    """Every keyword appears at least once."""

    name = "keywords.include"
    keywords: tuple[str, ...]

    def validate(self) -> None:
        _nonempty_words(self.name, self.keywords)

    def describe(self) -> str:
        noun = "word" if len(self.keywords) == 1 else "words"
        return f"Include the {noun} {_quoted_list(self.keywords, 'and')} in your response."

    def passes(self, response: str) -> bool:
        return all(count_phrase(response, keyword) > 0 for keyword in self.keywords)

    repair_order = 30

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        missing = [k for k in self.keywords if not count_phrase(response, k)]
        return append_text(response, vocab.mention(missing, _pick(missing)))

    def required_texts(self) -> tuple[str, ...]:
        return self.keywords

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> IncludeKeywords:
        pool = sorted(set(_keywords(context)))
        return cls(keywords=tuple(rng.sample(pool, min(len(pool), rng.randint(1, 2)))))


@register_check
@dataclass(frozen=True)
class KeywordFrequency(Check):
    """``keyword`` occurs ``relation`` ``count`` times."""

    name = "keywords.frequency"
    keyword: str
    relation: Relation
    count: int

    def validate(self) -> None:
        _nonempty_words(self.name, (self.keyword,))
        if self.count < 1:
            raise ConfigError("keywords.frequency needs count >= 1; use keywords.forbidden for zero")

    def describe(self) -> str:
        return f"Use the word '{self.keyword}' {self.relation} {times(self.count)}."

    def passes(self, response: str) -> bool:
        return compare(count_phrase(response, self.keyword), self.relation, self.count)

    def required_texts(self) -> tuple[str, ...]:
        if self.relation == "at most":
            return ()
        return (" ".join([self.keyword] * self.count),)

    def forbids(self, text: str) -> bool:
        return self.relation != "at least" and count_phrase(text, self.keyword) > self.count

    repair_order = 30

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        have = count_phrase(response, self.keyword)
        if have < self.count:  # "at least" or "exactly": one short sentence per missing use
            start = _pick([self.keyword])
            for i in range(self.count - have):
                response = append_text(response, vocab.mention([self.keyword], start + i))
            return response
        return self._fewer(response, have - self.count)

    def _fewer(self, text: str, extra: int) -> str | None:
        # The last uses go: "the river" -> "it", "a river" -> "one"; a bare use takes its
        # sentence with it (while other sentences remain).
        pattern = re.compile(
            r"(?:\b(?P<det>the|this|that|a|an)\s+)?" + phrase_pattern(self.keyword).pattern, re.IGNORECASE
        )
        for _ in range(extra):
            found = list(pattern.finditer(text))
            if not found:  # a dropped sentence took several uses with it
                break
            m = found[-1]
            if m["det"]:
                pronoun = "one" if m["det"].lower() in ("a", "an") else "it"
                text = text[: m.start()] + _match_case(m["det"], pronoun) + text[m.end() :]
                continue
            spans = sentence_spans(text)
            inside = [(a, b) for a, b in spans if a <= m.start() < b]
            if len(spans) > 1 and inside and count_phrase(text[inside[0][0] : inside[0][1]], self.keyword) <= extra:
                a, b = inside[0]
                text = (text[:a].rstrip(" \t") + " " + text[b:].lstrip(" \t")).strip()
            else:
                text = text[: m.start()] + _match_case(m[0], "it") + text[m.end() :]
        return _tidy(text)

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> KeywordFrequency:
        keyword = rng.choice(sorted(set(_keywords(context))))
        return cls(keyword=keyword, relation=rng.choice(RELATIONS), count=rng.randint(1, 4))


@register_check
@dataclass(frozen=True)
class ForbiddenWords(Check):
    """None of ``words`` appears (as a whole word, any case)."""

    name = "keywords.forbidden"
    words: tuple[str, ...]

    def validate(self) -> None:
        _nonempty_words(self.name, self.words)

    def describe(self) -> str:
        noun = "word" if len(self.words) == 1 else "words"
        return f"Do not use the {noun} {_quoted_list(self.words, 'or')} anywhere in your response."

    def passes(self, response: str) -> bool:
        return not any(count_phrase(response, word) for word in self.words)

    def forbids(self, text: str) -> bool:
        return not self.passes(text)

    repair_order = 10

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        for word in self.words:
            response = without_word(response, word)
        return response

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> ForbiddenWords:
        # Never forbid a word of the prompt: answering on topic must stay possible.
        topic = {k.lower() for k in context.keywords}
        pool = sorted(w for w in vocab.FORBIDDEN_WORDS if w not in topic)
        return cls(words=tuple(rng.sample(pool, rng.randint(1, 3))))


@register_check
@dataclass(frozen=True)
class LetterFrequency(Check):
    """The letter ``letter`` (either case) occurs ``relation`` ``count`` times."""

    name = "keywords.letter_frequency"
    letter: str
    relation: Relation
    count: int

    def validate(self) -> None:
        if len(self.letter) != 1 or not self.letter.isalpha():
            raise ConfigError(f"keywords.letter_frequency needs a single letter, got {self.letter!r}")
        if self.count < 0:
            raise ConfigError("keywords.letter_frequency needs count >= 0")

    def describe(self) -> str:
        if self.count == 0 and self.relation != "at least":
            return f"Do not use the letter '{self.letter}' anywhere in your response."
        return f"The letter '{self.letter}' should appear {self.relation} {times(self.count)} in your response."

    def _count(self, text: str) -> int:
        return text.casefold().count(self.letter.casefold())

    def passes(self, response: str) -> bool:
        return compare(self._count(response), self.relation, self.count)

    def forbids(self, text: str) -> bool:
        return self.relation != "at least" and self._count(text) > self.count

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> LetterFrequency:
        # "At least" for common letters, "at most" for rare ones: an upper bound on a
        # common letter (at most 3 'e') would forbid writing anything at all.
        if rng.random() < 0.7:
            return cls(letter=rng.choice(_COMMON_LETTERS), relation="at least", count=rng.randint(2, 10))
        return cls(letter=rng.choice(_RARE_LETTERS), relation="at most", count=rng.randint(0, 3))
