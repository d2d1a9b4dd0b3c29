"""``generate``, ``show-prompt`` and ``chat``: talking to one model."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Any

from syllabus.cli.options import BackendOptions, ExecutorOptions, SamplingOptions, load_inputs, merge_set_options
from syllabus.cli.options import console as _console
from syllabus.config import positional, to_dict, to_yaml

__all__ = [
    "ChatConfig",
    "GenerateConfig",
    "ShowPromptConfig",
    "cmd_chat",
    "cmd_generate",
    "cmd_show_prompt",
]


@dataclass
class TeacherSamplingOptions(SamplingOptions):
    temperature: float | None = field(  # type: ignore[assignment]
        default=None,
        metadata={
            "help": "0 is greedy (default: the generator's own, 0.7 for most, 0 for responses)"
        },
    )


@dataclass
class GenerateConfig:
    """Write instruction data with teacher models (``--generator``), or answer prompts (the default)."""

    generator: str = field(
        default="responses",
        metadata={"help": "which generator (see `syllabus ls generators`)"},
    )
    teacher: list[str] = field(
        default_factory=lambda: ["builtin:smollm2-135m-instruct"],
        metadata={"help": "teacher model spec(s); several for ensembles"},
    )
    prompts: str | None = field(
        default=None,
        metadata={
            "help": "inputs (prompts, seed tasks or documents): JSONL/Parquet or .txt"
        },
    )
    prompt: list[str] = field(
        default_factory=list, metadata={"help": "inputs given inline"}
    )
    format: str = field(
        default="auto",
        metadata={
            "help": "input format: auto, syllabus, messages, alpaca, sharegpt, prompt-completion"
        },
    )
    n: int | None = field(
        default=None,
        metadata={
            "help": "records to keep (default: one per input for responses, else 100)"
        },
    )
    set: list[str] = field(
        default_factory=list,
        metadata={
            "help": "generator options as KEY=VALUE (see `syllabus ls generators`)"
        },
    )
    options: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "generator options (YAML)"}
    )
    dry_run: bool = field(
        default=False,
        metadata={
            "help": "print the first prompts and the planned calls and tokens; call nothing"
        },
    )
    max_rounds: int = field(
        default=8, metadata={"help": "rounds a generator may run to reach --n"}
    )
    out: str = field(
        default="runs/generate", metadata={"help": "run directory (rerun to resume)"}
    )
    shard_size: int = field(
        default=64, metadata={"help": "records per shard (unit of resumption)"}
    )
    show: int = field(default=5, metadata={"help": "records to print at the end"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})
    sampling: TeacherSamplingOptions = field(default_factory=TeacherSamplingOptions)
    backend: BackendOptions = field(default_factory=BackendOptions)
    executor: ExecutorOptions = field(default_factory=ExecutorOptions)

    def generator_options(self) -> dict[str, Any]:
        """``options`` (YAML) overlaid with ``--set KEY=VALUE``."""
        return merge_set_options(self.options, self.set)


@dataclass
class ShowPromptConfig:
    """Render prompts exactly as a model would see them, without calling it."""

    model: str = field(
        default="builtin:smollm2-135m-instruct",
        metadata={"help": "model spec (its chat template is used)"},
    )
    prompts: str | None = field(default=None, metadata={"help": "input file"})
    prompt: list[str] = field(
        default_factory=list, metadata={"help": "prompts given inline"}
    )
    format: str = field(default="auto", metadata={"help": "input format"})
    system: str | None = field(default=None, metadata={"help": "system prompt"})
    limit: int = field(default=3, metadata={"help": "prompts to show"})
    backend: BackendOptions = field(default_factory=BackendOptions)


@dataclass
class ChatConfig:
    """Talk to a model interactively (/reset clears the conversation, /exit leaves)."""

    model: str = positional("model spec, e.g. builtin:smollm2-135m-instruct")
    system: str | None = field(default=None, metadata={"help": "system prompt"})
    sampling: SamplingOptions = field(
        default_factory=lambda: SamplingOptions(max_tokens=200)
    )
    backend: BackendOptions = field(default_factory=BackendOptions)


def cmd_generate(cfg: GenerateConfig) -> int:
    from syllabus.generators import GenerationRun, GenerationSettings, get_generator
    from syllabus.llm import load_llm
    from syllabus.run import RunDir

    generator = get_generator(
        cfg.generator, cfg.generator_options(), source="--set/options"
    )
    inputs = (
        load_inputs(cfg.prompts, cfg.prompt, cfg.format)
        if (cfg.prompts or cfg.prompt)
        else []
    )
    temperature = (
        cfg.sampling.temperature
        if cfg.sampling.temperature is not None
        else generator.default_temperature
    )
    params = replace(cfg.sampling, temperature=temperature).params()
    settings = GenerationSettings(
        n=cfg.n if cfg.n is not None else generator.default_n(inputs),
        params=params,
        seed=params.seed,
        batch_size=cfg.backend.batch_size or 16,
        shard_size=cfg.shard_size,
        max_rounds=cfg.max_rounds,
        progress=cfg.progress and not cfg.dry_run,
        executor=cfg.executor.build(),
    )
    options = [cfg.backend.for_backend(spec) for spec in cfg.teacher]
    if cfg.dry_run:
        teachers = [
            load_llm(spec, **opts)
            for spec, opts in zip(cfg.teacher, options, strict=True)
        ]
        try:
            plan = GenerationRun(
                generator, teachers, settings, cfg.out, inputs
            ).dry_run()
            _print_plan(plan, teachers[0], settings)
        finally:
            for t in teachers:
                t.close()
        return 0
    run = RunDir(cfg.out)
    stage_dir = run.stage(0, 1, "generate")
    teachers = []
    try:
        teachers = [
            load_llm(spec, cache=run.cache(), **opts)
            for spec, opts in zip(cfg.teacher, options, strict=True)
        ]
        run.write_manifest(
            command="generate",
            config=to_dict(cfg),
            models={f"teacher{i}": t.describe() for i, t in enumerate(teachers)},
            seeds={"sampling": params.seed, "generator": settings.seed},
        )
        stage_dir.mkdir(parents=True, exist_ok=True)
        (stage_dir / "config.yaml").write_text(to_yaml(cfg))
        result = GenerationRun(
            generator, teachers, settings, stage_dir, inputs
        ).execute()
    finally:
        for t in teachers:
            t.close()
        run.close()
    _print_generation(result, cfg.show)
    return 0


def _print_plan(plan: Any, teacher: Any, settings: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    for i, prompt in enumerate(plan.prompts):
        console.rule(f"prompt {i + 1} ({escape(teacher.model_id)})")
        if isinstance(prompt, str):
            console.out(prompt, highlight=False)
        elif teacher.capabilities.chat_template:
            console.out(
                teacher.apply_chat_template(prompt, add_generation_prompt=True),
                highlight=False,
            )
        else:
            for m in prompt:
                console.out(f"{m['role']}: {m['content']}", highlight=False)
    table = Table(
        "phase",
        "calls",
        "≈prompt tokens",
        "≤completion tokens",
        title=f"planned for n={settings.n}",
    )
    for p in plan.phases:
        table.add_row(
            escape(p.name),
            str(p.calls),
            f"{p.prompt_tokens:,}",
            f"{p.max_completion_tokens:,}",
        )
    table.add_row(
        "total",
        str(plan.calls),
        f"{sum(p.prompt_tokens for p in plan.phases):,}",
        f"{sum(p.max_completion_tokens for p in plan.phases):,}",
    )
    console.print(table)
    for note in plan.notes:
        console.print(f"note: {escape(note)}")


def _print_generation(result: Any, show: int) -> None:
    import json

    from rich.markup import escape
    from rich.table import Table

    console = _console()
    if show > 0:
        table = Table(show_lines=True)
        table.add_column("prompt", overflow="fold", max_width=50)
        table.add_column("completion", overflow="fold")
        for i, ex in enumerate(result.examples()):
            if i >= show:
                break
            table.add_row(escape(ex.prompt), escape(ex.completion or ""))
        console.print(table)
    report = json.loads((result.out_dir / "generation.json").read_text())
    yields = Table(
        "phase", "step", "in", "out", "dropped", "why", title="yield per step"
    )
    for phase in report["phases"]:
        for step in phase["steps"]:
            why = ", ".join(f"{escape(k)} {v}" for k, v in step["reasons"].items())
            yields.add_row(
                escape(phase["phase"]),
                escape(step["step"]),
                str(step["in"]),
                str(step["out"]),
                f"{step['dropped']} ({100 * step['dropped_share']:.0f}%)",
                why,
            )
    if report["phases"]:
        console.print(yields)
    rate = report["completion_tokens_per_second"]
    resumed = f", {result.skipped} shards already done" if result.skipped else ""
    console.print(
        f"kept {report['kept']} of {report['target']}; {report['requests']} teacher requests "
        f"({report['cached_requests']} from cache), {report['completion_tokens']:,} completion tokens"
        f"{f' at {rate} tok/s' if rate else ''}{resumed} -> {escape(str(result.out_dir / 'shards'))}"
    )
    for note in report["notes"]:
        console.print(f"note: {escape(note)}")


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
            sys.stdout.write(
                llm.apply_chat_template(messages, add_generation_prompt=True) + "\n"
            )
    finally:
        llm.close()
    return 0


def cmd_chat(cfg: ChatConfig) -> int:
    from syllabus.llm import GenerateRequest, load_llm

    console = _console()
    llm = load_llm(cfg.model, **cfg.backend.for_backend(cfg.model))
    history: list[dict[str, str]] = (
        [{"role": "system", "content": cfg.system}] if cfg.system else []
    )
    console.print(
        f"chatting with {llm.model_id}; /reset clears, /exit or Ctrl-D leaves"
    )
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
            reply = llm.generate(
                [GenerateRequest(messages=tuple(history), params=params)]
            )[0].text
            history.append({"role": "assistant", "content": reply})
            console.print(f"[bold]{llm.model_id}>[/bold] ", end="")
            console.out(reply, highlight=False)
    finally:
        llm.close()
    return 0
