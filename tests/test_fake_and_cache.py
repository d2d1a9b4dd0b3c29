"""Fake backends, model-spec errors, and the request cache."""

from __future__ import annotations

import threading

import pytest

from syllabus.errors import BackendError, ConfigError, UnknownNameError
from syllabus.llm import (
    CachedLLM,
    GenerateRequest,
    LoglikelihoodRequest,
    RequestCache,
    SamplingParams,
    load_llm,
    parse_spec,
)
from syllabus.llm.fake import EchoLLM, FunctionLLM, ScriptedLLM, load_fake


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def req(text: str, **params) -> GenerateRequest:
    return GenerateRequest.chat(user(text), **params)


# -- fakes ---------------------------------------------------------------------------------
def test_echo_returns_the_last_user_message_or_the_raw_prompt():
    llm = load_llm("fake:echo")
    conversation = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
    ]
    out = llm.generate([GenerateRequest(messages=conversation), GenerateRequest(prompt="raw text"),
                        GenerateRequest(messages=[{"role": "system", "content": "only"}])])
    assert [g.text for g in out] == ["second", "raw text", ""]
    assert all(g.model == "fake:echo" and g.finish_reason == "stop" and not g.cached for g in out)
    assert llm.chat("hello") == "hello"


def test_stop_sequences_cut_at_the_earliest_one():
    llm = EchoLLM()
    g = llm.generate([req("one two. three\nfour", stop=["\n", "."])])[0]
    assert g.text == "one two" and g.finish_reason == "stop"
    assert llm.chat("a STOP b", stop="STOP") == "a "  # a single string is one stop sequence


def test_max_tokens_counts_words_and_reports_length():
    llm = EchoLLM()
    long, short = llm.generate([req("a b c d e", max_tokens=3), req("a b", max_tokens=3)])
    assert (long.text, long.finish_reason, long.completion_tokens) == ("a b c", "length", 3)
    assert (short.text, short.finish_reason, short.completion_tokens) == ("a b", "stop", 2)
    # The stop sequence applies first, then the length limit.
    g = llm.generate([req("a b c d | e f", stop=["|"], max_tokens=10)])[0]
    assert (g.text, g.finish_reason) == ("a b c d ", "stop")


def test_scripted_answers_in_order_and_records_history():
    llm = load_llm("fake:scripted", responses=["4", "5", "6"])
    assert llm.chat("2+2?") == "4"
    batch = llm.generate([req("2+3?"), req("2+4?", temperature=0.7, sample_index=3)])
    assert [g.text for g in batch] == ["5", "6"]
    assert [r.messages[-1]["content"] for r in llm.history] == ["2+2?", "2+3?", "2+4?"]
    assert llm.history[2].params.temperature == 0.7 and llm.history[2].sample_index == 3
    assert llm.calls == 2  # one call per batch
    with pytest.raises(BackendError, match="ran out of responses after 3 requests"):
        llm.chat("more?")


def test_scripted_cycle_and_stop_handling():
    llm = ScriptedLLM(["a", "b STOP c"], cycle=True)
    assert [llm.chat("q", stop=["STOP"]) for _ in range(5)] == ["a", "b ", "a", "b ", "a"]


def test_function_backend_calls_the_function_with_the_request():
    llm = load_llm("fake:function", fn=lambda r: str(len(r.messages[-1]["content"])), name="length")
    assert llm.model_id == "fake:length"
    assert [g.text for g in llm.generate([req("abc"), req("abcdef")])] == ["3", "6"]
    with pytest.raises(ConfigError, match="needs a callable"):
        FunctionLLM()
    with pytest.raises(ConfigError, match="needs a callable"):
        load_llm("fake:function")


def test_fake_loglikelihood_is_deterministic_and_prefers_shorter():
    llm = EchoLLM()
    short, long = llm.loglikelihood([LoglikelihoodRequest(continuation="4", context="2+2="),
                                     LoglikelihoodRequest(continuation="four hundred", messages=user("2+2?"))])
    assert short.logprob > long.logprob
    assert short.is_greedy and not long.is_greedy
    assert (short.n_tokens, long.n_tokens, long.n_bytes) == (1, 2, 12)
    assert llm.capabilities.loglikelihood


