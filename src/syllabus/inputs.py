"""Finding the records a command should read: a file, a stage folder or a run directory.

Commands take ``--in PATH`` and accept any of:

- a file in a known format (JSONL, Parquet, Alpaca, ShareGPT, ...; see :mod:`syllabus.formats`);
- a stage folder with ``shards/`` (a pipeline stage) or ``stages/`` (a curriculum);
- a run directory: its latest ordered, else curated, else generated set.

>>> import tempfile
>>> load_examples(tempfile.mkdtemp())
Traceback (most recent call last):
syllabus.errors.ConfigError: --in ...: no shards/ or stages/ here and no r*/03_order, r*/02_curate or r*/01_generate below
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syllabus.errors import ConfigError

__all__ = ["load_examples", "load_stages"]

_KINDS = ("03_order", "02_curate", "01_generate")


def _locate(path: Path, option: str) -> Path:
    if (path / "stages").is_dir() or (path / "shards").is_dir():
        return path
    for kind in _KINDS:
        found = sorted([*path.glob(f"r*/{kind}/stages"), *path.glob(f"r*/{kind}/shards")])
        if found:
            return found[-1].parent
    where = ", ".join(f"r*/{k}" for k in _KINDS)
    raise ConfigError(f"{option} {path}: no shards/ or stages/ here and no {where.replace(', r*/01', ' or r*/01')} below")


def load_stages(path_text: str | None, fmt: str = "auto", *, option: str = "--in") -> list[list[Any]]:
    """The records as curriculum stages (one stage unless the source is a curriculum)."""
    from syllabus.pipeline.runner import read_stage

    if not path_text:
        raise ConfigError(f"{option} is required: a stage folder, a run directory or a JSONL file")
    path = Path(path_text)
    if not path.exists():
        raise ConfigError(f"{option} {path}: no such file or folder")
    if path.is_file():
        from syllabus.formats import read_any

        return [list(read_any(path, format=fmt))]
    folder = _locate(path, option)
    if (folder / "stages").is_dir():
        from syllabus.curriculum import read_stages

        return read_stages(folder)
    return [list(read_stage(folder))]


def load_examples(path_text: str | None, fmt: str = "auto", *, option: str = "--in") -> list[Any]:
    """All records, stages concatenated in order."""
    return [e for stage in load_stages(path_text, fmt, option=option) for e in stage]
