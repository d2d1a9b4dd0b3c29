"""The InstructMining linear rule: fitting (coefficients, R², leave-one-out R², p-values),
rule files, the results loader's errors, and the step that applies a rule."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from syllabus.curate.rule import (
    DEFAULT_RULE,
    InstructMiningRule,
    Rule,
    fit_rule,
    load_results,
    load_rule,
    rows_from_examples,
)
from syllabus.errors import ConfigError, DataError
from syllabus.record import Example


def synthetic_rows(n: int = 30, seed: int = 0) -> list[dict[str, float]]:
    """log loss = 1.2 - 0.15 reward - 0.9 knn + noise; 'quality.mtld' has no effect."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        reward, knn, mtld = rng.uniform(2, 9), rng.uniform(0.1, 0.6), rng.uniform(20, 80)
        log_loss = 1.2 - 0.15 * reward - 0.9 * knn + rng.normal(0, 0.02)
        rows.append({"quality.reward": reward, "quality.knn": knn, "quality.mtld": mtld, "loss": math.exp(log_loss)})
    return rows


def test_fit_recovers_coefficients_with_significance():
    rule = fit_rule(synthetic_rows())
    assert rule.intercept == pytest.approx(1.2, abs=0.05)
    assert rule.coefficients["quality.reward"] == pytest.approx(-0.15, abs=0.01)
    assert rule.coefficients["quality.knn"] == pytest.approx(-0.9, abs=0.1)
    assert abs(rule.coefficients["quality.mtld"]) < 0.002
    fit = rule.fit
    assert fit["n"] == 30 and fit["df"] == 26 and fit["r2"] > 0.98 and fit["loo_r2"] > 0.97
    assert fit["p_values"]["quality.reward"] < 1e-10 and fit["p_values"]["quality.knn"] < 1e-6
    assert fit["p_values"]["quality.mtld"] > 0.01  # no effect, not significant
    assert rule.means["quality.reward"] == pytest.approx(np.mean([r["quality.reward"] for r in synthetic_rows()]))


def test_fit_statistics_agree_with_scipy_and_an_explicit_leave_one_out():
    stats = pytest.importorskip("scipy.stats")
    rows = synthetic_rows(12, seed=3)
    x = [r["quality.reward"] for r in rows]
    y = [math.log(r["loss"]) for r in rows]
    rule = fit_rule(rows, ["quality.reward"])
    ref = stats.linregress(x, y)
    assert rule.coefficients["quality.reward"] == pytest.approx(ref.slope)
    assert rule.intercept == pytest.approx(ref.intercept)
    assert rule.fit["r2"] == pytest.approx(ref.rvalue**2)
    assert rule.fit["p_values"]["quality.reward"] == pytest.approx(ref.pvalue, rel=1e-6)
    assert rule.fit["std_errors"]["quality.reward"] == pytest.approx(ref.stderr)
    # Leave-one-out R² from the hat matrix equals refitting without each row.
    errors = []
    for i in range(len(rows)):
        rest = rows[:i] + rows[i + 1 :]
        held = fit_rule(rest, ["quality.reward"])
        errors.append(y[i] - held.predict(rows[i]))
    loo = 1 - sum(e * e for e in errors) / sum((v - np.mean(y)) ** 2 for v in y)
    assert rule.fit["loo_r2"] == pytest.approx(loo)


def test_fit_on_raw_loss_and_errors():
    rows = [{"a": float(i), "loss": 2.0 * i + 1 + (0.1 if i % 2 else -0.1)} for i in range(6)]
    rule = fit_rule(rows, target="loss")
    assert rule.target == "loss" and rule.coefficients["a"] == pytest.approx(2.0, abs=0.1)
    with pytest.raises(DataError, match="need at least 3"):
        fit_rule(rows[:2])
    with pytest.raises(DataError, match="collinear or constant"):
        fit_rule([{"a": float(i), "b": 2.0 * i, "loss": 1.0 + i} for i in range(6)])
    with pytest.raises(DataError, match="loss > 0"):
        fit_rule([{"a": float(i), "loss": i - 2.0} for i in range(6)])
    with pytest.raises(DataError, match="lacks b"):
        fit_rule(rows, ["a", "b"])


def test_rule_file_round_trip_and_errors(tmp_path):
    rule = fit_rule(synthetic_rows(10))
    path = rule.save(tmp_path / "rules" / "rule.json")
    again = Rule.load(path)
    assert again == rule
    assert load_rule(str(path)).coefficients == rule.coefficients
    assert load_rule(None) is DEFAULT_RULE and load_rule("default") is DEFAULT_RULE
    with pytest.raises(ConfigError, match="does not exist"):
        Rule.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"intercept": 1,\n "coefficients": }')
    with pytest.raises(ConfigError, match=r"bad.json:2"):
        Rule.load(bad)
    bad.write_text(json.dumps({"intercept": 1, "coefficients": {"x": 1}, "slope": 2}))
    with pytest.raises(ConfigError, match="unknown key"):
        Rule.load(bad)
    with pytest.raises(ConfigError, match="non-empty"):
        Rule.from_dict({"intercept": 1, "coefficients": {}})


