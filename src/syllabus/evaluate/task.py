"""The ``Task`` API: load examples, ask the model, score each answer, aggregate with CIs.

A task is a small dataclass: its fields are the settings a user may change (from flags or
YAML, nothing else), its class attributes say what it is. It never calls a model itself;
the evaluator batches its requests through any :class:`~syllabus.llm.LLM` (or any
inference-time method wrapping one), so every task runs under every backend.

Writing a task::

    @TASKS.register("capitals")
    @dataclass
    class Capitals(Task):
        name: ClassVar[str] = "capitals"
        version: ClassVar[str] = "1"
        metrics: ClassVar[tuple[str, ...]] = ("exact_match",)

        def load(self):
            return [Example.from_prompt("Capital of France? One word.", reference="Paris")]

        def score(self, example, outputs):
            return {"exact_match": float(outputs[0].text.strip().rstrip(".") == example.reference)}

``syllabus validate`` renders one prompt of every task and scores one fake output.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

from syllabus.errors import ConfigError
from syllabus.llm.base import GenerateRequest, Generation, Loglikelihood, LoglikelihoodRequest, SamplingParams
from syllabus.record import Example, Message
from syllabus.registry import Registry

__all__ = ["TASKS", "Scored", "Task", "get_task", "list_tasks"]

Request = GenerateRequest | LoglikelihoodRequest
Output = Generation | Loglikelihood

TASKS: Registry[type["Task"]] = Registry("task", entry_point_group="syllabus.tasks")


@dataclass
class Scored:
    """What ``score`` may return instead of a plain dict: metric values plus ``meta``.

    The evaluator stores ``scores`` and ``meta`` on the scored example, both under the
    task's namespace, so a task can keep what its scores came from (a judge's raw
    replies, a baseline's answer) next to them.

    >>> Scored({"win": 1.0}, {"judge_raw": "Verdict: B"}).meta
    {'judge_raw': 'Verdict: B'}
    """

    scores: dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Task:
    """Base of every evaluation task; subclasses are dataclasses registered in ``TASKS``.

    Fields every task has:
        limit: evaluate only the first ``limit`` examples (None: all).
        num_fewshot: demonstrations put before each prompt as earlier chat turns.
        fewshot_seed: which demonstrations are drawn.
        max_tokens: the answer length budget for generation tasks.
    """

    name: ClassVar[str] = "task"
    version: ClassVar[str] = "1"
    kind: ClassVar[Literal["generate", "loglikelihood"]] = "generate"
    metrics: ClassVar[tuple[str, ...]] = ()
    # Metrics where lower is better (nll, bits_per_byte); every other metric is higher-is-better.
    lower_is_better: ClassVar[tuple[str, ...]] = ()
    # A one-line statement of where the data comes from, recorded in reports.
    source: ClassVar[str] = ""
    # Settings that make a dry run possible (`syllabus validate`): e.g. fake models for a
    # task that needs a judge. Never used for a real evaluation.
    validate_settings: ClassVar[dict[str, Any]] = {}

    limit: int | None = None
    num_fewshot: int = 0
    fewshot_seed: int = 1234
    max_tokens: int = 256

    # -- what a task must say --------------------------------------------------------------
    def load(self) -> list[Example]:
        """The evaluation examples, with ``reference`` and whatever ``score`` needs in ``meta``."""
        raise ConfigError(f"task {self.name!r} does not define load()")

    def score(self, example: Example, outputs: Sequence[Output]) -> dict[str, float] | Scored:
        """Per-example metric values from the model's outputs for this example's requests
        (or a :class:`Scored` to keep more than numbers)."""
        raise ConfigError(f"task {self.name!r} does not define score()")

    # -- what a task may change ------------------------------------------------------------
    def fewshot_pool(self) -> list[Example]:
        """Examples with answers that demonstrations are drawn from (never the evaluated ones)."""
        return []

    def prompt(self, example: Example) -> list[Message]:
        """The messages sent to the model: demonstrations first, then the example's own."""
        if self.num_fewshot <= 0:
            return list(example.messages)
        pool = [e for e in self.fewshot_pool() if e.id != example.id]
        if len(pool) < self.num_fewshot:
            raise ConfigError(f"task {self.name!r} has {len(pool)} demonstrations; lower num_fewshot")
        # Seeded per example, so a demonstration set does not depend on evaluation order.
        rng = random.Random(f"{self.fewshot_seed}:{example.id}")
        shots: list[Message] = []
        for demo in rng.sample(pool, self.num_fewshot):
            shots += [*[m for m in demo.messages if m["role"] != "system"], {"role": "assistant", "content": demo.completion or demo.reference or ""}]
        system = [m for m in example.messages if m["role"] == "system"]
        rest = [m for m in example.messages if m["role"] != "system"]
        return [*system, *shots, *rest]

    def contamination_texts(self, example: Example) -> list[str] | None:
        """The texts of ``example`` that training data must not contain (decontamination reads
        them); None: all of them (prompt, reference, completion and meta strings).

        A task whose prompts wrap content in instructions shared with training data by
        design (ifeval-lite's check sentences are the skill being taught) returns the
        content only.
        """
        return None

    def sampling(self) -> SamplingParams:
        """Decoding for generation tasks: greedy within the task's token budget."""
        return SamplingParams(max_tokens=self.max_tokens, temperature=0.0)

    def requests(self, example: Example) -> list[Request]:
        """The model calls one example needs (several for multiple choice or k samples)."""
        return [GenerateRequest(messages=tuple(self.prompt(example)), params=self.sampling())]

    def score_batch(self, examples: Sequence[Example], outputs: Sequence[Sequence[Output]]) -> list[dict[str, float] | Scored]:
        """Score a batch at once; by default ``score`` one by one. Tasks that call models of
        their own while scoring (a judge) override it to send them one batch per call."""
        return [self.score(example, outs) for example, outs in zip(examples, outputs, strict=True)]

    def aggregate(self, examples: Sequence[Example]) -> dict[str, Any]:
        """Task-level metrics from scored examples; by default each metric's mean with a CI.

        Binary metrics get a Wilson interval, others a t interval (stable for small n).
        """
        from syllabus.evaluate.stats import mean_ci

        out: dict[str, Any] = {}
        for metric in self.metrics:
            values = [e.scores[f"{self.namespace}.{metric}"] for e in examples if f"{self.namespace}.{metric}" in e.scores]
            if not values:
                continue
            binary = all(v in (0.0, 1.0) for v in values)
            method = "wilson" if binary else ("t" if len(values) > 1 else "bootstrap")
            out[metric] = mean_ci(values, method=method).to_dict() if len(values) > 1 else {"value": values[0], "n": 1}
        return out

    # -- derived ---------------------------------------------------------------------------
    @property
    def namespace(self) -> str:
        """The key prefix of this task's scores in ``Example.scores`` (no dots allowed)."""
        return self.name.replace(".", "_")

    def settings(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "metrics": list(self.metrics),
            "lower_is_better": list(self.lower_is_better),
            "source": self.source,
            "settings": self.settings(),
        }


