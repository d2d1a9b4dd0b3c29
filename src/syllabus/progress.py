"""One look for every progress bar: label, bar, done/total, a stage-specific field, elapsed, ETA.

>>> bar = progress_bar("{task.fields[rate]}")
>>> len(bar.columns)
7
"""

from __future__ import annotations

from typing import Any

__all__ = ["progress_bar"]


def progress_bar(middle: str, tail: str | None = None) -> Any:
    """A rich ``Progress`` on stderr; ``middle`` and ``tail`` are text-column templates (``{task.fields[x]}``)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(middle),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    if tail is not None:
        columns.append(TextColumn(tail))
    return Progress(*columns, console=Console(stderr=True))
