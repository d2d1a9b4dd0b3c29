"""Curation recipes: the registry, building steps from recipe entries, YAML, and running a
recipe into a stage folder (resumable scoring stage, then global selections)."""

from __future__ import annotations

import json

import pytest

from syllabus.curate import CURATION_STEPS, build_step, step_kind
from syllabus.curate.recipe import (
    RECIPES,
    CurateRecipe,
    LazyEmbedder,
    LazyModels,
    load_recipe,
    run_context,
    run_recipe,
    yield_rows,
)
from syllabus.curate.select import Threshold
from syllabus.errors import ConfigError
from syllabus.llm.base import LLM
from syllabus.llm.fake import EchoLLM, ScriptedLLM
from syllabus.pipeline.step import Map
from syllabus.record import Example

CONTRACT_NAMES = {
    "exact-dedup", "minhash-dedup", "semantic-dedup", "decontaminate", "length", "perplexity", "mtld", "knn-distance",
    "reward", "instructmining-rule", "judge-rubric", "verify", "step-errors", "lbt", "arte", "threshold", "top-k", "cap",
    "mixture", "facility-location", "subset-search",
}


class NeedsJudge(Map):
    """A test scorer that takes a model, like the judge scorers do."""

    name = "needs-judge"

    def __init__(self, judge: LLM, *, label: str = "x"):
        self.judge, self.label = judge, label

    def map(self, example):
        return example.set_score("test", "judge", float(len(self.judge.chat(example.prompt))))


class TakesContext(Map):
    name = "takes-context"

    def __init__(self, *, index=None, embed=None, round: str = ""):
        self.index, self.embed, self.round = index, embed, round


CURATION_STEPS.register("test-needs-judge", f"{__name__}:NeedsJudge")
CURATION_STEPS.register("test-takes-context", f"{__name__}:TakesContext")


def test_registry_holds_exactly_the_contract_names():
    assert CONTRACT_NAMES <= set(CURATION_STEPS.names())


@pytest.mark.parametrize("name", sorted(CONTRACT_NAMES))
def test_every_contract_name_imports_as_a_step_or_selection(name):
    kind = step_kind(CURATION_STEPS.get(name))
    assert kind == ("selection" if name in {"top-k", "cap", "mixture", "facility-location", "subset-search"} else "step")


def test_build_step_checks_options_with_did_you_mean():
    step = build_step("threshold", {"score": "judge.mean", "value": 95})
    assert isinstance(step, Threshold) and step.reason == "judge.mean < 95"
    with pytest.raises(ConfigError, match=r"curation step 'threshold': unknown option 'valeu'\. Did you mean value\?"):
        build_step("threshold", {"score": "judge.mean", "valeu": 95})
    with pytest.raises(ConfigError, match="Unknown curation step 'minhash'. Did you mean minhash-dedup"):
        build_step("minhash", {})
    with pytest.raises(ConfigError, match="curation step 'threshold'.*value"):
        build_step("threshold", {"score": "judge.mean"})  # a required option missing


def test_build_step_hands_models_by_role_and_loads_only_what_is_used():
    loaded: list[str] = []

    def load(spec):
        loaded.append(spec)
        return EchoLLM()

    models = LazyModels({"scorer": "fake:a", "judge": "fake:b", "student": "fake:b"}, load)
    step = build_step("test-needs-judge", {}, models)
    assert isinstance(step.judge, EchoLLM) and loaded == ["fake:b"]
    build_step("test-needs-judge", {"judge": "student"}, models)  # a role by name; same spec, same copy
    assert loaded == ["fake:b"]
    with pytest.raises(ConfigError, match="names a model role.*Did you mean judge"):
        build_step("test-needs-judge", {"judge": "juge"}, models)
    with pytest.raises(ConfigError, match="needs a judge model: set models.judge"):
        build_step("test-needs-judge", {}, {})
    # A model object given in code is used as is.
    scripted = ScriptedLLM(["ok"])
    assert build_step("test-needs-judge", {"judge": scripted}).judge is scripted


def test_build_step_offers_context_only_to_parameters_not_given(tmp_path):
    context = run_context(tmp_path, CurateRecipe(), round_index=2)
    step = build_step("test-takes-context", {}, {}, context)
    assert step.index.run_dir == tmp_path and step.index.round == "r02" and step.round == "r02"
    assert isinstance(step.embed, LazyEmbedder)
    assert build_step("test-takes-context", {"round": "mine"}, {}, context).round == "mine"


def test_lazy_embedder_loads_on_first_use():
    embed = LazyEmbedder("fake:bow")
    assert embed._embedder is None
    vectors = embed(["a cat", "a cat", "stocks fell"])
    assert vectors.shape[0] == 3 and float(vectors[0] @ vectors[1]) == pytest.approx(1.0)


# -- recipes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_builtin_recipes_are_valid_and_round_trip_through_yaml(name, tmp_path):
    recipe = load_recipe(name)
    recipe.check()
    path = tmp_path / "r.yaml"
    path.write_text(recipe.to_yaml())
    again = load_recipe(str(path))
    assert again == recipe


def test_load_recipe_errors():
    with pytest.raises(ConfigError, match="Unknown recipe 'judg'. Did you mean judge"):
        load_recipe("judg")
    with pytest.raises(ConfigError, match="no such file"):
        load_recipe("missing.yaml")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"steps": [{"use": "exact-dedupe"}]}, "unknown curation step 'exact-dedupe'. Did you mean exact-dedup"),
        ({"steps": [{"use": "top-k", "score": "a.b", "k": 1}]}, "'top-k' is a global selection; list it under select:"),
        ({"select": [{"use": "length"}]}, "'length' is a pipeline step; list it under steps:"),
        ({"steps": [{"use": "minhash-dedup", "treshold": 0.5}]}, "unknown option 'treshold'. Did you mean threshold"),
        ({"steps": ["length"]}, "steps: expected a mapping, got 'length'"),
        ({"steps": [{"threshold": 1}]}, "each entry must be a mapping with 'use: STEP'"),
        ({"stepz": []}, "unknown option 'stepz'. Did you mean steps"),
    ],
)
def test_recipe_file_errors_name_the_file_and_the_fix(tmp_path, data, message):
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message):
        load_recipe(str(path))


