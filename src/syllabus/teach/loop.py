"""``teach()``: the whole loop, from an untaught student to a report with controls.

::

    reset -> state_0 -> policy -> plan_1 -> step -> state_1 -> policy -> plan_2 -> ... -> controls -> report

From Python::

    from syllabus.teach import TeachConfig, teach
    report = teach(TeachConfig(out="runs/teach", rounds=2))
    report["headline"]

Run it again with the same ``out`` to resume; with more ``rounds`` to extend.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syllabus.config import to_dict
from syllabus.run import RunDir
from syllabus.teach.compare import compare_eval_dirs
from syllabus.teach.config import TeachConfig
from syllabus.teach.controls import run_control
from syllabus.teach.environment import Environment, skill_score
from syllabus.teach.policies import get_policy
from syllabus.teach.skills import SkillSet, load_skills
from syllabus.teach.state import Plan

__all__ = ["build_report", "teach"]


def teach(
    cfg: TeachConfig,
    *,
    load_llm: Callable[..., Any] | None = None,
    train: Callable[..., dict[str, Any]] | None = None,
    merge: Callable[..., Any] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run (or resume, or extend) a teaching run; write and return ``report.json``.

    ``load_llm``, ``train`` and ``merge`` replace the real model loader, SFT recipe and
    adapter merge (the tests run the whole loop on fakes this way).
    """
    started = time.monotonic()
    skills = load_skills(cfg.skills)
    policy = get_policy(cfg.policy, cfg.policy_options)
    run = RunDir(cfg.out)
    run.write_manifest(
        command="teach", config=to_dict(cfg), models={"student": cfg.student, "teachers": list(cfg.teacher)}, seeds={"seed": cfg.seed}
    )
    env = Environment(cfg, skills, policy, run, load_llm=load_llm, train=train, merge=merge, log=log)
    try:
        env.reset()
        r = env.last_round()
        while r < cfg.rounds:
            state = env.observe(r)
            plan_file = env.round_dir(r) / "06_feedback" / "plan.json"
            if plan_file.exists():  # a killed round: the same plan again
                plan = Plan.from_dict(json.loads(plan_file.read_text()))
            else:
                plan = policy.plan(state, skills)
                # The policy may have moved skills' levels: the state on disk says so too.
                env._write_json(env.round_dir(r) / "06_feedback" / "state.json", state.to_dict())
            log(f"round {r + 1}: plan by {plan.policy}: " + ", ".join(f"{a.skill} {a.n}" for a in plan.assignments))
            env.step(plan, observe=False)  # the next pass observes, only if there is a next round
            r += 1
        env.evaluate_test(r)  # the last student on the held-out tasks (skipped when already done)
        taught = sum(len(env.kept(j)) for j in range(1, r + 1))
        controls = [run_control(env, name, taught) for name in cfg.controls]
    finally:
        run.close()
    report = build_report(env, r, controls, seconds=time.monotonic() - started)
    env._write_json(run.path / "report.json", report)
    from syllabus.teach.report_html import write_teach_html

    write_teach_html(run.path)
    return report


def _round_summary(env: Environment, r: int) -> dict[str, Any]:
    root = env.round_dir(r)
    out: dict[str, Any] = {"round": r, "student": env.student(r)}
    state_file = root / "06_feedback" / "state.json"
    if state_file.exists():
        state = json.loads(state_file.read_text())
        out["dev"] = {
            name: {k: s[k] for k in ("score", "low", "high", "n", "level", "per_check")} | {"failures": len(s["failures"])}
            for name, s in state["skills"].items()
        }
    plan_file = root / "06_feedback" / "plan.json"
    if plan_file.exists():
        plan = json.loads(plan_file.read_text())
        out["next_plan"] = {
            "policy": plan["policy"], "notes": plan["notes"],
            "assignments": [{k: a[k] for k in ("skill", "n", "options", "reason")} | {"inputs": len(a["inputs"])}
                            for a in plan["assignments"]],
        }
    if r > 0:
        out["generation"] = []
        for folder in sorted((root / "01_generate").glob("*/generation.json")):
            gen = json.loads(folder.read_text())
            out["generation"].append({"folder": folder.parent.name, **{k: gen.get(k) for k in ("generator", "kept", "phases", "notes", "counters")}})
        curate = root / "02_curate" / "stats.json"
        if curate.exists():
            out["curation"] = json.loads(curate.read_text())
        out["kept_per_skill"] = env._kept_per_skill(r)
        out["examples"] = [_example_view(e) for e in env.kept(r)[:6]]
        train = root / "04_train" / "train.json"
        if train.exists():
            summary = json.loads(train.read_text())
            out["train"] = {k: summary.get(k) for k in ("steps", "evals", "stages", "trainable_parameters")}
            out["train"]["loss_curve"] = _loss_curve(root / "04_train" / "train_log.jsonl")
    if (root / "05_eval" / "report.json").exists():
        out["eval_dir"] = str(root / "05_eval")
    return out


def _example_view(e: Any) -> dict[str, Any]:
    return {"id": e.id, "skill": e.meta.get("teach.skill"), "prompt": e.prompt, "completion": e.completion,
            "repaired": e.meta.get("verified.repaired", [])}


def _loss_curve(path: Path) -> list[list[float]]:
    if not path.exists():
        return []
    points = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("event") == "step":
            points.append([rec["step"], rec["loss"]])
    return points


def _comparisons(before: Path, after: Path) -> list[dict[str, Any]]:
    if not ((before / "report.json").exists() and (after / "report.json").exists()):
        return []
    return compare_eval_dirs(before, after)


def build_report(env: Environment, last: int, controls: list[dict[str, Any]], *, seconds: float) -> dict[str, Any]:
    """``report.json``: settings, per-round summaries, before/after and control comparisons."""
    skills: SkillSet = env.skills
    before = env.round_dir(0) / "05_eval"
    after = env.round_dir(last) / "05_eval"
    comparisons = _comparisons(before, after)
    headline = []
    for skill in skills.skills:
        for ref in skill.eval:
            row = next((c for c in comparisons if c["task"] == ref.task and c["metric"] == ref.metric), None)
            if row is not None:
                headline.append({"skill": skill.name, **row})
    for ref in skills.heldout:
        row = next((c for c in comparisons if c["task"] == ref.task and c["metric"] == ref.metric), None)
        if row is not None:
            headline.append({"skill": "(held out)", **row})
    control_rows = []
    for c in controls:
        if c.get("skipped"):
            control_rows.append({**c, "vs_before": [], "taught_vs_control": []})
            continue
        eval_dir = Path(c["eval_dir"])
        control_rows.append({
            "name": c["name"],
            "examples": c["examples"],
            "target_examples": c["target_examples"],
            "eval_dir": str(eval_dir),
            "vs_before": _comparisons(before, eval_dir),
            "taught_vs_control": _comparisons(eval_dir, after),
        })
    before_report = json.loads((before / "report.json").read_text()) if (before / "report.json").exists() else {}
    return {
        "command": "teach",
        "config": to_dict(env.cfg),
        "skills": skills.to_dict(),
        "policy": env.policy.describe(),
        "rounds": [_round_summary(env, r) for r in range(last + 1)],
        "before": {"eval_dir": str(before), "model": before_report.get("model")},
        "after": {"eval_dir": str(after), "round": last},
        "headline": headline,
        "comparisons": comparisons,
        "controls": control_rows,
        "timings": env.timings,
        "seconds_this_invocation": round(seconds, 1),
        "scores": {
            "before": {ref.task: skill_score(before_report, ref) for ref in skills.test_tasks()},
        },
    }
