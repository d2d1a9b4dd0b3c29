"""``heldout-nll``: how likely the model finds reference responses, in nats and bits per byte.

The most direct "did the student absorb the teacher?" signal: hold out some teacher-written
examples, and score ``log p(response | prompt)`` of their responses (the response tokens
only) before and after training. It moves within minutes of LoRA, needs no generation,
and is deterministic.

Per example (all lower-is-better):

* ``nll``: mean negative log-likelihood per response token (nats/token);
* ``nll_sum``: total negative log-likelihood of the response (nats);
* ``bits_per_byte``: ``nll_sum / ln 2 / utf-8 bytes of the response``. Unlike per-token
  numbers it does not depend on the tokenizer, so models with different vocabularies
  are comparable.

Aggregated, ``nll`` and ``nll_sum`` are means over examples (t interval), but
``bits_per_byte`` is **pooled**: ``sum(nll_sum) / ln 2 / sum(bytes)`` over all examples,
as lm-evaluation-harness computes it (a weighted mean: every byte counts once, so a
one-word response does not weigh as much as a page). Its 95% interval is a percentile
bootstrap that resamples examples and recomputes the pooled ratio. (Per-example values
are still stored, so ``syllabus compare`` pairs them item by item.)

Data: ``path`` names a file of syllabus Examples with a ``completion`` (or a
``reference``), or anything :func:`syllabus.formats.read_any` reads (OpenAI messages,
prompt/completion, Alpaca, ShareGPT; JSONL, JSON or Parquet). Prompts go through the
model's chat template (``template="chat"``; backends without one render the turns
plainly), or as raw text (``template="plain"``: last user message + ``separator``).
Without ``path``, the questions and correct answers of the packaged multiple-choice
sample are used: a smoke test, not a benchmark.

>>> task = HeldoutNLL(template="plain")
>>> example = task.load()[0]
>>> request = task.requests(example)[0]
>>> request.context, request.continuation
('What colour is the sky on a clear day?\\n', 'blue')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Literal

import numpy as np

from syllabus.errors import ConfigError, DataError
from syllabus.evaluate.stats import Estimate
from syllabus.evaluate.task import Output, Request, Task
from syllabus.evaluate.tasks.multiple_choice import load_mc_file, packaged_data
from syllabus.llm.base import Loglikelihood, LoglikelihoodRequest
from syllabus.record import Example

__all__ = ["HeldoutNLL", "pooled_ratio_ci"]

LN2 = math.log(2)
# Bootstrap draws are made in chunks of at most this many cells (resamples x items).
_MAX_CELLS = 2_000_000


def pooled_ratio_ci(
    numerators: Sequence[float], denominators: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> Estimate:
    """``sum(numerators) / sum(denominators)`` with a percentile bootstrap over items.

    Items are resampled as pairs, so the interval reflects both how much items vary and
    how their sizes vary. Seeded: the same inputs give the same interval.

    >>> est = pooled_ratio_ci([2.0, 4.0, 6.0], [1.0, 1.0, 2.0])
    >>> est.value, est.method, est.low <= est.value <= est.high
    (3.0, 'bootstrap-pooled', True)
    """
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    if num.shape != den.shape or num.ndim != 1 or num.size == 0:
        raise DataError("pooled_ratio_ci needs two equally long, non-empty lists")
    if np.any(den <= 0):
        raise DataError("pooled_ratio_ci: every denominator must be > 0")
    value = float(num.sum() / den.sum())
    rng = np.random.default_rng(seed)
    n = num.size
    chunk = max(1, _MAX_CELLS // n)
    ratios: list[np.ndarray] = []
    for start in range(0, resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, resamples - start), n))
        ratios.append(num[idx].sum(axis=1) / den[idx].sum(axis=1))
    alpha = 1 - confidence
    low, high = np.quantile(np.concatenate(ratios), [alpha / 2, 1 - alpha / 2])
    return Estimate(value, float(low), float(high), n, "bootstrap-pooled", confidence)


@dataclass
class HeldoutNLL(Task):
    """Negative log-likelihood and bits per byte of reference responses (see module doc)."""

    name: ClassVar[str] = "heldout-nll"
    version: ClassVar[str] = "1"
    kind: ClassVar[Literal["generate", "loglikelihood"]] = "loglikelihood"
    metrics: ClassVar[tuple[str, ...]] = ("nll", "nll_sum", "bits_per_byte")
    lower_is_better: ClassVar[tuple[str, ...]] = ("nll", "nll_sum", "bits_per_byte")
    source: ClassVar[str] = "held-out examples with reference responses (default: syllabus's own MC sample answers)"

    path: str | None = field(default=None, metadata={"help": "examples with completions (default: the packaged MC sample)"})
    format: str = field(default="auto", metadata={"help": "record format of path (auto-detected by default)"})
    template: Literal["chat", "plain"] = field(default="chat", metadata={"help": "chat template, or raw prompt text + separator"})
    separator: str = field(default="\n", metadata={"help": "between prompt and response when template=plain"})

    @cached_property
    def _examples(self) -> list[Example]:
        if self.path is None:
            examples = load_mc_file(packaged_data("mc_sample.jsonl"), "mc")
            for e in examples:
                e.completion = e.reference
            return examples
        from syllabus.formats import read_any

        examples = list(read_any(self.path, self.format))
        if not examples:
            raise DataError(f"{self.path}: no examples")
        for number, e in enumerate(examples, 1):
            response = self.response(e)
            if not response:
                raise DataError(f"{self.path}: example {number} (id {e.id!r}) has no completion or reference to score")
        return examples

    def load(self) -> list[Example]:
        return list(self._examples)

    @staticmethod
    def response(example: Example) -> str:
        """The scored text: the completion, or the reference when there is none."""
        return example.completion if example.completion is not None else (example.reference or "")

    def requests(self, example: Example) -> list[Request]:
        if self.num_fewshot:
            raise ConfigError("heldout-nll takes no demonstrations: scoring conditions on the example's own prompt")
        response = self.response(example)
        if self.template == "plain":
            return [LoglikelihoodRequest(context=example.prompt + self.separator, continuation=response)]
        return [LoglikelihoodRequest(messages=tuple(example.messages), continuation=response)]

    def score(self, example: Example, outputs: Sequence[Output]) -> dict[str, float]:
        (ll,) = outputs
        if not isinstance(ll, Loglikelihood):
            raise ConfigError("heldout-nll needs a loglikelihood output")
        n_bytes = len(self.response(example).encode("utf-8"))
        nll_sum = -ll.logprob
        return {
            "nll": nll_sum / max(1, ll.n_tokens),
            "nll_sum": nll_sum,
            "bits_per_byte": nll_sum / LN2 / n_bytes,
        }

    def aggregate(self, examples: Sequence[Example]) -> dict[str, Any]:
        out = super().aggregate(examples)
        key = f"{self.namespace}.nll_sum"
        scored = [e for e in examples if key in e.scores]
        if scored:
            nats = [e.scores[key] for e in scored]
            n_bytes = [len(self.response(e).encode("utf-8")) for e in scored]
            out["bits_per_byte"] = pooled_ratio_ci([x / LN2 for x in nats], n_bytes).to_dict()
        return out
