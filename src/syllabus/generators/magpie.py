"""``magpie``: self-synthesis from a chat model's own template (Magpie, Xu et al. 2024).

An aligned chat model, given only the start of its chat template up to the opening of a
user turn, writes a plausible user query by itself: it has seen thousands of conversations
that continue that way. Magpie harvests those queries and then has the same model answer
them with the ordinary chat template. No seed data, no prompt engineering.

Two phases per round:

1. **queries**: the template prefix (e.g. SmolLM2's
   ``<|im_start|>system\\n...<|im_end|>\\n<|im_start|>user\\n``) is sent as a *raw* prompt,
   sampled (temperature 1.0 by default, a distinct sample index per query so every query is
   its own draw), stopping at the template's end-of-turn marker. Filters drop empty, too
   short, too long (or cut off) queries; a second phase drops exact duplicates of earlier
   queries (normalised case and spacing).
2. **responses**: each kept query is answered through the chat template (greedy by
   default), with the same system prompt if one steers the domain; the stored record keeps
   only the user turn.

The prefix comes from the teacher's chat template: a conversation holding a sentinel user
message is rendered and cut at the sentinel (:func:`template_prefix`). A teacher without a
chat template (a base model, a fake) has no user turn to imitate: that is a ``ConfigError``
unless ``prefix`` (and ``stop``) are given explicitly.

    syllabus generate --generator magpie --teacher builtin:smollm2-135m-instruct --n 50 \\
        --set system="You are a helpful assistant for cooking questions." --out runs/magpie
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from syllabus.errors import ConfigError
from syllabus.generators.base import GenerationRun, Generator, Plan
from syllabus.llm.base import LLM, SamplingParams
from syllabus.parsing import ParseError
from syllabus.pipeline.respond import Respond
from syllabus.pipeline.step import Drop, Filter
from syllabus.pipeline.teacher import TeacherStep
from syllabus.record import Example, Message

__all__ = [
    "FirstOccurrence",
    "Magpie",
    "MagpieConfig",
    "QueryLength",
    "SampleQuery",
    "TemplatePrefix",
    "normalise_text",
    "template_prefix",
]

# Plain letters and digits: some templates trim or escape message content, which must not
# change the sentinel (it is found again in the rendered text).
SENTINEL = "MAGPIESENTINEL7Q3X"
# A special token written like ``<|im_start|>`` or ``<end_of_turn>``: decoders that skip
# special tokens drop these, leaving only the visible rest of a turn header.
_SPECIAL = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class TemplatePrefix:
    """What a chat template says about a user turn.

    Attributes:
        prefix: the rendered text up to and including the opening of the user turn.
        stops: stop strings that end the user turn (end-of-turn marker, next turn header).
        header: the visible part of the assistant header after special tokens are
            skipped (``assistant`` for ChatML): a line of exactly this text ends a query
            whose end-of-turn token a decoder did not print.
    """

    prefix: str
    stops: tuple[str, ...]
    header: str = ""


def template_prefix(llm: LLM, system: str | None = None) -> TemplatePrefix:
    """Cut the teacher's chat template at the start of a user message.

    >>> from syllabus.llm.fake import EchoLLM
    >>> class ChatML(EchoLLM):
    ...     def apply_chat_template(self, messages, *, add_generation_prompt=True):
    ...         text = "".join(f"<|im_start|>{m['role']}\\n{m['content']}<|im_end|>\\n" for m in messages)
    ...         return text + ("<|im_start|>assistant\\n" if add_generation_prompt else "")
    >>> t = template_prefix(ChatML())
    >>> t.prefix, t.stops
    ('<|im_start|>user\\n', ('<|im_end|>', '<|im_start|>assistant'))
    """
    messages: list[Message] = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": SENTINEL})
    closed = llm.apply_chat_template(messages, add_generation_prompt=False)
    at = closed.find(SENTINEL)
    if at < 0:
        raise ConfigError(
            f"magpie: the chat template of {llm.model_id} does not show the user message verbatim; "
            "give the user-turn prefix with --set prefix=... (and --set stop=[...])"
        )
    prefix, after = closed[:at], closed[at + len(SENTINEL) :]
    opened = llm.apply_chat_template(messages, add_generation_prompt=True)
    generation_header = opened[len(closed) :] if opened.startswith(closed) else ""
    stops = tuple(dict.fromkeys(s for s in (after.strip(), generation_header.strip()) if s))
    if not stops:
        raise ConfigError(
            f"magpie: cannot tell where a user turn ends in the chat template of {llm.model_id}; give --set stop=[...]"
        )
    header = _SPECIAL.sub("", generation_header).strip()
    return TemplatePrefix(prefix, stops, header)


def normalise_text(text: str) -> str:
    """Lowercase with runs of whitespace collapsed: the key of exact-duplicate detection."""
    return " ".join(text.lower().split())


@dataclass
class MagpieConfig:
    system: str | None = field(
        default=None,
        metadata={"help": "system prompt rendered into the prefix (steers the domain of the queries)"},
    )
    prefix: str | None = field(
        default=None,
        metadata={"help": "explicit user-turn prefix (instead of the teacher's chat template)"},
    )
    stop: list[str] = field(
        default_factory=list,
        metadata={"help": "stop strings that end a query (added to those of the template)"},
    )
    query_temperature: float = field(
        default=1.0, metadata={"help": "sampling temperature of the queries (diversity comes from it)"}
    )
    query_top_p: float = field(default=1.0, metadata={"help": "nucleus sampling of the queries"})
    query_max_tokens: int = field(
        default=128, metadata={"help": "token budget of a query; a query cut off here counts as too long"}
    )
    min_words: int = field(default=3, metadata={"help": "shorter queries are dropped"})
    max_words: int = field(default=150, metadata={"help": "longer queries are dropped"})


class SampleQuery(TeacherStep):
    """Send the raw user-turn prefix and keep what the model writes as the user's query.

    Every input is a placeholder carrying ``magpie.index``; the index is the request's
    sample index, so N placeholders are N independent draws from one identical prompt
    (and N entries of the request cache, so a rerun returns the same N queries).
    """

    name = "query"
    version = "1"

    def __init__(self, llm: LLM, params: SamplingParams, *, template: TemplatePrefix, **kwargs: object):
        super().__init__(llm, params, **kwargs)  # type: ignore[arg-type]
        self.prefix = template

    def request(self, example: Example) -> str:
        return self.prefix.prefix

    def sample_indices(self, example: Example) -> Sequence[int]:
        # The placeholder's own index: with the default (0..n-1 per example) every placeholder
        # would send the same request and get the same query.
        return [int(example.meta["magpie.index"])]

    def parse(self, text: str, example: Example, sample: int) -> Example:
        query = text
        for stop in self.prefix.stops:  # backends that ignore stop strings still get cut here
            query = query.split(stop, 1)[0]
        if self.prefix.header:
            lines = query.split("\n")
            cut = next((i for i, line in enumerate(lines) if line.strip() == self.prefix.header), len(lines))
            query = "\n".join(lines[:cut])
        query = query.strip()
        if not query:
            raise ParseError("empty query")
        out = Example(id=example.id, messages=[{"role": "user", "content": query}], meta=dict(example.meta))
        out.meta["source"] = "magpie"
        return out


class QueryLength(Filter):
    """Drop queries that are too short, too long, or were cut off by the token budget."""

    name = "query-length"

    def __init__(self, min_words: int, max_words: int):
        self.min_words, self.max_words = min_words, max_words

    def keep(self, example: Example) -> bool | Drop:
        words = len(example.prompt.split())
        example.set_meta("magpie", "query_words", words)
        if words < self.min_words:
            return Drop("too short")
        if words > self.max_words or example.meta.get("query.finish_reason") == "length":
            return Drop("too long")
        return True


class FirstOccurrence(Filter):
    """Keep the records whose ids are listed (the first of each duplicate group); drop the rest.

    The decision is made beforehand over the whole ordered list (see :meth:`of`), so it does
    not depend on which shards a resumed run happens to redo.

    >>> a, b = Example.from_prompt("Hi there", id="a"), Example.from_prompt("hi  THERE", id="b")
    >>> step = FirstOccurrence.of([a, b], key=lambda e: normalise_text(e.prompt))
    >>> [e.id for e in step([a, b])]
    ['a']
    """

    name = "duplicate"

    def __init__(self, first: Iterable[str]):
        self.first = set(first)

    @classmethod
    def of(cls, examples: Iterable[Example], key: object, seen: set[str] | None = None) -> FirstOccurrence:
        """``seen``: keys already taken by earlier rounds (updated in place)."""
        seen = set() if seen is None else seen
        first = []
        for e in examples:
            k = key(e)  # type: ignore[operator]
            if k not in seen:
                seen.add(k)
                first.append(e.id)
        return cls(first)

    def keep(self, example: Example) -> bool | Drop:
        return True if example.id in self.first else Drop("duplicate")


class Magpie(Generator):
    """User queries sampled from the chat template's user-turn prefix, then answered."""

    name = "magpie"
    version = "1"
    Config = MagpieConfig
    default_temperature = 0.0  # responses; queries sample at query_temperature

    def _template(self, run: GenerationRun) -> TemplatePrefix:
        cfg: MagpieConfig = self.config
        if cfg.prefix is not None:
            if not cfg.stop:
                raise ConfigError("magpie: --set prefix=... needs --set stop=[...] (the end-of-turn marker)")
            return TemplatePrefix(cfg.prefix, tuple(cfg.stop))
        # A dry run wraps the teacher in a call-refusing stand-in; rendering a template is not a
        # call, so read the template from the model inside.
        teacher = getattr(run.teacher, "inner", run.teacher)
        if not teacher.capabilities.chat_template:
            raise ConfigError(
                f"magpie needs a chat model: {teacher.model_id} has no chat template to take the "
                "user-turn prefix from; use a chat teacher (e.g. builtin:smollm2-135m-instruct) "
                "or give --set prefix=... --set stop=[...]"
            )
        found = template_prefix(teacher, cfg.system)
        return TemplatePrefix(found.prefix, tuple(dict.fromkeys([*found.stops, *cfg.stop])), found.header)

    def _steps(self, run: GenerationRun) -> tuple[SampleQuery, QueryLength, Respond]:
        cfg: MagpieConfig = self.config
        if cfg.min_words < 1 or cfg.max_words < cfg.min_words:
            raise ConfigError(f"magpie: need 1 <= min_words <= max_words, got {cfg.min_words} and {cfg.max_words}")
        template = self._template(run)
        query_params = run.params_with(
            temperature=cfg.query_temperature,
            top_p=cfg.query_top_p,
            max_tokens=cfg.query_max_tokens,
            stop=template.stops,
        )
        query = SampleQuery(
            run.teacher, query_params, template=template, batch_size=run.settings.batch_size, origin=self.origin
        )
        respond = Respond(
            run.teacher,
            run.params,
            system=cfg.system,
            batch_size=run.settings.batch_size,
            origin=self.origin,
            name="response",
        )
        return query, QueryLength(cfg.min_words, cfg.max_words), respond

    @staticmethod
    def _placeholders(start: int, count: int) -> list[Example]:
        return [
            Example(id=f"magpie-{i:06d}", messages=[], meta={"magpie.index": i}) for i in range(start, start + count)
        ]

    def generate(self, run: GenerationRun) -> list[Example]:
        query, length, respond = self._steps(run)
        target, seen = run.settings.n, set()
        kept: list[Example] = []
        tried = 0
        for round_ in range(run.settings.max_rounds):
            needed = target - len(kept)
            if needed <= 0:
                break
            rate = len(kept) / tried if tried and kept else 0.7
            size = max(1, math.ceil(needed / max(rate, 0.02) * 1.1))
            placeholders = self._placeholders(tried, size)
            tried += size
            queries = run.phase(f"queries-r{round_:02d}", placeholders, [query, length])
            unique = FirstOccurrence.of(queries, key=lambda e: normalise_text(e.prompt), seen=seen)
            queries = run.phase(f"dedupe-r{round_:02d}", queries, [unique])
            answered = run.phase(f"responses-r{round_:02d}", queries, [respond], kept=True)
            for e in answered:
                e.meta["magpie.round"] = round_
            kept += answered
            if not answered:
                run.note(f"round {round_} kept nothing; stopped with {len(kept)} of {target}")
                break
        return kept[:target]

    def plan(self, run: GenerationRun) -> Plan:
        query, _, respond = self._steps(run)
        n = run.settings.n
        samples = self._placeholders(0, min(n, 3))
        answer = [Example.from_prompt("<a sampled query>", id=f"q{i}") for i in range(len(samples))]
        planned = math.ceil(n / 0.7 * 1.1)
        return Plan.of(
            run,
            [("queries", query, samples), ("responses", respond, answer)],
            calls_per_input=[planned / max(len(samples), 1), n / max(len(answer), 1)],
            notes=[
                (
                    f"queries: raw prefix {query.prefix.prefix!r}, stops {list(query.prefix.stops)}; "
                    "the first round assumes 70% of queries survive the filters"
                )
            ],
        )
