"""``pairwise``: a judge model's win rate of the evaluated model against a baseline.

AlpacaEval's mechanics on local data. The evaluated model is **B**, the candidate (for
example the student after teaching); **A** is the baseline: another model, or the saved
answers of an earlier run (the student before teaching), so "after vs before" needs no
re-generation. For every prompt a judge model (for example the teacher) reads A's and
B's answers and says which is better. Each example gets

* ``win``: B's preference, 1 (B better), 0 (A better), 0.5 (tie), or in between for a
  log-likelihood judge or when the two orders disagree;
* ``tie`` (0/1), ``consistent`` (0/1, both orders agree; only when both are judged),
  ``parse_failed`` (0/1: a judge reply could not be read; the example then has no
  ``win`` and is left out of the win rate, counted, with the raw reply kept);
* ``len_a`` and ``len_b``: the two answers' lengths in **characters** (as AlpacaEval).

Raw judge replies, the verdicts and A's answer are stored in the example's ``meta`` under
``pairwise.*``; B's answer is its ``completion``.

Position bias: by default each pair is judged twice, A shown first and B shown first,
and ``win`` is the mean of the two preferences, so a judge that always picks the first
(or second) response scores every pair a tie. With ``both_orders: false`` each pair is
judged once, in an order drawn from ``seed`` and the example id.

>>> task = Pairwise(baseline="fake:echo", judge="fake:echo", limit=2)
>>> [e.id for e in task.load()] == [t.id for t in base_tasks("test")[:2]]
True
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from syllabus.errors import ConfigError, DataError
from syllabus.evaluate.judge import (
    JUDGE_PROMPT_VERSION,
    VERDICT_CONTINUATIONS,
    build_judge_messages,
    instruction_text,
    judge_prompt_hash,
    parse_verdict,
    preference_for_second,
)
from syllabus.evaluate.stats import length_controlled_win_rate, mean_ci, win_rate
from syllabus.evaluate.task import Output, Scored, Task
from syllabus.evaluate.tasks.ifeval_lite import base_tasks
from syllabus.llm.base import GenerateRequest, LoglikelihoodRequest, SamplingParams
from syllabus.record import Example, Message

if TYPE_CHECKING:
    from syllabus.llm.base import LLM

__all__ = ["BASELINE_FIRST", "CANDIDATE_FIRST", "Pairwise", "default_prompts"]

Order = Literal["baseline-first", "candidate-first"]
BASELINE_FIRST: Order = "baseline-first"
CANDIDATE_FIRST: Order = "candidate-first"

# Preference for the response shown second (position B) for each verdict.
_SECOND_WINS = {"A": 0.0, "B": 1.0, "tie": 0.5}
_SAMPLE_SUFFIXES = (".jsonl", ".json", ".parquet")


def default_prompts() -> list[Example]:
    """The project's held-out base prompts (the ``test`` split of ifeval-lite's base tasks),
    without checks: open-ended everyday instructions, never used for training data.

    >>> prompts = default_prompts()
    >>> prompts[0].meta["split"], len(prompts) == len(base_tasks("test"))
    ('test', True)
    """
    return [
        Example.from_prompt(t.instruction, id=t.id, meta={"category": t.category, "split": "test"})
        for t in base_tasks("test")
    ]


@dataclass
class Pairwise(Task):
    """Judge-based win rate of the evaluated model (B) against a baseline (A).

    Fields:
        baseline: A: a model spec (``builtin:smollm2-135m-instruct``), or a samples file
            (``.jsonl``/``.json``/``.parquet`` of Examples with completions, e.g. an earlier
            run's ``samples/pairwise.jsonl``); answers are matched by example id.
        judge: the judge's model spec (e.g. the teacher). Not a tiny student: a judge
            must be much stronger than the answers it compares.
        prompts: a prompt file (any format ``syllabus.formats.read_any`` reads, or
            ``.txt`` with one prompt per line); default: :func:`default_prompts`.
        both_orders: judge each pair in both orders (default) and average.
        seed: the order of each pair when ``both_orders`` is false.
        judge_mode: ``generate`` (read a ``Verdict:`` line) or ``logprobs`` (compare the
            log-likelihoods of "Verdict: A" and "Verdict: B"; the judge backend must
            score log-likelihoods).
        judge_max_tokens: the judge's reply budget (the verdict comes first).
        cache: a request-cache file (SQLite) for the baseline's and the judge's calls, so
            a rerun asks neither again (e.g. the run's ``cache/llm.sqlite``).

    ``max_tokens`` is the answer budget of B and of a baseline model alike (greedy).
    Use :meth:`attach` to pass model objects instead of specs from Python.
    """

    name: ClassVar[str] = "pairwise"
    version: ClassVar[str] = "1"
    metrics: ClassVar[tuple[str, ...]] = (
        "win",
        "win_discrete",
        "win_decisive",
        "lc_win",
        "tie",
        "consistent",
        "parse_failed",
        "len_a",
        "len_b",
    )
    lower_is_better: ClassVar[tuple[str, ...]] = ("parse_failed",)
    source: ClassVar[str] = "syllabus's held-out base prompts (or a prompt file); judged by a model"
    validate_settings: ClassVar[dict[str, Any]] = {"judge": "fake:echo", "baseline": "fake:echo"}

    baseline: str | None = None
    judge: str | None = None
    prompts: str | None = None
    both_orders: bool = True
    seed: int = 0
    judge_mode: Literal["generate", "logprobs"] = "generate"
    judge_max_tokens: int = 64
    cache: str | None = None

    def __post_init__(self) -> None:
        if self.judge_mode not in ("generate", "logprobs"):
            raise ConfigError(f"judge_mode must be 'generate' or 'logprobs', got {self.judge_mode!r}")
        if self.judge_max_tokens < 1:
            raise ConfigError(f"judge_max_tokens must be >= 1, got {self.judge_max_tokens}")
        # Loaded on first use and kept, keyed by spec: a judge that is also the baseline
        # is loaded once. Not dataclass fields, so settings() and YAML never see them.
        self._models: dict[str, LLM] = {}
        self._attached: dict[str, LLM] = {}
        self._samples: dict[str, Example] | None = None

    # -- models -------------------------------------------------------------------------
    def attach(self, *, judge: LLM | None = None, baseline: LLM | None = None) -> Pairwise:
        """Use these model objects instead of loading ``judge`` / ``baseline`` from specs.

        >>> from syllabus.llm.fake import EchoLLM
        >>> Pairwise(baseline="fake:echo").attach(judge=EchoLLM()).judge_id()
        'fake:echo'
        """
        if judge is not None:
            self._attached["judge"] = judge
        if baseline is not None:
            self._attached["baseline"] = baseline
        return self

    def _llm(self, role: Literal["judge", "baseline"]) -> LLM:
        if role in self._attached:
            return self._attached[role]
        spec = self.judge if role == "judge" else self.baseline
        if not spec:
            raise ConfigError(self._missing(role))
        if spec not in self._models:
            from syllabus.llm import load_llm

            self._models[spec] = load_llm(spec, cache=self.cache)
        return self._models[spec]

    def _missing(self, role: str) -> str:
        if role == "judge":
            return "pairwise needs a judge: set judge: MODEL_SPEC in task_settings (e.g. the teacher)"
        return (
            "pairwise needs a baseline: set baseline: to a model spec, or to a samples file "
            "(.jsonl/.json/.parquet with completions) from an earlier run"
        )

    def judge_id(self) -> str | None:
        """The judge's model id (its spec until it is loaded)."""
        return self._model_id("judge", self.judge)

    def _model_id(self, role: str, spec: str | None) -> str | None:
        llm = self._attached.get(role) or (self._models.get(spec) if spec else None)
        return llm.model_id if llm is not None else spec

    def baseline_file(self) -> Path | None:
        """The samples file ``baseline`` names, or None when it names a model."""
        if "baseline" in self._attached or not self.baseline:
            return None
        path = Path(self.baseline)
        return path if path.suffix.lower() in _SAMPLE_SUFFIXES or path.exists() else None

    def close(self) -> None:
        """Release the models this task loaded (attached ones belong to the caller)."""
        for llm in self._models.values():
            llm.close()
        self._models.clear()

    # -- data ---------------------------------------------------------------------------
    def load(self) -> list[Example]:
        if "judge" not in self._attached and not self.judge:
            raise ConfigError(self._missing("judge"))
        if "baseline" not in self._attached and not self.baseline:
            raise ConfigError(self._missing("baseline"))
        examples = self._read_prompts() if self.prompts else default_prompts()
        if self.limit is not None:
            examples = examples[: self.limit]
        path = self.baseline_file()
        if path is not None:
            # Before B answers anything: a baseline file that does not cover the prompts
            # should fail now, not after the whole evaluation has been generated.
            self._samples = _read_samples(path)
            for example in examples:
                self._sample_for(example, path)
        return examples

    def _read_prompts(self) -> list[Example]:
        assert self.prompts is not None
        path = Path(self.prompts)
        if not path.exists():
            raise ConfigError(f"prompts: {path}: no such file")
        if path.suffix.lower() == ".txt":
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
            rows = [Example.from_prompt(line) for line in lines if line]
        else:
            from syllabus.formats import read_any

            rows = list(read_any(path))
        seen: set[str] = set()
        examples = []
        for row in rows:
            if row.id in seen:
                raise DataError(f"prompts: {path} has example id {row.id!r} twice; ids must be unique to pair answers")
            seen.add(row.id)
            # Only the prompt side: a prompt file may be an earlier run's samples, whose
            # completions, scores and step meta must not leak into this evaluation.
            shared = {k: v for k, v in row.meta.items() if "." not in k}
            examples.append(Example(id=row.id, messages=row.messages, reference=row.reference, meta=shared))
        if not examples:
            raise DataError(f"prompts: {path} has no prompts")
        return examples

    def _sample_for(self, example: Example, path: Path) -> Example:
        assert self._samples is not None
        sample = self._samples.get(example.id)
        if sample is None:
            raise DataError(
                f"baseline {path} has no answer for example id {example.id!r}: evaluate the baseline on the same "
                "prompts (same prompt file, same limit), or give a model spec as baseline to generate its answers"
            )
        if sample.completion is None:
            raise DataError(f"baseline {path}: example {example.id!r} has no completion (a prompt file, not samples?)")
        if sample.prompt != example.prompt:
            raise DataError(
                f"baseline {path}: example {example.id!r} has another prompt there ({sample.prompt[:60]!r} vs "
                f"{example.prompt[:60]!r}); the baseline must answer the same prompts"
            )
        return sample

    # -- scoring ------------------------------------------------------------------------
    def score(self, example: Example, outputs: Sequence[Output]) -> dict[str, float] | Scored:
        return self.score_batch([example], [outputs])[0]

    def score_batch(self, examples: Sequence[Example], outputs: Sequence[Sequence[Output]]) -> list[dict[str, float] | Scored]:
        """Get A's answers, judge every (A, B) pair in its order(s), one judge call per batch."""
        b_texts = [str(getattr(outs[0], "text", "")) if outs else "" for outs in outputs]
        a_texts, a_source = self._baseline_answers(examples)
        jobs = [(i, order) for i, ex in enumerate(examples) for order in self._orders(ex)]
        judged = self._judge(examples, a_texts, b_texts, jobs)
        per_example: list[list[dict[str, Any]]] = [[] for _ in examples]
        for (i, _), record in zip(jobs, judged, strict=True):
            per_example[i].append(record)
        judge_id = self._llm("judge").model_id
        return [
            _combine(records, a, b, {"baseline": a_source, "baseline_answer": a, "judge": judge_id})
            for records, a, b in zip(per_example, a_texts, b_texts, strict=True)
        ]

    def _orders(self, example: Example) -> tuple[Order, ...]:
        if self.both_orders:
            return (BASELINE_FIRST, CANDIDATE_FIRST)
        # Seeded per example, so an example's order does not depend on batching or resuming.
        rng = random.Random(f"pairwise:{self.seed}:{example.id}")
        return (rng.choice((BASELINE_FIRST, CANDIDATE_FIRST)),)

    def _baseline_answers(self, examples: Sequence[Example]) -> tuple[list[str], str]:
        path = self.baseline_file()
        if path is not None:
            if self._samples is None:  # scored without load(): a resumed or hand-built run
                self._samples = _read_samples(path)
            return [self._sample_for(ex, path).completion or "" for ex in examples], f"samples:{path}"
        llm = self._llm("baseline")
        requests = [GenerateRequest(messages=tuple(self.prompt(ex)), params=self.sampling()) for ex in examples]
        return [g.text for g in llm.generate(requests)], llm.model_id

    def _judge(
        self, examples: Sequence[Example], a_texts: Sequence[str], b_texts: Sequence[str], jobs: Sequence[tuple[int, Order]]
    ) -> list[dict[str, Any]]:
        """One record per job: the order, the raw reply (or log-likelihoods), the verdict,
        B's preference (None when unreadable) and the reason of a failure."""
        if not jobs:
            return []
        prompts = []
        for i, order in jobs:
            first, second = (a_texts[i], b_texts[i]) if order == BASELINE_FIRST else (b_texts[i], a_texts[i])
            prompts.append(tuple(build_judge_messages(instruction_text(examples[i].messages), first, second)))
        orders = [order for _, order in jobs]
        if self.judge_mode == "logprobs":
            return self._judge_by_logprobs(prompts, orders)
        return self._judge_by_generating(prompts, orders)

    def _judge_by_generating(self, prompts: list[tuple[Message, ...]], orders: list[Order]) -> list[dict[str, Any]]:
        params = SamplingParams(max_tokens=self.judge_max_tokens, temperature=0.0)
        replies = self._llm("judge").generate([GenerateRequest(messages=p, params=params) for p in prompts])
        records = []
        for order, reply in zip(orders, replies, strict=True):
            verdict = parse_verdict(reply.text)
            preference = None if verdict.label is None else _for_candidate(_SECOND_WINS[verdict.label], order)
            records.append({"order": order, "raw": reply.text, "verdict": verdict.label, "preference": preference, "error": verdict.error})
        return records

    def _judge_by_logprobs(self, prompts: list[tuple[Message, ...]], orders: list[Order]) -> list[dict[str, Any]]:
        llm = self._llm("judge")
        if not llm.capabilities.loglikelihood:
            raise ConfigError(
                f"judge_mode 'logprobs' needs a judge that scores log-likelihoods; {llm.model_id} does not "
                "(use hf, llamacpp or vllm, or judge_mode: generate)"
            )
        requests = [LoglikelihoodRequest(messages=p, continuation=VERDICT_CONTINUATIONS[x]) for p in prompts for x in "AB"]
        scores = llm.loglikelihood(requests)
        records = []
        for k, order in enumerate(orders):
            lp_a, lp_b = scores[2 * k].logprob, scores[2 * k + 1].logprob
            second = preference_for_second(lp_a, lp_b)
            label = "B" if second > 0.5 else "A" if second < 0.5 else "tie"
            preference = _for_candidate(second, order)
            records.append({"order": order, "logprobs": {"A": lp_a, "B": lp_b}, "verdict": label, "preference": preference, "error": None})
        return records

    # -- report -------------------------------------------------------------------------
    def aggregate(self, examples: Sequence[Example]) -> dict[str, Any]:
        """Raw and discrete win rate with SE and CI, tie rate, position consistency,
        parse failures, average lengths, and the length-controlled win rate.

        Examples whose judging failed have no ``win`` and are left out of every win-rate
        number (``parse_failed`` counts them); lengths average over all examples.
        """
        ns = self.namespace
        rows = [e for e in examples if f"{ns}.parse_failed" in e.scores]
        if not rows:
            return {}
        judged = [e for e in rows if f"{ns}.win" in e.scores]
        out: dict[str, Any] = {}
        if judged:
            wins = [e.scores[f"{ns}.win"] for e in judged]
            len_a = [e.scores[f"{ns}.len_a"] for e in judged]
            len_b = [e.scores[f"{ns}.len_b"] for e in judged]
            summary = win_rate(wins)
            out["win"] = {
                **_mean(wins),
                "standard_error": summary.to_dict()["standard_error"],
                "n_wins": summary.n_wins,
                "n_losses": summary.n_losses,
                "n_ties": summary.n_ties,
            }
            out["win_discrete"] = _mean([1.0 if w > 0.5 else 0.0 if w < 0.5 else 0.5 for w in wins])
            if summary.n_wins + summary.n_losses:
                out["win_decisive"] = _mean([1.0 if w > 0.5 else 0.0 for w in wins if w != 0.5])
            lc = length_controlled_win_rate(wins, len_a, len_b)
            out["lc_win"] = {
                **lc.to_dict(),
                "method": "length GLM without regularisation (unregularised LC), percentile bootstrap",
                "length_unit": "characters",
            }
            out["tie"] = _mean([e.scores[f"{ns}.tie"] for e in judged])
            consistent = [e.scores[f"{ns}.consistent"] for e in judged if f"{ns}.consistent" in e.scores]
            if consistent:
                out["consistent"] = _mean(consistent)
        failed = sum(e.scores[f"{ns}.parse_failed"] for e in rows)
        out["parse_failed"] = {"value": int(failed), "n": len(rows), "rate": failed / len(rows)}
        for side in ("len_a", "len_b"):
            out[side] = {**_mean([e.scores[f"{ns}.{side}"] for e in rows], method="t"), "unit": "characters"}
        return out

    def describe(self) -> dict[str, Any]:
        """The task's settings plus the judge prompt's version and hash, and the models."""
        baseline = self._model_id("baseline", self.baseline)
        return {
            **super().describe(),
            "judge_prompt": {"version": JUDGE_PROMPT_VERSION, "hash": judge_prompt_hash(), "mode": self.judge_mode},
            "models": {"judge": self.judge_id(), "baseline": baseline},
        }


def _for_candidate(second: float, order: Order) -> float:
    """B's preference from the preference for the response shown second."""
    return second if order == BASELINE_FIRST else 1.0 - second


def _side(preference: float) -> int:
    return (preference > 0.5) - (preference < 0.5)


def _combine(records: list[dict[str, Any]], a: str, b: str, meta: dict[str, Any]) -> Scored:
    """One example's scores from its judgements (one per order)."""
    scores = {"len_a": float(len(a)), "len_b": float(len(b))}
    preferences = [r["preference"] for r in records]
    failed = any(p is None for p in preferences)
    scores["parse_failed"] = float(failed)
    if not failed:
        # The mean over orders: a judge that flips with position lands on 0.5, a tie.
        win = sum(preferences) / len(preferences)
        scores["win"] = win
        scores["tie"] = float(win == 0.5)
        if len(preferences) == 2:
            scores["consistent"] = float(_side(preferences[0]) == _side(preferences[1]))
    return Scored(scores, {**meta, "judgements": records})


def _mean(values: list[float], method: Literal["wilson", "t"] | None = None) -> dict[str, Any]:
    """Mean with a CI: Wilson for 0/1 values, t otherwise (stable for small n)."""
    if len(values) < 2:
        return {"value": values[0], "n": len(values)}
    if method is None:
        method = "wilson" if all(v in (0.0, 1.0) for v in values) else "t"
    return mean_ci(values, method=method).to_dict()


def _read_samples(path: Path) -> dict[str, Example]:
    """Examples with completions by id, from any file ``read_any`` reads."""
    if not path.exists():
        raise ConfigError(f"baseline: {path}: no such file (give a samples file from an earlier run, or a model spec)")
    from syllabus.formats import read_any

    samples: dict[str, Example] = {}
    for example in read_any(path):
        if example.id in samples:
            raise DataError(f"baseline {path} has example id {example.id!r} twice; ids must be unique to pair answers")
        samples[example.id] = example
    return samples
