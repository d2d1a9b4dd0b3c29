"""Token-level decoding methods: EFT up-scaling and a rule-based product of experts.

Both decode token by token from next-token log-probabilities, so they need a backend
with the ``logits`` capability (the hf backend, also as ``builtin:NAME``), wrapped
directly (a request cache in between is looked through).

* ``eft`` (Mitchell et al., "An Emulator for Fine-Tuning Large Language Models using Small
  Language Models"): the wrapped model is a *large base* model; at every step the next
  token is drawn from ``log p_large + beta * (log p_tuned - log p_base)``, renormalised,
  where ``tuned`` and ``base`` are a small fine-tuned model and its own base. All three
  must share one tokenizer::

      build_method("eft:tuned=hf:runs/sft/final,base=builtin:gemma-3-270m,beta=1.0", large_base)

* ``poe`` (after Hewitt et al., "Instruction Following without Instruction Tuning", 2024):
  a base model times three rules: a boost of the end-of-sequence token that grows
  linearly with the generated length, fixed changes of a few tokens' log-probabilities
  (by default down-weighting the tokens that start a new ``User:`` / ``Question:`` turn),
  and a uniform penalty on every token generated so far::

      build_method("poe:eos_ramp=0.05,repetition=1.0,deltas=User:-4;Question:-4", base_model)
      build_method("poe+eft:tuned=hf:runs/sft/final,base=builtin:gemma-3-270m", large_base)

The rules are :class:`PoEProcessor`, a plain callable ``(generated ids, logprobs) ->
logprobs`` that any token-level decode loop can apply (``EFT(..., processor=...)`` takes
one from Python; ``poe+eft`` applies it to the EFT distribution). :func:`decode` is the
loop itself: greedy, or temperature / top-k / top-p sampling from one generator per row
seeded like the hf backend (:func:`syllabus.llm.hf.sample_seed`), so a rerun gives the
same text.

Neither method scores log-likelihoods (their distribution is made step by step while
generating): a multiple-choice task under them fails with a one-line CapabilityError.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from syllabus.errors import BackendError, CapabilityError, ConfigError
from syllabus.llm.base import LLM, GenerateRequest, Generation, Loglikelihood, LoglikelihoodRequest, SamplingParams
from syllabus.methods.base import Method, MethodGeneration, Spent

if TYPE_CHECKING:
    import torch

__all__ = ["EFT", "PoE", "PoEProcessor", "decode", "logits_model", "parse_deltas", "starting_tokens"]


# -- the logits provider ------------------------------------------------------------------


def logits_model(llm: LLM, who: str) -> Any:
    """The object a decode loop asks for next-token log-probabilities: ``llm`` itself, or
    the model under a request cache. Anything else is a one-line :class:`CapabilityError`."""
    from syllabus.llm.cache import CachedLLM

    found = llm
    while isinstance(found, CachedLLM):
        found = found.inner
    if found.capabilities.logits and callable(getattr(found, "next_token_logprobs", None)):
        return found
    where = " (put it directly around the model: methods that rewrite prompts go outside it)" if isinstance(found, Method) else ""
    raise CapabilityError(
        f"{who} needs next-token log-probabilities (the logits capability); {llm.model_id} has none{where}: "
        "use an hf: or builtin: model"
    )


def _prompt_ids(model: Any, request: GenerateRequest) -> list[int]:
    """The prompt's token ids, as the hf backend reads them (raw prompt with BOS, or the chat template)."""
    if request.prompt is not None:
        return list(model.tokenizer(request.prompt, add_special_tokens=True).input_ids)
    from syllabus.llm.templating import prompt_token_ids

    return prompt_token_ids(model.tokenizer, request.messages or ())


# -- the rules ------------------------------------------------------------------------------


def parse_deltas(text: str) -> dict[str, float]:
    """``"User:-4;Question:-4"`` -> ``{"User": -4.0, "Question": -4.0}`` (split at each item's last colon).

    >>> parse_deltas("User:-4; Q::-2.5")
    {'User': -4.0, 'Q:': -2.5}
    >>> parse_deltas("")
    {}
    """
    out: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in str(text).split(";"))):
        token, colon, value = item.rpartition(":")
        try:
            if not colon or not token:
                raise ValueError
            out[token] = float(value)
        except ValueError:
            raise ConfigError(f"poe deltas: {item!r} is not TEXT:DELTA (write e.g. deltas=User:-4;Question:-4)") from None
    return out


