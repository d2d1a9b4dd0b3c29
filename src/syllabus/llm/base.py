"""The LLM interface: three verbs, lists in and lists out.

Every backend implements ``generate`` (and ``loglikelihood`` where it can) over a *batch*
of requests, so in-process engines batch natively and HTTP backends fan out internally.
``chat`` is a convenience for one conversation. Backends declare what they can do in
:class:`Capabilities` rather than stubbing methods that raise.

Writing a backend (register it in ``syllabus.llm.BACKENDS`` or via the
``syllabus.backends`` entry-point group)::

    class UpperLLM(LLM):
        def __init__(self, spec: str = "upper", **options):
            super().__init__(model_id=f"upper:{spec}")

        def generate(self, requests):
            return [Generation(text=r.render_plain().upper(), model=self.model_id) for r in requests]

    BACKENDS.register("upper", UpperLLM)
    load_llm("upper:anything").chat("hi")      # -> 'USER: HI\\nASSISTANT:'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from syllabus.errors import CapabilityError, ConfigError
from syllabus.record import Message, content_hash

__all__ = [
    "Capabilities",
    "Generation",
    "GenerateRequest",
    "LLM",
    "LoglikelihoodRequest",
    "Loglikelihood",
    "SamplingParams",
    "render_plain",
]


@dataclass(frozen=True)
class SamplingParams:
    """Decoding parameters. All of them are *semantic*: they enter the cache key.

    ``temperature == 0`` means greedy. ``seed`` together with a request's ``sample_index``
    picks one sample of a sampled generation, so k samples of one prompt are k cache
    entries and a rerun returns exactly the same k texts.
    """

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    stop: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if isinstance(self.stop, (list, str)):
            object.__setattr__(self, "stop", tuple([self.stop] if isinstance(self.stop, str) else self.stop))
        # Normalise number types: temperature=0 (from YAML or a flag) and 0.0 must give the
        # same cache key, and json writes 0 and 0.0 differently.
        for name in ("temperature", "top_p"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("max_tokens", "top_k", "seed"):
            object.__setattr__(self, name, int(getattr(self, name)))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


@dataclass(frozen=True)
class GenerateRequest:
    """One generation request: chat ``messages`` or a raw text ``prompt`` (exactly one).

    A raw ``prompt`` is sent as-is (for base models and for prompts already rendered with
    a template); ``messages`` go through the model's chat template.
    """

    messages: tuple[Message, ...] | None = None
    prompt: str | None = None
    params: SamplingParams = field(default_factory=SamplingParams)
    sample_index: int = 0

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ConfigError("a GenerateRequest needs exactly one of 'messages' or 'prompt'")
        if self.messages is not None and not isinstance(self.messages, tuple):
            object.__setattr__(self, "messages", tuple(dict(m) for m in self.messages))

    @classmethod
    def chat(cls, messages: Sequence[Message], **params: Any) -> GenerateRequest:
        sample_index = params.pop("sample_index", 0)
        return cls(messages=tuple(messages), params=SamplingParams(**params), sample_index=sample_index)

    def with_sample(self, index: int) -> GenerateRequest:
        return replace(self, sample_index=index)

    def render_plain(self) -> str:
        """A template-free rendering, for backends without a chat template."""
        return self.prompt if self.prompt is not None else render_plain(self.messages or ())

    def key_fields(self) -> dict[str, Any]:
        """Everything that determines the output (and nothing that does not)."""
        return {
            "messages": list(self.messages) if self.messages is not None else None,
            "prompt": self.prompt,
            "params": self.params.to_dict(),
            "sample_index": self.sample_index,
        }


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Score ``continuation`` given a context: a raw ``context`` string or chat ``messages``.

    With ``messages`` the context is the chat template rendered with the generation
    prompt, and the continuation is the assistant's reply.
    """

    continuation: str
    context: str | None = None
    messages: tuple[Message, ...] | None = None

    def __post_init__(self) -> None:
        if (self.context is None) == (self.messages is None):
            raise ConfigError("a LoglikelihoodRequest needs exactly one of 'context' or 'messages'")
        if self.messages is not None and not isinstance(self.messages, tuple):
            object.__setattr__(self, "messages", tuple(dict(m) for m in self.messages))

    def key_fields(self) -> dict[str, Any]:
        return {
            "context": self.context,
            "messages": list(self.messages) if self.messages is not None else None,
            "continuation": self.continuation,
        }


