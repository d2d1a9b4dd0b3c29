"""Thresholds and global selections: what they keep, the reasons for the rest, and facility
location's coverage against random choice."""

from __future__ import annotations

import json

import numpy as np
import pytest

from syllabus.curate.select import (
    Cap,
    FacilityLocation,
    Mixture,
    SubsetSizeSearch,
    Threshold,
    TopK,
    coverage,
    facility_location,
    mixture_quotas,
)
from syllabus.errors import ConfigError, DataError
from syllabus.pipeline.step import Drop, StepContext
from syllabus.record import Example


def pool(n: int, skills: list[str] | None = None) -> list[Example]:
    out = []
    for i in range(n):
        ex = Example.from_prompt(f"q{i}", completion=f"answer {i}", id=f"e{i}").set_score("quality", "x", float(i))
        if skills:
            ex.meta["skill"] = skills[i % len(skills)]
        out.append(ex)
    return out


# -- Threshold --------------------------------------------------------------------------------


def test_threshold_reason_names_the_rule_and_runs_as_a_filter():
    examples = [Example.from_prompt(f"q{i}", id=f"e{i}").set_score("judge", "mean", v) for i, v in enumerate([99, 94.5, 95])]
    ctx = StepContext()
    kept = list(Threshold(score="judge.mean", value=95)(examples, ctx))
    assert [e.id for e in kept] == ["e0", "e2"]
    assert [(e.id, e.meta["excluded.reason"]) for e in ctx.excluded] == [("e1", "judge.mean < 95")]
    assert ctx.counters["threshold.dropped.judge.mean < 95"] == 1


@pytest.mark.parametrize(("op", "value", "kept"), [(">", 1, [2]), ("<=", 1, [0, 1]), ("<", 1, [0]), ("==", 1, [1]), ("!=", 1, [0, 2])])
def test_threshold_operators(op, value, kept):
    examples = pool(3)
    assert [i for i, e in enumerate(examples) if Threshold(score="quality.x", value=value, op=op).keep(e) is True] == kept


def test_threshold_glob_requires_every_criterion_and_records_the_failing_one():
    rule = Threshold(score="judge.*", value=90, ignore=["judge.mean"])
    good = Example.from_prompt("a").set_score("judge", "clarity", 95).set_score("judge", "correctness", 91).set_score("judge", "mean", 50)
    bad = Example.from_prompt("b").set_score("judge", "clarity", 95).set_score("judge", "correctness", 80)
    assert rule.keep(good) is True  # the ignored mean does not count as a criterion
    assert rule.keep(bad) == Drop("judge.* < 90")
    assert bad.meta["threshold.failed"] == "judge.correctness"


def test_threshold_missing_score_and_nan():
    bare = Example.from_prompt("x")
    assert Threshold(score="judge.mean", value=1).keep(bare) == Drop("no judge.mean score")
    assert Threshold(score="judge.mean", value=1, missing="keep").keep(bare) is True
    nan = Example.from_prompt("y").set_score("judge", "mean", float("nan"))
    assert Threshold(score="judge.mean", value=1).keep(nan) == Drop("judge.mean < 1")


def test_threshold_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="op '=>'"):
        Threshold(score="a.b", value=1, op="=>")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="value must be a number"):
        Threshold(score="a.b", value="high")  # type: ignore[arg-type]


# -- top-k, caps, mixtures --------------------------------------------------------------------


def test_top_k_by_count_fraction_and_ascending_order():
    examples = pool(10)
    kept, dropped = TopK(score="quality.x", k=3)(examples)
    assert [e.id for e in kept] == ["e9", "e8", "e7"]
    assert {r for _, r in dropped} == {"not in top-k by quality.x"} and len(dropped) == 7
    assert examples[0].meta["select.top-k"] == {"rank": 10, "of": 10, "cut": 3, "score": 0.0}
    kept, _ = TopK(score="quality.x", fraction=0.2, order="asc")(examples)
    assert [e.id for e in kept] == ["e0", "e1"]


def test_top_k_drops_examples_without_the_score_with_their_own_reason():
    examples = pool(3) + [Example.from_prompt("bare", id="bare")]
    kept, dropped = TopK(score="quality.x", k=10)(examples)
    assert len(kept) == 3 and [(e.id, r) for e, r in dropped] == [("bare", "no quality.x score")]
    with pytest.raises(ConfigError, match="exactly one of k and fraction"):
        TopK(score="quality.x")


