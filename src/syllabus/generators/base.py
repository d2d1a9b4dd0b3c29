"""The generator contract and the run context every generator works in.

A generator turns teacher models (and optionally user inputs: seed tasks, documents,
prompts) into ``Example`` records. It is written as a short sequence of *phases*, each a
:class:`~syllabus.pipeline.Pipeline` of steps over records, run by :class:`GenerationRun`:

- ``run.phase(name, inputs, steps)`` runs one pipeline into ``phases/NN_name/`` and returns
  its kept records (resumable: done shards are read back from disk);
- ``run.until(name, make_inputs, steps)`` repeats a phase in rounds until ``n`` records are
  kept, sizing each round from the yield of the rounds before (so ``--n 500`` means 500
  *kept* rows, and the progress bar's ETA is in kept rows);
- ``run.rng(...)`` gives seeded random streams, so a rerun makes the same choices and,
  with the request cache, the same requests: killing a run and starting it again gives
  the same ids with no duplicates.

The stage folder of a generation::

    01_generate/
      phases/00_instructions/  shards/ excluded/ stats/ done/ stats.json   (one per phase)
      shards/ stats.json ...   the final records (what later stages read)
      generation.json          kept vs target, per-phase and per-filter yield, requests,
                               tokens, tokens/s: recomputed from the phases' stats files

A minimal generator::

    @dataclass
    class EchoConfig:
        suffix: str = "!"

    class Shout(Generator):
        name = "shout"
        Config = EchoConfig

        def generate(self, run):
            inputs = run.require_inputs()
            step = ShoutStep(run.teacher, run.params, origin=self.origin)
            return run.phase("shout", inputs, [step], kept=True)

        def plan(self, run):
            inputs = run.require_inputs()
            return Plan.of(run, [("shout", ShoutStep(run.teacher, run.params), inputs[: run.settings.n])])

    GENERATORS.register("shout", Shout)
"""

from __future__ import annotations

import json
import math
import random
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from syllabus.errors import ConfigError
from syllabus.jsonl import write_text_atomic
from syllabus.llm.base import LLM, SamplingParams
from syllabus.pipeline.executors import Executor
from syllabus.pipeline.runner import Pipeline, StageResult, summarize_stage
from syllabus.pipeline.step import Step
from syllabus.pipeline.teacher import TeacherStep
from syllabus.record import Example, Message, content_hash

__all__ = [
    "GenerationRun",
    "GenerationSettings",
    "Generator",
    "NoOptions",
    "Plan",
    "PlannedPhase",
]


@dataclass
class NoOptions:
    """A generator without options of its own."""


@dataclass
class GenerationSettings:
    """What every generator shares: how many rows, how to decode, how to run.

    Attributes:
        n: target number of kept records.
        params: decoding parameters of teacher calls (generators may vary temperature).
        seed: seeds every random choice (sampled demonstrations, skill pairs, ...).
        batch_size: teacher requests per ``generate`` call.
        shard_size: records per shard (the unit of resumption).
        max_rounds: ``until`` gives up after this many rounds (low yield is reported).
        progress: show a progress bar of kept rows.
        executor: where shards run (None: in this process).
    """

    n: int = 100
    params: SamplingParams = field(default_factory=lambda: SamplingParams(max_tokens=256, temperature=0.7))
    seed: int = 0
    batch_size: int = 16
    shard_size: int = 64
    max_rounds: int = 8
    progress: bool = False
    executor: Executor | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"--n must be >= 1, got {self.n}")
        if self.max_rounds < 1:
            raise ConfigError(f"--max-rounds must be >= 1, got {self.max_rounds}")


@dataclass
class PlannedPhase:
    """One phase of a dry run: how many teacher calls, and roughly how many tokens."""

    name: str
    calls: int
    prompt_tokens: int  # estimated: characters / 4 of the rendered prompts
    max_completion_tokens: int  # an upper bound: calls x max_tokens


