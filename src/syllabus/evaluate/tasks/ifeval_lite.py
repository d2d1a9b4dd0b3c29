"""``ifeval-lite``: verifiable instruction following on the project's own prompts.

Each prompt is an everyday base task ("Explain why ice floats on water.") with one to
three checks from :mod:`syllabus.checks` appended in plain words ("Do not use any commas
in your response."). The checks travel with the example in ``meta["checks"]``, so a
response is scored by rule, the same way every time, without a judge.

The base tasks are split once, by a hash of their ids, into a held-out ``test`` split
(about 30 %) and a ``train`` split. Evaluation uses ``test``; teacher-data generators use
:func:`build_prompts` on ``train``, so no evaluation prompt, not even its base task, is
ever in the training data.

>>> prompts = build_prompts("test", 3, seed=0)
>>> [p.meta["split"] for p in prompts]
['test', 'test', 'test']
>>> first = prompts[0]
>>> first.prompt.startswith(first.meta["instruction"]), 1 <= len(first.meta["checks"]) <= 3
(True, True)
>>> {b.id for b in base_tasks("test")} & {b.id for b in base_tasks("train")}
set()

Metrics, IFEval's four: prompt-level (every check of a prompt passes) and
instruction-level (passed checks over all checks, pooled over prompts), each strict and
loose; plus the strict pass rate of each check type.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar, Literal

import numpy as np

from syllabus.checks import CHECKS, Check, SampleContext, sample_compatible, verify
from syllabus.errors import ConfigError, DataError
from syllabus.evaluate.stats import Estimate, mean_ci
from syllabus.evaluate.task import Output, Task
from syllabus.record import Example

__all__ = [
    "DEFAULT_CHECKS",
    "MAX_WORDS_AT_LEAST",
    "TEST_PERCENT",
    "BaseTask",
    "IFEvalLite",
    "base_tasks",
    "build_prompt",
    "build_prompts",
    "draw_checks",
    "pooled_ci",
    "split_of",
]

Split = Literal["test", "train"]

#: Share of base tasks (in percent of the id hash space) held out for evaluation.
TEST_PERCENT = 30

#: Check types a small model can plausibly satisfy within a short answer (the list of
#: the reference notes, in this project's check names). Left out by default: checks that
#: need several paragraphs or two answers (too long for ~190 tokens), sections, letter
#: counts, capital-word counts, and a fixed option list (meaningless after "write a story").
DEFAULT_CHECKS: tuple[str, ...] = (
    "case.lowercase",
    "case.uppercase",
    "combination.repeat_prompt",
    "content.fill_ins",
    "content.postscript",
    "format.bullets",
    "format.highlights",
    "format.json",
    "format.numbered",
    "format.quoted",
    "format.title",
    "keywords.forbidden",
    "keywords.frequency",
    "keywords.include",
    "length.sentences",
    "length.words",
    "punctuation.no_comma",
    "startend.end_with",
    "startend.start_with",
)

#: "At least N words" is redrawn above this N: 150 words do not fit in a 192-token answer,
#: and a check no answer can meet within the budget measures the budget, not the model.
MAX_WORDS_AT_LEAST = 100

_DATA_FILE = "base_prompts.jsonl"
_SPLIT_SALT = "ifeval-lite/split/"  # fixed forever: changing it would move base tasks across splits


@dataclass(frozen=True)
class BaseTask:
    """One everyday instruction from ``syllabus/data/base_prompts.jsonl``.

    ``keywords`` are topic words a good answer would use; keyword checks draw from them.
    """

    id: str
    instruction: str
    category: str = ""
    keywords: tuple[str, ...] = ()

    @property
    def split(self) -> Split:
        return split_of(self.id)

    def context(self) -> SampleContext:
        """What checks are drawn for: the instruction, and its keyword hints if it has any."""
        if self.keywords:
            return SampleContext(prompt=self.instruction, keywords=self.keywords)
        return SampleContext.from_prompt(self.instruction)


def split_of(base_id: str) -> Split:
    """The split a base task belongs to, from a hash of its id alone.

    Adding or removing other base tasks never moves this one to the other split.

    >>> split_of("explain-rainbow"), split_of("explain-sleep")
    ('test', 'train')
    """
    digest = hashlib.sha256((_SPLIT_SALT + base_id).encode("utf-8")).hexdigest()
    return "test" if int(digest, 16) % 100 < TEST_PERCENT else "train"


@functools.cache
def _load_base_tasks() -> tuple[BaseTask, ...]:
    text = resources.files("syllabus").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    tasks: list[BaseTask] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"syllabus/data/{_DATA_FILE}:{lineno}"
        try:
            row = json.loads(line)
            task = BaseTask(
                id=row["id"],
                instruction=row["instruction"],
                category=row.get("category", ""),
                keywords=tuple(row.get("keywords") or ()),
            )
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise DataError(f"{where}: a base task needs 'id' and 'instruction' ({e})") from None
        if not task.id or not task.instruction.strip() or task.id in seen:
            raise DataError(f"{where}: empty or duplicate id {task.id!r}, or empty instruction")
        seen.add(task.id)
        tasks.append(task)
    return tuple(tasks)


def base_tasks(split: Split | None = None) -> list[BaseTask]:
    """The project's base tasks of one split (``None``: all), in file order.

    >>> len(base_tasks("test")) + len(base_tasks("train")) == len(base_tasks())
    True
    """
    if split not in ("test", "train", None):
        raise ConfigError(f"split must be 'test' or 'train', got {split!r}")
    return [t for t in _load_base_tasks() if split is None or t.split == split]


def _fits(check: Check) -> bool:
    return not (check.name == "length.words" and getattr(check, "relation", "") == "at least" and getattr(check, "count", 0) > MAX_WORDS_AT_LEAST)


def draw_checks(rng: random.Random, k: int, context: SampleContext, names: Sequence[str]) -> list[Check]:
    """``k`` compatible checks from ``names`` that a short answer can meet; redrawn from
    ``rng`` until every one fits (see :data:`MAX_WORDS_AT_LEAST`).

    >>> ctx = SampleContext.from_prompt("Describe a quiet beach.")
    >>> [c.name for c in draw_checks(random.Random(1), 1, ctx, ["case.lowercase"])]
    ['case.lowercase']
    """
    for _ in range(100):
        checks = sample_compatible(rng, k, context, names=names)
        if all(_fits(c) for c in checks):
            # The prompt to repeat goes last, so "the request below" is the end of the prompt.
            return sorted(checks, key=lambda c: c.name == "combination.repeat_prompt")
    raise ConfigError(f"could not draw {k} checks that fit a short answer from {sorted(names)}; widen the check list")


def build_prompt(base: BaseTask, checks: Sequence[Check]) -> str:
    """The base instruction followed by each check's instruction, in one paragraph.

    >>> from syllabus.checks import get_check
    >>> build_prompt(BaseTask("x", "Describe a quiet beach."), [get_check("punctuation.no_comma")])
    'Describe a quiet beach. Do not use any commas in your response.'
    """
    return " ".join([base.instruction.strip(), *(c.describe() for c in checks)])


def _round_order(bases: Sequence[BaseTask], seed: int, round_: int) -> list[BaseTask]:
    # A seeded shuffle keyed by id: the order does not depend on the file's order, and the
    # first prompts (what --limit keeps) spread over all kinds of base task.
    return sorted(bases, key=lambda b: hashlib.sha256(f"{seed}:{round_}:{b.id}".encode()).hexdigest())


def build_prompts(
    split: Split,
    n: int,
    seed: int = 0,
    *,
    min_checks: int = 1,
    max_checks: int = 3,
    checks: Sequence[str] | None = None,
) -> list[Example]:
    """``n`` prompts: base tasks of ``split`` with ``min_checks``..``max_checks`` checks each.

    Prompts go round the split's base tasks (each round in its own seeded order), so
    ``n`` above the number of base tasks gives each one again with other checks. Each
    prompt draws from its own RNG seeded by ``(seed, base id, round)``: the list for ``n``
    is a prefix of the list for ``n + 1``, and the same arguments give the same prompts.
    ``checks`` restricts the check types (default :data:`DEFAULT_CHECKS`).

    Each example carries ``meta["checks"]`` (serialised checks), ``meta["split"]``,
    ``meta["base_id"]``, ``meta["category"]`` and ``meta["instruction"]`` (the base text).

    >>> a = build_prompts("train", 5, seed=3)
    >>> [e.id for e in a] == [e.id for e in build_prompts("train", 6, seed=3)[:5]]
    True
    >>> a[0].id.endswith("-r0-s3")
    True
    """
    names = list(DEFAULT_CHECKS if checks is None else checks)
    _validate_counts(n, min_checks, max_checks)
    _validate_names(names)
    bases = base_tasks(split)
    if not bases:
        raise ConfigError(f"no base tasks in split {split!r}")
    out: list[Example] = []
    order: list[BaseTask] = []
    for i in range(n):
        round_, slot = divmod(i, len(bases))
        if slot == 0:
            order = _round_order(bases, seed, round_)
        base = order[slot]
        rng = random.Random(f"ifeval-lite:{seed}:{base.id}:{round_}")
        drawn = draw_checks(rng, rng.randint(min_checks, max_checks), base.context(), names)
        out.append(
            Example.from_prompt(
                build_prompt(base, drawn),
                id=f"{base.id}-r{round_}-s{seed}",
                meta={
                    "checks": [c.to_dict() for c in drawn],
                    "split": split,
                    "base_id": base.id,
                    "category": base.category,
                    "instruction": base.instruction,
                },
            )
        )
    return out


def _validate_counts(n: int, min_checks: int, max_checks: int) -> None:
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    if not 1 <= min_checks <= max_checks:
        raise ConfigError(f"need 1 <= min_checks <= max_checks, got min_checks={min_checks}, max_checks={max_checks}")


def _validate_names(names: Sequence[str]) -> None:
    if not names:
        raise ConfigError("checks: name at least one check type (see `syllabus ls checks`)")
    for name in names:
        CHECKS.get(name)  # unknown names raise with a did-you-mean


def pooled_ci(
    passed: Sequence[float],
    totals: Sequence[float],
    confidence: float = 0.95,
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """sum(passed) / sum(totals) with a percentile bootstrap over prompts.

    IFEval's instruction-level accuracy pools every instruction of every prompt; the
    instructions of one prompt share a response, so the bootstrap resamples whole prompts
    (their passed and total counts together), not single instructions. ``n`` is the
    number of instructions.

    >>> est = pooled_ci([1, 2, 0, 3], [2, 2, 1, 3])
    >>> est.value, est.n, est.low <= est.value <= est.high
    (0.75, 8, True)
    """
    p = np.asarray(passed, dtype=float)
    t = np.asarray(totals, dtype=float)
    if p.size == 0 or p.shape != t.shape or t.sum() <= 0:
        raise DataError("pooled_ci needs equally many passed and total counts, with some instructions")
    value = float(p.sum() / t.sum())
    rng = np.random.default_rng(seed)
    # Chunked so a large evaluation never materialises a huge (resamples x prompts) array.
    chunk = max(1, 2_000_000 // p.size)
    ratios = np.empty(resamples)
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        idx = rng.integers(0, p.size, size=(stop - start, p.size))
        ratios[start:stop] = p[idx].sum(axis=1) / t[idx].sum(axis=1)
    alpha = 1 - confidence
    low, high = (float(q) for q in np.quantile(ratios, [alpha / 2, 1 - alpha / 2]))
    return Estimate(value, low, high, int(t.sum()), "pooled bootstrap over prompts", confidence)


@dataclass
class IFEvalLite(Task):
    """Verifiable instruction following (IFEval-style) on the project's own base tasks.

    Fields:
        n: how many prompts to build (``limit`` then keeps the first ones).
        seed: which checks are drawn; the same seed gives the same prompts.
        split: ``test`` (held out, the default) or ``train`` (what generators use).
        min_checks, max_checks: how many checks each prompt gets (uniform in between).
        checks: restrict the check types (default :data:`DEFAULT_CHECKS`).

    Per example it scores ``prompt_level_strict`` / ``prompt_level_loose`` (0/1: every
    check passes), ``instruction_strict`` / ``instruction_loose`` (this prompt's fraction
    of passed checks) and ``strict.<check>`` / ``loose.<check>`` (0/1 per check).
    """

    name: ClassVar[str] = "ifeval-lite"
    version: ClassVar[str] = "1"
    metrics: ClassVar[tuple[str, ...]] = (
        "prompt_level_strict",
        "prompt_level_loose",
        "instruction_level_strict",
        "instruction_level_loose",
    )
    source: ClassVar[str] = "syllabus's own base tasks (held-out split) x checks from syllabus.checks; scored by rule"

    max_tokens: int = 192
    n: int = 100
    seed: int = 0
    split: Split = "test"
    min_checks: int = 1
    max_checks: int = 3
    checks: list[str] | None = None

    def __post_init__(self) -> None:
        # Fail at construction (from flags or YAML), not halfway through an evaluation.
        _validate_counts(self.n, self.min_checks, self.max_checks)
        if self.split not in ("test", "train"):
            raise ConfigError(f"split must be 'test' or 'train', got {self.split!r}")
        if self.checks is not None:
            _validate_names(self.checks)

    def load(self) -> list[Example]:
        return build_prompts(
            self.split, self.n, self.seed, min_checks=self.min_checks, max_checks=self.max_checks, checks=self.checks
        )

    def contamination_texts(self, example: Example) -> list[str]:
        """The base task only: the check sentences are the skill taught from the train split,
        the same wording by construction; the held-out content is the base task."""
        return [example.meta["instruction"]]

    def score(self, example: Example, outputs: Sequence[Output]) -> dict[str, float]:
        text = getattr(outputs[0], "text", "") if outputs else ""
        result = verify(example.meta["checks"], text)
        per_check = result["checks"]
        scores = {
            "prompt_level_strict": float(result["strict"]),
            "prompt_level_loose": float(result["loose"]),
            "instruction_strict": sum(c["strict"] for c in per_check) / len(per_check),
            "instruction_loose": sum(c["loose"] for c in per_check) / len(per_check),
        }
        # One key per check: names never repeat within a prompt (a name conflicts with itself).
        for c in per_check:
            scores[f"strict.{c['name']}"] = float(c["strict"])
            scores[f"loose.{c['name']}"] = float(c["loose"])
        return scores

    def aggregate(self, examples: Sequence[Example]) -> dict[str, Any]:
        """The four IFEval numbers with CIs, and ``per_check_strict``: each type's pass rate.

        Prompt-level: Wilson intervals. Instruction-level: passed over all instructions,
        pooled (IFEval's definition, not the mean of per-prompt fractions), with
        :func:`pooled_ci`. Everything comes from the stored per-example scores.
        """
        ns = self.namespace
        passed: dict[str, list[float]] = {"strict": [], "loose": []}
        totals: list[float] = []
        prompt: dict[str, list[float]] = {"strict": [], "loose": []}
        by_type: dict[str, list[float]] = defaultdict(list)
        for ex in examples:
            strict = {k[len(f"{ns}.strict.") :]: v for k, v in ex.scores.items() if k.startswith(f"{ns}.strict.")}
            loose = [v for k, v in ex.scores.items() if k.startswith(f"{ns}.loose.")]
            if not strict:
                continue  # not scored by this task
            totals.append(len(strict))
            passed["strict"].append(sum(strict.values()))
            passed["loose"].append(sum(loose))
            for mode in ("strict", "loose"):
                prompt[mode].append(ex.scores[f"{ns}.prompt_level_{mode}"])
            for name, value in strict.items():
                by_type[name].append(value)
        if not totals:
            return {}
        out: dict[str, Any] = {}
        for mode in ("strict", "loose"):
            out[f"prompt_level_{mode}"] = _proportion(prompt[mode])
        for mode in ("strict", "loose"):
            if len(totals) > 1:
                out[f"instruction_level_{mode}"] = pooled_ci(passed[mode], totals).to_dict()
            else:
                out[f"instruction_level_{mode}"] = {"value": passed[mode][0] / totals[0], "n": int(totals[0])}
        out["per_check_strict"] = {name: _proportion(by_type[name]) for name in sorted(by_type)}
        return out


def _proportion(values: list[float]) -> dict[str, Any]:
    if len(values) < 2:
        return {"value": values[0], "n": len(values)}
    return mean_ci(values, method="wilson").to_dict()
