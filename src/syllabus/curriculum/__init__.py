"""Curricula: difficulty estimates, orderings, pacing, mixing and replay of training data.

``syllabus order --in DIR --curriculum NAME --out DIR`` writes ``r00/03_order/stages/``;
from Python::

    from syllabus.curriculum import get_curriculum, write_stages

    stages = get_curriculum("easy-to-hard", {"stages": 3}).order(examples)
    write_stages(stages, "runs/x/r00/03_order")

Curricula register in :data:`CURRICULA` (entry-point group ``syllabus.curricula``);
difficulty estimators in :data:`DIFFICULTY`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from syllabus.curriculum.orderings import Curriculum, Stage, split_even
from syllabus.registry import Registry

__all__ = [
    "CURRICULA",
    "DIFFICULTY",
    "Curriculum",
    "Stage",
    "get_curriculum",
    "read_stages",
    "split_even",
    "write_stages",
]

CURRICULA: Registry[type[Curriculum]] = Registry("curriculum", entry_point_group="syllabus.curricula")
for _name, _cls in {
    "easy-to-hard": "EasyToHard",
    "escalation": "Escalation",
    "cyclical": "Cyclical",
    "global-interleave": "GlobalInterleave",
    "blocking": "Blocking",
    "round-robin": "RoundRobin",
    "random": "Shuffle",
    "skill-mix": "SkillMix",
    "replay": "Replay",
}.items():
    CURRICULA.register(_name, f"syllabus.curriculum.orderings:{_cls}")

DIFFICULTY: Registry[type] = Registry("difficulty estimator", entry_point_group="syllabus.difficulty")
DIFFICULTY.register("student-loss", "syllabus.curriculum.difficulty:StudentLoss")
DIFFICULTY.register("pass-at-k", "syllabus.curriculum.difficulty:PassAtK")
DIFFICULTY.register("judge-gap", "syllabus.curriculum.difficulty:JudgeGap")


def get_curriculum(name: str, options: Mapping[str, Any] | None = None, *, source: str = "--set") -> Curriculum:
    """A registered curriculum with options checked against its ``Config`` (did-you-mean on typos)."""
    from syllabus.config import from_dict

    cls = CURRICULA.get(name)
    return cls(from_dict(cls.Config, dict(options or {}), source=f"{source} ({name})"))


def write_stages(
    stages: Sequence[Stage],
    out_dir: str | Path,
    describe: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``stages/stage_N.jsonl`` (each example tagged ``order.stage``/``order.position``) and ``order.json``."""
    from syllabus.jsonl import write_jsonl, write_text_atomic

    out_dir = Path(out_dir)
    summary = []
    for i, stage in enumerate(stages):
        for position, e in enumerate(stage.examples):
            e.set_meta("order", "stage", i)
            e.set_meta("order", "position", position)
        write_jsonl(out_dir / "stages" / f"stage_{i}.jsonl", stage.examples)
        summary.append(
            {
                "stage": i,
                "name": stage.name,
                "examples": len(stage.examples),
                **stage.info,
            }
        )
    report = {**(describe or {}), "stages": summary}
    write_text_atomic(out_dir / "order.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return out_dir


def read_stages(out_dir: str | Path) -> list[list[Any]]:
    """The stages written by :func:`write_stages`, in order."""
    from syllabus.jsonl import read_jsonl

    folder = Path(out_dir) / "stages"
    paths = sorted(folder.glob("stage_*.jsonl"), key=lambda p: int(p.stem.split("_")[1]))
    return [list(read_jsonl(p)) for p in paths]