def test_cap_per_skill_keeps_the_best_of_each_group():
    examples = pool(9, skills=["math", "code", "poetry"])  # math: e0,e3,e6; code: e1,e4,e7; poetry: e2,e5,e8
    kept, dropped = Cap(max_per_group=2, score="quality.x")(examples)
    assert sorted(e.id for e in kept) == ["e3", "e4", "e5", "e6", "e7", "e8"]
    assert {r for _, r in dropped} == {"over cap of 2 per skill"}
    assert examples[0].meta["select.cap"] == {"group": "math", "rank_in_group": 3, "cap": 2}


def test_cap_on_any_meta_key_in_input_order_and_missing_group():
    examples = pool(5)
    for e, task in zip(examples, ["a", "a", "a", "b", None]):
        if task:
            e.meta["generate.task"] = task
    kept, _ = Cap(max_per_group=1, key="generate.task")(examples)
    assert [e.id for e in kept] == ["e0", "e3", "e4"]  # e4 is the one "(none)" example


def test_mixture_quotas_water_filling_and_exact_proportions():
    assert mixture_quotas({"a": 100, "b": 10}, {"a": 1, "b": 1}, total=40) == {"a": 30, "b": 10}
    assert mixture_quotas({"a": 100, "b": 100, "c": 100}, {"a": 1, "b": 1, "c": 1}, total=10) == {"a": 4, "b": 3, "c": 3}
    assert mixture_quotas({"a": 100, "b": 10}, {"a": 0.8, "b": 0.2}, total=None) == {"a": 40, "b": 10}
    assert mixture_quotas({"a": 5}, {"a": 1, "b": 1}, total=100) == {"a": 5, "b": 0}


def test_mixture_follows_target_weights_and_drops_unlisted_groups():
    examples = pool(60, skills=["math", "math", "math", "code", "code", "poetry"])  # 30 math, 20 code, 10 poetry
    kept, dropped = Mixture(weights={"math": 1, "code": 1}, total=20, score="quality.x")(examples)
    skills = [e.meta["skill"] for e in kept]
    assert skills.count("math") == 10 and skills.count("code") == 10
    reasons = {}
    for e, r in dropped:
        reasons.setdefault(r, set()).add(e.meta["skill"])
    assert reasons == {"not in the mixture": {"poetry"}, "over skill quota": {"math", "code"}}
    best_math = max((e for e in examples if e.meta["skill"] == "math"), key=lambda e: e.scores["quality.x"])
    assert best_math in kept


def test_mixture_rejects_bad_weights():
    with pytest.raises(ConfigError, match="weights"):
        Mixture(weights={})
    with pytest.raises(ConfigError, match="weights"):
        Mixture(weights={"a": -1})


# -- facility location --------------------------------------------------------------------------


