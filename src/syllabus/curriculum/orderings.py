"""Curricula: orderings, pacing and mixing of kept examples into training stages.

A :class:`Curriculum` turns a list of examples (and, for replay, the data of earlier
rounds) into ordered :class:`Stage` s. The trainer must keep the order: it trains on
stage 0, then stage 1, ..., each in the order given.

Writing one::

    @dataclass
    class ShortFirstConfig:
        stages: int = 2

    class ShortFirst(Curriculum):
        name = "short-first"
        Config = ShortFirstConfig

        def order(self, examples, earlier=()):
            ranked = sorted(examples, key=lambda e: (len(e.completion or ""), e.id))
            return split_even(ranked, self.config.stages)

    CURRICULA.register("short-first", ShortFirst)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from syllabus.curriculum.pacing import (
    ReplayKind,
    allocate,
    cyclical_fractions,
    escalation_shares,
    replay_weights,
    weighted_sample,
)
from syllabus.errors import ConfigError
from syllabus.record import Example, content_hash

__all__ = [
    "BLOOM_LEVELS",
    "Blocking",
    "Curriculum",
    "Cyclical",
    "EasyToHard",
    "Escalation",
    "GlobalInterleave",
    "Replay",
    "RoundRobin",
    "Shuffle",
    "SkillMix",
    "Stage",
    "split_even",
]

BLOOM_LEVELS = ("remember", "understand", "apply", "analyze", "evaluate", "create")


@dataclass
class Stage:
    """One training stage: examples in the order they are to be seen, and how it was made."""

    name: str
    examples: list[Example]
    info: dict[str, Any] = field(default_factory=dict)


class Curriculum(ABC):
    """Base of every curriculum: a name, an options dataclass and ``order``."""

    name: ClassVar[str] = "curriculum"
    version: ClassVar[str] = "1"
    Config: ClassVar[type]

    def __init__(self, config: Any = None):
        self.config = config if config is not None else self.Config()

    @abstractmethod
    def order(self, examples: Sequence[Example], earlier: Sequence[Sequence[Example]] = ()) -> list[Stage]:
        """The stages; ``earlier[j]`` holds round ``j``'s training data (for replay)."""

    def rng(self, *key: object) -> Any:
        import random

        return random.Random(content_hash([self.name, getattr(self.config, "seed", 0), *map(str, key)]))


def split_even(examples: Sequence[Example], stages: int, prefix: str = "stage") -> list[Stage]:
    """Consecutive slices of (nearly) equal size, in order."""
    if stages < 1:
        raise ConfigError(f"stages must be >= 1, got {stages}")
    n = len(examples)
    bounds = [round(i * n / stages) for i in range(stages + 1)]
    return [Stage(f"{prefix}_{i}", list(examples[bounds[i] : bounds[i + 1]])) for i in range(stages)]


def _score(example: Example, key: str) -> float:
    if key not in example.scores:
        raise ConfigError(
            f"example {example.id!r} has no score {key!r}; compute it first (syllabus order --difficulty ...) "
            f"or choose --set key=ONE_OF_ITS_SCORES ({', '.join(sorted(example.scores)) or 'it has none'})"
        )
    return example.scores[key]


def _meta(example: Example, key: str, default: Hashable = "") -> Hashable:
    value = example.meta.get(key, default)
    return tuple(value) if isinstance(value, list) else value


def _difficulty(examples: Sequence[Example], key: str, harder: str) -> Callable[[Example], float]:
    sign = 1.0 if harder == "higher" else -1.0
    for e in examples:
        _score(e, key)
    return lambda e: sign * _score(e, key)


# -- difficulty orderings -----------------------------------------------------------------------
@dataclass
class EasyToHardConfig:
    key: str = field(
        default="difficulty.loss",
        metadata={"help": "the score that measures difficulty"},
    )
    harder: Literal["higher", "lower"] = field(default="higher", metadata={"help": "which end of the score is harder"})
    stages: int = field(default=3, metadata={"help": "stages of equal size, easiest first"})


class EasyToHard(Curriculum):
    """Sort by difficulty (ties by id) and cut into equal stages, easiest first."""

    name = "easy-to-hard"
    Config = EasyToHardConfig

    def order(self, examples: Sequence[Example], earlier: Sequence[Sequence[Example]] = ()) -> list[Stage]:
        cfg: EasyToHardConfig = self.config
        hardness = _difficulty(examples, cfg.key, cfg.harder)
        ranked = sorted(examples, key=lambda e: (hardness(e), e.id))
        return split_even(ranked, cfg.stages)


