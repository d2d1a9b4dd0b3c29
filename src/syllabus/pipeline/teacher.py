"""``TeacherStep``: render a prompt per example, ask the teacher, parse the answer.

Every generator is built from this step plus ordinary filters. It

- renders each example's request (``request()``; by default the step's template filled
  with ``fields()``), asks for ``n`` samples per example in batches,
- hands each answer to ``parse()``, which returns the new record(s) or raises
  :class:`~syllabus.parsing.ParseError`,
- stamps provenance on every output (generator and version, step, teacher model,
  template name and hash, prompt hash, parent ids, cache key; earlier calls of the same
  lineage are kept under ``provenance["calls"]``),
- sends unparseable answers to ``excluded/`` with the raw text, the parse error and the
  reason ``unparseable (<what>)``: malformed teacher output never crashes a run and is
  never silently lost,
- counts requests, prompt and completion tokens, cache hits and truncated answers in the
  stage's stats (``<step>.requests`` ...).

Writing one::

    class Summarise(TeacherStep):
        name = "summarise"
        template = PromptTemplate("summarise", user="Summarise in one sentence:\\n{text}")

        def fields(self, example):
            return {"text": example.meta["source.text"]}

        def parse(self, text, example, sample):
            if not text.strip():
                raise ParseError("empty answer")
            out = example.derive(suffix=f"sum{sample}", step=self.name)
            out.completion = text.strip()
            return out

    Pipeline([Summarise(teacher, origin=("my-generator", "1"))]).run(docs, out_dir)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from syllabus.llm.base import (
    LLM,
    GenerateRequest,
    Generation,
    SamplingParams,
    request_hash,
)
from syllabus.parsing import ParseError
from syllabus.pipeline.step import Step, StepContext
from syllabus.prompts import PromptTemplate
from syllabus.record import Example, Message, content_hash

__all__ = ["TeacherStep"]


class TeacherStep(Step):
    """One teacher call per example (``n`` samples), parsed into zero or more records.

    Args:
        llm: the teacher.
        params: decoding parameters (``SamplingParams``); sampled ones need ``temperature > 0``.
        n: samples per example; sample ``i`` is its own cache entry.
        batch_size: examples per ``generate`` call.
        origin: ``(generator name, generator version)`` for provenance.
        name: overrides the class's step name (two instances in one pipeline need two names).
    """

    name = "teacher"
    version = "1"
    template: PromptTemplate | None = None

    def __init__(
        self,
        llm: LLM,
        params: SamplingParams | None = None,
        *,
        n: int = 1,
        batch_size: int = 16,
        origin: tuple[str, str] = ("", ""),
        name: str | None = None,
        template: PromptTemplate | None = None,
    ):
        self.llm = llm
        self.params = params or SamplingParams()
        self.n = n
        self.batch_size = batch_size
        self.origin = origin
        if name is not None:
            self.name = name
        if template is not None:
            self.template = template

    # -- what subclasses override ------------------------------------------------------------
    def fields(self, example: Example) -> dict[str, Any]:
        """Values for the template's slots."""
        return {}

    def request(self, example: Example) -> list[Message] | str | None:
        """The chat messages (or a raw text prompt) for this example; None skips the call."""
        if self.template is None:
            return list(example.messages)
        return self.template.render(**self.fields(example))

    def sample_indices(self, example: Example) -> Sequence[int]:
        """Which samples to draw for ``example`` (default ``0..n-1``); each index is its own cache entry.

        Override to draw different samples per example, e.g. offsets so that two examples
        with the same prompt get different draws.
        """
        return range(self.n)

    def parse(self, text: str, example: Example, sample: int) -> Example | list[Example]:
        """Turn answer number ``sample`` (0..n-1) into records; raise ParseError for output of the wrong shape.

        New records need ids unique across samples (``example.derive(suffix=f"x{sample}", ...)``).
        """
        if not text.strip():
            raise ParseError("empty answer")
        out = example.derive(suffix=f"{self.name}{sample}", step=self.name)
        out.completion = text.strip()
        return out

    def annotate(self, out: Example, generation: Generation) -> None:
        """Record how the answer ended on each output (``<step>.finish_reason``, ``<step>.completion_tokens``)."""
        out.set_meta(self._namespace, "finish_reason", generation.finish_reason)
        out.set_meta(self._namespace, "completion_tokens", generation.completion_tokens)

    # -- the machinery -------------------------------------------------------------------------
    def run(self, examples: Iterable[Example], ctx: StepContext) -> Iterator[Example]:
        it = iter(examples)
        while batch := list(islice(it, self.batch_size)):
            yield from self._run_batch(batch, ctx)

    def _run_batch(self, batch: Sequence[Example], ctx: StepContext) -> Iterator[Example]:
        jobs: list[tuple[Example, GenerateRequest]] = []
        for example in batch:
            prompt = self.request(example)
            if prompt is None:
                yield example  # nothing to ask: pass through unchanged
                continue
            for i in self.sample_indices(example):
                if isinstance(prompt, str):
                    jobs.append(
                        (
                            example,
                            GenerateRequest(prompt=prompt, params=self.params, sample_index=i),
                        )
                    )
                else:
                    jobs.append(
                        (
                            example,
                            GenerateRequest(
                                messages=tuple(prompt),
                                params=self.params,
                                sample_index=i,
                            ),
                        )
                    )
        if not jobs:
            return
        started = time.monotonic()
        generations = self.llm.generate([request for _, request in jobs])
        ctx.counters[f"{self.name}.milliseconds"] += int(1000 * (time.monotonic() - started))
        for (example, request), generation in zip(jobs, generations, strict=True):
            self._count(generation, ctx)
            yield from self._outputs(example, request, generation, ctx)

    def _count(self, generation: Generation, ctx: StepContext) -> None:
        c = ctx.counters
        c[f"{self.name}.requests"] += 1
        c[f"{self.name}.prompt_tokens"] += generation.prompt_tokens
        c[f"{self.name}.completion_tokens"] += generation.completion_tokens
        c[f"{self.name}.cached"] += int(generation.cached)
        c[f"{self.name}.truncated"] += int(generation.finish_reason == "length")

    def _outputs(
        self,
        example: Example,
        request: GenerateRequest,
        generation: Generation,
        ctx: StepContext,
    ) -> Iterator[Example]:
        call = self._call_record(request)
        try:
            parsed = self.parse(generation.text, example, request.sample_index)
        except ParseError as e:
            failed = example.derive(suffix=f"{self.name}-s{request.sample_index}", step=self.name)
            failed.set_meta(self._namespace, "raw", generation.text)
            failed.set_meta(self._namespace, "parse_error", str(e))
            failed.provenance.update(call)
            ctx.exclude(failed, self.name, f"unparseable ({e.reason})")
            return
        for out in [parsed] if isinstance(parsed, Example) else parsed:
            self.annotate(out, generation)
            yield self._stamp(out, example, call)

    @property
    def _namespace(self) -> str:
        return self.name.replace(".", "_") or "teacher"

    def _call_record(self, request: GenerateRequest) -> dict[str, Any]:
        template = self.template
        return {
            "step": self.name,
            "step_version": self.version,
            "model": self.llm.model_id,
            "params": self.params.to_dict(),
            "template": template.name if template else None,
            "template_hash": template.hash if template else None,
            "prompt_hash": content_hash(request.prompt if request.prompt is not None else list(request.messages or ())),
            "sample_index": request.sample_index,
            "cache_key": request_hash(self.llm.cache_id, "generate", request.key_fields()),
        }

    def _stamp(self, out: Example, parent: Example, call: dict[str, Any]) -> Example:
        earlier = [c for c in parent.provenance.get("calls", []) if isinstance(c, dict)]
        provenance = dict(out.provenance)
        if out.id != parent.id and parent.id not in provenance.get("parents", []):
            provenance["parents"] = [*provenance.get("parents", []), parent.id]
        generator, version = self.origin
        if generator:
            provenance["generator"], provenance["generator_version"] = (
                generator,
                version,
            )
        provenance.update(call)
        provenance["calls"] = [*earlier, call]
        out.provenance = provenance
        return out

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "model": self.llm.model_id,
            "params": self.params.to_dict(),
            "n": self.n,
            "template": self.template.name if self.template else None,
            "template_hash": self.template.hash if self.template else None,
        }
