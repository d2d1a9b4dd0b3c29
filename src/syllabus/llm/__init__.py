"""Model backends behind one interface, named by a model spec string.

A spec is ``SCHEME:REST``: ``builtin:gemma-3-270m``, ``hf:PATH``, ``llamacpp:FILE.gguf``
(or ``llamacpp:builtin:NAME``), ``openai:MODEL@URL``, ``vllm:PATH``, ``fake:echo``.
Backends are imported only when a spec names them, so ``import syllabus`` stays light.

>>> llm = load_llm("fake:echo")
>>> llm.chat("hello")
'hello'
"""

from __future__ import annotations

from typing import Any

from syllabus.errors import ConfigError, did_you_mean
from syllabus.llm.base import (
    LLM,
    Capabilities,
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
    SamplingParams,
)
from syllabus.llm.cache import CachedLLM, RequestCache
from syllabus.registry import Registry

__all__ = [
    "BACKENDS",
    "LLM",
    "Capabilities",
    "CachedLLM",
    "GenerateRequest",
    "Generation",
    "Loglikelihood",
    "LoglikelihoodRequest",
    "RequestCache",
    "SamplingParams",
    "load_llm",
    "parse_spec",
]

# Each entry is a callable ``(rest_of_spec, **options) -> LLM``.
BACKENDS: Registry[Any] = Registry("backend", entry_point_group="syllabus.backends")
BACKENDS.register("fake", "syllabus.llm.fake:load_fake")
BACKENDS.register("builtin", "syllabus.models:load_builtin")
BACKENDS.register("hf", "syllabus.llm.hf:HFLLM")
BACKENDS.register("llamacpp", "syllabus.llm.llamacpp:LlamaCppLLM")
BACKENDS.register("openai", "syllabus.llm.openai:OpenAILLM")
BACKENDS.register("vllm", "syllabus.llm.vllm:VLLMLLM")


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``"scheme:rest"``; a bare name gets a did-you-mean hint."""
    scheme, sep, rest = spec.partition(":")
    if not sep or not scheme or not rest:
        from syllabus.models import BUILTIN_MODELS

        hint = did_you_mean(spec, BUILTIN_MODELS)
        hint = hint.replace("Did you mean ", "Did you mean builtin:") if hint.startswith(" Did you mean") else hint
        raise ConfigError(
            f"Bad model spec {spec!r}: expected SCHEME:NAME with scheme one of "
            f"{', '.join(BACKENDS.names())} (e.g. builtin:smollm2-135m-instruct, fake:echo).{hint}"
        )
    BACKENDS.get(scheme)  # did-you-mean for the scheme
    return scheme, rest


def load_llm(spec: str, *, cache: RequestCache | str | None = None, **options: Any) -> LLM:
    """Build the LLM a spec names; ``options`` go to the backend (dtype, api_key, ...).

    With ``cache`` (a :class:`RequestCache` or a path to its SQLite file) the model is
    wrapped in :class:`CachedLLM`.
    """
    scheme, rest = parse_spec(spec)
    factory = BACKENDS.get(scheme)
    try:
        llm: LLM = factory(rest, **options)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            raise ConfigError(f"backend {scheme!r} does not take that option: {e}") from None
        raise
    if cache is not None:
        llm = CachedLLM(llm, cache if isinstance(cache, RequestCache) else RequestCache(cache))
    return llm
