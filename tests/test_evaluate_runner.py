"""The Task API and the evaluator on fakes: requests, scores, resumable stages, the report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import pytest

from syllabus import ConfigError, Example
from syllabus.evaluate.runner import evaluate
from syllabus.evaluate.task import TASKS, Task, get_task
from syllabus.llm.base import LoglikelihoodRequest
from syllabus.llm.fake import FunctionLLM


@dataclass
class Capitals(Task):
    name: ClassVar[str] = "test-capitals"
    metrics: ClassVar[tuple[str, ...]] = ("exact_match",)
    source: ClassVar[str] = "written for this test"

    def load(self):
        pairs = [("France", "Paris"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Peru", "Lima")]
        return [Example.from_prompt(f"Capital of {c}?", reference=a) for c, a in pairs]

    def fewshot_pool(self):
        return [Example.from_prompt("Capital of Japan?", completion="Tokyo", id="demo")]

    def score(self, example, outputs):
        return {"exact_match": float(outputs[0].text.strip() == example.reference)}


@dataclass
class Choice(Task):
    name: ClassVar[str] = "test-choice"
    kind: ClassVar[str] = "loglikelihood"
    metrics: ClassVar[tuple[str, ...]] = ("acc",)

    def load(self):
        return [Example.from_prompt("Sky colour?", reference="0", meta={"choices": ["blue", "chartreuse"]})]

    def requests(self, example):
        return [LoglikelihoodRequest(context=example.prompt, continuation=" " + c) for c in example.meta["choices"]]

    def score(self, example, outputs):
        best = max(range(len(outputs)), key=lambda i: outputs[i].logprob)
        return {"acc": float(str(best) == example.reference)}


ANSWERS = {"France": "Paris", "Italy": "Rome", "Spain": "Barcelona", "Peru": "Lima"}


def answer(request):
    question = request.messages[-1]["content"]
    return next(v for k, v in ANSWERS.items() if k in question)


def test_evaluate_scores_aggregates_and_writes_samples(tmp_path):
    report = evaluate(FunctionLLM(answer), [Capitals(), Choice()], tmp_path, shard_size=3)
    em = report["tasks"]["test-capitals"]["metrics"]["exact_match"]
    assert em["value"] == 0.75 and em["method"] == "wilson" and em["low"] < 0.75 < em["high"]
    assert report["tasks"]["test-choice"]["metrics"]["acc"]["value"] == 1.0
    assert report["tasks"]["test-capitals"]["decoding"]["temperature"] == 0.0
    assert report["model"]["model_id"] == "fake:function"
    samples = [json.loads(line) for line in (tmp_path / "samples" / "test-capitals.jsonl").read_text().splitlines()]
    assert [s["completion"] for s in samples] == ["Paris", "Rome", "Barcelona", "Lima"]
    assert samples[2]["scores"] == {"test-capitals.exact_match": 0.0}
    assert samples[0]["provenance"]["task"] == "test-capitals" and samples[0]["provenance"]["cache_keys"]
    assert json.loads((tmp_path / "report.json").read_text())["tasks"].keys() == {"test-capitals", "test-choice"}


def test_evaluation_resumes_from_its_shards(tmp_path):
    calls = []
    llm = FunctionLLM(lambda r: calls.append(1) or answer(r))
    evaluate(llm, [Capitals()], tmp_path, shard_size=2)
    (tmp_path / "tasks" / "test-capitals" / "done" / "00001").unlink()
    report = evaluate(llm, [Capitals()], tmp_path, shard_size=2)
    assert len(calls) == 6  # 4, then only the unmarked shard's 2
    assert report["tasks"]["test-capitals"]["n"] == 4


def test_fewshot_demonstrations_come_before_the_question():
    messages = Capitals(num_fewshot=1).prompt(Capitals().load()[0])
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == "Tokyo"
    with pytest.raises(ConfigError, match="num_fewshot"):
        Capitals(num_fewshot=2).prompt(Capitals().load()[0])


def test_limit_and_settings_from_config():
    TASKS.register("test-capitals", Capitals)
    task = get_task("test-capitals", limit=2, num_fewshot=1)
    assert (task.limit, task.num_fewshot) == (2, 1)
    with pytest.raises(ConfigError, match="Did you mean limit"):
        get_task("test-capitals", limt=2)
    with pytest.raises(ConfigError, match="Unknown task"):
        get_task("test-capitalz")
