"""Typed dataclass configs are the CLI: flags are generated from them, YAML is their file form.

Precedence is defaults < ``--config FILE.yaml`` < flags given on the command line. Unknown
YAML keys are errors that name the file and the closest known key. Fields marked
``secret`` (API keys) are never serialised.

A config::

    @dataclass
    class Sampling:
        temperature: float = field(default=0.0, metadata={"help": "0 means greedy"})

    @dataclass
    class MyConfig:
        model: str = "fake:echo"
        sampling: Sampling = field(default_factory=Sampling)

    parser = argparse.ArgumentParser()
    add_arguments(parser, MyConfig)          # --model, --sampling.temperature, --config
    cfg = resolve(MyConfig, parser.parse_args(["--sampling.temperature", "0.7"]))
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from syllabus.errors import ConfigError, did_you_mean

__all__ = ["add_arguments", "from_dict", "load_yaml", "positional", "resolve", "secret", "to_dict", "to_yaml"]

C = TypeVar("C")


def secret(help: str, default: Any = None) -> Any:
    """A field that is never written to YAML, manifests or logs."""
    return dataclasses.field(default=default, metadata={"help": help, "secret": True}, repr=False)


def positional(help: str, default: Any = dataclasses.MISSING, default_factory: Any = dataclasses.MISSING) -> Any:
    """A field given as a positional command-line argument (``syllabus chat MODEL``)."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"help": help, "positional": True})


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _fields(cls: type) -> list[tuple[dataclasses.Field[Any], Any]]:
    hints = _hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls) if f.init]


def add_arguments(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    """Add one flag per (nested) field; defaults are suppressed so YAML values survive."""
    if not prefix:
        parser.add_argument("--config", metavar="FILE.yaml", default=argparse.SUPPRESS, help="read options from a YAML file (flags override it)")
    for f, tp in _fields(cls):
        dest = f"{prefix}{f.name}"
        # "aliases" in a field's metadata adds other spellings (``--in`` for ``input``).
        flags = ["--" + dest.replace("_", "-"), *f.metadata.get("aliases", ())]
        help_text = f.metadata.get("help", "")
        inner, optional = _unwrap_optional(tp)
        if dataclasses.is_dataclass(inner):
            add_arguments(parser, inner, prefix=f"{dest}.")  # type: ignore[arg-type]
            continue
        if f.metadata.get("positional"):
            # Positional arguments are required on the command line, so they are always given.
            many = typing.get_origin(inner) in (list, tuple)
            parser.add_argument(dest, metavar=f.name.upper(), nargs="+" if many else None, help=help_text)
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None  # type: ignore[misc]
        )
        shown = "" if f.metadata.get("secret") else f" (default: {default!r})"
        kwargs: dict[str, Any] = {"dest": dest, "default": argparse.SUPPRESS, "help": help_text + shown}
        origin = typing.get_origin(inner)
        if origin is dict:
            continue  # mappings are set from YAML only; a flag cannot spell them well
        if inner is bool:
            parser.add_argument(*flags, action=argparse.BooleanOptionalAction, **kwargs)
        elif origin in (list, tuple):
            (item,) = typing.get_args(inner)[:1]
            # extend: ``--set a=1 --set b=2`` means the same as ``--set a=1 b=2``.
            parser.add_argument(*flags, nargs="*", type=item, action="extend", metavar=f.name.upper(), **kwargs)
        elif typing.get_origin(inner) is typing.Literal:
            choices = typing.get_args(inner)
            parser.add_argument(*flags, choices=choices, type=type(choices[0]), **kwargs)
        else:
            parser.add_argument(*flags, type=inner, metavar=f.name.upper() if not optional else f"{f.name.upper()}", **kwargs)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def from_dict(cls: type[C], data: dict[str, Any], *, source: str = "config") -> C:
    """Build a dataclass from a plain dict; unknown keys and wrong types are errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of options, got {type(data).__name__}")
    fields = {f.name: (f, tp) for f, tp in _fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = unknown[0]
        raise ConfigError(f"{source}: unknown option {key!r}.{did_you_mean(key, fields)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        _, tp = fields[key]
        inner, optional = _unwrap_optional(tp)
        if value is None and optional:
            kwargs[key] = None
        elif dataclasses.is_dataclass(inner):
            kwargs[key] = from_dict(inner, value or {}, source=f"{source}: {key}")  # type: ignore[arg-type]
        else:
            kwargs[key] = _coerce(value, inner, f"{source}: {key}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{source}: {e}") from None


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)[:1]
        return [_coerce(v, item, where) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, typing.get_args(tp)))}")
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def to_dict(obj: Any, *, include_secrets: bool = False) -> dict[str, Any]:
    """The plain-dict form of a config, secrets left out."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if f.metadata.get("secret") and not include_secrets:
            continue
        value = getattr(obj, f.name)
        out[f.name] = to_dict(value, include_secrets=include_secrets) if dataclasses.is_dataclass(value) else value
    return out


def to_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False, allow_unicode=True)


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"--config {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of options at the top level")
    return data


def resolve(cls: type[C], args: argparse.Namespace) -> C:
    """Defaults, then the YAML file, then the flags that were given."""
    given = dict(vars(args))
    data: dict[str, Any] = {}
    source = "command line"
    if "config" in given:
        source = str(given.pop("config"))
        data = load_yaml(source)
    for dotted, value in given.items():
        if dotted.startswith("_"):
            continue
        _set_dotted(data, dotted, value)
    return from_dict(cls, data, source=source)
