"""Decontamination finds planted evaluation items (n-gram and embedding) and ignores task boilerplate."""

from __future__ import annotations

import doctest
import random

import pytest

from syllabus.curate import decontam
from syllabus.curate.decontam import Decontaminate, item_texts
from syllabus.errors import ConfigError, UnknownNameError
from syllabus.evaluate.task import get_task
from syllabus.pipeline.runner import Pipeline
from syllabus.pipeline.step import StepContext
from syllabus.record import Example
from syllabus.text.rouge import tokenize


def test_docstring_examples():
    assert doctest.testmod(decontam).failed == 0


def clean_rows(n: int, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    topics = ["gardening", "volcanoes", "chess openings", "sourdough", "the water cycle", "jazz", "tides"]
    return [
        Example.from_prompt(f"Write {rng.randint(2, 9)} short tips about {rng.choice(topics)} for a beginner.",
                            completion=f"Tip one about {rng.choice(topics)}: start small and keep notes.", id=f"clean{i}")
        for i in range(n)
    ]


def test_planted_arith_problems_are_found_in_prompts_and_completions():
    items = get_task("arith-ic").load()
    rng = random.Random(1)
    planted = rng.sample(items, 5)
    rows = clean_rows(40)
    for k, item in enumerate(planted[:3]):
        # The test problem pasted into a new instruction, recased and repunctuated.
        problem = item.meta["arith_ic.problem"].upper().replace(".", " ;")
        rows.insert(rng.randrange(len(rows)), Example.from_prompt(f"Here is a fun exercise. {problem} Go!", id=f"leak{k}"))
    for k, item in enumerate(planted[3:]):
        # The worked solution of a test item as a completion.
        rows.insert(rng.randrange(len(rows)), Example.from_prompt("Show your working.", completion=item.meta["arith_ic.solution"], id=f"answer{k}"))

    step = Decontaminate(tasks=["arith-ic"])
    ctx = StepContext()
    kept = list(step(rows, ctx))
    assert sorted(e.id for e in ctx.excluded) == ["answer0", "answer1", "leak0", "leak1", "leak2"]
    assert len(kept) == 40
    by_id = {e.id: e for e in ctx.excluded}
    for k, item in enumerate(planted[:3]):
        drop = by_id[f"leak{k}"]
        assert drop.meta["excluded.reason"] == "contaminated (13-gram)"
        assert drop.meta["decontam.task"] == "arith-ic"
        words = drop.meta["decontam.ngram"]
        assert len(words.split()) == 13
        # The overlapping words come from the named item (templates can repeat across
        # items, so the named item is one that holds them, not necessarily the planted one).
        source = next(i for i in items if i.id == drop.meta["decontam.item"])
        assert any(words in " ".join(tokenize(t)) for t in item_texts(source))

    # Searching the prompt only misses the pasted solutions.
    prompt_only = StepContext()
    list(Decontaminate(tasks=["arith-ic"], field="prompt")(rows, prompt_only))
    assert sorted(e.id for e in prompt_only.excluded) == ["leak0", "leak1", "leak2"]


def test_task_instructions_shared_by_all_items_are_boilerplate_not_contamination():
    items = get_task("arith-ic").load()
    instruction = items[0].messages[-1]["content"].split("Problem:")[0]
    assert len(tokenize(instruction)) >= 13
    own = Example.from_prompt(instruction + "Problem: A baker makes 7 pies and sells 3. How many are left?", id="own")
    step = Decontaminate(tasks=["arith-ic"])
    assert [e.id for e in step([own])] == ["own"]
    assert step.ignored_boilerplate > 0
    # With the boilerplate rule off (every n-gram counts), the instruction alone matches.
    strict = Decontaminate(tasks=["arith-ic"], boilerplate_fraction=1.0)
    assert list(strict([own])) == [] and strict.ignored_boilerplate == 0


def test_short_items_match_whole_and_clean_records_pass():
    step = Decontaminate(tasks=["mc", "ifeval-lite"])
    rows = clean_rows(30, seed=2)
    leak = Example.from_prompt("Fun quiz!!! What colour is the SKY on a clear day?", id="leak")
    ifeval = get_task("ifeval-lite").load()[3]
    leak2 = Example.from_prompt("Please answer: " + ifeval.messages[-1]["content"], id="leak2")
    ctx = StepContext()
    kept = list(step([*rows, leak, leak2], ctx))
    assert len(kept) == 30
    assert {e.id: e.meta["decontam.task"] for e in ctx.excluded} == {"leak": "mc", "leak2": "ifeval-lite"}


def test_embedding_threshold_catches_a_paraphrase_the_ngrams_miss():
    reordered = Example.from_prompt("On a clear day, the sky is what colour?", id="para")
    assert [e.id for e in Decontaminate(tasks=["mc"])([reordered])] == ["para"]  # no n-gram in common
    step = Decontaminate(tasks=["mc"], embedding_threshold=0.9, embedder="fake:bow")
    ctx = StepContext()
    kept = list(step([reordered, *clean_rows(10)], ctx))
    assert len(kept) == 10
    [drop] = ctx.excluded
    assert drop.meta["excluded.reason"] == "contaminated (embedding)"
    assert drop.meta["decontam.item"] == "mc-sky" and drop.meta["decontam.similarity"] >= 0.9


def test_pipeline_counts_the_reason(tmp_path):
    leak = Example.from_prompt("What colour is the sky on a clear day? Answer in one word.", id="leak")
    result = Pipeline([Decontaminate(tasks=["mc"], ngram=13)], shard_size=8).run([*clean_rows(12), leak], tmp_path / "stage")
    assert [e.id for e in result.excluded()] == ["leak"]
    [stats] = result.summary["steps"]
    assert stats["reasons"] == {"contaminated (13-gram)": 1} and stats["in"] == 13


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="needs tasks"):
        Decontaminate(tasks=[])
    with pytest.raises(UnknownNameError, match="ifeval-lite"):
        Decontaminate(tasks=["ifeval-lit"])
    with pytest.raises(ConfigError, match="field"):
        Decontaminate(tasks=["mc"], field="answer")
