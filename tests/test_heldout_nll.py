"""``heldout-nll``: the per-example numbers and the pooled bits per byte, checked by hand."""

from __future__ import annotations

import doctest
import json
import math
from collections.abc import Sequence

import pytest

from syllabus import DataError, Example
from syllabus.evaluate.runner import evaluate
from syllabus.evaluate.task import get_task
from syllabus.evaluate.tasks import heldout_nll
from syllabus.evaluate.tasks.heldout_nll import HeldoutNLL, pooled_ratio_ci
from syllabus.jsonl import write_jsonl
from syllabus.llm.base import LLM, Capabilities, Generation, Loglikelihood, LoglikelihoodRequest

LN2 = math.log(2)


class TableLLM(LLM):
    """log p(continuation) and its token count from a table keyed by the continuation."""

    capabilities = Capabilities(loglikelihood=True)

    def __init__(self, table: dict[str, tuple[float, int]]):
        super().__init__("fake:table")
        self.table = table
        self.asked: list[LoglikelihoodRequest] = []

    def generate(self, requests):
        return [Generation(text="") for _ in requests]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        self.asked += requests
        rows = [self.table[r.continuation] for r in requests]
        return [Loglikelihood(logprob=logprob, is_greedy=False, n_tokens=n_tokens) for logprob, n_tokens in rows]


# "abcd" is 4 bytes, scored at 1 bit per byte (4 ln 2 nats over 2 tokens);
# "héllo wörld" is 13 bytes (é and ö take two), scored at 3 bits per byte (39 ln 2 nats over 4 tokens).
TABLE = {"abcd": (-4 * LN2, 2), "héllo wörld": (-39 * LN2, 4)}


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "heldout.jsonl"
    write_jsonl(path, [
        Example.from_prompt("Say abcd.", completion="abcd", id="a"),
        Example.from_prompt("Greet the world.", completion="héllo wörld", id="b"),
    ])
    return str(path)


def test_per_example_values_by_hand(data):
    task = HeldoutNLL(path=data)
    a, b = task.load()
    llm = TableLLM(TABLE)
    sa = task.score(a, llm.loglikelihood(task.requests(a)))
    sb = task.score(b, llm.loglikelihood(task.requests(b)))
    assert sa == pytest.approx({"nll": 2 * LN2, "nll_sum": 4 * LN2, "bits_per_byte": 1.0})
    assert sb == pytest.approx({"nll": 39 * LN2 / 4, "nll_sum": 39 * LN2, "bits_per_byte": 3.0})


def test_bits_per_byte_is_pooled_over_all_bytes(data, tmp_path):
    report = evaluate(TableLLM(TABLE), [HeldoutNLL(path=data)], tmp_path / "eval")
    section = report["tasks"]["heldout-nll"]
    bpb = section["metrics"]["bits_per_byte"]
    # (4 bytes x 1 bit + 13 bytes x 3 bits) / 17 bytes, not the mean of ratios (1 + 3) / 2.
    assert bpb["value"] == pytest.approx(43 / 17)
    assert bpb["method"] == "bootstrap-pooled" and bpb["low"] <= bpb["value"] <= bpb["high"] and bpb["n"] == 2
    assert section["metrics"]["nll"]["value"] == pytest.approx((2 * LN2 + 39 * LN2 / 4) / 2)
    assert section["lower_is_better"] == ["nll", "nll_sum", "bits_per_byte"]


def test_chat_requests_keep_the_turns_and_plain_requests_join_text(data):
    example = HeldoutNLL(path=data).load()[0]
    chat = HeldoutNLL(path=data).requests(example)[0]
    assert chat.messages == ({"role": "user", "content": "Say abcd."},) and chat.continuation == "abcd"
    plain = HeldoutNLL(path=data, template="plain", separator="\n\n").requests(example)[0]
    assert (plain.context, plain.continuation) == ("Say abcd.\n\n", "abcd")


def test_reads_other_formats_and_refuses_examples_without_a_response(tmp_path):
    alpaca = tmp_path / "alpaca.jsonl"
    alpaca.write_text(json.dumps({"instruction": "Say hi.", "output": "hi"}) + "\n")
    (example,) = HeldoutNLL(path=str(alpaca)).load()
    assert (example.prompt, HeldoutNLL.response(example)) == ("Say hi.", "hi")
    bare = tmp_path / "bare.jsonl"
    write_jsonl(bare, [Example.from_prompt("No answer here.", id="x")])
    with pytest.raises(DataError, match="example 1 \\(id 'x'\\) has no completion or reference"):
        HeldoutNLL(path=str(bare)).load()


def test_default_data_is_the_packaged_sample():
    examples = get_task("heldout-nll").load()
    assert len(examples) == 20 and all(e.completion == e.reference for e in examples)


def test_pooled_ratio_ci_is_seeded_and_checks_inputs():
    a = pooled_ratio_ci([1.0, 5.0, 2.0, 8.0], [1.0, 2.0, 1.0, 4.0])
    assert a == pooled_ratio_ci([1.0, 5.0, 2.0, 8.0], [1.0, 2.0, 1.0, 4.0])
    assert a.value == pytest.approx(2.0) and a.low < 2.0 < a.high
    with pytest.raises(DataError):
        pooled_ratio_ci([1.0], [0.0])


def test_docstring_examples():
    assert doctest.testmod(heldout_nll).failed == 0
