"""``eval``, ``compare``, ``trend`` and ``validate``: the evaluation harness's commands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syllabus.cli.options import BackendOptions, console as _console
from syllabus.config import positional, to_dict
from syllabus.errors import ConfigError, SyllabusError

__all__ = ["CompareConfig", "EvalConfig", "TrendConfig", "ValidateConfig", "cmd_compare", "cmd_eval", "cmd_trend", "cmd_validate"]


@dataclass
class EvalConfig:
    """Evaluate a model on tasks; writes report.json, samples/ and report.html (resumable)."""

    model: str = field(default="builtin:smollm2-135m-instruct", metadata={"help": "model spec"})
    tasks: list[str] = field(default_factory=lambda: ["arith-ic"], metadata={"help": "task names, space or comma separated"})
    method: str = field(
        default="direct", metadata={"help": "inference-time method chain, outermost first, e.g. i3c+self-consistency:k=8 (docs/methods.md)"}
    )
    limit: int | None = field(default=None, metadata={"help": "examples per task (default: all)"})
    task_settings: dict[str, dict[str, Any]] = field(
        default_factory=dict, metadata={"help": "YAML only: per-task fields, e.g. {arith-ic: {n_base: 10}}"}
    )
    out: str = field(default="runs/eval", metadata={"help": "run directory; the evaluation goes to r00/05_eval"})
    batch_size: int = field(default=16, metadata={"help": "requests per model call"})
    shard_size: int = field(default=64, metadata={"help": "examples per shard (unit of resumption)"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})
    backend: BackendOptions = field(default_factory=BackendOptions)


@dataclass
class CompareConfig:
    """Paired comparison of two evaluations on the same items (McNemar or paired bootstrap)."""

    before: str = positional("run or eval directory of the baseline")
    after: str = positional("run or eval directory of the candidate")
    confidence: float = field(default=0.95, metadata={"help": "confidence level of the intervals"})
    out: str | None = field(default=None, metadata={"help": "also write the comparison as JSON here"})


@dataclass
class TrendConfig:
    """Metrics across checkpoints (runs in training order): values, Kendall τ, curves."""

    runs: list[str] = positional("run or eval directories in checkpoint order")
    out: str | None = field(default=None, metadata={"help": "write trend.json and trend.html into this folder"})


@dataclass
class ValidateConfig:
    """Render one prompt of every task and score one fake output, without a real model."""

    tasks: list[str] = field(default_factory=list, metadata={"help": "tasks to check (default: all registered)"})


def _task_names(names: Sequence[str]) -> list[str]:
    return [n.strip() for item in names for n in item.split(",") if n.strip()]


def cmd_eval(cfg: EvalConfig) -> int:
    from syllabus.evaluate.html_report import write_report_html
    from syllabus.evaluate.runner import evaluate
    from syllabus.evaluate.task import get_task
    from syllabus.llm import load_llm
    from syllabus.run import RunDir

    names = _task_names(cfg.tasks)
    unused = set(cfg.task_settings) - set(names)
    if unused:
        raise ConfigError(f"task_settings names {', '.join(sorted(unused))}, which is not in --tasks {' '.join(names)}")
    tasks = [get_task(name, **{"limit": cfg.limit, **cfg.task_settings.get(name, {})}) for name in names]
    if not tasks:
        raise ConfigError("--tasks: name at least one task (see `syllabus ls tasks`)")
    run = RunDir(cfg.out)
    from syllabus.methods import build_method

    llm = load_llm(cfg.model, cache=run.cache(), **cfg.backend.for_backend(cfg.model))
    try:
        llm = build_method(cfg.method, llm)
        run.write_manifest(command="eval", config=to_dict(cfg), models={"model": llm.describe()}, seeds={})
        eval_dir = run.stage(0, 5, "eval")
        report = evaluate(llm, tasks, eval_dir, batch_size=cfg.batch_size, shard_size=cfg.shard_size, progress=cfg.progress)
    finally:
        llm.close()
        run.close()
    page = write_report_html(eval_dir)
    _print_report(report)
    _console().print(f"report: {eval_dir / 'report.json'}  page: {page}")
    return 0


def _print_report(report: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from syllabus.evaluate.html_report import _metric_rows

    table = Table("task", "metric", "value", "95% CI", "n")
    for task, section in report["tasks"].items():
        for metric, est in _metric_rows(section["metrics"]):
            if est.get("value") is None:
                continue
            ci = f"[{est['low']:.3f}, {est['high']:.3f}]" if est.get("low") is not None else ""
            table.add_row(escape(task), escape(metric), f"{est['value']:.3f}", ci, str(est.get("n", "")))
    _console().print(table)
    spent = [f"{escape(task)} {section['tokens_per_item']['total']:.0f} tok / {section['tokens_per_item']['requests']:g} calls"
             for task, section in report["tasks"].items() if section.get("tokens_per_item")]
    _console().print(f"method: {escape(report.get('method', 'direct'))}" + (f"; per item: {', '.join(spent)}" if spent else ""))


def _find_eval_dir(path: str) -> Path:
    root = Path(path)
    if (root / "report.json").exists():
        return root
    found = sorted(root.glob("r*/05_eval/report.json"))
    if not found:
        raise ConfigError(f"{root}: no report.json here or under r*/05_eval/; run `syllabus eval --out {root}` first")
    return found[-1].parent


def cmd_compare(cfg: CompareConfig) -> int:
    import json

    from rich.markup import escape
    from rich.table import Table

    from syllabus.evaluate.stats import align, compare
    from syllabus.jsonl import read_jsonl

    dirs = [_find_eval_dir(cfg.before), _find_eval_dir(cfg.after)]
    reports = [json.loads((d / "report.json").read_text()) for d in dirs]
    table = Table("task", "metric", "before", "after", "difference", f"{cfg.confidence:.0%} CI", "p", "n", "verdict")
    results: list[dict[str, Any]] = []
    for task in [t for t in reports[0]["tasks"] if t in reports[1]["tasks"]]:
        namespace = task.replace(".", "_")
        samples = [list(read_jsonl(d / "samples" / f"{namespace}.jsonl")) for d in dirs]
        for metric in reports[0]["tasks"][task]["metrics"]:
            key = f"{namespace}.{metric}"
            rows = [[{"id": e.id, "v": e.scores[key]} for e in s if key in e.scores] for s in samples]
            if not rows[0] or not rows[1]:
                continue  # an aggregate-only metric (macro, per factor): no per-item pairs
            pairs = align(rows[0], rows[1])
            a = [r["v"] for r in pairs.a]
            b = [r["v"] for r in pairs.b]
            lower = metric in reports[0]["tasks"][task].get("lower_is_better", [])
            result = compare(a, b, confidence=cfg.confidence, higher_is_better=not lower)
            results.append({"task": task, "metric": metric, "missing": len(pairs.only_a) + len(pairs.only_b), **result.to_dict()})
            table.add_row(
                escape(task), escape(metric), f"{result.mean_a:.3f}", f"{result.mean_b:.3f}", f"{result.diff:+.3f}",
                f"[{result.low:+.3f}, {result.high:+.3f}]", f"{result.p_value:.3g}", str(result.n), result.verdict,
            )
    _console().print(table)
    if cfg.out:
        from syllabus.jsonl import write_text_atomic

        summary = {"before": str(dirs[0]), "after": str(dirs[1]), "comparisons": results}
        write_text_atomic(cfg.out, json.dumps(summary, indent=2) + "\n")
    return 0


def cmd_trend(cfg: TrendConfig) -> int:
    import json

    from rich.markup import escape
    from rich.table import Table

    from syllabus.evaluate.trend import render_trend, trend
    from syllabus.jsonl import write_text_atomic

    runs = cfg.runs
    if len(runs) < 2:
        raise ConfigError("syllabus trend needs at least two runs, in checkpoint order")
    dirs = [_find_eval_dir(r) for r in runs]
    rows = trend([json.loads((d / "report.json").read_text()) for d in dirs], [Path(r).name for r in runs])
    table = Table("task", "metric", "values", "Kendall τ", "p")
    for r in rows:
        p = "" if r["p_value"] is None else f"{r['p_value']:.3g}"
        table.add_row(escape(r["task"]), escape(r["metric"]), " → ".join(f"{v:.3f}" for v in r["values"]), str(r["tau"]), p)
    _console().print(table)
    if cfg.out:
        write_text_atomic(Path(cfg.out) / "trend.json", json.dumps(rows, indent=2) + "\n")
        write_text_atomic(Path(cfg.out) / "trend.html", render_trend(rows))
    return 0


def cmd_validate(cfg: ValidateConfig) -> int:
    from rich.markup import escape

    from syllabus.evaluate.runner import AnswerAndScore
    from syllabus.evaluate.task import TASKS, get_task
    from syllabus.llm.fake import EchoLLM

    console = _console()
    names = _task_names(cfg.tasks) or TASKS.names()
    failed = 0
    for name in names:
        spec = f"{name}basic_arithmetic" if name.endswith(":") else name  # parameterised families
        try:
            task = get_task(spec, **{**TASKS.get(name).validate_settings, "limit": 1})
            example = task.load()[0]
            scored = next(iter(AnswerAndScore(task, EchoLLM())([example])))
        except SyllabusError as e:
            failed += 1
            console.print(f"[red]x[/red] {escape(spec)}: {escape(str(e))}")
            continue
        shown = task.requests(example)[0]
        text = getattr(shown, "messages", None) or getattr(shown, "context", "")
        console.print(f"[green]ok[/green] {escape(spec)} v{task.version}: {len(task.requests(example))} request(s); "
                      f"scores {escape(str(scored.scores))}")
        console.print(f"   prompt: {escape(str(text))[:300]}")
    return 1 if failed else 0
