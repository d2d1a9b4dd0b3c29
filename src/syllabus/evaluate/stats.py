"""Honest statistics for evaluation: intervals, paired before/after tests, rank stability.

Every "did teaching help?" claim in syllabus goes through this module. The rules:

* compare before and after **on the same items** (:func:`compare` refuses lists of
  different lengths; :func:`align` pairs per-example records by id first);
* report the confidence interval of the **difference**, not two separate intervals;
* say ``"no significant change"`` when that is the result.

Per-item scores come from one sampling run scored many ways (``pass_at_k``, ``maj_at_k``,
judge outcomes), so every function here is pure: arrays in, small frozen dataclasses out,
each with ``to_dict()`` for ``report.json``. Randomness (bootstrap) always comes from a
seeded ``numpy.random.Generator``, so the same inputs give the same report.

>>> before = [1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0]
>>> after  = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0]
>>> result = compare(before, after)
>>> result.test, result.b01, result.b10, round(result.p_value, 4), result.verdict
('mcnemar-exact', 4, 0, 0.125, 'no significant change')

Conventions: ``a`` is the baseline (before), ``b`` the candidate (after); differences are
``b - a``; win rates are fractions in [0, 1] (not percent) of comparisons that B wins.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from syllabus.errors import DataError

__all__ = [
    "Aligned",
    "Estimate",
    "LengthControlledWinRate",
    "PairedComparison",
    "RankCorrelation",
    "StatsInputError",
    "WinRate",
    "align",
    "compare",
    "kendall_tau",
    "length_controlled_win_rate",
    "maj_at_k",
    "majority_vote",
    "mcnemar",
    "mean_ci",
    "paired_bootstrap",
    "paired_ratio_bootstrap",
    "pass_at_k",
    "win_rate",
]

IMPROVEMENT = "significant improvement"
REGRESSION = "significant regression"
NO_CHANGE = "no significant change"

# Bootstrap resampling materialises (chunk x n) indices; this caps the chunk's size so a
# 100k-item evaluation does not allocate gigabytes.
_MAX_CELLS_PER_CHUNK = 2_000_000


class StatsInputError(DataError, ValueError):
    """Inputs a statistic cannot use (empty, NaN, mismatched pairing, non-binary for McNemar).

    It is a ``ValueError`` for plain-Python callers and a ``DataError`` (hence a
    ``SyllabusError``) for the CLI, which prints it as one line.
    """


# ---------------------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------------------


def _json_safe(d: dict[str, Any]) -> dict[str, Any]:
    """NaN/inf are not JSON; reports store them as null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a confidence interval.

    >>> Estimate(0.5, 0.4, 0.6, 100, "wilson").to_dict()["low"]
    0.4
    """

    value: float
    low: float
    high: float
    n: int
    method: str
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(asdict(self))

    def __str__(self) -> str:
        ci = f"[{self.confidence:.0%} CI {self.low:.4f}, {self.high:.4f}]"
        return f"{self.value:.4f} {ci} (n={self.n}, {self.method})"


@dataclass(frozen=True)
class PairedComparison:
    """Before/after on the same items: ``diff = mean(b) - mean(a)`` with its CI and test.

    ``b01`` / ``b10`` are set by McNemar: items that only ``b`` got right (fixed) and items
    that only ``a`` got right (broken).
    """

    diff: float
    low: float
    high: float
    p_value: float
    n: int
    test: str
    verdict: str
    mean_a: float = math.nan
    mean_b: float = math.nan
    confidence: float = 0.95
    ci_method: str = ""
    b01: int | None = None
    b10: int | None = None

    @property
    def significant(self) -> bool:
        return self.verdict != NO_CHANGE

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(asdict(self))

    def summary(self) -> str:
        """One line for logs and reports.

        >>> print(compare([0, 0, 1, 1], [0, 0, 1, 1]).summary())
        0.5000 -> 0.5000, diff +0.0000 [95% CI -0.3500, +0.3500], p=1, n=4 (mcnemar-exact): no significant change
        """
        return (
            f"{self.mean_a:.4f} -> {self.mean_b:.4f}, diff {self.diff:+.4f} "
            f"[{self.confidence:.0%} CI {self.low:+.4f}, {self.high:+.4f}], p={self.p_value:.3g}, "
            f"n={self.n} ({self.test}): {self.verdict}"
        )


@dataclass(frozen=True)
class RankCorrelation:
    """Kendall's tau-b and its two-sided p-value (``method``: ``exact`` or ``asymptotic``)."""

    tau: float
    p_value: float
    n: int
    method: str

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(asdict(self))


