"""``Example``: the one record every stage reads and writes.

An ``Example`` is JSON-native and is one line of JSONL. Steps never add top-level
fields; they write under namespaced keys in ``scores`` and ``meta`` (``judge.helpfulness``,
``generate.skill``) so two steps cannot collide, and they record where a record came from
in ``provenance``.

>>> ex = Example.from_prompt("Name a prime number.", reference="2")
>>> ex.set_score("check", "nonempty", 1.0).scores
{'check.nonempty': 1.0}
>>> Example.from_dict(ex.to_dict()) == ex
True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from syllabus.errors import DataError

__all__ = ["Example", "Message", "content_hash", "validate_messages"]

Message = dict[str, str]
ROLES = ("system", "user", "assistant", "tool")


def content_hash(obj: Any, length: int = 16) -> str:
    """A stable short hash of any JSON-serialisable value (key order does not matter)."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def validate_messages(messages: Any) -> list[Message]:
    """Check that ``messages`` is a list of ``{"role", "content"}`` dicts and return it."""
    if not isinstance(messages, list):
        raise DataError(f"'messages' must be a list of {{role, content}} objects, got {type(messages).__name__}")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or m.get("role") not in ROLES:
            raise DataError(
                f"messages[{i}] must look like {{'role': one of {'/'.join(ROLES)}, 'content': str}}, got {m!r}"
            )
    return messages


def _namespaced(namespace: str, name: str) -> str:
    if not namespace or "." in namespace:
        raise ValueError(f"namespace must be a non-empty name without dots, got {namespace!r}")
    return f"{namespace}.{name}"


@dataclass
class Example:
    """One instruction-data record.

    Attributes:
        id: stable identifier (a content hash of the prompt unless given).
        messages: the prompt side in chat form, ``[{"role": "user", "content": ...}]``.
        completion: the response, if any.
        reference: the gold answer, if any.
        scores: numbers under ``namespace.name`` keys.
        meta: anything else under ``namespace.key`` keys; ``skill``, ``difficulty``,
            ``tags``, ``split`` and ``source`` are shared un-namespaced keys.
        provenance: parent ids, step and version, model id, prompt hash, cache key.
    """

    id: str
    messages: list[Message]
    completion: str | None = None
    reference: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_prompt(cls, prompt: str, *, system: str | None = None, id: str | None = None, **kwargs: Any) -> Example:
        """Build a single-turn example from a user prompt."""
        messages: list[Message] = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        return cls(id=id or content_hash(messages), messages=messages, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Example:
        """Parse the JSON form; unknown top-level keys are an error, not silently dropped."""
        if not isinstance(data, dict):
            raise DataError(f"an Example must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DataError(
                f"unknown Example field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}. "
                "Put extra data under 'meta', or convert with syllabus.formats."
            )
        if "messages" not in data:
            raise DataError("an Example needs 'messages' (the prompt side in chat form)")
        messages = validate_messages(data["messages"])
        # Check types here so a bad line is reported as a DataError with its file:line,
        # not as a TypeError from dict() or a wrong type that surfaces stages later.
        for key in ("completion", "reference"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise DataError(f"'{key}' must be a string or null, got {type(data[key]).__name__}")
        for key in ("scores", "meta", "provenance"):
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise DataError(f"'{key}' must be a JSON object, got {type(data[key]).__name__}")
        return cls(
            id=str(data.get("id") or content_hash(messages)),
            messages=messages,
            completion=data.get("completion"),
            reference=data.get("reference"),
            scores=dict(data.get("scores") or {}),
            meta=dict(data.get("meta") or {}),
            provenance=dict(data.get("provenance") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        """One JSONL line (no trailing newline)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    # -- views ------------------------------------------------------------------------------
    @property
    def prompt(self) -> str:
        """The content of the last user message."""
        for m in reversed(self.messages):
            if m["role"] == "user":
                return m["content"]
        return ""

    @property
    def system(self) -> str | None:
        return next((m["content"] for m in self.messages if m["role"] == "system"), None)

    def conversation(self) -> list[Message]:
        """Messages plus the completion as the final assistant turn (the TRL/OpenAI form)."""
        if self.completion is None:
            return list(self.messages)
        return [*self.messages, {"role": "assistant", "content": self.completion}]

    # -- namespaced updates (return self for chaining) --------------------------------------
    def set_score(self, namespace: str, name: str, value: float) -> Example:
        self.scores[_namespaced(namespace, name)] = float(value)
        return self

    def set_meta(self, namespace: str, key: str, value: Any) -> Example:
        self.meta[_namespaced(namespace, key)] = value
        return self

    def derive(self, *, suffix: str, step: str, **changes: Any) -> Example:
        """A child record: new id ``<parent>-<suffix>``, parent id in provenance."""
        provenance = {"parents": [self.id], "step": step, **changes.pop("provenance", {})}
        return replace(
            self,
            id=f"{self.id}-{suffix}",
            # Copied, like scores and meta: editing the child's turns must not edit the parent.
            messages=[dict(m) for m in changes.pop("messages", self.messages)],
            scores=dict(changes.pop("scores", self.scores)),
            meta=dict(changes.pop("meta", self.meta)),
            provenance=provenance,
            **changes,
        )