@dataclass
class Plan:
    """What ``--dry-run`` prints: the first rendered prompts and the planned calls and tokens."""

    prompts: list[list[Message] | str]
    phases: list[PlannedPhase]
    notes: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(p.calls for p in self.phases)

    @classmethod
    def of(
        cls,
        run: GenerationRun,
        phases: Sequence[tuple[str, TeacherStep, Sequence[Example]]],
        *,
        calls_per_input: Sequence[float] | None = None,
        notes: Sequence[str] = (),
        show: int = 3,
    ) -> Plan:
        """Plan from steps and the inputs they will see (rendered, never sent).

        ``calls_per_input`` scales a phase whose real inputs are only known after earlier
        phases ran (e.g. one call per parsed instruction): the sample inputs stand in for
        them and the factor says how many calls each stands for.
        """
        planned, prompts = [], []
        for i, (name, step, inputs) in enumerate(phases):
            rendered = [r for r in (step.request(e) for e in inputs) if r is not None]
            factor = calls_per_input[i] if calls_per_input else 1.0
            calls = math.ceil(len(rendered) * step.n * factor)
            chars = sum(len(r) if isinstance(r, str) else sum(len(m["content"]) for m in r) for r in rendered)
            avg = chars / max(len(rendered), 1)
            planned.append(PlannedPhase(name, calls, int(avg * calls / 4), calls * step.params.max_tokens))
            if len(prompts) < show:
                prompts += rendered[: show - len(prompts)]
        return cls(prompts=prompts, phases=planned, notes=list(notes))


