"""``teach``: the teaching loop (generate -> curate -> order -> train -> evaluate, steered by failures)."""

from __future__ import annotations

from typing import Any

from syllabus.cli.options import console as _console
from syllabus.teach.config import TeachConfig

__all__ = ["TeachConfig", "cmd_teach", "print_summary"]


def print_summary(report: dict[str, Any], page: Any) -> None:
    """Before -> after per skill with the paired CI, the controls, and where the report is.

    One line per row (no table): it reads the same in a narrow terminal and in a log file.
    """
    from rich.markup import escape

    console = _console()

    def line(label: str, row: dict[str, Any]) -> str:
        return (f"  {escape(label):<12} {escape(row['task'])} {escape(row['metric'])}: {row['mean_a']:.3f} -> {row['mean_b']:.3f}  "
                f"{row['diff']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}]  {row['verdict']}")

    console.print("[bold]held-out, before -> after teaching[/bold] (95% paired CI of the difference)", highlight=False)
    for row in report["headline"]:
        console.print(line(str(row["skill"]), row), highlight=False)
    headline = {(r["task"], r["metric"]) for r in report["headline"]}
    for control in report["controls"]:
        if control.get("skipped"):
            console.print(f"control {escape(control['name'])}: skipped ({escape(control['skipped'])})", highlight=False)
            continue
        sizes = (f"{control['examples']} examples each" if control["examples"] == control.get("target_examples", control["examples"])
                 else f"control {control['examples']} examples, taught {control['target_examples']}")
        console.print(f"[bold]control '{escape(control['name'])}' -> taught[/bold] ({sizes})", highlight=False)
        for row in control["taught_vs_control"]:
            if (row["task"], row["metric"]) in headline:
                console.print(line("", row), highlight=False)
    minutes = report["seconds_this_invocation"] / 60
    console.print(f"{minutes:.1f} min; report: {page}", highlight=False)


def cmd_teach(cfg: TeachConfig) -> int:
    from syllabus.teach.loop import teach

    cfg = cfg.resolved()
    from rich.markup import escape

    console = _console()
    report = teach(cfg, log=lambda line: console.print(f"[bold]teach[/bold] {escape(line)}", highlight=False))
    from pathlib import Path

    print_summary(report, Path(cfg.out) / "report.html")
    return 0
