"""The ``llamacpp`` backend: a GGUF file run in process by llama.cpp.

``llamacpp:FILE.gguf`` runs a GGUF file as it ships (quantized); ``llamacpp:builtin:NAME``
runs the GGUF file of a builtin model. llama-cpp-python is an optional dependency
(``pip install 'syllabus[llamacpp]'``), imported only when this backend is built.

How it works, and why:

- The model is loaded with llama-cpp-python's ``Llama`` (loading, tokenizer, metadata), but
  decoding goes through llama.cpp's low-level batch API on a context of our own. That gives
  one code path for everything: sequences decoded side by side (``n_parallel``), logits
  only where they are needed (the sampled position, or the continuation when scoring), and
  no hidden prompt cache, so a result never depends on what ran before it.
- Chat messages are rendered with the chat template stored in the GGUF file
  (``tokenizer.chat_template``), through jinja2 the way transformers renders it, so the
  prompt is token for token the one the ``hf`` backend builds. (llama-cpp-python's
  ``create_chat_completion`` may substitute a built-in look-alike format.) A GGUF without
  a template (a base model) gets the plain ``role: content`` rendering.
- Greedy decoding (``temperature == 0``) is an argmax. Sampling (temperature, top-k, top-p)
  is done in numpy with a generator seeded by ``(seed, params.seed, sample_index)`` (the
  backend's ``seed`` and the request's), so a sample does not depend on the other requests
  of the batch, nor on the batch size, and k samples of one prompt are k independent draws.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import sys
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from syllabus.errors import BackendError, ConfigError, MissingDependencyError
from syllabus.llm.base import (
    LLM,
    Capabilities,
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
    SamplingParams,
    split_continuation,
)
from syllabus.record import Message

__all__ = ["LlamaCppLLM"]

log = logging.getLogger(__name__)


class LlamaCppLLM(LLM):
    """A GGUF model in process through llama.cpp (CPU by default).

    Example::

        llm = LlamaCppLLM("builtin:smollm2-135m-instruct")     # or LlamaCppLLM("model.gguf")
        llm.chat("Name a colour.", max_tokens=8)
        llm.loglikelihood([LoglikelihoodRequest(context="The sky is", continuation=" blue")])

    ``n_parallel`` > 1 decodes up to that many requests side by side in one llama.cpp batch,
    refilling a slot as soon as its request finishes; the KV cache then holds
    ``n_parallel * n_ctx`` tokens. Batched matrix kernels round differently from the
    single-sequence ones, so a greedy text may differ from the ``n_parallel=1`` one after
    some tokens. With ``n_parallel=1`` (the default) every request runs alone from an empty
    cache, so its result does not depend on the other requests or on their order.
    """

    def __init__(
        self,
        spec_rest: str,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_batch: int = 512,
        seed: int = 0,
        verbose: bool = False,
        n_parallel: int = 1,
        model_id: str | None = None,
    ):
        try:
            import llama_cpp
        except ImportError:
            raise MissingDependencyError("llama-cpp-python", extra="llamacpp") from None
        if n_ctx < 16 or n_parallel < 1 or n_batch < n_parallel:
            raise ConfigError(
                f"need n_ctx >= 16, n_parallel >= 1 and n_batch >= n_parallel; got {n_ctx}, {n_parallel}, {n_batch}"
            )
        path = _resolve_gguf(spec_rest)
        # The sampling seed changes sampled outputs, so a non-default one is part of the
        # model id (which enters cache keys).
        super().__init__(model_id or f"llamacpp:{spec_rest}")
        self._L = llama_cpp
        self.path = path
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.n_parallel = n_parallel
        self.n_threads = n_threads or _available_cpus()
        self.seed = seed
        self._llama: Any = None
        self._ctx: Any = None
        self._batch: Any = None
        _route_llama_logs(llama_cpp, verbose)
        # ``Llama`` also builds a context of its own; it is never used, so it gets the
        # smallest size.
        try:
            self._llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=256,
                n_batch=64,
                n_threads=self.n_threads,
                verbose=verbose,
            )
        except ValueError as e:
            raise BackendError(
                f"llama.cpp could not load {path}: {e}. Is it a GGUF file of an architecture this "
                "llama-cpp-python knows? Pass verbose=True to see llama.cpp's log"
            ) from e
        self._model = self._llama.model
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
        self._bos = int(llama_cpp.llama_vocab_bos(self._vocab))
        self._eos = int(llama_cpp.llama_vocab_eos(self._vocab))
        self._bos_text = self._special_text(self._bos)
        self._eos_text = self._special_text(self._eos)
        self._pieces: dict[int, bytes] = {}
        self.chat_template: str | None = self._llama.metadata.get("tokenizer.chat_template")
        self._template: Any = _compile_template(self.chat_template) if self.chat_template else None
        self._open_context()
        # Free the native objects exactly once: on close(), or at interpreter exit while
        # llama_cpp is still importable (its own __del__ fails during module teardown).
        self._finalizer = weakref.finalize(self, _free_native, llama_cpp, self._ctx, self._batch, self._llama)
        self.capabilities = Capabilities(
            loglikelihood=True, chat_template=self.chat_template is not None, max_context=n_ctx
        )

    def _open_context(self) -> None:
        L = self._L
        p = L.llama_context_default_params()
        p.n_ctx = self.n_ctx * self.n_parallel
        p.n_batch = p.n_ubatch = self.n_batch
        p.n_seq_max = self.n_parallel
        # One KV buffer shared by all sequences, so a sequence may use any free cell.
        p.kv_unified = self.n_parallel > 1
        # The default (1) allows a single output per sequence and batch; scoring needs
        # the logits of every continuation position.
        p.n_outputs_max_per_seq = 0
        p.n_threads = p.n_threads_batch = self.n_threads
        # llama.cpp turns flash attention on by default on CPU; its half-precision
        # accumulation moves per-token log-probabilities by up to ~0.3 nats on these models.
        # Plain attention matches a logits_all reference within float error; on short
        # prompts it cost well under 10 % of decode speed in our runs.
        p.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_DISABLED
        ctx = L.llama_init_from_model(self._model, p)
        if not ctx:
            raise BackendError(f"llama.cpp could not create a context (n_ctx={p.n_ctx}) for {self.path}")
        self._ctx = ctx
        self._memory = L.llama_get_memory(ctx)
        self._batch = L.llama_batch_init(self.n_batch, 0, 1)

    # -- tokens -------------------------------------------------------------------------

    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._piece(token, special=True).decode("utf-8", errors="replace")

    def _piece(self, token: int, *, special: bool = False) -> bytes:
        """The bytes a token stands for (special tokens render as nothing unless asked)."""
        if not special and token in self._pieces:
            return self._pieces[token]
        buf = ctypes.create_string_buffer(64)
        n = self._L.llama_token_to_piece(self._vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._L.llama_token_to_piece(self._vocab, token, buf, -n, 0, special)
        piece = buf.raw[:n]
        if not special:
            self._pieces[token] = piece
        return piece

    def tokenize(self, text: str, *, bos: bool = True) -> list[int]:
        """Token ids of a text; special-token text (``<|im_start|>``) is parsed as such.

        With ``bos`` (raw prompts) BOS is prepended when the model wants one and the text
        does not already start with it. Pass ``bos=False`` for a rendered chat template,
        which writes BOS itself where the model wants one.
        """
        add_bos = bos and self._add_bos and not (self._bos_text and text.startswith(self._bos_text))
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def _prompt_tokens(self, request: GenerateRequest) -> list[int]:
        if request.prompt is not None:
            tokens = self.tokenize(request.prompt)
        elif self._template is not None:
            tokens = self.tokenize(self.apply_chat_template(request.messages or ()), bos=False)
        else:
            tokens = self.tokenize(request.render_plain())
        if not tokens:
            raise ConfigError(f"{self.model_id}: the prompt is empty after tokenization")
        return tokens

    # -- generation ---------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        """Decode the requests, up to ``n_parallel`` at a time; results in request order."""
        self._check_open()
        results: list[Generation | None] = [None] * len(requests)
        waiting = deque(
            _Sequence(index=i, prompt=self._prompt_tokens(r), params=r.params, rng=self._rng(r))
            for i, r in enumerate(requests)
        )
        for s in waiting:
            if len(s.prompt) >= self.n_ctx:
                raise BackendError(
                    f"{self.model_id}: a prompt of {len(s.prompt)} tokens does not fit n_ctx={self.n_ctx}; "
                    "pass a larger n_ctx or shorten the prompt"
                )
        self._L.llama_memory_clear(self._memory, True)  # no state from earlier calls
        free_slots = list(range(self.n_parallel))
        active: list[_Sequence] = []
        while waiting or active:
            while waiting and free_slots:
                s = waiting.popleft()
                s.slot = free_slots.pop(0)
                active.append(s)
            entries, readers = self._next_batch(active)
            self._decode(entries)
            for s, batch_index in readers:
                self._advance(s, self._logits(batch_index))
            for s in [s for s in active if s.finish is not None]:
                results[s.index] = self._generation(s)
                self._L.llama_memory_seq_rm(self._memory, s.slot, -1, -1)
                free_slots.append(s.slot)
                active.remove(s)
        return [g for g in results if g is not None]

    def _rng(self, request: GenerateRequest) -> np.random.Generator | None:
        if request.params.greedy:
            return None
        # SeedSequence entropy: (backend seed, request seed, sample index); distinct tuples
        # give independent streams, so sample k of seed s never repeats another's draws.
        entropy = [v & 0xFFFFFFFFFFFFFFFF for v in (self.seed, request.params.seed, request.sample_index)]
        return np.random.default_rng(entropy)

    def _next_batch(self, active: list[_Sequence]) -> tuple[list[tuple[int, int, int, bool]], list[tuple[_Sequence, int]]]:
        """One llama.cpp batch: each decoding sequence's last token, then prompt chunks.

        Returns the batch entries ``(token, position, seq_id, want_logits)`` and, for every
        sequence that gets logits back, the batch index to read them from.
        """
        entries: list[tuple[int, int, int, bool]] = []
        readers: list[tuple[_Sequence, int]] = []
        for s in active:
            if s.pending is not None:
                readers.append((s, len(entries)))
                entries.append((s.pending, s.position, s.slot, True))
                s.pending = None
        for s in active:
            room = self.n_batch - len(entries)
            if room <= 0:
                break
            chunk = s.prompt[s.n_fed : s.n_fed + room]
            for j, token in enumerate(chunk):
                last = s.n_fed + j == len(s.prompt) - 1
                if last:
                    readers.append((s, len(entries)))
                entries.append((token, s.n_fed + j, s.slot, last))
            s.n_fed += len(chunk)
        return entries, readers

    def _advance(self, s: _Sequence, logits: np.ndarray) -> None:
        """Choose the next token of ``s`` and decide whether it has finished."""
        token = int(np.argmax(logits)) if s.rng is None else _sample(logits, s.params, s.rng)
        if self._L.llama_vocab_is_eog(self._vocab, token):
            s.finish = "stop"
            return
        s.tokens.append(token)
        s.text_bytes += self._piece(token)
        if s.params.stop:
            text = s.text_bytes.decode("utf-8", errors="ignore")
            cut = _find_stop(text, s.params.stop)
            if cut is not None:
                s.text, s.finish = text[:cut], "stop"
                return
        if len(s.tokens) >= s.params.max_tokens or s.position >= self.n_ctx:
            s.finish = "length"
            return
        s.pending = token

    def _generation(self, s: _Sequence) -> Generation:
        text = s.text if s.text is not None else s.text_bytes.decode("utf-8", errors="replace")
        return Generation(
            text=text,
            model=self.model_id,
            finish_reason=s.finish or "stop",
            prompt_tokens=len(s.prompt),
            completion_tokens=len(s.tokens),
        )

    # -- scoring ------------------------------------------------------------------------

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        """Exact log p(continuation | context), one request at a time from an empty cache.

        Only the continuation positions return logits; log-softmax is taken in float64.
        """
        self._check_open()
        return [self._score(r) for r in requests]

    def encode_pair(self, request: LoglikelihoodRequest) -> tuple[list[int], list[int]]:
        """Context and continuation token ids, tokenized as the ``hf`` backend does.

        As in lm-evaluation-harness, the continuation is the tail of
        ``tokenize(context + continuation)`` beyond ``tokenize(context)`` when the latter
        is a prefix of the former (a word across the boundary is scored as the model would
        read it); otherwise both parts are tokenized apart. An empty context becomes BOS
        (or EOS), and a context too long for ``n_ctx`` is cut from the left.
        """
        if request.messages is not None:
            bos = self._template is None  # a template writes its own BOS
            context = self.apply_chat_template(request.messages, add_generation_prompt=True)
        else:
            bos, context = True, request.context or ""
        ctx, cont = split_continuation(
            lambda text, add: self.tokenize(text, bos=add), context, request.continuation, special=bos
        )
        if not request.continuation:
            return ctx, []
        if not ctx:
            ctx = [self._bos if self._bos >= 0 else self._eos]
        if len(cont) >= self.n_ctx:
            raise BackendError(
                f"{self.model_id}: the continuation alone is {len(cont)} tokens, more than n_ctx={self.n_ctx}; "
                "pass a larger n_ctx or score it in parts"
            )
        excess = len(ctx) + len(cont) - self.n_ctx
        if excess > 0:
            log.warning("%s: context cut from the left by %d tokens to fit n_ctx=%d", self.model_id, excess, self.n_ctx)
            ctx = ctx[excess:]
        return ctx, cont

    def _score(self, request: LoglikelihoodRequest) -> Loglikelihood:
        ctx, cont = self.encode_pair(request)
        tokens = ctx + cont
        n_bytes = len(request.continuation.encode("utf-8"))
        if not cont:
            return Loglikelihood(logprob=0.0, is_greedy=True, n_tokens=0, n_bytes=n_bytes)
        self._L.llama_memory_clear(self._memory, True)
        first = len(ctx) - 1  # the position whose logits predict the first continuation token
        token_logprobs: list[float] = []
        greedy = True
        for start in range(0, len(tokens) - 1, self.n_batch):
            chunk = range(start, min(start + self.n_batch, len(tokens) - 1))
            entries = [(tokens[i], i, 0, i >= first) for i in chunk]
            self._decode(entries)
            for batch_index, i in enumerate(chunk):
                if i < first:
                    continue
                logits = self._logits(batch_index).astype(np.float64)
                target = tokens[i + 1]
                top = float(logits.max())
                log_z = top + float(np.log(np.exp(logits - top).sum()))
                token_logprobs.append(float(logits[target]) - log_z)
                greedy = greedy and int(np.argmax(logits)) == target
        return Loglikelihood(
            logprob=float(sum(token_logprobs)),
            is_greedy=greedy,
            n_tokens=len(cont),
            n_bytes=n_bytes,
            token_logprobs=token_logprobs,
        )

    # -- llama.cpp calls ----------------------------------------------------------------

    def _decode(self, entries: Sequence[tuple[int, int, int, bool]]) -> None:
        batch = self._batch
        for i, (token, position, seq_id, want_logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = position
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq_id
            batch.logits[i] = want_logits
        batch.n_tokens = len(entries)
        rc = self._L.llama_decode(self._ctx, batch)
        if rc != 0:
            raise BackendError(f"{self.model_id}: llama_decode failed with code {rc} (1 means the KV cache is full)")

    def _logits(self, batch_index: int) -> np.ndarray:
        """A copy of the logits at one batch position (the buffer is reused by the next decode)."""
        pointer = self._L.llama_get_logits_ith(self._ctx, batch_index)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()

    def _check_open(self) -> None:
        if self._ctx is None:
            raise BackendError(f"{self.model_id} is closed")

    # -- the rest -----------------------------------------------------------------------

    def apply_chat_template(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
        if self._template is None:
            return super().apply_chat_template(messages, add_generation_prompt=add_generation_prompt)
        text: str = self._template.render(
            messages=[dict(m) for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=self._bos_text,
            eos_token=self._eos_text,
        )
        return text

    @property
    def cache_id(self) -> str:
        # The backend seed enters every sampled draw, so it is part of an output's identity.
        return f"{self.model_id}|seed={self.seed}" if self.seed else self.model_id

    def describe(self) -> dict[str, Any]:
        L = self._L
        info: dict[str, Any] = {**super().describe(), "path": str(self.path)}
        if self._llama is not None:
            ftype = int(L.llama_model_ftype(self._model))
            buf = ctypes.create_string_buffer(256)
            L.llama_model_desc(self._model, buf, 256)
            info.update(
                quantization=_file_type_name(L, ftype),
                model_desc=buf.value.decode("utf-8", errors="replace"),
                n_params=int(L.llama_model_n_params(self._model)),
            )
        info.update(
            n_ctx=self.n_ctx,
            n_batch=self.n_batch,
            n_parallel=self.n_parallel,
            threads=self.n_threads,
            seed=self.seed,
            chat_template=self.chat_template is not None,
            llama_cpp_python=getattr(L, "__version__", "unknown"),
        )
        return info

    def close(self) -> None:
        """Free the batch, the context and the model. Safe to call twice."""
        if self._ctx is not None:
            self._finalizer()
        self._ctx = self._batch = self._llama = None


def _free_native(llama_cpp: Any, ctx: Any, batch: Any, llama: Any) -> None:
    llama_cpp.llama_batch_free(batch)
    llama_cpp.llama_free(ctx)
    llama.close()


@dataclass(eq=False)
class _Sequence:
    """One request being decoded: its prompt, what was generated, and where it stands."""

    index: int
    prompt: list[int]
    params: SamplingParams
    rng: np.random.Generator | None
    slot: int = -1
    n_fed: int = 0  # prompt tokens already sent to llama.cpp
    tokens: list[int] = field(default_factory=list)
    text_bytes: bytearray = field(default_factory=bytearray)
    text: str | None = None  # set when a stop sequence cut the text
    pending: int | None = None  # sampled, not yet sent to llama.cpp
    finish: str | None = None

    @property
    def position(self) -> int:
        """The position of the next token to send (the newest sampled one)."""
        return len(self.prompt) + len(self.tokens) - 1


def _sample(logits: np.ndarray, params: SamplingParams, rng: np.random.Generator) -> int:
    """Draw a token: top-k, then temperature, then top-p (nucleus), as in transformers."""
    scores = logits.astype(np.float64)
    if 0 < params.top_k < scores.size:
        candidates = np.argpartition(scores, -params.top_k)[-params.top_k :]
    else:
        candidates = np.arange(scores.size)
    scaled = scores[candidates] / params.temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    if params.top_p < 1.0:
        # Sorting a 262k vocabulary costs more than a decode step, so only when needed.
        order = np.argsort(-probs, kind="stable")
        keep = min(int(np.searchsorted(np.cumsum(probs[order]), params.top_p)) + 1, order.size)
        candidates, probs = candidates[order[:keep]], probs[order[:keep]]
        probs /= probs.sum()
    return int(candidates[int(rng.choice(candidates.size, p=probs))])


def _find_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the earliest stop sequence starts in ``text``, or None."""
    hits = [text.find(s) for s in stops if s]
    hits = [h for h in hits if h >= 0]
    return min(hits) if hits else None