def test_load_results_jsonl_and_csv(tmp_path):
    jsonl = tmp_path / "results.jsonl"
    jsonl.write_text('{"subset": "s0", "quality.reward": 5, "loss": 1.2}\n\n{"subset": "s1", "quality.reward": "6.5", "loss": 1.1}\n')
    assert load_results(jsonl) == [{"quality.reward": 5.0, "loss": 1.2}, {"quality.reward": 6.5, "loss": 1.1}]
    table = tmp_path / "results.csv"
    table.write_text("name,quality.reward,quality.knn,loss\na,5,0.3,1.2\nb,6,0.2,1.1\n")
    assert load_results(table)[1] == {"quality.reward": 6.0, "quality.knn": 0.2, "loss": 1.1}


@pytest.mark.parametrize(
    ("text", "suffix", "message"),
    [
        ('{"quality.reward": 5, "loss": 1}\n{"quality.reward": 5, "loss": "n/a"}\n', ".jsonl", r"results.jsonl:2: 'loss' must be a number, got 'n/a'"),
        ('{"quality.reward": 5}\n', ".jsonl", r"results.jsonl:1: missing 'loss'"),
        ('{"quality.reward": 5, "loss": 1}\n{"quality.knn": 5, "loss": 1}\n', ".jsonl", r"results.jsonl:2: indicators differ"),
        ('{"quality.reward": 5, "loss": 1}\n{oops\n', ".jsonl", r"results.jsonl:2: not valid JSON"),
        ("[1, 2]\n", ".jsonl", r"results.jsonl:1: each line must be a JSON object"),
        ("quality.reward,loss\n5,1\nfive,1\n", ".csv", r"results.csv:3: 'quality.reward' must be a number"),
        ("", ".jsonl", "no rows"),
    ],
)
def test_load_results_errors_name_file_and_line(tmp_path, text, suffix, message):
    path = tmp_path / f"results{suffix}"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_results(path)


def test_default_rule_prefers_rated_diverse_examples():
    assert DEFAULT_RULE.coefficients["quality.reward"] < 0 and DEFAULT_RULE.coefficients["quality.knn"] < 0
    assert "not refitted" in DEFAULT_RULE.source
    good = Example.from_prompt("a", completion="x", scores={"quality.reward": 9.0, "quality.length": 50.0, "quality.knn": 0.4})
    poor = Example.from_prompt("b", completion="y", scores={"quality.reward": 2.0, "quality.length": 50.0, "quality.knn": 0.4})
    good, poor = InstructMiningRule()([good, poor])
    assert good.scores["quality.instructmining"] > poor.scores["quality.instructmining"]
    assert good.scores["quality.instructmining"] == pytest.approx(-good.scores["quality.instructmining_loss"])
    # At the scale's centre the adapted rule gives back the paper's intercept and knn/length terms.
    mid = DEFAULT_RULE.predict({"quality.reward": 5.5, "quality.length": 0.0, "quality.knn": 0.0})
    assert mid == pytest.approx(1.0694)


def test_rule_step_with_missing_indicators(tmp_path):
    rule = fit_rule(synthetic_rows(10))
    path = rule.save(tmp_path / "rule.json")
    lacking = Example.from_prompt("a", completion="x", scores={"quality.reward": 5.0})
    [skipped] = InstructMiningRule(rule=str(path))([lacking])
    assert "quality.instructmining" not in skipped.scores
    assert skipped.meta["quality.instructmining_error"] == "missing quality.knn, quality.mtld"
    [filled] = InstructMiningRule(rule=str(path), missing="mean")([lacking])
    expected = rule.predict({"quality.reward": 5.0, "quality.knn": rule.means["quality.knn"], "quality.mtld": rule.means["quality.mtld"]})
    assert filled.scores["quality.instructmining_loss"] == pytest.approx(expected)
    with pytest.raises(ConfigError, match="fitting means"):
        InstructMiningRule(missing="mean")  # the default rule was not fitted here
    with pytest.raises(ConfigError):
        InstructMiningRule(missing="zero")


def test_rows_from_examples_feeds_fit_rule():
    subsets = []
    for i in range(6):
        examples = [Example.from_prompt(f"{i}-{j}", scores={"quality.reward": float(i + j)}) for j in range(3)]
        subsets.append((examples, math.exp(1.0 - 0.1 * (i + 1))))
    rows = rows_from_examples(subsets, ["quality.reward"])
    assert rows[0] == {"quality.reward": 1.0, "loss": math.exp(0.9)}
    assert fit_rule(rows).coefficients["quality.reward"] == pytest.approx(-0.1)
    with pytest.raises(DataError, match="quality.knn"):
        rows_from_examples(subsets, ["quality.knn"])


def test_docstring_examples():
    import doctest

    import syllabus.curate.rule

    result = doctest.testmod(syllabus.curate.rule, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
