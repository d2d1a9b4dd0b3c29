"""``generate``, ``show-prompt`` and ``chat``: talking to one model."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from syllabus.cli.options import BackendOptions, ExecutorOptions, SamplingOptions, console as _console, load_inputs
from syllabus.config import positional, to_dict, to_yaml

__all__ = ["ChatConfig", "GenerateConfig", "ShowPromptConfig", "cmd_chat", "cmd_generate", "cmd_show_prompt"]


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

    model: str = positional("model spec, e.g. builtin:smollm2-135m-instruct")
    system: str | None = field(default=None, metadata={"help": "system prompt"})
    sampling: SamplingOptions = field(default_factory=lambda: SamplingOptions(max_tokens=200))
    backend: BackendOptions = field(default_factory=BackendOptions)


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


def cmd_chat(cfg: ChatConfig) -> int:
    from syllabus.llm import GenerateRequest, load_llm

    console = _console()
    llm = load_llm(cfg.model, **cfg.backend.for_backend(cfg.model))
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
