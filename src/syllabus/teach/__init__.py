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

from syllabus.teach.config import QUICK, TeachConfig
from syllabus.teach.environment import Environment
from syllabus.teach.loop import build_report, teach
from syllabus.teach.policies import POLICIES, Policy, get_policy
from syllabus.teach.skills import Skill, SkillSet, TaskRef, load_skills
from syllabus.teach.state import Assignment, Plan, SkillState, State

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
