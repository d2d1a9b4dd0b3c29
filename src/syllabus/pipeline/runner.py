"""Run a list of steps shard by shard, resumably.

A stage folder looks like::

    01_generate/
      stage.json         what ran: the steps' settings and a fingerprint of the input
      shards/00000.jsonl  the kept output of shard 0
      excluded/00000.jsonl  what filters dropped, each with meta excluded.step / excluded.reason
      stats/00000.json   counters of shard 0 (in, out, drops by reason, seconds)
      done/00000         written last: shard 0 is complete
      stats.json         the summary, always recomputed from stats/ (never from memory)

A shard is written atomically and then marked done, so a killed run leaves complete shards
and no partial ones. Running the same stage again skips done shards and reruns the rest;
with a request cache the requests a killed shard already answered cost nothing.

>>> from syllabus.llm.fake import EchoLLM
>>> from syllabus.pipeline.respond import Respond
>>> import tempfile
>>> out = tempfile.mkdtemp()
>>> result = Pipeline([Respond(EchoLLM())], shard_size=2).run([Example.from_prompt(p) for p in "abc"], out)
>>> result.n_shards, result.ran, [e.completion for e in result.examples()]
(2, 2, ['a', 'b', 'c'])
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syllabus.errors import ConfigError
from syllabus.jsonl import read_jsonl, write_jsonl, write_text_atomic
from syllabus.pipeline.executors import Executor, LocalExecutor
from syllabus.pipeline.step import Step, StepContext
from syllabus.record import Example, content_hash

__all__ = ["Pipeline", "StageResult", "read_stage", "summarize_stage"]

ProgressHook = Callable[[int], None]
Weigh = Callable[[Example], int]
ShardHook = Callable[[dict[str, int]], None]  # called with a finished shard's counters


def _one(example: Example) -> int:
    return 1


@dataclass
class StageResult:
    """Where a stage wrote its output and what happened."""

    out_dir: Path
    n_shards: int
    ran: int  # shards run this time
    skipped: int  # shards already done before
    summary: dict[str, Any]

    def examples(self) -> Iterator[Example]:
        return read_stage(self.out_dir)

    def excluded(self) -> Iterator[Example]:
        return read_stage(self.out_dir, kind="excluded")


def _shard_name(index: int) -> str:
    return f"{index:05d}"


def read_stage(out_dir: str | Path, kind: str = "shards") -> Iterator[Example]:
    """All records of a finished stage in shard order (``kind``: shards or excluded)."""
    for path in sorted((Path(out_dir) / kind).glob("*.jsonl")):
        yield from read_jsonl(path)


def summarize_stage(out_dir: str | Path) -> dict[str, Any]:
    """Recompute a stage's summary from its per-shard stats files and write ``stats.json``.

    The summary gives, per step, how many records went in and out and, for filters, how
    many each reason removed and what share of the step's input that is.
    """
    out_dir = Path(out_dir)
    totals: Counter[str] = Counter()
    seconds = 0.0
    shard_files = sorted((out_dir / "stats").glob("*.json"))
    steps: list[str] = []
    for path in shard_files:
        data = json.loads(path.read_text())
        totals.update(data["counters"])
        seconds += data["seconds"]
        steps = data["steps"]
    per_step = []
    n_in = totals["input"]
    for name in steps:
        n_out = totals[f"{name}.out"]
        reasons = {
            key.removeprefix(f"{name}.dropped."): count
            for key, count in sorted(totals.items())
            if key.startswith(f"{name}.dropped.")
        }
        per_step.append(
            {
                "step": name,
                "in": n_in,
                "out": n_out,
                "dropped": totals[f"{name}.dropped"],
                "dropped_share": round(totals[f"{name}.dropped"] / n_in, 4) if n_in else 0.0,
                "reasons": reasons,
            }
        )
        n_in = n_out
    summary = {
        "shards_done": len(list((out_dir / "done").glob("*"))),
        "input": totals["input"],
        "output": n_in,
        "excluded": sum(totals[f"{s}.dropped"] for s in steps),
        "seconds": round(seconds, 3),
        "steps": per_step,
        # Everything the steps counted (model requests, tokens, cache hits, ...), summed.
        "counters": dict(sorted(totals.items())),
    }
    write_text_atomic(out_dir / "stats.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _counted(
    it: Iterable[Example], counters: Counter[str], key: str, hook: ProgressHook | None = None, weigh: Weigh = _one
) -> Iterator[Example]:
    for example in it:
        counters[key] += 1
        if hook is not None:
            hook(weigh(example))
        yield example


class Pipeline:
    """A plain list of steps run over sharded input.

    Args:
        steps: the steps, applied in order to each shard's stream of examples.
        shard_size: examples per shard: the unit of resumption and of parallelism.
        progress: show a progress bar (rate and ETA) on stderr.
        executor: where shards run (:class:`LocalExecutor` by default, or ``RayExecutor``).
        weigh: the work one input example stands for, in the progress bar's unit (default
            1 example; evaluation counts its token budget, so the ETA is in tokens).
        unit: the name of that unit, shown with the rate.
    """

    def __init__(
        self,
        steps: Sequence[Step],
        *,
        shard_size: int = 64,
        progress: bool = False,
        label: str = "stage",
        executor: Executor | None = None,
        weigh: Weigh = _one,
        unit: str = "ex",
    ):
        if shard_size < 1:
            raise ConfigError(f"shard_size must be >= 1, got {shard_size}")
        self.steps = list(steps)
        self.shard_size = shard_size
        self.progress = progress
        self.label = label
        self.executor = executor or LocalExecutor()
        self.weigh, self.unit = weigh, unit
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ConfigError(f"step names must be unique within a pipeline (they namespace stats): {names}")

    def describe(self) -> list[dict[str, Any]]:
        return [step.describe() for step in self.steps]

    def run(self, inputs: Iterable[Example], out_dir: str | Path, *, on_shard: ShardHook | None = None) -> StageResult:
        """Run every shard that is not yet done and return the stage's result.

        ``on_shard`` is called on this process with each shard's counters (``input``,
        ``<step>.out``, ``<step>.dropped...``) as the shard finishes, and first for the
        shards a previous run already finished, so a caller can show what was kept.
        """
        out_dir = Path(out_dir)
        examples = list(inputs)
        shards = [examples[i : i + self.shard_size] for i in range(0, len(examples), self.shard_size)]
        self._check_or_write_stage_file(out_dir, examples)
        done = {p.name for p in (out_dir / "done").glob("*")} if (out_dir / "done").exists() else set()
        todo = [i for i in range(len(shards)) if _shard_name(i) not in done]
        if on_shard is not None:
            for i in range(len(shards)):
                if _shard_name(i) in done:
                    on_shard(_shard_counters(out_dir, i))
        remaining = sum(self.weigh(e) for i in todo for e in shards[i])
        local = isinstance(self.executor, LocalExecutor)
        with _progress_bar(self.progress, self.label, remaining, self.unit) as advance:
            # In process, progress advances per example; remote shards report when done.
            per_example = advance if local else None
            jobs = [(index, shards[index]) for index in todo]
            runner = _ShardRunner(self.steps, out_dir, per_example, self.weigh, on_shard if local else None)
            self.executor.run(runner, jobs, advance or (lambda n: None))
        if on_shard is not None and not local:  # remote shards report through their stats files
            for index in todo:
                on_shard(_shard_counters(out_dir, index))
        summary = summarize_stage(out_dir)
        return StageResult(out_dir, len(shards), ran=len(todo), skipped=len(shards) - len(todo), summary=summary)

    def _check_or_write_stage_file(self, out_dir: Path, examples: list[Example]) -> None:
        stage = {
            "input": {"count": len(examples), "fingerprint": content_hash([e.to_dict() for e in examples])},
            "shard_size": self.shard_size,
            "steps": self.describe(),
        }
        path = out_dir / "stage.json"
        if path.exists():
            previous = json.loads(path.read_text())
            if previous != json.loads(json.dumps(stage)):
                what = [k for k in stage if previous.get(k) != json.loads(json.dumps(stage[k]))]
                raise ConfigError(
                    f"{out_dir} holds a stage run with a different {' and '.join(what)}; "
                    "resuming would mix outputs: choose a new output folder or delete this one"
                )
            return
        write_text_atomic(path, json.dumps(stage, indent=2, ensure_ascii=False) + "\n")


def _shard_counters(out_dir: Path, index: int) -> dict[str, int]:
    return dict(json.loads((out_dir / "stats" / f"{_shard_name(index)}.json").read_text())["counters"])


class _ShardRunner:
    """Runs the steps over one shard and writes its files; picklable for remote executors."""

    def __init__(
        self,
        steps: list[Step],
        out_dir: Path,
        advance: ProgressHook | None,
        weigh: Weigh = _one,
        on_shard: ShardHook | None = None,
    ):
        self.steps, self.out_dir, self.advance, self.weigh, self.on_shard = steps, out_dir, advance, weigh, on_shard

    def __getstate__(self) -> dict[str, Any]:
        # A progress bar and its hooks stay on the driver.
        return {**self.__dict__, "advance": None, "on_shard": None}

    def __call__(self, index: int, shard: list[Example]) -> int:
        started = time.monotonic()
        out_dir = self.out_dir
        ctx = StepContext(shard=index)
        stream: Iterable[Example] = _counted(shard, ctx.counters, "input", self.advance, self.weigh)
        for step in self.steps:
            stream = _counted(step.run(stream, ctx), ctx.counters, f"{step.name}.out")
        kept = list(stream)
        name = _shard_name(index)
        write_jsonl(out_dir / "shards" / f"{name}.jsonl", kept)
        write_jsonl(out_dir / "excluded" / f"{name}.jsonl", ctx.excluded)
        stats = {
            "shard": index,
            "steps": [s.name for s in self.steps],
            "counters": dict(ctx.counters),
            "seconds": round(time.monotonic() - started, 3),
        }
        write_text_atomic(out_dir / "stats" / f"{name}.json", json.dumps(stats, indent=2) + "\n")
        # The marker comes last: a shard without it is rerun whole.
        write_text_atomic(out_dir / "done" / name, "")
        if self.on_shard is not None:
            self.on_shard(dict(ctx.counters))
        return sum(self.weigh(e) for e in shard)


class _progress_bar:
    """A rich progress bar (count, rate, ETA) that is a no-op when disabled."""

    def __init__(self, enabled: bool, label: str, total: int, unit: str = "ex"):
        self.enabled, self.label, self.total, self.unit = enabled, label, total, unit
        self._progress: Any = None

    def __enter__(self) -> ProgressHook | None:
        if not self.enabled or self.total == 0:
            return None
        from syllabus.progress import progress_bar

        self._progress = progress_bar("[progress.data.speed]{task.fields[rate]}")
        self._progress.start()
        task = self._progress.add_task(self.label, total=self.total, rate="")

        started = time.monotonic()

        def advance(n: int) -> None:
            # The mean rate since the start: work arrives in bursts (a batch of requests is
            # counted when it is taken, a remote shard when it is done), which makes rich's
            # windowed speed estimate swing by orders of magnitude.
            self._progress.advance(task, n)
            elapsed = time.monotonic() - started
            speed = self._progress.tasks[task].completed / elapsed if elapsed > 1.0 else 0.0
            self._progress.update(task, rate=f"{speed:.1f} {self.unit}/s" if speed else "")

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
