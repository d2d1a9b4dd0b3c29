"""`syllabus curate`, `curate explain` and `curate fit-rule` end to end on fake models."""

from __future__ import annotations

import json
import math

import pytest

from syllabus.cli import main
from syllabus.curate.scorers.judge import parse_rubric_prompt
from syllabus.llm import BACKENDS
from syllabus.llm.fake import FunctionLLM


def rubric_judge(request) -> str:
    """A rule-based judge: shirkers fail everything; 'almost' answers miss one criterion."""
    _, response = parse_rubric_prompt(request.messages)
    if "not sure" in response.lower():
        scores = (20, 30, 10, 40)
    elif response.startswith("Almost"):
        scores = (100, 100, 100, 85)  # mean 96.25 passes, one criterion under 90 does not
    else:
        scores = (97, 98, 96, 99)
    names = ("accuracy", "relevance", "completeness", "reasonableness")
    return "\n".join(f"{n}: {s}" for n, s in zip(names, scores))


def load_test_judge(rest: str, **options) -> FunctionLLM:
    return FunctionLLM(rubric_judge, name="rubric-judge")


# A backend registered the way a plugin would be; `--models.judge testjudge:rules` names it.
BACKENDS.register("testjudge", f"{__name__}:load_test_judge")

ROWS = [
    ("What is 2+2?", "2+2 is 4.", "math"),
    ("Name a colour.", "Blue is a colour.", "words"),
    ("What is 2+2?", "2+2 is 4.", "math"),  # exact duplicate of the first
    ("Name a planet.", "Mars is a planet.", "science"),
    ("name a PLANET!", "mars is a planet", "science"),  # the same after normalisation
    ("Why is the sky blue?", "I am not sure, sorry.", "science"),  # a shirker
    ("Write a haiku about rain.", "Almost: rain on the roof.", "words"),
    ("What is the capital of France?", "Paris is the capital of France.", "geography"),
]


def write_input(path):
    with path.open("w") as f:
        for i, (prompt, completion, skill) in enumerate(ROWS):
            row = {"id": f"ex{i}", "messages": [{"role": "user", "content": prompt}], "completion": completion, "meta": {"skill": skill}}
            f.write(json.dumps(row) + "\n")
    return path


def curate(tmp_path, *extra):
    data = write_input(tmp_path / "in.jsonl")
    out = tmp_path / "run"
    argv = ["curate", "--in", str(data), "--out", str(out), "--no-progress", "--models.embedder", "fake:bow", *extra]
    return main(argv), out / "r00" / "02_curate"


def test_curate_judge_recipe_end_to_end(tmp_path, capsys):
    code, stage = curate(tmp_path, "--recipe", "judge", "--models.judge", "testjudge:rules")
    assert code == 0
    printed = capsys.readouterr().out
    assert "exact-dedup" in printed and "exact duplicate" in printed and "25.0%" in printed
    kept = [json.loads(line)["id"] for f in sorted((stage / "shards").glob("*.jsonl")) for line in f.read_text().splitlines()]
    assert kept == ["ex0", "ex1", "ex3", "ex7"]
    excluded = {
        row["id"]: (row["meta"]["excluded.step"], row["meta"]["excluded.reason"])
        for f in sorted((stage / "excluded").glob("*.jsonl"))
        for row in map(json.loads, f.read_text().splitlines())
    }
    assert excluded == {
        "ex2": ("exact-dedup", "exact duplicate"),
        "ex4": ("exact-dedup", "exact duplicate"),
        "ex5": ("judge-mean", "judge.mean < 95"),
        "ex6": ("judge-each", "judge.* < 90"),
    }
    stats = json.loads((stage / "stats.json").read_text())
    assert stats["input"] == 8 and stats["output"] == 4 and stats["recipe"] == "judge"
    config = (stage / "config.yaml").read_text()
    assert "judge: testjudge:rules" in config and "use: judge-rubric" in config
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    command = manifest["commands"]["curate"]
    assert command["config"]["resolved_recipe"]["models"]["judge"] == "testjudge:rules"
    assert command["models"]["judge"]["model_id"] == "fake:rubric-judge"
    assert (tmp_path / "run" / "index").is_dir()  # the dedup state other rounds share


def test_curate_explain_shows_scores_and_the_deciding_step(tmp_path, capsys):
    curate(tmp_path, "--recipe", "judge", "--models.judge", "testjudge:rules")
    capsys.readouterr()
    assert main(["curate", "explain", "ex6", "--out", str(tmp_path / "run")]) == 0
    shown = capsys.readouterr().out
    assert "dropped by judge-each: judge.* < 90" in shown
    assert "judge.reasonableness" in shown and "85" in shown and "threshold.failed" in shown
    assert "not reached" not in shown  # judge-each is the last step
    assert main(["curate-explain", "ex4", "--out", str(tmp_path / "run")]) == 0
    shown = capsys.readouterr().out
    assert "exact duplicate" in shown and "dedup.duplicate_of" in shown and "not reached" in shown
    assert main(["curate", "explain", "ex7", "--out", str(tmp_path / "run" / "r00" / "02_curate")]) == 0
    assert "ex7: kept" in capsys.readouterr().out
    assert main(["curate", "explain", "nope", "--out", str(tmp_path / "run")]) == 2
    assert "no example with id 'nope'" in capsys.readouterr().err
    assert main(["curate", "explain", "ex", "--out", str(tmp_path / "run")]) == 2
    assert "matches 8 examples" in capsys.readouterr().err