# -- model specs ---------------------------------------------------------------------------
def test_unknown_fake_names_get_did_you_mean():
    with pytest.raises(UnknownNameError, match=r"Unknown fake model 'ecko'\. Did you mean echo\?"):
        load_llm("fake:ecko")
    with pytest.raises(UnknownNameError, match="Known: echo, function, scripted"):
        load_fake("nothing-like-it")


def test_misspelt_scheme_gets_did_you_mean():
    with pytest.raises(UnknownNameError, match=r"Unknown backend 'hff'\. Did you mean hf\?"):
        load_llm("hff:some/model")
    with pytest.raises(UnknownNameError, match="Did you mean openai"):
        parse_spec("opneai:gpt@http://localhost:8000/v1")


def test_bare_builtin_name_suggests_the_builtin_spec():
    with pytest.raises(ConfigError) as info:
        load_llm("gemma-3-270m")
    message = str(info.value)
    assert "Bad model spec 'gemma-3-270m'" in message
    assert "Did you mean builtin:gemma-3-270m?" in message
    assert "fake" in message and "hf" in message  # lists the schemes


@pytest.mark.parametrize("spec", ["fake", "fake:", ":echo", ""])
def test_malformed_specs_say_what_a_spec_looks_like(spec):
    with pytest.raises(ConfigError, match="expected SCHEME:NAME"):
        load_llm(spec)


def test_misspelt_builtin_model_fails_before_any_heavy_import():
    with pytest.raises(UnknownNameError, match=r"Unknown builtin model 'gemma-3-270'\. Did you mean gemma-3-270m\?"):
        load_llm("builtin:gemma-3-270")


def test_load_llm_with_a_cache_path_wraps_the_model(tmp_path):
    llm = load_llm("fake:echo", cache=tmp_path / "cache" / "llm.sqlite")
    assert isinstance(llm, CachedLLM)
    assert llm.chat("x") == "x"
    assert (tmp_path / "cache" / "llm.sqlite").exists()


# -- the cache -----------------------------------------------------------------------------
def cached(inner=None, cache=None) -> CachedLLM:
    # `is None`, not `or`: an empty RequestCache has len 0 and is therefore falsy.
    return CachedLLM(inner or EchoLLM(), RequestCache(":memory:") if cache is None else cache)


def test_hits_are_marked_cached_and_skip_the_model():
    llm = cached()
    first = llm.generate([req("a"), req("b")])
    assert [g.cached for g in first] == [False, False]
    again = llm.generate([req("b"), req("c"), req("a")])
    assert [(g.text, g.cached) for g in again] == [("b", True), ("c", False), ("a", True)]
    assert again[0].model == "fake:echo" and again[0].finish_reason == "stop"
    assert [r.messages[-1]["content"] for r in llm.inner.history] == ["a", "b", "c"]  # only misses went through
    assert (llm.hits, llm.misses) == (2, 3)


def test_cache_key_excludes_batch_size():
    inner = EchoLLM()
    llm = cached(inner)
    requests = [req(f"prompt {i}") for i in range(6)]
    llm.generate(requests)  # one batch of six
    calls = inner.calls
    for batch in ([requests[0]], requests[1:3], requests[3:]):  # the same requests in other batches
        assert all(g.cached for g in llm.generate(batch))
    assert inner.calls == calls


def test_sample_index_temperature_and_other_semantic_params_miss():
    inner = ScriptedLLM([f"sample {i}" for i in range(10)])
    llm = cached(inner)
    base = req("q", temperature=0.8, seed=1)
    assert llm.generate([base])[0].text == "sample 0"
    assert llm.generate([base.with_sample(1)])[0].text == "sample 1"  # another sample index
    assert llm.generate([req("q", temperature=0.5, seed=1)])[0].text == "sample 2"  # another temperature
    assert llm.generate([req("q", temperature=0.8, seed=2)])[0].text == "sample 3"  # another seed
    assert llm.generate([req("q", temperature=0.8, seed=1, max_tokens=5)])[0].text == "sample 4"
    assert llm.generate([req("q", temperature=0.8, seed=1, stop=["x"])])[0].text == "sample 5"
    assert llm.generate([GenerateRequest(prompt="q", params=base.params)])[0].text == "sample 6"  # raw prompt
    # ... and each of them is now a hit with its own text.
    assert [g.text for g in llm.generate([base.with_sample(1), base])] == ["sample 1", "sample 0"]
    assert len(llm.cache) == 7


