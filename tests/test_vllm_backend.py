"""The ``vllm`` backend. vLLM needs an NVIDIA GPU: those tests skip elsewhere.

Without a GPU only the import guard is checked: a ``vllm:`` spec must say how to install
vLLM rather than fail with a bare ImportError.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from syllabus.errors import MissingDependencyError
from syllabus.llm import GenerateRequest, LoglikelihoodRequest, SamplingParams, load_llm

MODEL = "vllm:builtin:smollm2-135m-instruct"


def test_missing_vllm_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail, installed or not
    with pytest.raises(MissingDependencyError, match=r"syllabus\[vllm\]"):
        load_llm("vllm:some-org/some-model")


def _gpu_ready() -> bool:
    if importlib.util.find_spec("vllm") is None or importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def llm():
    # float32 so that scores can be compared with the hf backend's float32 ones.
    model = load_llm(MODEL, dtype="float32", max_model_len=1024, gpu_memory_utilization=0.3, seed=0)
    yield model
    model.close()


def user(text: str, **params) -> GenerateRequest:
    return GenerateRequest.chat([{"role": "user", "content": text}], **params)


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_ready(), reason="needs vllm and an NVIDIA GPU")
def test_greedy_generation_is_deterministic_and_ordered(llm):
    requests = [user("What is 2+2?", max_tokens=24), GenerateRequest(prompt="Once upon a time,", params=SamplingParams(max_tokens=12))]
    first, again = llm.generate(requests), llm.generate(requests[::-1])
    assert first[0].text.strip() and first[1].text.strip()
    assert [g.text for g in again] == [first[1].text, first[0].text]
    assert llm.capabilities.chat_template and llm.capabilities.loglikelihood


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_ready(), reason="needs vllm and an NVIDIA GPU")
def test_max_tokens_stop_and_finish_reason(llm):
    short = llm.generate([GenerateRequest(prompt="Once upon a time", params=SamplingParams(max_tokens=3))])[0]
    assert (short.finish_reason, short.completion_tokens) == ("length", 3)
    free = llm.generate([GenerateRequest(prompt="1, 2, 3, 4,", params=SamplingParams(max_tokens=16))])[0].text
    stop = free[6:9]
    cut = llm.generate([GenerateRequest(prompt="1, 2, 3, 4,", params=SamplingParams(max_tokens=16, stop=(stop,)))])[0]
    assert cut.finish_reason == "stop" and cut.text == free[: free.index(stop)]


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_ready(), reason="needs vllm and an NVIDIA GPU")
def test_seeded_samples(llm):
    request = user("Write a word.", max_tokens=8, temperature=1.0, seed=3)
    samples = [g.text for g in llm.generate([request.with_sample(i) for i in range(4)])]
    assert llm.generate([request.with_sample(2)])[0].text == samples[2]
    assert len(set(samples)) > 1


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_ready(), reason="needs vllm and an NVIDIA GPU")
def test_loglikelihood_ranks_and_matches_hf(llm):
    context = "The capital of France is"
    requests = [LoglikelihoodRequest(context=context, continuation=c) for c in (" Paris", " London", " banana")]
    requests.append(LoglikelihoodRequest(context="", continuation=""))
    scores = llm.loglikelihood(requests)
    assert scores[0].logprob > scores[1].logprob > scores[2].logprob
    assert scores[0].is_greedy and not scores[2].is_greedy
    assert (scores[3].logprob, scores[3].n_tokens) == (0.0, 0)
    if importlib.util.find_spec("syllabus.llm.hf") is None:
        return
    hf = load_llm("builtin:smollm2-135m-instruct", dtype="float32", progress=False)
    reference = hf.loglikelihood(requests[:3])
    for ours, theirs in zip(scores, reference):
        assert ours.n_tokens == theirs.n_tokens
        # Same fp32 weights; GPU and CPU kernels differ only in rounding.
        assert ours.logprob == pytest.approx(theirs.logprob, abs=0.02)
