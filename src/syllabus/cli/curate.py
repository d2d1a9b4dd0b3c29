"""``curate``, ``curate explain`` and ``curate fit-rule``: keep the good part, say why for the rest.

``syllabus curate --in DIR --recipe default --out DIR`` runs a recipe (see
:mod:`syllabus.curate.recipe`) and prints the yield table; ``syllabus curate explain ID``
shows every score and decision for one example; ``syllabus curate fit-rule --results FILE``
fits the InstructMining rule's coefficients. (``curate explain`` and ``curate-explain`` are
the same command.)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from syllabus.cli.options import BackendOptions
from syllabus.cli.options import console as _console
from syllabus.config import positional, to_dict
from syllabus.errors import ConfigError

__all__ = [
    "CurateConfig",
    "CurateExplainConfig",
    "CurateFitRuleConfig",
    "CurateModelOptions",
    "cmd_curate",
    "cmd_curate_explain",
    "cmd_curate_fit_rule",
]


@dataclass
class CurateModelOptions:
    """Models that replace the recipe's, by role (unset: the recipe's own)."""

    scorer: str | None = field(default=None, metadata={"help": "model spec for likelihood scores (perplexity)"})
    judge: str | None = field(default=None, metadata={"help": "model spec of the LLM judge"})
    student: str | None = field(default=None, metadata={"help": "model spec of the student (lbt, arte)"})
    embedder: str | None = field(default=None, metadata={"help": "sentence embedder: builtin:all-minilm-l6-v2, fake:bow or hf:PATH"})


@dataclass
class CurateConfig:
    """Score, deduplicate, decontaminate and select examples; every drop keeps its reason."""

    input: str | None = field(
        default=None,
        metadata={"help": "a stage folder with shards/, a run directory, or a JSONL/Parquet file", "aliases": ["--in"]},
    )
    recipe: str = field(default="default", metadata={"help": "a built-in recipe (default, judge, verified, diverse) or a YAML file"})
    out: str | None = field(default=None, metadata={"help": "run directory (default: the input's run directory, else runs/curate)"})
    format: str = field(default="auto", metadata={"help": "format of a file input: auto, syllabus, messages, alpaca, ..."})
    decontaminate: list[str] | None = field(default=None, metadata={"help": "evaluation tasks to decontaminate against (replaces the recipe's)"})
    shard_size: int = field(default=64, metadata={"help": "examples per shard (unit of resumption)"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})
    models: CurateModelOptions = field(default_factory=CurateModelOptions)
    backend: BackendOptions = field(default_factory=BackendOptions)


@dataclass
class CurateExplainConfig:
    """Every score and decision for one example of a curation (a unique id prefix will do)."""

    id: str = positional("the example's id (or a unique prefix)")
    out: str = field(default="runs/curate", metadata={"help": "the run directory (or its 02_curate stage folder)"})


@dataclass
class CurateFitRuleConfig:
    """Fit the InstructMining rule: regress evaluation loss on subsets' mean indicator scores."""

    results: str | None = field(
        default=None, metadata={"help": "JSONL or CSV, one row per fine-tuned subset: its mean indicator scores and its eval loss"}
    )
    indicators: list[str] = field(default_factory=list, metadata={"help": "indicator columns to use (default: all but loss)"})
    target: Literal["log_loss", "loss"] = field(default="log_loss", metadata={"help": "regress log(loss) (the paper) or loss"})
    out: str | None = field(default=None, metadata={"help": "where to write the rule JSON (default: RESULTS.rule.json)"})


# -- input ------------------------------------------------------------------------------------

_ROUND = re.compile(r"^r(\d+)$")


@dataclass
class _Input:
    examples: list[Any]
    round_index: int
    run_dir: Path | None  # the run the input belongs to, if any
    source: str


def _load_input(path_text: str | None, fmt: str) -> _Input:
    from syllabus.pipeline.runner import read_stage

    if not path_text:
        raise ConfigError("curate needs --in: a stage folder with shards/, a run directory, or a JSONL file")
    path = Path(path_text)
    if not path.exists():
        raise ConfigError(f"--in {path}: no such file or folder")
    if path.is_file():
        from syllabus.formats import read_any

        return _Input(list(read_any(path, format=fmt)), 0, None, str(path))
    stage = path
    if not (path / "shards").is_dir():
        # A run directory: the latest round's generated data.
        found = sorted(path.glob("r*/01_generate/shards"))
        if not found:
            raise ConfigError(f"--in {path}: no shards/ here and no r*/01_generate/shards below; give a stage folder or a JSONL file")
        stage = found[-1].parent
    _require_finished(stage)
    match = _ROUND.match(stage.parent.name)
    round_index = int(match.group(1)) if match else 0
    run_dir = stage.parent.parent if match else None
    return _Input(list(read_stage(stage)), round_index, run_dir, str(stage))


