"""One look for every progress bar: label, bar, done/total, a stage-specific field, elapsed, ETA.

>>> bar = progress_bar("{task.fields[rate]}")
>>> len(bar.columns)
7
"""

from __future__ import annotations

from typing import Any

__all__ = ["LiveLoss", "progress_bar"]


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


class LiveLoss:
    """A progress bar over optimizer steps showing the latest loss, tokens/s and an ETA.

    A context manager; inside it, the object it returns is an ``on_step`` hook for the
    training recipes (None when disabled)::

        with LiveLoss(True, "sft-lora") as on_step:
            train_sft(stages, out, settings, on_step=on_step)
    """

    def __init__(self, enabled: bool, label: str):
        self.enabled, self.label = enabled, label
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        self._progress = progress_bar("{task.fields[info]}")
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=None, info="loading")
        return self.update

    def update(self, record: dict[str, Any]) -> None:
        if record["event"] == "step":
            info = f"loss {record['loss']:.4f}  {record['tokens_per_second'] or 0:.0f} tok/s"
            self._progress.update(self._task, total=record["total_steps"], completed=record["step"], info=info)
        elif record.get("heldout_loss") is not None:
            self._progress.console.print(f"held-out loss after stage {record['stage']}: {record['heldout_loss']:.4f}")

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
