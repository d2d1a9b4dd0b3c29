"""Thresholds and global selections: which scored examples to keep, with a reason for the rest.

:class:`Threshold` is a pipeline ``Filter`` (it looks at one example at a time). The others
are *global selections*: they need the whole kept set at once, so a recipe runs them after
the sharded scoring pipeline, one after another, over all its kept records. A selection
returns :class:`Selected` (``kept, dropped = selection(examples)``), where each dropped
example comes with a short fixed reason, and records where every example stood in
``meta["select.<name>"]`` (its rank, group, nearest chosen neighbour ...), which
``syllabus curate explain ID`` shows.

- :class:`TopK`: the best ``k`` (or ``fraction``) by one score.
- :class:`Cap`: at most ``n`` per group (``skill`` or any meta key).
- :class:`Mixture`: target proportions per group under a total budget.
- :class:`FacilityLocation`: a budgeted, diversity-aware subset over sentence embeddings.
- :class:`SubsetSizeSearch`: InstructMining-style search for the subset size that
  minimises an evaluation loss.

A custom selection::

    class Shortest(Selection):
        name = "shortest"

        def __init__(self, k: int = 10):
            self.k = k

        def select(self, examples):
            order = sorted(examples, key=lambda e: len(e.completion or ""))
            return Selected(order[: self.k], [(e, "not among the shortest") for e in order[self.k :]])

>>> from syllabus.record import Example
>>> pool = [Example.from_prompt(f"q{i}", completion="a").set_score("quality", "x", i) for i in range(5)]
>>> kept, dropped = TopK(score="quality.x", k=2)(pool)
>>> [e.prompt for e in kept], sorted({reason for _, reason in dropped})
(['q4', 'q3'], ['not in top-k by quality.x'])
"""

from __future__ import annotations

import fnmatch
import heapq
import json
import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from syllabus.errors import ConfigError, DataError
from syllabus.pipeline.step import Drop, Filter
from syllabus.record import Example

__all__ = [
    "Cap",
    "FacilityLocation",
    "Mixture",
    "Selected",
    "Selection",
    "SubsetSizeSearch",
    "Threshold",
    "TopK",
    "coverage",
    "facility_location",
]

Order = Literal["desc", "asc"]
_OPS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    # op -> (test, the op that describes a failure of the test)
    ">=": (operator.ge, "<"),
    ">": (operator.gt, "<="),
    "<=": (operator.le, ">"),
    "<": (operator.lt, ">="),
    "==": (operator.eq, "!="),
    "!=": (operator.ne, "=="),
}


def _fmt(value: float) -> str:
    return f"{value:g}"


# -- the per-example filter -------------------------------------------------------------------


class Threshold(Filter):
    """Keep an example when ``score op value``; drop it with the failed rule as the reason.

    ``score`` may be a glob (``judge.*``): then *every* matching score must pass, which is
    how HoneyBee's "each criterion ≥ 90" reads; ``ignore`` leaves some matches out (the mean
    is not a criterion). The failing score's name goes to ``meta["threshold.failed"]``.

    >>> ex = Example.from_prompt("q").set_score("judge", "mean", 91.0)
    >>> Threshold(score="judge.mean", value=95).keep(ex)
    Drop(reason='judge.mean < 95')
    >>> Threshold(score="judge.*", value=90, ignore=["judge.mean"]).keep(ex)
    Drop(reason='no judge.* score')
    """

    name = "threshold"
    version = "1"

    def __init__(
        self,
        score: str,
        value: float,
        op: Literal[">=", ">", "<=", "<", "==", "!="] = ">=",
        ignore: Sequence[str] = (),
        missing: Literal["drop", "keep"] = "drop",
    ):
        if op not in _OPS:
            raise ConfigError(f"threshold: op {op!r} is not one of {', '.join(_OPS)}")
        if missing not in ("drop", "keep"):
            raise ConfigError(f"threshold: missing must be 'drop' or 'keep', got {missing!r}")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"threshold: value must be a number, got {value!r}")
        self.score, self.value, self.op = score, float(value), op
        self.ignore, self.missing = list(ignore), missing
        self._test, failed_op = _OPS[op]
        # One fixed reason per rule, so the runner's reason counts read as a yield table.
        self.reason = f"{score} {failed_op} {_fmt(self.value)}"

    def _keys(self, example: Example) -> list[str]:
        if any(c in self.score for c in "*?["):
            return [k for k in sorted(example.scores) if fnmatch.fnmatchcase(k, self.score) and k not in self.ignore]
        return [self.score] if self.score in example.scores else []

    def keep(self, example: Example) -> bool | Drop:
        keys = self._keys(example)
        if not keys:
            return True if self.missing == "keep" else Drop(f"no {self.score} score")
        for key in keys:
            value = example.scores[key]
            if math.isnan(value) or not self._test(value, self.value):
                example.meta["threshold.failed"] = key
                return Drop(self.reason)
        return True

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "score": self.score, "op": self.op, "value": self.value,
                "ignore": self.ignore, "missing": self.missing}


