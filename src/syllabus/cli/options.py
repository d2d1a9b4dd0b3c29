"""Option groups shared by several commands, and input loading."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from syllabus.config import secret, to_dict
from syllabus.errors import ConfigError

__all__ = ["BackendOptions", "ExecutorOptions", "SamplingOptions", "console", "load_inputs", "merge_set_options"]


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


def console(stderr: bool = False) -> Any:
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


def merge_set_options(options: dict[str, Any], items: Sequence[str]) -> dict[str, Any]:
    """``options`` (from YAML) overlaid with ``--set KEY=VALUE`` items, values parsed as YAML (3, true, [a, b]).

    >>> merge_set_options({"a": 1}, ["b=2", "tags=[x, y]", "dash-key=on"])
    {'a': 1, 'b': 2, 'tags': ['x', 'y'], 'dash_key': True}
    """
    import yaml

    merged = dict(options)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set rounds=3")
        merged[key.strip().replace("-", "_")] = yaml.safe_load(value) if value.strip() else ""
    return merged