def starting_tokens(tokenizer: Any, text: str) -> list[int]:
    """The ids of the token a model emits to begin ``text``: at the start, after a space, after a newline.

    A word the tokenizer splits contributes its first piece; the unknown token never counts.
    """
    found: list[int] = []
    unk = getattr(tokenizer, "unk_token_id", None)
    for before in ("", " ", "\n"):
        head = list(tokenizer(before, add_special_tokens=False).input_ids) if before else []
        ids = list(tokenizer(before + text, add_special_tokens=False).input_ids)
        if len(ids) > len(head) and ids[: len(head)] == head and ids[len(head)] != unk and ids[len(head)] not in found:
            found.append(ids[len(head)])
    return found


@dataclass
class PoEProcessor:
    """Hewitt et al.'s three rules as a logits processor: ``(generated, logprobs) -> logprobs``.

    ``generated[i]`` are the tokens row ``i`` has generated so far (prompt excluded) and
    ``logprobs`` the ``(batch, vocab)`` next-token log-probabilities. Before renormalising:

    * the EOS ids gain ``eos_ramp * len(generated[i])`` (0 at the first token);
    * each id in ``token_deltas`` gains its delta (negative: less likely);
    * every id already in ``generated[i]`` loses ``repetition``, once however often it occurred.

    With every rule off the input tensor is returned as it is (the identity). Build one from
    token *strings* with :meth:`from_strings`.
    """

    eos_ids: Sequence[int] = ()
    eos_ramp: float = 0.0
    repetition: float = 0.0
    token_deltas: dict[int, float] = field(default_factory=dict)

    @classmethod
    def from_strings(cls, tokenizer: Any, deltas: dict[str, float], **rules: Any) -> PoEProcessor:
        """``deltas`` maps a text (``"User"``) to a change applied to the tokens that begin it."""
        token_deltas: dict[int, float] = {}
        for text, delta in deltas.items():
            for token in starting_tokens(tokenizer, text):
                token_deltas[token] = token_deltas.get(token, 0.0) + float(delta)
        return cls(token_deltas=token_deltas, **rules)

    @property
    def active(self) -> bool:
        return bool((self.eos_ramp and self.eos_ids) or self.repetition or any(self.token_deltas.values()))

    def __call__(self, generated: Sequence[Sequence[int]], logprobs: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return logprobs
        import torch

        scores = logprobs.clone()
        vocab = scores.shape[-1]
        dev = scores.device
        kept = {t: d for t, d in self.token_deltas.items() if 0 <= t < vocab and d}
        if kept:
            scores[:, torch.tensor(list(kept), device=dev)] += torch.tensor(list(kept.values()), device=dev)
        eos = torch.tensor([t for t in self.eos_ids if 0 <= t < vocab], dtype=torch.long, device=dev)
        for row, tokens in enumerate(generated):
            if self.repetition and tokens:
                seen = sorted({int(t) for t in tokens if 0 <= t < vocab})
                scores[row, torch.tensor(seen, device=dev)] -= self.repetition
            if self.eos_ramp and len(eos) and tokens:
                scores[row, eos] += self.eos_ramp * len(tokens)
        return scores.log_softmax(-1)


# -- the decode loop ------------------------------------------------------------------------

Processor = Any  # a callable (generated ids, logprobs) -> logprobs, like PoEProcessor


def decode(
    model: Any, requests: Sequence[GenerateRequest], processor: Processor | None = None, *, n_models: int = 1
) -> list[Generation]:
    """Generate token by token from ``model.next_token_logprobs``, one :class:`Generation` per request.

    ``processor`` (optional) changes each step's log-probabilities before the token is
    picked. A row ends at one of ``model.eos_ids`` (counted as a completion token, as in
    the hf backend), at a stop string (the text is cut before it) or after ``max_tokens``.
    Requests run ``model.batch_size`` at a time (default 8), shortest prompts together;
    rows that finished early keep being fed (their tokens are ignored) so that every step
    extends the whole batch by one token and the backend can reuse its key/value cache.
    ``prompt_tokens`` counts the prompt once per model consulted (``n_models``).
    """
    prompts = [_prompt_ids(model, r) for r in requests]
    order = sorted(range(len(requests)), key=lambda i: len(prompts[i]))
    size = max(1, int(getattr(model, "batch_size", 8) or 8))
    out: list[Generation | None] = [None] * len(requests)
    for start in range(0, len(order), size):
        chunk = order[start : start + size]
        gens = _decode_batch(model, [requests[i] for i in chunk], [prompts[i] for i in chunk], processor, n_models)
        for i, g in zip(chunk, gens, strict=True):
            out[i] = g
    return [g for g in out if g is not None]


def _decode_batch(
    model: Any, requests: list[GenerateRequest], prompts: list[list[int]], processor: Processor | None, n_models: int
) -> list[Generation]:
    from syllabus.llm.hf import sample_seed

    limit = getattr(model, "max_context", None)
    budgets = []
    for r, p in zip(requests, prompts, strict=True):
        budget = min(r.params.max_tokens, limit - len(p)) if limit else r.params.max_tokens
        if budget < 1:
            raise BackendError(f"{model.model_id}: a prompt of {len(p)} tokens leaves no room to generate in {limit} tokens")
        budgets.append(budget)
    eos = set() if getattr(model, "ignore_eos", False) else {int(t) for t in model.eos_ids}
    filler = next(iter(model.eos_ids), 0)
    rows = len(requests)
    generated: list[list[int]] = [[] for _ in range(rows)]  # what each row is fed (fillers after it ended)
    kept: list[list[int] | None] = [None] * rows  # a row's own tokens, once it ended
    reasons = ["length"] * rows
    completion = [0] * rows
    generators: list[Any] = [None] * rows
    while any(k is None for k in kept):
        logprobs = model.next_token_logprobs([p + g for p, g in zip(prompts, generated, strict=True)])
        if processor is not None:
            logprobs = processor(generated, logprobs)
        greedy = logprobs.argmax(-1).tolist()
        for row, r in enumerate(requests):
            if kept[row] is not None:
                generated[row].append(filler)
                continue
            if r.params.greedy:
                token = int(greedy[row])
            else:
                if generators[row] is None:
                    import torch

                    seed = sample_seed(r.params, r.sample_index, r)
                    generators[row] = torch.Generator(device=logprobs.device).manual_seed(seed)
                token = sample_token(logprobs[row], r.params, generators[row])
            tokens = generated[row]
            if token in eos:
                kept[row], reasons[row], completion[row] = list(tokens), "stop", len(tokens) + 1
                tokens.append(token)
                continue
            tokens.append(token)
            if r.params.stop and _has_stop(model.tokenizer, tokens, r.params.stop):
                kept[row], reasons[row], completion[row] = list(tokens), "stop", len(tokens)
            elif len(tokens) >= budgets[row]:
                kept[row], completion[row] = list(tokens), len(tokens)
    results = []
    for row, r in enumerate(requests):
        text = model.tokenizer.decode(kept[row], skip_special_tokens=True)
        cut = [text.index(s) for s in r.params.stop if s and s in text]
        reason = reasons[row]
        if cut:
            text, reason = text[: min(cut)], "stop"
        results.append(
            Generation(
                text=text,
                model=model.model_id,
                finish_reason=reason,
                prompt_tokens=len(prompts[row]) * n_models,
                completion_tokens=completion[row],
            )
        )
    return results


def _has_stop(tokenizer: Any, tokens: list[int], stops: Sequence[str]) -> bool:
    """Whether the last few tokens' text holds a stop string (enough of them for the longest one)."""
    window = 4 * max(len(s.encode("utf-8")) for s in stops if s) + 4 if any(stops) else 0
    tail = tokenizer.decode(tokens[-window:], skip_special_tokens=True) if window else ""
    return any(s and s in tail for s in stops)


def sample_token(logprobs: torch.Tensor, params: SamplingParams, generator: Any) -> int:
    """One token drawn from a row of log-probabilities under temperature, top-k and top-p."""
    import torch

    scores = logprobs.float() / params.temperature
    if params.top_k > 0:
        kth = torch.topk(scores, min(params.top_k, scores.shape[-1])).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    probs = scores.softmax(-1)
    if params.top_p < 1.0:
        values, indices = torch.sort(probs, descending=True)
        before = values.cumsum(-1) - values  # mass of the strictly more likely tokens
        values = values.masked_fill(before >= params.top_p, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, indices, values)
        probs = probs / probs.sum()
    return int(torch.multinomial(probs, 1, generator=generator))


# -- the methods ----------------------------------------------------------------------------


class _TokenLevel(Method):
    """What the two decoding methods share: they make their own distribution, so they score nothing."""

    def __init__(self, inner: LLM, **options: Any):
        super().__init__(inner, **options)
        self.capabilities = replace(inner.capabilities, loglikelihood=False)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        raise CapabilityError(
            f"{self.name} decodes token by token and scores no log-likelihoods; evaluate it on generation tasks"
        )

    @staticmethod
    def _answers(gens: list[Generation], model_id: str, n_models: int, **trace: Any) -> list[MethodGeneration]:
        out = []
        for g in gens:
            spent = Spent(prompt_tokens=g.prompt_tokens, completion_tokens=g.completion_tokens, requests=n_models)
            out.append(spent.generation(g.text, model_id, finish_reason=g.finish_reason, **trace))
        return out


@dataclass
class EFTOptions:
    """``tuned``/``base``: model specs (``hf:PATH``, ``builtin:NAME``); ``dtype``: theirs (default: the large model's)."""

    tuned: str = ""
    base: str = ""
    beta: float = 1.0
    dtype: str = ""


class EFT(_TokenLevel):
    """EFT up-scaling: a large base model plus the fine-tuning a small pair of models learned.

    Each step draws from ``log p_large + beta * (log p_tuned - log p_base)``, renormalised;
    ``beta = 1`` is the paper's up-scaling, ``beta = 0`` the large model alone, and with the
    small base as the "large" model and ``beta = 1`` the result is the tuned model itself.
    Chat prompts are rendered with the tuned model's template; generation ends at the EOS
    ids of the large and of the tuned model. The three models must share a tokenizer.
    ``tuned_llm``/``base_llm`` given in Python replace the ``tuned``/``base`` specs, and
    ``processor`` (e.g. a :class:`PoEProcessor`) changes each step's distribution.

    Example (any three hf models with one tokenizer)::

        large = load_llm("hf:models/gemma-3-1b-pt", dtype="float32")
        eft = build_method("eft:tuned=hf:runs/sft/final,base=builtin:gemma-3-270m,beta=1.0", large)
        eft.chat("Name a prime number.", max_tokens=16)
    """

    name = "eft"
    Options = EFTOptions
    accepts: ClassVar[tuple[str, ...]] = ("tuned_llm", "base_llm", "processor")
    n_models = 3

    def __init__(
        self,
        inner: LLM,
        *,
        tuned_llm: LLM | None = None,
        base_llm: LLM | None = None,
        processor: Processor | None = None,
        **options: Any,
    ):
        self._given = (tuned_llm, base_llm)
        super().__init__(inner, **options)
        self.processor = processor
        self._models: tuple[Any, Any, Any] | None = None

    def validate(self) -> None:
        o = self.options
        for name, spec, given in (("tuned", o.tuned, self._given[0]), ("base", o.base, self._given[1])):
            if not spec and given is None:
                raise ConfigError(f"eft needs {name}=MODEL (e.g. eft:tuned=hf:runs/sft/final,base=builtin:gemma-3-270m)")
        logits_model(self.inner, "eft")

    @property
    def cache_id(self) -> str:
        given = [f",{n}={g.cache_id}" for n, g in zip(("tuned", "base"), self._given, strict=True) if g is not None]
        return super().cache_id + "".join(given)

    def models(self) -> tuple[Any, Any, Any]:
        """(large, tuned, base), loaded on first use and checked to share a tokenizer."""
        if self._models is None:
            large = logits_model(self.inner, "eft")
            loaded: dict[str, Any] = {}
            pair = []
            for name, spec, given in (("tuned", self.options.tuned, self._given[0]), ("base", self.options.base, self._given[1])):
                if given is None:
                    if spec not in loaded:
                        loaded[spec] = self._load(spec, large)
                    given = loaded[spec]
                pair.append(logits_model(given, f"eft {name}"))
            for name, other in zip(("tuned", "base"), pair, strict=True):
                problem = _tokenizer_mismatch(large, other)
                if problem:
                    raise ConfigError(f"eft: {other.model_id} ({name}) and {large.model_id} do not share a tokenizer: {problem}")
            self._models = (large, pair[0], pair[1])
        return self._models

    def _load(self, spec: str, large: Any) -> LLM:
        from syllabus.llm import load_llm, parse_spec

        options: dict[str, Any] = {}
        if parse_spec(spec)[0] in ("hf", "builtin"):
            dtype = self.options.dtype or getattr(large, "dtype", "")
            options = {"dtype": dtype} if dtype else {}
            if getattr(large, "device", None):
                options["device"] = large.device
        return load_llm(spec, **options)

    # -- the logits capability: EFT is itself a model a decode loop (poe+eft) can read ----
    @property
    def tokenizer(self) -> Any:
        return self.models()[1].tokenizer

    @property
    def eos_ids(self) -> list[int]:
        large, tuned, _ = self.models()
        return list(dict.fromkeys([*large.eos_ids, *tuned.eos_ids]))

    @property
    def max_context(self) -> int | None:
        limits = [m for m in (getattr(x, "max_context", None) for x in self.models()) if m]
        return min(limits) if limits else None

    @property
    def batch_size(self) -> int:
        return int(getattr(self.models()[0], "batch_size", 8) or 8)

    def next_token_logprobs(self, prefixes: Sequence[Sequence[int]]) -> torch.Tensor:
        """``log_softmax(log p_large + beta * (log p_tuned - log p_base))`` after each prefix."""
        large, tuned, base = self.models()
        logprobs = large.next_token_logprobs(prefixes)
        if self.options.beta:
            t = tuned.next_token_logprobs(prefixes).to(logprobs.device)
            b = base.next_token_logprobs(prefixes).to(logprobs.device)
            width = min(logprobs.shape[-1], t.shape[-1], b.shape[-1])  # padded vocabularies may differ
            logprobs = logprobs[:, :width] + self.options.beta * (t[:, :width] - b[:, :width])
        return logprobs.log_softmax(-1)

    def answer(self, requests: Sequence[GenerateRequest]) -> list[MethodGeneration]:
        gens = decode(self, requests, self.processor, n_models=self.n_models)
        return self._answers(gens, self.model_id, self.n_models)

    def close(self) -> None:
        for given, model in zip(self._given, (self._models or (None, None, None))[1:], strict=True):
            if given is None and model is not None:
                model.close()
        self._models = None
        super().close()


def _tokenizer_mismatch(a: Any, b: Any) -> str:
    """Why two models' tokenizers differ ("" when they agree on size, vocabulary and a probe text)."""
    ta, tb = a.tokenizer, b.tokenizer
    if len(ta) != len(tb):
        return f"{len(ta)} vs {len(tb)} tokens"
    probe = "Hello, world! The answer is 42.\nUser: ok"
    if list(ta(probe, add_special_tokens=False).input_ids) != list(tb(probe, add_special_tokens=False).input_ids):
        return "they tokenize the same text differently"
    if ta.get_vocab() != tb.get_vocab():
        return "their vocabularies map tokens to different ids"
    return ""


@dataclass
class PoEOptions:
    """The three rules of :class:`PoEProcessor`; ``deltas`` is ``TEXT:DELTA;TEXT:DELTA`` (positive without ``+``)."""

    eos_ramp: float = 0.05
    repetition: float = 1.0
    deltas: str = "User:-4;Question:-4"


class PoE(_TokenLevel):
    """A base model times a few rules (Hewitt et al. 2024): decoded token by token.

    ``eos_ramp`` (nats per generated token added to EOS), ``repetition`` (nats taken from
    every token generated before) and ``deltas`` (changes to the tokens that begin each
    text) are :class:`PoEProcessor`'s rules; 0, 0 and ``""`` turn them off, and then the
    method decodes the model's own distribution. ``poe+eft:...`` applies them to EFT.
    The default values are ours, not tuned.

    Example::

        base = load_llm("builtin:gemma-3-270m", dtype="float32")
        poe = build_method("poe:eos_ramp=0.05,repetition=1.0,deltas=User:-4;Question:-4", base)
        poe.chat("Name a prime number.", max_tokens=32)
    """

    name = "poe"
    Options = PoEOptions

    def __init__(self, inner: LLM, **options: Any):
        super().__init__(inner, **options)
        self.capabilities = replace(self.capabilities, logits=False)  # the rules need the generated tokens
        self._processor: PoEProcessor | None = None

    def validate(self) -> None:
        o = self.options
        if o.eos_ramp < 0 or o.repetition < 0:
            raise ConfigError(f"poe: eos_ramp and repetition must be >= 0, got {o.eos_ramp} and {o.repetition}")
        parse_deltas(o.deltas)
        logits_model(self.inner, "poe")

    @property
    def model(self) -> Any:
        return logits_model(self.inner, "poe")

    @property
    def processor(self) -> PoEProcessor:
        if self._processor is None:
            model = self.model
            self._processor = PoEProcessor.from_strings(
                model.tokenizer,
                parse_deltas(self.options.deltas),
                eos_ids=list(model.eos_ids),
                eos_ramp=self.options.eos_ramp,
                repetition=self.options.repetition,
            )
        return self._processor

    def answer(self, requests: Sequence[GenerateRequest]) -> list[MethodGeneration]:
        model = self.model
        n_models = int(getattr(model, "n_models", 1))
        gens = decode(model, requests, self.processor, n_models=n_models)
        return self._answers(gens, self.model_id, n_models)
