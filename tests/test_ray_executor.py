"""The same pipeline on Ray actors writes the same stage as the local executor."""

from __future__ import annotations

from pathlib import Path

import pytest

from syllabus import Example, RequestCache
from syllabus.llm.base import SamplingParams
from syllabus.llm.cache import CachedLLM
from syllabus.llm.fake import FunctionLLM
from syllabus.pipeline import Drop, Filter, Pipeline, RayExecutor, Respond, read_stage

ray = pytest.importorskip("ray")


class ShortOnly(Filter):
    name = "short"

    def keep(self, example):
        return True if len(example.completion) < 22 else Drop("too long")


@pytest.fixture(scope="module")
def ray_local():
    # Step classes must be importable on the workers, as on a real cluster.
    tests_dir = str(Path(__file__).parent)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": tests_dir}})
    yield
    ray.shutdown()


def make_pipeline(cache_path, executor=None):
    llm = CachedLLM(FunctionLLM(lambda r: "answer: " + r.messages[-1]["content"]), RequestCache(cache_path))
    steps = [Respond(llm, SamplingParams(max_tokens=20), batch_size=3), ShortOnly()]
    return Pipeline(steps, shard_size=4, executor=executor)


def test_ray_executor_matches_local(tmp_path, ray_local):
    examples = [Example.from_prompt(f"q{i}" + "x" * (i % 15)) for i in range(18)]
    local = make_pipeline(tmp_path / "local.sqlite").run(examples, tmp_path / "local")
    remote = make_pipeline(tmp_path / "ray.sqlite", RayExecutor(num_actors=2)).run(examples, tmp_path / "ray")
    assert remote.n_shards == local.n_shards == 5 and remote.ran == 5
    assert [e.to_dict() for e in read_stage(remote.out_dir)] == [e.to_dict() for e in read_stage(local.out_dir)]
    assert [e.id for e in remote.excluded()] == [e.id for e in local.excluded()]
    assert remote.summary["steps"] == local.summary["steps"]
    # The actors wrote their answers into the shared SQLite cache.
    assert len(RequestCache(tmp_path / "ray.sqlite")) == 18
    # A rerun finds every shard done and runs nothing.
    again = make_pipeline(tmp_path / "ray.sqlite", RayExecutor(num_actors=2)).run(examples, tmp_path / "ray")
    assert (again.ran, again.skipped) == (0, 5)


def test_in_memory_cache_cannot_travel():
    import pickle

    with pytest.raises(TypeError, match="file path"):
        pickle.dumps(RequestCache(":memory:"))
