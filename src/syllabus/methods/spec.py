"""Method specs: ``i3c+self-consistency:k=8,temperature=0.7`` as text, and building them.

Grammar::

    chain      := component ("+" component)*
    component  := name [":" option ("," option)*]
    option     := key "=" value          (value read as YAML: 8, 0.7, true, text)

The **leftmost component is the outermost wrapper**: ``i3c+self-consistency:k=8`` is
``I3C(SelfConsistency(model, k=8))``. I³C rewrites the prompt, then self-consistency
samples eight answers to the rewritten prompt and votes. Options belong to the component
they follow; ``direct`` (or an empty spec) is the model itself.

>>> parse_method_spec("i3c+self-consistency:k=8,vote=weighted")
[('i3c', {}), ('self-consistency', {'k': 8, 'vote': 'weighted'})]
"""

from __future__ import annotations

from typing import Any

import yaml

from syllabus.errors import ConfigError
from syllabus.llm.base import LLM

__all__ = ["build_method", "parse_method_spec"]


def parse_method_spec(spec: str) -> list[tuple[str, dict[str, Any]]]:
    """The components of a chain, outermost first, each ``(name, options)``."""
    out: list[tuple[str, dict[str, Any]]] = []
    for part in spec.split("+"):
        part = part.strip()
        if not part:
            raise ConfigError(f"--method {spec!r}: empty component; write NAME[:key=value,...] joined by '+'")
        name, _, rest = part.partition(":")
        options: dict[str, Any] = {}
        for item in filter(None, (s.strip() for s in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise ConfigError(f"--method {spec!r}: option {item!r} is not key=value (e.g. self-consistency:k=8)")
            options[key.strip()] = _value(value.strip())
        out.append((name.strip(), options))
    return out


def _value(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text


def build_method(spec: str | None, llm: LLM, **objects: Any) -> LLM:
    """Wrap ``llm`` in the chain ``spec`` (``None``, ``""`` or ``"direct"``: ``llm`` itself).

    ``objects`` are Python objects a method may take that a spec cannot spell (an
    ``embedder`` for I³C, a ``judge`` LLM); each goes to the methods that accept it.
    """
    from syllabus.methods import METHODS

    if not spec or spec.strip() == "direct":
        return llm
    components = parse_method_spec(spec)
    for name, _ in components:
        METHODS.get(name)  # fail on a bad name before building anything
    out = llm
    for name, options in reversed(components):
        cls = METHODS.get(name)
        extra = {k: v for k, v in objects.items() if k in getattr(cls, "accepts", ())}
        out = cls(out, **extra, **options)
    return out
