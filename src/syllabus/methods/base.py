"""The ``Method`` base class: an inference-time strategy that *is* an LLM.

A method wraps an inner :class:`~syllabus.llm.LLM` and exposes the same three verbs, so
anything that takes a model (``syllabus eval``, a teacher, a judge) takes a method, and
methods nest: ``I3C(SelfConsistency(model))`` is an LLM too.

Two inner models matter to a method:

* ``inner``: the LLM it wraps, which answers the (possibly rewritten) main request. In a
  chain ``i3c+self-consistency`` the inner of ``i3c`` is the self-consistency method.
* ``base``: the plain model at the bottom of the chain. Auxiliary calls (verifying a
  condition, judging, giving feedback) go there, so an outer method does not make an
  inner one vote over a yes/no verification.

Every generation a method returns is a :class:`MethodGeneration`: its ``prompt_tokens``
and ``completion_tokens`` are the *sums* over every model call the method made for that
request (nested methods included), ``requests`` counts those calls, and ``trace`` keeps
what the method decided (votes, scores, flagged conditions).

Loglikelihood requests pass through to ``inner`` unchanged: methods rewrite and search
over generations, and scoring a fixed continuation has nothing to search.

Writing a method (register it in ``METHODS``; options are a dataclass)::

    @dataclass
    class ShoutOptions:
        times: int = 1

    class Shout(Method):
        name = "shout"
        Options = ShoutOptions

        def answer(self, requests):
            gens = self.inner.generate([append_to_prompt(r, " Answer loudly!") for r in requests])
            out = []
            for g in gens:
                spent = Spent().add(g)
                out.append(spent.generation(g.text.upper() * self.options.times, self.model_id))
            return out

    METHODS.register("shout", Shout)
    build_method("shout:times=2", EchoLLM()).chat("hi")     # -> 'HI ANSWER LOUDLY!HI ANSWER LOUDLY!'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any, ClassVar

from syllabus.errors import ConfigError
from syllabus.llm.base import LLM, GenerateRequest, Generation, Loglikelihood, LoglikelihoodRequest
from syllabus.record import Message
from syllabus.registry import Registry

__all__ = [
    "METHODS",
    "Method",
    "MethodGeneration",
    "NoOptions",
    "Spent",
    "append_to_prompt",
    "last_user_text",
    "prepend_to_prompt",
    "replace_last_user_text",
    "with_params",
]

METHODS: Registry[type[Method]] = Registry("method", entry_point_group="syllabus.methods")


@dataclass
class MethodGeneration(Generation):
    """A :class:`Generation` with what producing it cost and how the method decided.

    ``prompt_tokens``/``completion_tokens`` are summed over all ``requests`` model calls.
    """

    requests: int = 0
    trace: dict[str, Any] = field(default_factory=dict)


@dataclass
class Spent:
    """A running total of the model calls made for one original request.

    >>> s = Spent().add(Generation("a", prompt_tokens=5, completion_tokens=2))
    >>> s.add(Generation("b", prompt_tokens=1, completion_tokens=1)).requests, s.prompt_tokens
    (2, 6)
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0

    def add(self, output: Generation | Loglikelihood | Sequence[Generation | Loglikelihood]) -> Spent:
        """Count one model output (or several); a nested method's output counts all its calls."""
        if isinstance(output, (list, tuple)):
            for o in output:
                self.add(o)
            return self
        if isinstance(output, Generation):
            self.prompt_tokens += output.prompt_tokens
            self.completion_tokens += output.completion_tokens
            self.requests += output.requests if isinstance(output, MethodGeneration) else 1
        else:  # a loglikelihood: its scored tokens were read, not generated
            self.prompt_tokens += output.n_tokens  # type: ignore[union-attr]
            self.requests += 1
        return self

    def generation(self, text: str, model: str, *, finish_reason: str = "stop", **trace: Any) -> MethodGeneration:
        """The method's answer, carrying these totals."""
        return MethodGeneration(
            text=text,
            model=model,
            finish_reason=finish_reason,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            requests=self.requests,
            trace=trace,
        )


@dataclass
class NoOptions:
    """For methods without options."""


