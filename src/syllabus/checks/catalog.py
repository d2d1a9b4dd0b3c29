"""The catalogue of checks: ``list_checks()`` for ``syllabus ls checks``, and the docs table.

``docs/checks.md`` carries a generated table between two marker comments; regenerate it
after adding or changing a check with::

    python -m syllabus.checks docs/checks.md
"""

from __future__ import annotations

import inspect
import random
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from syllabus.checks.base import CHECKS, Check, SampleContext, parameter_types, type_name
from syllabus.checks.conflicts import EXCLUSIVE, conflicting_names

__all__ = ["EXAMPLE_CONTEXT", "list_checks", "render_table", "update_doc"]

#: The context the examples are drawn with (seed 0), so the listing is the same every time.
EXAMPLE_CONTEXT = SampleContext(prompt="Describe your favourite season.", keywords=("season", "weather"))
BEGIN = "<!-- begin generated: python -m syllabus.checks docs/checks.md -->"
END = "<!-- end generated -->"


def _summary(cls: type[Check]) -> str:
    doc = inspect.getdoc(cls) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _parameters(cls: type[Check]) -> list[dict[str, Any]]:
    hints = parameter_types(cls)
    out = []
    for f in fields(cls):
        entry: dict[str, Any] = {"name": f.name, "type": type_name(hints[f.name])}
        if f.default is not MISSING:
            entry["default"] = f.default
        out.append(entry)
    return out


def list_checks() -> list[dict[str, Any]]:
    """One dict per registered check: name, kind, summary, parameters, example, params of
    the example, and the names it conflicts with.

    >>> rows = list_checks()
    >>> next(r for r in rows if r["name"] == "length.words")["parameters"][0]
    {'name': 'relation', 'type': "'at least' | 'at most' | 'exactly'"}
    """
    rows = []
    for name in CHECKS.names():
        cls = CHECKS.get(name)
        example = cls.sample(random.Random(0), EXAMPLE_CONTEXT)
        rows.append(
            {
                "name": name,
                "kind": name.split(".")[0],
                "summary": _summary(cls),
                "parameters": _parameters(cls),
                "example": example.describe(),
                "example_params": example.params,
                "conflicts": conflicting_names(name),
                "exclusive": name in EXCLUSIVE,
            }
        )
    return rows


def _cell(text: str) -> str:
    # Escape what markdown would eat: emphasis asterisks, underscores, angle brackets,
    # backticks and the table's own pipes.
    for char in "\\`*_<>|":
        text = text.replace(char, "\\" + char)
    return text.replace("\n", " ")


def render_table() -> str:
    """The markdown table of every check (what sits between the markers in docs/checks.md)."""
    lines = [
        "| name | parameters | example instruction | cannot be combined with |",
        "|---|---|---|---|",
    ]
    for row in list_checks():
        params = "<br>".join(
            f"`{p['name']}`: {_cell(p['type'])}" + (f" = {_cell(repr(p['default']))}" if "default" in p else "")
            for p in row["parameters"]
        )
        if row["exclusive"]:
            allowed = sorted(EXCLUSIVE[row["name"]])
            conflicts = "everything except " + ", ".join(f"`{n}`" for n in allowed)
        else:
            conflicts = ", ".join(f"`{n}`" for n in row["conflicts"])
        lines.append(f"| `{row['name']}` | {params or '—'} | {_cell(row['example'])} | {conflicts or '—'} |")
    return "\n".join(lines)


def update_doc(path: str | Path) -> bool:
    """Rewrite the generated part of ``path``; return whether it changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + render_table() + "\n" + text[end:]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def generated_part(path: str | Path) -> str:
    """The table currently between the markers of ``path``."""
    text = Path(path).read_text(encoding="utf-8")
    return text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()