@dataclass
class EscalationConfig:
    key: str = field(
        default="difficulty.loss",
        metadata={"help": "the score that measures difficulty"},
    )
    harder: Literal["higher", "lower"] = field(default="higher", metadata={"help": "which end of the score is harder"})
    stages: int = field(default=3, metadata={"help": "stages of equal size"})
    start: float = field(default=0.2, metadata={"help": "share of hard examples in the first stage"})
    end: float = field(default=0.8, metadata={"help": "share of hard examples in the last stage"})
    seed: int = 0


class Escalation(Curriculum):
    """TAPIR's difficulty escalation: every stage mixes easy and hard data, the hard share rising.

    Examples above the median difficulty are "hard". Stage r holds ``N / stages`` examples of
    which a share ``start -> end`` (linear) is hard; when one pool runs dry the other fills in.
    """

    name = "escalation"
    Config = EscalationConfig

    def order(self, examples: Sequence[Example], earlier: Sequence[Sequence[Example]] = ()) -> list[Stage]:
        cfg: EscalationConfig = self.config
        hardness = _difficulty(examples, cfg.key, cfg.harder)
        ranked = sorted(examples, key=lambda e: (hardness(e), e.id))
        half = len(ranked) // 2
        easy, hard = ranked[:half], ranked[half:]
        rng = self.rng("pools")
        rng.shuffle(easy)
        rng.shuffle(hard)
        shares = escalation_shares(cfg.stages, cfg.start, cfg.end)
        sizes = [len(s.examples) for s in split_even(ranked, cfg.stages)]
        stages = []
        for i, (share, size) in enumerate(zip(shares, sizes, strict=True)):
            want_hard = min(round(share * size), len(hard))
            want_easy = min(size - want_hard, len(easy))
            want_hard = min(size - want_easy, len(hard))
            chosen = [hard.pop() for _ in range(want_hard)] + [easy.pop() for _ in range(want_easy)]
            self.rng("stage", i).shuffle(chosen)
            stages.append(
                Stage(
                    f"stage_{i}",
                    chosen,
                    {"hard_share_target": share, "hard": want_hard, "easy": want_easy},
                )
            )
        return stages


@dataclass
class CyclicalConfig:
    key: str = field(
        default="difficulty.loss",
        metadata={"help": "per-example loss; sampling weight is 1/loss"},
    )
    start: float = field(default=0.25, metadata={"help": "smallest subset fraction"})
    end: float = field(default=1.0, metadata={"help": "largest subset fraction"})
    alpha: float = field(default=0.5, metadata={"help": "fraction multiplier between stages"})
    epochs: float = field(
        default=4.0,
        metadata={"help": "budget: the fractions sum to at most this many epochs"},
    )
    seed: int = 0


class Cyclical(Curriculum):
    """Cyclical Curriculum Learning: stage sizes cycle 0.25 → 0.5 → 1 → 0.5 → ... of the data.

    Each stage draws its fraction without replacement with probability ∝ 1/loss (easier
    examples more often), so the run alternates curriculum-like and plain epochs.
    """

    name = "cyclical"
    Config = CyclicalConfig

    def order(self, examples: Sequence[Example], earlier: Sequence[Sequence[Example]] = ()) -> list[Stage]:
        cfg: CyclicalConfig = self.config
        weights = [1.0 / max(_score(e, cfg.key), 1e-6) for e in examples]
        stages = []
        for i, fraction in enumerate(cyclical_fractions(cfg.start, cfg.end, cfg.alpha, cfg.epochs)):
            k = max(1, int(fraction * len(examples))) if examples else 0
            chosen = weighted_sample(list(examples), weights, k, self.rng("stage", i))
            stages.append(Stage(f"stage_{i}", chosen, {"fraction": fraction}))
        return stages


# -- structure orderings (metadata keys) ------------------------------------------------------------
@dataclass
class InterleaveConfig:
    stage_key: str = field(
        default="stage",
        metadata={"help": "meta key of the education stage (sorted ascending)"},
    )
    subject_key: str = field(default="subject", metadata={"help": "meta key of the subject"})
    concept_key: str = field(default="concept", metadata={"help": "meta key of the concept"})
    level_key: str = field(
        default="bloom",
        metadata={"help": "meta key of the Bloom level (1-6 or its name)"},
    )
    stage_order: list[str] = field(
        default_factory=list,
        metadata={"help": "stage names in order (default: sorted)"},
    )


