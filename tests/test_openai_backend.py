"""The openai backend against a fault-injecting local server and a real llama.cpp server."""

from __future__ import annotations

import asyncio
import logging
import threading
import zlib
from email.utils import formatdate

import httpx
import pytest
from servers import Fault, FaultServer

import syllabus.llm.openai as openai_backend
from syllabus.errors import BackendError, CapabilityError, ConfigError
from syllabus.llm import GenerateRequest, LoglikelihoodRequest, SamplingParams, load_llm
from syllabus.llm.openai import OpenAILLM, _retry_after

SECRET = "sk-test-SECRET-0123456789"


def ask(text: str, **params: object) -> GenerateRequest:
    return GenerateRequest.chat([{"role": "user", "content": text}], **params)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the backoff waits instead of sleeping through them."""
    recorded: list[float] = []

    async def no_sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(openai_backend, "_sleep", no_sleep)
    return recorded


def client(server: FaultServer, **options: object) -> OpenAILLM:
    options = {"timeout": 5.0, "backoff": 0.01, **options}
    return OpenAILLM(f"test-model@{server.url}", **options)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- spec


def test_spec_parsing_and_registry() -> None:
    llm = load_llm("openai:local@http://127.0.0.1:8080/v1/", api_key="")
    assert isinstance(llm, OpenAILLM)
    assert (llm.model, llm.base_url, llm.model_id) == ("local", "http://127.0.0.1:8080/v1", "openai:local@http://127.0.0.1:8080/v1")
    assert OpenAILLM("gpt-4o-mini").base_url == "https://api.openai.com/v1"
    assert OpenAILLM("org/model@v2@http://127.0.0.1:1/v1").model == "org/model@v2"
    with pytest.raises(ConfigError, match="must be an http"):
        OpenAILLM("model@localhost:8080")
    with pytest.raises(ConfigError, match="credentials"):
        OpenAILLM("model@http://user:pw@127.0.0.1:8080/v1")
    with pytest.raises(ConfigError, match="endpoint"):
        OpenAILLM("model@http://127.0.0.1:8080/v1", endpoint="responses")
    caps = llm.capabilities
    assert caps.generate and caps.chat_template and not caps.loglikelihood
    assert OpenAILLM("m@http://127.0.0.1:1/v1", echo_logprobs=True).capabilities.loglikelihood


# ----------------------------------------------------------------------------- happy path


def test_chat_and_completions_payloads() -> None:
    with FaultServer() as server:
        llm = client(server)
        params = dict(max_tokens=20, temperature=0.7, top_p=0.9, stop=["zzz"], seed=41)
        out = llm.generate([ask("hello there", sample_index=2, **params), GenerateRequest(prompt="raw text", params=SamplingParams(max_tokens=20))])
    assert [g.text for g in out] == ["echo: hello there", "echo: raw text"]
    assert out[0].finish_reason == "stop" and out[0].completion_tokens == 3 and out[0].prompt_tokens == 3
    assert out[0].model == llm.model_id
    chat, raw = sorted(server.requests, key=lambda r: r.path)
    assert chat.path == "/v1/chat/completions" and raw.path == "/v1/completions"
    assert chat.body["messages"] == [{"role": "user", "content": "hello there"}]
    assert chat.body["model"] == "test-model"
    # seed = params.seed + sample_index, so the k samples of one prompt differ.
    assert {k: chat.body[k] for k in ("max_tokens", "temperature", "top_p", "stop", "seed")} == {**params, "seed": 43}
    assert "top_k" not in chat.body  # not an OpenAI parameter; sent only when set
    assert raw.body["prompt"] == "raw text" and "messages" not in raw.body


def test_distinct_samples_get_distinct_seeds() -> None:
    with FaultServer() as server:
        request = ask("pick a number", temperature=1.0, seed=7)
        client(server).generate([request.with_sample(i) for i in range(4)])
    assert sorted(r.body["seed"] for r in server.requests) == [7, 8, 9, 10]


def test_length_and_stop_map_to_finish_reason() -> None:
    with FaultServer() as server:
        out = client(server).generate([ask("one two three four five", max_tokens=2), ask("keep this STOP not this", stop=["STOP"])])
    assert (out[0].text, out[0].finish_reason) == ("echo: one", "length")
    assert (out[1].text, out[1].finish_reason) == ("echo: keep this ", "stop")


def test_completions_endpoint_renders_messages_plainly() -> None:
    with FaultServer() as server:
        llm = client(server, endpoint="completions")
        assert not llm.capabilities.chat_template
        llm.generate([ask("hi")])
    assert server.requests[0].path == "/v1/completions"
    assert server.requests[0].body["prompt"] == "user: hi\nassistant:"


def test_order_preserved_with_many_requests() -> None:
    # Answers take 0-40 ms depending on the prompt, so they finish out of order.
    with FaultServer(delay=lambda body: (zlib.crc32(body["messages"][-1]["content"].encode()) % 5) * 0.01) as server:
        prompts = [f"question {i}" for i in range(60)]
        out = client(server, concurrency=8).generate([ask(p) for p in prompts])
    assert [g.text for g in out] == [f"echo: {p}" for p in prompts]
    assert len(server.requests) == 60


def test_concurrency_bound_is_respected() -> None:
    with FaultServer(delay=lambda body: 0.05) as server:
        client(server, concurrency=3).generate([ask(f"q{i}") for i in range(24)])
    assert len(server.requests) == 24
    assert 2 <= server.max_in_flight <= 3  # fanned out, never beyond the bound


def test_works_from_a_thread_and_inside_a_running_event_loop() -> None:
    with FaultServer() as server:
        llm = client(server)
        results: list[str] = []
        thread = threading.Thread(target=lambda: results.append(llm.chat("from a thread")))
        thread.start()
        thread.join(timeout=30)

        async def inside_loop() -> str:
            return llm.chat("from a loop")  # synchronous call while a loop runs here

        results.append(asyncio.run(inside_loop()))

        async def awaited() -> list[str]:
            return [g.text for g in await llm.agenerate([ask("awaited")])]

        results += asyncio.run(awaited())
    assert results == ["echo: from a thread", "echo: from a loop", "echo: awaited"]
    assert llm.generate([]) == []


# ----------------------------------------------------------------------------- faults and retries


@pytest.mark.parametrize(
    "fault",
    [Fault.status(500), Fault.status(503), Fault.rate_limited("0"), Fault.truncated(), Fault.cut(), Fault.hang(3.0)],
    ids=["500", "503", "429", "truncated-json", "cut-body", "hang-past-timeout"],
)
def test_retries_recover_from_transient_faults(fault: Fault, waits: list[float]) -> None:
    with FaultServer(script=[fault, fault]) as server:
        out = client(server, timeout=0.5).generate([ask("still there?")])
    assert out[0].text == "echo: still there?"
    assert [r.fault.kind for r in server.requests] == [fault.kind, fault.kind, "ok"]
    assert len(waits) == 2


def test_backoff_grows_exponentially_with_jitter(waits: list[float]) -> None:
    with FaultServer(script=[Fault.status(500)] * 4) as server:
        client(server, backoff=1.0).generate([ask("x")])
    assert len(waits) == 4
    for attempt, wait in enumerate(waits):
        assert 0.5 * 2**attempt <= wait <= 2**attempt


def test_retry_after_seconds_is_honoured(waits: list[float]) -> None:
    with FaultServer(script=[Fault.rate_limited("7")]) as server:
        client(server).generate([ask("x")])
    assert waits == [7.0]
    assert len(server.requests) == 2


def test_retry_after_http_date_is_honoured(waits: list[float]) -> None:
    with FaultServer(script=[Fault.status(503, headers={"Retry-After": formatdate(usegmt=True)})]) as server:
        client(server).generate([ask("x")])
    assert len(waits) == 1 and 0.0 <= waits[0] <= 1.0  # a date in the (just) past: retry now


def test_retry_after_parsing() -> None:
    now = 1_700_000_000.0
    assert _retry_after(httpx.Headers({"Retry-After": "12"}), now) == 12.0
    assert _retry_after(httpx.Headers({"Retry-After": formatdate(now + 30, usegmt=True)}), now) == 30.0
    assert _retry_after(httpx.Headers({"retry-after-ms": "250"}), now) == 0.25
    assert _retry_after(httpx.Headers({"Retry-After": "soon"}), now) is None
    assert _retry_after(httpx.Headers({}), now) is None


def test_max_retries_exhausted_raises(waits: list[float]) -> None:
    with FaultServer(default=Fault.status(500, "model crashed")) as server:
        llm = client(server, max_retries=2)
        with pytest.raises(BackendError) as info:
            llm.generate([ask("x")])
    message = str(info.value)
    assert len(server.requests) == 3
    assert server.url in message and "500" in message and "model crashed" in message and "3 attempt" in message
    assert "\n" not in message
    assert info.value.retryable


def test_timeout_exhaustion_names_the_timeout(waits: list[float]) -> None:
    with FaultServer(default=Fault.hang(3.0)) as server:
        with pytest.raises(BackendError, match="timeout"):
            client(server, timeout=0.3, max_retries=1).generate([ask("x")])
    assert len(server.requests) == 2


def test_connection_refused_is_retried_then_reported(waits: list[float]) -> None:
    from servers import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendError, match="connection error") as info:
        OpenAILLM(f"m@{url}", max_retries=2, timeout=2.0).generate([ask("x")])
    assert url in str(info.value) and len(waits) == 2


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
def test_client_errors_fail_at_once(code: int, waits: list[float]) -> None:
    with FaultServer(default=Fault.status(code, f"scripted refusal {code}")) as server:
        with pytest.raises(BackendError) as info:
            client(server, api_key="k").generate([ask("x")])
    assert len(server.requests) == 1 and waits == []
    assert not info.value.retryable
    assert str(info.value).startswith(f"openai:test-model@{server.url}: {code} ")
    assert f"scripted refusal {code}" in str(info.value)


def test_401_message_says_how_to_fix_and_never_shows_the_key(waits: list[float], caplog: pytest.LogCaptureFixture) -> None:
    # The server quotes the key it rejected, as some hosted APIs do.
    with FaultServer(script=[Fault.status(500, "oops"), Fault.status(401, f"Incorrect API key provided: {SECRET}")]) as server:
        llm = client(server, api_key=SECRET)
        with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as info:
            llm.generate([ask("x")])
    message = str(info.value)
    assert "401 Unauthorized" in message and "check --api-key or OPENAI_API_KEY" in message
    assert len(server.requests) == 2  # the 500 was retried, the 401 was not
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in server.requests)
    for text in (message, repr(info.value), repr(llm), str(llm.describe()), str(vars(llm)), caplog.text):
        assert SECRET not in text


def test_key_from_environment_is_sent_and_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", SECRET)
    with FaultServer() as server:
        llm = client(server, api_key_env="MY_KEY", concurrency=2)
        llm.chat("hi")
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    description = llm.describe()
    assert description["model"] == "test-model" and description["base_url"] == server.url
    assert description["concurrency"] == 2 and description["api_key_set"] is True
    assert SECRET not in repr(llm) and SECRET not in str(description)


def test_no_key_sends_no_authorization_and_401_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FaultServer(default=Fault.status(401, "missing key")) as server:
        with pytest.raises(BackendError, match="no API key was sent: pass --api-key or set OPENAI_API_KEY"):
            client(server).generate([ask("x")])
    assert "authorization" not in server.requests[0].headers


def test_a_final_failure_stops_the_rest_of_the_batch(waits: list[float]) -> None:
    with FaultServer(script=[Fault.status(401)], default=Fault.status(500)) as server:
        with pytest.raises(BackendError, match="401"):
            client(server, concurrency=1, max_retries=50).generate([ask("a"), ask("b"), ask("c")])
    assert len(server.requests) < 10


# ----------------------------------------------------------------------------- loglikelihood


def test_loglikelihood_from_echoed_logprobs() -> None:
    with FaultServer() as server:
        llm = client(server, echo_logprobs=True)
        plain, surprising, two = llm.loglikelihood(
            [
                LoglikelihoodRequest(context="The sky is", continuation=" blue"),
                LoglikelihoodRequest(context="The sky is", continuation=" BLUE"),
                LoglikelihoodRequest(context="The sky is", continuation=" blue today"),
            ]
        )
    body = server.requests[0].body
    assert body["echo"] is True and body["logprobs"] == 1 and body["prompt"].startswith("The sky is ")
    assert (plain.logprob, plain.n_tokens, plain.is_greedy, plain.n_bytes) == (-2.0, 1, True, 5)
    assert (surprising.logprob, surprising.is_greedy) == (-2.0, False)
    assert (two.logprob, two.n_tokens, two.token_logprobs) == (-4.5, 2, [-2.0, -2.5])


def test_loglikelihood_needs_server_support_and_raw_context() -> None:
    with FaultServer(echo_logprobs=False) as server:
        with pytest.raises(CapabilityError, match="echo_logprobs=True"):
            client(server).loglikelihood([LoglikelihoodRequest(context="a", continuation=" b")])
        assert server.requests == []  # refused before any request
        llm = client(server, echo_logprobs=True)
        with pytest.raises(CapabilityError, match="no prompt logprobs"):
            llm.loglikelihood([LoglikelihoodRequest(context="a", continuation=" b")])
        with pytest.raises(CapabilityError, match="chat template"):
            llm.loglikelihood([LoglikelihoodRequest(messages=({"role": "user", "content": "a"},), continuation="b")])


# ----------------------------------------------------------------------------- real server


@pytest.mark.server
def test_llama_server_greedy_chat(llama_server: str) -> None:
    llm = OpenAILLM(f"smollm2@{llama_server}", timeout=120)
    first, again = llm.generate([ask("What is the capital of France?", max_tokens=24)] * 2)
    assert first.text.strip() and first.text == again.text
    assert first.prompt_tokens > 0 and first.completion_tokens > 0


@pytest.mark.server
def test_llama_server_batch(llama_server: str) -> None:
    llm = OpenAILLM(f"smollm2@{llama_server}", concurrency=4, timeout=120)
    questions = ["Name a colour.", "Name a fruit.", "Name an animal.", "Name a country."]
    out = llm.generate([ask(q, max_tokens=12) for q in questions])
    assert len(out) == 4 and all(g.text.strip() for g in out)


@pytest.mark.server
def test_llama_server_stop_and_length(llama_server: str) -> None:
    llm = OpenAILLM(f"smollm2@{llama_server}", timeout=120)
    prompt = "Count from 1 to 20."
    free, short = llm.generate([ask(prompt, max_tokens=48), ask("Write a long story about a dragon.", max_tokens=4)])
    assert short.finish_reason == "length" and short.completion_tokens == 4
    # Greedy decoding repeats itself, so stopping at the third word of the free answer
    # must give exactly the text before that word.
    word = free.text.split()[2]
    stopped = llm.generate([ask(prompt, max_tokens=48, stop=[word])])[0]
    assert stopped.text == free.text[: free.text.index(word)]
    assert stopped.finish_reason == "stop" and word not in stopped.text


@pytest.mark.server
def test_llama_server_loglikelihood_is_not_declared(llama_server: str) -> None:
    llm = OpenAILLM(f"smollm2@{llama_server}", timeout=120)
    assert not llm.capabilities.loglikelihood
    with pytest.raises(CapabilityError, match="echo_logprobs"):
        llm.loglikelihood([LoglikelihoodRequest(context="One, two, three, four,", continuation=" five")])


@pytest.mark.server
@pytest.mark.xfail(
    strict=False,
    reason="llama-cpp-python's server shifts echoed prompt logprobs by one token for models that "
    "add no BOS token (SmolLM2): each token gets log p of itself at the *next* position",
)
def test_llama_server_echoed_logprobs_are_right(llama_server: str) -> None:
    # Passes on a server whose echoed prompt logprobs are correct; then echo_logprobs=True is safe.
    llm = OpenAILLM(f"smollm2@{llama_server}", timeout=120, echo_logprobs=True)
    likely, unlikely = llm.loglikelihood(
        [
            LoglikelihoodRequest(context="One, two, three, four,", continuation=" five"),
            LoglikelihoodRequest(context="One, two, three, four,", continuation=" banana"),
        ]
    )
    assert likely.n_tokens == 1 and likely.logprob > unlikely.logprob
    assert likely.is_greedy and not unlikely.is_greedy
