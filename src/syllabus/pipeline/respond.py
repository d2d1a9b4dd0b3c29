"""``Respond``: the plain "answer these prompts" step (teacher responses for any prompt set).

Each example's ``messages`` go to the model; the answer becomes ``completion``. With
``n > 1`` the step expands each prompt into n samples (sample indices 0..n-1, ids
``<id>-s<i>``), each its own cache entry, so a rerun returns the same n texts.
With ``raw=True`` the last user message is sent as plain text with no chat template: the
way to prompt a base (pretrained) model for a continuation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from syllabus.errors import ConfigError
from syllabus.llm.base import LLM, GenerateRequest, SamplingParams, request_hash
from syllabus.pipeline.step import Batch, BatchMap
from syllabus.record import Example, content_hash

__all__ = ["Respond"]


class Respond(BatchMap):
    """Answer every example's messages with ``llm``.

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
    ):
        self.llm = llm
        self.params = params or SamplingParams()
        self.n = n
        self.system = system
        self.batch_size = batch_size
        self.raw = raw
        if raw and system:
            raise ConfigError("a system prompt needs the chat template; drop it or drop raw")

    def _messages(self, example: Example) -> tuple[dict[str, str], ...]:
        if self.system and not any(m["role"] == "system" for m in example.messages):
            return ({"role": "system", "content": self.system}, *example.messages)
        return tuple(example.messages)

    def map_batch(self, batch: Batch) -> Iterable[Example]:
        requests = [
            GenerateRequest(prompt=ex.prompt, params=self.params, sample_index=i)
            if self.raw
            else GenerateRequest(messages=self._messages(ex), params=self.params, sample_index=i)
            for ex in batch
            for i in range(self.n)
        ]
        generations = self.llm.generate(requests)
        for k, (request, generation) in enumerate(zip(requests, generations, strict=True)):
            parent = batch[k // self.n]
            out = replace(parent, scores=dict(parent.scores), meta=dict(parent.meta)) if self.n == 1 else parent.derive(
                suffix=f"s{request.sample_index}", step=self.name
            )
            out.completion = generation.text
            out.meta[f"{self.name}.finish_reason"] = generation.finish_reason
            out.meta[f"{self.name}.completion_tokens"] = generation.completion_tokens
            out.provenance = {
                **out.provenance,
                "step": self.name,
                "step_version": self.version,
                "model": self.llm.model_id,
                "params": self.params.to_dict(),
                "sample_index": request.sample_index,
                "prompt_hash": content_hash(request.prompt if self.raw else list(request.messages or ())),
                "cache_key": request_hash(self.llm.cache_id, "generate", request.key_fields()),
            }
            yield out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "model": self.llm.model_id, "params": self.params.to_dict(), "n": self.n, "system": self.system, "raw": self.raw}
