"""The ``openai`` backend: any OpenAI-compatible HTTP server.

vLLM, the llama.cpp servers, Ollama and hosted APIs all speak ``/chat/completions`` and
``/completions``. A batch is fanned out as concurrent HTTP requests (bounded by
``concurrency``) and the answers come back in request order. Failures that may pass
(429, 408, 409, 5xx, timeouts, dropped connections, truncated or malformed JSON) are
retried with exponential backoff and jitter, honouring ``Retry-After``; requests the
server rejects (400, 401, 403, 404, 422) fail at once with a message that says what to fix.

Sampled generations: the request's ``seed`` is ``params.seed + sample_index``, so the k
samples of one prompt differ from each other and a server that honours seeds returns
the same k texts on a rerun.

Log-likelihoods are opt-in (``echo_logprobs=True``): they are read from the prompt
logprobs that ``/completions`` returns with ``echo=True``, and not every server gets
those right. vLLM does; llama-cpp-python's server (0.3.x) shifts them by one token for
models that add no BOS token (SmolLM2, for one), which would give plausible-looking but
wrong scores, so the capability is not declared unless the caller vouches for the server.

>>> llm = OpenAILLM("local@http://127.0.0.1:8080/v1", concurrency=4)
>>> llm.describe()["base_url"]
'http://127.0.0.1:8080/v1'
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import json
import logging
import math
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from syllabus.errors import BackendError, CapabilityError, ConfigError
from syllabus.llm.base import (
    LLM,
    Capabilities,
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
)

__all__ = ["OpenAILLM", "DEFAULT_BASE_URL"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R", GenerateRequest, LoglikelihoodRequest)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
ENDPOINTS = ("chat", "completions")
# Statuses a retry may cure (the same set the official OpenAI client retries).
RETRYABLE_STATUSES = frozenset({408, 409, 429})
# Waits never exceed this, whatever a server's Retry-After says, so a run cannot stall for hours.
MAX_WAIT_S = 300.0
# A model name may itself contain "@"; the URL starts at the first "@http(s)://".
_SPEC = re.compile(r"^(?P<model>.+?)@(?P<url>https?://.+)$")


async def _sleep(seconds: float) -> None:
    """The backoff wait (a module function so tests can record the waits instead)."""
    await asyncio.sleep(seconds)


class _Secret:
    """Holds the API key; its repr and str never show it, so a stray print cannot leak it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "_Secret('***')"

    __str__ = __repr__


