"""What every recipe shares around its loop: the learning-rate schedule, the held-out split,
the training log, and checkpoints that make a killed run resume where it was.

A checkpoint holds the trainable weights, the optimizer, the RNG state and the step; the
data order is a function of the data and the seed, so the resumed run sees exactly the
batches the killed one had left.

>>> lr_at(0, 10, lr=1.0, warmup=0.2, schedule="linear"), lr_at(1, 10, lr=1.0, warmup=0.2, schedule="linear")
(0.5, 1.0)
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from syllabus.errors import ConfigError
from syllabus.jsonl import write_text_atomic
from syllabus.record import Example, content_hash

__all__ = ["TrainLog", "held_out_split", "latest_checkpoint", "lr_at", "resume", "save_checkpoint"]


def lr_at(step: int, total: int, *, lr: float, warmup: float, schedule: str) -> float:
    """Linear warmup over ``warmup`` (a share of ``total``), then cosine, linear or constant."""
    warm = max(1, math.ceil(warmup * total)) if warmup > 0 else 0
    if step < warm:
        return lr * (step + 1) / warm
    if schedule == "constant" or total <= warm:
        return lr
    progress = (step - warm) / max(1, total - warm)
    if schedule == "linear":
        return lr * (1 - progress)
    return lr * 0.5 * (1 + math.cos(math.pi * progress))


def held_out_split(examples: Sequence[Example], fraction: float) -> tuple[list[Example], list[Example]]:
    """(train, held out): an example is held out when the hash of its id falls below ``fraction``.

    Stable under reordering and growth: the same id is always on the same side.
    """
    if not 0 <= fraction < 1:
        raise ConfigError(f"--eval-fraction must be in [0, 1), got {fraction}")
    train, held = [], []
    for e in examples:
        (held if int(content_hash(["heldout", e.id], 8), 16) / 16**8 < fraction else train).append(e)
    return train, held


class TrainLog:
    """``train_log.jsonl``: one JSON line per step or evaluation, also handed to ``on_step``."""

    def __init__(self, path: Path, on_step: Callable[[dict[str, Any]], None] | None = None):
        self.path, self.on_step = path, on_step

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.on_step is not None:
            self.on_step(record)

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.path.read_text().splitlines()] if self.path.exists() else []

    def keep_until(self, step: int) -> None:
        """Drop lines past ``step`` (a resumed run writes them again); step 0 starts afresh."""
        if step == 0:
            self.path.unlink(missing_ok=True)
            return
        keep = [r for r in self.records() if r.get("step", 0) <= step]
        write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in keep))


def save_checkpoint(folder: Path, model: Any, optimizer: Any, step: int, keep: int) -> None:
    """Write ``folder`` (``step_N``) atomically and keep only the newest ``keep`` checkpoints."""
    import torch

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    trainable = {k: v.detach().cpu() for k, v in model.named_parameters() if v.requires_grad}
    torch.save({"weights": trainable, "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state()}, tmp / "state.pt")
    (tmp / "progress.json").write_text(json.dumps({"step": step}, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)  # a checkpoint folder is complete or absent
    older = sorted(folder.parent.glob("step_*"), key=lambda p: int(p.name.split("_")[1]))
    for old in older[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(root: Path) -> Path | None:
    found = sorted((p for p in root.glob("step_*") if (p / "progress.json").exists()), key=lambda p: int(p.name.split("_")[1]))
    return found[-1] if found else None


def resume(model: Any, optimizer: Any, root: Path, log: TrainLog) -> int:
    """Load the newest checkpoint under ``root`` into ``model`` and ``optimizer``; return its step (0 if none)."""
    import torch

    latest = latest_checkpoint(root)
    if latest is None:
        log.keep_until(0)
        return 0
    saved = torch.load(latest / "state.pt", weights_only=False)
    named = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in saved["weights"].items():
            named[name].copy_(value)
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["rng"])
    step = int(json.loads((latest / "progress.json").read_text())["step"])
    log.keep_until(step)
    return step
