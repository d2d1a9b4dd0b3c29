"""APE (Automatic Prompt Engineer): propose instructions from demonstrations, score them on a
dev set, keep the best with a bandit, resample around the best; save the winner.

1. **Propose**: show a model ``n_demos`` input/output pairs and let it complete "The
   instruction was to ..." (``n_prompts`` samples at temperature 0.9; first line kept,
   duplicates dropped).
2. **Score** a candidate on dev items (input, gold output): ``score="loglik"`` is the mean
   per-token log-probability of the gold output after ``Instruction: ... Input: ...
   Output:``; ``score="accuracy"`` generates an answer under the instruction and checks it
   (numbers compared as numbers, otherwise case-insensitive exact match).
3. **Select** with UCB1: each round scores the ``per_round`` candidates with the highest
   upper confidence bound on a fresh batch of dev items, so promising candidates get
   more of the budget.
4. **Resample**: the best ``keep`` candidates are paraphrased ("a variation ... keeping the
   meaning"), the new candidates join, and selection runs again.

The winner is saved as JSON (:meth:`APEResult.save`) and reused with the ``instruction``
method: ``syllabus eval --method instruction:file=ape.json``.

>>> from syllabus.llm.fake import FunctionLLM
>>> proposer = FunctionLLM(lambda r: ["add the two numbers", "say hello"][r.sample_index % 2], name="proposer")
>>> dev = [("2 3", "5"), ("4 4", "8"), ("1 6", "7")]
>>> result = ape(proposer, dev, n_prompts=2, rounds=2, per_round=2, resample_rounds=0)
>>> sorted(c["instruction"] for c in result.candidates)
['add the two numbers', 'say hello']
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from syllabus.errors import CapabilityError, ConfigError, DataError
from syllabus.llm.base import LLM, GenerateRequest, LoglikelihoodRequest
from syllabus.methods.base import Method, MethodGeneration, Spent, prepend_to_prompt

__all__ = ["APEResult", "Instruction", "ape", "propose_instructions", "score_instruction"]

PROPOSE_TEMPLATE = (
    "I gave a friend an instruction. Based on the instruction they produced the following "
    "input-output pairs:\n\n{demos}\n\nThe instruction was to"
)
RESAMPLE_TEMPLATE = "Generate a variation of the following instruction while keeping the semantic meaning.\n\nInput: {instruction}\n\nOutput:"
EVAL_TEMPLATE = "Instruction: {instruction}\nInput: {input}\nOutput:"

Pair = tuple[str, str]


def _demo_block(pairs: Sequence[Pair]) -> str:
    return "\n\n".join(f"Input: {i}\nOutput: {o}" for i, o in pairs)


def _clean(text: str) -> str:
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line.strip(" \"'")


def propose_instructions(llm: LLM, demos: Sequence[Pair], *, n_prompts: int = 8, n_demos: int = 5, seed: int = 0) -> list[str]:
    """Distinct candidate instructions, each induced from a random subset of ``demos``."""
    if not demos:
        raise DataError("APE needs demonstrations (input, output) to propose instructions from")
    rng = random.Random(seed)
    requests = [
        GenerateRequest(prompt=PROPOSE_TEMPLATE.format(demos=_demo_block(rng.sample(list(demos), min(n_demos, len(demos))))),
                        params=_params(temperature=0.9, top_p=0.9, max_tokens=50, seed=seed), sample_index=i)
        for i in range(n_prompts)
    ]
    seen: dict[str, None] = {}
    for g in llm.generate(requests):
        text = _clean(g.text)
        if text:
            seen.setdefault(text, None)
    return list(seen)


def _params(**kw: Any) -> Any:
    from syllabus.llm.base import SamplingParams

    return SamplingParams(**kw)


def score_instruction(llm: LLM, instruction: str, items: Sequence[Pair], *, score: str = "loglik", max_tokens: int = 64) -> list[float]:
    """One score per dev item (higher is better)."""
    prompts = [EVAL_TEMPLATE.format(instruction=instruction, input=i) for i, _ in items]
    if score == "loglik":
        if not llm.capabilities.loglikelihood:
            raise CapabilityError(f"APE score=loglik needs log-likelihoods; {llm.model_id} has none (use score=accuracy)")
        lls = llm.loglikelihood([LoglikelihoodRequest(continuation=" " + o, context=p) for p, (_, o) in zip(prompts, items, strict=True)])
        return [ll.logprob / max(1, ll.n_tokens) for ll in lls]
    if score == "accuracy":
        gens = llm.generate([GenerateRequest(prompt=p, params=_params(max_tokens=max_tokens, stop=("\n",))) for p in prompts])
        return [float(_matches(g.text, o)) for g, (_, o) in zip(gens, items, strict=True)]
    raise ConfigError(f"APE score={score!r}: use loglik or accuracy")


def _matches(text: str, gold: str) -> bool:
    from syllabus.evaluate.extract import answers_match, extract_flexible, normalize_number

    if normalize_number(gold) is not None:
        return answers_match(extract_flexible(text), gold)
    return text.strip().strip(".").lower() == gold.strip().strip(".").lower()


@dataclass
class APEResult:
    """The chosen instruction and every candidate's mean score and number of scored items."""

    instruction: str
    score: str
    candidates: list[dict[str, Any]] = field(default_factory=list)

    def save(self, path: str | Path) -> Path:
        from syllabus.jsonl import write_text_atomic

        path = Path(path)
        write_text_atomic(path, json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> APEResult:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"{path}: no such APE result; run APE first (syllabus.methods.ape.ape(...).save(path))")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (json.JSONDecodeError, TypeError) as e:
            raise DataError(f"{path}: not an APE result ({e})") from None