# -- global selections ------------------------------------------------------------------------


@dataclass
class Selected:
    """What a selection returns: the kept examples (in rank order), the dropped ones with
    their reasons, and anything worth recording about the choice (``info``, e.g. a search
    table). Unpacks as ``kept, dropped = selected``."""

    kept: list[Example]
    dropped: list[tuple[Example, str]]
    info: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Any]:
        yield self.kept
        yield self.dropped


class Selection(ABC):
    """Base of the global selections: ``select(examples) -> Selected``.

    Subclasses keep their constructor options JSON-able (a recipe builds them from YAML)
    and set ``name`` (the step's name in stats and excluded records).
    """

    name: str = "selection"
    version: str = "1"

    @abstractmethod
    def select(self, examples: list[Example]) -> Selected: ...

    def __call__(self, examples: Sequence[Example]) -> Selected:
        return self.select(list(examples))

    def describe(self) -> dict[str, object]:
        """Settings recorded in the stage's stats (public attributes that are JSON-able)."""
        settings = {k: v for k, v in vars(self).items() if not k.startswith("_") and _jsonable(v)}
        return {"name": self.name, "version": self.version, **settings}

    def _note(self, example: Example, **info: Any) -> None:
        # meta key "select.<name>": the selection's view of this example, for `explain`.
        example.meta[f"select.{self.name}"] = info


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _score_of(example: Example, score: str) -> float | None:
    value = example.scores.get(score)
    return None if value is None or math.isnan(value) else float(value)


def _rank(examples: list[Example], score: str | None, order: Order) -> tuple[list[Example], list[Example]]:
    """Examples sorted best first by ``score`` (stable: ties keep input order), and those
    without the score. Without a score, input order is the ranking."""
    if order not in ("desc", "asc"):
        raise ConfigError(f"order must be 'desc' or 'asc', got {order!r}")
    if score is None:
        return list(examples), []
    have = [e for e in examples if _score_of(e, score) is not None]
    missing = [e for e in examples if _score_of(e, score) is None]
    sign = -1.0 if order == "desc" else 1.0
    return sorted(have, key=lambda e: sign * _score_of(e, score)), missing  # type: ignore[operator]


def _count(n: int, k: int | None, fraction: float | None, what: str) -> int:
    if (k is None) == (fraction is None):
        raise ConfigError(f"{what}: give exactly one of k and fraction")
    if k is not None:
        if k < 0:
            raise ConfigError(f"{what}: k must be >= 0, got {k}")
        return min(k, n)
    if not 0 <= fraction <= 1:  # type: ignore[operator]
        raise ConfigError(f"{what}: fraction must be within [0, 1], got {fraction}")
    return round(n * fraction)  # type: ignore[operator]


class TopK(Selection):
    """Keep the ``k`` (or ``fraction``) best examples by ``score``.

    ``order: asc`` keeps the lowest (for losses and perplexities). Examples without the
    score are dropped ("no SCORE score").
    """

    name = "top-k"

    def __init__(self, score: str, k: int | None = None, fraction: float | None = None, order: Order = "desc"):
        _count(0, k, fraction, "top-k")  # validate early: a recipe error, not a late crash
        self.score, self.k, self.fraction, self.order = score, k, fraction, order

    def select(self, examples: list[Example]) -> Selected:
        ranked, missing = _rank(examples, self.score, self.order)
        n = _count(len(ranked), self.k, self.fraction, "top-k")
        for i, e in enumerate(ranked):
            self._note(e, rank=i + 1, of=len(ranked), cut=n, score=_score_of(e, self.score))
        reason = f"not in top-k by {self.score}"
        dropped = [(e, reason) for e in ranked[n:]] + [(e, f"no {self.score} score") for e in missing]
        return Selected(ranked[:n], dropped, {"k": n, "ranked": len(ranked)})


