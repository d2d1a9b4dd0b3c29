"""The teaching loop: skills, the environment, teacher policies, controls and the report.

``syllabus teach`` runs it; from Python::

    from syllabus.teach import TeachConfig, teach
    report = teach(TeachConfig(out="runs/teach", quick=True).resolved())

Modules: :mod:`~syllabus.teach.skills` (the skills file), :mod:`~syllabus.teach.state`
(state and plan), :mod:`~syllabus.teach.policies` (teacher policies),
:mod:`~syllabus.teach.environment` (``reset``/``step``), :mod:`~syllabus.teach.controls`,
:mod:`~syllabus.teach.compare` (paired comparisons), :mod:`~syllabus.teach.loop`
(``teach``), :mod:`~syllabus.teach.report_html`.
"""

from __future__ import annotations

import importlib
from typing import Any

# Exported names -> their modules, imported on first use: the command line imports the
# config alone, and must not pull numpy and the statistics in with it.
_EXPORTS = {
    "QUICK": "config", "TeachConfig": "config",
    "Environment": "environment",
    "build_report": "loop", "teach": "loop",
    "POLICIES": "policies", "Policy": "policies", "get_policy": "policies",
    "Skill": "skills", "SkillSet": "skills", "TaskRef": "skills", "load_skills": "skills",
    "Assignment": "state", "Plan": "state", "SkillState": "state", "State": "state",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"syllabus.teach.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'syllabus.teach' has no attribute {name!r}")


__all__ = [
    "POLICIES",
    "QUICK",
    "Assignment",
    "Environment",
    "Plan",
    "Policy",
    "Skill",
    "SkillSet",
    "SkillState",
    "State",
    "TaskRef",
    "TeachConfig",
    "build_report",
    "get_policy",
    "load_skills",
    "teach",
]
