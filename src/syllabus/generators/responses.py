"""``responses``: teacher answers for any instruction set, direct or step by step.

The plain distillation baseline: every input prompt goes to the teacher and the answer
becomes the record's ``completion``. ``style: step-by-step`` asks for the reasoning before
the final answer through a system prompt; with ``erase_system`` (the default for that
style) the stored training record keeps only the user's prompt, so the student learns to
reason step by step *without* being told to (Orca 2's prompt erasure).

    syllabus generate --generator responses --prompts tasks.jsonl --teacher builtin:smollm2-135m-instruct \\
        --set style=step-by-step --out runs/answers
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from syllabus.errors import ConfigError
from syllabus.generators.base import GenerationRun, Generator, Plan
from syllabus.pipeline.respond import Respond
from syllabus.record import Example

__all__ = ["STEP_BY_STEP_SYSTEM", "Responses", "ResponsesConfig"]

STEP_BY_STEP_SYSTEM = (
    "You are a careful teacher. Work through the problem one step at a time, writing each step "
    "on its own line, and finish with a line of the form 'Answer: <final answer>'."
)


@dataclass
class ResponsesConfig:
    style: Literal["direct", "step-by-step"] = field(
        default="direct", metadata={"help": "direct answers or step-by-step reasoning"}
    )
    system: str | None = field(
        default=None,
        metadata={"help": "system prompt sent with every request (overrides the style's)"},
    )
    erase_system: bool | None = field(
        default=None,
        metadata={"help": "store records without the system prompt (default: yes for step-by-step)"},
    )
    samples: int = field(default=1, metadata={"help": "answers per prompt (ids get -s0, -s1, ...)"})
    raw: bool = field(
        default=False,
        metadata={"help": "send prompts as plain text without a chat template (base models)"},
    )


class _Answer(Respond):
    """``Respond`` that can erase the system prompt it sent from the stored record."""

    def __init__(self, *args: object, erase: bool, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.erase = erase

    def parse(self, text: str, example: Example, sample: int) -> Example:
        out = super().parse(text, example, sample)
        if self.system and not self.erase and not any(m["role"] == "system" for m in out.messages):
            out.messages = [{"role": "system", "content": self.system}, *out.messages]
        if self.system and self.erase:
            out.set_meta(self.name, "erased_system", self.system)
        return out


class Responses(Generator):
    """Answer every input prompt (the first ``n`` of them) with the teacher."""

    name = "responses"
    version = "1"
    Config = ResponsesConfig
    default_temperature = 0.0

    def default_n(self, inputs: Sequence[Example]) -> int:
        return max(1, len(inputs)) * self.config.samples

    def _step(self, run: GenerationRun) -> _Answer:
        cfg: ResponsesConfig = self.config
        if cfg.samples < 1:
            raise ConfigError(f"--set samples must be >= 1, got {cfg.samples}")
        system = (
            cfg.system if cfg.system is not None else (STEP_BY_STEP_SYSTEM if cfg.style == "step-by-step" else None)
        )
        erase = cfg.erase_system if cfg.erase_system is not None else cfg.style == "step-by-step"
        return _Answer(
            run.teacher,
            run.params,
            n=cfg.samples,
            system=system,
            batch_size=run.settings.batch_size,
            raw=cfg.raw,
            origin=self.origin,
            erase=erase,
        )

    def _prompts(self, run: GenerationRun) -> list[Example]:
        cfg: ResponsesConfig = self.config
        return run.require_inputs()[: max(1, run.settings.n // cfg.samples)]

    def generate(self, run: GenerationRun) -> list[Example]:
        return run.phase("respond", self._prompts(run), [self._step(run)], kept=True)

    def plan(self, run: GenerationRun) -> Plan:
        return Plan.of(run, [("respond", self._step(run), self._prompts(run))])