class _Retry(Exception):
    """One failed attempt that a retry may cure; ``wait`` is the server's Retry-After, if any."""

    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class OpenAILLM(LLM):
    """A model behind an OpenAI-compatible server, named ``openai:MODEL@URL``.

    ``URL`` is the API base, usually ending in ``/v1``; without ``@URL`` the hosted OpenAI
    API is used. The API key comes from ``api_key`` or the environment variable named by
    ``api_key_env``; local servers need none. The key is sent only in the
    ``Authorization`` header: it never appears in ``repr()``, ``describe()``, logs or errors.

    ``echo_logprobs=True`` declares that the server returns correct prompt logprobs for
    ``echo=True`` on ``/completions`` (vLLM does) and enables :meth:`loglikelihood`.

    ``endpoint="chat"`` sends chat requests to ``/chat/completions`` (the server applies the
    model's chat template); ``endpoint="completions"`` renders them as plain text for
    ``/completions`` (base models without a template). Raw ``prompt`` requests always go
    to ``/completions``.

    Example (with a llama.cpp server on port 8080)::

        llm = OpenAILLM("local@http://127.0.0.1:8080/v1", concurrency=4)
        llm.chat("Name a prime number.", max_tokens=16)
        llm.generate([GenerateRequest.chat([{"role": "user", "content": q}]) for q in questions])

    The public methods are synchronous and also work inside a running event loop (the
    requests then run on a worker thread); async code can await :meth:`agenerate`.
    """

    def __init__(
        self,
        spec_rest: str,
        *,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 6,
        backoff: float = 1.0,
        endpoint: str = "chat",
        echo_logprobs: bool = False,
    ):
        model, base_url = _parse_spec_rest(spec_rest)
        if concurrency < 1:
            raise ConfigError(f"openai: concurrency must be >= 1, got {concurrency}")
        if timeout <= 0:
            raise ConfigError(f"openai: timeout must be > 0 seconds, got {timeout}")
        if max_retries < 0:
            raise ConfigError(f"openai: max_retries must be >= 0, got {max_retries}")
        if backoff < 0:
            raise ConfigError(f"openai: backoff must be >= 0 seconds, got {backoff}")
        if endpoint not in ENDPOINTS:
            raise ConfigError(f"openai: endpoint must be one of {', '.join(ENDPOINTS)}, got {endpoint!r}")
        super().__init__(model_id=f"openai:{model}@{base_url}")
        self.model = model
        self.base_url = base_url
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.endpoint = endpoint
        self.api_key_env = api_key_env
        key = api_key if api_key is not None else os.environ.get(api_key_env)
        self._key: _Secret | None = _Secret(key) if key else None
        # A private generator: jitter must not disturb (or depend on) the global random state.
        self._jitter = random.Random()
        self.echo_logprobs = echo_logprobs
        self.capabilities = Capabilities(
            generate=True,
            # Only declared when the caller says the server's echoed prompt logprobs are
            # right (see the module docstring): wrong scores are worse than none.
            loglikelihood=echo_logprobs,
            chat_template=endpoint == "chat",
        )

    # ----------------------------------------------------------------- public verbs

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        """One :class:`Generation` per request, in order (requests run concurrently)."""
        return _run_sync(self.agenerate(requests))

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        """Score continuations via ``/completions`` with ``echo`` and ``logprobs``.

        Needs ``echo_logprobs=True`` (a server known to echo correct prompt logprobs). Only
        raw ``context`` requests can be scored: the chat template lives on the server, which
        has no standard way to render it, so ``messages`` requests raise
        :class:`CapabilityError`. Tokens are attributed to the continuation by their
        character offsets: a token that starts before the end of the context counts as
        context (as lm-evaluation-harness does for llama.cpp servers).
        """
        return _run_sync(self.aloglikelihood(requests))

    async def agenerate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        """The async form of :meth:`generate`."""
        return await self._fan_out(self._generate_one, requests)

    async def aloglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        """The async form of :meth:`loglikelihood`."""
        if not self.echo_logprobs:
            raise CapabilityError(
                f"{self.model_id}: log-likelihoods are off for OpenAI-compatible servers unless you "
                "vouch for the server's echoed prompt logprobs (vLLM: yes; llama-cpp-python: shifted "
                "by one token for some models): pass echo_logprobs=True, or use the hf or llamacpp backend"
            )
        for r in requests:
            if r.messages is not None:
                raise CapabilityError(
                    f"{self.model_id}: cannot score a chat-form loglikelihood request (the server "
                    "holds the chat template); pass a rendered 'context' string, or use the hf or "
                    "llamacpp backend"
                )
        return await self._fan_out(self._score_one, requests)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "model": self.model,
            "base_url": self.base_url,
            "endpoint": self.endpoint,
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "echo_logprobs": self.echo_logprobs,
            "api_key_set": self._key is not None,
        }

    # ----------------------------------------------------------------- one request

    async def _generate_one(self, client: httpx.AsyncClient, request: GenerateRequest) -> Generation:
        p = request.params
        payload: dict[str, Any] = {
            "model": self.model,
            "max_tokens": p.max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
            # Distinct seeds make the k samples of one prompt differ; fixed seeds make them repeatable.
            "seed": p.seed + request.sample_index,
        }
        if p.stop:
            payload["stop"] = list(p.stop)
        if p.top_k > 0:
            payload["top_k"] = p.top_k  # not in OpenAI's API; vLLM and llama.cpp accept it
        chat = request.messages is not None and self.endpoint == "chat"
        if chat:
            payload["messages"] = [dict(m) for m in request.messages or ()]
            data = await self._post(client, "/chat/completions", payload)
            choice = data["choices"][0]
            text = (choice.get("message") or {}).get("content") or ""
        else:
            payload["prompt"] = request.render_plain()
            data = await self._post(client, "/completions", payload)
            choice = data["choices"][0]
            text = choice.get("text") or ""
        usage = data.get("usage") or {}
        return Generation(
            text=text,
            model=self.model_id,
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )

    async def _score_one(self, client: httpx.AsyncClient, request: LoglikelihoodRequest) -> Loglikelihood:
        context = request.context or ""
        full = context + request.continuation
        payload = {
            "model": self.model,
            "prompt": full,
            "echo": True,
            "logprobs": 1,
            # Some servers read max_tokens=0 as "no limit"; one extra token is harmless
            # because generated tokens start past the end of the prompt and are skipped.
            "max_tokens": 1,
            "temperature": 0.0,
        }
        data = await self._post(client, "/completions", payload)
        logprobs = data["choices"][0].get("logprobs") or {}
        tokens = logprobs.get("tokens") or []
        token_logprobs = logprobs.get("token_logprobs") or []
        offsets = logprobs.get("text_offset") or []
        tops = logprobs.get("top_logprobs") or [None] * len(tokens)
        if not tokens or len(offsets) != len(tokens) or len(token_logprobs) != len(tokens):
            raise CapabilityError(
                f"{self.model_id}: the server returned no prompt logprobs "
                "(echo=True, logprobs=1 on /completions); use the hf or llamacpp backend"
            )
        picked = [i for i, start in enumerate(offsets) if len(context) <= start < len(full)]
        if request.continuation and not picked:
            # Servers that echo logprobs only for generated tokens (llama.cpp's own server) end here.
            raise CapabilityError(
                f"{self.model_id}: the server returned no prompt logprobs for the continuation "
                "(echo=True, logprobs=1 on /completions); use the hf or llamacpp backend"
            )
        values: list[float] = []
        greedy = True
        for i in picked:
            lp = token_logprobs[i]
            if lp is None:  # only the very first token of a prompt has no logprob
                raise BackendError(
                    f"{self.model_id}: the continuation starts at the first token (empty context); "
                    "give a non-empty context"
                )
            values.append(float(lp))
            top = tops[i] if i < len(tops) else None
            if top:
                best_token, best_lp = max(top.items(), key=lambda kv: kv[1])
                greedy = greedy and (best_token == tokens[i] or float(lp) >= float(best_lp) - 1e-6)
        return Loglikelihood(
            logprob=math.fsum(values),
            is_greedy=greedy,
            n_tokens=len(values),
            n_bytes=len(request.continuation.encode("utf-8")),
            token_logprobs=values,
        )

    # ----------------------------------------------------------------- HTTP with retries

    def _client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        return httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), limits=limits)

    async def _fan_out(
        self, one: Callable[[httpx.AsyncClient, R], Awaitable[T]], requests: Sequence[R]
    ) -> list[T]:
        """Run ``one`` over all requests, at most ``concurrency`` at a time, results in order."""
        if not requests:
            return []
        limit = asyncio.Semaphore(self.concurrency)

        async def bounded(client: httpx.AsyncClient, request: R) -> T:
            async with limit:
                return await one(client, request)

        async with self._client() as client:
            tasks = [asyncio.ensure_future(bounded(client, r)) for r in requests]
            try:
                return list(await asyncio.gather(*tasks))
            except BaseException:
                # One request failed for good: stop the others rather than let them retry on.
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._key is not None:
            headers["Authorization"] = f"Bearer {self._key.reveal()}"
        return headers

    async def _post(self, client: httpx.AsyncClient, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST with retries; returns the parsed JSON body or raises :class:`BackendError`."""
        retries = 0
        while True:
            try:
                return await self._attempt(client, path, payload)
            except _Retry as failure:
                if retries == self.max_retries:
                    raise BackendError(
                        f"{self.model_id}: POST {path} failed after {retries + 1} attempt(s); last: {failure.reason}",
                        retryable=True,
                        retry_after=failure.wait,
                    ) from None
                wait = self._wait(retries, failure.wait)
                retries += 1
                logger.warning(
                    "%s: POST %s: %s; retry %d/%d in %.1f s",
                    self.model_id, path, failure.reason, retries, self.max_retries, wait,
                )  # fmt: skip
                await _sleep(wait)

    async def _attempt(self, client: httpx.AsyncClient, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One HTTP round trip: the body, a :class:`_Retry`, or a final :class:`BackendError`."""
        try:
            response = await client.post(self.base_url + path, json=payload, headers=self._headers())
        except httpx.TimeoutException:
            raise _Retry(f"no answer within the {self.timeout:g} s timeout") from None
        except httpx.TransportError as e:
            # Covers refused connections and bodies cut short (Content-Length not reached).
            raise _Retry(f"connection error ({type(e).__name__}: {self._scrub(str(e)) or 'no detail'})") from None
        status = response.status_code
        if status == 200:
            try:
                data = response.json()
            except ValueError:
                raise _Retry(f"200 OK with a malformed or truncated JSON body ({len(response.content)} bytes)") from None
            if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
                raise _Retry("200 OK without a 'choices' list in the JSON body")
            return data
        line = f"{status} {_reason(response)}: {self._server_message(response)}"
        if status in RETRYABLE_STATUSES or status >= 500:
            raise _Retry(line, _retry_after(response.headers))
        raise BackendError(f"{self.model_id}: {line} — {self._hint(status)}", retryable=False)

    def _hint(self, status: int) -> str:
        if status in (401, 403):
            if self._key is None:
                return f"no API key was sent: pass --api-key or set {self.api_key_env}"
            return f"check --api-key or {self.api_key_env}"
        if status == 404:
            return f"check the URL (OpenAI-compatible APIs usually end in /v1) and the model name {self.model!r}"
        return "the server rejected the request; check the model name and decoding parameters"

    def _wait(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_WAIT_S)
        # Exponential backoff with jitter, so many clients that failed together do not retry together.
        return min(self.backoff * 2**attempt, MAX_WAIT_S) * self._jitter.uniform(0.5, 1.0)

    def _server_message(self, response: httpx.Response) -> str:
        """The server's own words, on one line, shortened, with the key blanked out."""
        try:
            body = response.json()
        except ValueError:
            body = response.text
        message: Any = body
        if isinstance(body, dict):
            err = body.get("error")
            message = (err.get("message") if isinstance(err, dict) else err) or body.get("detail") or body.get("message") or body
        if not isinstance(message, str):
            message = json.dumps(message, ensure_ascii=False)
        message = " ".join(message.split()) or "(empty body)"
        message = self._scrub(message)
        return message if len(message) <= 300 else message[:297] + "..."

    def _scrub(self, text: str) -> str:
        # Some servers quote the key they rejected; never pass it on.
        return text.replace(self._key.reveal(), "***") if self._key is not None else text


def _parse_spec_rest(spec_rest: str) -> tuple[str, str]:
    """``"MODEL@URL"`` -> (model, base URL without a trailing slash)."""
    match = _SPEC.match(spec_rest)
    if match:
        model, url = match["model"], match["url"].rstrip("/")
    elif "@" in spec_rest and not spec_rest.endswith("@"):
        raise ConfigError(
            f"openai:{spec_rest}: the part after '@' must be an http:// or https:// URL, "
            "e.g. openai:local@http://127.0.0.1:8080/v1"
        )
    else:
        model, url = spec_rest.rstrip("@"), DEFAULT_BASE_URL
    if not model:
        raise ConfigError("openai: the spec needs a model name: openai:MODEL@URL, e.g. openai:gpt-4o-mini")
    parts = urlsplit(url)
    if parts.username or parts.password:
        # The URL enters model ids, cache keys and reports; credentials must not.
        raise ConfigError(f"openai:{model}@...: do not put credentials in the URL; pass --api-key or set OPENAI_API_KEY")
    if parts.query or parts.fragment:
        raise ConfigError(f"openai:{model}@{url}: the base URL must not carry a query or fragment")
    return model, url


def _reason(response: httpx.Response) -> str:
    if response.reason_phrase:
        return response.reason_phrase
    try:
        return http.HTTPStatus(response.status_code).phrase
    except ValueError:
        return "error"


def _retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _run_sync(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, whatever the calling thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    # The caller's thread already runs an event loop (a notebook, an async app), which
    # asyncio.run refuses to nest; run ours on a worker thread and wait for it.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="syllabus-openai") as pool:
        return pool.submit(asyncio.run, work).result()