@dataclass
class Generation:
    """A generated text and how it ended."""

    text: str
    model: str = ""
    finish_reason: str = "stop"  # "stop" (EOS or a stop sequence) or "length"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Loglikelihood:
    """Sum of log p(continuation tokens | context) and whether greedy decoding yields it."""

    logprob: float
    is_greedy: bool
    n_tokens: int
    n_bytes: int = 0
    token_logprobs: list[float] = field(default_factory=list)
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; callers check these instead of catching NotImplementedError.

    ``logits``: the backend has ``next_token_logprobs(prefixes)``, the log-softmax of the
    next token after each token-id prefix as a ``(batch, vocab)`` float32 tensor, and a
    ``tokenizer`` and ``eos_ids`` to go with it (the hf backend; used by the token-level
    decoding methods of :mod:`syllabus.methods.logit_mix`).
    """

    generate: bool = True
    loglikelihood: bool = False
    logits: bool = False
    chat_template: bool = False
    max_context: int | None = None


class LLM(ABC):
    """Base class of every backend. Subclasses implement ``generate``; others are optional.

    ``model_id`` names the exact model (and enters the cache key); ``describe()`` adds the
    settings a report should record (dtype, quantization, device).
    """

    capabilities: Capabilities = Capabilities()

    def __init__(self, model_id: str):
        self.model_id = model_id

    @abstractmethod
    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        """Return one :class:`Generation` per request, in order."""

    @property
    def cache_id(self) -> str:
        """The identity of this model's outputs: ``model_id`` plus any setting that changes them.

        The request cache keys on it. A backend whose outputs depend on more than the model
        (dtype, a sampling seed of its own) adds those settings here; throughput settings
        (batch size, threads, concurrency) never belong in it.
        """
        return self.model_id

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        """Return one :class:`Loglikelihood` per request, in order."""
        raise CapabilityError(
            f"{self.model_id} cannot score log-likelihoods; use a backend that declares "
            "capabilities.loglikelihood (hf, llamacpp, vllm)"
        )

    def apply_chat_template(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
        """Render messages as the model sees them (``syllabus show-prompt``)."""
        text = render_plain(messages)
        return text if add_generation_prompt else text.removesuffix("\nassistant:")

    def chat(self, messages: Sequence[Message] | str, **params: Any) -> str:
        """Answer one conversation (or one user prompt) and return the text."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        return self.generate([GenerateRequest.chat(messages, **params)])[0].text

    def describe(self) -> dict[str, Any]:
        """What a report records about this model."""
        return {"model_id": self.model_id, "backend": type(self).__name__}

    def close(self) -> None:
        """Release resources (servers, GPU memory). Safe to call twice."""

    def __enter__(self) -> LLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r})"


def render_plain(messages: Sequence[Message]) -> str:
    """Render a conversation without a chat template (base models, echo backends).

    >>> render_plain([{"role": "user", "content": "2+2?"}])
    'user: 2+2?\\nassistant:'
    """
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join([*lines, "assistant:"])


def request_hash(cache_id: str, kind: str, fields: dict[str, Any]) -> str:
    """The content address of a request (used by the cache and in provenance)."""
    return content_hash({"model": cache_id, "kind": kind, **fields}, length=32)


def split_continuation(
    encode: Callable[[str, bool], list[int]], context: str, continuation: str, *, special: bool = True
) -> tuple[list[int], list[int]]:
    """Token ids of ``context`` and of ``continuation`` as the model reads them together.

    ``encode(text, special)`` tokenizes, adding the tokenizer's special tokens (BOS) when
    ``special`` is true. As in lm-evaluation-harness, the continuation is the tail of
    ``encode(context + continuation)`` beyond ``encode(context)`` when the latter is a
    prefix of the former, so a word across the boundary is scored as the model would
    tokenize it; otherwise the continuation is encoded on its own, without special tokens.

    >>> toy = lambda text, special: ([0] if special else []) + [ord(c) for c in text]
    >>> split_continuation(toy, "ab", "c")
    ([0, 97, 98], [99])
    """
    ctx = encode(context, special)
    if not continuation:
        return ctx, []
    whole = encode(context + continuation, special)
    if len(whole) > len(ctx) and whole[: len(ctx)] == ctx:
        return ctx, whole[len(ctx) :]
    return ctx, encode(continuation, False)