@dataclass(frozen=True)
class WinRate:
    """Pairwise judging summary; every rate is the share of B (the candidate) winning.

    * ``value``: mean preference, ties (0.5) count half; continuous judge preferences
      (e.g. a log-prob weighted judge) are averaged as they are.
    * ``standard_error``: sample SD / sqrt(n) of the per-item preferences.
    * ``discrete``: each preference rounded to win (> 0.5), loss (< 0.5) or tie (= 0.5),
      ties counting half (AlpacaEval's ``discrete_win_rate``).
    * ``decisive``: wins / (wins + losses), ties excluded; NaN when every item is a tie.
    """

    value: float
    standard_error: float
    discrete: float
    decisive: float
    n_wins: int
    n_losses: int
    n_ties: int
    n: int

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(asdict(self))


@dataclass(frozen=True)
class LengthControlledWinRate:
    """Win rate of B with the judge's length preference removed (see
    :func:`length_controlled_win_rate`). ``beta > 0`` means the judge favours longer answers."""

    value: float
    low: float
    high: float
    raw: float
    theta: float
    beta: float
    n: int
    confidence: float = 0.95
    resamples: int = 0

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(asdict(self))


@dataclass(frozen=True)
class Aligned:
    """Two lists of records paired by id, in the order of the first list, plus the ids
    that only one side has (``only_a`` / ``only_b``)."""

    ids: list[Any]
    a: list[Any]
    b: list[Any]
    only_a: list[Any] = field(default_factory=list)
    only_b: list[Any] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when nothing had to be dropped."""
        return not self.only_a and not self.only_b


# ---------------------------------------------------------------------------------------
# Input checks and small numeric helpers
# ---------------------------------------------------------------------------------------


def _vector(values: ArrayLike, name: str = "values") -> np.ndarray:
    """A finite, non-empty 1-D float array, or a StatsInputError naming the problem."""
    try:
        x = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as e:
        raise StatsInputError(f"{name} must be numbers: {e}") from None
    if x.ndim != 1:
        raise StatsInputError(f"{name} must be a 1-D sequence of per-item scores, got shape {x.shape}")
    if x.size == 0:
        raise StatsInputError(f"{name} is empty: there is nothing to estimate")
    if not np.all(np.isfinite(x)):
        bad = int(np.flatnonzero(~np.isfinite(x))[0])
        raise StatsInputError(
            f"{name}[{bad}] is {x[bad]}: drop or score failed items explicitly (e.g. as 0) before computing statistics"
        )
    return x


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x, y = _vector(a, "a"), _vector(b, "b")
    if x.size != y.size:
        raise StatsInputError(
            f"a has {x.size} items and b has {y.size}: a paired comparison needs scores on the same items "
            "in the same order. Pair per-example records by id with syllabus.evaluate.stats.align(), "
            "or re-run the evaluation on the same item set."
        )
    return x, y


def _is_binary(x: np.ndarray) -> bool:
    return bool(np.all((x == 0) | (x == 1)))


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise StatsInputError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    return 1 - confidence


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp(-log(1 + e^-z)) never overflows, unlike 1 / (1 + e^-z) for very negative z.
    return np.exp(-np.logaddexp(0.0, -z))


def _bootstrap_means(x: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``resamples`` resamples of ``x`` drawn with replacement."""
    if resamples < 1:
        raise StatsInputError(f"resamples must be at least 1, got {resamples}")
    n = x.size
    out = np.empty(resamples)
    chunk = max(1, _MAX_CELLS_PER_CHUNK // n)
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        out[start:stop] = x[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return out


def _wilson(successes: float, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion."""
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def _t_cdf(t: float, df: int) -> float:
    """Student t CDF for an integer ``df``, by the closed-form finite series
    (Abramowitz & Stegun 26.7.3-4), so no special-function library is needed."""
    theta = math.atan(t / math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2 == 1:
        total, term = 0.0, c
        for j in range(1, (df - 1) // 2 + 1):  # c + (2/3)c^3 + (2*4)/(3*5)c^5 + ...
            total += term
            term *= c * c * (2 * j) / (2 * j + 1)
        a = 2 / math.pi * (theta + s * total)
    else:
        total, term = 0.0, 1.0
        for j in range(1, df // 2 + 1):  # 1 + (1/2)c^2 + (1*3)/(2*4)c^4 + ...
            total += term
            term *= c * c * (2 * j - 1) / (2 * j)
        a = s * total
    return 0.5 + a / 2  # a = P(-|t| < T < |t|), signed like t


def _t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t with integer ``df``, for p in (0.5, 1)."""
    if df > 200:
        # Cornish-Fisher expansion around the normal quantile (A&S 26.7.5); the next
        # term is O(df^-5), far below anything a report prints.
        z = NormalDist().inv_cdf(p)
        g1 = (z**3 + z) / 4
        g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
        g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
        g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
        return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(200):  # bisection: monotone, cannot diverge
        mid = (lo + hi) / 2
        if _t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13 * max(1.0, hi):
            break
    return (lo + hi) / 2


def _verdict(diff: float, p_value: float, alpha: float, higher_is_better: bool) -> str:
    if not p_value < alpha or diff == 0:
        return NO_CHANGE
    return IMPROVEMENT if (diff > 0) == higher_is_better else REGRESSION


# ---------------------------------------------------------------------------------------
# One sample
# ---------------------------------------------------------------------------------------


def mean_ci(
    values: ArrayLike,
    confidence: float = 0.95,
    method: Literal["bootstrap", "t", "wilson"] = "bootstrap",
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """The mean of per-item scores with a confidence interval.

    Methods:

    * ``"bootstrap"``: percentile bootstrap over items (``resamples`` draws from
      ``numpy.random.default_rng(seed)``). Works for any score; too narrow for tiny n
      (below ~20 items prefer ``"t"``, or ``"wilson"`` for 0/1 scores).
    * ``"t"``: mean +/- t quantile x SD / sqrt(n); NaN bounds when n = 1.
    * ``"wilson"``: Wilson score interval for a proportion; values must be 0/1. Unlike
      the normal approximation it stays inside [0, 1] and is sensible at 0/n and n/n.

    >>> print(mean_ci([1] * 81 + [0] * 182, method="wilson"))
    0.3080 [95% CI 0.2553, 0.3662] (n=263, wilson)
    >>> print(mean_ci(range(1, 11), method="t"))
    5.5000 [95% CI 3.3341, 7.6659] (n=10, t)
    >>> mean_ci([0.2, 0.4, 0.9, 0.5], resamples=500).value
    0.5
    """
    alpha = _check_confidence(confidence)
    x = _vector(values)
    n = x.size
    mean = float(x.mean())
    if method == "wilson":
        if not _is_binary(x):
            raise StatsInputError("method='wilson' is for 0/1 outcomes; use method='bootstrap' or 't' for other scores")
        low, high = _wilson(float(x.sum()), n, _z(confidence))
    elif method == "t":
        if n < 2:
            low = high = math.nan
        else:
            half = _t_quantile(1 - alpha / 2, n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
            low, high = mean - half, mean + half
    elif method == "bootstrap":
        boots = _bootstrap_means(x, resamples, np.random.default_rng(seed))
        low, high = (float(q) for q in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
    else:
        raise StatsInputError(f"Unknown method {method!r} for mean_ci: use 'bootstrap', 't' or 'wilson'")
    return Estimate(mean, float(low), float(high), n, method, confidence)


# ---------------------------------------------------------------------------------------
# Paired comparisons
# ---------------------------------------------------------------------------------------


def _percentile_interval_and_p(boots: np.ndarray, diff: float, alpha: float) -> tuple[float, float, float]:
    """The percentile interval of bootstrapped differences and the two-sided p-value that
    inverts it: twice the share beyond 0 on the far side (+1 so never 0), capped at 1."""
    low, high = (float(q) for q in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
    if diff == 0:
        return low, high, 1.0
    beyond = int(np.sum(boots <= 0)) if diff > 0 else int(np.sum(boots >= 0))
    return low, high, min(1.0, 2 * (beyond + 1) / (boots.size + 1))


def paired_bootstrap(
    a: ArrayLike,
    b: ArrayLike,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    higher_is_better: bool = True,
) -> PairedComparison:
    """Paired bootstrap for ``mean(b - a)`` where ``a[i]`` and ``b[i]`` score the same item.

    Items are resampled with replacement and the mean difference recomputed
    ``resamples`` times. The CI is the percentile interval of those means. The two-sided
    p-value is the one that inverts that interval: twice the share of resampled means on
    the far side of 0 (with the usual +1 so it is never exactly 0), capped at 1; so the
    verdict is significant exactly when the CI, at the same ``confidence``, excludes 0
    (up to the +1). ``higher_is_better=False`` flips the verdict for losses/perplexities.

    >>> a = [0.50, 0.61, 0.42, 0.55, 0.47, 0.58, 0.52, 0.49]
    >>> b = [0.63, 0.70, 0.55, 0.61, 0.60, 0.71, 0.60, 0.62]
    >>> r = paired_bootstrap(a, b)
    >>> round(r.diff, 4), r.low > 0, r.verdict
    (0.11, True, 'significant improvement')
    >>> paired_bootstrap(a, a).verdict
    'no significant change'
    """
    alpha = _check_confidence(confidence)
    x, y = _pair(a, b)
    d = y - x
    diff = float(d.mean())
    boots = _bootstrap_means(d, resamples, np.random.default_rng(seed))
    low, high, p = _percentile_interval_and_p(boots, diff, alpha)
    return PairedComparison(
        diff=diff,
        low=low,
        high=high,
        p_value=p,
        n=int(d.size),
        test="paired-bootstrap",
        verdict=_verdict(diff, p, alpha, higher_is_better),
        mean_a=float(x.mean()),
        mean_b=float(y.mean()),
        confidence=confidence,
        ci_method="percentile-bootstrap",
    )


def paired_ratio_bootstrap(
    num_a: ArrayLike,
    num_b: ArrayLike,
    den: ArrayLike,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    higher_is_better: bool = True,
) -> PairedComparison:
    """Paired bootstrap for a pooled ratio: ``sum(num_b) / sum(den) - sum(num_a) / sum(den)``.

    IFEval's instruction-level accuracy pools the instructions of all prompts (passed over
    all instructions); the instructions of one prompt share an answer, so items (prompts)
    are resampled whole, with their counts before and after. Same p-value and verdict
    rules as :func:`paired_bootstrap`.

    >>> r = paired_ratio_bootstrap([0, 1, 0, 1, 0, 1], [1, 2, 1, 2, 1, 2], [1, 2, 1, 2, 1, 2])
    >>> round(r.mean_a, 3), round(r.diff, 3), r.verdict
    (0.333, 0.667, 'significant improvement')
    """
    alpha = _check_confidence(confidence)
    a, b = _pair(num_a, num_b)
    d = _vector(den, "den")
    if d.size != a.size or d.sum() <= 0:
        raise StatsInputError(f"den must have one positive count per item ({a.size}), with a positive sum")
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    chunk = max(1, _MAX_CELLS_PER_CHUNK // a.size)
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        idx = rng.integers(0, a.size, size=(stop - start, a.size))
        diffs[start:stop] = (b[idx] - a[idx]).sum(axis=1) / d[idx].sum(axis=1)
    diff = float((b - a).sum() / d.sum())
    low, high, p = _percentile_interval_and_p(diffs, diff, alpha)
    return PairedComparison(
        diff=diff, low=low, high=high, p_value=p, n=int(a.size), test="paired-bootstrap (pooled ratio)",
        verdict=_verdict(diff, p, alpha, higher_is_better), mean_a=float(a.sum() / d.sum()), mean_b=float(b.sum() / d.sum()),
        confidence=confidence, ci_method="percentile-bootstrap over items",
    )


def _newcombe_paired(n11: int, b01: int, b10: int, n00: int, z: float) -> tuple[float, float]:
    """Newcombe's (1998) square-and-add interval for a difference of paired proportions
    (his method 10): Wilson intervals for each accuracy, combined using the estimated
    correlation between them (with his continuity adjustment of phi).

    Here the first proportion is b's accuracy (n11 + b01) / n, the second a's (n11 + b10) / n.
    """
    n = n11 + b01 + b10 + n00
    p1, p2 = (n11 + b01) / n, (n11 + b10) / n
    l1, u1 = _wilson(n11 + b01, n, z)
    l2, u2 = _wilson(n11 + b10, n, z)
    margins = (n11 + b01) * (b10 + n00) * (n11 + b10) * (b01 + n00)
    phi = 0.0
    if margins > 0:
        cross = n11 * n00 - b01 * b10
        if cross > n / 2:
            phi = (cross - n / 2) / math.sqrt(margins)
        elif cross < 0:
            phi = cross / math.sqrt(margins)
    d = p1 - p2
    lower = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    upper = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, d - lower), min(1.0, d + upper)


def mcnemar(
    a: ArrayLike,
    b: ArrayLike,
    *,
    confidence: float = 0.95,
    exact: bool | None = None,
    higher_is_better: bool = True,
) -> PairedComparison:
    """McNemar's test for 0/1 outcomes of two systems on the same items.

    Only discordant items carry information: ``b01`` (a wrong, b right) and ``b10``
    (a right, b wrong). Under "no change" each discordant item is a fair coin flip, so:

    * ``exact`` (default when b01 + b10 < 25): two-sided exact binomial test,
      ``min(1, 2 * P(X <= min(b01, b10)))`` with ``X ~ Binomial(b01 + b10, 1/2)``;
    * otherwise the chi-square test with continuity correction,
      ``(|b01 - b10| - 1)^2 / (b01 + b10)`` on 1 degree of freedom.

    ``diff`` is the accuracy difference ``(b01 - b10) / n``; its CI is Newcombe's
    square-and-add interval for paired proportions (score-based, so it behaves at small
    n and near 0 or 1 where a bootstrap collapses to a point). The verdict follows the
    test's p-value; the interval comes from a different construction, so at the margin it
    can just exclude 0 while p is just above the level (or the reverse).

    >>> r = mcnemar([1] * 9 + [0] * 11, [0] * 9 + [1] + [0] * 10)
    >>> r.b01, r.b10, round(r.p_value, 4), r.verdict
    (1, 9, 0.0215, 'significant regression')
    """
    alpha = _check_confidence(confidence)
    x, y = _pair(a, b)
    if not (_is_binary(x) and _is_binary(y)):
        raise StatsInputError("mcnemar needs 0/1 outcomes in both a and b; use paired_bootstrap for other scores")
    b01 = int(np.sum((x == 0) & (y == 1)))
    b10 = int(np.sum((x == 1) & (y == 0)))
    n11 = int(np.sum((x == 1) & (y == 1)))
    n = int(x.size)
    discordant = b01 + b10
    use_exact = discordant < 25 if exact is None else exact
    if discordant == 0:
        p = 1.0
    elif use_exact:
        k = min(b01, b10)
        tail = sum(math.comb(discordant, i) for i in range(k + 1)) / 2**discordant
        p = min(1.0, 2 * tail)
    else:
        chi2 = (abs(b01 - b10) - 1) ** 2 / discordant
        p = math.erfc(math.sqrt(chi2 / 2))  # P(chi2_1 >= chi2) = P(|Z| >= sqrt(chi2))
    diff = (b01 - b10) / n
    low, high = _newcombe_paired(n11, b01, b10, n - n11 - b01 - b10, _z(confidence))
    return PairedComparison(
        diff=diff,
        low=low,
        high=high,
        p_value=p,
        n=n,
        test="mcnemar-exact" if use_exact else "mcnemar-chi2",
        verdict=_verdict(diff, p, alpha, higher_is_better),
        mean_a=float(x.mean()),
        mean_b=float(y.mean()),
        confidence=confidence,
        ci_method="newcombe-wilson",
        b01=b01,
        b10=b10,
    )


def compare(
    a: ArrayLike,
    b: ArrayLike,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    higher_is_better: bool = True,
) -> PairedComparison:
    """Compare per-item scores of a baseline ``a`` and a candidate ``b`` on the same items.

    McNemar when both are 0/1, the paired bootstrap otherwise. Lists of different lengths
    are refused: a comparison of different item sets says nothing about the change.

    >>> compare([0.1, 0.5, 0.7], [0.2, 0.5, 0.9]).test
    'paired-bootstrap'
    >>> compare([1, 0, 1], [1, 1])
    Traceback (most recent call last):
    ...
    syllabus.evaluate.stats.StatsInputError: a has 3 items and b has 2: ...
    """
    x, y = _pair(a, b)
    if _is_binary(x) and _is_binary(y):
        return mcnemar(x, y, confidence=confidence, higher_is_better=higher_is_better)
    return paired_bootstrap(
        x, y, confidence=confidence, resamples=resamples, seed=seed, higher_is_better=higher_is_better
    )


def align(samples_a: Iterable[Any], samples_b: Iterable[Any], key: str = "id") -> Aligned:
    """Pair two runs' per-example records (dicts or objects such as ``Example``) by ``key``.

    The result follows the order of ``samples_a``; ids present on one side only are
    reported in ``only_a`` / ``only_b`` instead of being silently dropped. Duplicate or
    missing ids are errors, since they make the pairing ambiguous.

    >>> before = [{"id": "q1", "acc": 1}, {"id": "q2", "acc": 0}, {"id": "q3", "acc": 0}]
    >>> after = [{"id": "q3", "acc": 1}, {"id": "q1", "acc": 1}, {"id": "q4", "acc": 1}]
    >>> pairs = align(before, after)
    >>> pairs.ids, [r["acc"] for r in pairs.b], pairs.only_a, pairs.only_b
    (['q1', 'q3'], [1, 1], ['q2'], ['q4'])
    """

    def index(samples: Iterable[Any], side: str) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for i, s in enumerate(samples):
            k = s.get(key) if isinstance(s, Mapping) else getattr(s, key, None)
            if k is None:
                raise StatsInputError(f"samples_{side}[{i}] has no {key!r}: align needs an id on every record")
            if k in out:
                raise StatsInputError(f"samples_{side} has {key}={k!r} twice: ids must be unique to pair records")
            out[k] = s
        return out

    ia, ib = index(samples_a, "a"), index(samples_b, "b")
    ids = [k for k in ia if k in ib]
    return Aligned(
        ids=ids,
        a=[ia[k] for k in ids],
        b=[ib[k] for k in ids],
        only_a=[k for k in ia if k not in ib],
        only_b=[k for k in ib if k not in ia],
    )


# ---------------------------------------------------------------------------------------
# Rank stability (BOSE): does the metric rise with the checkpoint?
# ---------------------------------------------------------------------------------------


def _tie_sums(x: np.ndarray) -> tuple[int, int, int]:
    """Sums over tie groups t of t(t-1)/2, t(t-1)(t-2) and t(t-1)(2t+5)."""
    _, counts = np.unique(x, return_counts=True)
    t = [int(c) for c in counts if c > 1]
    return (
        sum(c * (c - 1) // 2 for c in t),
        sum(c * (c - 1) * (c - 2) for c in t),
        sum(c * (c - 1) * (2 * c + 5) for c in t),
    )


def _kendall_exact_p(n: int, discordant: int) -> float:
    """Two-sided exact p-value when there are no ties: under independence the number of
    discordant pairs is the inversion count of a uniformly random permutation."""
    total = n * (n - 1) // 2
    c = min(discordant, total - discordant)
    if 2 * c == total:
        return 1.0
    if c <= 1:  # closed forms: 1 permutation with 0 inversions, n - 1 with exactly 1
        return min(1.0, 2 * math.exp(-math.lgamma(n + (1 if c == 0 else 0))))
    # counts[k] = number of permutations of m items with k inversions (k <= c), built up m by m.
    counts = [1] + [0] * c
    for m in range(2, n + 1):
        prefix = [0]
        for v in counts:
            prefix.append(prefix[-1] + v)
        counts = [prefix[k + 1] - prefix[max(0, k - m + 1)] for k in range(c + 1)]
    return min(1.0, 2 * sum(counts) / math.factorial(n))


def kendall_tau(
    x: ArrayLike, y: ArrayLike, *, method: Literal["auto", "exact", "asymptotic"] = "auto"
) -> RankCorrelation:
    """Kendall's tau-b (ties handled) between two sequences, with a two-sided p-value.

    BOSE-style stability: ``kendall_tau(checkpoint_steps, metric_scores)`` near 1 means
    the metric rises steadily with training; near 0 means it is noise at this model size.

    ``tau_b = (C - D) / sqrt((n0 - n1) (n0 - n2))`` with C/D concordant/discordant pairs,
    n0 = n(n-1)/2 and n1, n2 the pairs tied in x and in y. The p-value follows
    ``scipy.stats.kendalltau``: exact (permutation distribution) when there are no ties
    and n <= 33, otherwise the normal approximation with the tie-corrected variance of
    C - D. NaN when either sequence is constant. O(n^2) time, fine for thousands of points.

    >>> r = kendall_tau([1, 2, 3, 4, 5, 6], [0.10, 0.12, 0.11, 0.20, 0.25, 0.31])
    >>> round(r.tau, 4), round(r.p_value, 4), r.method
    (0.8667, 0.0167, 'exact')
    """
    if method not in ("auto", "exact", "asymptotic"):
        raise StatsInputError(f"Unknown method {method!r} for kendall_tau: use 'auto', 'exact' or 'asymptotic'")
    u, v = _vector(x, "x"), _vector(y, "y")
    if u.size != v.size:
        raise StatsInputError(f"x has {u.size} values and y has {v.size}: kendall_tau needs one y per x")
    n = int(u.size)
    n0 = n * (n - 1) // 2
    xtie, x0, x1 = _tie_sums(u)
    ytie, y0, y1 = _tie_sums(v)
    if n < 2 or xtie == n0 or ytie == n0:
        return RankCorrelation(math.nan, math.nan, n, "undefined")

    # S = C - D: each unordered pair counted twice over the full sign matrix; rows in
    # blocks so memory stays bounded for long sequences.
    s2 = 0
    block = max(1, _MAX_CELLS_PER_CHUNK // n)
    for i in range(0, n, block):
        du = np.sign(u[i : i + block, None] - u[None, :])
        dv = np.sign(v[i : i + block, None] - v[None, :])
        s2 += int((du * dv).sum())
    s = s2 // 2
    tau = max(-1.0, min(1.0, s / math.sqrt((n0 - xtie) * (n0 - ytie))))

    if method == "exact" and (xtie or ytie):
        raise StatsInputError("kendall_tau(method='exact') needs data without ties; use 'auto' or 'asymptotic'")
    discordant = (n0 - s) // 2  # no ties: C + D = n0
    if method == "auto":
        no_ties = xtie == 0 and ytie == 0
        method = "exact" if no_ties and (n <= 33 or min(discordant, n0 - discordant) <= 1) else "asymptotic"
    if method == "exact":
        p = _kendall_exact_p(n, discordant)
    else:
        m = n * (n - 1.0)
        var = (m * (2 * n + 5) - x1 - y1) / 18 + 2 * xtie * ytie / m
        if n > 2:
            var += x0 * y0 / (9 * m * (n - 2))
        p = math.erfc(abs(s) / math.sqrt(var) / math.sqrt(2))
    return RankCorrelation(float(tau), float(p), n, method)


# ---------------------------------------------------------------------------------------
# Sample once, score many ways: pass@k and maj@k from one run of n samples per problem
# ---------------------------------------------------------------------------------------


def _pass_at_k_one(n: int, c: int, k: int) -> float:
    if not 0 <= c <= n:
        raise StatsInputError(f"pass_at_k needs 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise StatsInputError(f"pass_at_k needs 1 <= k <= n (k={k}, n={n}): sample at least k answers per problem")
    if n - c < k:
        return 1.0  # every k-subset contains a correct sample
    # 1 - C(n-c, k) / C(n, k) as a product of ratios: no huge binomials, no overflow.
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k(n: ArrayLike, c: ArrayLike, k: int) -> float | np.ndarray:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct (Chen et al. 2021).

    ``1 - C(n - c, k) / C(n, k)``: the probability that k samples drawn without
    replacement from the n contain a correct one. ``n`` and ``c`` may be arrays (one entry
    per problem; they broadcast); the result is per problem, so average it, or pass it to
    :func:`mean_ci` for an interval.

    >>> round(pass_at_k(10, 3, 1), 6)
    0.3
    >>> pass_at_k([10, 10, 10], [0, 1, 10], 5).round(3).tolist()
    [0.0, 0.5, 1.0]
    """
    nn, cc = np.broadcast_arrays(np.asarray(n), np.asarray(c))
    if not (np.all(nn == np.round(nn)) and np.all(cc == np.round(cc))):
        raise StatsInputError("pass_at_k needs whole-number sample counts n and c")
    out = np.empty(nn.shape)
    for idx in np.ndindex(nn.shape):
        out[idx] = _pass_at_k_one(int(nn[idx]), int(cc[idx]), int(k))
    return float(out) if out.ndim == 0 else out


def majority_vote(answers: Sequence[Hashable | None]) -> Hashable | None:
    """The most frequent answer; ties go to the answer seen first. ``None`` entries
    (unparseable outputs) do not vote; returns ``None`` when nothing voted.

    >>> majority_vote(["4", "5", "5", None, "4"])
    '4'
    """
    counts: dict[Hashable, int] = {}
    for ans in answers:
        if ans is not None:
            counts[ans] = counts.get(ans, 0) + 1
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a, c in counts.items() if c == best)  # dicts keep first-seen order


def maj_at_k(answers: Sequence[Hashable | None], reference: Hashable, k: int | None = None) -> float:
    """maj@k for one problem: 1.0 if the majority vote of the first ``k`` sampled answers
    (all of them when ``k`` is None) equals ``reference``, else 0.0.

    The first k samples are used (not an average over all k-subsets), so with i.i.d.
    samples this is an unbiased but noisier estimate; maj@1 is plain sample accuracy.

    >>> maj_at_k(["12", "12", "7", "7", "7"], "12", k=3), maj_at_k(["12", "12", "7", "7", "7"], "12")
    (1.0, 0.0)
    """
    if k is not None and not 1 <= k <= len(answers):
        raise StatsInputError(f"maj_at_k needs 1 <= k <= {len(answers)} (the number of sampled answers), got {k}")
    vote = majority_vote(list(answers)[:k] if k is not None else list(answers))
    return float(vote is not None and vote == reference)


# ---------------------------------------------------------------------------------------
# Pairwise judging: win rates (AlpacaFarm / AlpacaEval mechanics)
# ---------------------------------------------------------------------------------------


def _outcomes(outcomes: ArrayLike) -> np.ndarray:
    y = _vector(outcomes, "outcomes")
    if np.any((y < 0) | (y > 1)):
        raise StatsInputError("outcomes must be preferences for B in [0, 1]: 1 = B wins, 0 = A wins, 0.5 = tie")
    return y


def win_rate(outcomes: ArrayLike) -> WinRate:
    """Summarise pairwise judgements of B (candidate) against A (baseline).

    Each outcome is 1 (B wins), 0 (A wins) or 0.5 (tie); values in between are
    continuous preferences from a weighted judge. See :class:`WinRate` for the fields.

    >>> w = win_rate([1, 1, 0, 0.5, 1, 0])
    >>> round(w.value, 4), round(w.standard_error, 4), w.decisive, (w.n_wins, w.n_losses, w.n_ties)
    (0.5833, 0.2007, 0.6, (3, 2, 1))
    """
    y = _outcomes(outcomes)
    n = int(y.size)
    wins, losses = int(np.sum(y > 0.5)), int(np.sum(y < 0.5))
    ties = n - wins - losses
    se = float(y.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return WinRate(
        value=float(y.mean()),
        standard_error=se,
        discrete=(wins + 0.5 * ties) / n,
        decisive=wins / (wins + losses) if wins + losses else math.nan,
        n_wins=wins,
        n_losses=losses,
        n_ties=ties,
        n=n,
    )


def _fit_length_glm(y: np.ndarray, delta: np.ndarray, ridge: float) -> tuple[float, float, float]:
    """Fit P(B wins) = sigmoid(theta + beta * tanh(delta / sd(delta))) to soft targets y
    by penalised maximum likelihood (Newton's method with step halving).

    Returns (theta, beta, length-controlled win rate = sigmoid(theta)).
    """
    sd = float(delta.std(ddof=1)) if delta.size > 1 else 0.0
    raw = float(y.mean())
    if sd == 0 or np.ptp(y) == 0:
        # Constant length difference: beta cannot be told apart from theta. Identical
        # outcomes: nothing varies for length to explain. Either way there is no length
        # effect to remove; theta is the logit of the raw win rate (infinite at 0 or 1).
        with np.errstate(divide="ignore"):
            return float(np.log(raw) - np.log1p(-raw)), 0.0, raw
    X = np.column_stack([np.ones_like(delta), np.tanh(delta / sd)])
    penalty = np.array([0.0, ridge])  # weak prior on beta only: theta must stay unbiased

    def objective(w: np.ndarray) -> float:
        z = X @ w
        return float(np.sum(y * z - np.logaddexp(0.0, z)) - 0.5 * ridge * w[1] ** 2)

    w = np.zeros(2)
    current = objective(w)
    for _ in range(100):
        p = _sigmoid(X @ w)
        grad = X.T @ (y - p) - penalty * w
        if np.max(np.abs(grad)) < 1e-9 * y.size:
            break
        hess = (X.T * (p * (1 - p))) @ X + np.diag(penalty)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        t = 1.0  # the log-likelihood is concave, so halving the step finds an ascent
        while t > 1e-10 and objective(w + t * step) < current:
            t /= 2
        if t <= 1e-10:
            break  # converged as far as floating point allows
        w = w + t * step
        current = objective(w)
    return float(w[0]), float(w[1]), float(_sigmoid(w[0]))


def length_controlled_win_rate(
    outcomes: ArrayLike,
    len_a: ArrayLike,
    len_b: ArrayLike,
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
    ridge: float = 0.01,
) -> LengthControlledWinRate:
    """Win rate of B after removing the judge's preference for longer (or shorter) answers.

    The model, after AlpacaEval's length-controlled win rate (Dubois et al. 2024) without
    its per-instruction and regularisation terms (which need data from other runs):

        P(B wins on item i) = sigmoid(theta + beta * tanh(delta_i / sd(delta)))
        delta_i = len_b[i] - len_a[i]      (characters or tokens, as you prefer)

    ``delta`` is scaled by its SD but not centred: a systematic length gap is exactly
    what should be removed. It is fitted by maximum likelihood on the soft outcomes (ties
    0.5) with a weak L2 penalty ``ridge`` on beta only, so the fit stays finite when
    length separates wins from losses. The length-controlled win rate is the predicted
    win rate with the length term set to zero, ``sigmoid(theta)``: "if B's answers were
    as long as A's". The CI is a percentile bootstrap over items (the whole fit,
    including the SD scaling, is redone on each resample). When every item has the same
    length difference, length and quality cannot be separated and the result equals the
    raw win rate.

    >>> r = length_controlled_win_rate([1, 0, 1, 0.5], [100, 120, 80, 90], [100, 120, 80, 90], resamples=200)
    >>> r.value == r.raw == 0.625
    True
    """
    alpha = _check_confidence(confidence)
    y = _outcomes(outcomes)
    la, lb = _vector(len_a, "len_a"), _vector(len_b, "len_b")
    if not la.size == lb.size == y.size:
        raise StatsInputError(
            f"outcomes, len_a and len_b must describe the same items; got {y.size}, {la.size} and {lb.size} entries"
        )
    if resamples < 1:
        raise StatsInputError(f"resamples must be at least 1, got {resamples}")
    delta = lb - la
    theta, beta, value = _fit_length_glm(y, delta, ridge)

    rng = np.random.default_rng(seed)
    boots = np.empty(resamples)
    for r in range(resamples):
        idx = rng.integers(0, y.size, size=y.size)
        boots[r] = _fit_length_glm(y[idx], delta[idx], ridge)[2]
    low, high = (float(q) for q in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
    return LengthControlledWinRate(
        value=value,
        low=low,
        high=high,
        raw=float(y.mean()),
        theta=theta,
        beta=beta,
        n=int(y.size),
        confidence=confidence,
        resamples=resamples,
    )
