"""``teach``: the teaching loop (generate -> curate -> order -> train -> evaluate, steered by failures)."""

from __future__ import annotations

from typing import Any

from syllabus.cli.options import console as _console
from syllabus.teach.config import TeachConfig

__all__ = ["TeachConfig", "cmd_teach", "print_summary"]


def print_summary(report: dict[str, Any], page: Any) -> None:
    """Before -> after per skill with the paired CI, the controls, and where the report is."""
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    table = Table("skill", "task", "metric", "before", "after", "difference [95% CI]", "verdict", title="held-out, before -> after")
    for row in report["headline"]:
        table.add_row(
            escape(str(row["skill"])), escape(row["task"]), escape(row["metric"]), f"{row['mean_a']:.3f}", f"{row['mean_b']:.3f}",
            f"{row['diff']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}]", row["verdict"],
        )
    console.print(table)
    headline = {(r["task"], r["metric"]) for r in report["headline"]}
    for control in report["controls"]:
        rows = [c for c in control["taught_vs_control"] if (c["task"], c["metric"]) in headline]
        if not rows:
            continue
        t = Table("task", "metric", control["name"], "taught", "difference [95% CI]", "verdict",
                  title=f"taught vs control '{control['name']}' ({control['examples']} examples each)")
        for c in rows:
            t.add_row(escape(c["task"]), escape(c["metric"]), f"{c['mean_a']:.3f}", f"{c['mean_b']:.3f}",
                      f"{c['diff']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]", c["verdict"])
        console.print(t)
    minutes = report["seconds_this_invocation"] / 60
    console.print(f"{minutes:.1f} min; report: {page}")


def cmd_teach(cfg: TeachConfig) -> int:
    from syllabus.teach.loop import teach

    cfg = cfg.resolved()
    from rich.markup import escape

    console = _console()
    report = teach(cfg, log=lambda line: console.print(f"[bold]teach[/bold] {escape(line)}", highlight=False))
    from pathlib import Path

    print_summary(report, Path(cfg.out) / "report.html")
    return 0
