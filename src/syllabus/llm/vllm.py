"""The ``vllm`` backend: vLLM in process, on a GPU.

``vllm:PATH_OR_NAME`` loads a transformers folder or a hub name; ``vllm:builtin:NAME``
loads the safetensors copy of a builtin model (converted once, see :mod:`syllabus.models`).
vLLM is an optional dependency (``pip install 'syllabus[vllm]'``) and is imported only
when this backend is built.

Every request is one vLLM prompt with ``n=1``: k samples of a prompt are k requests with
seeds ``params.seed + sample_index``, so each sample is its own cache entry and a rerun
reproduces it. The whole request list goes to one ``LLM.generate`` call, and vLLM's
scheduler batches it.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from typing import Any

from syllabus.errors import BackendError, MissingDependencyError
from syllabus.llm.base import (
    LLM,
    Capabilities,
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
)
from syllabus.record import Message

__all__ = ["VLLMLLM"]

log = logging.getLogger(__name__)


class VLLMLLM(LLM):
    """vLLM in process (GPU): batched generation and prompt-logprob scoring.

    Example::

        llm = VLLMLLM("Qwen/Qwen2.5-0.5B-Instruct", max_model_len=4096)
        llm.chat("Name a prime number.", max_tokens=16)
        llm.loglikelihood([LoglikelihoodRequest(context="2+2=", continuation="4")])

    ``engine_options`` go to ``vllm.LLM`` unchanged (``quantization``, ``enforce_eager``,
    ``enable_prefix_caching``, ...).
    """

    def __init__(
        self,
        spec_rest: str,
        *,
        dtype: str = "auto",
        seed: int = 0,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        tensor_parallel_size: int = 1,
        model_id: str | None = None,
        **engine_options: Any,
    ):
        try:
            import vllm
        except ImportError:
            raise MissingDependencyError("vllm", extra="vllm") from None
        path = _resolve_path(spec_rest)
        super().__init__(model_id or f"vllm:{spec_rest}")
        self._vllm = vllm
        self._path = path
        self._engine: Any = vllm.LLM(
            model=path,
            dtype=dtype,
            seed=seed,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            tensor_parallel_size=tensor_parallel_size,
            **engine_options,
        )
        self._tokenizer = self._engine.get_tokenizer()
        self._dtype = dtype
        max_len = self._model_config().max_model_len
        self.capabilities = Capabilities(
            loglikelihood=True,
            chat_template=getattr(self._tokenizer, "chat_template", None) is not None,
            max_context=int(max_len),
        )

    def _model_config(self) -> Any:
        # Recent releases expose it on LLM itself; all of them on the engine inside.
        return getattr(self._engine, "model_config", None) or self._engine.llm_engine.model_config

    # -- generation ---------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        if not requests:
            return []
        prompts = [self._prompt(r) for r in requests]
        params = [self._sampling_params(r) for r in requests]
        outputs = self._run(prompts, params)
        generations = []
        for out in outputs:
            completion = out.outputs[0]
            generations.append(
                Generation(
                    text=completion.text,
                    model=self.model_id,
                    # vLLM says "stop" for EOS and stop strings, "length" at max_tokens.
                    finish_reason="length" if completion.finish_reason == "length" else "stop",
                    prompt_tokens=len(out.prompt_token_ids or ()),
                    completion_tokens=len(completion.token_ids),
                )
            )
        return generations

    def _prompt(self, request: GenerateRequest) -> Any:
        if request.prompt is not None:
            # vLLM tokenizes a text prompt with the tokenizer's special tokens (BOS), as
            # transformers would.
            return request.prompt
        return {"prompt_token_ids": self._chat_ids(request.messages or ())}

    def _chat_ids(self, messages: Sequence[Message]) -> list[int]:
        # The template writes BOS itself where the model wants it, so the rendered text is
        # encoded without adding special tokens again (no double BOS).
        text = self.apply_chat_template(messages, add_generation_prompt=True)
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def _sampling_params(self, request: GenerateRequest) -> Any:
        p = request.params
        return self._vllm.SamplingParams(
            n=1,
            temperature=p.temperature,
            top_p=p.top_p,
            # -1 disables top-k in every vLLM release (newer ones also take 0).
            top_k=p.top_k if p.top_k > 0 else -1,
            max_tokens=p.max_tokens,
            stop=list(p.stop) or None,
            # One seed per sample: sample k of a prompt is reproducible on its own.
            seed=p.seed + request.sample_index,
        )

    def _run(self, prompts: list[Any], params: list[Any]) -> list[Any]:
        try:
            return list(self._engine.generate(prompts, params, use_tqdm=False))
        except ValueError as e:  # e.g. a prompt longer than max_model_len
            raise BackendError(f"{self.model_id}: {e}") from e

    # -- scoring ------------------------------------------------------------------------

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        if not requests:
            return []
        pairs = [self._encode_pair(r) for r in requests]
        scored = [i for i, (_, cont) in enumerate(pairs) if cont]
        # max_tokens=1 because vLLM must generate something; prompt_logprobs=1 returns, at
        # every prompt position, the prompt token's logprob and rank (and the top token).
        score = self._vllm.SamplingParams(n=1, temperature=0.0, max_tokens=1, prompt_logprobs=1)
        prompts = [{"prompt_token_ids": pairs[i][0] + pairs[i][1]} for i in scored]
        outputs = dict(zip(scored, self._run(prompts, [score] * len(prompts)) if prompts else [], strict=True))
        results = []
        for i, ((ctx, cont), request) in enumerate(zip(pairs, requests, strict=True)):
            out = outputs.get(i)  # None only for an empty continuation
            token_logprobs, greedy = _continuation_logprobs(out, len(ctx), cont) if out is not None else ([], True)
            results.append(
                Loglikelihood(
                    logprob=float(sum(token_logprobs)),
                    is_greedy=greedy,
                    n_tokens=len(cont),
                    n_bytes=len(request.continuation.encode("utf-8")),
                    token_logprobs=token_logprobs,
                )
            )
        return results

    def _encode_pair(self, request: LoglikelihoodRequest) -> tuple[list[int], list[int]]:
        """Context and continuation token ids, tokenized as the ``hf`` backend does.

        As in lm-evaluation-harness, the continuation is the tail of
        ``tokenize(context + continuation)`` beyond ``tokenize(context)`` when the latter
        is a prefix of the former; otherwise both parts are tokenized apart. An empty
        context becomes BOS (or EOS); a context too long for the model is cut from the left.
        """
        if request.messages is not None:
            templated = getattr(self._tokenizer, "chat_template", None) is not None
            context = self.apply_chat_template(request.messages, add_generation_prompt=True)
        else:
            templated, context = False, request.context or ""
        # A rendered template writes its own special tokens; a raw context gets BOS.
        special = not templated
        ctx = list(self._tokenizer.encode(context, add_special_tokens=special))
        if not request.continuation:
            return ctx, []
        whole = list(self._tokenizer.encode(context + request.continuation, add_special_tokens=special))
        if len(whole) > len(ctx) and whole[: len(ctx)] == ctx:
            cont = whole[len(ctx) :]
        else:
            cont = list(self._tokenizer.encode(request.continuation, add_special_tokens=False))
        if not ctx:
            bos = self._tokenizer.bos_token_id
            ctx = [bos if bos is not None else self._tokenizer.eos_token_id]
        limit = int(self.capabilities.max_context or 0)
        if limit and len(cont) >= limit:
            raise BackendError(
                f"{self.model_id}: the continuation alone is {len(cont)} tokens, more than the "
                f"{limit}-token context; score it in parts"
            )
        excess = len(ctx) + len(cont) - limit if limit else 0
        if excess > 0:
            log.warning("%s: context cut from the left by %d tokens to fit %d", self.model_id, excess, limit)
            ctx = ctx[excess:]
        return ctx, cont

    # -- the rest -----------------------------------------------------------------------

    def apply_chat_template(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
        if getattr(self._tokenizer, "chat_template", None) is None:
            return super().apply_chat_template(messages, add_generation_prompt=add_generation_prompt)
        text: str = self._tokenizer.apply_chat_template(
            [dict(m) for m in messages], tokenize=False, add_generation_prompt=add_generation_prompt
        )
        return text

    def describe(self) -> dict[str, Any]:
        config = self._model_config() if self._engine is not None else None
        return {
            **super().describe(),
            "path": self._path,
            "vllm_version": getattr(self._vllm, "__version__", "unknown"),
            "dtype": str(config.dtype) if config is not None else self._dtype,
            "quantization": getattr(config, "quantization", None),
            "max_model_len": self.capabilities.max_context,
        }

    def close(self) -> None:
        if self._engine is None:
            return
        self._engine = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover - vLLM always brings torch
            pass


def _continuation_logprobs(output: Any, start: int, continuation: list[int]) -> tuple[list[float], bool]:
    """Read the continuation's log-probabilities from a vLLM output's ``prompt_logprobs``.

    ``prompt_logprobs[p]`` maps token ids to ``Logprob(logprob, rank, ...)`` for position
    ``p``: the prompt's own token is always there, with its rank (1 = the argmax).
    """
    logprobs: list[float] = []
    greedy = True
    for position, token in enumerate(continuation, start=start):
        entry = output.prompt_logprobs[position]
        chosen = entry[token]
        logprobs.append(float(chosen.logprob))
        rank = getattr(chosen, "rank", None)
        if rank is not None:
            greedy = greedy and rank == 1
        else:
            greedy = greedy and chosen.logprob >= max(lp.logprob for lp in entry.values())
    return logprobs, greedy


def _resolve_path(spec_rest: str) -> str:
    """``builtin:NAME`` -> the converted safetensors folder; anything else unchanged."""
    if spec_rest.startswith("builtin:"):
        from syllabus.models import builtin_hf_dir

        return str(builtin_hf_dir(spec_rest.removeprefix("builtin:")))
    return spec_rest