def get_task(spec: str, **settings: Any) -> Task:
    """Build a task from its name (``gym:NAME`` style specs pass NAME to the task)."""
    from syllabus.config import from_dict

    base, sep, arg = spec.partition(":")
    cls = TASKS.get(f"{base}:" if sep else spec)
    if sep:
        settings = {**settings, "dataset": arg}
    return from_dict(cls, settings, source=f"task {spec}")


def list_tasks() -> list[str]:
    return TASKS.names()
TASKS.register("ifeval-lite", "syllabus.evaluate.tasks.ifeval_lite:IFEvalLite")
TASKS.register("arith-ic", "syllabus.evaluate.tasks.arith_ic:ArithIC")
TASKS.register("mc", "syllabus.evaluate.tasks.multiple_choice:MultipleChoice")
TASKS.register("verbalized", "syllabus.evaluate.tasks.multiple_choice:Verbalized")
TASKS.register("heldout-nll", "syllabus.evaluate.tasks.heldout_nll:HeldoutNLL")
TASKS.register("gym:", "syllabus.evaluate.tasks.gym:GymTask")
TASKS.register("humaneval", "syllabus.evaluate.tasks.humaneval:HumanEval")
TASKS.register("pairwise", "syllabus.evaluate.tasks.pairwise:Pairwise")