def _group_of(example: Example, key: str) -> str:
    value = example.meta.get(key)
    if value is None:
        return "(none)"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


class Cap(Selection):
    """At most ``max_per_group`` examples per value of a meta key (``skill`` by default).

    Within a group the best by ``score`` are kept (input order without a score), so a
    prolific skill or task cannot crowd out the rest (SciRIFF's per-task caps).
    """

    name = "cap"

    def __init__(self, max_per_group: int, key: str = "skill", score: str | None = None, order: Order = "desc"):
        if max_per_group < 0:
            raise ConfigError(f"cap: max_per_group must be >= 0, got {max_per_group}")
        self.max_per_group, self.key, self.score, self.order = max_per_group, key, score, order

    def select(self, examples: list[Example]) -> Selected:
        ranked, missing = _rank(examples, self.score, self.order)
        ranked += missing  # without the score an example ranks last in its group, not out
        taken: dict[str, int] = {}
        kept: list[Example] = []
        dropped: list[tuple[Example, str]] = []
        reason = f"over cap of {self.max_per_group} per {self.key}"
        for e in ranked:
            group = _group_of(e, self.key)
            taken[group] = taken.get(group, 0) + 1
            self._note(e, group=group, rank_in_group=taken[group], cap=self.max_per_group)
            (kept.append(e) if taken[group] <= self.max_per_group else dropped.append((e, reason)))
        sizes = {g: min(n, self.max_per_group) for g, n in sorted(taken.items())}
        return Selected(kept, dropped, {"groups": dict(sorted(taken.items())), "kept_per_group": sizes})


def mixture_quotas(available: dict[str, int], weights: dict[str, float], total: int | None) -> dict[str, int]:
    """How many examples each group gets so the kept set follows ``weights``.

    With ``total``, the budget is split by weight; a group with fewer examples than its
    share gives all it has and the rest is split again among the others by weight
    (water filling). Without ``total``, the largest set that keeps the exact proportions.
    Shares are rounded by largest remainder, so the quotas sum to the budget.

    >>> mixture_quotas({"math": 100, "code": 10}, {"math": 0.5, "code": 0.5}, total=40)
    {'math': 30, 'code': 10}
    >>> mixture_quotas({"math": 100, "code": 10}, {"math": 0.8, "code": 0.2}, total=None)
    {'math': 40, 'code': 10}
    """
    weights = {g: w for g, w in weights.items() if w > 0}
    if not weights:
        return {g: 0 for g in available}
    if total is None:
        total = math.floor(min(available.get(g, 0) / w for g, w in weights.items()) * sum(weights.values()) + 1e-9)
    total = min(total, sum(available.get(g, 0) for g in weights))
    quotas = {g: 0 for g in weights}
    open_groups = dict(weights)
    budget = total
    while budget > 0 and open_groups:
        wsum = sum(open_groups.values())
        shares = {g: budget * w / wsum for g, w in open_groups.items()}
        short = {g for g, s in shares.items() if available.get(g, 0) - quotas[g] <= s}
        if short:  # these groups are exhausted: give them everything and split the rest again
            for g in short:
                budget -= available.get(g, 0) - quotas[g]
                quotas[g] = available.get(g, 0)
                del open_groups[g]
            continue
        floors = {g: math.floor(s) for g, s in shares.items()}
        left = budget - sum(floors.values())
        by_remainder = sorted(shares, key=lambda g: (-(shares[g] - floors[g]), g))
        for g in by_remainder[:left]:
            floors[g] += 1
        for g, n in floors.items():
            quotas[g] += n
        budget = 0
    return quotas


