"""The ``llamacpp`` backend on the builtin GGUF files, and its agreement with ``hf``.

The models are loaded once per module and outputs are kept short, so the file runs in
about a minute on a 2-core CPU (plus, for the cross-backend test, the ``hf`` backend's
one-time conversion of SmolLM2 if it has not happened yet).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from syllabus.errors import BackendError, ConfigError
from syllabus.llm import GenerateRequest, LoglikelihoodRequest, SamplingParams, load_llm

pytestmark = pytest.mark.integration

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'syllabus[llamacpp]')")

SMOL = "llamacpp:builtin:smollm2-135m-instruct"
GEMMA = "llamacpp:builtin:gemma-3-270m"


@pytest.fixture(scope="module")
def smol():
    llm = load_llm(SMOL)
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def gemma():
    llm = load_llm(GEMMA)
    yield llm
    llm.close()


def raw(prompt: str, **params) -> GenerateRequest:
    return GenerateRequest(prompt=prompt, params=SamplingParams(**params))


def user(text: str, **params) -> GenerateRequest:
    return GenerateRequest.chat([{"role": "user", "content": text}], **params)


# -- loading ------------------------------------------------------------------------------


def test_spec_capabilities_and_describe(smol, gemma):
    assert smol.capabilities.loglikelihood and smol.capabilities.chat_template
    assert smol.capabilities.max_context == 2048
    assert not gemma.capabilities.chat_template  # the base model's GGUF has no template
    info = smol.describe()
    assert info["quantization"] == "Q4_1" and info["n_ctx"] == 2048 and info["threads"] >= 1
    assert info["path"].endswith(".gguf")
    assert gemma.describe()["quantization"] == "Q4_K_M"


def test_missing_file_is_a_config_error():
    with pytest.raises(ConfigError, match="GGUF file not found"):
        load_llm("llamacpp:/no/such/model.gguf")


def test_close_is_idempotent_and_final():
    llm = load_llm(SMOL, n_ctx=256)
    llm.close()
    llm.close()
    with pytest.raises(BackendError, match="closed"):
        llm.generate([raw("Hi", max_tokens=2)])


# -- generation ---------------------------------------------------------------------------


def test_greedy_chat_is_deterministic_and_order_independent(smol):
    a, b = user("What is 2+2?", max_tokens=24), user("Name a colour.", max_tokens=12)
    first = smol.generate([a, b])
    again = smol.generate([b, a, b])
    assert first[0].text.strip() and first[1].text.strip()
    assert [g.text for g in again] == [first[1].text, first[0].text, first[1].text]
    assert first[0].prompt_tokens == len(smol.tokenize(smol.apply_chat_template(a.messages), bos=False))


def test_greedy_raw_prompt_on_the_base_model(gemma):
    request = raw("The capital of France is", max_tokens=12)
    one, two = gemma.generate([request]), gemma.generate([request])
    assert one[0].text == two[0].text
    assert one[0].text.strip()
    assert one[0].prompt_tokens == len(gemma.tokenize("The capital of France is"))


def test_max_tokens_and_finish_reason(smol, gemma):
    short = gemma.generate([raw("Once upon a time", max_tokens=3)])[0]
    assert (short.finish_reason, short.completion_tokens) == ("length", 3)
    # The instruct model answers this in a few tokens and ends its turn (EOS -> "stop").
    done = smol.generate([user("What is 2+2?", max_tokens=64)])[0]
    assert done.finish_reason == "stop" and 0 < done.completion_tokens < 64
    assert "4" in done.text


def test_stop_sequences_cut_the_text(gemma):
    free = gemma.generate([raw("1, 2, 3, 4,", max_tokens=16)])[0].text
    stop = free[6:9]  # a piece from the middle of the unconstrained greedy text
    cut = gemma.generate([raw("1, 2, 3, 4,", max_tokens=16, stop=["never appears", stop])])[0]
    assert cut.finish_reason == "stop"
    assert cut.text == free[: free.index(stop)]
    assert stop not in cut.text


def test_seeded_sampling_is_reproducible_per_sample(smol):
    request = user("Write a word.", max_tokens=8, temperature=1.0, seed=7)
    samples = [request.with_sample(i) for i in range(4)]
    first = [g.text for g in smol.generate(samples)]
    # The same sample alone, or behind other requests, draws the same tokens.
    assert smol.generate([samples[2]])[0].text == first[2]
    assert [g.text for g in smol.generate(samples[::-1])] == first[::-1]
    assert len(set(first)) > 1  # different sample indexes are different draws
    other_seed = user("Write a word.", max_tokens=8, temperature=1.0, seed=8)
    assert [g.text for g in smol.generate([other_seed.with_sample(i) for i in range(4)])] != first


def test_parallel_decoding(gemma):
    """n_parallel > 1 decodes several sequences in one llama.cpp batch.

    Batched kernels round differently from the single-sequence path, so a text can drift
    from the sequential one after a few tokens; identical requests in one batch must still
    come out identical (each sequence sees only its own KV cells), reruns must repeat, and
    slots must be refilled (6 requests through 4 slots) with results in request order.
    """
    par = load_llm(GEMMA, n_parallel=4, n_ctx=256)
    try:
        reqs = [
            raw("The capital of France is", max_tokens=10),
            raw("1, 2, 3, 4,", max_tokens=4),
            raw("The capital of France is", max_tokens=10),
            raw("def add(a, b):", max_tokens=7),
            raw("Once upon a time", max_tokens=5),
            raw("The capital of France is", max_tokens=10),
        ]
        out = par.generate(reqs)
        assert [g.completion_tokens for g in out] == [10, 4, 10, 7, 5, 10]
        assert out[0].text == out[2].text == out[5].text
        assert [g.text for g in par.generate(reqs)] == [g.text for g in out]
        sequential = gemma.generate(reqs)
        assert [g.prompt_tokens for g in out] == [g.prompt_tokens for g in sequential]
        # Short, confident continuations agree with the sequential decode.
        assert out[1].text == sequential[1].text
        assert out[0].text[:10] == sequential[0].text[:10]
    finally:
        par.close()


def test_prompt_longer_than_context_is_refused():
    llm = load_llm(GEMMA, n_ctx=32)
    try:
        with pytest.raises(BackendError, match="n_ctx"):
            llm.generate([raw("word " * 64, max_tokens=2)])
    finally:
        llm.close()


# -- scoring ------------------------------------------------------------------------------

CASES = [
    ("The capital of France is", " Paris"),
    ("Water boils at 100 degrees", " Celsius at sea level."),
    ("1, 2, 3,", " 4, 5, 6"),
]


def reference_loglikelihood(path: str, context: list[int], continuation: list[int]) -> tuple[list[float], bool]:
    """llama-cpp-python's high-level path: logits of *every* position (logits_all), then a
    float64 log-softmax at the continuation positions, read by hand."""
    ref = llama_cpp.Llama(model_path=path, n_ctx=64, logits_all=True, flash_attn=False, verbose=False)
    try:
        tokens = context + continuation
        ref.eval(tokens)
        scores = np.asarray(ref.scores[: len(tokens)], dtype=np.float64)
    finally:
        ref.close()
    shifted = scores - scores.max(axis=1, keepdims=True)
    logprobs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    positions = range(len(context) - 1, len(tokens) - 1)
    values = [float(logprobs[p, tokens[p + 1]]) for p in positions]
    greedy = all(int(scores[p].argmax()) == tokens[p + 1] for p in positions)
    return values, greedy


@pytest.mark.parametrize("which", ["smol", "gemma"])
def test_loglikelihood_matches_a_manual_computation(which, request):
    llm = request.getfixturevalue(which)
    results = llm.loglikelihood([LoglikelihoodRequest(context=c, continuation=x) for c, x in CASES])
    for (context, continuation), result in zip(CASES, results, strict=True):
        ctx, cont = llm.encode_pair(LoglikelihoodRequest(context=context, continuation=continuation))
        expected, greedy = reference_loglikelihood(llm.describe()["path"], ctx, cont)
        assert result.n_tokens == len(cont) == len(result.token_logprobs)
        assert result.n_bytes == len(continuation.encode())
        # Same weights, same kernels, same batch shape: equal up to float rounding.
        np.testing.assert_allclose(result.token_logprobs, expected, atol=1e-4)
        assert result.logprob == pytest.approx(sum(expected), abs=1e-3)
        assert result.is_greedy == greedy


def test_loglikelihood_ranks_and_keeps_order(smol):
    context = "The capital of France is"
    candidates = [" banana", " Paris", " London"]
    requests = [LoglikelihoodRequest(context=context, continuation=c) for c in candidates]
    scores = smol.loglikelihood(requests)
    by_name = dict(zip(candidates, scores, strict=True))
    assert by_name[" Paris"].logprob > by_name[" London"].logprob > by_name[" banana"].logprob
    assert by_name[" Paris"].is_greedy and not by_name[" banana"].is_greedy
    # No state carries over between requests: any order gives the same numbers.
    reversed_scores = smol.loglikelihood(requests[::-1])[::-1]
    assert [r.logprob for r in reversed_scores] == [r.logprob for r in scores]


def test_loglikelihood_of_a_chat_reply(smol):
    messages = ({"role": "user", "content": "What is the capital of France?"},)
    good, bad = smol.loglikelihood(
        [
            LoglikelihoodRequest(messages=messages, continuation="The capital of France is Paris."),
            LoglikelihoodRequest(messages=messages, continuation="Bananas are yellow."),
        ]
    )
    assert good.logprob > bad.logprob
    ctx, _ = smol.encode_pair(LoglikelihoodRequest(messages=messages, continuation="Paris"))
    assert ctx == smol.tokenize(smol.apply_chat_template(messages), bos=False)


def test_loglikelihood_edge_cases(gemma):
    empty = gemma.loglikelihood([LoglikelihoodRequest(context="Hello", continuation="")])[0]
    assert (empty.logprob, empty.is_greedy, empty.n_tokens) == (0.0, True, 0)
    # An empty context conditions on BOS alone.
    alone = gemma.loglikelihood([LoglikelihoodRequest(context="", continuation="Hello world")])[0]
    assert alone.n_tokens >= 2 and alone.logprob < 0


def test_prefill_in_chunks_matches_one_batch(gemma):
    """A prompt longer than n_batch is decoded in several llama_decode calls."""
    chunked = load_llm(GEMMA, n_batch=8, n_ctx=128)
    try:
        request = LoglikelihoodRequest(
            context="Water boils at 100 degrees and freezes at zero, as everyone learns. The capital of France is",
            continuation=" Paris, a large city on the river Seine.",
        )
        a, b = gemma.loglikelihood([request])[0], chunked.loglikelihood([request])[0]
        # Different batch shapes round differently: measured differences are ~2e-4 nats.
        np.testing.assert_allclose(a.token_logprobs, b.token_logprobs, atol=5e-3)
    finally:
        chunked.close()


# -- agreement with the transformers backend ----------------------------------------------


@pytest.fixture(scope="module")
def hf_smol():
    if importlib.util.find_spec("syllabus.llm.hf") is None:
        pytest.skip("the hf backend is not available")
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return load_llm("builtin:smollm2-135m-instruct", dtype="float32", progress=False)


def common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_greedy_text_agrees_with_hf(smol, hf_smol):
    """llama.cpp and transformers (fp32) run the same SmolLM2 weights: transformers
    de-quantizes the Q4_1 tensors exactly, so both see identical weights and identical
    prompt tokens. They still compute differently: llama.cpp rounds activations to 8 bits
    (Q8_1 blocks) for its quantized matmuls and keeps the KV cache in f16, which moves
    log-probabilities by up to ~0.4 nats per token. Where the top two tokens are close,
    greedy paths split (e.g. "What is the capital of France?" starts with "The" under
    transformers and "L'" under llama.cpp: -1.88 vs -1.97 there, -2.29 vs -1.94 here).
    On prompts without such near-ties the greedy texts were identical in full (45, 94 and
    161 characters); the test asks for a shared prefix of 40 characters.
    """
    requests = [
        user("What is 2+2?", max_tokens=24),
        user("Write one sentence about cats.", max_tokens=32),
        raw("Once upon a time,", max_tokens=24),
    ]
    ours, theirs = smol.generate(requests), hf_smol.generate(requests)
    for a, b in zip(ours, theirs, strict=True):
        assert a.prompt_tokens == b.prompt_tokens  # same template, same tokens
        assert common_prefix(a.text, b.text) >= min(40, len(a.text), len(b.text)), (a.text, b.text)


def test_loglikelihoods_agree_with_hf(smol, hf_smol):
    """Summed log-likelihoods agree within max(0.3, 0.1 * n_tokens) nats, and rank alike.

    Measured on these requests: |difference| from 0.006 (1 token) to 0.42 (7 tokens, the
    chat reply), per-token differences up to 0.41 (see the previous test for why). The
    bound leaves about 1.5x headroom; neighbouring candidates in the ranking are at least
    2.5 nats apart in both backends, several times the bound.
    """
    context = "The capital of France is"
    candidates = [" Paris", " London", " a city in Europe.", " banana"]
    messages = ({"role": "user", "content": "What is the capital of France?"},)
    requests = [LoglikelihoodRequest(context=context, continuation=c) for c in candidates]
    requests += [
        LoglikelihoodRequest(messages=messages, continuation="The capital of France is Paris."),
        LoglikelihoodRequest(context="1, 2, 3,", continuation=" 4, 5, 6"),
    ]
    ours, theirs = smol.loglikelihood(requests), hf_smol.loglikelihood(requests)
    for a, b in zip(ours, theirs, strict=True):
        assert a.n_tokens == b.n_tokens
        assert abs(a.logprob - b.logprob) <= max(0.3, 0.1 * a.n_tokens), (a.logprob, b.logprob)
    order = lambda results: sorted(range(len(candidates)), key=lambda i: -results[i].logprob)  # noqa: E731
    assert order(ours[:4]) == order(theirs[:4]) == [0, 1, 2, 3]


def test_sampler_follows_top_k_and_top_p():
    from syllabus.llm.llamacpp import _sample

    rng = np.random.default_rng(0)
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))

    def frequencies(**params) -> np.ndarray:
        draws = [_sample(logits, SamplingParams(temperature=1.0, **params), rng) for _ in range(4000)]
        return np.bincount(draws, minlength=4) / len(draws)

    np.testing.assert_allclose(frequencies(), [0.5, 0.3, 0.15, 0.05], atol=0.03)
    np.testing.assert_allclose(frequencies(top_k=2), [0.625, 0.375, 0, 0], atol=0.03)
    # top_p keeps the smallest set whose mass reaches p: {0.5, 0.3, 0.15} for p = 0.85.
    np.testing.assert_allclose(frequencies(top_p=0.85), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0], atol=0.03)
