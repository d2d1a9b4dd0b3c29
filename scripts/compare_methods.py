"""Compare inference-time methods on the builtin models: one table, paired CIs against ``direct``.

    .venv/bin/python scripts/compare_methods.py --out runs/methods

For each model, every method runs on the same items of every task (``syllabus eval``'s
runner, one folder per method under ``--out/MODEL/``); then each method is compared with
``direct`` on each task's headline metric, item by item (McNemar for 0/1 scores, the
paired bootstrap otherwise), and the cost is read from each report's ``tokens_per_item``.
The Markdown table goes to stdout and to ``--out/table.md`` (docs/methods.md copies it).

One model's methods share one request cache (``--out/MODEL/cache/llm.sqlite``):
``best-of-n:n=4`` draws the same samples as ``self-consistency:k=5`` (temperature 0.7,
sample indices 0..3), so it pays only for scoring them. Its cost column still counts the
tokens those samples took, as an uncached run would spend. Rerunning resumes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from syllabus.evaluate.runner import evaluate
from syllabus.evaluate.stats import align, compare
from syllabus.evaluate.task import get_task
from syllabus.jsonl import read_jsonl, write_text_atomic
from syllabus.llm import load_llm
from syllabus.methods import build_method
from syllabus.run import RunDir

MODELS = ["builtin:smollm2-135m-instruct", "builtin:gemma-3-270m"]
METHODS = ["direct", "cot", "i3c+cot", "self-consistency:k=5", "best-of-n:n=4"]
TASKS = ["arith-ic", "gym:basic_arithmetic"]
#: The metric each task is compared on (its accuracy).
HEADLINE = {"arith-ic": "flexible_acc", "gym:basic_arithmetic": "score"}
#: Task settings: gym's reply budget is cut from 256 to 128 tokens (arith-ic's), because the
#: base model runs on to the limit whatever it answered and the answer comes first.
TASK_SETTINGS: dict[str, dict[str, Any]] = {"gym:basic_arithmetic": {"max_tokens": 128}}


def slug(text: str) -> str:
    """A folder name for a model or method spec: ``self-consistency:k=5`` -> ``self-consistency_k_5``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text.removeprefix("builtin:"))


def run_model(model: str, methods: list[str], tasks: list[str], limit: int, out: Path, batch_size: int) -> dict[str, Path]:
    """Evaluate every method of one model; the eval folder of each method."""
    run = RunDir(out / slug(model))
    llm = load_llm(model, cache=run.cache())
    folders: dict[str, Path] = {}
    try:
        for method in methods:
            folder = run.path / slug(method)
            started = time.monotonic()
            tasks_ = [get_task(t, limit=limit, **TASK_SETTINGS.get(t, {})) for t in tasks]
            evaluate(build_method(method, llm), tasks_, folder, batch_size=batch_size)
            print(f"{model} {method}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
            folders[method] = folder
    finally:
        llm.close()
        run.close()
    return folders


def scores(folder: Path, task: str) -> list[dict[str, Any]]:
    key = f"{task.replace('.', '_')}.{HEADLINE.get(task, 'acc')}"
    rows = read_jsonl(folder / "samples" / f"{task.replace('.', '_')}.jsonl")
    return [{"id": e.id, "v": e.scores[key]} for e in rows if key in e.scores]


def table_rows(model: str, folders: dict[str, Path], tasks: list[str]) -> list[dict[str, Any]]:
    """One row per (task, method): score, difference from direct with its CI, tokens and calls per item."""
    rows = []
    for task in tasks:
        base = scores(folders["direct"], task)
        for method, folder in folders.items():
            report = json.loads((folder / "report.json").read_text())["tasks"][task]
            spent = report.get("tokens_per_item") or {}
            mine = scores(folder, task)
            row: dict[str, Any] = {
                "model": model, "task": task, "method": method, "metric": HEADLINE.get(task, "acc"),
                "n": len(mine), "score": sum(r["v"] for r in mine) / len(mine) if mine else None,
                "tokens": spent.get("total"), "calls": spent.get("requests"),
            }
            if method != "direct":
                pairs = align(base, mine)
                result = compare([r["v"] for r in pairs.a], [r["v"] for r in pairs.b])
                row |= {"diff": result.diff, "low": result.low, "high": result.high, "p": result.p_value,
                        "verdict": result.verdict, "test": result.test}
            rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | task (metric) | method | score | difference from direct [95% CI] | p | verdict | tokens / item | calls / item |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        diff = f"{r['diff']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]" if "diff" in r else "(baseline)"
        p = f"{r['p']:.3g}" if "p" in r else ""
        score = f"{r['score']:.3f}" if r["score"] is not None else "n/a"
        tokens = f"{r['tokens']:.0f}" if r["tokens"] is not None else "n/a"
        calls = f"{r['calls']:g}" if r["calls"] is not None else "n/a"
        lines.append(
            f"| {r['model'].removeprefix('builtin:')} | {r['task']} ({r['metric']}, n={r['n']}) | {r['method']} | {score} "
            f"| {diff} | {p} | {r.get('verdict', '')} | {tokens} | {calls} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--methods", nargs="+", default=METHODS, help="the first is the baseline (default: direct)")
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument("--limit", type=int, default=20, help="items per task")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("runs/methods"))
    args = parser.parse_args(argv)
    if args.methods[0] != "direct":
        parser.error("--methods: the first method must be direct (the baseline of every comparison)")
    rows: list[dict[str, Any]] = []
    for model in args.models:
        folders = run_model(model, args.methods, args.tasks, args.limit, args.out, args.batch_size)
        rows += table_rows(model, folders, args.tasks)
    text = markdown(rows)
    write_text_atomic(args.out / "table.md", text)
    write_text_atomic(args.out / "table.json", json.dumps(rows, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