class _NoCalls(LLM):
    """Stands in for the teacher during a dry run: it renders like the teacher, but any call is a bug in ``plan``."""

    def __init__(self, inner: LLM):
        super().__init__(inner.model_id)
        self.inner = inner
        self.capabilities = inner.capabilities

    @property
    def cache_id(self) -> str:
        return self.inner.cache_id

    def apply_chat_template(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
        return self.inner.apply_chat_template(messages, add_generation_prompt=add_generation_prompt)

    def generate(self, requests: Any) -> Any:
        raise RuntimeError("plan() must not call the teacher")

    def loglikelihood(self, requests: Any) -> Any:
        raise RuntimeError("plan() must not call the teacher")


class Generator(ABC):
    """Base of every generator: a name, a version, an options dataclass, ``generate`` and ``plan``.

    ``version`` goes into every record's provenance: bump it when prompts or parsing
    change what the generator writes.
    """

    name: ClassVar[str] = "generator"
    version: ClassVar[str] = "1"
    Config: ClassVar[type] = NoOptions
    min_teachers: ClassVar[int] = 1
    default_temperature: ClassVar[float] = 0.7  # generators sample unless told otherwise

    def __init__(self, config: Any = None):
        self.config = config if config is not None else self.Config()

    @property
    def origin(self) -> tuple[str, str]:
        return (self.name, self.version)

    def default_n(self, inputs: Sequence[Example]) -> int:
        """``--n`` when none is given."""
        return 100

    @abstractmethod
    def generate(self, run: GenerationRun) -> list[Example]:
        """Run the phases and return the records to keep (at most ``run.settings.n``)."""

    @abstractmethod
    def plan(self, run: GenerationRun) -> Plan:
        """The dry run: render the first prompts and count the planned calls; never call a model."""

    def describe(self) -> dict[str, Any]:
        from syllabus.config import to_dict

        return {
            "name": self.name,
            "version": self.version,
            "options": to_dict(self.config),
        }


class GenerationRun:
    """The context a generator runs in: teachers, settings, the stage folder, seeded randomness.

    Args:
        generator: the generator being run (its name and version go into provenance).
        teachers: teacher models; ``teacher`` is the first.
        settings: shared settings (n, decoding, seed, sharding).
        out_dir: the stage folder (``runs/NAME/r00/01_generate``).
        inputs: user records (prompts, seed tasks or documents) for generators that take them.
    """

    def __init__(
        self,
        generator: Generator,
        teachers: Sequence[LLM],
        settings: GenerationSettings,
        out_dir: str | Path,
        inputs: Sequence[Example] = (),
    ):
        if len(teachers) < generator.min_teachers:
            raise ConfigError(
                f"generator {generator.name!r} needs at least {generator.min_teachers} teachers; "
                f"give --teacher SPEC that many times"
            )
        self.generator = generator
        self.teachers = list(teachers)
        self.settings = settings
        self.out_dir = Path(out_dir)
        self.inputs = list(inputs)
        self._phase_index = 0
        self._progress: _KeptProgress | None = None
        self._notes: list[str] = []

    # -- conveniences -----------------------------------------------------------------------
    @property
    def teacher(self) -> LLM:
        return self.teachers[0]

    @property
    def params(self) -> SamplingParams:
        return self.settings.params

    def params_with(self, **changes: Any) -> SamplingParams:
        return replace(self.settings.params, **changes)

    def rng(self, *key: object) -> random.Random:
        """A random stream determined by the run's seed and ``key`` (e.g. ``run.rng("pairs", round)``)."""
        return random.Random(content_hash([self.settings.seed, self.generator.name, *map(str, key)]))

    def require_inputs(self, what: str = "prompts") -> list[Example]:
        if not self.inputs:
            raise ConfigError(f"generator {self.generator.name!r} needs {what}: give --prompts FILE (or --prompt TEXT)")
        return self.inputs

    # -- phases -----------------------------------------------------------------------------------
    def phase(
        self,
        name: str,
        inputs: Sequence[Example],
        steps: Sequence[Step],
        *,
        kept: bool = False,
    ) -> list[Example]:
        """Run ``steps`` over ``inputs`` into ``phases/NN_name`` and return the kept records.

        ``kept=True`` marks a phase whose output counts toward ``n`` (it moves the progress bar).
        """
        folder = self.out_dir / "phases" / f"{self._phase_index:02d}_{name}"
        self._phase_index += 1
        if not inputs:
            return []
        pipeline = Pipeline(
            list(steps),
            shard_size=self.settings.shard_size,
            executor=self.settings.executor,
        )
        progress = self._progress
        last = steps[-1].name if steps else "input"
        hook = (
            (lambda counters: progress.shard(name, counters, counters.get(f"{last}.out", 0) if kept else 0))
            if progress
            else None
        )
        result = pipeline.run(inputs, folder, on_shard=hook)
        return list(result.examples())

    def until(
        self,
        name: str,
        make_inputs: Callable[[int, int], list[Example]],
        steps: Sequence[Step],
        *,
        target: int | None = None,
        expected_yield: float = 0.5,
        kept: bool = True,
    ) -> list[Example]:
        """Repeat a phase until ``target`` (default ``n``) records are kept.

        ``make_inputs(round, k)`` returns ``k`` fresh inputs for round ``round`` (ids must be
        unique across rounds, e.g. by including the round). Round sizes follow the yield seen
        so far (``expected_yield`` before the first round), so a rerun sizes them identically.
        Stops early, with a note in ``generation.json``, when ``max_rounds`` pass or a round
        keeps nothing.
        """
        target = self.settings.n if target is None else target
        out: list[Example] = []
        tried = 0
        for round_ in range(self.settings.max_rounds):
            needed = target - len(out)
            if needed <= 0:
                break
            rate = len(out) / tried if tried and out else expected_yield
            size = max(1, math.ceil(needed / max(rate, 0.02) * 1.1))
            inputs = make_inputs(round_, size)
            if not inputs:
                self.note(f"{name}: no inputs left for round {round_}; stopped with {len(out)} of {target}")
                break
            tried += len(inputs)
            kept_now = self.phase(f"{name}-r{round_:02d}", inputs, steps, kept=kept)
            out += kept_now
            if not kept_now:
                self.note(f"{name}: round {round_} kept nothing; stopped")
                break
        else:
            if len(out) < target:
                self.note(f"{name}: {len(out)} of {target} kept after max_rounds={self.settings.max_rounds}")
        return out[:target]

    def note(self, text: str) -> None:
        """Say something about this run in ``generation.json`` (e.g. why a round loop stopped early)."""
        self._notes.append(text)

    # -- the whole run --------------------------------------------------------------------------
    def execute(self) -> StageResult:
        """Run the generator, write the final records and ``generation.json``; resumable."""
        self._notes = []
        started = time.monotonic()
        with _KeptProgress(self.settings.progress, f"{self.generator.name}", self.settings.n) as progress:
            self._progress = progress
            try:
                records = self.generator.generate(self)
            finally:
                self._progress = None
        if len(records) > self.settings.n:
            records = records[: self.settings.n]
        seen: set[str] = set()
        for r in records:  # a generator bug, not bad input: two records must never share an id
            if r.id in seen:
                raise RuntimeError(f"generator {self.generator.name!r} produced the id {r.id!r} twice")
            seen.add(r.id)
        result = Pipeline([], shard_size=self.settings.shard_size).run(records, self.out_dir)
        report = generation_report(self.out_dir, target=self.settings.n, notes=self._notes)
        report["generator"] = self.generator.describe()
        report["teachers"] = [t.model_id for t in self.teachers]
        report["wall_seconds_this_run"] = round(time.monotonic() - started, 3)
        write_text_atomic(
            self.out_dir / "generation.json",
            json.dumps(report, indent=2, ensure_ascii=False) + "\n",
        )
        return result

    def dry_run(self) -> Plan:
        """The generator's plan, computed with teachers that refuse to be called."""
        real = self.teachers
        self.teachers = [_NoCalls(t) for t in real]
        try:
            return self.generator.plan(self)
        finally:
            self.teachers = real


_CALL_COUNTERS = ("requests", "prompt_tokens", "completion_tokens", "cached", "truncated", "milliseconds")


def generation_report(stage_dir: str | Path, *, target: int | None = None, notes: Sequence[str] = ()) -> dict[str, Any]:
    """Yields, requests and tokens of a generation, recomputed from its phases' stats files."""
    stage_dir = Path(stage_dir)
    phases = []
    totals: Counter[str] = Counter()
    seconds = 0.0
    for folder in sorted((stage_dir / "phases").glob("*")) if (stage_dir / "phases").exists() else []:
        if not (folder / "stats").exists():
            continue
        summary = summarize_stage(folder)
        counters = Counter(summary["counters"])
        calls: Counter[str] = Counter()  # summed over the phase's teacher steps
        for key, value in counters.items():
            last = key.rsplit(".", 1)[-1]
            if "." in key and last in _CALL_COUNTERS:
                calls[last] += value
        totals.update(calls)
        seconds += summary["seconds"]
        phases.append(
            {
                "phase": folder.name,
                "in": summary["input"],
                "out": summary["output"],
                "seconds": summary["seconds"],
                "steps": summary["steps"],
                "teacher": dict(sorted(calls.items())),
            }
        )
    final = json.loads((stage_dir / "stats.json").read_text()) if (stage_dir / "stats.json").exists() else {}
    model_seconds = totals["milliseconds"] / 1000
    fresh_tokens = totals["completion_tokens"]
    return {
        "target": target,
        "kept": final.get("output"),
        "phases": phases,
        "requests": totals["requests"],
        "cached_requests": totals["cached"],
        "prompt_tokens": totals["prompt_tokens"],
        "completion_tokens": fresh_tokens,
        "truncated": totals["truncated"],
        "seconds": round(seconds, 3),
        "model_seconds": round(model_seconds, 3),
        # Throughput over the time spent in teacher calls; a resumed run's cache hits make it look fast.
        "completion_tokens_per_second": round(fresh_tokens / model_seconds, 2) if model_seconds else None,
        "notes": list(notes),
    }


class _KeptProgress:
    """A progress bar of kept rows toward ``n``, with the current phase's per-filter yield."""

    def __init__(self, enabled: bool, label: str, target: int):
        self.enabled, self.label, self.target = enabled, label, target
        self._progress: Any = None
        self._task: Any = None
        self._phase_counts: dict[str, Counter[str]] = {}

    def __enter__(self) -> _KeptProgress | None:
        if not self.enabled:
            return None
        from syllabus.progress import progress_bar

        self._progress = progress_bar("kept", "{task.fields[yields]}")
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=self.target, yields="")
        return self

    def shard(self, phase: str, counters: dict[str, int], kept: int) -> None:
        counts = self._phase_counts.setdefault(phase, Counter())
        counts.update(counters)
        self._progress.advance(self._task, kept)
        self._progress.update(self._task, yields=f"{phase}: {_yield_text(counts)}")

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _yield_text(counts: Counter[str]) -> str:
    """``novelty 62% kept, length 95% kept`` for the steps that dropped something."""
    parts = []
    for key, dropped in counts.items():
        if key.endswith(".dropped"):
            step = key[: -len(".dropped")]
            seen = counts.get(f"{step}.out", 0) + dropped
            parts.append(f"{step} {100 * (seen - dropped) / seen:.0f}%")
    return ", ".join(parts) if parts else f"{counts.get('input', 0)} in"
