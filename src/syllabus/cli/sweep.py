"""``sweep``: a decoding sweep (temperature x top_p) scored as maj@m, pass@m and bon@m.

A thin command over :func:`syllabus.methods.sweep.sweep`. The output folder is a run
directory: its request cache (``cache/llm.sqlite``) holds every sample, so running the
same command again redraws nothing, and a killed sweep loses at most the setting it was
sampling. It writes ``sweep.json``, ``sweep.svg`` and ``sweep.html`` there.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syllabus.cli.options import BackendOptions
from syllabus.cli.options import console as _console
from syllabus.config import to_dict
from syllabus.errors import CapabilityError, ConfigError, SyllabusError

__all__ = ["SweepConfig", "cmd_sweep", "render_sweep_html"]


@dataclass
class SweepConfig:
    """Sample n answers per example at every temperature x top_p; report maj@1..n, pass@1..n and
    bon@1..n with 95% intervals; writes sweep.json, sweep.svg and sweep.html (resumable)."""

    model: str = field(default="builtin:smollm2-135m-instruct", metadata={"help": "model spec"})
    task: str = field(default="arith-ic", metadata={"help": "a generation task with one request per example"})
    temperature: list[float] = field(default_factory=lambda: [0.7], metadata={"help": "temperatures to sweep"})
    top_p: list[float] = field(default_factory=lambda: [1.0], metadata={"help": "nucleus masses to sweep"})
    n: int = field(default=8, metadata={"help": "samples per example and setting"})
    limit: int | None = field(default=None, metadata={"help": "examples (default: all)"})
    metric: str | None = field(default=None, metadata={"help": "task metric scoring a sample (default: the first)"})
    answer: str = field(default="number", metadata={"help": "how answers are read for the vote: number or text"})
    reward: str | None = field(default=None, metadata={"help": "loglik adds bon@m (best of m by mean token logprob)"})
    task_settings: dict[str, Any] = field(default_factory=dict, metadata={"help": "YAML only: the task's fields"})
    out: str = field(default="runs/sweep", metadata={"help": "run directory: sweep.json/svg/html and the cache"})
    backend: BackendOptions = field(default_factory=BackendOptions)


def _check(cfg: SweepConfig) -> None:
    """One error per bad option, naming it."""
    if cfg.n < 1:
        raise ConfigError(f"--n {cfg.n}: give at least 1 sample per example")
    if not cfg.temperature:
        raise ConfigError("--temperature: give at least one value, e.g. --temperature 0.3 0.7 1.0")
    if bad := [t for t in cfg.temperature if t < 0]:
        raise ConfigError(f"--temperature {bad[0]:g}: temperatures must be >= 0 (0 is greedy)")
    if not cfg.top_p:
        raise ConfigError("--top-p: give at least one value, e.g. --top-p 1.0 0.9")
    if bad := [p for p in cfg.top_p if not 0 < p <= 1]:
        raise ConfigError(f"--top-p {bad[0]:g}: top_p must be in (0, 1]")
    if cfg.limit is not None and cfg.limit < 1:
        raise ConfigError(f"--limit {cfg.limit}: give at least 1 example (or leave it out for all)")
    if cfg.answer not in ("number", "text"):
        raise ConfigError(f"--answer {cfg.answer!r}: use number or text")
    if cfg.reward not in (None, "loglik"):
        raise ConfigError(f"--reward {cfg.reward!r}: use loglik, or leave it out for no bon@m")
    if "limit" in cfg.task_settings:
        raise ConfigError("task_settings: set the number of examples with --limit, not task_settings.limit")


def cmd_sweep(cfg: SweepConfig) -> int:
    from syllabus.evaluate.task import get_task
    from syllabus.jsonl import write_text_atomic
    from syllabus.llm import load_llm
    from syllabus.methods.sweep import sweep
    from syllabus.run import RunDir

    _check(cfg)
    try:
        task = get_task(cfg.task, **{**cfg.task_settings, "limit": cfg.limit})
    except SyllabusError as e:
        raise ConfigError(f"--task {cfg.task!r}: {e}") from None
    if cfg.metric is not None and cfg.metric not in task.metrics:
        raise ConfigError(f"--metric {cfg.metric!r}: task {task.name!r} scores {', '.join(task.metrics)}")
    run = RunDir(cfg.out)
    llm = load_llm(cfg.model, cache=run.cache(), **cfg.backend.for_backend(cfg.model))
    try:
        if cfg.reward == "loglik" and not llm.capabilities.loglikelihood:
            raise CapabilityError(f"--reward loglik needs log-likelihoods; {llm.model_id} has none (drop --reward)")
        run.write_manifest(command="sweep", config=to_dict(cfg), models={"model": llm.describe()}, seeds={})
        result = sweep(llm, task, n=cfg.n, temperatures=cfg.temperature, top_ps=cfg.top_p, metric=cfg.metric,
                       answer=cfg.answer, reward=cfg.reward, out_dir=cfg.out)
        hits, misses = getattr(llm, "hits", 0), getattr(llm, "misses", 0)
        examples = _examples(task, llm, result.settings)
    finally:
        llm.close()
        run.close()
    page = Path(cfg.out) / "sweep.html"
    write_text_atomic(page, render_sweep_html(result, model=llm.model_id, examples=examples))
    _print_table(result)
    console = _console()
    console.print(f"model calls: {misses} made, {hits} served by the request cache ({run.cache_path})", soft_wrap=True)
    out = Path(cfg.out)
    console.print(f"sweep: {out / 'sweep.json'}  chart: {out / 'sweep.svg'}  page: {page}", soft_wrap=True)
    return 0


def _examples(task: Any, llm: Any, settings: Sequence[dict[str, Any]], count: int = 3) -> list[dict[str, Any]]:
    """The first sample of the first ``count`` examples at every setting (served by the cache:
    the sweep drew them already)."""
    from syllabus.llm.base import GenerateRequest
    from syllabus.methods.base import last_user_text
    from syllabus.methods.sampling import draw_samples

    loaded = task.load()
    loaded = loaded[: task.limit] if task.limit is not None else loaded
    requests = [next(r for r in task.requests(e) if isinstance(r, GenerateRequest)) for e in loaded[:count]]
    rows = [{"question": last_user_text(r), "answers": []} for r in requests]
    for s in settings:
        samples = draw_samples(llm, requests, 1, s["temperature"], s["top_p"])
        for row, gens in zip(rows, samples, strict=True):
            row["answers"].append(gens[0].text)
    return rows


def _cell(est: dict[str, Any]) -> str:
    if est.get("value") is None:
        return ""
    ci = f" [{est['low']:.3f}, {est['high']:.3f}]" if est.get("low") is not None else ""
    return f"{est['value']:.3f}{ci}"


def _shown_m(n: int) -> list[int]:
    """1, 2, 4, ... and n: the points of each curve the table shows.

    >>> _shown_m(8), _shown_m(5), _shown_m(1)
    ([1, 2, 4, 8], [1, 2, 4, 5], [1])
    """
    out, m = [], 1
    while m < n:
        out.append(m)
        m *= 2
    return [*out, n]


def _print_table(result: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    curves = [c for c in ("maj", "pass", "bon") if any(c in s for s in result.settings)]
    # mean@1 is not a column: with right/wrong scores it equals pass@1
    table = Table("T", "top_p", "m", *(f"{c}@m [95% CI]" for c in curves), "tok/item",
                  title=escape(f"{result.task} · {result.metric} · n={result.n}"))
    for s in result.settings:
        for row, m in enumerate(_shown_m(result.n)):
            first = row == 0
            table.add_row(
                f"{s['temperature']:g}" if first else "", f"{s['top_p']:g}" if first else "", str(m),
                *(_cell(s[c][m - 1]) if c in s else "" for c in curves),
                f"{s['tokens_per_item']:.0f}" if first else "",
                end_section=m == result.n,
            )
    _console().print(table)


def render_sweep_html(result: Any, *, model: str, examples: Sequence[dict[str, Any]] = ()) -> str:
    """A small self-contained page: the table, the chart and a few sampled answers; every
    string that comes from the model, the task or the command line is escaped.

    >>> from syllabus.methods.sweep import SweepResult
    >>> est = {"value": 0.5, "low": 0.1, "high": 0.9, "n": 2}
    >>> r = SweepResult("t<1>", "acc", 1, [{"temperature": 0.0, "top_p": 1.0, "tokens_per_item": 3.0,
    ...     "mean@1": [est], "maj": [est], "pass": [est]}])
    >>> page = render_sweep_html(r, model="m&m", examples=[{"question": "q", "answers": ["<b>7</b>"]}])
    >>> "&lt;b&gt;7&lt;/b&gt;" in page and "m&amp;m" in page and "<b>7</b>" not in page
    True
    """
    from syllabus.methods.sweep import render_sweep_svg

    e = html.escape
    curves = [c for c in ("maj", "pass", "bon") if any(c in s for s in result.settings)]
    names = ("T", "top_p", "m", "mean@1", *(f"{c}@m" for c in curves), "tokens/item")
    head = "".join(f"<th>{e(h)}</th>" for h in names)
    rows = []
    for s in result.settings:
        for m in range(1, result.n + 1):
            first = m == 1
            cells = [f"{s['temperature']:g}", f"{s['top_p']:g}", str(m), _cell(s["mean@1"][0]) if first else "",
                     *(_cell(s[c][m - 1]) if c in s else "" for c in curves),
                     f"{s['tokens_per_item']:.0f}" if first else ""]
            rows.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    settings = [f"T={s['temperature']:g}, top_p={s['top_p']:g}" for s in result.settings]
    samples = []
    for ex in examples:
        answers = "".join(f"<dt>{e(label)}</dt><dd><pre>{e(text)}</pre></dd>"
                          for label, text in zip(settings, ex["answers"], strict=False))
        samples.append(f"<h3>{e(ex['question'])}</h3><dl>{answers}</dl>")
    title = f"Sweep: {result.task} · {result.metric} · {model}"
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{e(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}pre{white-space:pre-wrap;margin:0}</style>"
        f"</head><body><h1>{e(title)}</h1>"
        f"<p>{result.n} samples per example and setting; maj@m votes over the first m samples, pass@m is the "
        "unbiased estimate over all m-subsets, bon@m keeps the sample with the highest mean token log-probability; "
        "brackets are 95% bootstrap intervals over examples.</p>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table>"
        f"<h2>Chart</h2>{render_sweep_svg(result)}"
        + (f"<h2>First sample of the first examples</h2>{''.join(samples)}" if samples else "")
        + "</body></html>\n"
    )