# -- running ------------------------------------------------------------------------------------


def scored_pool() -> list[Example]:
    rows = []
    for i in range(12):
        ex = Example.from_prompt(f"question number {i}", completion=f"answer {i}", id=f"e{i:02d}")
        ex.set_score("quality", "x", float(i))
        ex.meta["skill"] = "even" if i % 2 == 0 else "odd"
        rows.append(ex)
    twin = Example.from_prompt("question number 3", completion="answer 3", id="twin")  # an exact duplicate of e03
    twin.set_score("quality", "x", 3.0)
    return [*rows, twin]


RECIPE = CurateRecipe(
    name="test",
    steps=[
        {"use": "exact-dedup"},
        {"use": "threshold", "score": "quality.x", "value": 2},
        {"use": "threshold", "score": "quality.x", "op": "<", "value": 11},
    ],
    select=[{"use": "cap", "max_per_group": 4, "score": "quality.x"}, {"use": "top-k", "score": "quality.x", "k": 5}],
)


def test_run_recipe_writes_kept_excluded_with_reasons_and_a_yield_table(tmp_path):
    stage = tmp_path / "r00" / "02_curate"
    result = run_recipe(RECIPE, scored_pool(), stage, models={}, shard_size=5, context=run_context(tmp_path, RECIPE))
    kept = list(result.examples())
    # e02..e10 pass the thresholds; cap 4 per skill keeps e10 e08 e06 e04 / e09 e07 e05 e03; top 5 by x
    assert [e.id for e in kept] == ["e06", "e07", "e08", "e09", "e10"]  # input order
    excluded = {e.id: (e.meta["excluded.step"], e.meta["excluded.reason"]) for e in result.excluded()}
    assert excluded["twin"] == ("exact-dedup", "exact duplicate")
    assert excluded["e00"] == ("threshold", "quality.x < 2")
    assert excluded["e11"] == ("threshold-2", "quality.x >= 11")  # a repeated step gets a suffix
    assert excluded["e02"] == ("cap", "over cap of 4 per skill")
    assert excluded["e05"] == ("top-k", "not in top-k by quality.x")
    assert len(excluded) + len(kept) == 13
    stats = json.loads((stage / "stats.json").read_text())
    assert stats["input"] == 13 and stats["output"] == 5 and stats["excluded"] == 8
    assert [s["step"] for s in stats["steps"]] == ["exact-dedup", "threshold", "threshold-2", "cap", "top-k"]
    assert [s["kind"] for s in stats["steps"]] == ["step", "step", "step", "selection", "selection"]
    rows = {(r["step"], r["reason"]): r for r in yield_rows(stats)}
    assert rows[("exact-dedup", None)]["removed_share"] == round(1 / 13, 4)
    assert rows[("cap", "over cap of 4 per skill")]["removed"] == 1
    # the resolved recipe is in the stage and loads back as the same recipe
    assert load_recipe(str(stage / "config.yaml")) == RECIPE
    # ranks from the selections are kept for `explain`
    assert kept[-1].meta["select.top-k"]["rank"] == 1


def test_rerun_resumes_the_scoring_stage_and_gives_the_same_result(tmp_path):
    stage = tmp_path / "02_curate"
    first = run_recipe(RECIPE, scored_pool(), stage, models={}, shard_size=5)
    again = run_recipe(RECIPE, scored_pool(), stage, models={}, shard_size=5)
    assert [e.to_dict() for e in again.examples()] == [e.to_dict() for e in first.examples()]
    assert sorted(p.name for p in (stage / "excluded").glob("*.jsonl")) == ["00000.jsonl", "00001.jsonl", "00002.jsonl", "select.jsonl"]
    # a different recipe into the same folder is refused rather than mixed
    other = CurateRecipe(steps=[{"use": "threshold", "score": "quality.x", "value": 5}])
    with pytest.raises(ConfigError, match="different steps"):
        run_recipe(other, scored_pool(), stage, models={}, shard_size=5)


def test_run_recipe_with_a_model_scorer_and_decontamination_entry(tmp_path):
    recipe = CurateRecipe(steps=[{"use": "test-needs-judge"}], decontaminate=[])
    models = LazyModels({"judge": "fake:echo"}, lambda spec: EchoLLM())
    result = run_recipe(recipe, scored_pool()[:3], tmp_path / "s", models=models)
    assert [e.scores["test.judge"] for e in result.examples()] == [17.0, 17.0, 17.0]
    assert CurateRecipe(decontaminate=["arith-ic"]).entries()[0] == ("steps", {"use": "decontaminate", "tasks": ["arith-ic"]})


# -- docs and import weight --------------------------------------------------------------------


@pytest.mark.parametrize("module", ["syllabus.curate", "syllabus.curate.select", "syllabus.curate.recipe"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS).failed == 0


def test_recipes_and_selections_import_no_heavy_package():
    from tests.test_import_light import heavy_in, modules_after

    modules = modules_after("""
        from syllabus.curate import CURATION_STEPS
        from syllabus.curate.recipe import load_recipe
        from syllabus.curate.select import TopK
        import syllabus.cli.curate
        for name in ("default", "judge", "verified", "diverse"):
            load_recipe(name).check()   # imports every step class the recipes name
    """)
    assert heavy_in(modules) == [] and "numpy" not in modules