def _compile_template(source: str) -> Any:
    """Compile a chat template the way transformers does (sandboxed, trimmed blocks)."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    def tojson(value: Any, indent: int | None = None, separators: Any = None, sort_keys: bool = False) -> str:
        return json.dumps(value, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(source)


# llama.cpp has one process-wide log callback. llama-cpp-python's own one reads the log
# levels of an older llama.cpp (it prints warnings as errors and hides real errors), so
# syllabus installs its own: errors always reach stderr, the rest only when verbose.
_GGML_LOG_ERROR, _GGML_LOG_CONT = 4, 5
_log_state: dict[str, Any] = {"verbose": False, "last_level": 0, "callback": None}


def _route_llama_logs(llama_cpp: Any, verbose: bool) -> None:
    _log_state["verbose"] = verbose
    if _log_state["callback"] is not None:
        return

    @llama_cpp.llama_log_callback  # type: ignore[misc]
    def callback(level: int, text: bytes, user_data: Any) -> None:
        if level != _GGML_LOG_CONT:
            _log_state["last_level"] = level
        if _log_state["verbose"] or _log_state["last_level"] >= _GGML_LOG_ERROR:
            sys.stderr.write(text.decode("utf-8", errors="replace"))

    # ctypes must keep the callback object alive, or llama.cpp calls freed memory.
    _log_state["callback"] = callback
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def _available_cpus() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


def _resolve_gguf(spec_rest: str) -> Path:
    if spec_rest.startswith("builtin:"):
        from syllabus.models import builtin_gguf_path

        return builtin_gguf_path(spec_rest.removeprefix("builtin:"))
    path = Path(spec_rest).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"GGUF file not found: {spec_rest!r}. Write llamacpp:PATH/TO/MODEL.gguf, or llamacpp:builtin:NAME "
            "for a builtin model (builtin:gemma-3-270m, builtin:smollm2-135m-instruct)"
        )
    return path


def _file_type_name(llama_cpp: Any, file_type: int) -> str:
    """llama.cpp's name of a file type (``general.file_type``), e.g. 15 -> 'Q4_K_M'."""
    for name in dir(llama_cpp):
        if name.startswith("LLAMA_FTYPE_") and name != "LLAMA_FTYPE_GUESSED" and getattr(llama_cpp, name) == file_type:
            return name.removeprefix("LLAMA_FTYPE_").removeprefix("MOSTLY_")
    return f"file_type {file_type}"
