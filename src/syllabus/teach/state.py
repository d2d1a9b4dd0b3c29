"""What the teacher policy sees (:class:`State`) and what it decides (:class:`Plan`).

Both are plain data and round-trip through JSON, so every round's state and plan are on
disk (``rNN/00_state.json``, ``rNN/01_plan.json``) and a resumed run reads back exactly
what the policy saw.

>>> state = State(round=1, budget=40, skills={"format": SkillState("format", score=0.25, n=24)})
>>> State.from_dict(state.to_dict()) == state
True
>>> plan = Plan([Assignment("format", 40, reason="uniform")], policy="uniform")
>>> Plan.from_dict(plan.to_dict()).total
40
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from syllabus.record import Example

__all__ = ["Assignment", "Plan", "SkillState", "State"]


@dataclass
class SkillState:
    """The student on one skill, measured on the skill's dev task.

    Attributes:
        score: the dev metric's mean (None before anything was measured).
        low, high: its 95% interval.
        n: dev items scored.
        per_check: pass rate per check type (check-based skills), for targeting.
        failures: dev items the student failed, with its answer in ``completion``.
        level: the difficulty level the skill's data is written at (escalation policies).
    """

    name: str
    score: float | None = None
    low: float | None = None
    high: float | None = None
    n: int = 0
    per_check: dict[str, float] = field(default_factory=dict)
    failures: list[Example] = field(default_factory=list)
    level: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["failures"] = [e.to_dict() for e in self.failures]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SkillState:
        data = dict(data)
        data["failures"] = [Example.from_dict(e) for e in data.get("failures", [])]
        return cls(**data)


@dataclass
class State:
    """The environment's observation: per-skill dev scores and failures, the round, the budget.

    ``history`` holds, per finished round, how many examples each skill's data kept.
    """

    round: int
    budget: int
    skills: dict[str, SkillState] = field(default_factory=dict)
    history: list[dict[str, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "budget": self.budget,
            "skills": {k: v.to_dict() for k, v in self.skills.items()},
            "history": self.history,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> State:
        return cls(
            round=data["round"],
            budget=data["budget"],
            skills={k: SkillState.from_dict(v) for k, v in data.get("skills", {}).items()},
            history=list(data.get("history", [])),
        )


@dataclass
class Assignment:
    """Write ``n`` kept examples for ``skill``.

    ``options`` override the skill's generator options (a difficulty level, a narrower
    list of checks); ``inputs`` are prompts to answer instead of fresh ones (the student's
    failures, for regeneration); ``reason`` says why, for the report.
    """

    skill: str
    n: int
    options: dict[str, Any] = field(default_factory=dict)
    inputs: list[Example] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "inputs": [e.to_dict() for e in self.inputs]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Assignment:
        data = dict(data)
        data["inputs"] = [Example.from_dict(e) for e in data.get("inputs", [])]
        return cls(**data)


@dataclass
class Plan:
    """A policy's decision for one round: what to write for which skill."""

    assignments: list[Assignment]
    policy: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(a.n for a in self.assignments)

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "notes": self.notes, "assignments": [a.to_dict() for a in self.assignments]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls([Assignment.from_dict(a) for a in data["assignments"]], data.get("policy", ""), list(data.get("notes", [])))
