"""Skills: what the student should gain, how data for it is written, and how it is measured.

A skills file is YAML::

    skills:
      - name: format
        description: follow verifiable formatting instructions
        generator: verified-skills            # any registered generator
        options: {arithmetic_share: 0, repair: true}
        weight: 2                             # budget weight against the other skills (default 1)
        levels:                               # difficulty levels (TAPIR-style escalation)
          - {min_checks: 1, max_checks: 1}
          - {min_checks: 1, max_checks: 2}
        dev: {task: ifeval-lite, split: train, seed: 11, n: 24, metric: prompt_level_strict}
        eval:
          - {task: ifeval-lite, n: 64, metric: instruction_level_strict}
    heldout:                                  # measured, never trained on
      - {task: "gym:basic_arithmetic", limit: 16, metric: score}

``dev`` is what the teacher policy sees (the student's per-skill score and failures each
round); ``eval`` and ``heldout`` are the held-out measurements of the report, never shown
to the policy. A dev task must not be an eval task with the same settings: dev items would
then be evaluation items, and the policy would be tuned on the test.

>>> skills = load_skills("default")
>>> [s.name for s in skills.skills], skills.skills[0].eval[0].task
(['format', 'arithmetic'], 'ifeval-lite')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from syllabus.errors import ConfigError

__all__ = ["BUILTIN_SKILLS", "Skill", "SkillSet", "TaskRef", "load_skills"]

#: Skills files shipped with the package (``--skills NAME``).
BUILTIN_SKILLS = ("default",)


@dataclass(frozen=True)
class TaskRef:
    """An evaluation task with its settings and the one metric that scores a skill.

    >>> ref = TaskRef.parse({"task": "ifeval-lite", "n": 8, "metric": "prompt_level_strict"}, where="x")
    >>> ref.build().n, ref.label
    (8, 'ifeval-lite')
    """

    task: str
    metric: str
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any, *, where: str) -> TaskRef:
        if isinstance(data, str):
            data = {"task": data}
        if not isinstance(data, dict) or "task" not in data:
            raise ConfigError(f"{where}: a task entry needs 'task' (e.g. {{task: ifeval-lite, metric: prompt_level_strict}})")
        data = dict(data)
        task = str(data.pop("task"))
        metric = data.pop("metric", None)
        ref = cls(task, metric or "", data)
        built = ref.build(where=where)  # unknown tasks and settings fail here, with a did-you-mean
        if not metric:
            if not built.metrics:
                raise ConfigError(f"{where}: task {task!r} has no default metric; name one with 'metric:'")
            ref = cls(task, built.metrics[0], data)
        elif metric not in built.metrics:
            raise ConfigError(f"{where}: task {task!r} has no metric {metric!r}; it has {', '.join(built.metrics)}")
        return ref

    def build(self, *, where: str = "task") -> Any:
        from syllabus.evaluate.task import get_task

        try:
            return get_task(self.task, **self.settings)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None

    @property
    def label(self) -> str:
        """The task's name in reports (its namespace: ``gym:x`` stays ``gym:x``)."""
        return self.task

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "metric": self.metric, **self.settings}


@dataclass(frozen=True)
class Skill:
    """One skill: a generator targeted at it, its difficulty levels, its dev and eval tasks.

    ``options`` are the generator's options (``--set`` keys); each entry of ``levels``
    overrides some of them, from easiest to hardest. ``seeds`` (a JSONL of seed tasks or
    prompts) and ``documents`` (a folder) are passed to the generator as its inputs.
    ``weight`` scales the skill's share of a round's budget in every policy (what the user
    cares about most, or what costs least to teach, can get more of it).
    """

    name: str
    description: str = ""
    generator: str = "verified-skills"
    options: dict[str, Any] = field(default_factory=dict)
    levels: tuple[dict[str, Any], ...] = ()
    dev: TaskRef | None = None
    eval: tuple[TaskRef, ...] = ()
    seeds: str | None = None
    documents: str | None = None
    weight: float = 1.0

    def options_at(self, level: int) -> dict[str, Any]:
        """The generator options at difficulty ``level`` (clamped to the levels there are).

        >>> Skill("s", options={"a": 1}, levels=({"b": 1}, {"b": 2})).options_at(5)
        {'a': 1, 'b': 2}
        """
        if not self.levels:
            return dict(self.options)
        return {**self.options, **self.levels[max(0, min(level, len(self.levels) - 1))]}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["dev"] = self.dev.to_dict() if self.dev else None
        out["eval"] = [t.to_dict() for t in self.eval]
        out["levels"] = list(self.levels)
        return out


