"""The run directory: one folder holds a run's config, cache, stages and reports.

::

    runs/NAME/
      manifest.json          resolved config, package version, git sha, seeds, model ids
      cache/llm.sqlite       the request cache every stage shares
      r00/01_generate/ ...   stage folders (see syllabus.pipeline.runner)

Everything resumes from disk: running the same command again skips finished shards.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from syllabus.jsonl import write_text_atomic
from syllabus.llm.cache import RequestCache

__all__ = ["RunDir", "git_sha"]


def git_sha(path: Path | None = None) -> str | None:
    """The commit of the syllabus source tree, when it is a git checkout (else None)."""
    where = path or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, timeout=5, check=False,
    ).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


class RunDir:
    """A run folder. Creating one does not touch the disk until something is written.

    >>> import tempfile
    >>> run = RunDir(tempfile.mkdtemp())
    >>> run.stage(0, 1, "generate").name
    '01_generate'
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._cache: RequestCache | None = None

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def cache_path(self) -> Path:
        return self.path / "cache" / "llm.sqlite"

    def cache(self) -> RequestCache:
        if self._cache is None:
            self._cache = RequestCache(self.cache_path)
        return self._cache

    def stage(self, round_index: int, stage_index: int, name: str) -> Path:
        return self.path / f"r{round_index:02d}" / f"{stage_index:02d}_{name}"

    def read_manifest(self) -> dict[str, Any]:
        return json.loads(self.manifest_path.read_text()) if self.manifest_path.exists() else {}

    def write_manifest(self, *, command: str, config: dict[str, Any], models: dict[str, Any], seeds: dict[str, int]) -> None:
        """Record what this command resolved to. Earlier commands' entries are kept.

        ``config`` must already be free of secrets (see ``syllabus.config.to_dict``).
        """
        from syllabus import __version__

        manifest = self.read_manifest()
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        manifest.setdefault("created", now)
        manifest["updated"] = now
        manifest["syllabus_version"] = __version__
        manifest["git_sha"] = git_sha()
        manifest["python"] = sys.version.split()[0]
        manifest["platform"] = platform.platform()
        manifest.setdefault("commands", {})[command] = {"config": config, "models": models, "seeds": seeds}
        write_text_atomic(self.manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None
