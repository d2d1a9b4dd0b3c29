"""Parsers for teacher output: the second half of every prompt/parser pair.

Small models answer loosely: numbered lists with stray preambles, JSON wrapped in code
fences, labelled fields in any case. These helpers accept the common shapes and raise
:class:`ParseError` (with a short, fixed reason) for the rest. The step that calls them
keeps the raw text and the reason on the record; a parse failure never crashes a run.

>>> numbered_items("Here you go:\\n1. Sort a list.\\n2) Name a colour.\\n")
['Sort a list.', 'Name a colour.']
>>> labelled_fields("Instruction: Add 2 and 3.\\nInput: \\nOutput: 5", ["instruction", "input", "output"])
{'instruction': 'Add 2 and 3.', 'input': '', 'output': '5'}
>>> extract_json('Sure! ```json\\n{"a": 1}\\n```')
{'a': 1}
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "ParseError",
    "extract_json",
    "labelled_fields",
    "numbered_items",
    "split_on_label",
]


class ParseError(ValueError):
    """Teacher output that does not have the expected shape.

    ``reason`` is a short fixed phrase (it is counted in stats, so no variable parts);
    ``detail`` may say more.
    """

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


_ITEM = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:(?:task|question|instruction|q)\s*)?(\d{1,3})\s*[.):\]]\s*(.*)$",
    re.IGNORECASE,
)


def numbered_items(text: str, *, min_items: int = 1) -> list[str]:
    """The items of a numbered list (``1.``, ``2)``, ``Task 3:``); continuation lines join their item.

    Text before the first number (a preamble like "Sure, here are...") is ignored.
    """
    items: list[list[str]] = []
    for line in text.splitlines():
        m = _ITEM.match(line)
        if m:
            items.append([m.group(2).strip()])
        elif items and line.strip():
            items[-1].append(line.strip())
    out = [" ".join(parts).strip() for parts in items]
    out = [item for item in out if item]
    if len(out) < min_items:
        raise ParseError("no numbered list", text[:80])
    return out


def _label_pattern(labels: list[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    return re.compile(
        rf"^\s*(?:\*\*|#+\s*)?({alternatives})\s*(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*",
        re.IGNORECASE | re.MULTILINE,
    )


def labelled_fields(text: str, labels: list[str], *, required: list[str] | None = None) -> dict[str, str]:
    """``Label: value`` blocks; a value runs until the next known label. Labels match case-insensitively.

    Missing labels are absent from the result; a missing ``required`` label is a ParseError.
    When a label repeats, the first occurrence wins (small models often loop).
    """
    pattern = _label_pattern(labels)
    matches = list(pattern.finditer(text))
    found: dict[str, str] = {}
    for i, m in enumerate(matches):
        key = m.group(1).lower()
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        if key not in found:
            found[key] = text[m.end() : end].strip()
    canonical = {label.lower(): label for label in labels}
    result = {canonical[k]: v for k, v in found.items()}
    for label in required if required is not None else labels:
        if label not in result:
            raise ParseError(f"missing {label}", text[:80])
    return result


def split_on_label(text: str, label: str) -> list[str]:
    """Blocks that each start with ``label`` (e.g. several ``Example:`` blocks)."""
    pattern = re.compile(
        rf"^\s*(?:\*\*)?{re.escape(label)}\s*\d*\s*(?:\*\*)?\s*[:：]",
        re.IGNORECASE | re.MULTILINE,
    )
    starts = [m.start() for m in pattern.finditer(text)]
    if not starts:
        return []
    return [text[a:b].strip() for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> Any:
    """The first JSON object or array in ``text`` (inside a code fence or bare)."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for i, ch in enumerate(candidate):
            if ch in "{[":
                try:
                    value, _ = decoder.raw_decode(candidate, i)
                except json.JSONDecodeError:
                    continue
                return value
    raise ParseError("no JSON", text[:80])
