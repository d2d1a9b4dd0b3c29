"""The ``hf`` backend on the builtin models: scoring, batching, stops, seeds, templates.

Everything runs in float32, where batched and unbatched results agree exactly. The two
models are loaded once per module; outputs are kept short so the file runs in a minute or
two on a small CPU (plus a one-time conversion of each builtin model).
"""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from syllabus.llm import GenerateRequest, LoglikelihoodRequest, SamplingParams, load_llm

pytestmark = pytest.mark.integration

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def smol():
    return load_llm("builtin:smollm2-135m-instruct", dtype="float32", batch_size=4, progress=False)


@pytest.fixture(scope="module")
def gemma():
    return load_llm("builtin:gemma-3-270m", dtype="float32", batch_size=4, progress=False)


def manual_loglikelihood(llm, context_ids: list[int], cont_ids: list[int]) -> tuple[float, bool]:
    """Full forward pass over all positions, then log_softmax at the continuation positions."""
    ids = torch.tensor([context_ids + cont_ids])
    with torch.inference_mode():
        logits = llm.model(input_ids=ids).logits[0].float()
    logprobs = logits.log_softmax(-1)
    total, greedy = 0.0, True
    for offset, token in enumerate(cont_ids):
        pos = len(context_ids) + offset - 1
        total += float(logprobs[pos, token])
        greedy = greedy and int(logits[pos].argmax()) == token
    return total, greedy


def encode(llm, text: str, special: bool = True) -> list[int]:
    return list(llm.tokenizer(text, add_special_tokens=special).input_ids)


@pytest.mark.parametrize("which", ["smol", "gemma"])
def test_loglikelihood_matches_full_forward(which, request):
    llm = request.getfixturevalue(which)
    cases = [
        ("The capital of France is", " Paris"),
        ("Water boils at 100 degrees", " Celsius at sea level."),
        ("1, 2, 3,", " 4, 5, 6"),
        ("Q: What colour is the sky?\nA:", " Blue, mostly."),
    ]
    got = llm.loglikelihood([LoglikelihoodRequest(context=c, continuation=x) for c, x in cases])
    for (context, cont), result in zip(cases, got, strict=True):
        ctx_ids = encode(llm, context)
        whole = encode(llm, context + cont)
        assert whole[: len(ctx_ids)] == ctx_ids  # these cases split cleanly at the boundary
        cont_ids = whole[len(ctx_ids) :]
        expected, greedy = manual_loglikelihood(llm, ctx_ids, cont_ids)
        assert result.logprob == pytest.approx(expected, abs=1e-3)
        assert result.n_tokens == len(cont_ids) == len(result.token_logprobs)
        assert sum(result.token_logprobs) == pytest.approx(result.logprob)
        assert result.n_bytes == len(cont.encode("utf-8"))
        assert result.is_greedy == greedy


def test_loglikelihood_when_context_tokens_are_not_a_prefix(smol):
    # "is " ends in a space token that "is yes" merges away, so the continuation is
    # tokenized on its own and appended to the context's tokens.
    context, cont = "The answer is ", "yes"
    ctx_ids = encode(smol, context)
    assert encode(smol, context + cont)[: len(ctx_ids)] != ctx_ids
    [result] = smol.loglikelihood([LoglikelihoodRequest(context=context, continuation=cont)])
    expected, _ = manual_loglikelihood(smol, ctx_ids, encode(smol, cont, special=False))
    assert result.logprob == pytest.approx(expected, abs=1e-3)


def test_loglikelihood_with_messages_uses_chat_template(smol):
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    [result] = smol.loglikelihood([LoglikelihoodRequest(messages=messages, continuation="Paris")])
    rendered = smol.apply_chat_template(messages)
    assert rendered.endswith("<|im_start|>assistant\n")
    ctx_ids = encode(smol, rendered, special=False)
    cont_ids = encode(smol, rendered + "Paris", special=False)[len(ctx_ids) :]
    expected, _ = manual_loglikelihood(smol, ctx_ids, cont_ids)
    assert result.logprob == pytest.approx(expected, abs=1e-3)


def test_loglikelihood_greedy_continuation_and_truncation(smol, caplog):
    context = "Once upon a time"
    [gen] = smol.generate([GenerateRequest(prompt=context, params=SamplingParams(max_tokens=6))])
    [scored] = smol.loglikelihood([LoglikelihoodRequest(context=context, continuation=gen.text)])
    assert scored.is_greedy  # the greedy output is, token by token, the argmax

    long_context = "one two three four five six seven eight nine ten " * 3
    full = smol.loglikelihood([LoglikelihoodRequest(context=long_context, continuation=" eleven")])[0]
    saved = smol.max_context
    smol.max_context = 12
    try:
        with caplog.at_level(logging.WARNING, logger="syllabus.llm.hf"):
            cut = smol.loglikelihood([LoglikelihoodRequest(context=long_context, continuation=" eleven")])[0]
    finally:
        smol.max_context = saved
    assert "cut from the left" in caplog.text
    ctx_ids = encode(smol, long_context)
    cont_ids = encode(smol, long_context + " eleven")[len(ctx_ids) :]
    expected, _ = manual_loglikelihood(smol, ctx_ids[len(ctx_ids) + len(cont_ids) - 12 :], cont_ids)
    assert cut.logprob == pytest.approx(expected, abs=1e-3)
    assert cut.n_tokens == full.n_tokens


