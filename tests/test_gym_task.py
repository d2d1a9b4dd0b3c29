"""``gym:NAME``: reasoning-gym problems scored by reasoning-gym's own scorer."""

from __future__ import annotations

import doctest

import pytest

pytest.importorskip("reasoning_gym")

from syllabus import ConfigError, DataError, UnknownNameError  # noqa: E402
from syllabus.evaluate.runner import evaluate  # noqa: E402
from syllabus.evaluate.task import get_task  # noqa: E402
from syllabus.evaluate.tasks import gym  # noqa: E402
from syllabus.evaluate.tasks.gym import EXTERNAL_EVAL, GymTask, extract_final_answer  # noqa: E402
from syllabus.llm.base import Generation  # noqa: E402
from syllabus.llm.fake import FunctionLLM  # noqa: E402


@pytest.fixture(scope="module")
def task():
    return get_task("gym:basic_arithmetic", size=4, seed=7)


def score(task, example, text):
    return task.score(example, [Generation(text=text)])


def test_spec_names_the_dataset_and_marks_the_data_external(task):
    assert (task.name, task.namespace, task.dataset) == ("gym:basic_arithmetic", "gym:basic_arithmetic", "basic_arithmetic")
    assert task.describe()["source"] == "reasoning-gym basic_arithmetic, external; never train on it"
    examples = task.load()
    assert len(examples) == 4 and len({e.id for e in examples}) == 4
    assert all(e.meta["source"] == EXTERNAL_EVAL for e in examples)
    assert "<answer>" in examples[0].prompt and task.sampling().stop == ("</answer>",)


def test_scorer_gives_one_for_the_right_answer_and_zero_for_a_wrong_one(task):
    example = task.load()[0]
    right = example.reference
    assert score(task, example, f"Let me compute. <answer>{right}</answer>") == {"score": 1.0, "exact": 1.0, "format_ok": 1.0}
    assert score(task, example, f"<answer>{int(right) + 1}</answer>") == {"score": 0.0, "exact": 0.0, "format_ok": 1.0}
    assert score(task, example, right) == {"score": 0.0, "exact": 0.0, "format_ok": 0.0}  # no tags: no answer
    # The stop sequence "</answer>" is cut by backends, so an open tag at the end counts.
    assert score(task, example, f"<answer>{right}")["exact"] == 1.0


def test_end_to_end_with_a_fake_that_knows_the_answers(task, tmp_path):
    answers = {e.prompt: e.reference for e in task.load()}
    llm = FunctionLLM(lambda r: f"<answer>{answers[r.messages[-1]['content']]}</answer>")
    report = evaluate(llm, [task], tmp_path)
    metrics = report["tasks"]["gym:basic_arithmetic"]["metrics"]
    assert metrics["score"]["value"] == 1.0 and metrics["exact"]["value"] == 1.0 and metrics["format_ok"]["value"] == 1.0
    assert (tmp_path / "samples" / "gym:basic_arithmetic.jsonl").exists()


def test_demonstrations_come_from_another_seed_and_never_repeat_an_evaluated_problem():
    task = GymTask(dataset="chain_sum", size=5, num_fewshot=2)
    asked = {e.prompt for e in task.load()}
    pool = task.fewshot_pool()
    assert pool and not asked & {d.prompt for d in pool}
    assert all(d.completion == f"<answer>{d.reference}</answer>" for d in pool)
    assert [m["role"] for m in task.prompt(task.load()[0])] == ["user", "assistant", "user", "assistant", "user"]


def test_unknown_dataset_suggests_names_and_a_changed_problem_is_caught(task):
    with pytest.raises(UnknownNameError, match="Did you mean chain_sum"):
        get_task("gym:chain_sun")
    with pytest.raises(ConfigError, match="size must be >= 1"):
        GymTask(dataset="chain_sum", size=0)
    example = task.load()[1]
    example.messages = [{"role": "user", "content": "Calculate 1 + 1."}]
    with pytest.raises(DataError, match="regenerated differently"):
        score(task, example, "<answer>2</answer>")


def test_extraction_takes_the_last_answer():
    assert extract_final_answer("<answer>1</answer> then <answer>2</answer>") == "2"
    assert extract_final_answer("<answer></answer>") is None


def test_docstring_examples():
    assert doctest.testmod(gym).failed == 0
