"""The ifeval-lite task on fakes: prompt building, splits, scoring and the four IFEval numbers."""

from __future__ import annotations

import doctest
import json
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from syllabus import ConfigError
from syllabus.checks import Check, compatible, get_check
from syllabus.checks.text import words
from syllabus.evaluate.runner import AnswerAndScore, evaluate
from syllabus.evaluate.task import get_task
from syllabus.evaluate.tasks import ifeval_lite
from syllabus.evaluate.tasks.ifeval_lite import (
    DEFAULT_CHECKS,
    MAX_WORDS_AT_LEAST,
    IFEvalLite,
    base_tasks,
    build_prompts,
    pooled_ci,
    split_of,
)
from syllabus.llm.base import Generation
from syllabus.llm.fake import EchoLLM, FunctionLLM
from syllabus.record import Example

FOUR = ("prompt_level_strict", "prompt_level_loose", "instruction_level_strict", "instruction_level_loose")


def test_docstring_examples():
    assert doctest.testmod(ifeval_lite, optionflags=doctest.ELLIPSIS).failed == 0


# -- base tasks and splits ------------------------------------------------------------------


def test_base_tasks_are_well_formed_and_packaged():
    tasks = base_tasks()
    assert len(tasks) >= 100
    assert len({t.id for t in tasks}) == len(tasks)
    for t in tasks:
        assert t.instruction.strip().endswith((".", "?")), t.id
        assert all(words(k) == [k] for k in t.keywords), t.id  # each hint is one word
    assert resources.files("syllabus").joinpath("data", "base_prompts.jsonl").is_file()
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert "data/*.jsonl" in pyproject["tool"]["setuptools"]["package-data"]["syllabus"]


def test_splits_are_disjoint_and_held_out_by_id():
    test, train = base_tasks("test"), base_tasks("train")
    assert {t.id for t in test}.isdisjoint({t.id for t in train})
    assert len(test) + len(train) == len(base_tasks())
    assert 0.2 < len(test) / len(base_tasks()) < 0.4
    assert all(split_of(t.id) == "test" for t in test)
    # The training prompts generators use never touch a test base task, however many.
    test_ids = {t.id for t in test}
    train_prompts = build_prompts("train", 3 * len(train) + 5, seed=1)
    assert not {e.meta["base_id"] for e in train_prompts} & test_ids
    assert all(e.meta["split"] == "train" for e in train_prompts)
    test_prompts = build_prompts("test", 50)
    assert {e.meta["base_id"] for e in test_prompts} <= test_ids
    assert all(e.meta["split"] == "test" for e in test_prompts)
    with pytest.raises(ConfigError, match="split"):
        base_tasks("dev")  # type: ignore[arg-type]


# -- prompt building ----------------------------------------------------------------------------


def test_prompts_are_deterministic_by_seed_and_independent_of_order(monkeypatch):
    a = [e.to_dict() for e in build_prompts("test", 60, seed=0)]
    assert a == [e.to_dict() for e in build_prompts("test", 60, seed=0)]
    assert a[:25] == [e.to_dict() for e in build_prompts("test", 25, seed=0)]  # a prefix
    other = [e.to_dict() for e in build_prompts("test", 60, seed=1)]
    assert [e["meta"]["checks"] for e in a] != [e["meta"]["checks"] for e in other]
    assert len({e["id"] for e in a}) == 60  # several rounds, still unique ids
    # Reordering the base tasks (e.g. editing the file) changes nothing.
    original = ifeval_lite.base_tasks
    monkeypatch.setattr(ifeval_lite, "base_tasks", lambda split=None: list(reversed(original(split))))
    assert a == [e.to_dict() for e in build_prompts("test", 60, seed=0)]


def test_every_prompt_has_compatible_checks_that_fit_a_short_answer():
    for split in ("test", "train"):
        for example in build_prompts(split, 250, seed=7):
            stored = example.meta["checks"]
            checks = [Check.from_dict(c) for c in stored]
            assert 1 <= len(checks) <= 3
            assert compatible(checks)
            assert {c.name for c in checks} <= set(DEFAULT_CHECKS)
            assert example.prompt.startswith(example.meta["instruction"])
            for c in checks:
                assert c.describe() in example.prompt
                if c.name == "length.words" and c.relation == "at least":  # type: ignore[attr-defined]
                    assert c.count <= MAX_WORDS_AT_LEAST  # type: ignore[attr-defined]


def test_check_counts_and_types_can_be_restricted():
    task = IFEvalLite(n=30, checks=["case.lowercase", "punctuation.no_comma", "format.title"], min_checks=2, max_checks=2)
    for example in task.load():
        names = [c["name"] for c in example.meta["checks"]]
        assert len(names) == 2 and set(names) <= {"case.lowercase", "punctuation.no_comma", "format.title"}


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="case.lowercase"):
        get_task("ifeval-lite", checks=["case.lowercse"])  # did you mean
    with pytest.raises(ConfigError, match="min_checks"):
        get_task("ifeval-lite", min_checks=3, max_checks=2)
    with pytest.raises(ConfigError):
        get_task("ifeval-lite", split="dev")
    with pytest.raises(ConfigError, match="could not draw"):
        IFEvalLite(checks=["case.lowercase", "case.uppercase"], min_checks=2).load()  # they conflict


# -- scoring -----------------------------------------------------------------------------------


