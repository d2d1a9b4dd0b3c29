"""Teacher policies: from the student's state to a plan of what data to write next.

A policy sees only dev measurements (:class:`~syllabus.teach.state.State`), never the
held-out evaluation. Four are built in:

* ``uniform``: the same number of examples for every skill (the control policy);
  every policy scales a skill's share by its ``weight`` in the skills file (default 1);
* ``weakest-first``: explore/exploit; a share ``explore`` of the budget is spread evenly,
  the rest goes to skills in proportion to how far they are from perfect;
* ``escalation`` (TAPIR): each skill's data gets harder (its next ``levels`` entry) once
  the student's dev score on it reaches ``threshold``; budget as in ``weakest-first``;
* ``failures`` (HoneyBee-style regeneration): budget as in ``weakest-first``; part of each
  skill's share re-asks the teacher the very dev prompts the student failed, and a
  check-based skill's fresh prompts draw from the check types the student fails most.

Writing a policy::

    @POLICIES.register("largest-gap")
    class LargestGap(Policy):
        name = "largest-gap"

        def plan(self, state, skills):
            worst = min(skills.skills, key=lambda s: state.skills[s.name].score or 0.0)
            return Plan([Assignment(worst.name, state.budget, reason="largest gap")], policy=self.name)

>>> from syllabus.teach.skills import Skill, SkillSet
>>> skills = SkillSet((Skill("a"), Skill("b")))
>>> state = State(round=1, budget=10, skills={"a": SkillState("a", score=0.9), "b": SkillState("b", score=0.1)})
>>> [a.n for a in get_policy("uniform").plan(state, skills).assignments]
[5, 5]
>>> [a.n for a in get_policy("weakest-first", {"explore": 0.0}).plan(state, skills).assignments]
[1, 9]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from syllabus.curriculum.pacing import allocate
from syllabus.errors import ConfigError
from syllabus.registry import Registry
from syllabus.teach.skills import Skill, SkillSet
from syllabus.teach.state import Assignment, Plan, SkillState, State

__all__ = ["POLICIES", "Escalation", "Failures", "Policy", "Uniform", "WeakestFirst", "get_policy"]

POLICIES: Registry[type[Policy]] = Registry("policy", entry_point_group="syllabus.policies")


class Policy(ABC):
    """Decides, from a :class:`State`, what the teacher writes in the next round."""

    name: ClassVar[str] = "policy"

    def __init__(self, **options: Any):
        if options:
            raise ConfigError(f"policy {self.name!r} takes no options, got {', '.join(options)}")

    @abstractmethod
    def plan(self, state: State, skills: SkillSet) -> Plan:
        """The next round's assignments; their ``n`` should sum to ``state.budget``."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


@POLICIES.register("uniform")
class Uniform(Policy):
    """The same share for every skill (times its ``weight``), whatever the student's scores: the control."""

    name = "uniform"

    def plan(self, state: State, skills: SkillSet) -> Plan:
        counts = allocate(state.budget, [s.weight for s in skills.skills])
        return Plan([Assignment(s.name, n, _level_options(s, state), reason="uniform share")
                     for s, n in zip(skills.skills, counts, strict=True) if n], policy=self.name)


def _deficit(state: SkillState | None) -> float:
    """How far a skill is from perfect on dev; unmeasured skills count as fully missing."""
    return 1.0 if state is None or state.score is None else max(0.0, 1.0 - state.score)


def _level_options(skill: Skill, state: State) -> dict[str, Any]:
    level = state.skills[skill.name].level if skill.name in state.skills else 0
    return dict(skill.levels[min(level, len(skill.levels) - 1)]) if skill.levels else {}