def _level(example: Example, key: str) -> int:
    value = example.meta.get(key, 0)
    if isinstance(value, str):
        name = value.strip().lower()
        if name in BLOOM_LEVELS:
            return BLOOM_LEVELS.index(name) + 1
        try:
            return int(name)
        except ValueError:
            raise ConfigError(
                f"example {example.id!r}: {key}={value!r} is not a Bloom level ({', '.join(BLOOM_LEVELS)} or 1-6)"
            ) from None
    return int(value)


def _stage_rank(cfg: InterleaveConfig) -> Callable[[Hashable], tuple[int, str]]:
    order = {name: i for i, name in enumerate(cfg.stage_order)}
    return lambda v: (order.get(str(v), len(order)), str(v))


def _round_robin(queues: Sequence[list[Example]]) -> list[Example]:
    out: list[Example] = []
    queues = [list(q) for q in queues]
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


class GlobalInterleave(Curriculum):
    """The human-curriculum ordering: stages ascending, subjects interleaved, Bloom levels rising.

    One training stage per education stage. Within it, subjects take turns (round robin);
    each subject's turn takes the next item of its concepts in turn; within a concept, items
    come in ascending Bloom level.
    """

    name = "global-interleave"
    Config = InterleaveConfig

    def order(self, examples: Sequence[Example], earlier: Sequence[Sequence[Example]] = ()) -> list[Stage]:
        cfg: InterleaveConfig = self.config
        by_stage: dict[Hashable, list[Example]] = defaultdict(list)
        for e in examples:
            by_stage[_meta(e, cfg.stage_key)].append(e)
        stages = []
        for stage in sorted(by_stage, key=_stage_rank(cfg)):
            subjects: dict[Hashable, dict[Hashable, list[Example]]] = defaultdict(lambda: defaultdict(list))
            for e in by_stage[stage]:
                subjects[_meta(e, cfg.subject_key)][_meta(e, cfg.concept_key)].append(e)
            per_subject = []
            for subject in sorted(subjects, key=str):
                concepts = subjects[subject]
                queues = [
                    sorted(concepts[c], key=lambda e: (_level(e, cfg.level_key), e.id))
                    for c in sorted(concepts, key=str)
                ]
                per_subject.append(_round_robin(queues))
            stages.append(
                Stage(
                    f"stage_{len(stages)}",
                    _round_robin(per_subject),
                    {"education_stage": str(stage)},
                )
            )
        return stages


class Blocking(Curriculum):
    """Baseline: finish one subject (concepts in turn, Bloom levels rising) before the next; stages ascending."""

    name = "blocking"
    Config = InterleaveConfig

    def order(self, examples: Sequence[Example], earlier: Sequence[Sequence[Example]] = ()) -> list[Stage]:
        cfg: InterleaveConfig = self.config
        rank = _stage_rank(cfg)
        ranked = sorted(
            examples,
            key=lambda e: (
                rank(_meta(e, cfg.stage_key)),
                str(_meta(e, cfg.subject_key)),
                str(_meta(e, cfg.concept_key)),
                _level(e, cfg.level_key),
                e.id,
            ),
        )
        return [Stage("stage_0", ranked)]


@dataclass
class RoundRobinConfig:
    group_key: str = field(default="subject", metadata={"help": "meta key whose groups take turns"})
    seed: int = 0


class RoundRobin(Curriculum):
    """Baseline: groups take turns, no difficulty order (each group's items shuffled)."""

    name = "round-robin"
    Config = RoundRobinConfig

    def order(self, examples: Sequence[Example], earlier: Sequence[Sequence[Example]] = ()) -> list[Stage]:
        cfg: RoundRobinConfig = self.config
        groups: dict[Hashable, list[Example]] = defaultdict(list)
        for e in sorted(examples, key=lambda e: e.id):
            groups[_meta(e, cfg.group_key)].append(e)
        queues = []
        for g in sorted(groups, key=str):
            items = groups[g]
            self.rng("group", g).shuffle(items)
            queues.append(items)
        return [Stage("stage_0", _round_robin(queues))]


@dataclass
class ShuffleConfig:
    stages: int = field(default=1, metadata={"help": "equal stages of one seeded shuffle"})
    seed: int = 0


class Shuffle(Curriculum):
    """The control: one seeded random order."""

    name = "random"
    Config = ShuffleConfig

    def order(self, examples: Sequence[Example], earlier: Sequence[Sequence[Example]] = ()) -> list[Stage]:
        items = sorted(examples, key=lambda e: e.id)  # independent of input order
        self.rng("shuffle").shuffle(items)
        return split_even(items, self.config.stages)


