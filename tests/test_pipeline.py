"""The shard runner: steps, drops with reasons, stats from disk, resumption, config guard."""

from __future__ import annotations

import json

import pytest

from syllabus import ConfigError, Example
from syllabus.llm.fake import EchoLLM, FunctionLLM
from syllabus.pipeline import BatchMap, Drop, Expand, Filter, Map, Pipeline, Respond, read_stage
from syllabus.llm.base import SamplingParams


def prompts(n: int) -> list[Example]:
    return [Example.from_prompt(f"prompt number {i}") for i in range(n)]


class Upper(Map):
    name = "upper"

    def map(self, example):
        example.completion = (example.completion or "").upper()
        return example


class Twice(Expand):
    name = "twice"

    def expand(self, example):
        yield example.derive(suffix="a", step=self.name)
        yield example.derive(suffix="b", step=self.name)


class EvenOnly(Filter):
    name = "even"

    def keep(self, example):
        number = int(example.prompt.split()[-1])
        return True if number % 2 == 0 else Drop("odd number")


def test_steps_compose_and_drops_keep_their_reason(tmp_path):
    result = Pipeline([Respond(EchoLLM()), Upper(), EvenOnly(), Twice()], shard_size=3).run(prompts(7), tmp_path)
    kept = list(result.examples())
    assert [e.completion for e in kept][:2] == ["PROMPT NUMBER 0", "PROMPT NUMBER 0"]
    assert len(kept) == 8  # 0, 2, 4, 6 twice each
    assert all(e.provenance["parents"] for e in kept)
    excluded = list(result.excluded())
    assert sorted(int(e.prompt.split()[-1]) for e in excluded) == [1, 3, 5]
    assert {e.meta["excluded.reason"] for e in excluded} == {"odd number"}
    assert {e.meta["excluded.step"] for e in excluded} == {"even"}


def test_summary_is_recomputed_from_shard_stats(tmp_path):
    result = Pipeline([Respond(EchoLLM()), EvenOnly()], shard_size=4).run(prompts(10), tmp_path)
    summary = json.loads((tmp_path / "stats.json").read_text())
    assert summary == result.summary
    even = summary["steps"][1]
    assert (even["in"], even["out"], even["dropped"]) == (10, 5, 5)
    assert even["reasons"] == {"odd number": 5}
    assert even["dropped_share"] == 0.5
    assert summary["shards_done"] == 3


def test_filter_must_give_a_reason(tmp_path):
    class Bad(Filter):
        name = "bad"

        def keep(self, example):
            return False

    with pytest.raises(TypeError, match="Drop"):
        Pipeline([Bad()]).run(prompts(1), tmp_path)


def test_done_shards_are_skipped_and_missing_ones_rerun(tmp_path):
    calls = []
    llm = FunctionLLM(lambda r: calls.append(r) or "ok")
    steps = [Respond(llm)]
    first = Pipeline(steps, shard_size=2).run(prompts(6), tmp_path)
    assert (first.ran, first.skipped) == (3, 0)
    (tmp_path / "done" / "00001").unlink()
    second = Pipeline(steps, shard_size=2).run(prompts(6), tmp_path)
    assert (second.ran, second.skipped) == (1, 2)
    assert len(calls) == 8
    assert [e.id for e in read_stage(tmp_path)] == [e.id for e in prompts(6)]


def test_changed_input_or_settings_refuse_to_mix(tmp_path):
    Pipeline([Respond(EchoLLM())], shard_size=2).run(prompts(4), tmp_path)
    with pytest.raises(ConfigError, match="different input"):
        Pipeline([Respond(EchoLLM())], shard_size=2).run(prompts(5), tmp_path)
    with pytest.raises(ConfigError, match="different steps"):
        Pipeline([Respond(EchoLLM(), SamplingParams(max_tokens=3))], shard_size=2).run(prompts(4), tmp_path)


def test_batch_map_sees_whole_batches():
    sizes = []

    class Sizes(BatchMap):
        name = "sizes"
        batch_size = 4

        def map_batch(self, batch):
            sizes.append(len(batch))
            return batch

    assert len(list(Sizes()(prompts(10)))) == 10
    assert sizes == [4, 4, 2]


def test_respond_with_n_samples_gives_distinct_cache_entries():
    llm = FunctionLLM(lambda r: f"sample {r.sample_index}")
    out = list(Respond(llm, SamplingParams(temperature=0.8), n=3)(prompts(2)))
    assert [e.completion for e in out] == ["sample 0", "sample 1", "sample 2"] * 2
    assert len({e.id for e in out}) == 6
    assert len({e.provenance["cache_key"] for e in out}) == 6
    assert out[0].provenance["model"] == "fake:function"


def test_duplicate_step_names_are_rejected():
    with pytest.raises(ConfigError, match="unique"):
        Pipeline([Upper(), Upper()])


def test_respond_raw_sends_plain_text_for_base_models():
    llm = FunctionLLM(lambda r: "prompt" if r.prompt is not None else "messages")
    out = list(Respond(llm, raw=True)(prompts(2)))
    assert [e.completion for e in out] == ["prompt", "prompt"]
    assert llm.history[0].prompt == "prompt number 0"
    with pytest.raises(ConfigError, match="system"):
        Respond(llm, raw=True, system="be nice")


def test_progress_counts_weighted_work(tmp_path, monkeypatch):
    """The bar's total and advances use the pipeline's weights (evaluation: token budgets)."""
    import syllabus.pipeline.runner as runner

    seen = {}

    class Recorder(runner._progress_bar):
        def __enter__(self):
            seen["total"], seen["unit"], seen["advanced"] = self.total, self.unit, 0

            def advance(n):
                seen["advanced"] += n

            return advance

    monkeypatch.setattr(runner, "_progress_bar", Recorder)
    weigh = lambda e: 10 * (1 + int(e.prompt.split()[-1]))  # noqa: E731
    Pipeline([Respond(EchoLLM())], shard_size=2, progress=True, weigh=weigh, unit="tok").run(prompts(3), tmp_path)
    assert seen == {"total": 60, "unit": "tok", "advanced": 60}
