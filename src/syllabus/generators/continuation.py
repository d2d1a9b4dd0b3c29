"""``continuation``: non-instructional pairs, the baseline every instruction generator must beat.

Non-instructional fine-tuning (Xie et al. 2024) cuts a plain text in two; the first half
becomes the user turn and a teacher's *continuation* of it the assistant turn. No
instruction is written at all, yet fine-tuning on such pairs teaches a base model to
answer; a generator that cannot beat "text halves + continuation" at equal tokens has not
shown anything.

Documents (``documents`` or ``--prompts`` records) are cut into pieces of about
``chunk_chars`` characters; each piece is split near ``fraction`` of its length at a
sentence end (or between words when no sentence end is close), and the teacher continues
the first half: a base model (no chat template, or ``raw: true``) gets the first half as a
raw prompt, a chat model is asked to continue the text. The stored record's user message
is the first half, the completion the continuation; meta ``continuation.split`` says where
and how the text was cut, ``continuation.original`` keeps the real second half, and
``continuation.mode`` is ``raw`` or ``chat``.

Filters: pieces too short to split, continuations that are too short, and continuations
that only repeat the first half (ROUGE-L above ``max_echo_rouge``). A repeated first half
or a chatty preamble before the continuation is cut off rather than dropped.

    syllabus generate --generator continuation --teacher builtin:gemma-3-270m \\
        --set documents=builtin:samples --n 10 --out runs/cont
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from syllabus.errors import ConfigError
from syllabus.generators.base import GenerationRun, Generator, Plan
from syllabus.generators.chunking import chunk_documents, documents_for, split_near_middle
from syllabus.generators.documents import DocumentStep, _updated, strip_preamble
from syllabus.parsing import ParseError
from syllabus.pipeline.step import Drop, Filter, Step
from syllabus.prompts import PromptTemplate
from syllabus.record import Example, Message
from syllabus.text.rouge import rouge_l

__all__ = ["CONTINUE", "Continuation", "ContinuationConfig", "strip_repeated_head"]

CONTINUE = PromptTemplate(
    "continuation.continue",
    user="Continue the following text. Write only the continuation, in the same style and about as "
    "long as the text; do not repeat the text and do not comment on it.\n\n{text}",
)


def strip_repeated_head(head: str, continuation: str) -> str:
    """The continuation without a verbatim copy of the first half at its start (chat models do that).

    >>> strip_repeated_head("The sun rose.", "The sun rose. Birds sang.")
    'Birds sang.'
    """
    text = continuation.strip()
    if head and text.startswith(head.strip()):
        text = text[len(head.strip()) :].strip()
    return text


class SplitText(Filter):
    """Cuts the piece in two near ``fraction`` (meta ``continuation.split``); drops pieces too short to cut."""

    name = "split"

    def __init__(self, min_chars: int, fraction: float, unit: str):
        self.min_chars, self.fraction, self.unit = min_chars, fraction, unit

    def keep(self, example: Example) -> bool | Drop:
        text = example.meta["doc.text"]
        if len(text) < self.min_chars:
            return Drop("text too short")
        split = split_near_middle(text, fraction=self.fraction, unit=self.unit)
        if split is None or not split.head or not split.tail:
            return Drop("no boundary to split at")
        example.set_meta(
            "continuation",
            "split",
            {"unit": split.unit, "at": split.at, "fraction": round(split.at / len(text), 4), "chars": len(text)},
        )
        example.set_meta("continuation", "head", split.head)
        example.set_meta("continuation", "original", split.tail)
        return True

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "min_chars": self.min_chars, "fraction": self.fraction, "unit": self.unit}


class Continue(DocumentStep):
    """The teacher continues the first half: as a raw prompt (base models) or asked to (chat models)."""

    name = "continue"
    template = CONTINUE

    def messages(self, example: Example) -> list[Message] | str | None:
        head = example.meta["continuation.head"]
        return head if self.raw else CONTINUE.render(text=head)

    def parse(self, text: str, example: Example, sample: int) -> Example:
        head = example.meta["continuation.head"]
        continuation = text.strip() if self.raw else strip_repeated_head(head, strip_preamble(text))
        if not continuation:
            raise ParseError("empty continuation")
        out = _updated(example, messages=[{"role": "user", "content": head}], completion=continuation)
        out.meta.pop("continuation.head")
        out.set_meta("continuation", "mode", "raw" if self.raw else "chat")
        return out


class ContinuationShape(Filter):
    """A continuation of at least ``min_chars`` that does not just repeat the first half."""

    name = "continuation-shape"

    def __init__(self, min_chars: int, max_echo_rouge: float):
        self.min_chars, self.max_echo_rouge = min_chars, max_echo_rouge

    def keep(self, example: Example) -> bool | Drop:
        continuation = example.completion or ""
        if len(continuation) < self.min_chars:
            return Drop("continuation too short")
        echo = rouge_l(continuation, example.prompt)
        example.set_meta("continuation", "echo_rouge", round(echo, 4))
        return True if echo <= self.max_echo_rouge else Drop("repeats the text")

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "min_chars": self.min_chars, "max_echo_rouge": self.max_echo_rouge}


@dataclass
class ContinuationConfig:
    documents: str | list[str] | None = field(
        default=None,
        metadata={
            "help": "a folder or file(s) of .txt/.md documents, or builtin:samples (default: the --prompts records)"
        },
    )
    chunk_chars: int = field(default=1000, metadata={"help": "target length of each text before it is split"})
    min_chars: int = field(default=200, metadata={"help": "texts shorter than this are not split"})
    fraction: float = field(default=0.5, metadata={"help": "where to split (0.5: the middle)"})
    split: Literal["sentence", "word"] = field(
        default="sentence", metadata={"help": "split at a sentence end (else between words)"}
    )
    min_continuation_chars: int = field(default=20, metadata={"help": "shortest continuation kept"})
    max_echo_rouge: float = field(
        default=0.8, metadata={"help": "drop continuations this ROUGE-L-similar to the first half"}
    )
    raw: bool | None = field(
        default=None, metadata={"help": "raw-text prompts (default: when the teacher has no chat template)"}
    )


class Continuation(Generator):
    """First half of a text -> the teacher's continuation."""

    name = "continuation"
    version = "1"
    Config = ContinuationConfig

    def _pieces(self, run: GenerationRun) -> list[Example]:
        cfg: ContinuationConfig = self.config
        pieces = chunk_documents(documents_for(run, cfg.documents), cfg.chunk_chars)
        run.rng("pieces").shuffle(pieces)
        return pieces

    def _steps(self, run: GenerationRun) -> list[Step]:
        cfg: ContinuationConfig = self.config
        if not 0 < cfg.fraction < 1:
            raise ConfigError(f"--set fraction must be between 0 and 1, got {cfg.fraction}")
        raw = cfg.raw if cfg.raw is not None else not run.teacher.capabilities.chat_template
        return [
            SplitText(cfg.min_chars, cfg.fraction, cfg.split),
            Continue(run.teacher, run.params, raw=raw, batch_size=run.settings.batch_size, origin=self.origin),
            ContinuationShape(cfg.min_continuation_chars, cfg.max_echo_rouge),
        ]

    def default_n(self, inputs: Any) -> int:
        return max(1, len(inputs)) if inputs else 100

    def generate(self, run: GenerationRun) -> list[Example]:
        steps = self._steps(run)
        pieces = self._pieces(run)
        cursor = 0

        def make_inputs(round_: int, k: int) -> list[Example]:
            nonlocal cursor
            batch = pieces[cursor : cursor + k]
            cursor += len(batch)
            return batch

        return run.until("continuation", make_inputs, steps, expected_yield=0.8)

    def plan(self, run: GenerationRun) -> Plan:
        steps = self._steps(run)
        pieces = self._pieces(run)
        first = pieces[: min(len(pieces), math.ceil(run.settings.n / 0.8 * 1.1))]
        split = steps[0]
        ready = [p for p in (_updated(e) for e in first) if split.keep(p) is True]  # type: ignore[attr-defined]
        notes = [
            f"{len(pieces)} texts of about {self.config.chunk_chars} characters available; the first round uses {len(first)}"
        ]
        return Plan.of(run, [("continue", steps[1], ready)], notes=notes)  # type: ignore[list-item]
