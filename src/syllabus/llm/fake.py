"""Fake backends: deterministic, no network, shipped in the package.

They go through the same registry and spec parsing as real backends, so
``--teacher fake:echo`` dry-runs any recipe.

- ``fake:echo`` returns the last user message (or the raw prompt), cut to ``max_tokens`` words.
- ``fake:scripted`` pops responses from a queue and records every request in ``history``.
- ``fake:function`` calls a user function ``(request) -> str``.

>>> llm = ScriptedLLM(["4", "5"])
>>> llm.chat("2+2?"), llm.chat("2+3?")
('4', '5')
>>> [r.messages[-1]["content"] for r in llm.history]
['2+2?', '2+3?']
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from syllabus.errors import BackendError, ConfigError
from syllabus.llm.base import (
    LLM,
    Capabilities,
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
)

__all__ = ["EchoLLM", "ScriptedLLM", "FunctionLLM", "load_fake"]


def _apply_stop_and_length(text: str, request: GenerateRequest) -> Generation:
    finish = "stop"
    for s in request.params.stop:
        if s and s in text:
            text = text[: text.index(s)]
    words = text.split(" ")
    if len(words) > request.params.max_tokens:
        text, finish = " ".join(words[: request.params.max_tokens]), "length"
    return Generation(text=text, finish_reason=finish, completion_tokens=min(len(words), request.params.max_tokens))


class _FakeBase(LLM):
    # Fakes score a continuation by a deterministic toy rule (shorter is likelier), enough
    # for testing code paths that need loglikelihood without a real model.
    capabilities = Capabilities(loglikelihood=True, chat_template=False, max_context=1_000_000)

    def __init__(self, model_id: str):
        super().__init__(model_id)
        self.history: list[GenerateRequest] = []
        self.calls = 0

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        self.calls += 1
        out = []
        for r in requests:
            self.history.append(r)
            g = _apply_stop_and_length(self._respond(r), r)
            g.model = self.model_id
            out.append(g)
        return out

    def _respond(self, request: GenerateRequest) -> str:  # pragma: no cover - abstract
        raise BackendError(f"{type(self).__name__} has no response rule")

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        out = []
        for r in requests:
            n = max(1, len(r.continuation.split()))
            lp = -float(len(r.continuation)) * math.log(2)
            out.append(Loglikelihood(logprob=lp, is_greedy=n == 1, n_tokens=n, n_bytes=len(r.continuation.encode())))
        return out


class EchoLLM(_FakeBase):
    """Returns the last user message (or the raw prompt)."""

    def __init__(self, spec: str = "echo", **_: Any):
        super().__init__("fake:echo")

    def _respond(self, request: GenerateRequest) -> str:
        if request.prompt is not None:
            return request.prompt
        users = [m["content"] for m in request.messages or () if m["role"] == "user"]
        return users[-1] if users else ""


class ScriptedLLM(_FakeBase):
    """Answers from a queue of responses; raises when the queue runs dry (unless ``cycle``)."""

    def __init__(self, responses: Iterable[str] = (), *, cycle: bool = False, **_: Any):
        super().__init__("fake:scripted")
        self.responses: deque[str] = deque(responses)
        self._all = list(self.responses)
        self.cycle = cycle

    def _respond(self, request: GenerateRequest) -> str:
        if not self.responses:
            if self.cycle and self._all:
                self.responses.extend(self._all)
            else:
                raise BackendError(f"ScriptedLLM ran out of responses after {len(self.history) - 1} requests")
        return self.responses.popleft()


class FunctionLLM(_FakeBase):
    """Answers with ``fn(request)``; useful for rule-based teachers in tests."""

    def __init__(self, fn: Callable[[GenerateRequest], str] | None = None, *, name: str = "function", **_: Any):
        if fn is None:
            raise ConfigError("fake:function needs a callable: FunctionLLM(fn=lambda request: ...)")
        super().__init__(f"fake:{name}")
        self.fn = fn

    def _respond(self, request: GenerateRequest) -> str:
        return self.fn(request)


def load_fake(spec: str, **options: Any) -> LLM:
    """Build a fake from its spec name: ``echo``, ``scripted`` or ``function``."""
    kinds: dict[str, type[_FakeBase]] = {"echo": EchoLLM, "scripted": ScriptedLLM, "function": FunctionLLM}
    if spec not in kinds:
        from syllabus.errors import UnknownNameError

        raise UnknownNameError("fake model", spec, kinds)
    return kinds[spec](**options)
