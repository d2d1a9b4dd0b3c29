"""The ``hf`` backend: a transformers causal LM in this process.

``hf:PATH`` loads a transformers folder (config, safetensors, tokenizer); ``builtin:NAME``
uses this backend on a converted copy of a builtin model. torch and transformers are
imported here only, so ``import syllabus`` stays light.

>>> llm = HFLLM("path/to/smollm2-135m-instruct", dtype="float32")          # doctest: +SKIP
>>> llm.chat("Name a prime number.", max_tokens=8)                        # doctest: +SKIP
"The prime number I'm referring to is"
>>> llm.loglikelihood([LoglikelihoodRequest(context="2+2=", continuation="4")])[0].logprob  # doctest: +SKIP
-2.0258...

Generation is batched: requests are grouped by identical :class:`SamplingParams`, sorted
by prompt length (so that left padding stays small) and run ``batch_size`` at a time
through ``model.generate``; results come back in the order of the requests.

Scoring runs the decoder body once per right-padded batch and applies the LM head only
at the continuation positions (the "gather" trick): the full ``positions x vocab`` logits
are never built, which matters with a 262k vocabulary.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from syllabus.llm.templating import prompt_text, prompt_token_ids
from syllabus.record import Message

if TYPE_CHECKING:
    import torch

__all__ = ["HFLLM", "sample_seed"]

log = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16", "float16")
# Rows of the LM head applied at once when scoring: 256 x 262k fp32 logits is about 270 MB.
HEAD_CHUNK = 256


def sample_seed(params: SamplingParams, sample_index: int, request: GenerateRequest) -> int:
    """The seed of one sampled row: sha256 of (params.seed, sample_index, prompt or messages).

    Each row of a batch draws its tokens from its own ``torch.Generator`` seeded with this
    value, so a row does not depend on which other requests share its batch, and k samples
    of one prompt (sample_index 0..k-1) are k different, reproducible draws.
    """
    content = {"prompt": request.prompt, "messages": list(request.messages) if request.messages is not None else None}
    blob = json.dumps([params.seed, sample_index, content], sort_keys=True, ensure_ascii=False)
    return int(hashlib.sha256(blob.encode("utf-8")).hexdigest()[:15], 16)


def _cpu_has_native_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (x86 avx512_bf16 / AMX, or Arm bf16).

    Without it, bfloat16 matmuls are emulated and run slower than float32.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    words = set(re.findall(r"\b\w+\b", flags))
    return bool(words & {"avx512_bf16", "amx_bf16"}) or ("bf16" in words and "asimd" in words)


def _resolve_dtype(dtype: str, device: str) -> torch.dtype:
    import torch

    if dtype not in DTYPES:
        raise ConfigError(f"Unknown dtype {dtype!r} for the hf backend: choose one of {', '.join(DTYPES)}")
    if dtype != "auto":
        return getattr(torch, dtype)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.startswith("mps"):
        return torch.float16
    return torch.bfloat16 if _cpu_has_native_bf16() else torch.float32


@dataclass
class _Prepared:
    """A generation request after tokenization (``index`` is its place in the caller's list)."""

    index: int
    request: GenerateRequest
    ids: list[int]


class HFLLM(LLM):
    """A transformers causal LM run in process, batched.

    Args:
        path: a transformers model folder (``save_pretrained`` output).
        model_id: the name recorded in reports and cache keys (default ``hf:PATH``).
        dtype: ``"float32"``, ``"bfloat16"``, ``"float16"`` or ``"auto"``: bfloat16 on CUDA
            and on CPUs with native bf16 (avx512_bf16, AMX, Arm bf16), else float32.
        batch_size: sequences per forward pass, for generation and scoring.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
        threads: torch intra-op threads. This is a process-wide torch setting, so it is
            changed only when given.
        ignore_eos: never stop at the end-of-sequence token, so every row generates
            ``max_tokens`` tokens (stop strings still apply). Meant for benchmarks; it
            changes outputs, so it is appended to the model id (``#ignore_eos``).
        share_context: when scoring, run a context shared by several continuations once
            and reuse its key/value cache (see :meth:`loglikelihood`); off, every pair is
            scored in full. Either way the numbers agree to float rounding.

    Example::

        llm = HFLLM("models/gemma-3-270m", dtype="float32", batch_size=8)
        prompt = "The Eiffel Tower is in the city of"
        llm.generate([GenerateRequest(prompt=prompt, params=SamplingParams(max_tokens=6))])
        # [Generation(text=' Paris, France. It is', finish_reason='length', prompt_tokens=9, completion_tokens=6, ...)]

    Sampled outputs (``temperature > 0``) are reproducible: every row samples from its own
    generator seeded by :func:`sample_seed`. The same request in a *different batch* can
    still come out differently, because padding and batch shape change the floating-point
    results slightly; the request cache is what makes reruns exact.
    """

    def __init__(
        self,
        path: str,
        *,
        model_id: str | None = None,
        dtype: str = "auto",
        batch_size: int = 16,
        device: str = "cpu",
        threads: int | None = None,
        ignore_eos: bool = False,
        share_context: bool = True,
    ):
        super().__init__(model_id or f"hf:{path}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if not (Path(path) / "config.json").exists():
            raise ConfigError(
                f"hf backend: {path!r} is not a transformers model folder (no config.json); "
                "pass a folder written by save_pretrained, or use builtin:NAME or llamacpp:FILE.gguf"
            )
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:
            raise MissingDependencyError(f"torch and transformers ({e.name})", package="torch transformers") from None

        if threads is not None:
            torch.set_num_threads(threads)
        self.path = str(path)
        self.device = device
        self.batch_size = batch_size
        self.ignore_eos = ignore_eos
        self.share_context = share_context
        self._decoder_takes_cache: bool | None = None
        self.torch_dtype = _resolve_dtype(dtype, device)
        self.dtype = str(self.torch_dtype).removeprefix("torch.")
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModelForCausalLM.from_pretrained(self.path, dtype=self.torch_dtype).to(device).eval()
        if device == "cpu" and self.torch_dtype == torch.float32:
            _use_tall_skinny_head(self.model)

        config = self.model.config
        gen_config = self.model.generation_config
        eos = gen_config.eos_token_id if gen_config.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids: list[int] = [eos] if isinstance(eos, int) else list(eos or [])
        pad = self.tokenizer.pad_token_id
        self.pad_id: int = pad if pad is not None else (self.eos_ids[0] if self.eos_ids else 0)
        self.has_chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.max_context: int = int(getattr(config, "max_position_embeddings", 0) or 2048)
        self.capabilities = Capabilities(
            generate=True,
            loglikelihood=True,
            logits=True,
            chat_template=self.has_chat_template,
            max_context=self.max_context,
        )

    # ------------------------------------------------------------------ prompts

    def apply_chat_template(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
        """The tokenizer's chat template, or the plain rendering when it has none."""
        if not self.has_chat_template:
            return super().apply_chat_template(messages, add_generation_prompt=add_generation_prompt)
        if add_generation_prompt:
            return prompt_text(self.tokenizer, messages)
        text = self.tokenizer.apply_chat_template([dict(m) for m in messages], tokenize=False, add_generation_prompt=False)
        return str(text)

    def _encode_prompt(self, request: GenerateRequest) -> list[int]:
        if request.prompt is not None:
            return self._encode(request.prompt, special=True)
        # The same tokens the training recipes put before an answer (syllabus.llm.templating).
        return prompt_token_ids(self.tokenizer, request.messages or ())

    def _encode(self, text: str, *, special: bool) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=special).input_ids)

    # ------------------------------------------------------------------ generate

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        """Batched generation; see the class docstring for batching and seeding."""
        prepared = [_Prepared(i, r, self._encode_prompt(r)) for i, r in enumerate(requests)]
        groups: dict[SamplingParams, list[_Prepared]] = {}
        for p in prepared:
            groups.setdefault(p.request.params, []).append(p)
        out: list[Generation | None] = [None] * len(requests)
        for params, members in groups.items():
            members.sort(key=lambda p: len(p.ids))
            for start in range(0, len(members), self.batch_size):
                batch = members[start : start + self.batch_size]
                for p, g in zip(batch, self._generate_batch(params, batch), strict=True):
                    out[p.index] = g
        return [g for g in out if g is not None]

    def _generate_batch(self, params: SamplingParams, batch: list[_Prepared]) -> list[Generation]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        width = max(len(p.ids) for p in batch)
        max_new = min(params.max_tokens, self.max_context - width)
        if max_new < 1:
            raise BackendError(
                f"{self.model_id}: a prompt of {width} tokens leaves no room to generate in the "
                f"{self.max_context}-token context; shorten the prompt"
            )
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, p in enumerate(batch):  # left padding: the new tokens of all rows line up
            ids[row, width - len(p.ids) :] = torch.tensor(p.ids)
            mask[row, width - len(p.ids) :] = 1

        processors = LogitsProcessorList()
        if not params.greedy:
            seeds = [sample_seed(params, p.request.sample_index, p.request) for p in batch]
            processors.append(_RowSampler(params, seeds, self.device))
        stopper = _StopStrings(self.tokenizer, params.stop, width) if params.stop else None
        kwargs: dict[str, Any] = {}
        if self.ignore_eos:
            kwargs["min_new_tokens"] = max_new
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                max_new_tokens=max_new,
                # Sampling happens in _RowSampler (one generator per row); generate then
                # takes the argmax of a one-hot distribution, which is the sampled token.
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                logits_processor=processors,
                stopping_criteria=StoppingCriteriaList([stopper] if stopper else []),
                pad_token_id=self.pad_id,
                eos_token_id=self.eos_ids or None,
                **kwargs,
            )
        new_tokens = output[:, width:].tolist()
        results = []
        for row, p in enumerate(batch):
            results.append(self._finish(p, new_tokens[row], params, stopper.stopped_at.get(row) if stopper else None))
        return results

    def _finish(self, p: _Prepared, tokens: list[int], params: SamplingParams, stopped_at: int | None) -> Generation:
        """Cut one row at EOS or at its first stop string and say why it ended."""
        eos_at = None if self.ignore_eos else next((i for i, t in enumerate(tokens) if t in self.eos_ids), None)
        if eos_at is not None and (stopped_at is None or eos_at < stopped_at):
            # The EOS token was generated, so it counts as a completion token (as in OpenAI usage).
            kept, completion, ended = tokens[:eos_at], eos_at + 1, True
        elif stopped_at is not None:
            kept, completion, ended = tokens[:stopped_at], stopped_at, True
        else:
            kept, completion, ended = tokens, len(tokens), False
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        cut = [text.index(s) for s in params.stop if s and s in text]
        if cut:
            text, ended = text[: min(cut)], True
        return Generation(
            text=text,
            model=self.model_id,
            finish_reason="stop" if ended else "length",
            prompt_tokens=len(p.ids),
            completion_tokens=completion,
        )

    # ------------------------------------------------------------------ loglikelihood

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        """Exact sum of log p(continuation | context), batched and right-padded.

        Tokenization follows lm-evaluation-harness: the continuation's tokens are the tail of
        ``tokenize(context + continuation)`` beyond ``tokenize(context)`` when the latter is
        a prefix of the former (so a word split across the boundary is scored as the model
        would see it); otherwise both are tokenized separately and concatenated. A context
        rendered from ``messages`` uses the chat template with the generation prompt. When
        context + continuation exceed the model's context, the context is cut from the left
        (a warning says how many tokens were dropped).

        Requests whose contexts tokenize identically (the choices of a multiple-choice
        item) share one forward pass of the context: its key/value cache is computed once
        and reused for every continuation (see :meth:`_score_plan`). The numbers agree
        with scoring each pair in full to float rounding (about 1e-5 on summed fp32
        log-likelihoods); ``share_context=False`` turns this off.
        """
        pairs = [self._score_tokens(r) for r in requests]
        out: list[Loglikelihood | None] = [None] * len(requests)
        for chunk, shared in self._score_plan(pairs):
            batch = [pairs[i] for i in chunk]
            scored = self._score_shared_batch(batch) if shared else self._score_batch(batch)
            for i, (logprobs, greedy) in zip(chunk, scored, strict=True):
                cont = requests[i].continuation
                out[i] = Loglikelihood(
                    logprob=float(sum(logprobs)),
                    is_greedy=greedy,
                    n_tokens=len(logprobs),
                    n_bytes=len(cont.encode("utf-8")),
                    token_logprobs=logprobs,
                )
        return [r for r in out if r is not None]

    def _score_tokens(self, request: LoglikelihoodRequest) -> tuple[list[int], list[int]]:
        """(context ids, continuation ids) for one request, truncated to the context size."""
        if request.messages is not None:
            special = not self.has_chat_template  # the template brings its own special tokens
            context = self.apply_chat_template(request.messages, add_generation_prompt=True)
        else:
            special, context = True, request.context or ""
        ctx, cont = split_continuation(
            lambda text, add: self._encode(text, special=add), context, request.continuation, special=special
        )
        if not request.continuation:
            return ctx, []
        if not ctx:
            # Nothing to condition the first token on: use BOS (or EOS), as lm-eval does.
            bos = self.tokenizer.bos_token_id
            ctx = [bos if bos is not None else (self.eos_ids[0] if self.eos_ids else self.pad_id)]
        if len(cont) >= self.max_context:
            raise BackendError(
                f"{self.model_id}: the continuation alone is {len(cont)} tokens, more than the "
                f"{self.max_context}-token context; score it in parts"
            )
        excess = len(ctx) + len(cont) - self.max_context
        if excess > 0:
            log.warning("%s: context cut from the left by %d tokens to fit %d", self.model_id, excess, self.max_context)
            ctx = ctx[excess:]
        return ctx, cont

    def _score_batch(self, pairs: list[tuple[list[int], list[int]]]) -> list[tuple[list[float], bool]]:
        import torch

        width = max(len(c) + len(x) for c, x in pairs)
        ids = torch.full((len(pairs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(pairs), width), dtype=torch.long)
        rows, positions, targets = [], [], []
        for row, (ctx, cont) in enumerate(pairs):
            seq = ctx + cont
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
            # The token at position t is predicted by the hidden state at t - 1.
            rows += [row] * len(cont)
            positions += range(len(ctx) - 1, len(seq) - 1)
            targets += cont
        if not targets:
            return [([], True) for _ in pairs]
        with torch.inference_mode():
            decoder = self.model.get_decoder()
            hidden = decoder(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), use_cache=False)
            hidden = hidden.last_hidden_state
            picked = hidden[torch.tensor(rows), torch.tensor(positions)]
            return self._head_scores(picked, targets, pairs)

    def _score_plan(self, pairs: list[tuple[list[int], list[int]]]) -> list[tuple[list[int], bool]]:
        """Batches of request indices, each flagged True when it runs with shared contexts.

        Pairs are grouped by their context ids. A group of two or more continuations (whose
        context has at least two tokens) is scored with one pass over the context and one
        over the continuations; groups are packed whole, longest first, into batches of at
        most ``batch_size`` continuations (a larger group is split). The other pairs are
        batched as before: sorted by length, longest first, right-padded.
        """
        groups: dict[tuple[int, ...], list[int]] = {}
        single: list[int] = []  # empty continuations score 0 and need no sharing
        for i, (ctx, cont) in enumerate(pairs):
            if cont:
                groups.setdefault(tuple(ctx), []).append(i)
            else:
                single.append(i)
        # Contexts are right-padded in the shared pass, so the continuation of a shorter one
        # sits after a gap of pad positions. Under a sliding window that gap would change
        # which keys a layer sees, so a shared batch stays narrower than the window (a group
        # that cannot takes the plain path).
        window = getattr(self.model.config, "sliding_window", None) or 0
        limit = window if window else float("inf")
        shared: list[tuple[int, int, list[int]]] = []  # (context length, longest continuation, members)
        for ctx, members in groups.items():
            longest = max(len(pairs[i][1]) for i in members)
            if self._can_share() and len(members) > 1 and len(ctx) > 1 and len(ctx) + longest < limit:
                shared += [(len(ctx), longest, members[s : s + self.batch_size]) for s in range(0, len(members), self.batch_size)]
            else:
                single += members
        shared.sort(key=lambda g: -(g[0] + g[1]))
        single.sort(key=lambda i: -(len(pairs[i][0]) + len(pairs[i][1])))
        plan: list[tuple[list[int], bool]] = []
        current: list[int] = []
        ctx_width = cont_width = 0
        for n_ctx, longest, members in shared:
            too_many = len(current) + len(members) > self.batch_size
            too_wide = max(ctx_width, n_ctx) + max(cont_width, longest) >= limit
            if current and (too_many or too_wide):
                plan.append((current, True))
                current, ctx_width, cont_width = [], 0, 0
            current = current + members
            ctx_width, cont_width = max(ctx_width, n_ctx), max(cont_width, longest)
        if current:
            plan.append((current, True))
        plan += [(single[s : s + self.batch_size], False) for s in range(0, len(single), self.batch_size)]
        return plan

    def _can_share(self) -> bool:
        """Whether context sharing is on and the decoder takes a cache and explicit positions."""
        if not self.share_context:
            return False
        if self._decoder_takes_cache is None:
            import inspect

            params = inspect.signature(self.model.get_decoder().forward).parameters
            self._decoder_takes_cache = {"past_key_values", "position_ids"} <= set(params)
        return self._decoder_takes_cache

    def _score_shared_batch(self, pairs: list[tuple[list[int], list[int]]]) -> list[tuple[list[float], bool]]:
        """Score continuations of shared contexts: the contexts once, then all continuations.

        Pass 1 runs the distinct contexts minus their last token (right-padded) and keeps
        the key/value cache. The cache is then repeated once per continuation, and pass 2
        runs ``[last context token] + continuation[:-1]`` for every row (right-padded, with
        explicit positions and a mask over the padded contexts), so the hidden state at
        step j predicts continuation token j. Only those states go through the LM head.
        """
        import torch

        prefixes: dict[tuple[int, ...], int] = {}
        row_prefix = [prefixes.setdefault(tuple(ctx[:-1]), len(prefixes)) for ctx, _ in pairs]
        pre_width = max(len(p) for p in prefixes)
        pre_ids = torch.full((len(prefixes), pre_width), self.pad_id, dtype=torch.long)
        pre_mask = torch.zeros((len(prefixes), pre_width), dtype=torch.long)
        for row, p in enumerate(prefixes):
            pre_ids[row, : len(p)] = torch.tensor(p)
            pre_mask[row, : len(p)] = 1
        width = max(len(cont) for _, cont in pairs)
        ids = torch.full((len(pairs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(pairs), width), dtype=torch.long)
        positions = torch.zeros((len(pairs), width), dtype=torch.long)
        rows, steps, targets = [], [], []
        for row, (ctx, cont) in enumerate(pairs):
            seq = [ctx[-1], *cont[:-1]]
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
            positions[row] = torch.arange(len(ctx) - 1, len(ctx) - 1 + width)
            rows += [row] * len(cont)
            steps += range(len(cont))
            targets += cont
        pick = torch.tensor(row_prefix)
        with torch.inference_mode():
            decoder = self.model.get_decoder()
            dev = self.device
            first = decoder(
                input_ids=pre_ids.to(dev),
                attention_mask=pre_mask.to(dev),
                position_ids=torch.arange(pre_width)[None].expand(len(prefixes), -1).to(dev),
                use_cache=True,
            )
            cache = first.past_key_values
            cache.reorder_cache(pick.to(dev))  # one copy of its context's cache per row
            hidden = decoder(
                input_ids=ids.to(dev),
                attention_mask=torch.cat([pre_mask[pick], mask], dim=1).to(dev),
                position_ids=positions.to(dev),
                past_key_values=cache,
                use_cache=True,
            ).last_hidden_state
            picked = hidden[torch.tensor(rows), torch.tensor(steps)]
            return self._head_scores(picked, targets, pairs)

    def _head_scores(
        self, picked: torch.Tensor, targets: list[int], pairs: list[tuple[list[int], list[int]]]
    ) -> list[tuple[list[float], bool]]:
        """LM head, log-softmax and greedy check on the gathered hidden states, in chunks."""
        import torch

        target = torch.tensor(targets, device=self.device)
        logprobs, greedy = [], []
        for start in range(0, len(targets), HEAD_CHUNK):
            logits = self._head(picked[start : start + HEAD_CHUNK]).float()
            lp = logits.log_softmax(-1)
            t = target[start : start + HEAD_CHUNK]
            logprobs.append(lp.gather(1, t[:, None]).squeeze(1))
            greedy.append(logits.argmax(-1) == t)
        all_lp = torch.cat(logprobs).cpu().tolist()
        all_greedy = torch.cat(greedy).cpu().tolist()
        results, at = [], 0
        for _, cont in pairs:
            n = len(cont)
            results.append(([float(x) for x in all_lp[at : at + n]], all(all_greedy[at : at + n])))
            at += n
        return results

    def _head(self, hidden: torch.Tensor) -> torch.Tensor:
        """The LM head as the model's own forward applies it (Gemma 2 style soft-capping included)."""
        import torch

        logits = self.model.get_output_embeddings()(hidden)
        cap = getattr(self.model.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits

    # ------------------------------------------------------------------ next-token log-probabilities

    # The last batch of next_token_logprobs: (its prefixes, their key/value cache, its mask,
    # its log-probabilities), so that a decode loop only runs each step's new tokens.
    _step_cache: tuple[list[list[int]], Any, Any, Any] | None = None

    def next_token_logprobs(self, prefixes: Sequence[Sequence[int]]) -> torch.Tensor:
        """Log-probabilities of the token after each prefix: a ``(batch, vocab)`` float32 tensor.

        This is the ``logits`` capability (the decoding methods of
        :mod:`syllabus.methods.logit_mix` use it). The batch is left-padded with explicit
        positions, so a row is what the model gives its prefix alone, to float rounding.
        The key/value cache of the last call is kept: when every prefix is the previous
        call's prefix plus one token (a decode step), only the new tokens are run; the same
        prefixes again return the same tensor values; anything else starts afresh. The
        tensor is on the model's device.
        """
        import torch

        rows = [[int(t) for t in p] for p in prefixes]
        if not rows or not all(rows):
            raise BackendError(f"{self.model_id}: next_token_logprobs needs at least one prefix, none of them empty")
        last, self._step_cache = self._step_cache, None  # not left behind half-updated if the pass fails
        dev = self.device
        with torch.inference_mode():
            decoder = self.model.get_decoder()
            if last is not None and last[0] == rows:
                self._step_cache = last
                return last[3].clone()
            if last is not None and len(last[0]) == len(rows) and all(
                len(new) == len(old) + 1 and new[:-1] == old for new, old in zip(rows, last[0], strict=True)
            ):
                cache = last[1]
                mask = torch.cat([last[2], torch.ones((len(rows), 1), dtype=torch.long, device=dev)], dim=1)
                hidden = decoder(
                    input_ids=torch.tensor([[p[-1]] for p in rows], device=dev),
                    attention_mask=mask,
                    position_ids=torch.tensor([[len(p) - 1] for p in rows], device=dev),
                    past_key_values=cache,
                    use_cache=True,
                )
            else:
                width = max(len(p) for p in rows)
                ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for row, p in enumerate(rows):
                    ids[row, width - len(p) :] = torch.tensor(p)
                    mask[row, width - len(p) :] = 1
                mask = mask.to(dev)
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                hidden = decoder(input_ids=ids.to(dev), attention_mask=mask, position_ids=positions, use_cache=True)
                cache = hidden.past_key_values
            logprobs = self._head(hidden.last_hidden_state[:, -1]).float().log_softmax(-1)
        self._step_cache = (rows, cache, mask, logprobs)
        return logprobs.clone()

    # ------------------------------------------------------------------ reporting

    @property
    def cache_id(self) -> str:
        # dtype changes the numbers (bf16 and fp32 greedy paths diverge), and ignore_eos
        # changes where generation ends: both are part of what an output is.
        return f"{self.model_id}|dtype={self.dtype}" + ("|ignore_eos" if self.ignore_eos else "")

    def describe(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "backend": "hf",
            "path": self.path,
            "dtype": self.dtype,
            "device": self.device,
            "batch_size": self.batch_size,
            "threads": _torch_threads(),
            "ignore_eos": self.ignore_eos,
            "share_context": self.share_context,
            "max_context": self.max_context,
        }

    def close(self) -> None:
        # Drop the references so the weights can be freed; a second call is harmless.
        self.__dict__.pop("model", None)
        self._step_cache = None


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _use_tall_skinny_head(model: Any) -> None:
    """Compute the LM head as ``W @ h.T`` instead of ``h @ W.T`` (same values, other kernel).

    With a large vocabulary the head is the biggest matmul of a decode step. On CPU in
    float32, MKL runs the (vocab x hidden) @ (hidden x batch) form about 1.6x faster than
    ``F.linear`` for 8-32 rows (measured on a 2-core AVX2 machine with a 262k vocabulary).
    The weight stays the same tensor, so tied embeddings stay tied.
    """
    import torch

    linear = model.get_output_embeddings()
    if type(linear) is not torch.nn.Linear:
        return

    class TallSkinnyHead(torch.nn.Module):
        def __init__(self, inner: torch.nn.Linear):
            super().__init__()
            self.weight = inner.weight
            self.bias = inner.bias
            self.in_features, self.out_features = inner.in_features, inner.out_features

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            flat = x.reshape(-1, x.shape[-1])
            out = torch.mm(self.weight, flat.T).T.contiguous()
            if self.bias is not None:
                out = out + self.bias
            return out.reshape(*x.shape[:-1], self.out_features)

    model.set_output_embeddings(TallSkinnyHead(linear))


class _RowSampler:
    """Temperature / top-k / top-p sampling with one ``torch.Generator`` per row.

    Used as the last logits processor with ``do_sample=False``: it returns a one-hot score
    row (0 for the drawn token, -inf elsewhere), so generate's argmax picks the drawn token.
    """

    def __init__(self, params: SamplingParams, seeds: list[int], device: str):
        import torch

        self.params = params
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        logits = scores.float() / self.params.temperature
        if self.params.top_k > 0:
            kth = torch.topk(logits, min(self.params.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = logits.softmax(-1)
        if self.params.top_p < 1.0:
            probs = _nucleus(probs, self.params.top_p)
        out = torch.full_like(scores, float("-inf"))
        for row, generator in enumerate(self.generators):
            token = torch.multinomial(probs[row], 1, generator=generator)
            out[row, token] = 0.0
        return out


def _nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose mass reaches ``top_p`` (at least one).

    Sorting a 262k vocabulary per row per step is slow, so the candidates are first the top
    256; only rows whose top 256 do not reach ``top_p`` are sorted in full. The result is
    the same either way.
    """
    import torch

    k = min(256, probs.shape[-1])
    values, indices = torch.topk(probs, k, dim=-1)
    if bool((values.sum(-1) < top_p).any()):
        values, indices = torch.sort(probs, dim=-1, descending=True)
    before = values.cumsum(-1) - values  # mass of the strictly more likely tokens
    values = values.masked_fill(before >= top_p, 0.0)
    kept = torch.zeros_like(probs).scatter_(-1, indices, values)
    return kept / kept.sum(-1, keepdim=True)


class _StopStrings:
    """Marks a row done once its generated text contains a stop string.

    Only the last few tokens are decoded each step (enough to hold the longest stop string
    even if every token were a single byte), so the cost does not grow with the output.
    ``stopped_at[row]`` is the number of generated tokens when the row stopped.
    """

    def __init__(self, tokenizer: Any, stops: Sequence[str], prompt_width: int):
        self.tokenizer = tokenizer
        self.stops = [s for s in stops if s]
        self.prompt_width = prompt_width
        self.window = 4 * max((len(s.encode("utf-8")) for s in self.stops), default=1) + 4
        self.stopped_at: dict[int, int] = {}

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        import torch

        generated = input_ids.shape[1] - self.prompt_width
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        start = max(self.prompt_width, input_ids.shape[1] - self.window)
        tails = self.tokenizer.batch_decode(input_ids[:, start:].tolist(), skip_special_tokens=True)
        for row, tail in enumerate(tails):
            if row in self.stopped_at:
                done[row] = True
            elif any(s in tail for s in self.stops):
                self.stopped_at[row] = generated
                done[row] = True
        return done

