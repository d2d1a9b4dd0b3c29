"""``report.html``: the human view of an evaluation, one self-contained file.

Tables of metrics with CIs, bar charts with error bars, per-factor breakdowns and example
outputs. Plots are inline SVG drawn here, so the page needs no JavaScript at all, and all
text that came from a model or a dataset goes through :func:`html.escape`: a ``<script>``
in a model's answer is shown as text and never runs.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from syllabus.jsonl import read_jsonl, write_text_atomic
from syllabus.record import Example

__all__ = ["render_report", "write_report_html", "bar_chart_svg"]

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}code,pre{background:#f7f7f7}pre{white-space:pre-wrap;max-height:14em;overflow:auto;padding:6px;margin:0}
.num{text-align:right;font-variant-numeric:tabular-nums}.meta{color:#666;font-size:90%}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return _e(value)


def bar_chart_svg(bars: Sequence[tuple[str, float, float | None, float | None]], *, title: str, width: int = 520) -> str:
    """Horizontal bars ``(label, value, low, high)`` with CI whiskers, as an SVG string.

    >>> "<svg" in bar_chart_svg([("acc", 0.5, 0.4, 0.6)], title="t")
    True
    """
    if not bars:
        return ""
    row, left, pad = 26, 190, 10
    top = max(1.0, *(max(v, h if h is not None else v) for _, v, _, h in bars))
    lo = min(0.0, *(min(v, low if low is not None else v) for _, v, low, _ in bars))
    span = (top - lo) or 1.0
    plot_w = width - left - 60

    def x(v: float) -> float:
        return left + (v - lo) / span * plot_w

    height = pad * 2 + row * len(bars) + 18
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{_e(title)}">',
        f'<text x="{left}" y="14" font-size="12" font-weight="bold">{_e(title)}</text>',
    ]
    for i, (label, value, low, high) in enumerate(bars):
        y = 22 + pad + i * row
        parts.append(f'<text x="{left - 6}" y="{y + 13}" font-size="11" text-anchor="end">{_e(label)[:40]}</text>')
        parts.append(f'<rect x="{x(min(0.0, value)):.1f}" y="{y + 2}" width="{abs(x(value) - x(0.0)):.1f}" height="{row - 8}" fill="#6b8fc7"/>')
        if low is not None and high is not None:
            mid = y + row / 2 - 2
            parts.append(f'<line x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{mid}" y2="{mid}" stroke="#222" stroke-width="1.5"/>')
            for end in (low, high):
                parts.append(f'<line x1="{x(end):.1f}" x2="{x(end):.1f}" y1="{mid - 5}" y2="{mid + 5}" stroke="#222"/>')
        parts.append(f'<text x="{x(max(value, high or value)) + 4:.1f}" y="{y + 13}" font-size="11">{value:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _metric_rows(metrics: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, dict[str, Any]]]:
    """Flatten nested metric dicts into (name, estimate) pairs; estimates have a 'value'."""
    for name, value in metrics.items():
        if isinstance(value, dict) and "value" in value:
            yield prefix + name, value
        elif isinstance(value, dict):
            yield from _metric_rows(value, prefix=f"{prefix}{name}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield prefix + name, {"value": float(value)}


def _task_section(name: str, section: dict[str, Any], samples: list[Example], show: int) -> str:
    rows = list(_metric_rows(section.get("metrics", {})))
    table = ["<table><tr><th>metric</th><th>value</th><th>95% CI</th><th>n</th><th>method</th></tr>"]
    for metric, est in rows:
        if est.get("value") is None:
            continue
        ci = f"[{_fmt(est['low'])}, {_fmt(est['high'])}]" if est.get("low") is not None else ""
        table.append(
            f"<tr><td>{_e(metric)}</td><td class=num>{_fmt(est['value'])}</td><td class=num>{ci}</td>"
            f"<td class=num>{_e(est.get('n', ''))}</td><td>{_e(est.get('method', ''))}</td></tr>"
        )
    table.append("</table>")
    chart = bar_chart_svg([(m, e["value"], e.get("low"), e.get("high")) for m, e in rows if e.get("value") is not None], title=name)
    settings = _e(json.dumps({"version": section.get("version"), "settings": section.get("settings"), "decoding": section.get("decoding")}))
    examples = ["<table><tr><th>id</th><th>prompt</th><th>output</th><th>reference</th><th>scores</th></tr>"]
    for ex in samples[:show]:
        scores = ", ".join(f"{k.split('.', 1)[-1]}={v:g}" for k, v in ex.scores.items())
        examples.append(
            f"<tr><td><code>{_e(ex.id)}</code></td><td><pre>{_e(ex.prompt)}</pre></td>"
            f"<td><pre>{_e(ex.completion or '')}</pre></td><td><pre>{_e(ex.reference or '')}</pre></td><td>{_e(scores)}</td></tr>"
        )
    examples.append("</table>")
    return (
        f"<h2>{_e(name)}</h2><p class=meta>{_e(section.get('source', ''))} · n={_e(section.get('n', ''))} · "
        f"prompts hash <code>{_e(section.get('prompts_hash', ''))}</code></p>"
        f"<p class=meta>{settings}</p>{''.join(table)}{chart}<h3>Examples</h3>{''.join(examples)}"
    )


def render_report(report: dict[str, Any], samples: dict[str, list[Example]], *, show: int = 8) -> str:
    """The whole page as a string."""
    model = report.get("model", {})
    body = [
        f"<h1>Evaluation of {_e(model.get('model_id', '?'))}</h1>",
        f"<p class=meta>created {_e(report.get('created', ''))} · model {_e(json.dumps(model))}</p>",
    ]
    for name, section in report.get("tasks", {}).items():
        body.append(_task_section(name, section, samples.get(name, []), show))
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        # No scripts anywhere; the policy makes any that slipped through inert.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        f"<title>syllabus report: {_e(model.get('model_id', ''))}</title><style>{STYLE}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )


def write_report_html(eval_dir: str | Path, *, show: int = 8) -> Path:
    """Render ``eval_dir/report.json`` and its samples into ``eval_dir/report.html``."""
    eval_dir = Path(eval_dir)
    report = json.loads((eval_dir / "report.json").read_text())
    samples: dict[str, list[Example]] = {}
    for name in report.get("tasks", {}):
        path = eval_dir / "samples" / f"{name.replace('.', '_')}.jsonl"
        samples[name] = list(read_jsonl(path)) if path.exists() else []
    out = eval_dir / "report.html"
    write_text_atomic(out, render_report(report, samples, show=show))
    return out