class Mixture(Selection):
    """Keep examples so that groups (``skill`` or any meta key) follow target ``weights``.

    ``weights`` need not sum to 1. ``total`` is the budget (default: the largest set with
    exactly these proportions). Groups missing from ``weights`` are dropped ("not in the
    mixture"); within a group the best by ``score`` are kept.
    """

    name = "mixture"

    def __init__(
        self,
        weights: dict[str, float],
        total: int | None = None,
        key: str = "skill",
        score: str | None = None,
        order: Order = "desc",
    ):
        if not isinstance(weights, dict) or not weights:
            raise ConfigError("mixture: weights must be a non-empty mapping {group: weight}")
        if any(not isinstance(w, (int, float)) or w < 0 for w in weights.values()):
            raise ConfigError(f"mixture: weights must be numbers >= 0, got {weights}")
        self.weights = {str(g): float(w) for g, w in weights.items()}
        self.total, self.key, self.score, self.order = total, key, score, order

    def select(self, examples: list[Example]) -> Selected:
        ranked, missing = _rank(examples, self.score, self.order)
        ranked += missing
        groups: dict[str, list[Example]] = {}
        for e in ranked:
            groups.setdefault(_group_of(e, self.key), []).append(e)
        quotas = mixture_quotas({g: len(v) for g, v in groups.items()}, self.weights, self.total)
        kept: list[Example] = []
        dropped: list[tuple[Example, str]] = []
        for group, members in groups.items():
            quota = quotas.get(group, 0)
            for i, e in enumerate(members):
                self._note(e, group=group, rank_in_group=i + 1, quota=quota)
                if i < quota:
                    kept.append(e)
                else:
                    dropped.append((e, f"over {self.key} quota" if group in self.weights else "not in the mixture"))
        n = len(kept)
        achieved = {g: round(sum(1 for e in kept if _group_of(e, self.key) == g) / n, 4) if n else 0.0 for g in self.weights}
        wsum = sum(self.weights.values())
        target = {g: round(w / wsum, 4) for g, w in self.weights.items()}
        return Selected(kept, dropped, {"quotas": quotas, "target": target, "achieved": achieved})


# -- facility location ------------------------------------------------------------------------


