"""The teaching loop on fakes: skills files, policies, the environment, kill and resume, the report."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from syllabus.errors import ConfigError
from syllabus.llm.base import GenerateRequest
from syllabus.llm.fake import FunctionLLM
from syllabus.record import Example
from syllabus.teach import (
    Assignment,
    Plan,
    SkillState,
    State,
    TeachConfig,
    get_policy,
    load_skills,
    teach,
)
from syllabus.teach.compare import compare_metric
from syllabus.teach.report_html import render_teach_report
from syllabus.teach.skills import Skill, SkillSet

# -- skills files ----------------------------------------------------------------------------


def test_default_skills_load_and_list_test_tasks() -> None:
    skills = load_skills("default")
    assert skills.names == ["format", "arithmetic"]
    assert [t.task for t in skills.test_tasks()] == ["ifeval-lite", "arith-ic", "gym:basic_arithmetic"]
    fmt = skills.get("format")
    assert fmt.dev is not None and fmt.dev.settings["split"] == "train"  # dev never uses the held-out split
    assert fmt.options_at(9) == {**fmt.options, **fmt.levels[-1]}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "skills.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("skills:\n  - name: a\n    colour: red\n", "unknown key 'colour'"),
        ("skills:\n  - name: a\n    eval: [{task: ifeval-lite, metric: nope}]\n", "has no metric 'nope'"),
        ("skills:\n  - name: a\n    eval: [{task: ifeval-lte}]\n", "ifeval-lite"),  # did-you-mean
        ("skills:\n  - name: a\n    options: {samplez: 2}\n", "unknown option 'samplez'"),
        (
            "skills:\n  - name: a\n    dev: {task: ifeval-lite, n: 4}\n    eval: [{task: ifeval-lite, n: 4}]\n",
            "dev task equals an eval task",
        ),
        ("skills: []\n", "non-empty 'skills:' list"),
        ("skills:\n  - name: a\n  - name: a\n", "unique"),
        ("skills:\n  - name: a\n    weight: 0\n", "'weight' must be a number above 0"),
        ("skills:\n  - name: a\n    weight: lots\n", "'weight' must be a number above 0"),
    ],
)
def test_bad_skills_files_fail_with_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_skills(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "skills:\n  - name: a\n    options: {a: [1, 2}\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:3")):
        load_skills(path)


def test_missing_skills_file_says_what_to_give() -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_skills("nowhere/skills.yaml")


# -- state, plan, policies --------------------------------------------------------------------


def _state(scores: dict[str, float | None], budget: int = 20, **extra: Any) -> State:
    return State(round=1, budget=budget, skills={k: SkillState(k, score=v, n=10, **extra.get(k, {})) for k, v in scores.items()})


def test_state_and_plan_round_trip_through_json() -> None:
    failure = Example.from_prompt("Write in lowercase.", completion="NO", meta={"checks": [{"name": "case.lowercase", "params": {}}]})
    state = _state({"a": 0.5}, a={"failures": [failure], "per_check": {"case.lowercase": 0.0}})
    assert State.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    plan = Plan([Assignment("a", 3, {"checks": ["case.lowercase"]}, [failure], "why")], policy="p", notes=["n"])
    back = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert back.total == 3 and back.assignments[0].inputs[0].completion == "NO"


SKILLS = SkillSet((Skill("strong", levels=({"max_checks": 1}, {"max_checks": 2})), Skill("weak")))


def test_uniform_ignores_scores() -> None:
    plan = get_policy("uniform").plan(_state({"strong": 0.9, "weak": 0.1}, budget=21), SKILLS)
    assert [(a.skill, a.n) for a in plan.assignments] == [("strong", 11), ("weak", 10)]


def test_weakest_first_splits_explore_evenly_and_exploit_by_deficit() -> None:
    state = _state({"strong": 0.9, "weak": 0.5}, budget=100)
    plan = get_policy("weakest-first", {"explore": 0.5}).plan(state, SKILLS)
    # explore: 25 each; exploit 50 in proportion to deficits 0.1 : 0.5
    assert [a.n for a in plan.assignments] == [33, 67]
    assert plan.total == 100


def test_skill_weights_scale_every_policys_shares() -> None:
    weighted = SkillSet((Skill("strong", weight=3.0), Skill("weak")))
    plan = get_policy("uniform").plan(_state({"strong": 0.9, "weak": 0.1}, budget=20), weighted)
    assert [a.n for a in plan.assignments] == [15, 5]
    # explore 0.5 of 100: 25 each, exploit 50 by deficits 0.5 : 0.5; then weighted 3 : 1
    plan = get_policy("weakest-first", {"explore": 0.5}).plan(_state({"strong": 0.5, "weak": 0.5}, budget=100), weighted)
    assert [a.n for a in plan.assignments] == [75, 25]


def test_unmeasured_skills_count_as_fully_missing() -> None:
    plan = get_policy("weakest-first", {"explore": 0.0}).plan(_state({"strong": None, "weak": 0.0}, budget=10), SKILLS)
    assert [a.n for a in plan.assignments] == [5, 5]


def test_escalation_raises_a_level_once_the_threshold_is_met() -> None:
    state = _state({"strong": 0.8, "weak": 0.2})
    plan = get_policy("escalation", {"threshold": 0.7}).plan(state, SKILLS)
    assert state.skills["strong"].level == 1 and state.skills["weak"].level == 0
    assert plan.assignments[0].options == {"max_checks": 2}
    assert any("up to level 1" in note for note in plan.notes)
    # already at the last level: stays there
    get_policy("escalation", {"threshold": 0.7}).plan(state, SKILLS)
    assert state.skills["strong"].level == 1


def test_failures_policy_reasks_failed_prompts_and_focuses_weak_checks() -> None:
    failed = [Example.from_prompt(f"q{i}", id=f"f{i}") for i in range(3)]
    state = _state(
        {"strong": 0.9, "weak": 0.2},
        budget=10,
        weak={"failures": failed, "per_check": {"case.lowercase": 0.0, "format.title": 1.0, "format.json": 0.5}},
    )
    plan = get_policy("failures", {"regenerate": 0.5, "focus": 2, "explore": 0.0}).plan(state, SKILLS)
    weak = [a for a in plan.assignments if a.skill == "weak"]
    assert sum(a.n for a in weak) == 9 and plan.total == 10  # deficits 0.1 : 0.8
    reask = next(a for a in weak if a.inputs)
    assert reask.n == 3 and [e.id for e in reask.inputs] == ["f0", "f1", "f2"]  # only 3 failures to re-ask
    assert all(a.options["checks"] == ["case.lowercase", "format.json"] for a in weak)


def test_unknown_policy_and_bad_options_fail_clearly() -> None:
    with pytest.raises(ConfigError, match="weakest-first"):
        get_policy("weakest-frist")
    with pytest.raises(ConfigError, match="explore"):
        get_policy("weakest-first", {"explore": 2})
    with pytest.raises(ConfigError, match="policy 'uniform'"):
        get_policy("uniform", {"explore": 0.1})


# -- paired comparisons -------------------------------------------------------------------------


def _scored(i: int, strict: list[float]) -> Example:
    scores = {f"ifeval-lite.strict.c{k}": v for k, v in enumerate(strict)}
    scores["ifeval-lite.prompt_level_strict"] = float(all(strict))
    return Example.from_prompt("p", id=f"e{i}", scores=scores)


def test_pooled_instruction_level_is_compared_over_prompts() -> None:
    before = [_scored(i, [0.0, 1.0] if i % 2 else [0.0]) for i in range(40)]
    after = [_scored(i, [1.0, 1.0] if i % 2 else [1.0]) for i in range(40)]
    result = compare_metric(before, after, "ifeval-lite", "instruction_level_strict")
    assert result is not None
    assert result.mean_a == pytest.approx(20 / 60) and result.mean_b == 1.0
    assert result.low > 0 and result.verdict == "significant improvement"
    assert compare_metric(before, before, "ifeval-lite", "instruction_level_strict").verdict == "no significant change"
    assert compare_metric(before, after, "ifeval-lite", "prompt_level_strict").test.startswith("mcnemar")


# -- the whole loop on fakes ----------------------------------------------------------------------


class Fakes:
    """Model loader, trainer and merger standing in for the real ones; counts every call.

    The untaught student answers in capitals; a taught one (an ``hf:`` folder) answers in
    lowercase, so it passes lowercase checks it failed before. ``fail_train`` raises in
    that round's training the first time (a kill mid-run).
    """

    def __init__(self, fail_train: int | None = None):
        self.trained: list[str] = []
        self.loaded: list[str] = []
        self.fail_train = fail_train

    def load(self, spec: str, cache: Any = None, **_: Any) -> Any:
        self.loaded.append(spec)
        if spec.startswith("hf:"):
            return FunctionLLM(lambda r: "here is my answer, in lowercase.", name="taught")
        if spec == "fake:student":
            return FunctionLLM(lambda r: "HERE IS MY ANSWER.", name="student")
        return FunctionLLM(_teacher, name=spec.replace(":", "-"))

    def train(self, stages: Any, folder: Path, settings: Any, *, progress: bool) -> dict[str, Any]:
        self.trained.append(folder.parent.name)
        if self.fail_train is not None and folder.parent.name == f"r{self.fail_train:02d}":
            self.fail_train = None
            raise KeyboardInterrupt("killed")
        (folder / "adapter").mkdir(parents=True, exist_ok=True)
        summary = {"output": str(folder / "adapter"), "steps": 3, "evals": [], "stages": [len(s) for s in stages]}
        (folder / "train.json").write_text(json.dumps(summary))
        (folder / "train_log.jsonl").write_text("".join(json.dumps({"event": "step", "step": i, "loss": 2.0 / i}) + "\n" for i in (1, 2, 3)))
        return summary

    def merge(self, adapter: Path, out: Path, *, base: str) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({"base": base}))


def _teacher(request: GenerateRequest) -> str:
    text = request.messages[-1]["content"] if request.messages else request.prompt
    if "How many" in text or "how many" in text:
        return "Let me see.\nThe answer is 7."
    return "Sunlight bends in raindrops, and the colours spread out. <script>alert(1)</script> That is why we see them."


def _config(out: Path, **changes: Any) -> TeachConfig:
    settings: dict[str, Any] = {
        "out": str(out), "student": "fake:student", "teacher": ["fake:teacher"], "rounds": 2, "examples": 10,
        "eval_scale": 0.1, "progress": False, "controls": ["untargeted"],
    }
    return TeachConfig(**{**settings, **changes})


def _run(cfg: TeachConfig, fakes: Fakes) -> dict[str, Any]:
    return teach(cfg, load_llm=fakes.load, train=fakes.train, merge=fakes.merge, log=lambda line: None)


def _stable(report: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in report.items() if k not in ("timings", "seconds_this_invocation")}
    return json.loads(json.dumps(out))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, Fakes]:
    out = tmp_path_factory.mktemp("teach") / "run"
    fakes = Fakes()
    return _run(_config(out), fakes), out, fakes


def test_loop_writes_every_stage_and_a_report(uninterrupted: tuple[dict[str, Any], Path, Fakes]) -> None:
    report, out, fakes = uninterrupted
    for r in (1, 2):
        for stage in ("01_generate", "02_curate", "03_order", "04_train/model"):
            assert (out / f"r{r:02d}" / stage).exists(), (r, stage)
    assert (out / "r00/05_eval/report.json").exists() and (out / "r02/05_eval/report.json").exists()
    assert not (out / "r01/05_eval").exists()  # held-out evaluation before and after, not in between
    assert (out / "r01/06_feedback/state.json").exists() and (out / "r01/06_feedback/plan.json").exists()
    assert fakes.trained == ["r01", "r02", "untargeted"]
    assert [r["round"] for r in report["rounds"]] == [0, 1, 2]
    assert report["rounds"][1]["kept_per_skill"] and report["rounds"][1]["train"]["loss_curve"]
    assert (out / "report.json").exists() and (out / "report.html").exists()


def test_the_taught_student_is_compared_before_after_and_against_the_control(uninterrupted: tuple[dict[str, Any], Path, Fakes]) -> None:
    report, _, _ = uninterrupted
    rows = {(r["skill"], r["task"], r["metric"]) for r in report["headline"]}
    assert ("format", "ifeval-lite", "instruction_level_strict") in rows
    assert ("(held out)", "gym:basic_arithmetic", "score") in rows
    control = report["controls"][0]
    assert control["name"] == "untargeted" and control["examples"] >= 1
    assert any(c["metric"] == "prompt_level_strict" for c in control["taught_vs_control"])


def test_report_page_escapes_model_text(uninterrupted: tuple[dict[str, Any], Path, Fakes]) -> None:
    _, out, _ = uninterrupted
    page = (out / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_dev_items_are_never_held_out_items(uninterrupted: tuple[dict[str, Any], Path, Fakes]) -> None:
    _, out, _ = uninterrupted
    from syllabus.jsonl import read_jsonl

    held = {e.prompt for f in (out / "r00/05_eval/samples").glob("*.jsonl") for e in read_jsonl(f)}
    dev = {e.prompt for f in (out / "r00/06_feedback/dev/samples").glob("*.jsonl") for e in read_jsonl(f)}
    taught = {e.prompt for f in (out / "r01/02_curate/shards").glob("*.jsonl") for e in read_jsonl(f)}
    assert dev and taught and not (held & dev) and not (held & taught)


def test_kill_and_resume_gives_the_same_report(tmp_path: Path, uninterrupted: tuple[dict[str, Any], Path, Fakes]) -> None:
    expected, _, _ = uninterrupted
    fakes = Fakes(fail_train=2)
    cfg = _config(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        _run(cfg, fakes)
    assert (tmp_path / "run/r01/04_train/model/config.json").exists()
    assert not (tmp_path / "run/report.json").exists()
    report = _run(cfg, fakes)
    assert fakes.trained == ["r01", "r02", "r02", "untargeted"]  # round 1 was not trained again
    # Round 0's held-out and dev evaluations were not redone: the untaught student was
    # loaded for them before the kill only.
    assert fakes.loaded.count("fake:student") == 2
    assert _stable(report)["headline"] == _stable(expected)["headline"]
    assert _stable(report)["rounds"][1]["kept_per_skill"] == _stable(expected)["rounds"][1]["kept_per_skill"]


def test_a_finished_run_is_extended_by_more_rounds(tmp_path: Path) -> None:
    fakes = Fakes()
    _run(_config(tmp_path / "run", rounds=1, controls=[]), fakes)
    assert fakes.trained == ["r01"]
    report = _run(_config(tmp_path / "run", rounds=2, controls=[]), fakes)
    assert fakes.trained == ["r01", "r02"]
    assert report["after"]["round"] == 2 and (tmp_path / "run/r01/06_feedback/state.json").exists()


def test_render_handles_a_skipped_control() -> None:
    page = render_teach_report({"controls": [{"name": "continuation", "examples": 0, "target_examples": 5, "skipped": "no <texts>"}]})
    assert "skipped: no &lt;texts&gt;" in page


def test_quick_overrides_only_defaults() -> None:
    cfg = TeachConfig(quick=True, examples=77).resolved()
    assert cfg.examples == 77 and cfg.eval_scale == 0.25
    assert TeachConfig(quick=True).resolved().examples == 48
    with pytest.raises(ConfigError, match="--controls"):
        TeachConfig(controls=["placebo"])