def clustered(seed: int = 0, dim: int = 32) -> np.ndarray:
    """Clusters of very unequal size: random picks land mostly in the big ones."""
    rng = np.random.default_rng(seed)
    sizes = [300, 150, 60, 30, 15, 10, 8, 6, 5, 4]
    centres = rng.normal(size=(len(sizes), dim))
    return np.concatenate([c + 0.35 * rng.normal(size=(n, dim)) for c, n in zip(centres, sizes)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_facility_location_beats_random_selection_on_coverage(seed):
    x = clustered(seed)
    k = 10
    chosen, _, _ = facility_location(x, k)
    assert len(chosen) == k == len(set(chosen))
    rng = np.random.default_rng(100 + seed)
    random_cov = [coverage(x, rng.choice(len(x), k, replace=False)) for _ in range(50)]
    fl_cov = coverage(x, chosen)
    # Better than every one of 50 random draws, and by a clear margin on average.
    assert fl_cov > max(random_cov)
    assert fl_cov - float(np.mean(random_cov)) > 0.05


def naive_greedy(x: np.ndarray, k: int) -> list[int]:
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = np.maximum(x @ x.T, 0)
    best = np.zeros(len(x))
    chosen: list[int] = []
    for _ in range(k):
        gains = np.maximum(sims - best[:, None], 0).sum(axis=0)
        gains[chosen] = -1
        j = int(np.argmax(gains))
        chosen.append(j)
        best = np.maximum(best, sims[:, j])
    return chosen


def test_lazy_greedy_matches_naive_greedy_objective():
    x = np.random.default_rng(5).normal(size=(120, 8))
    lazy, _, _ = facility_location(x, 12, block=7)  # a block size that does not divide n; 128 neighbours >= n: exact
    assert coverage(x, lazy) == pytest.approx(coverage(x, naive_greedy(x, 12)), abs=1e-5)


def test_a_sparse_neighbour_graph_loses_little_coverage_and_nearest_is_exact():
    x = clustered(6)
    exact, _, _ = facility_location(x, 10, neighbours=len(x))
    sparse, owner, sim = facility_location(x, 10)  # 128 neighbours of 588 points
    assert coverage(x, sparse) >= coverage(x, exact) - 0.01
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = unit @ unit[sparse].T
    assert owner == [sparse[i] for i in sims.argmax(axis=1)]
    assert np.allclose(sim, np.maximum(sims.max(axis=1), 0), atol=1e-5)


def test_facility_location_with_costs_respects_the_budget():
    x = clustered(3)
    costs = np.random.default_rng(0).integers(1, 20, size=len(x)).astype(float)
    chosen, owner, sim = facility_location(x, 50.0, costs=costs)
    assert costs[chosen].sum() <= 50 and len(chosen) >= 3
    assert all(o in chosen for o in owner) and len(sim) == len(x)


def test_facility_location_selection_uses_the_injected_embedder():
    x = clustered(4)
    examples = [Example.from_prompt(f"p{i}", completion="c", id=f"e{i}") for i in range(len(x))]
    seen: list[list[str]] = []

    def embed(texts):
        seen.append(texts)
        return x[[int(t.split("\n")[0][1:]) for t in texts]]

    kept, dropped = FacilityLocation(budget=10, embed=embed)(examples)
    assert len(kept) == 10 and len(dropped) == len(x) - 10 and seen[0][0] == "p0\n\nc"
    assert {r for _, r in dropped} == {"covered by a chosen example"}
    note = dropped[0][0].meta["select.facility-location"]
    assert note["rank"] is None and note["nearest"] in {e.id for e in kept} and 0 < note["similarity"] <= 1
    assert kept[0].meta["select.facility-location"]["rank"] == 1
    # a words budget: the chosen set's total words stay within it
    kept, _ = FacilityLocation(budget=12, cost="words", embed=embed)(examples)
    assert sum(len(f"{e.prompt}\n\n{e.completion}".split()) for e in kept) <= 12


def test_facility_location_options_are_checked():
    with pytest.raises(ConfigError, match="exactly one of budget and fraction"):
        FacilityLocation()
    with pytest.raises(ConfigError, match="field"):
        FacilityLocation(budget=3, field="title")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="2-D"):
        facility_location(np.zeros(5), 2)


# -- subset-size search -------------------------------------------------------------------------


def test_subset_search_with_an_evaluate_function_finds_the_loss_minimum():
    examples = pool(100)
    calls: list[int] = []

    def loss(subset):
        calls.append(len(subset))
        # the best-ranked examples come first, and the loss is lowest at 30 examples
        assert subset[0].id == "e99"
        return (len(subset) - 30) ** 2 / 100

    search = SubsetSizeSearch(score="quality.x", evaluate=loss, refine=4)
    kept, dropped = search(examples)
    assert abs(len(kept) - 30) <= 3
    assert {r for _, r in dropped} == {"beyond the chosen subset size"}
    assert len(calls) == len(set(calls))  # each size evaluated once


def test_subset_search_from_a_results_table(tmp_path):
    examples = pool(50)
    csv = tmp_path / "results.csv"
    csv.write_text("size,loss\n10,2.0\n20,1.5\n20,1.7\n40,1.9\n")
    selected = SubsetSizeSearch(score="quality.x", results=str(csv))(examples)
    assert len(selected.kept) == 20 and selected.info["table"] == {"10": 2.0, "20": 1.6, "40": 1.9}
    jsonl = tmp_path / "results.jsonl"
    jsonl.write_text("\n".join(json.dumps({"size": s, "loss": l}) for s, l in [(100, 0.5), (10, 1.0)]))
    assert len(SubsetSizeSearch(score="quality.x", results=str(jsonl))(examples).kept) == 50  # capped at the pool
    bad = tmp_path / "bad.json"
    bad.write_text('[{"size": 3}]')
    with pytest.raises(DataError, match="row 1"):
        SubsetSizeSearch(score="quality.x", results=str(bad))(examples)


def test_subset_search_evaluate_by_import_path():
    search = SubsetSizeSearch(score="quality.x", evaluate="tests.test_curate_select:half_loss", sizes=[2, 5, 8])
    assert search.evaluate == "tests.test_curate_select:half_loss"
    assert len(search(pool(10)).kept) == 5
    with pytest.raises(ConfigError, match="exactly one of evaluate"):
        SubsetSizeSearch(score="quality.x")
    with pytest.raises(ConfigError, match="cannot import"):
        SubsetSizeSearch(score="quality.x", evaluate="no_such_module_xyz:f")


def half_loss(subset):
    return abs(len(subset) - 5)