def _require_finished(stage: Path) -> None:
    """A pipeline stage (one with stage.json) must have every shard marked done: curating
    half a stage would silently lose the rest."""
    import math

    info = stage / "stage.json"
    if not info.exists():
        return  # shards written some other way (a generator's final set, by hand)
    data = json.loads(info.read_text())
    expected = math.ceil(data["input"]["count"] / data["shard_size"])
    done = len(list((stage / "done").glob("*"))) if (stage / "done").is_dir() else 0
    if done < expected:
        raise ConfigError(f"--in {stage}: the stage has finished {done} of {expected} shards; run it again to finish it first")


def _stage_dir(path_text: str) -> Path:
    """The curation stage folder given a run directory or the stage folder itself."""
    path = Path(path_text)
    if (path / "stats.json").exists() and (path / "shards").is_dir():
        return path
    found = sorted(path.glob("r*/02_curate/stats.json"))
    if not found:
        raise ConfigError(f"{path}: no curation here (no r*/02_curate/stats.json); run `syllabus curate --out {path}` first")
    return found[-1].parent


# -- curate -----------------------------------------------------------------------------------


def cmd_curate(cfg: CurateConfig) -> int:
    from syllabus.curate import MODEL_ROLES
    from syllabus.curate.recipe import LazyModels, load_recipe, run_context, run_recipe
    from syllabus.llm import load_llm
    from syllabus.run import RunDir

    recipe = load_recipe(cfg.recipe)
    for role, spec in to_dict(cfg.models).items():
        if spec is not None:
            setattr(recipe.models, role, spec)
    if cfg.decontaminate is not None:
        recipe.decontaminate = [t.strip() for item in cfg.decontaminate for t in item.split(",") if t.strip()]
    recipe.check()
    source = _load_input(cfg.input, cfg.format)
    if not source.examples:
        raise ConfigError(f"--in {source.source}: no examples")
    out = cfg.out or (str(source.run_dir) if source.run_dir is not None else "runs/curate")
    run = RunDir(out)
    stage_dir = run.stage(source.round_index, 2, "curate")
    if Path(source.source).resolve() == stage_dir.resolve():
        raise ConfigError(f"--in {source.source} is the stage this would write; give another --out")

    def load(spec: str) -> Any:
        return load_llm(spec, cache=run.cache(), **cfg.backend.for_backend(spec))

    models = LazyModels({role: spec for role, spec in to_dict(recipe.models).items() if role in MODEL_ROLES}, load)
    # Offered to steps whose constructors ask for them: the run's shared index (dedup state
    # that later rounds and the novelty gate see) and one embedder for every step.
    context = run_context(run.path, recipe, source.round_index)
    config = {**to_dict(cfg), "resolved_recipe": to_dict(recipe), "source": source.source}
    try:
        run.write_manifest(command="curate", config=config, models={}, seeds={})
        result = run_recipe(
            recipe, source.examples, stage_dir, models, shard_size=cfg.shard_size, progress=cfg.progress, context=context
        )
        run.write_manifest(command="curate", config=config, models=models.describe(), seeds={})
    finally:
        models.close()
        if context.get("index") is not None:
            context["index"].close()
        run.close()
    print_yield_table(result.stats)
    from rich.markup import escape

    console = _console()
    console.print(f"kept: {escape(str(stage_dir / 'shards'))}")
    console.print(f"excluded, with reasons: {escape(str(stage_dir / 'excluded'))}")
    return 0


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def print_yield_table(stats: dict[str, Any]) -> None:
    """The yield table: what each step and selection removed, and why."""
    from rich.markup import escape
    from rich.table import Table

    from syllabus.curate.recipe import yield_rows

    table = Table(title=f"curation yield ({escape(str(stats.get('recipe', '')))})")
    for name, justify in (("step / reason", "left"), ("in", "right"), ("out", "right"), ("removed", "right"),
                          ("removed %", "right"), ("% of input", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in yield_rows(stats):
        if row["reason"] is None:
            table.add_row(f"[bold]{escape(row['step'])}[/bold]", str(row["in"]), str(row["out"]), str(row["removed"]),
                          _pct(row["removed_share"]), _pct(row["of_input"]))
        else:
            table.add_row(f"  {escape(row['reason'])}", "", "", str(row["removed"]), _pct(row["removed_share"]), _pct(row["of_input"]))
    console = _console()
    console.print(table)
    console.print(f"kept {stats['output']} of {stats['input']} ({_pct(stats.get('kept_share', 0.0))}), {stats['excluded']} excluded")


# -- explain ----------------------------------------------------------------------------------


def _find(stage_dir: Path, wanted: str) -> tuple[Any, str]:
    """The example with id ``wanted`` (or the one whose id starts with it), and where it is."""
    from syllabus.jsonl import read_jsonl

    exact, prefixed = [], []
    for kind in ("shards", "excluded"):
        for path in sorted((stage_dir / kind).glob("*.jsonl")):
            for example in read_jsonl(path):
                if example.id == wanted:
                    exact.append((example, kind))
                elif example.id.startswith(wanted):
                    prefixed.append((example, kind))
    if exact:
        return exact[0]
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        ids = ", ".join(sorted({e.id for e, _ in prefixed})[:5])
        raise ConfigError(f"id prefix {wanted!r} matches {len(prefixed)} examples ({ids}, ...); give more of the id")
    raise ConfigError(f"no example with id {wanted!r} in {stage_dir} (kept or excluded)")


def explain(stage_dir: Path, wanted: str) -> dict[str, Any]:
    """Everything the curation knows about one example: scores, meta, the path through the
    steps (passed / dropped here / not reached) and its place in each global selection."""
    example, kind = _find(stage_dir, wanted)
    stats = json.loads((stage_dir / "stats.json").read_text())
    dropped_at = example.meta.get("excluded.step") if kind == "excluded" else None
    path: list[dict[str, Any]] = []
    reached = True
    for row in stats["steps"]:
        name = row["step"]
        if not reached:
            verdict = "not reached"
        elif name == dropped_at:
            verdict, reached = f"dropped: {example.meta.get('excluded.reason')}", False
        else:
            verdict = "passed"
        entry = {"step": name, "kind": row.get("kind", "step"), "verdict": verdict}
        if f"select.{name}" in example.meta:
            entry["selection"] = example.meta[f"select.{name}"]
        path.append(entry)
    meta = {k: v for k, v in example.meta.items() if not k.startswith(("select.", "excluded."))}
    return {
        "id": example.id,
        "decision": "kept" if kind == "shards" else f"dropped by {dropped_at}: {example.meta.get('excluded.reason')}",
        "prompt": example.prompt,
        "completion": example.completion,
        "scores": dict(sorted(example.scores.items())),
        "meta": meta,
        "path": path,
    }


def _short(value: Any, width: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_curate_explain(cfg: CurateExplainConfig) -> int:
    from rich.markup import escape
    from rich.table import Table

    info = explain(_stage_dir(cfg.out), cfg.id)
    console = _console()
    console.print(f"[bold]{escape(info['id'])}[/bold]: {escape(info['decision'])}")
    console.print(f"prompt: {escape(_short(info['prompt']))}")
    console.print(f"completion: {escape(_short(info['completion'] or ''))}")
    steps = Table("step", "kind", "decision", "selection detail", title="path through the recipe")
    for entry in info["path"]:
        detail = ", ".join(f"{k}={v}" for k, v in entry.get("selection", {}).items())
        steps.add_row(escape(entry["step"]), entry["kind"], escape(entry["verdict"]), escape(detail))
    console.print(steps)
    if info["scores"]:
        scores = Table("score", "value", title="scores")
        for key, value in info["scores"].items():
            scores.add_row(escape(key), f"{value:.4g}")
        console.print(scores)
    if info["meta"]:
        meta = Table("meta", "value", title="meta")
        for key, value in info["meta"].items():
            meta.add_row(escape(key), escape(_short(value, 120)))
        console.print(meta)
    return 0


# -- fit-rule ---------------------------------------------------------------------------------


def cmd_curate_fit_rule(cfg: CurateFitRuleConfig) -> int:
    from rich.markup import escape
    from rich.table import Table

    from syllabus.curate.rule import fit_rule, load_results

    if not cfg.results:
        raise ConfigError("curate fit-rule needs --results FILE (JSONL or CSV rows: mean indicator scores and 'loss')")
    rows = load_results(cfg.results)
    rule = fit_rule(rows, cfg.indicators or None, target=cfg.target, source=f"fitted on {cfg.results}")
    out = Path(cfg.out) if cfg.out else Path(cfg.results).with_suffix(".rule.json")
    rule.save(out)
    fit = rule.fit or {}
    table = Table("term", "coefficient", "std. error", "p", "standardised", title=f"{escape(rule.target)} ~ indicators")

    def num(value: Any) -> str:
        return "" if value is None else f"{value:.4g}"

    table.add_row("intercept", num(rule.intercept), num(fit.get("std_errors", {}).get("intercept")),
                  num(fit.get("p_values", {}).get("intercept")), "")
    for name, coef in rule.coefficients.items():
        table.add_row(escape(name), num(coef), num(fit.get("std_errors", {}).get(name)),
                      num(fit.get("p_values", {}).get(name)), num(fit.get("standardized", {}).get(name)))
    console = _console()
    console.print(table)
    console.print(
        f"n={fit.get('n')} subsets  R²={num(fit.get('r2'))}  adjusted R²={num(fit.get('adj_r2'))}  "
        f"leave-one-out R²={num(fit.get('loo_r2'))}"
    )
    console.print(f"rule -> {escape(str(out))} (use it with {{use: instructmining-rule, rule: {escape(str(out))}}})")
    return 0
