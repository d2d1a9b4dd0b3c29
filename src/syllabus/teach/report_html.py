"""``report.html`` of a teaching run: one self-contained page drawn from ``report.json``.

Sections: the headline (each skill's held-out metric before -> after with the paired CI),
every paired comparison, the controls, and per round: the policy's plan and why, the
dev scores it saw, generation and curation yields, examples of kept data, and the loss
curve. Plots are inline SVG; every string that came from a model, a dataset or a user
file goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from syllabus.evaluate.html_report import STYLE
from syllabus.jsonl import write_text_atomic

__all__ = ["render_teach_report", "write_teach_html"]


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, sign: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:+.3f}" if sign else f"{value:.3f}"
    return _e(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _comparison_rows(rows: list[dict[str, Any]], first: str = "task") -> list[list[str]]:
    out = []
    for c in rows:
        out.append([
            _e(c.get(first, "")), _e(c["metric"]), _num(c.get("mean_a")), _num(c.get("mean_b")), _num(c.get("diff"), True),
            f"[{_num(c.get('low'), True)}, {_num(c.get('high'), True)}]", _e(f"{c.get('p_value', 0):.3g}"), _e(c.get("n")),
            _e(c.get("verdict")),
        ])
    return out


_CMP_HEADER = ["", "metric", "before", "after", "difference", "95% CI", "p", "n", "verdict"]


def _loss_svg(points: list[list[float]], width: int = 420, height: int = 150) -> str:
    if len(points) < 2:
        return ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = (width - 50) / ((x1 - x0) or 1)
    sy = (height - 30) / ((y1 - y0) or 1)
    path = " ".join(f"{40 + (x - x0) * sx:.1f},{10 + (y1 - y) * sy:.1f}" for x, y in points)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="training loss">'
        f'<polyline fill="none" stroke="#3a6" stroke-width="1.5" points="{path}"/>'
        f'<text x="2" y="14" font-size="10">{y1:.2f}</text><text x="2" y="{height - 18}" font-size="10">{y0:.2f}</text>'
        f'<text x="40" y="{height - 4}" font-size="10">step {x0:g}</text>'
        f'<text x="{width - 60}" y="{height - 4}" font-size="10">step {x1:g}</text></svg>'
    )


def _round_section(rnd: dict[str, Any]) -> str:
    r = rnd["round"]
    parts = [f"<h3>Round {r}</h3>", f"<p class=meta>student: <code>{_e(rnd['student'])}</code></p>"]
    if rnd.get("generation"):
        rows = []
        for g in rnd["generation"]:
            notes = "; ".join(g.get("notes") or [])
            rows.append([_e(g["folder"]), _e(g.get("generator")), _e(g.get("kept")), _e(notes)])
        parts.append("<h4>Generation</h4>" + _table(["assignment", "generator", "kept", "notes"], rows))
    if rnd.get("curation"):
        cur = rnd["curation"]
        rows = [[_e(s["step"]), _e(s["in"]), _e(s["out"]), _e(", ".join(f"{k}: {v}" for k, v in s.get("reasons", {}).items()))]
                for s in cur.get("steps", [])]
        parts.append(f"<h4>Curation: {cur.get('output')} of {cur.get('input')} kept</h4>" + _table(["step", "in", "out", "dropped for"], rows))
    if rnd.get("kept_per_skill"):
        parts.append("<p>kept per skill: " + _e(", ".join(f"{k} {v}" for k, v in rnd["kept_per_skill"].items())) + "</p>")
    if rnd.get("examples"):
        rows = [[_e(x["skill"]), f"<pre>{_e(x['prompt'])}</pre>", f"<pre>{_e(x['completion'])}</pre>", _e(", ".join(x.get("repaired") or []))]
                for x in rnd["examples"]]
        parts.append("<h4>Kept examples</h4>" + _table(["skill", "prompt", "answer", "repaired by"], rows))
    if rnd.get("train"):
        t = rnd["train"]
        evals = ", ".join(f"{e['heldout_loss']:.3f}" for e in t.get("evals") or [] if e.get("heldout_loss") is not None)
        parts.append(f"<h4>Training: {t.get('steps')} steps; held-out loss {_e(evals)}</h4>" + _loss_svg(t.get("loss_curve") or []))
    if rnd.get("dev"):
        rows = []
        for name, s in rnd["dev"].items():
            ci = f"[{_num(s.get('low'))}, {_num(s.get('high'))}]" if s.get("low") is not None else ""
            weakest = sorted((s.get("per_check") or {}).items(), key=lambda kv: kv[1])[:4]
            rows.append([_e(name), _num(s.get("score")), ci, _e(s.get("n")), _e(s.get("failures")), _e(s.get("level")),
                         _e(", ".join(f"{k} {v:.2f}" for k, v in weakest))])
        parts.append("<h4>Dev scores the policy saw</h4>" + _table(["skill", "score", "95% CI", "n", "failed", "level", "weakest checks"], rows))
    if rnd.get("next_plan"):
        p = rnd["next_plan"]
        rows = [[_e(a["skill"]), _e(a["n"]), _e(a.get("inputs", 0)), _e(json.dumps(a.get("options") or {})), _e(a.get("reason"))]
                for a in p["assignments"]]
        parts.append(f"<h4>Plan for round {r + 1} ({_e(p['policy'])})</h4>" + _table(["skill", "n", "re-asked", "options", "why"], rows))
    return "\n".join(parts)


def render_teach_report(report: dict[str, Any]) -> str:
    """The page for one ``report.json`` (a string of HTML)."""
    cfg = report.get("config", {})
    parts = [
        "<!doctype html><html><head><meta charset=utf-8><title>syllabus teach report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Teaching run</h1>",
        (f"<p class=meta>student <code>{_e(cfg.get('student'))}</code>, teacher(s) <code>{_e(', '.join(cfg.get('teacher') or []))}</code>, "
        f"policy <code>{_e(report.get('policy', {}).get('name'))}</code>, {len(report.get('rounds', [])) - 1} round(s), "
        f"{_e(report.get('seconds_this_invocation'))} s in the last invocation</p>"),
        "<h2>Held-out results: before -> after teaching</h2>",
        _table(["skill", *_CMP_HEADER[1:]], _comparison_rows(report.get("headline", []), first="skill")),
    ]
    if report.get("controls"):
        parts.append("<h2>Controls (same number of examples, same training)</h2>")
        for c in report["controls"]:
            parts.append(f"<h3>{_e(c['name'])}: {_e(c['examples'])} examples (taught: {_e(c['target_examples'])})</h3>")
            if c.get("skipped"):
                parts.append(f"<p>skipped: {_e(c['skipped'])}</p>")
                continue
            parts.append("<p>taught student against this control (before = control, after = taught):</p>")
            parts.append(_table(_CMP_HEADER, _comparison_rows(c.get("taught_vs_control", []))))
            parts.append("<p>this control against the untaught student:</p>")
            parts.append(_table(_CMP_HEADER, _comparison_rows(c.get("vs_before", []))))
    parts.append("<h2>Every held-out metric</h2>")
    parts.append(_table(_CMP_HEADER, _comparison_rows(report.get("comparisons", []))))
    parts.append("<h2>Rounds</h2>")
    parts += [_round_section(rnd) for rnd in report.get("rounds", [])]
    timings = report.get("timings") or {}
    if timings:
        parts.append("<h2>Time</h2>" + _table(["stage", "seconds"], [[_e(k), _e(v)] for k, v in timings.items()]))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_teach_html(run_dir: str | Path) -> Path:
    """Render ``RUN/report.json`` into ``RUN/report.html``; returns the page's path."""
    run_dir = Path(run_dir)
    report = json.loads((run_dir / "report.json").read_text())
    out = run_dir / "report.html"
    write_text_atomic(out, render_teach_report(report))
    return out