def _normalise(embeddings: Any) -> Any:
    import numpy as np

    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise DataError(f"embeddings must be a 2-D array (examples x dimensions), got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def coverage(embeddings: Any, chosen: Sequence[int]) -> float:
    """Mean over all points of the cosine similarity to their most similar chosen point
    (the facility-location objective divided by n; 0 for an empty choice)."""
    import numpy as np

    x = _normalise(embeddings)
    if not len(chosen):
        return 0.0
    sims = x @ x[list(chosen)].T
    return float(np.maximum(sims, 0.0).max(axis=1).mean())


def _neighbour_graph(x: Any, neighbours: int, block: int) -> tuple[Any, Any, Any]:
    """Each point's ``neighbours`` most similar points (itself included), grouped by the
    *neighbour*: for column ``j``, the points ``rows[ptr[j]:ptr[j+1]]`` that have ``j``
    among their nearest, with those similarities in ``vals``."""
    import numpy as np

    n = len(x)
    m = min(neighbours, n)
    rows = np.repeat(np.arange(n), m)
    cols = np.empty(n * m, dtype=np.int64)
    vals = np.empty(n * m, dtype=np.float32)
    for start in range(0, n, block):
        sims = x[start : start + block] @ x.T  # (b, n): one pass over the data per block
        top = np.argpartition(-sims, m - 1, axis=1)[:, :m] if m < n else np.broadcast_to(np.arange(n), sims.shape)
        span = slice(start * m, (start + len(sims)) * m)
        cols[span] = top.reshape(-1)
        vals[span] = np.maximum(np.take_along_axis(sims, top, axis=1), 0.0).reshape(-1)
    order = np.argsort(cols, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(cols, minlength=n), out=ptr[1:])
    return rows[order], vals[order], ptr


def facility_location(
    embeddings: Any,
    budget: float,
    *,
    costs: Sequence[float] | None = None,
    quality: Sequence[float] | None = None,
    quality_weight: float = 0.0,
    neighbours: int = 128,
    block: int = 512,
) -> tuple[list[int], list[int], list[float]]:
    """Greedy maximisation of ``sum_i max_{j in S} sim(i, j) + quality_weight * sum_{j in S} q_j``
    subject to ``sum_{j in S} cost_j <= budget``.

    Similarities are cosines clipped at 0, so the objective is monotone submodular and the
    lazy greedy (re-evaluate only the top of a max-heap of stale gains; gains only shrink)
    gives the usual (1 - 1/e) guarantee for unit costs. With costs it runs both the
    gain-per-cost greedy and the plain greedy and keeps the better set, the CELF rule with
    a (1 - 1/e)/2 guarantee.

    Each point only counts its ``neighbours`` most similar points (a sparse similarity
    graph, as in apricot's sparse mode): a gain is then a sum over at most that many
    entries instead of a pass over all n points, and memory is O(n * neighbours), never
    n x n. With ``neighbours >= n`` the objective is exact. Building the graph costs one
    pass of n x n dot products in blocks of ``block`` rows.

    Returns the chosen indices in pick order, each point's most similar chosen index and
    that (exact, unclipped-at-the-graph) similarity.
    """
    import numpy as np

    x = _normalise(embeddings)
    n = len(x)
    cost = np.ones(n) if costs is None else np.asarray(costs, dtype=np.float64)
    if len(cost) != n or (cost <= 0).any():
        raise ConfigError("facility location: costs must be positive, one per example")
    if neighbours < 1:
        raise ConfigError(f"facility location: neighbours must be >= 1, got {neighbours}")
    bonus = np.zeros(n) if quality is None else quality_weight * np.asarray(quality, dtype=np.float64)
    rows, vals, ptr = _neighbour_graph(x, neighbours, block)
    initial = np.add.reduceat(vals, ptr[:-1]) if len(vals) else np.zeros(n)
    initial = np.where(np.diff(ptr) > 0, initial, 0.0) + bonus  # reduceat repeats a value for empty columns

    def run(ratio: bool) -> tuple[list[int], float]:
        best = np.zeros(n, dtype=np.float32)
        heap = [(-(initial[j] / cost[j] if ratio else initial[j]), j, 0) for j in range(n)]
        heapq.heapify(heap)
        chosen: list[int] = []
        spent, value = 0.0, 0.0
        while heap:
            neg, j, stamp = heapq.heappop(heap)
            if spent + cost[j] > budget + 1e-9:
                continue  # never fits again: spending only grows
            who, sim = rows[ptr[j] : ptr[j + 1]], vals[ptr[j] : ptr[j + 1]]
            if stamp == len(chosen):  # a fresh gain on top: by submodularity it is the best
                best[who] = np.maximum(best[who], sim)
                chosen.append(j)
                spent += cost[j]
                value += -neg * (cost[j] if ratio else 1.0)
                continue
            gain = float(np.maximum(sim - best[who], 0.0).sum()) + bonus[j]
            heapq.heappush(heap, (-(gain / cost[j] if ratio else gain), j, len(chosen)))
        return chosen, value

    chosen, value = run(ratio=costs is not None)
    if costs is not None:
        plain, plain_value = run(ratio=False)
        if plain_value > value:
            chosen = plain
    # Each point's most similar chosen point, exactly (not limited to the graph).
    owner = np.full(n, -1)
    nearest = np.zeros(n, dtype=np.float32)
    if chosen:
        picked = x[chosen]
        for start in range(0, n, block):
            sims = x[start : start + block] @ picked.T
            arg = sims.argmax(axis=1)
            owner[start : start + block] = np.asarray(chosen)[arg]
            nearest[start : start + block] = np.maximum(sims[np.arange(len(sims)), arg], 0.0)
    return chosen, [int(o) for o in owner], [float(b) for b in nearest]


Embedder = Callable[[list[str]], Any]


def _text(example: Example, field: str) -> str:
    if field == "prompt":
        return example.prompt
    if field == "completion":
        return example.completion or ""
    return f"{example.prompt}\n\n{example.completion or ''}"


class FacilityLocation(Selection):
    """A budgeted, diversity-aware subset: every example should have a similar chosen one.

    Maximises the facility-location objective over sentence embeddings (see
    :func:`facility_location`), so near-duplicates and dense clusters get few
    representatives and rare kinds of example are covered. ``budget`` counts examples, or,
    with ``cost`` (``chars``, ``words`` or a score name), the total cost (e.g. a token
    budget). ``quality`` adds ``quality_weight * score`` to each example's gain, trading
    diversity against quality. ``neighbours``: how many most similar points each point
    counts (see :func:`facility_location`).

    ``embed`` is a callable ``list[str] -> array (n, d)``; a recipe run passes the recipe's
    embedder (``models.embedder``), and alone the step loads all-MiniLM-L6-v2. Tests and
    other embedders inject their own::

        FacilityLocation(budget=100, embed=lambda texts: my_model.encode(texts))
    """

    name = "facility-location"

    def __init__(
        self,
        budget: float | None = None,
        fraction: float | None = None,
        cost: str | None = None,
        field: Literal["prompt", "completion", "both"] = "both",
        quality: str | None = None,
        quality_weight: float = 0.0,
        neighbours: int = 128,
        embed: Embedder | None = None,
    ):
        if (budget is None) == (fraction is None):
            raise ConfigError("facility-location: give exactly one of budget and fraction")
        if fraction is not None and cost is not None:
            raise ConfigError("facility-location: fraction counts examples; with cost give a budget")
        if field not in ("prompt", "completion", "both"):
            raise ConfigError(f"facility-location: field must be prompt, completion or both, got {field!r}")
        self.budget, self.fraction, self.cost, self.field = budget, fraction, cost, field
        self.quality, self.quality_weight, self.neighbours = quality, quality_weight, neighbours
        self._embed = embed

    def _costs(self, examples: list[Example]) -> list[float] | None:
        if self.cost is None:
            return None
        if self.cost == "chars":
            return [max(1.0, float(len(_text(e, self.field)))) for e in examples]
        if self.cost == "words":
            return [max(1.0, float(len(_text(e, self.field).split()))) for e in examples]
        values = [_score_of(e, self.cost) for e in examples]
        if any(v is None or v <= 0 for v in values):
            raise DataError(f"facility-location: cost {self.cost!r} must be a positive score on every example")
        return values  # type: ignore[return-value]

    def embed(self, texts: list[str]) -> Any:
        if self._embed is None:  # a recipe run injects the run's embedder; alone, the default model
            from syllabus.curate.embed import load_embedder

            self._embed = load_embedder().encode
        return self._embed(texts)

    def select(self, examples: list[Example]) -> Selected:
        if not examples:
            return Selected([], [])
        budget = self.budget if self.budget is not None else round(len(examples) * self.fraction)  # type: ignore[operator]
        quality = None
        if self.quality is not None:
            quality = [_score_of(e, self.quality) or 0.0 for e in examples]
        vectors = self.embed([_text(e, self.field) for e in examples])
        chosen, owner, sim = facility_location(
            vectors, float(budget), costs=self._costs(examples), quality=quality, quality_weight=self.quality_weight,
            neighbours=self.neighbours,
        )
        pick = {j: r for r, j in enumerate(chosen)}
        for i, e in enumerate(examples):
            nearest = examples[owner[i]].id if owner[i] >= 0 else None
            self._note(e, rank=pick[i] + 1 if i in pick else None, nearest=nearest, similarity=round(sim[i], 4))
        kept = [examples[j] for j in chosen]
        dropped = [(e, "covered by a chosen example") for i, e in enumerate(examples) if i not in pick]
        return Selected(kept, dropped, {"budget": budget, "chosen": len(chosen), "coverage": round(sum(sim) / len(sim), 4)})


# -- InstructMining subset-size search -------------------------------------------------------------


Evaluate = Callable[[list[Example]], float]


def _load_callable(path: str) -> Evaluate:
    from syllabus.registry import import_object

    try:
        fn = import_object(path)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"subset-search: cannot import evaluate {path!r}: {e}") from None
    if not callable(fn):
        raise ConfigError(f"subset-search: evaluate {path!r} is not callable")
    return fn  # type: ignore[return-value]