def test_equal_params_written_differently_share_an_entry():
    llm = cached()
    llm.generate([req("q", temperature=0, top_p=1, stop=["x"])])
    hit = llm.generate([req("q", temperature=0.0, top_p=1.0, stop=("x",))])[0]
    assert hit.cached
    assert SamplingParams(temperature=0).to_dict() == SamplingParams(temperature=0.0).to_dict()


def test_different_models_do_not_share_entries():
    cache = RequestCache(":memory:")
    cached(EchoLLM(), cache).generate([req("q")])
    other = cached(ScriptedLLM(["scripted answer"]), cache).generate([req("q")])[0]
    assert (other.text, other.cached) == ("scripted answer", False)


def test_loglikelihoods_are_cached_too():
    llm = cached()
    requests = [LoglikelihoodRequest(continuation="4", context="2+2="), LoglikelihoodRequest(continuation="5", context="2+2=")]
    first = llm.loglikelihood(requests)
    second = llm.loglikelihood(list(reversed(requests)))
    assert [r.cached for r in first] == [False, False] and [r.cached for r in second] == [True, True]
    assert [r.logprob for r in second] == [first[1].logprob, first[0].logprob]


def test_cache_persists_across_reopening_the_file(tmp_path):
    path = tmp_path / "llm.sqlite"
    first = cached(ScriptedLLM(["once"]), RequestCache(path))
    assert first.chat("q", temperature=1.0) == "once"
    first.cache.close()

    reopened = cached(ScriptedLLM([]), RequestCache(path))  # would raise if asked to generate
    g = reopened.generate([req("q", temperature=1.0)])[0]
    assert (g.text, g.cached) == ("once", True)
    assert len(reopened.cache) == 1


def test_concurrent_use_from_two_threads(tmp_path):
    path = tmp_path / "llm.sqlite"
    shared = cached(EchoLLM(), RequestCache(path))
    results: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def work(name: str, llm: CachedLLM, prompts: list[str]) -> None:
        try:
            texts: list[str] = []
            for start in range(0, len(prompts), 7):
                texts += [g.text for g in llm.generate([req(p) for p in prompts[start : start + 7]])]
            results[name] = texts
        except BaseException as e:  # surfaced in the main thread below
            errors.append(e)

    # Overlapping prompt sets; one thread shares the wrapper, one opens its own connection.
    a = [f"p{i}" for i in range(0, 120)]
    b = [f"p{i}" for i in range(60, 180)]
    threads = [
        threading.Thread(target=work, args=("a", shared, a)),
        threading.Thread(target=work, args=("b", cached(EchoLLM(), RequestCache(path)), b)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == {"a": a, "b": b}
    assert len(RequestCache(path)) == 180
    assert all(g.cached for g in shared.generate([req(f"p{i}") for i in range(180)]))


def test_settings_that_change_outputs_separate_cache_entries(tmp_path):
    """A backend's cache_id (e.g. hf's dtype) is part of the key; model_id alone is not enough."""
    from syllabus.llm.cache import CachedLLM, RequestCache
    from syllabus.llm.fake import FunctionLLM

    class Precise(FunctionLLM):
        def __init__(self, dtype):
            super().__init__(lambda r: dtype)
            self.dtype = dtype

        @property
        def cache_id(self):
            return f"{self.model_id}|dtype={self.dtype}"

    cache = RequestCache(tmp_path / "c.sqlite")
    assert CachedLLM(Precise("float32"), cache).chat("x") == "float32"
    assert CachedLLM(Precise("bfloat16"), cache).chat("x") == "bfloat16"
    assert CachedLLM(Precise("float32"), cache).generate([GenerateRequest.chat([{"role": "user", "content": "x"}])])[0].cached