def _lowercase_no_comma(request) -> str:
    return "here is a plain answer. it has no capital letters and no commas at all."


def test_a_compliant_model_scores_one(tmp_path):
    task = IFEvalLite(n=20, checks=["case.lowercase", "punctuation.no_comma"], max_checks=2)
    report = evaluate(FunctionLLM(_lowercase_no_comma), [task], tmp_path)
    metrics = report["tasks"]["ifeval-lite"]["metrics"]
    for name in FOUR:
        assert metrics[name]["value"] == 1.0
    assert metrics["per_check_strict"]["case.lowercase"]["value"] == 1.0


def test_echo_and_empty_outputs_score_sensibly():
    task = IFEvalLite(n=40)
    examples = task.load()
    echo = list(AnswerAndScore(task, EchoLLM())(examples))
    metrics = task.aggregate(echo)
    for name in FOUR:
        assert 0.0 <= metrics[name]["value"] <= 1.0
    assert metrics["prompt_level_strict"]["value"] <= metrics["instruction_level_strict"]["value"]
    assert metrics["prompt_level_strict"]["value"] <= metrics["prompt_level_loose"]["value"]
    # Echoing the prompt keeps its capital first letter, so it never passes lowercase.
    lower = IFEvalLite(n=10, checks=["case.lowercase"], max_checks=1)
    scored = list(AnswerAndScore(lower, EchoLLM())(lower.load()))
    assert lower.aggregate(scored)["prompt_level_loose"]["value"] == 0.0
    # An empty answer passes nothing, not even "no commas".
    for example in examples[:10]:
        scores = task.score(example, [Generation(text="")])
        assert scores["prompt_level_loose"] == 0.0 and scores["instruction_loose"] == 0.0


def test_loose_forgives_a_preamble_line():
    example = Example.from_prompt("x", id="a", meta={"checks": [get_check("case.lowercase").to_dict()]})
    scores = IFEvalLite().score(example, [Generation(text="Sure! Here it is:\nall in lowercase")])
    assert scores["prompt_level_strict"] == 0.0 and scores["prompt_level_loose"] == 1.0
    assert scores["strict.case.lowercase"] == 0.0 and scores["loose.case.lowercase"] == 1.0


def test_instruction_level_is_pooled_over_instructions():
    task = IFEvalLite()
    three = [get_check("case.lowercase"), get_check("punctuation.no_comma"), get_check("format.title")]
    one = [get_check("punctuation.no_comma")]
    a = Example.from_prompt("a", id="a", meta={"checks": [c.to_dict() for c in three]})
    b = Example.from_prompt("b", id="b", meta={"checks": [c.to_dict() for c in one]})
    # a: lowercase passes; a comma and no <<title>> fail -> 1 of 3. b: no comma -> 1 of 1.
    for example, answer in ((a, "yes, indeed"), (b, "No commas here.")):
        for metric, value in task.score(example, [Generation(text=answer)]).items():
            example.set_score(task.namespace, metric, value)
    assert a.scores["ifeval-lite.instruction_strict"] == pytest.approx(1 / 3)
    metrics = task.aggregate([a, b])
    assert metrics["instruction_level_strict"]["value"] == pytest.approx(2 / 4)  # not (1/3 + 1) / 2
    assert metrics["instruction_level_strict"]["n"] == 4
    assert metrics["prompt_level_strict"]["value"] == 0.5
    assert metrics["prompt_level_strict"]["method"] == "wilson"
    assert metrics["per_check_strict"]["punctuation.no_comma"]["value"] == 0.5
    assert metrics["per_check_strict"]["format.title"]["value"] == 0.0


def test_pooled_ci_resamples_prompts():
    est = pooled_ci([1, 0, 2, 1, 3, 0] * 10, [1, 1, 2, 2, 3, 3] * 10)
    assert est.value == pytest.approx(7 / 12) and est.n == 120
    assert est.low < est.value < est.high
    assert pooled_ci([1, 0, 2, 1, 3, 0] * 10, [1, 1, 2, 2, 3, 3] * 10) == est  # seeded
    assert pooled_ci([2, 2], [2, 2]).low == 1.0


def test_evaluate_end_to_end_writes_the_four_metrics(tmp_path):
    def half_lowercase(request) -> str:
        # Lowercase answers to every other base task, so the numbers sit strictly inside (0, 1).
        prompt = request.messages[-1]["content"]
        return "a short plain answer" if len(prompt) % 2 else "A Short Plain Answer"

    task = get_task("ifeval-lite", n=30, limit=24)
    report = evaluate(FunctionLLM(half_lowercase), [task], tmp_path, shard_size=10)
    section = report["tasks"]["ifeval-lite"]
    assert section["n"] == 24 and section["decoding"]["max_tokens"] == 192
    for name in FOUR:
        est = section["metrics"][name]
        assert 0.0 <= est["low"] <= est["value"] <= est["high"] <= 1.0
    assert section["metrics"]["instruction_level_strict"]["method"] == "pooled bootstrap over prompts"
    assert section["metrics"]["per_check_strict"]
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert set(FOUR) <= set(on_disk["tasks"]["ifeval-lite"]["metrics"])
    sample = json.loads((tmp_path / "samples" / "ifeval-lite.jsonl").read_text().splitlines()[0])
    assert sample["meta"]["split"] == "test" and sample["meta"]["checks"]
    assert "ifeval-lite.prompt_level_strict" in sample["scores"]
