"""JSONL reading and atomic writing.

Every file syllabus writes goes through :func:`atomic_write`: write a temp file in the same
folder, fsync, rename. A killed process leaves either the old file or the new one, never
half of one. Reading reports the file and line of the first bad record.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from syllabus.errors import DataError
from syllabus.record import Example

__all__ = ["atomic_write", "write_text_atomic", "read_jsonl", "read_records", "read_numbered_records", "write_jsonl", "write_records"]


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temp file next to ``path``; on success fsync it and rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # fsync the folder so the rename itself survives a crash.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_write(path) as f:
        f.write(text)


def read_records(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a JSONL file; blank lines are skipped."""
    for _, record in read_numbered_records(path):
        yield record


def read_numbered_records(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, JSON object)`` pairs; errors name ``file:line``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    # Read bytes and decode line by line so that bad UTF-8 is reported with its line too.
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{lineno}: not UTF-8 text (byte {e.start + 1} of the line)") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
            yield lineno, record


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[Example]:
    """Yield :class:`Example` records from a JSONL file in syllabus's own format."""
    for lineno, record in read_numbered_records(path):
        try:
            yield Example.from_dict(record)
        except DataError as e:
            raise DataError(f"{path}:{lineno}: {e}") from None


def write_records(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> int:
    """Atomically write dicts as JSONL; returns the number written."""
    n = 0
    with atomic_write(path) as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
    return n


def write_jsonl(path: str | os.PathLike[str], examples: Iterable[Example]) -> int:
    """Atomically write examples as JSONL; returns the number written."""
    return write_records(path, (e.to_dict() for e in examples))