@dataclass(frozen=True)
class SkillSet:
    """The skills of a teaching run, and held-out tasks that no skill trains on."""

    skills: tuple[Skill, ...]
    heldout: tuple[TaskRef, ...] = ()
    source: str = ""

    def get(self, name: str) -> Skill:
        for skill in self.skills:
            if skill.name == name:
                return skill
        from syllabus.errors import did_you_mean

        raise ConfigError(f"no skill {name!r} in {self.source or 'the skills file'}.{did_you_mean(name, self.names)}")

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.skills]

    def test_tasks(self) -> list[TaskRef]:
        """Every held-out measurement, each task once: the skills' eval tasks, then ``heldout``."""
        out: list[TaskRef] = []
        for ref in [t for s in self.skills for t in s.eval] + list(self.heldout):
            if all(ref.task != seen.task for seen in out):
                out.append(ref)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"skills": [s.to_dict() for s in self.skills], "heldout": [t.to_dict() for t in self.heldout]}


def _parse_skill(data: Any, where: str) -> Skill:
    if not isinstance(data, dict) or not data.get("name"):
        raise ConfigError(f"{where}: each skill needs at least a 'name'")
    known = {"name", "description", "generator", "options", "levels", "dev", "eval", "seeds", "documents", "weight"}
    unknown = sorted(set(data) - known)
    if unknown:
        from syllabus.errors import did_you_mean

        raise ConfigError(f"{where}: unknown key {unknown[0]!r}.{did_you_mean(unknown[0], known)}")
    where = f"{where} ({data['name']})"
    generator = str(data.get("generator", "verified-skills"))
    options = dict(data.get("options") or {})
    levels = tuple(dict(level) for level in data.get("levels") or ())
    from syllabus.generators import get_generator

    for level in levels or ({},):  # every level's options must be valid for the generator
        get_generator(generator, {**options, **level}, source=f"{where}: options")
    evals = data.get("eval") or []
    if not isinstance(evals, list):
        raise ConfigError(f"{where}: 'eval' must be a list of tasks")
    try:
        weight = float(data.get("weight", 1.0))
    except (TypeError, ValueError):
        weight = -1.0
    if not weight > 0:
        raise ConfigError(f"{where}: 'weight' must be a number above 0, got {data.get('weight')!r}")
    skill = Skill(
        name=str(data["name"]),
        description=str(data.get("description", "")),
        generator=generator,
        options=options,
        levels=levels,
        dev=TaskRef.parse(data["dev"], where=f"{where}: dev") if data.get("dev") else None,
        eval=tuple(TaskRef.parse(t, where=f"{where}: eval") for t in evals),
        seeds=data.get("seeds"),
        documents=data.get("documents"),
        weight=weight,
    )
    if skill.dev and any(skill.dev.task == t.task and skill.dev.settings == t.settings for t in skill.eval):
        raise ConfigError(f"{where}: the dev task equals an eval task; give dev another split or seed (dev items steer the teacher)")
    return skill


def parse_skills(data: Any, *, source: str) -> SkillSet:
    """A :class:`SkillSet` from the parsed YAML; every error names ``source``."""
    if not isinstance(data, dict) or not isinstance(data.get("skills"), list) or not data["skills"]:
        raise ConfigError(f"{source}: expected a mapping with a non-empty 'skills:' list")
    skills = tuple(_parse_skill(s, f"{source}: skills[{i}]") for i, s in enumerate(data["skills"]))
    names = [s.name for s in skills]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: skill names must be unique, got {names}")
    heldout = tuple(TaskRef.parse(t, where=f"{source}: heldout") for t in data.get("heldout") or [])
    trained = {t.task for s in skills for t in ([s.dev] if s.dev else [])}
    for ref in heldout:
        if ref.task in trained:
            raise ConfigError(f"{source}: heldout task {ref.task!r} is also a dev task; held-out means the teacher never sees it")
    return SkillSet(skills, heldout, source)


def load_skills(spec: str | Path) -> SkillSet:
    """A skills file by path, or a builtin one by name (:data:`BUILTIN_SKILLS`)."""
    if str(spec) in BUILTIN_SKILLS:
        text = resources.files("syllabus").joinpath("data", "skills", f"{spec}.yaml").read_text(encoding="utf-8")
        source = f"builtin skills {spec!r}"
    else:
        path = Path(spec)
        if not path.exists():
            raise ConfigError(f"--skills {spec}: no such file; give a YAML file or one of {', '.join(BUILTIN_SKILLS)}")
        text, source = path.read_text(encoding="utf-8"), str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    return parse_skills(data, source=source)