def test_batched_greedy_equals_unbatched_and_keeps_order(smol):
    prompts = [
        "Tell me a fact about the moon.",
        "Hi",
        "Explain in one sentence why the sea is salty, and mention rivers.",
        "What is 7 times 8?",
        "List three colours.",
    ]
    # Mixed sampling params, so the requests are split into groups and sorted inside them.
    requests = [
        GenerateRequest.chat([{"role": "user", "content": p}], max_tokens=10 if i % 2 else 12)
        for i, p in enumerate(prompts)
    ]
    batched = smol.generate(requests)
    saved = smol.batch_size
    smol.batch_size = 1
    try:
        single = [smol.generate([r])[0] for r in requests]
    finally:
        smol.batch_size = saved
    assert [g.text for g in batched] == [g.text for g in single]
    expected_prompt_tokens = [len(encode(smol, smol.apply_chat_template(r.messages), special=False)) for r in requests]
    assert [g.prompt_tokens for g in batched] == expected_prompt_tokens
    assert all(g.completion_tokens <= r.params.max_tokens for g, r in zip(batched, requests, strict=True))
    assert all(g.model == "builtin:smollm2-135m-instruct" for g in batched)


def test_stop_sequences_cut_text_and_set_finish_reason(gemma):
    prompt = "1, 2, 3, 4, 5, 6,"
    free, stopped, never = gemma.generate(
        [
            GenerateRequest(prompt=prompt, params=SamplingParams(max_tokens=8)),
            GenerateRequest(prompt=prompt, params=SamplingParams(max_tokens=8, stop=(",",))),
            GenerateRequest(prompt=prompt, params=SamplingParams(max_tokens=4, stop=("never-appears",))),
        ]
    )
    assert "," in free.text and free.finish_reason == "length"
    assert stopped.finish_reason == "stop"
    assert "," not in stopped.text and free.text.startswith(stopped.text)
    assert stopped.completion_tokens < 8
    assert never.finish_reason == "length" and never.completion_tokens == 4


def test_sampling_is_reproducible_per_seed_and_sample_index(smol):
    params = SamplingParams(max_tokens=12, temperature=1.0, top_p=0.95, top_k=50, seed=7)
    base = GenerateRequest(messages=({"role": "user", "content": "Write a short poem about rain."},), params=params)
    first = [g.text for g in smol.generate([base.with_sample(i) for i in range(4)])]
    again = [g.text for g in smol.generate([base.with_sample(i) for i in range(4)])]
    assert first == again
    assert len(set(first)) > 1  # different sample indices draw different samples
    other_seed = GenerateRequest(messages=base.messages, params=SamplingParams(**{**params.to_dict(), "seed": 8}))
    assert smol.generate([other_seed])[0].text != first[0]


def test_chat_template_applied_for_instruct_model(smol):
    assert smol.capabilities.chat_template and smol.capabilities.loglikelihood
    assert smol.capabilities.max_context == 8192
    text = smol.apply_chat_template([{"role": "user", "content": "Hello"}])
    assert "<|im_start|>user\nHello<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")
    answer = smol.chat("What is the capital of France?", max_tokens=16)
    assert "Paris" in answer
    info = smol.describe()
    assert info["dtype"] == "float32" and info["batch_size"] == 4 and info["device"] == "cpu"


def test_raw_prompt_on_gemma_base(gemma):
    assert not gemma.capabilities.chat_template  # the base model's GGUF ships no template
    prompt = "The Eiffel Tower is in the city of"
    [g] = gemma.generate([GenerateRequest(prompt=prompt, params=SamplingParams(max_tokens=6))])
    ids = encode(gemma, prompt)
    assert ids[0] == gemma.tokenizer.bos_token_id and g.prompt_tokens == len(ids)
    assert "Paris" in g.text
    # Without a template, messages are rendered as plain "role: content" lines.
    assert gemma.apply_chat_template([{"role": "user", "content": "hi"}]) == "user: hi\nassistant:"


def test_ignore_eos_generates_max_tokens(smol):
    llm_eos = smol.ignore_eos
    smol.ignore_eos = True
    try:
        [g] = smol.generate([GenerateRequest.chat([{"role": "user", "content": "Say yes."}], max_tokens=24)])
    finally:
        smol.ignore_eos = llm_eos
    assert g.completion_tokens == 24 and g.finish_reason == "length"


def test_bad_dtype_is_a_config_error(tmp_path):
    from syllabus.errors import ConfigError
    from syllabus.llm.hf import HFLLM
    from syllabus.models import builtin_hf_dir

    with pytest.raises(ConfigError, match="dtype"):
        HFLLM(str(builtin_hf_dir("smollm2-135m-instruct")), dtype="fp8")
    with pytest.raises(ConfigError, match="config.json"):
        HFLLM(str(tmp_path))


def test_module_import_does_not_import_torch():
    code = "import sys, syllabus.llm.hf; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
