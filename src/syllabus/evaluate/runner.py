"""Run tasks against a model through the resumable pipeline and write the report.

::

    r00/05_eval/
      tasks/TASK/   a pipeline stage per task (shards, done markers, stats): resumable
      samples/TASK.jsonl   every example with the model's output and its scores
      report.json          metrics with CIs, task settings and versions, model details,
                           the inference-time method, decoding parameters, a hash of the
                           prompts, tokens and model calls per item

The report is recomputed from the shards, never from memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from syllabus.evaluate.task import Output, Scored, Task
from syllabus.jsonl import write_jsonl, write_text_atomic
from syllabus.llm.base import LLM, GenerateRequest, LoglikelihoodRequest, request_hash
from syllabus.pipeline import BatchMap, Pipeline, read_stage
from syllabus.record import Example, content_hash

__all__ = ["AnswerAndScore", "evaluate", "task_report", "token_budget", "tokens_spent"]


class AnswerAndScore(BatchMap):
    """Send a batch of examples' requests to the model in one call each, then score them.

    The first generated text becomes ``completion``; all texts (for k samples) and the
    loglikelihoods go to ``meta`` under ``eval.*``; metric values go to ``scores`` under the
    task's namespace.
    """

    name = "eval"
    version = "1"

    def __init__(self, task: Task, llm: LLM, batch_size: int = 16):
        self.task, self.llm, self.batch_size = task, llm, batch_size

    def map_batch(self, batch: list[Example]) -> Iterable[Example]:
        per_example = [self.task.requests(ex) for ex in batch]
        flat = [r for rs in per_example for r in rs]
        generate = [r for r in flat if isinstance(r, GenerateRequest)]
        score = [r for r in flat if isinstance(r, LoglikelihoodRequest)]
        generated = iter(self.llm.generate(generate) if generate else [])
        scored = iter(self.llm.loglikelihood(score) if score else [])
        per_outputs: list[list[Output]] = [
            [next(generated) if isinstance(r, GenerateRequest) else next(scored) for r in requests] for requests in per_example
        ]
        results = self.task.score_batch(batch, per_outputs)
        for example, requests, outputs, result in zip(batch, per_example, per_outputs, results, strict=True):
            out = Example.from_dict(example.to_dict())
            texts = [o.text for o in outputs if hasattr(o, "text")]
            if texts:
                out.completion = texts[0]
                if len(texts) > 1:
                    out.meta["eval.samples"] = texts
            out.meta["eval.tokens"] = tokens_spent(outputs)
            traces = [o.trace for o in outputs if getattr(o, "trace", None)]
            if traces:  # what an inference-time method decided (votes, flagged conditions)
                out.meta["eval.method_trace"] = traces[0] if len(traces) == 1 else traces
            lls = [o.to_dict() for o in outputs if not hasattr(o, "text")]
            if lls:
                out.meta["eval.loglikelihoods"] = [{k: v for k, v in ll.items() if k != "token_logprobs"} for ll in lls]
            if isinstance(result, Scored):
                for key, value in result.meta.items():
                    out.set_meta(self.task.namespace, key, value)
                result = result.scores
            for metric, value in result.items():
                out.set_score(self.task.namespace, metric, value)
            out.provenance = {
                **out.provenance,
                "step": "eval",
                "task": self.task.name,
                "task_version": self.task.version,
                "model": self.llm.model_id,
                "prompt_hash": content_hash([r.key_fields() for r in requests]),
                "cache_keys": [
                    request_hash(self.llm.cache_id, "generate" if isinstance(r, GenerateRequest) else "loglikelihood", r.key_fields())
                    for r in requests
                ],
            }
            yield out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "task": self.task.describe(), "model": self.llm.model_id}


def tokens_spent(outputs: Sequence[Output]) -> dict[str, int]:
    """Tokens and model calls behind one example's outputs.

    A plain model's generation is one call; an inference-time method's generation carries
    the totals of every call it made (``requests``). A loglikelihood request reads its
    scored tokens and counts as one call.
    """
    prompt = completion = calls = 0
    for o in outputs:
        if hasattr(o, "text"):
            prompt += o.prompt_tokens  # type: ignore[union-attr]
            completion += o.completion_tokens  # type: ignore[union-attr]
            calls += getattr(o, "requests", 1)
        else:
            prompt += o.n_tokens  # type: ignore[union-attr]
            calls += 1
    return {"prompt": prompt, "completion": completion, "requests": calls}


def token_budget(task: Task, example: Example) -> int:
    """The most tokens one example can cost: new tokens allowed plus one per scored request.

    Progress bars count this budget, so their ETA is in tokens; a model that stops early
    finishes ahead of it.
    """
    return sum(r.params.max_tokens if isinstance(r, GenerateRequest) else 1 for r in task.requests(example))


def task_report(task: Task, examples: Sequence[Example]) -> dict[str, Any]:
    """One task's section of the report, from its scored examples."""
    params = task.sampling().to_dict() if task.kind == "generate" else None
    return {
        **task.describe(),
        "n": len(examples),
        "metrics": task.aggregate(examples),
        "decoding": params,
        "prompts_hash": content_hash([e.provenance.get("prompt_hash") for e in examples]),
        "tokens_per_item": _mean_tokens(examples),
    }


def _mean_tokens(examples: Sequence[Example]) -> dict[str, float] | None:
    """Mean prompt and completion tokens and model calls per example (None before they were recorded)."""
    spent = [e.meta["eval.tokens"] for e in examples if isinstance(e.meta.get("eval.tokens"), dict)]
    if not spent:
        return None
    means = {k: round(sum(t.get(k, 0) for t in spent) / len(spent), 2) for k in ("prompt", "completion", "requests")}
    return {**means, "total": round(means["prompt"] + means["completion"], 2)}


def evaluate(
    llm: LLM,
    tasks: Sequence[Task],
    out_dir: str | Path,
    *,
    batch_size: int = 16,
    shard_size: int = 64,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate ``llm`` on ``tasks``; resumable; returns (and writes) the report."""
    out_dir = Path(out_dir)
    report: dict[str, Any] = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": llm.describe(),
        "method": getattr(llm, "chain", "direct"),
        "batch_size": batch_size,
        "tasks": {},
    }
    for task in tasks:
        examples = task.load()
        if task.limit is not None:
            examples = examples[: task.limit]
        stage = out_dir / "tasks" / task.namespace
        if hasattr(llm, "bind_task"):  # an inference-time method may draw on the task (demonstrations)
            llm.bind_task(task)
        pipeline = Pipeline(
            [AnswerAndScore(task, llm, batch_size)],
            shard_size=shard_size,
            progress=progress,
            label=f"eval {task.name}",
            weigh=lambda example, task=task: token_budget(task, example),  # type: ignore[misc]
            unit="tok",
        )
        pipeline.run(examples, stage)
        scored = list(read_stage(stage))
        write_jsonl(out_dir / "samples" / f"{task.namespace}.jsonl", scored)
        report["tasks"][task.name] = task_report(task, scored)
    write_text_atomic(out_dir / "report.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return report