def test_curate_with_an_echo_judge_drops_unreadable_verdicts_with_a_reason(tmp_path, capsys):
    code, stage = curate(tmp_path, "--recipe", "judge", "--models.judge", "fake:echo")
    assert code == 0
    stats = json.loads((stage / "stats.json").read_text())
    judge_mean = next(s for s in stats["steps"] if s["step"] == "judge-mean")
    assert judge_mean["reasons"] == {"no judge.mean score": 6}
    capsys.readouterr()
    main(["curate", "explain", "ex0", "--out", str(tmp_path / "run")])
    assert "judge.error" in capsys.readouterr().out


def test_curate_a_yaml_recipe_with_selections_from_a_generated_run(tmp_path, capsys):
    from syllabus.llm.fake import EchoLLM
    from syllabus.pipeline import Pipeline, Respond
    from syllabus.record import Example
    from syllabus.run import RunDir

    run = tmp_path / "run"  # a run whose generate stage answered 10 prompts
    prompts = [Example.from_prompt(f"Say the word number {i} please") for i in range(10)]
    Pipeline([Respond(EchoLLM())], shard_size=4).run(prompts, RunDir(run).stage(0, 1, "generate"))
    recipe = tmp_path / "mine.yaml"
    recipe.write_text(
        "steps:\n  - use: length\n"
        "select:\n  - use: facility-location\n    budget: 3\n  - use: top-k\n    score: quality.length\n    k: 2\n"
    )
    capsys.readouterr()
    # --in a run directory: curation goes into the same run, next to 01_generate
    assert main(["curate", "--in", str(run), "--recipe", str(recipe), "--models.embedder", "fake:bow", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "facility-location" in printed and "covered by a chosen example" in printed
    stage = run / "r00" / "02_curate"
    stats = json.loads((stage / "stats.json").read_text())
    assert stats["output"] == 2 and [s["out"] for s in stats["steps"]] == [10, 3, 2]
    assert stats["steps"][1]["info"]["budget"] == 3
    assert "mine" in (stage / "config.yaml").read_text()
    assert "curate" in json.loads((run / "manifest.json").read_text())["commands"]


def test_curate_errors_are_one_line(tmp_path, capsys):
    assert main(["curate", "--no-progress"]) == 2
    assert "curate needs --in" in capsys.readouterr().err
    write_input(tmp_path / "in.jsonl")
    assert main(["curate", "--in", str(tmp_path / "in.jsonl"), "--recipe", "defualt"]) == 2
    assert "Unknown recipe 'defualt'. Did you mean default?" in capsys.readouterr().err
    assert main(["curate", "--in", str(tmp_path / "nothing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_fit_rule_prints_the_fit_and_writes_a_rule_the_recipe_step_loads(tmp_path, capsys):
    results = tmp_path / "results.jsonl"
    rows = []
    for i in range(10):
        reward, knn = 2 + 0.7 * i, 0.2 + 0.05 * ((i * 7) % 10)
        rows.append({"subset": f"s{i}", "quality.reward": reward, "quality.knn": knn, "loss": math.exp(1.5 - 0.1 * reward - 0.5 * knn)})
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["curate", "fit-rule", "--results", str(results)]) == 0
    printed = capsys.readouterr().out
    assert "quality.reward" in printed and "R²=1" in printed
    rule = json.loads((tmp_path / "results.rule.json").read_text())
    assert rule["coefficients"]["quality.reward"] == pytest.approx(-0.1, abs=1e-6)
    from syllabus.curate import build_step

    step = build_step("instructmining-rule", {"rule": str(tmp_path / "results.rule.json")})
    assert step.rule.coefficients == rule["coefficients"]
    assert main(["curate", "fit-rule"]) == 2
    assert "needs --results" in capsys.readouterr().err


def test_curate_refuses_an_unfinished_stage(tmp_path, capsys):
    from syllabus.llm.fake import EchoLLM
    from syllabus.pipeline import Pipeline, Respond
    from syllabus.record import Example

    stage = tmp_path / "run" / "r00" / "01_generate"
    Pipeline([Respond(EchoLLM())], shard_size=2).run([Example.from_prompt(p) for p in "abcd"], stage)
    (stage / "done" / "00001").unlink()  # as if the run was killed before its last shard
    assert main(["curate", "--in", str(stage), "--recipe", "verified", "--no-progress"]) == 2
    assert "finished 1 of 2 shards" in capsys.readouterr().err
