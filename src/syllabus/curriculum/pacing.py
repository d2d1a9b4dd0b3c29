"""Pacing and replay schedules: the numbers behind the curricula, as plain functions.

Each function is exact and small so its sequence can be tested term by term.

>>> cyclical_fractions(budget=3.0)
[0.25, 0.5, 1.0, 0.5, 0.25, 0.5]
>>> [round(w, 3) for w in replay_weights([0, 1, 2], now=3, kind="power-law", alpha=1.0)]
[0.25, 0.333, 0.5]
>>> allocate(10, [0.25, 0.333, 0.5])
[2, 3, 5]
>>> escalation_shares(4, start=0.2, end=0.8)
[0.2, 0.4, 0.6, 0.8]
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Literal, TypeVar

from syllabus.errors import ConfigError

__all__ = [
    "allocate",
    "cyclical_fractions",
    "escalation_shares",
    "replay_weights",
    "weighted_sample",
]

T = TypeVar("T")
ReplayKind = Literal["power-law", "exponential", "uniform"]


def cyclical_fractions(start: float = 0.25, end: float = 1.0, alpha: float = 0.5, budget: float = 4.0) -> list[float]:
    """The subset fractions of Cyclical Curriculum Learning: start, start/α, ... end, ... start, ...

    Fractions grow by ``1/alpha`` up to ``end``, shrink by ``alpha`` back to ``start``, and
    repeat; the sequence stops before its sum would pass ``budget`` (in epochs), so the
    number of examples seen matches ``budget`` epochs of plain training at most.
    """
    if not (0 < start <= end <= 1):
        raise ConfigError(f"cyclical pacing needs 0 < start <= end <= 1, got start={start}, end={end}")
    if not 0 < alpha < 1:
        raise ConfigError(f"cyclical pacing needs 0 < alpha < 1, got {alpha}")
    out: list[float] = []
    f, growing, total = start, True, 0.0
    while total + f <= budget + 1e-9:
        out.append(round(f, 10))
        total += f
        if growing:
            nxt = f / alpha
            if nxt > end + 1e-12:
                growing, nxt = False, f * alpha
            f = min(nxt, end)
        else:
            nxt = f * alpha
            if nxt < start - 1e-12:
                growing, nxt = True, f / alpha
            f = max(nxt, start)
        if len(out) > 100_000:  # a degenerate budget; never loop forever
            break
    return out


def replay_weights(rounds: Sequence[int], now: int, kind: ReplayKind = "power-law", alpha: float = 1.0) -> list[float]:
    """Unnormalised rehearsal weight of each earlier round, decaying with ``now - round``.

    power-law: ``(now - round + 1) ** -alpha``; exponential: ``exp(-alpha * (now - round))``;
    uniform: 1. The weights decrease monotonically with the time since a round was seen.
    """
    out = []
    for r in rounds:
        dt = now - r
        if dt < 1:
            raise ConfigError(f"replay needs rounds before {now}, got round {r}")
        if kind == "power-law":
            out.append((dt + 1) ** -alpha)
        elif kind == "exponential":
            out.append(math.exp(-alpha * dt))
        elif kind == "uniform":
            out.append(1.0)
        else:
            raise ConfigError(f"unknown replay kind {kind!r}: choose power-law, exponential or uniform")
    return out


def allocate(budget: int, weights: Sequence[float], capacity: Sequence[int] | None = None) -> list[int]:
    """Split an integer ``budget`` in proportion to ``weights`` (largest remainder), within ``capacity``.

    Counts sum to ``budget`` unless the capacities are smaller, in which case the leftover
    goes to the groups that still have room, still in proportion.
    """
    n = len(weights)
    cap = list(capacity) if capacity is not None else [budget] * n
    counts = [0] * n
    remaining = min(budget, sum(cap))
    active = [i for i in range(n) if weights[i] > 0 and cap[i] > 0]
    while remaining > 0 and active:
        total = sum(weights[i] for i in active)
        shares = {i: remaining * weights[i] / total for i in active}
        floors = {i: min(int(shares[i]), cap[i] - counts[i]) for i in active}
        for i, k in floors.items():
            counts[i] += k
        given = sum(floors.values())
        left = remaining - given
        # Largest remainders first; ties by position so the split is deterministic.
        order = sorted(active, key=lambda i: (-(shares[i] - int(shares[i])), i))
        for i in order:
            if left == 0:
                break
            if counts[i] < cap[i]:
                counts[i] += 1
                left -= 1
        # Every pass hands out at least one unit (active groups all have room), so this ends.
        remaining = left
        active = [i for i in active if counts[i] < cap[i]]
    return counts


def weighted_sample(items: Sequence[T], weights: Sequence[float], k: int, rng: random.Random) -> list[T]:
    """``k`` items without replacement, item i drawn with probability ∝ ``weights[i]``.

    Efraimidis–Spirakis: keep the k largest ``u ** (1 / w)``; zero-weight items come last.
    """
    if k > len(items):
        raise ConfigError(f"cannot draw {k} of {len(items)} items without replacement")
    keyed = []
    for i, (item, w) in enumerate(zip(items, weights, strict=True)):
        u = rng.random()
        key = u ** (1.0 / w) if w > 0 else -1.0 + u * 1e-9
        keyed.append((key, i, item))
    keyed.sort(key=lambda t: (-t[0], t[1]))
    return [item for _, _, item in keyed[:k]]


def escalation_shares(stages: int, start: float = 0.2, end: float = 0.8) -> list[float]:
    """TAPIR-style difficulty escalation: the share of hard examples per stage, rising linearly."""
    if stages < 1:
        raise ConfigError(f"stages must be >= 1, got {stages}")
    if not 0 <= start <= end <= 1:
        raise ConfigError(f"escalation needs 0 <= start <= end <= 1, got {start}, {end}")
    if stages == 1:
        return [end]
    return [round(start + (end - start) * i / (stages - 1), 10) for i in range(stages)]
