"""Prompt templates: named, hashed, rendered to chat messages.

A generator's prompt builder and its parser come in pairs (DESIGN principle 8); the
template is the builder half. Its ``hash`` covers the template text, so every record can
say which version of which prompt produced it, and a changed prompt never hides behind
an old cache entry (the rendered messages are part of the request key anyway).

>>> t = PromptTemplate("rewrite", user="Rewrite this more formally:\\n{text}")
>>> t.render(text="gimme the file")
[{'role': 'user', 'content': 'Rewrite this more formally:\\ngimme the file'}]
>>> len(t.hash)
12
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from syllabus.errors import ConfigError
from syllabus.record import Message, content_hash

__all__ = ["PromptTemplate"]


@dataclass(frozen=True)
class PromptTemplate:
    """A user prompt (and optional system prompt) with ``{field}`` slots.

    Literal braces are written doubled (``{{`` and ``}}``), as in :meth:`str.format`.
    """

    name: str
    user: str
    system: str | None = None
    fields: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        names = {f for text in (self.user, self.system or "") for _, f, _, _ in string.Formatter().parse(text) if f}
        object.__setattr__(self, "fields", frozenset(names))

    @property
    def hash(self) -> str:
        return content_hash({"name": self.name, "user": self.user, "system": self.system}, length=12)

    def render(self, **values: object) -> list[Message]:
        missing = self.fields - set(values)
        if missing:
            raise ConfigError(f"prompt template {self.name!r} needs {', '.join(sorted(missing))}")
        messages: list[Message] = []
        if self.system:
            messages.append({"role": "system", "content": self.system.format(**values)})
        messages.append({"role": "user", "content": self.user.format(**values)})
        return messages
