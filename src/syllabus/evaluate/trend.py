"""Metrics across a series of checkpoints: values, curves and Kendall τ (BOSE-style stability).

Given evaluations of checkpoints in training order, each metric gets its values in that
order and Kendall's τ-b between position and value. A metric whose τ is near 1 (or -1 for
lower-is-better metrics) moves steadily with training; one near 0 is noise at this model
size and should not be trusted to show progress.

>>> rows = trend([{"tasks": {"t": {"metrics": {"acc": {"value": v}}}}} for v in (0.1, 0.2, 0.4)], ["a", "b", "c"])
>>> rows[0]["metric"], rows[0]["values"], rows[0]["tau"]
('acc', [0.1, 0.2, 0.4], 1.0)
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from syllabus.evaluate.html_report import STYLE, _metric_rows
from syllabus.evaluate.stats import kendall_tau

__all__ = ["trend", "render_trend", "line_chart_svg"]


def trend(reports: Sequence[dict[str, Any]], labels: Sequence[str]) -> list[dict[str, Any]]:
    """One row per (task, metric) present in every report, in report order."""
    if len(reports) != len(labels):
        raise ValueError("one label per report")
    per_report = [
        {(task, metric): est for task, section in r.get("tasks", {}).items() for metric, est in _metric_rows(section.get("metrics", {}))}
        for r in reports
    ]
    lower = {
        (task, m) for r in reports for task, section in r.get("tasks", {}).items() for m in section.get("lower_is_better", [])
    }
    keys = [k for k in per_report[0] if all(k in p and p[k].get("value") is not None for p in per_report)]
    rows = []
    for task, metric in keys:
        values = [float(p[(task, metric)]["value"]) for p in per_report]
        lows = [p[(task, metric)].get("low") for p in per_report]
        highs = [p[(task, metric)].get("high") for p in per_report]
        corr = kendall_tau(list(range(len(values))), values) if len(values) > 1 else None
        rows.append(
            {
                "task": task,
                "metric": metric,
                "labels": list(labels),
                "values": values,
                "low": lows,
                "high": highs,
                "tau": None if corr is None or corr.tau != corr.tau else round(corr.tau, 4),
                "p_value": None if corr is None or corr.p_value != corr.p_value else corr.p_value,
                "lower_is_better": (task, metric.split(".")[0]) in lower or (task, metric) in lower,
            }
        )
    return rows


def line_chart_svg(row: dict[str, Any], width: int = 360, height: int = 170) -> str:
    """A small line chart of one metric across checkpoints, with CI whiskers when known."""
    values, lows, highs = row["values"], row["low"], row["high"]
    known = [v for v in [*values, *(x for x in lows if x is not None), *(x for x in highs if x is not None)]]
    top, bottom = max(known), min(known)
    span = (top - bottom) or 1.0
    left, right, pad_top, pad_bottom = 40, 10, 22, 28
    n = len(values)

    def x(i: int) -> float:
        return left + (i / max(1, n - 1)) * (width - left - right)

    def y(v: float) -> float:
        return pad_top + (1 - (v - bottom) / span) * (height - pad_top - pad_bottom)

    e = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
        f'<text x="{left}" y="14" font-size="12" font-weight="bold">{e(row["task"])} · {e(row["metric"])} (τ={e(str(row["tau"]))})</text>',
        f'<text x="2" y="{y(top) + 4:.1f}" font-size="10">{top:.3g}</text><text x="2" y="{y(bottom) + 4:.1f}" font-size="10">{bottom:.3g}</text>',
    ]
    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#3b6fb6" stroke-width="2"/>')
    for i, v in enumerate(values):
        if lows[i] is not None and highs[i] is not None:
            parts.append(f'<line x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y(lows[i]):.1f}" y2="{y(highs[i]):.1f}" stroke="#999"/>')
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="#3b6fb6"/>')
        parts.append(f'<text x="{x(i):.1f}" y="{height - 8}" font-size="9" text-anchor="middle">{e(row["labels"][i])[:16]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_trend(rows: Sequence[dict[str, Any]]) -> str:
    """A self-contained page: a τ table and one line chart per metric (no scripts)."""
    e = html.escape
    table = ["<table><tr><th>task</th><th>metric</th><th>values</th><th>Kendall τ</th><th>p</th></tr>"]
    for r in rows:
        values = " → ".join(f"{v:.3f}" for v in r["values"])
        p = "" if r["p_value"] is None else f"{r['p_value']:.3g}"
        table.append(f"<tr><td>{e(r['task'])}</td><td>{e(r['metric'])}</td><td>{e(values)}</td><td>{e(str(r['tau']))}</td><td>{p}</td></tr>")
    table.append("</table>")
    charts = "".join(line_chart_svg(r) for r in rows)
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>syllabus trend</title><style>{STYLE}</style></head><body><h1>Metrics across checkpoints</h1>"
        f"<p class=meta>{e(' → '.join(rows[0]['labels']) if rows else '')}</p>{''.join(table)}{charts}</body></html>\n"
    )