@POLICIES.register("weakest-first")
class WeakestFirst(Policy):
    """``explore`` of the budget evenly, the rest in proportion to each skill's dev deficit.

    Both parts are scaled by each skill's ``weight`` (default 1) before the budget is split.
    """

    name = "weakest-first"

    def __init__(self, explore: float = 0.2, **options: Any):
        super().__init__(**options)
        if not 0.0 <= explore <= 1.0:
            raise ConfigError(f"policy {self.name}: explore must be within 0..1, got {explore}")
        self.explore = explore

    def shares(self, state: State, skills: SkillSet) -> list[int]:
        k = len(skills.skills)
        deficits = [_deficit(state.skills.get(s.name)) for s in skills.skills]
        total = sum(deficits)
        weights = [
            s.weight * (self.explore / k + (1 - self.explore) * (d / total if total else 1 / k))
            for s, d in zip(skills.skills, deficits, strict=True)
        ]
        return allocate(state.budget, weights)

    def plan(self, state: State, skills: SkillSet) -> Plan:
        counts = self.shares(state, skills)
        return Plan([
            Assignment(s.name, n, _level_options(s, state), reason=f"dev score {_fmt(state.skills.get(s.name))}")
            for s, n in zip(skills.skills, counts, strict=True) if n
        ], policy=self.name, notes=[f"explore share {self.explore}"])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "explore": self.explore}


def _fmt(state: SkillState | None) -> str:
    return "unmeasured" if state is None or state.score is None else f"{state.score:.2f} (n={state.n})"


@POLICIES.register("escalation")
class Escalation(WeakestFirst):
    """TAPIR's escalation: a skill's data moves one level harder once its dev score reaches ``threshold``.

    The level is part of the state (``SkillState.level``), raised by this policy and
    carried to the next round by the environment.
    """

    name = "escalation"

    def __init__(self, threshold: float = 0.5, explore: float = 0.2, **options: Any):
        super().__init__(explore=explore, **options)
        self.threshold = threshold

    def plan(self, state: State, skills: SkillSet) -> Plan:
        notes = []
        for skill in skills.skills:
            s = state.skills.setdefault(skill.name, SkillState(skill.name))
            if s.score is not None and s.score >= self.threshold and s.level + 1 < len(skill.levels):
                s.level += 1
                notes.append(f"{skill.name}: dev {s.score:.2f} >= {self.threshold}; up to level {s.level}")
        plan = super().plan(state, skills)
        plan.policy, plan.notes = self.name, [*plan.notes, *notes]
        return plan

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "threshold": self.threshold}


@POLICIES.register("failures")
class Failures(WeakestFirst):
    """HoneyBee-style regeneration from the student's own dev failures.

    Budget as in ``weakest-first``. Of each skill's share, up to ``regenerate`` is spent
    re-asking the dev prompts the student failed (the teacher answers them; the checks or
    reference decide what is kept). With ``focus`` > 0, a check-based skill's fresh prompts
    draw only from the ``focus`` check types the student passes least on dev (off by
    default: a small dev set sees only some check types, and the others would never be
    taught).
    """

    name = "failures"

    def __init__(self, regenerate: float = 0.5, focus: int = 0, explore: float = 0.2, **options: Any):
        super().__init__(explore=explore, **options)
        if not 0.0 <= regenerate <= 1.0:
            raise ConfigError(f"policy {self.name}: regenerate must be within 0..1, got {regenerate}")
        self.regenerate, self.focus = regenerate, focus

    def plan(self, state: State, skills: SkillSet) -> Plan:
        counts = self.shares(state, skills)
        out: list[Assignment] = []
        for skill, n in zip(skills.skills, counts, strict=True):
            s = state.skills.get(skill.name)
            if not n:
                continue
            options = _level_options(skill, state)
            failed = list(s.failures) if s else []
            k = min(len(failed), round(n * self.regenerate))
            if s and s.per_check and self.focus:
                weakest = sorted(s.per_check, key=lambda c: (s.per_check[c], c))[: self.focus]
                options["checks"] = weakest
            if k:
                out.append(Assignment(skill.name, k, options, failed[:k], reason=f"re-ask {k} failed dev prompts"))
            if n - k:
                why = f"dev score {_fmt(s)}" + (f"; checks {', '.join(options['checks'])}" if "checks" in options else "")
                out.append(Assignment(skill.name, n - k, options, reason=why))
        return Plan(out, policy=self.name, notes=[f"regenerate share {self.regenerate}, focus {self.focus} checks"])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "regenerate": self.regenerate, "focus": self.focus}


def get_policy(name: str, options: Mapping[str, Any] | None = None) -> Policy:
    """A policy by registered name, with options (``--policy-option KEY=VALUE``)."""
    cls = POLICIES.get(name)
    try:
        return cls(**dict(options or {}))
    except TypeError as e:
        raise ConfigError(f"policy {name!r}: {e}") from None