def ape(
    llm: LLM,
    dev: Sequence[Pair],
    *,
    demos: Sequence[Pair] | None = None,
    proposer: LLM | None = None,
    n_prompts: int = 8,
    n_demos: int = 5,
    score: Literal["loglik", "accuracy"] = "loglik",
    rounds: int = 4,
    per_round: int = 4,
    items_per_round: int = 5,
    resample_rounds: int = 1,
    keep: int = 2,
    seed: int = 0,
) -> APEResult:
    """Find a good instruction for ``llm`` on ``dev`` (pairs of input and gold output).

    ``proposer`` writes the candidates and paraphrases (default ``llm``); ``demos`` are
    what it induces instructions from (default ``dev``).
    """
    proposer = proposer or llm
    pool = {c: [] for c in propose_instructions(proposer, demos or dev, n_prompts=n_prompts, n_demos=n_demos, seed=seed)}
    if not pool:
        raise DataError("APE: the proposer wrote no usable instruction; try a larger n_prompts or another proposer")
    rng = random.Random(seed)
    for r in range(resample_rounds + 1):
        _bandit(llm, pool, dev, score=score, rounds=rounds, per_round=per_round, items=items_per_round, rng=rng)
        if r == resample_rounds:
            break
        best = sorted(pool, key=lambda c: -_mean(pool[c]))[:keep]
        variations = proposer.generate([
            GenerateRequest(prompt=RESAMPLE_TEMPLATE.format(instruction=c), params=_params(temperature=0.9, max_tokens=50, seed=seed))
            for c in best
        ])
        for g in variations:
            text = _clean(g.text)
            if text and text not in pool:
                pool[text] = []
    ranked = sorted(pool, key=lambda c: (-_mean(pool[c]), c))
    return APEResult(
        instruction=ranked[0],
        score=score,
        candidates=[{"instruction": c, "mean": _mean(pool[c]), "n": len(pool[c])} for c in ranked],
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else -math.inf


def _bandit(llm: LLM, pool: dict[str, list[float]], dev: Sequence[Pair], *, score: str, rounds: int, per_round: int, items: int, rng: random.Random) -> None:
    """UCB1 over candidates: unscored ones first, then mean + c * sqrt(ln t / n)."""
    for _ in range(rounds):
        total = sum(len(v) for v in pool.values()) + 1
        spread = max((abs(x) for v in pool.values() for x in v), default=1.0) or 1.0  # scale of the scores

        def ucb(c: str, total: int = total, spread: float = spread) -> float:
            n = len(pool[c])
            return math.inf if n == 0 else _mean(pool[c]) + spread * math.sqrt(2 * math.log(total) / n)

        chosen = sorted(pool, key=lambda c: (-ucb(c), c))[:per_round]
        batch = rng.sample(list(dev), min(items, len(dev)))
        for c in chosen:
            pool[c].extend(score_instruction(llm, c, batch, score=score))


@dataclass
class InstructionOptions:
    """text: the instruction; file: an APE result JSON (its chosen instruction)."""

    text: str = ""
    file: str = ""


class Instruction(Method):
    """Put a fixed instruction (or the one APE chose) before the prompt."""

    name = "instruction"
    Options = InstructionOptions

    def validate(self) -> None:
        if bool(self.options.text) == bool(self.options.file):
            raise ConfigError("instruction: give exactly one of text=... or file=APE_RESULT.json")
        self.text = self.options.text or APEResult.load(self.options.file).instruction

    @property
    def cache_id(self) -> str:  # the file's instruction, not its path, decides the outputs
        return f"{self.inner.cache_id}|method=instruction:{self.text}"

    def answer(self, requests: Sequence[GenerateRequest]) -> list[MethodGeneration]:
        gens = self.inner.generate([prepend_to_prompt(r, self.text.rstrip() + "\n\n") for r in requests])
        return [Spent().add(g).generation(g.text, self.model_id, finish_reason=g.finish_reason) for g in gens]