# -- mixing and replay -------------------------------------------------------------------------------
@dataclass
class SkillMixConfig:
    key: str = field(default="skill", metadata={"help": "meta key of the skill"})
    weights: dict[str, float] = field(
        default_factory=dict,
        metadata={"help": "skill -> weight (YAML); default: equal"},
    )
    total: int | None = field(
        default=None,
        metadata={"help": "examples to keep (default: as many as the weights allow)"},
    )
    seed: int = 0


class SkillMix(Curriculum):
    """Mix skills in given proportions and spread each skill evenly through the stage.

    Counts per skill follow ``weights`` (largest remainder, capped by what each skill has);
    the order is a smooth weighted round robin, so no skill comes in one block.
    """

    name = "skill-mix"
    Config = SkillMixConfig

    def order(self, examples: Sequence[Example], earlier: Sequence[Sequence[Example]] = ()) -> list[Stage]:
        cfg: SkillMixConfig = self.config
        groups: dict[str, list[Example]] = defaultdict(list)
        for e in sorted(examples, key=lambda e: e.id):
            groups[str(_meta(e, cfg.key, "none"))].append(e)
        names = sorted(groups)
        unknown = sorted(set(cfg.weights) - set(names))
        if unknown:
            raise ConfigError(
                f"skill-mix weights name skills with no examples: {', '.join(unknown)} (have: {', '.join(names)})"
            )
        weights = [float(cfg.weights.get(n, 0.0 if cfg.weights else 1.0)) for n in names]
        if cfg.total is None:
            # The largest total the proportions allow without running out of any skill.
            total = int(min(len(groups[n]) / w * sum(weights) for n, w in zip(names, weights, strict=True) if w > 0))
        else:
            total = cfg.total
        counts = allocate(total, weights, [len(groups[n]) for n in names])
        pools = []
        for n, k in zip(names, counts, strict=True):
            items = groups[n]
            self.rng("skill", n).shuffle(items)
            pools.append(items[:k])
        return [
            Stage(
                "stage_0",
                _smooth_interleave(pools),
                {"counts": dict(zip(names, counts, strict=True))},
            )
        ]


def _smooth_interleave(pools: Sequence[list[Example]]) -> list[Example]:
    """Item j of a pool of size k sits at position (j + 0.5) / k along the stage; merge by position."""
    placed = [((j + 0.5) / len(pool), i, j, e) for i, pool in enumerate(pools) for j, e in enumerate(pool)]
    return [e for *_, e in sorted(placed, key=lambda t: (t[0], t[1], t[2]))]


@dataclass
class ReplayConfig:
    kind: Literal["power-law", "exponential", "uniform"] = field(
        default="power-law", metadata={"help": "how rehearsal decays with age"}
    )
    alpha: float = field(
        default=1.0,
        metadata={"help": "decay exponent (power-law) or rate (exponential)"},
    )
    budget: float = field(
        default=0.25,
        metadata={"help": "replayed examples: a fraction of this round's (< 1) or a count (>= 1)"},
    )
    seed: int = 0


class Replay(Curriculum):
    """This round's data plus a rehearsal sample of earlier rounds, weighted by recency.

    Round j (of ``earlier``) gets a share of the budget ∝ ``(t - j + 1) ** -alpha`` (power
    law; or ``exp(-alpha (t - j))``, or uniform), where t is this round. The stage is this
    round's data with the replayed examples spread through it.
    """

    name = "replay"
    Config = ReplayConfig

    def order(self, examples: Sequence[Example], earlier: Sequence[Sequence[Example]] = ()) -> list[Stage]:
        cfg: ReplayConfig = self.config
        current = sorted(examples, key=lambda e: e.id)
        self.rng("current").shuffle(current)
        budget = int(cfg.budget if cfg.budget >= 1 else round(cfg.budget * len(current)))
        now = len(earlier)
        kind: ReplayKind = cfg.kind
        weights = replay_weights(range(now), now, kind, cfg.alpha) if now else []
        counts = allocate(budget, weights, [len(r) for r in earlier]) if now else []
        replayed = []
        for j, (pool, k) in enumerate(zip(earlier, counts, strict=True)):
            items = sorted(pool, key=lambda e: e.id)
            chosen = self.rng("round", j).sample(items, k)
            for e in chosen:
                e.set_meta("order", "replayed_from_round", j)
            replayed.append(chosen)
        stage = _smooth_interleave([current, *[r for r in replayed if r]])
        return [
            Stage(
                "stage_0",
                stage,
                {
                    "replayed": {f"r{j:02d}": k for j, k in enumerate(counts)},
                    "current": len(current),
                },
            )
        ]
