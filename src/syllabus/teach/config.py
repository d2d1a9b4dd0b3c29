"""The teaching run's settings: one dataclass, which is also the ``syllabus teach`` command line.

``quick`` swaps in :data:`QUICK` (smaller data and evaluations) for a first try in a few
minutes; an option set to anything but its default keeps its value.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from syllabus.errors import ConfigError

__all__ = ["QUICK", "TeachConfig"]


@dataclass
class TeachConfig:
    """Teach a student: rounds of generate -> curate -> order -> train -> evaluate, steered by its failures."""

    student: str = field(default="builtin:gemma-3-270m", metadata={"help": "the model to teach (LoRA)"})
    teacher: list[str] = field(
        default_factory=lambda: ["builtin:smollm2-135m-instruct"], metadata={"help": "teacher model spec(s)"}
    )
    skills: str = field(default="default", metadata={"help": "skills YAML file, or a builtin name (default)"})
    policy: str = field(default="failures", metadata={"help": "teacher policy: uniform, weakest-first, escalation, failures"})
    policy_options: dict[str, Any] = field(default_factory=dict, metadata={"help": "YAML only: the policy's options"})
    rounds: int = field(default=1, metadata={"help": "teaching rounds (rerun with more to extend a finished run)"})
    examples: int = field(default=300, metadata={"help": "kept examples the teacher writes per round (the budget)"})
    controls: list[str] = field(
        default_factory=list,
        metadata={"help": "baselines trained on as many examples: untargeted, continuation (rerun with them to add them)"},
    )
    curriculum: str = field(default="replay", metadata={"help": "ordering of each round's data (earlier rounds replayed)"})
    teacher_max_tokens: int = field(default=64, metadata={"help": "token budget of each teacher answer"})
    temperature: float = field(default=0.7, metadata={"help": "teacher sampling temperature"})
    max_generation_rounds: int = field(default=2, metadata={"help": "generator retries when its yield is low"})
    epochs: int = field(default=1, metadata={"help": "passes over each round's data"})
    lr: float = field(default=1e-3, metadata={"help": "LoRA peak learning rate"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    train_batch_size: int = field(default=8, metadata={"help": "rows per training micro-batch"})
    max_length: int = field(default=320, metadata={"help": "tokens per training row"})
    eval_scale: float = field(default=1.0, metadata={"help": "multiply every eval/dev task's size (n, n_base, size)"})
    eval_batch_size: int = field(default=32, metadata={"help": "prompts per generation batch when evaluating"})
    seed: int = field(default=0, metadata={"help": "seeds generation, training and sampling"})
    quick: bool = field(default=False, metadata={"help": "a few-minute version: less data, smaller evaluations"})
    out: str = field(default="runs/teach", metadata={"help": "run directory (rerun to resume)"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ConfigError(f"--rounds must be >= 1, got {self.rounds}")
        if self.examples < 1:
            raise ConfigError(f"--examples must be >= 1, got {self.examples}")
        self.controls = [c for c in self.controls if c and c != "none"]
        unknown = sorted(set(self.controls) - {"untargeted", "continuation"})
        if unknown:
            raise ConfigError(f"--controls: unknown control {unknown[0]!r}; choose untargeted, continuation or none")
        if not self.teacher:
            raise ConfigError("--teacher: name at least one teacher model")
        if self.eval_scale <= 0:
            raise ConfigError(f"--eval-scale must be > 0, got {self.eval_scale}")

    def resolved(self) -> TeachConfig:
        """With ``quick``, the :data:`QUICK` value of every option still at its default.

        >>> TeachConfig(quick=True, epochs=3).resolved().examples, TeachConfig(quick=True, epochs=3).resolved().epochs
        (48, 3)
        """
        if not self.quick:
            return self
        defaults = {f.name: f.default if f.default is not MISSING else f.default_factory() for f in fields(self)}  # type: ignore[misc]
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for key, value in QUICK.items():
            if values[key] == defaults[key]:
                values[key] = value
        return TeachConfig(**values)

#: What ``--quick`` changes: a fifth of the data and evaluations a quarter of the size.
#: Good for trying the loop, too small to show a significant gain.
QUICK: dict[str, Any] = {"examples": 48, "eval_scale": 0.25}
