"""The training folder's human view: a loss curve (per step, with held-out points) in ``report.html``.

>>> "<svg" in loss_curve_svg([{"event": "step", "step": 1, "loss": 2.0}, {"event": "eval", "step": 1, "heldout_loss": 2.5}])
True
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syllabus.jsonl import write_text_atomic

__all__ = ["loss_curve_svg", "write_train_report"]


def loss_curve_svg(log: Sequence[dict[str, Any]], *, width: int = 640, height: int = 260) -> str:
    """Training loss per step (line) and held-out loss (dots), on shared axes."""
    steps = [(r["step"], r["loss"]) for r in log if r.get("event") == "step" and r.get("loss") is not None]
    evals = [(r["step"], r["heldout_loss"]) for r in log if r.get("event") == "eval" and r.get("heldout_loss") is not None]
    points = steps + evals
    left, right, top, bottom = 56, 16, 20, 36
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="loss curve">']
    if not points:
        parts.append(f'<text x="{left}" y="{height / 2}">no steps logged</text></svg>')
        return "".join(parts)
    x_hi = max(max(s for s, _ in points), 1)
    y_lo, y_hi = min(v for _, v in points), max(v for _, v in points)
    span = (y_hi - y_lo) or 1.0

    def x(s: float) -> float:
        return left + s / x_hi * (width - left - right)

    def y(v: float) -> float:
        return top + (y_hi - v) / span * (height - top - bottom)

    parts.append(f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#999"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>')
    for v in (y_lo, (y_lo + y_hi) / 2, y_hi):
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11">{v:.3g}</text>')
    parts.append(f'<text x="{width - right}" y="{height - 8}" text-anchor="end" font-size="11">step {x_hi}</text>')
    if steps:
        line = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in steps)
        parts.append(f'<polyline points="{line}" fill="none" stroke="#3b6fb6" stroke-width="1.5"/>')
    for s, v in evals:
        parts.append(f'<circle cx="{x(s):.1f}" cy="{y(v):.1f}" r="4" fill="#c0392b"><title>held-out {v:.4f} at step {s}</title></circle>')
    parts.append(f'<text x="{left + 8}" y="{top + 4}" font-size="11" fill="#3b6fb6">train loss</text>')
    parts.append(f'<text x="{left + 80}" y="{top + 4}" font-size="11" fill="#c0392b">● held-out loss</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_train_report(train_dir: str | Path) -> Path:
    """``report.html`` next to ``train_log.jsonl`` and ``train.json`` (all text escaped)."""
    train_dir = Path(train_dir)
    log = [json.loads(line) for line in (train_dir / "train_log.jsonl").read_text().splitlines() if line.strip()]
    summary = json.loads((train_dir / "train.json").read_text()) if (train_dir / "train.json").exists() else {}
    rows = []
    for r in log:
        if r.get("event") != "eval":
            continue
        loss = r.get("heldout_loss")
        shown = f"{loss:.4f}" if loss is not None else "-"
        rows.append(f"<tr><td>{html.escape(str(r.get('stage')))}</td><td>{r['step']}</td><td>{shown}</td></tr>")
    evals = "".join(rows)
    settings = html.escape(json.dumps(summary.get("settings", {}), indent=2))
    page = (
        "<!doctype html><meta charset='utf-8'><title>training report</title>"
        "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto}td,th{padding:2px 10px}</style>"
        f"<h1>{html.escape(str(summary.get('recipe', 'training')))}: {html.escape(str(summary.get('settings', {}).get('student', '')))}</h1>"
        f"{loss_curve_svg(log)}"
        "<h2>held-out loss</h2><table><tr><th>after stage</th><th>step</th><th>loss</th></tr>"
        f"{evals}</table><h2>settings</h2><pre>{settings}</pre>"
    )
    path = train_dir / "report.html"
    write_text_atomic(path, page)
    return path