class Method(LLM):
    """Base of every inference-time method: an LLM that wraps an LLM.

    Subclasses set ``name`` and ``Options`` (a dataclass whose fields are the method's
    options, with defaults) and implement :meth:`answer`. The options enter ``cache_id``,
    so two settings of one method never share cached results.
    """

    name: ClassVar[str] = "method"
    Options: ClassVar[type] = NoOptions

    def __init__(self, inner: LLM, options: Any | None = None, **kwargs: Any):
        if not isinstance(inner, LLM):
            raise ConfigError(f"method {self.name!r} wraps an LLM, got {type(inner).__name__}")
        self.inner = inner
        if options is None:
            from syllabus.config import from_dict

            options = from_dict(self.Options, kwargs, source=f"method {self.name}")
        elif kwargs:
            raise ConfigError(f"method {self.name!r}: give options either as an Options object or as keywords, not both")
        self.options = options
        self.validate()
        super().__init__(model_id=f"{self.spec}@{inner.model_id}")
        self.capabilities = inner.capabilities

    # -- what a method says ---------------------------------------------------------------
    def answer(self, requests: Sequence[GenerateRequest]) -> list[MethodGeneration]:
        """One answer per request; subclasses implement it, batching their model calls."""
        raise NotImplementedError

    def validate(self) -> None:
        """Check option values (raise :class:`ConfigError` naming the option and the fix)."""

    def bind_task(self, task: Any) -> None:
        """Called by the evaluator before a task runs: a method that draws on a task (its
        demonstration pool) reads it here. Nested methods pass it on."""
        if isinstance(self.inner, Method):
            self.inner.bind_task(task)

    # -- the LLM interface ----------------------------------------------------------------
    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        if not requests:
            return []
        out = self.answer(list(requests))
        if len(out) != len(requests):  # a bug in a method, not a user error
            raise RuntimeError(f"method {self.name} returned {len(out)} answers for {len(requests)} requests")
        return list(out)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        return self.inner.loglikelihood(requests)

    @property
    def base(self) -> LLM:
        """The plain model at the bottom of the chain (for auxiliary calls)."""
        return self.inner.base if isinstance(self.inner, Method) else self.inner

    @property
    def settings(self) -> dict[str, Any]:
        return asdict(self.options) if is_dataclass(self.options) else {}

    @property
    def spec(self) -> str:
        """This method alone as a spec component: ``self-consistency:k=8,temperature=0.7``.

        Every option is written, defaults included, so a changed default changes the key.
        """
        opts = ",".join(f"{k}={_fmt(v)}" for k, v in sorted(self.settings.items()))
        return f"{self.name}:{opts}" if opts else self.name

    @property
    def short_spec(self) -> str:
        """This method with only the options that differ from their defaults (for people)."""
        defaults = asdict(self.Options()) if is_dataclass(self.Options) else {}
        opts = ",".join(f"{k}={_fmt(v)}" for k, v in sorted(self.settings.items()) if defaults.get(k, object()) != v)
        return f"{self.name}:{opts}" if opts else self.name

    @property
    def chain(self) -> str:
        """The whole chain, outermost first, non-default options only: ``i3c+self-consistency:k=8``.

        :func:`~syllabus.methods.build_method` builds the same chain back from it.
        """
        return self.short_spec + (f"+{self.inner.chain}" if isinstance(self.inner, Method) else "")

    @property
    def cache_id(self) -> str:
        return f"{self.inner.cache_id}|method={self.spec}"

    def apply_chat_template(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
        return self.inner.apply_chat_template(messages, add_generation_prompt=add_generation_prompt)

    def describe(self) -> dict[str, Any]:
        return {**self.base.describe(), "method": self.chain, "method_key": self.cache_id}

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r}, {self.inner!r})"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ";".join(_fmt(v) for v in value) + "]"
    return str(value)


# -- rewriting requests -------------------------------------------------------------------


def last_user_text(request: GenerateRequest) -> str:
    """The text a method reasons about: the last user message, or the raw prompt.

    >>> last_user_text(GenerateRequest.chat([{"role": "user", "content": "2+2?"}]))
    '2+2?'
    """
    if request.prompt is not None:
        return request.prompt
    users = [m["content"] for m in request.messages or () if m["role"] == "user"]
    return users[-1] if users else ""


def replace_last_user_text(request: GenerateRequest, text: str) -> GenerateRequest:
    """The request with its last user message (or its raw prompt) replaced by ``text``."""
    if request.prompt is not None:
        return replace(request, prompt=text)
    messages = [dict(m) for m in request.messages or ()]
    for m in reversed(messages):
        if m["role"] == "user":
            m["content"] = text
            break
    else:
        messages.append({"role": "user", "content": text})
    return replace(request, messages=tuple(messages))


def append_to_prompt(request: GenerateRequest, suffix: str) -> GenerateRequest:
    """``suffix`` added to the end of the last user message (or the raw prompt)."""
    return replace_last_user_text(request, last_user_text(request) + suffix)


def prepend_to_prompt(request: GenerateRequest, prefix: str) -> GenerateRequest:
    """``prefix`` put before the last user message (or the raw prompt)."""
    return replace_last_user_text(request, prefix + last_user_text(request))


def with_params(request: GenerateRequest, **params: Any) -> GenerateRequest:
    """The request with some sampling parameters changed (temperature, max_tokens, stop)."""
    return replace(request, params=replace(request.params, **params))


def option_names(options_type: type) -> list[str]:
    return [f.name for f in fields(options_type)] if is_dataclass(options_type) else []
