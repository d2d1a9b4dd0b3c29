"""``discover-skills``: group a student's failures into named skills and write a skills file.

    syllabus discover-skills --in runs/teach1 --out skills/found        # latest rNN/06_feedback/dev
    syllabus discover-skills --in evals/dev --out skills/found --clusters 4
    syllabus teach --skills skills/found/skills.yaml ...

``--in`` is an evaluation folder (``samples/TASK.jsonl``) or a teaching run (its latest
dev evaluation). Samples from a held-out evaluation (``split: test``, external data) are
refused unless ``--allow-test``: training on them would be contamination.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syllabus.cli.options import console as _console
from syllabus.errors import ConfigError, SyllabusError

__all__ = ["DiscoverSkillsConfig", "cmd_discover_skills", "read_samples"]


@dataclass
class DiscoverSkillsConfig:
    """Group a student's failures (check types, tasks, topic clusters) into skills; write skills.yaml and seeds/."""

    input: str | None = field(
        default=None,
        metadata={"help": "an evaluation folder (with samples/) or a teaching run (its latest rNN/06_feedback/dev)",
                  "aliases": ["--in"]},
    )
    out: str | None = field(default=None, metadata={"help": "folder for skills.yaml and seeds/"})
    embedder: str = field(
        default="builtin:all-minilm-l6-v2", metadata={"help": "embedder for the topic clusters (fake:bow for tests)"}
    )
    clusters: int | None = field(default=None, metadata={"help": "topic clusters (default: sqrt(failures/2), 2..8)"})
    min_failures: int = field(default=3, metadata={"help": "drop groups with fewer failures"})
    allow_test: bool = field(
        default=False, metadata={"help": "accept held-out (test-split, external) samples as seeds: contamination"}
    )
    base: str | None = field(
        default=None, metadata={"help": "a skills file (or builtin name) to copy dev, eval and heldout tasks from"}
    )
    seed: int = field(default=0, metadata={"help": "k-means seed"})


def _samples_dir(path_text: str | None) -> Path:
    if not path_text:
        raise ConfigError("--in is required: an evaluation folder (with samples/) or a teaching run directory")
    path = Path(path_text)
    if not path.is_dir():
        raise ConfigError(f"--in {path}: no such folder")
    if (path / "samples").is_dir():
        return path
    found = sorted(p.parent for p in path.glob("r[0-9][0-9]/06_feedback/dev/samples") if p.is_dir())
    if found:
        return found[-1]
    raise ConfigError(f"--in {path}: no samples/ here and no rNN/06_feedback/dev/samples below; give an evaluation folder")


def read_samples(eval_dir: Path) -> tuple[dict[str, list[Any]], dict[str, dict[str, Any]]]:
    """Scored samples by task name, and each task's settings from ``report.json`` (if there)."""
    from syllabus.jsonl import read_jsonl

    report: dict[str, Any] = {}
    if (eval_dir / "report.json").exists():
        try:
            report = json.loads((eval_dir / "report.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ConfigError(f"--in {eval_dir / 'report.json'}: not valid JSON ({e.msg})") from None
    samples: dict[str, list[Any]] = {}
    for file in sorted((eval_dir / "samples").glob("*.jsonl")):
        try:
            examples = list(read_jsonl(file))
        except SyllabusError as e:  # a broken line: the message names file:line
            raise ConfigError(f"--in: {e}") from None
        if examples:
            samples[str(examples[0].provenance.get("task") or file.stem)] = examples
    if not samples:
        raise ConfigError(f"--in {eval_dir}: samples/ holds no scored samples (*.jsonl)")
    sources = {name: dict(section.get("settings") or {}) for name, section in (report.get("tasks") or {}).items()}
    return samples, sources


def cmd_discover_skills(cfg: DiscoverSkillsConfig) -> int:
    from rich.markup import escape
    from rich.table import Table

    from syllabus.teach.discover import discover_skills, write_skills_file
    from syllabus.teach.skills import load_skills

    if not cfg.out:
        raise ConfigError("--out is required: the folder for skills.yaml and seeds/")
    if cfg.min_failures < 1:
        raise ConfigError(f"--min-failures must be >= 1, got {cfg.min_failures}")
    if cfg.clusters is not None and cfg.clusters < 1:
        raise ConfigError(f"--clusters must be >= 1, got {cfg.clusters}")
    eval_dir = _samples_dir(cfg.input)
    samples, sources = read_samples(eval_dir)
    base = load_skills(cfg.base) if cfg.base else None
    if not cfg.embedder.strip():
        raise ConfigError("--embedder is empty; give one of builtin:all-minilm-l6-v2, fake:bow, hf:PATH")
    try:
        from syllabus.curate.embed import load_embedder

        embedder = load_embedder(cfg.embedder)
    except ConfigError as e:
        raise ConfigError(f"--embedder: {e}") from None
    found = discover_skills(samples, embedder=embedder, clusters=cfg.clusters, min_failures=cfg.min_failures, seed=cfg.seed)
    console = _console()
    if not found:
        console.print(f"no group of failures in {escape(str(eval_dir))} reached --min-failures {cfg.min_failures}; nothing written")
        return 0
    table = Table(title=f"skills discovered in {escape(str(eval_dir))}")
    for column in ("skill", "kind", "failed", "of", "rate", "description"):
        table.add_column(column, justify="right" if column in ("failed", "of", "rate") else "left", overflow="fold")
    for d in found:
        table.add_row(escape(d.name), d.kind, str(d.failures), str(d.total), f"{d.rate:.0%}", escape(d.description))
    console.print(table)
    path = write_skills_file(found, cfg.out, allow_test=cfg.allow_test, base=base, sources=sources)
    console.print(f"wrote {escape(str(path))} ({len(found)} skills, seeds in {escape(str(path.parent / 'seeds'))})")
    if base is None:
        console.print("add eval tasks to it (held-out ones, not this evaluation) before `syllabus teach --skills`")
    return 0