def read_results_table(path: str | Path) -> dict[int, float]:
    """``size -> mean loss`` from a JSON list, JSONL or CSV file with ``size`` and ``loss`` columns.

    Repeated sizes (several seeds) are averaged.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"subset-search: results {path}: no such file")
    text = path.read_text(encoding="utf-8")
    rows: list[dict[str, Any]]
    if path.suffix == ".csv":
        import csv

        rows = list(csv.DictReader(text.splitlines()))
    elif text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    sums: dict[int, list[float]] = {}
    for i, row in enumerate(rows):
        try:
            sums.setdefault(int(row["size"]), []).append(float(row["loss"]))
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: row {i + 1} needs numeric 'size' and 'loss', got {row!r}") from None
    if not sums:
        raise DataError(f"{path}: no (size, loss) rows")
    return {size: sum(v) / len(v) for size, v in sorted(sums.items())}


class SubsetSizeSearch(Selection):
    """Pick how many of the best-ranked examples to keep by minimising an evaluation loss.

    InstructMining ranks data by its rule and then searches the subset size, because the
    loss is not monotone in size (it shows double descent). The candidates are always the
    top ``size`` examples by ``score``; the loss of a size comes from one of:

    - ``evaluate``: a callable ``(subset: list[Example]) -> float`` (lower is better), e.g.
      "fine-tune the student on the subset and return its held-out loss"; in YAML an
      import path ``"my_pkg.experiments:finetune_loss"``. Sizes tried: ``sizes``, or a
      geometric grid n, n/2, n/4, ... down to ``min_size``; then ``refine`` rounds of
      bisection on both sides of the best size so far (each evaluation is cached).
    - ``results``: a table of already measured ``(size, loss)`` rows (JSON list, JSONL or
      CSV); the size with the lowest mean loss is taken (capped at the pool size).

    ``info["table"]`` records every (size, loss) seen, and the stats keep it.
    """

    name = "subset-search"

    def __init__(
        self,
        score: str,
        order: Order = "desc",
        evaluate: Evaluate | str | None = None,
        results: str | None = None,
        sizes: list[int] | None = None,
        min_size: int = 1,
        refine: int = 2,
    ):
        if (evaluate is None) == (results is None):
            raise ConfigError("subset-search: give exactly one of evaluate (a function) and results (a file of size,loss rows)")
        self.score, self.order, self.results, self.sizes = score, order, results, sizes
        self.min_size, self.refine = max(1, min_size), refine
        self.evaluate = evaluate if isinstance(evaluate, str) else None  # the import path is recorded
        self._evaluate: Evaluate | None = _load_callable(evaluate) if isinstance(evaluate, str) else evaluate

    def _grid(self, n: int) -> list[int]:
        if self.sizes:
            return sorted({min(max(1, s), n) for s in self.sizes})
        grid, size = set(), n
        while size >= self.min_size:
            grid.add(size)
            size //= 2
        return sorted(grid or {n})

    def search(self, ranked: list[Example]) -> tuple[int, dict[int, float]]:
        """The chosen size and the table of every (size, loss) evaluated."""
        n = len(ranked)
        if self.results is not None:
            table = read_results_table(self.results)
            best = min(table, key=lambda s: (table[s], s))
            return min(best, n), table
        assert self._evaluate is not None
        table: dict[int, float] = {}

        def loss(size: int) -> float:
            if size not in table:
                table[size] = float(self._evaluate(ranked[:size]))  # type: ignore[misc]
            return table[size]

        for size in self._grid(n):
            loss(size)
        for _ in range(self.refine):  # bisect towards the best size from both neighbours
            tried = sorted(table)
            best = min(tried, key=lambda s: (table[s], s))
            i = tried.index(best)
            for other in (tried[i - 1] if i > 0 else None, tried[i + 1] if i + 1 < len(tried) else None):
                if other is not None and abs(other - best) > 1:
                    loss((other + best) // 2)
        best = min(table, key=lambda s: (table[s], s))
        return best, dict(sorted(table.items()))

    def select(self, examples: list[Example]) -> Selected:
        ranked, missing = _rank(examples, self.score, self.order)
        if not ranked:
            return Selected([], [(e, f"no {self.score} score") for e in missing])
        size, table = self.search(ranked)
        for i, e in enumerate(ranked):
            self._note(e, rank=i + 1, chosen_size=size)
        dropped = [(e, "beyond the chosen subset size") for e in ranked[size:]]
        dropped += [(e, f"no {self.score} score") for e in missing]
        return Selected(ranked[:size], dropped, {"size": size, "table": {str(k): v for k, v in table.items()}})
