"""``Respond``: the plain "answer these prompts" step (teacher responses for any prompt set).

Each example's ``messages`` go to the model; the answer becomes ``completion``. With
``n > 1`` the step expands each prompt into n samples (sample indices 0..n-1, ids
``<id>-s<i>``), each its own cache entry, so a rerun returns the same n texts.
With ``raw=True`` the last user message is sent as plain text with no chat template: the
way to prompt a base (pretrained) model for a continuation.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from syllabus.errors import ConfigError
from syllabus.llm.base import LLM, SamplingParams
from syllabus.pipeline.teacher import TeacherStep
from syllabus.record import Example, Message

__all__ = ["Respond"]


class Respond(TeacherStep):
    """Answer every example's messages with ``llm``; the answer becomes ``completion``.

    >>> from syllabus.llm.fake import EchoLLM
    >>> [e.completion for e in Respond(EchoLLM())([Example.from_prompt("hi")])]
    ['hi']
    """

    name = "respond"
    version = "1"

    def __init__(
        self,
        llm: LLM,
        params: SamplingParams | None = None,
        *,
        n: int = 1,
        system: str | None = None,
        batch_size: int = 16,
        raw: bool = False,
        origin: tuple[str, str] = ("", ""),
        name: str | None = None,
    ):
        super().__init__(llm, params, n=n, batch_size=batch_size, origin=origin, name=name)
        self.system = system
        self.raw = raw
        if raw and system:
            raise ConfigError("a system prompt needs the chat template; drop it or drop raw")

    def request(self, example: Example) -> list[Message] | str:
        if self.raw:
            return example.prompt
        if self.system and not any(m["role"] == "system" for m in example.messages):
            return [{"role": "system", "content": self.system}, *example.messages]
        return list(example.messages)

    def parse(self, text: str, example: Example, sample: int) -> Example:
        # Any answer is an answer here (even an empty one): judging it is a later step's job.
        if self.n == 1:
            out = replace(
                example,
                scores=dict(example.scores),
                meta=dict(example.meta),
                provenance=dict(example.provenance),
            )
        else:
            out = example.derive(suffix=f"s{sample}", step=self.name)
        out.completion = text
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "system": self.system, "raw": self.raw}
